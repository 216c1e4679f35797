#!/usr/bin/env bash
# Install what tcpflow needs to build and to test in QEMU, and unpack the
# Debian kernel images the VM tests boot (not installed on the host).
# Idempotent; runs as root. Env TCPFLOW_KERNELS (default: every series of
# lib.sh's table) picks the kernels, TCPFLOW_SETUP_PACKAGES names more
# Debian packages to install (make bench: bpftrace). Prints one line per
# kernel: "<release> <vmlinuz>".
#
# Bookworm's kernels come from the host's apt sources, their headers
# installed as a user would. Bullseye's and sid's come from a private apt
# configuration under the cache (lib.sh: tcpflow_apt), and nothing of
# theirs is installed: bullseye's headers are unpacked, and sid's, which
# need sid's gcc-16 and glibc, are replaced by a build tree prepared from
# sid's linux-source with the headers' .config and Module.symvers, built
# with bookworm's gcc (prepare_tree).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Wait for a concurrent apt/dpkg run instead of failing at once.
APT_OPTS=(-o DPkg::Lock::Timeout=600)

BASE_PACKAGES=(
	qemu-system-x86 busybox-static bats kmod cpio iproute2 tcpdump socat jq
	gcc make sparse procps util-linux coreutils gawk psmisc xz-utils zstd
	binutils
	# make style (scripts/style.sh): shellcheck, and mandoc for the man pages.
	shellcheck mandoc
	# make check-dkms (scripts/dkms-check.sh): Debian's dkms.
	dkms
	# tcpflowctl metrics' host tests (tests/host/040-metrics.bats): promtool,
	# the real node_exporter, and curl to scrape it.
	prometheus prometheus-node-exporter curl
	# Load and fuzzing tools the reliability tests run in the guest.
	hping3 stress-ng trinity
	# ethtool: 026 turns a veth's TSO off.
	ethtool
	# Preparing sid's kernel tree and building sid's sparse.
	flex bison bc libelf-dev libssl-dev pahole dpkg-dev
)

# Write SUITE's private apt configuration and fetch its index when it has
# none or it is a day old (FORCE=1: now).
private_apt() {
	local suite=$1 force=${2:-0} dir
	[[ $suite == bookworm ]] && return 0
	dir=$(tcpflow_apt_dir "$suite")
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	{
		local key=/usr/share/keyrings/debian-archive-keyring.gpg
		printf 'deb [signed-by=%s] %s %s main\n' "$key" "$TCPFLOW_DEBIAN_MIRROR" "$suite"
		case $suite in
		sid) printf 'deb-src [signed-by=%s] %s sid main\n' "$key" "$TCPFLOW_DEBIAN_MIRROR" ;;
		*) printf 'deb [signed-by=%s] %s %s-security main\n' "$key" \
			"${TCPFLOW_DEBIAN_MIRROR%/debian}/debian-security" "$suite" ;;
		esac
	} >"$dir/sources.list.new"
	if ! cmp -s "$dir/sources.list.new" "$dir/sources.list"; then
		mv "$dir/sources.list.new" "$dir/sources.list"
		force=1
	fi
	rm -f "$dir/sources.list.new"
	if ((force)) || [[ ! -f $dir/updated ]] ||
		[[ -n $(find "$dir/updated" -mmin +1440) ]]; then
		tcpflow_log "fetching the $suite index (private apt configuration in $dir)"
		tcpflow_apt "$suite" apt-get "${APT_OPTS[@]}" update -q >&2
		touch "$dir/updated"
	fi
}

