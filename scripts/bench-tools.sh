#!/usr/bin/env bash
# `make bench`, first part, on the host: how fast tcpflowctl formats, from a
# recording of N connections in the snapshot and N more live, 12 events
# each (tests/host/fixture-gen.c --big).  Prints events (or connections)
# per second of each command, best of three.  TCPFLOW_BENCH_TOOL_CONNS
# (default 100000) is N.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
n=${TCPFLOW_BENCH_TOOL_CONNS:-100000}
[[ $n =~ ^[1-9][0-9]*$ ]] || tcpflow_die "TCPFLOW_BENCH_TOOL_CONNS must be a positive number, got '$n'"
make -s -C "$TCPFLOW_REPO" tools
ctl=$TCPFLOW_REPO/build/tools/tcpflowctl
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cc -O2 -Wall -Wextra -Werror -std=gnu11 -I"$TCPFLOW_REPO/include/uapi" \
	-o "$dir/fixture-gen" "$TCPFLOW_REPO/tests/host/fixture-gen.c"
"$dir/fixture-gen" --big "$n" "$dir/big.rec"

# rate WHAT COUNT ARGS...: the best of three runs of tcpflowctl ARGS, as
# COUNT WHAT per second.
rate() {
	local what=$1 count=$2 t0 t best=
	shift 2
	for _ in 1 2 3; do
		t0=${EPOCHREALTIME/./}
		"$ctl" -f "$dir/big.rec" "$@" >/dev/null
		t=$((${EPOCHREALTIME/./} - t0))
		[[ -n $best ]] && ((t >= best)) || best=$t
	done
	awk -v c="$count" -v us="$best" -v w="$what" -v a="$*" \
		'BEGIN { printf "#   %-14s %10.0f %s/s (%d in %.3f s)\n", a, c / (us / 1e6), w, c, us / 1e6 }'
}

echo "# tcpflowctl on the host ($(nproc) CPUs), a recording of $n connections with 12 events"
echo "# each in the snapshot and $n more live ($((24 * n)) events, $(($(stat -c %s "$dir/big.rec") >> 20)) MiB):"
rate events $((12 * n)) follow
rate events $((12 * n)) -j follow
rate connections "$n" -a list
rate connections "$n" -a -j list
rate events $((12 * n)) stats
