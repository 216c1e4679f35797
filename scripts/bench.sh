#!/usr/bin/env bash
# `make bench`: set up, measure tcpflowctl's own speed on the host
# (scripts/bench-tools.sh), then build, boot each kernel and measure what
# tcpflow costs bulk transfers and connection churn (tests/bench/bench.bats
# prints the ratios).  TCPFLOW_BENCH_KERNEL (default all: every kernel) picks the
# kernel; TCPFLOW_BENCH_ROUNDS, _MB and _CONNS size the runs,
# TCPFLOW_BENCH_TOOL_CONNS the recording tcpflowctl formats.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
scripts/bench-tools.sh
exec scripts/vm-test.sh --plain --kernel "${TCPFLOW_BENCH_KERNEL:-all}" tests/bench/bench.bats
