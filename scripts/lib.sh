#!/usr/bin/env bash
# Common helpers for tcpflow's scripts. Source it; do not run it.
#   TCPFLOW_REPO   repository root (derived from this file's location)
#   TCPFLOW_CACHE  download/extract cache (default $TCPFLOW_REPO/.cache)
#   tcpflow_kver SERIES   newest Debian kernel release of SERIES (6.1, 6.12)
#                         that has both linux-headers-<rel> and
#                         linux-image-<rel>-unsigned in the apt index.

TCPFLOW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TCPFLOW_CACHE="${TCPFLOW_CACHE:-$TCPFLOW_REPO/.cache}"
export TCPFLOW_REPO TCPFLOW_CACHE

# Kernel series the project supports, in test order.
TCPFLOW_ALL_SERIES=(6.1 6.12)

declare -gA _TCPFLOW_KVER_CACHE=()

tcpflow_die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

tcpflow_log() {
	printf '==> %s\n' "$*" >&2
}

# Print "SERIES" if valid, else die.
tcpflow_check_series() {
	local s
	for s in "${TCPFLOW_ALL_SERIES[@]}"; do
		[[ $1 == "$s" ]] && return 0
	done
	tcpflow_die "unknown kernel series '$1' (expected one of: ${TCPFLOW_ALL_SERIES[*]})"
}

# Releases of SERIES (plain amd64 flavour) named by apt packages with PREFIX
# and SUFFIX, one per line.
_tcpflow_releases() {
	local series=$1 prefix=$2 suffix=$3 re
	re="^${prefix}(${series//./\\.}\\.[0-9]+(-[0-9]+|\\+deb[0-9]+)?-amd64)${suffix}\$"
	apt-cache pkgnames "${prefix}${series}." 2>/dev/null |
		sed -nE "s/${re}/\\1/p" | sort -u
}

# Succeeds if every named package has a real (downloadable) version.
_tcpflow_pkgs_available() {
	local n
	n=$(apt-cache show --no-all-versions "$@" 2>/dev/null | grep -c '^Package: ') || return 1
	[[ $n -eq $# ]]
}

# Resolve without caching; prints nothing and fails when not found.
_tcpflow_kver_resolve() {
	local series=$1 rel
	while read -r rel; do
		[[ -n $rel ]] || continue
		if _tcpflow_pkgs_available "linux-headers-$rel" "linux-image-$rel-unsigned"; then
			printf '%s\n' "$rel"
			return 0
		fi
	done < <(comm -12 <(_tcpflow_releases "$series" linux-headers- '') \
		<(_tcpflow_releases "$series" linux-image- '-unsigned') | sort -rV)
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

# Where setup.sh unpacks linux-image-<rel>-unsigned.
tcpflow_kernel_root() {
	printf '%s\n' "$TCPFLOW_CACHE/kernels/$1/root"
}

tcpflow_vmlinuz() {
	printf '%s\n' "$(tcpflow_kernel_root "$1")/boot/vmlinuz-$1"
}
