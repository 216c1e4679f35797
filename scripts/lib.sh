#!/usr/bin/env bash
# Common helpers for tcpflow's scripts. Source it; do not run it.
#   TCPFLOW_REPO   repository root (derived from this file's location)
#   TCPFLOW_CACHE  downloads, unpacked kernels, prepared build trees
#                  (default /var/cache/tcpflow: outside the checkout, so a
#                  fresh clone reuses them)
#   tcpflow_kver SERIES   newest Debian kernel release of SERIES
#   tcpflow_kdir SERIES   the kernel build tree tcpflow is built against
#   tcpflow_kmake SERIES ARGS...   make in the repository for that kernel

TCPFLOW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TCPFLOW_CACHE="${TCPFLOW_CACHE:-/var/cache/tcpflow}"
TCPFLOW_DEBIAN_MIRROR="${TCPFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export TCPFLOW_REPO TCPFLOW_CACHE TCPFLOW_DEBIAN_MIRROR

# The kernels tcpflow supports: the one place that lists them and says how
# each is had and tested.
#   series    the name make, setup.sh and vm-test.sh take
#   suite     Debian suite: bookworm is the host's own apt sources; any
#             other is reached through a private apt configuration under
#             the cache (tcpflow_apt), never the host's sources
#   flavour   the release's suffix (amd64, rt-amd64)
#   tests     what `make check` runs there: all (tests/vm) or core
#             (TCPFLOW_CORE_TESTS); `make check-all` runs all everywhere
#   timeout   seconds a whole VM run may take
TCPFLOW_KERNEL_TABLE='
5.10     bullseye  amd64     core  1800
6.1      bookworm  amd64     core  1800
6.12     bookworm  amd64     all   1800
6.12-rt  bookworm  rt-amd64  all   2400
7.2      sid       amd64     all   1800
'
# The test files `make check` runs on a kernel marked core: loading,
# histories, segments, namespaces, the device and tcpflowctl.
# shellcheck disable=SC2034 # read by vm-test.sh, which sources this file
TCPFLOW_CORE_TESTS=(000-smoke 010-module 011-dkms 012-scope 020-histories
	026-segments 040-namespaces 060-device 070-tcpflowctl)

mapfile -t TCPFLOW_ALL_SERIES < <(awk 'NF { print $1 }' <<<"$TCPFLOW_KERNEL_TABLE")

declare -gA _TCPFLOW_KVER_CACHE=()

tcpflow_die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

tcpflow_log() {
	printf '==> %s\n' "$*" >&2
}

# Succeed if SERIES is in the table, else die.
tcpflow_check_series() {
	local s
	for s in "${TCPFLOW_ALL_SERIES[@]}"; do
		[[ $1 == "$s" ]] && return 0
	done
	tcpflow_die "unknown kernel series '$1' (expected one of: ${TCPFLOW_ALL_SERIES[*]})"
}

# tcpflow_series_field SERIES COLUMN (2 suite, 3 flavour, 4 tests, 5 timeout)
tcpflow_series_field() {
	tcpflow_check_series "$1"
	awk -v s="$1" -v c="$2" '$1 == s { print $c }' <<<"$TCPFLOW_KERNEL_TABLE"
}

# Where a private apt configuration for SUITE keeps its files.
tcpflow_apt_dir() {
	printf '%s\n' "$TCPFLOW_CACHE/apt/$1"
}

# tcpflow_apt SUITE apt-get|apt-cache ARGS...: the command on SUITE's
# index: the host's for bookworm, else the private one.
tcpflow_apt() {
	local suite=$1 cmd=$2 dir
	shift 2
	if [[ $suite == bookworm ]]; then
		"$cmd" "$@"
		return
	fi
	dir=$(tcpflow_apt_dir "$suite")
	"$cmd" -o Dir::Etc::sourcelist="$dir/sources.list" \
		-o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State::lists="$dir/lists" \
		-o Dir::State::status=/dev/null \
		-o Dir::Cache="$dir/cache" \
		-o APT::Get::List-Cleanup=0 "$@"
}

# tcpflow_image_pkgs SUITE REL: the packages that hold the kernel image and
# its modules (sid splits them in three).
tcpflow_image_pkgs() {
	if [[ $1 == sid ]]; then
		printf '%s\n' "linux-binary-$2" "linux-modules-$2" "linux-base-$2"
	else
		printf '%s\n' "linux-image-$2-unsigned"
	fi
}

