#!/usr/bin/env bash
# `make bench`: set up, measure tcpflowctl's own speed on the host
# (scripts/bench-tools.sh), then build, boot each kernel and measure what
# tcpflow costs bulk transfers and connection churn (tests/bench/bench.bats
# prints the ratios).  TCPFLOW_BENCH_KERNEL (default all: every kernel) picks the
# kernel; TCPFLOW_BENCH_ROUNDS, _SECS and _MAX_CONNS size the runs,
# TCPFLOW_BENCH_TOOL_CONNS the recording tcpflowctl formats.  Last, when the
# debug kernel is built (make bench-locks, make check-debug), the lock
# statistics of churn on it (tests/bench/locks.bats).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# bpftrace: the benchmark's fourth configuration, copied into the guest.
TCPFLOW_SETUP_PACKAGES="${TCPFLOW_SETUP_PACKAGES:-} bpftrace" scripts/setup.sh
export TCPFLOW_VM_PROGRAMS="${TCPFLOW_VM_PROGRAMS:-} bpftrace"
scripts/bench-tools.sh
# tcpflow's max_conns in the benchmark (TCPFLOW_BENCH_MAX_CONNS, 262144
# entries of about 1.4 KB) must fit in a quarter of the guest's RAM.
export TCPFLOW_VM_MEM=${TCPFLOW_VM_MEM:-4G}
scripts/vm-test.sh --plain --kernel "${TCPFLOW_BENCH_KERNEL:-all}" tests/bench/bench.bats
if scripts/debug-kernel.sh --cached >/dev/null; then
	scripts/vm-test.sh --kernel debug tests/bench/locks.bats
else
	tcpflow_log "no debug kernel built: lock statistics skipped (make bench-locks)"
fi
