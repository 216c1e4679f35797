#!/usr/bin/env bash
# Install what tcpflow needs to build and to test in QEMU, and unpack the
# Debian kernel images the VM tests boot (not installed on the host).
# Idempotent; runs as root. Env TCPFLOW_KERNELS (default "6.1 6.12") picks
# the kernel series. Prints one line per kernel: "<release> <vmlinuz>".
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Wait for a concurrent apt/dpkg run instead of failing at once.
APT_OPTS=(-o DPkg::Lock::Timeout=600)

BASE_PACKAGES=(
	qemu-system-x86 busybox-static bats kmod cpio iproute2 tcpdump socat jq
	gcc make sparse procps util-linux coreutils gawk psmisc xz-utils zstd
	binutils
	# Load and fuzzing tools the reliability tests run in the guest.
	hping3 stress-ng trinity
)

# Resolve the release of every series in "$@" into KVERS (assoc array),
# running apt-get update once if the index cannot resolve them.
resolve_kernels() {
	local s updated=0
	for s in "$@"; do
		tcpflow_check_series "$s"
		until tcpflow_kver "$s" >/dev/null; do
			((updated == 0)) || tcpflow_die "no linux-headers/linux-image-*-unsigned pair for $s in the apt index"
			tcpflow_log "apt index cannot resolve kernel $s: running apt-get update"
			apt-get "${APT_OPTS[@]}" update -q >&2
			updated=1
		done
		KVERS[$s]=$(tcpflow_kver "$s")
	done
}

# Print the packages in "$@" that are not installed.
missing_packages() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || status=
		[[ $status == installed ]] || printf '%s\n' "$p"
	done
}

install_packages() {
	local -a missing
	mapfile -t missing < <(missing_packages "$@")
	((${#missing[@]} == 0)) && return 0
	tcpflow_log "installing: ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}" >&2; then
		tcpflow_log "apt-get install failed; retrying after apt-get update"
		apt-get "${APT_OPTS[@]}" update -q >&2
		DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}" >&2
	fi
}

# Download linux-image-<rel>-unsigned and unpack it under the cache.
fetch_kernel() {
	local rel=$1 dir root vmlinuz deb
	dir="$TCPFLOW_CACHE/kernels/$rel"
	root=$(tcpflow_kernel_root "$rel")
	vmlinuz=$(tcpflow_vmlinuz "$rel")
	if [[ -f $root/.extracted && -f $vmlinuz ]]; then
		return 0
	fi
	mkdir -p "$dir"
	rm -rf "$root" "$dir"/*.deb
	tcpflow_log "downloading linux-image-$rel-unsigned"
	# apt-get download drops privileges to _apt, which needs to write here.
	chown _apt "$dir" 2>/dev/null || true
	(cd "$dir" && apt-get download -q "linux-image-$rel-unsigned" >&2)
	deb=$(find "$dir" -maxdepth 1 -name "linux-image-${rel}-unsigned_*.deb" -print -quit)
	[[ -n $deb ]] || tcpflow_die "apt-get download left no .deb in $dir"
	mkdir -p "$root"
	dpkg-deb -x "$deb" "$root"
	[[ -f $vmlinuz ]] || tcpflow_die "$deb has no boot/vmlinuz-$rel"
	# The package ships no modules.dep: dpkg's postinst would run depmod.
	depmod -b "$root" "$rel" || tcpflow_die "depmod failed for $root"
	rm -f "$deb"
	touch "$root/.extracted"
}

main() {
	[[ $(id -u) -eq 0 ]] || tcpflow_die "must run as root (it installs packages)"
	local -a series
	read -r -a series <<<"${TCPFLOW_KERNELS:-${TCPFLOW_ALL_SERIES[*]}}"
	((${#series[@]} > 0)) || tcpflow_die "TCPFLOW_KERNELS is empty"
	declare -gA KVERS=()
	resolve_kernels "${series[@]}"

	local s
	local -a pkgs=("${BASE_PACKAGES[@]}")
	for s in "${series[@]}"; do
		pkgs+=("linux-headers-${KVERS[$s]}")
	done
	install_packages "${pkgs[@]}"

	for s in "${series[@]}"; do
		fetch_kernel "${KVERS[$s]}"
		printf '%s %s\n' "${KVERS[$s]}" "$(tcpflow_vmlinuz "${KVERS[$s]}")"
	done
}

main "$@"
