#!/usr/bin/env bash
# Build (once per machine) the debug kernel `scripts/vm-test.sh --kernel debug`
# boots: Debian's linux-source-6.12 (downloaded and unpacked, not installed),
# `make allnoconfig` plus scripts/debug-kernel.config (lockdep, KASAN, UBSAN,
# kmemleak, debug objects...), bzImage, a few modules and what
# `make -C <tree> M=<dir> modules` needs.
#
#   scripts/debug-kernel.sh            build if needed; print the cache dir
#   scripts/debug-kernel.sh --cached   print the cache dir and exit 0 if a
#                                      debug kernel for the current config
#                                      is built, else exit 1 (fast, offline)
#
# Cache: ${TCPFLOW_DEBUG_CACHE:-/var/cache/tcpflow}/debug-kernel/
#   <source-version>-<sha256 of debug-kernel.config, 12 hex>/
#     linux/          the built tree (KDIR): bzImage, .config, Module.symvers
#     root/lib/modules/<release>/   modules_install output (depmod'ed)
#     release         the kernel release (uname -r in the guest)
#     .complete       written last; a directory without it is rebuilt
# Runs as root (installs flex, bison, libelf-dev, bc when missing). The build
# runs under `nice -n 10` with -j$(nproc) (TCPFLOW_DEBUG_JOBS overrides).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SOURCE_PKG=linux-source-6.12
FRAGMENT="$TCPFLOW_REPO/scripts/debug-kernel.config"
DEBUG_CACHE="${TCPFLOW_DEBUG_CACHE:-/var/cache/tcpflow}/debug-kernel"
BUILD_DEPS=(flex bison libelf-dev bc gcc make xz-utils kmod)
APT_OPTS=(-o DPkg::Lock::Timeout=600)

fragment_hash() {
	sha256sum "$FRAGMENT" | cut -c1-12
}

