#!/usr/bin/env bash
# `make warn-check`: the release module and the test module (TCPFLOW_FAULT=1)
# built with W=1, -Werror and sparse (-Wsparse-error) against every kernel
# of lib.sh's table, or the series given as arguments.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sparse=$(tcpflow_sparse)
[[ -x $sparse ]] || tcpflow_die "no $sparse: run scripts/setup.sh"
(($#)) || set -- "${TCPFLOW_ALL_SERIES[@]}"
for series in "$@"; do
	rel=$(tcpflow_kver "$series") || tcpflow_die "cannot resolve kernel $series: run scripts/setup.sh"
	for fault in 0 1; do
		dir=$TCPFLOW_REPO/build/$rel
		((fault)) && dir+=-fault
		rm -rf "$dir"
		tcpflow_log "warn-check: $rel, TCPFLOW_FAULT=$fault"
		tcpflow_kmake "$series" module TCPFLOW_FAULT="$fault" W=1 C=2 \
			CHECK="$sparse -Wsparse-error" KCFLAGS=-Werror
	done
done
echo "warn-check: W=1, -Werror and sparse clean on $*"