# Resolve the release of every series in "$@" into KVERS (assoc array),
# updating an index once if it cannot resolve them.
resolve_kernels() {
	local s suite updated
	for s in "$@"; do
		tcpflow_check_series "$s"
		suite=$(tcpflow_series_field "$s" 2)
		private_apt "$suite"
		updated=0
		until tcpflow_kver "$s" >/dev/null; do
			((updated == 0)) || tcpflow_die "no linux-headers and image pair for $s in $suite's apt index"
			tcpflow_log "apt index cannot resolve kernel $s: updating it"
			if [[ $suite == bookworm ]]; then
				apt-get "${APT_OPTS[@]}" update -q >&2
			else
				private_apt "$suite" 1
			fi
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

# download SUITE DIR PKG...: the .debs of PKG... of SUITE into DIR.
download() {
	local suite=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	# apt-get download drops privileges to _apt, which needs to write here.
	chown _apt "$dir" 2>/dev/null || true
	(cd "$dir" && tcpflow_apt "$suite" apt-get download -q "$@" >&2) ||
		tcpflow_die "cannot download $* from $suite"
}

# The .deb of PKG in DIR.
deb_of() {
	local deb
	deb=$(find "$1" -maxdepth 1 -name "${2}_*.deb" -print -quit)
	[[ -n $deb ]] || tcpflow_die "apt-get download left no $2 .deb in $1"
	printf '%s\n' "$deb"
}

# Download the image of REL (SUITE) and unpack it under the cache.
fetch_kernel() {
	local rel=$1 suite=$2 dir root vmlinuz p
	dir="$TCPFLOW_CACHE/kernels/$rel"
	root=$(tcpflow_kernel_root "$rel")
	vmlinuz=$(tcpflow_vmlinuz "$rel")
	if [[ -f $root/.extracted && -f $vmlinuz ]]; then
		return 0
	fi
	rm -rf "$root" "$dir/debs"
	local -a pkgs
	mapfile -t pkgs < <(tcpflow_image_pkgs "$suite" "$rel")
	tcpflow_log "downloading ${pkgs[*]} ($suite)"
	download "$suite" "$dir/debs" "${pkgs[@]}"
	mkdir -p "$root"
	for p in "${pkgs[@]}"; do
		dpkg-deb -x "$(deb_of "$dir/debs" "$p")" "$root"
	done
	# Sid's packages are merged-/usr and keep the image beside the modules.
	[[ -e $root/lib ]] || ln -s usr/lib "$root/lib"
	if [[ ! -f $vmlinuz && -f $root/lib/modules/$rel/vmlinuz ]]; then
		mkdir -p "$root/boot"
		ln -s "../lib/modules/$rel/vmlinuz" "$vmlinuz"
	fi
	[[ -f $vmlinuz ]] || tcpflow_die "${pkgs[*]} hold no vmlinuz for $rel"
	# The packages ship no modules.dep: dpkg's postinst would run depmod.
	depmod -b "$root" "$rel" || tcpflow_die "depmod failed for $root"
	rm -rf "$dir/debs"
	touch "$root/.extracted"
}

# Bullseye's headers, unpacked (not installed) with the common headers and
# kbuild tools they depend on; their Makefile names the common tree by its
# absolute path, which now lies under the cache.
fetch_headers() {
	local rel=$1 suite=$2 dir hdr p
	dir="$TCPFLOW_CACHE/kernels/$rel"
	hdr="$dir/headers"
	[[ -f $hdr/.extracted ]] && return 0
	rm -rf "$hdr" "$dir/hdebs"
	local -a pkgs=("linux-headers-$rel")
	mapfile -t -O 1 pkgs < <(tcpflow_apt "$suite" apt-cache show --no-all-versions "linux-headers-$rel" |
		sed -n 's/^Depends: //p' | tr ',' '\n' |
		sed -nE 's/^ *(linux-(headers|kbuild)-[^ ]+).*/\1/p')
	tcpflow_log "downloading ${pkgs[*]} ($suite)"
	download "$suite" "$dir/hdebs" "${pkgs[@]}"
	for p in "${pkgs[@]}"; do
		dpkg-deb -x "$(deb_of "$dir/hdebs" "$p")" "$hdr"
	done
	sed -i "s|^include /usr/src/|include $hdr/usr/src/|" "$hdr/usr/src/linux-headers-$rel/Makefile"
	rm -rf "$dir/hdebs"
	touch "$hdr/.extracted"
}

# Options whose value follows from the compiler and tools (bookworm's gcc-12
# and binutils, no Rust), which olddefconfig may change without changing
# what a module is built against.
TOOLCHAIN_OPTIONS='^CONFIG_(CC_|GCC_|AS_|LD_|PAHOLE_|RUST|BINDGEN_|OPENSSL_|AMCC_QT2025_PHY|AX88796B_RUST_PHY|DRM_PANIC_SCREEN_QR)'

# Sid's kernel build tree: linux-source-X.Y with the headers package's
# .config and Module.symvers, made to report the image's release, prepared
# for external modules by bookworm's gcc. Refused if olddefconfig changed
# anything beyond the toolchain's options (a layout a module shares with
# the kernel, such as struct module's, could then differ).
prepare_tree() {
	local rel=$1 suite=$2 series=$3 dir tree src kv
	dir="$TCPFLOW_CACHE/kernels/$rel"
	tree="$dir/tree"
	[[ -f $tree/.tcpflow-prepared ]] && return 0
	src="linux-source-${series%-rt}"
	rm -rf "$tree" "$dir/sdebs" "$dir/hdr"
	tcpflow_log "preparing a build tree for $rel from $src (a few minutes, once)"
	download "$suite" "$dir/sdebs" "linux-headers-$rel" "$src"
	dpkg-deb -x "$(deb_of "$dir/sdebs" "linux-headers-$rel")" "$dir/hdr"
	mkdir -p "$tree"
	dpkg-deb --fsys-tarfile "$(deb_of "$dir/sdebs" "$src")" |
		tar -xO "./usr/src/$src.tar.xz" | tar -xJ -C "$tree" --strip-components=1
	cp "$dir/hdr/usr/src/linux-headers-$rel/.config" \
		"$dir/hdr/usr/src/linux-headers-$rel/Module.symvers" "$tree/"
	kv=$(make -s -C "$tree" kernelversion)
	make -s -C "$tree" olddefconfig LOCALVERSION="${rel#"$kv"}" >&2
	local changed
	changed=$(diff <(grep '^CONFIG_' "$dir/hdr/usr/src/linux-headers-$rel/.config" | sort) \
		<(grep '^CONFIG_' "$tree/.config" | sort) |
		sed -n 's/^[<>] //p' | grep -vE "$TOOLCHAIN_OPTIONS" || true)
	[[ -z $changed ]] || tcpflow_die "olddefconfig changed $rel's configuration beyond the toolchain: $(tr '\n' ' ' <<<"$changed")"
	make -s -C "$tree" -j"$(nproc)" modules_prepare LOCALVERSION="${rel#"$kv"}" >&2
	[[ $(<"$tree/include/config/kernel.release") == "$rel" ]] ||
		tcpflow_die "the prepared tree reports $(<"$tree/include/config/kernel.release"), not $rel"
	rm -rf "$dir/sdebs" "$dir/hdr"
	touch "$tree/.tcpflow-prepared"
}

# Sparse from sid's source package, built here: bookworm's 0.6.4 cannot
# parse 7.2's headers (__typeof_unqual__), and sid's binary needs sid's
# glibc.
build_sparse() {
	local dir ver
	dir="$TCPFLOW_CACHE/sparse"
	private_apt sid
	ver=$(tcpflow_apt sid apt-cache showsrc sparse 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | head -n 1)
	[[ -n $ver ]] || tcpflow_die "no sparse source package in sid's index"
	if [[ -x $dir/sparse && $(cat "$dir/version" 2>/dev/null) == "$ver" ]]; then
		return 0
	fi
	tcpflow_log "building sparse $ver from sid's source package"
	rm -rf "$dir"
	mkdir -p "$dir/src"
	chown _apt "$dir/src" 2>/dev/null || true
	(cd "$dir/src" && tcpflow_apt sid apt-get source -q --download-only "sparse=$ver" >&2) ||
		tcpflow_die "cannot download sid's sparse source package"
	dpkg-source -x "$dir"/src/sparse_*.dsc "$dir/build" >/dev/null
	make -s -C "$dir/build" -j"$(nproc)" sparse CC=gcc HAVE_LLVM=no \
		HAVE_SQLITE=no HAVE_LIBXML=no HAVE_GTK=no >&2
	cp "$dir/build/sparse" "$dir/sparse"
	rm -rf "$dir/src" "$dir/build" "$dir"/sparse_*
	printf '%s\n' "$ver" >"$dir/version"
}

main() {
	[[ $(id -u) -eq 0 ]] || tcpflow_die "must run as root (it installs packages)"
	local -a series
	read -r -a series <<<"${TCPFLOW_KERNELS:-${TCPFLOW_ALL_SERIES[*]}}"
	((${#series[@]} > 0)) || tcpflow_die "TCPFLOW_KERNELS is empty"
	declare -gA KVERS=()
	resolve_kernels "${series[@]}"

	local s rel suite
	local -a pkgs=("${BASE_PACKAGES[@]}") extra
	read -r -a extra <<<"${TCPFLOW_SETUP_PACKAGES:-}"
	pkgs+=("${extra[@]}")
	for s in "${series[@]}"; do
		[[ $(tcpflow_series_field "$s" 2) == bookworm ]] &&
			pkgs+=("linux-headers-${KVERS[$s]}")
	done
	install_packages "${pkgs[@]}"
	# Only `make warn-check` needs it; it is quick to build once.
	[[ ${TCPFLOW_SETUP_SPARSE:-1} == 0 ]] || build_sparse

	for s in "${series[@]}"; do
		rel=${KVERS[$s]}
		suite=$(tcpflow_series_field "$s" 2)
		fetch_kernel "$rel" "$suite"
		case $suite in
		bookworm) ;;
		sid) prepare_tree "$rel" "$suite" "$s" ;;
		*) fetch_headers "$rel" "$suite" ;;
		esac
		printf '%s %s\n' "$rel" "$(tcpflow_vmlinuz "$rel")"
	done
}

main "$@"