# Newest complete build for the current fragment, whatever the source
# version (so it works offline and after the apt index moves on).
cached_dir() {
	local hash d best=
	hash=$(fragment_hash)
	for d in "$DEBUG_CACHE"/*-"$hash"; do
		[[ -f $d/.complete ]] || continue
		best=$(printf '%s\n%s\n' "$best" "$d" | sed '/^$/d' | sort -V | tail -n1)
	done
	[[ -n $best ]] || return 1
	printf '%s\n' "$best"
}

source_version() {
	apt-cache show --no-all-versions "$SOURCE_PKG" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

install_deps() {
	local -a missing=()
	local p status
	for p in "${BUILD_DEPS[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || status=
		[[ $status == installed ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	tcpflow_log "installing build dependencies: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Check that every option of the fragment made it into .config as written.
verify_config() {
	local config=$1 line name bad=0
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)= ]]; then
			if ! grep -qxF -- "$line" "$config"; then
				name=${BASH_REMATCH[1]}
				printf '  wanted %s, got: %s\n' "$line" \
					"$(grep -E "^(# )?${name}[= ]" "$config" || echo 'absent (dependency not met)')" >&2
				bad=1
			fi
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			name=${BASH_REMATCH[1]}
			if grep -qE "^$name=" "$config"; then
				printf '  wanted %s, got: %s\n' "$line" "$(grep -E "^$name=" "$config")" >&2
				bad=1
			fi
		fi
	done <"$FRAGMENT"
	((bad == 0)) || tcpflow_die "$config lacks options of $FRAGMENT (see above): add their dependencies to the fragment"
}

build() {
	local ver hash key dest tree deb tarball start t0 rel jobs
	[[ $(id -u) -eq 0 ]] || tcpflow_die "must run as root (it installs build dependencies)"
	[[ -f $FRAGMENT ]] || tcpflow_die "missing $FRAGMENT"
	ver=$(source_version)
	if [[ -z $ver ]]; then
		tcpflow_log "apt index has no $SOURCE_PKG: running apt-get update"
		apt-get "${APT_OPTS[@]}" update -q >&2
		ver=$(source_version)
		[[ -n $ver ]] || tcpflow_die "no $SOURCE_PKG in the apt index"
	fi
	hash=$(fragment_hash)
	key="${ver//[~:]/_}-$hash"
	dest="$DEBUG_CACHE/$key"
	if [[ -f $dest/.complete ]]; then
		tcpflow_log "debug kernel $(<"$dest/release") already built"
		printf '%s\n' "$dest"
		return 0
	fi
	mkdir -p "$DEBUG_CACHE"
	exec {lock}>"$DEBUG_CACHE/.lock"
	if ! flock -n "$lock"; then
		tcpflow_log "another debug-kernel.sh is building: waiting"
		flock "$lock"
	fi
	if [[ -f $dest/.complete ]]; then # built while we waited
		printf '%s\n' "$dest"
		return 0
	fi
	install_deps
	start=$SECONDS
	rm -rf "$dest"
	mkdir -p "$dest/dl"
	tcpflow_log "downloading $SOURCE_PKG $ver"
	chown _apt "$dest/dl" 2>/dev/null || true
	(cd "$dest/dl" && apt-get download -q "$SOURCE_PKG=$ver" >&2)
	deb=$(find "$dest/dl" -maxdepth 1 -name "${SOURCE_PKG}_*.deb" -print -quit)
	[[ -n $deb ]] || tcpflow_die "apt-get download left no .deb in $dest/dl"
	dpkg-deb -x "$deb" "$dest/dl/x"
	tarball=$(find "$dest/dl/x/usr/src" -maxdepth 1 -name "$SOURCE_PKG.tar.*" -print -quit)
	[[ -n $tarball ]] || tcpflow_die "$deb holds no /usr/src/$SOURCE_PKG.tar.*"
	tcpflow_log "extracting ${tarball##*/}"
	tar -C "$dest" -xf "$tarball"
	[[ -f $dest/$SOURCE_PKG/Makefile ]] || tcpflow_die "${tarball##*/} has no $SOURCE_PKG/Makefile"
	mv "$dest/$SOURCE_PKG" "$dest/linux"
	rm -rf "$dest/dl"
	tree="$dest/linux"
	tcpflow_log "extracted in $((SECONDS - start))s"

	t0=$SECONDS
	tcpflow_log "configuring: allnoconfig + ${FRAGMENT#"$TCPFLOW_REPO"/}"
	make -C "$tree" -s allnoconfig KCONFIG_ALLCONFIG="$FRAGMENT" >&2
	make -C "$tree" -s olddefconfig >&2
	verify_config "$tree/.config"
	cp "$FRAGMENT" "$dest/debug-kernel.config"

	jobs=${TCPFLOW_DEBUG_JOBS:-$(nproc)}
	tcpflow_log "building bzImage and modules with -j$jobs under nice -n 10"
	nice -n 10 make -C "$tree" -j"$jobs" bzImage modules >"$dest/build.log" 2>&1 || {
		tail -n 40 "$dest/build.log" >&2
		tcpflow_die "kernel build failed: see $dest/build.log"
	}
	nice -n 10 make -C "$tree" -j"$jobs" modules_prepare >>"$dest/build.log" 2>&1 ||
		tcpflow_die "make modules_prepare failed: see $dest/build.log"
	rel=$(make -C "$tree" -s kernelrelease)
	make -C "$tree" -s modules_install INSTALL_MOD_PATH="$dest/root" INSTALL_MOD_STRIP=1 >>"$dest/build.log" 2>&1 ||
		tcpflow_die "make modules_install failed: see $dest/build.log"
	# The build tree link would point back at $tree: not needed in the guest.
	rm -f "$dest/root/lib/modules/$rel/build" "$dest/root/lib/modules/$rel/source"
	depmod -b "$dest/root" "$rel" || tcpflow_die "depmod -b $dest/root $rel failed"
	[[ -f $tree/arch/x86/boot/bzImage && -f $tree/Module.symvers ]] ||
		tcpflow_die "build left no bzImage or Module.symvers in $tree"
	printf '%s\n' "$rel" >"$dest/release"
	touch "$dest/.complete"
	tcpflow_log "debug kernel $rel built in $((SECONDS - t0))s (plus $((t0 - start))s download and extract): $dest"
	printf '%s\n' "$dest"
}

main() {
	case ${1:-} in
	--cached) cached_dir ;;
	'') build ;;
	-h | --help) sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" ;;
	*) tcpflow_die "unknown argument '$1' (see --help)" ;;
	esac
}

main "$@"