# Releases of SERIES named by packages with PREFIX and SUFFIX, one a line.
_tcpflow_releases() {
	local series=$1 prefix=$2 suffix=$3 suite flavour ver re
	suite=$(tcpflow_series_field "$series" 2)
	flavour=$(tcpflow_series_field "$series" 3)
	ver=${series%-rt}
	re="^${prefix}(${ver//./\\.}\\.[0-9]+(-[0-9]+|\\+deb[0-9]+)?-${flavour})${suffix}\$"
	tcpflow_apt "$suite" apt-cache pkgnames "${prefix}${ver}." 2>/dev/null |
		sed -nE "s/${re}/\\1/p" | sort -u
}

# Succeeds if every named package of SUITE has a downloadable version.
_tcpflow_pkgs_available() {
	local suite=$1 n
	shift
	n=$(tcpflow_apt "$suite" apt-cache show --no-all-versions "$@" 2>/dev/null |
		grep -c '^Package: ') || return 1
	[[ $n -eq $# ]]
}

# Resolve without caching; prints nothing and fails when not found.
_tcpflow_kver_resolve() {
	local series=$1 suite rel
	local -a affixes=(linux-image- -unsigned)
	suite=$(tcpflow_series_field "$series" 2)
	[[ $suite == sid ]] && affixes=(linux-binary- '')
	while read -r rel; do
		[[ -n $rel ]] || continue
		# shellcheck disable=SC2046 # one package a line
		if _tcpflow_pkgs_available "$suite" "linux-headers-$rel" \
			$(tcpflow_image_pkgs "$suite" "$rel"); then
			printf '%s\n' "$rel"
			return 0
		fi
	done < <(comm -12 <(_tcpflow_releases "$series" linux-headers- '') \
		<(_tcpflow_releases "$series" "${affixes[@]}") | sort -rV)
	return 1
}

tcpflow_kver() {
	local series=${1:?usage: tcpflow_kver SERIES}
	tcpflow_check_series "$series"
	if [[ -z ${_TCPFLOW_KVER_CACHE[$series]:-} ]]; then
		_TCPFLOW_KVER_CACHE[$series]=$(_tcpflow_kver_resolve "$series") || return 1
	fi
	printf '%s\n' "${_TCPFLOW_KVER_CACHE[$series]}"
}

# Where setup.sh unpacks the image of release REL.
tcpflow_kernel_root() {
	printf '%s\n' "$TCPFLOW_CACHE/kernels/$1/root"
}

tcpflow_vmlinuz() {
	printf '%s\n' "$(tcpflow_kernel_root "$1")/boot/vmlinuz-$1"
}

# The build tree of SERIES's release: the installed headers for bookworm,
# the unpacked headers for bullseye, a tree prepared from the source
# package for sid (setup.sh says why).
tcpflow_kdir() {
	local series=$1 rel suite
	rel=$(tcpflow_kver "$series") || return 1
	suite=$(tcpflow_series_field "$series" 2)
	case $suite in
	bookworm) printf '%s\n' "/usr/src/linux-headers-$rel" ;;
	sid) printf '%s\n' "$TCPFLOW_CACHE/kernels/$rel/tree" ;;
	*) printf '%s\n' "$TCPFLOW_CACHE/kernels/$rel/headers/usr/src/linux-headers-$rel" ;;
	esac
}

# The sparse that `make warn-check` runs: built by setup.sh from sid's
# source package (bookworm's 0.6.4 cannot parse 7.2's headers).
tcpflow_sparse() {
	printf '%s\n' "$TCPFLOW_CACHE/sparse/sparse"
}

# tcpflow_kcc KDIR: prints gcc when the headers in KDIR name a compiler
# bookworm lacks (bullseye's name gcc-10; the module then builds with
# gcc-12), nothing when their own compiler is there.
tcpflow_kcc() {
	local cc
	cc=$(sed -nE 's/^CC = .*\)(gcc-[0-9]+)$/\1/p' "$1/.kernelvariables" 2>/dev/null) || cc=
	if [[ -n $cc ]] && ! command -v "x86_64-linux-gnu-$cc" >/dev/null &&
		! command -v "$cc" >/dev/null; then
		echo gcc
	fi
}

# tcpflow_kmake SERIES ARGS...: `make ARGS` in the repository with KDIR set
# for SERIES, and CC=gcc where tcpflow_kcc says so.
tcpflow_kmake() {
	local series=$1 kdir cc
	shift
	kdir=$(tcpflow_kdir "$series") || tcpflow_die "cannot resolve kernel $series: run scripts/setup.sh"
	local -a args=(KDIR="$kdir")
	cc=$(tcpflow_kcc "$kdir")
	[[ -z $cc ]] || args+=(CC="$cc")
	make -C "$TCPFLOW_REPO" --no-print-directory "${args[@]}" "$@"
}
