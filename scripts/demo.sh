#!/usr/bin/env bash
# `make demo`: set up, build, boot the VM, show tcpflow recording real
# connections.  TCPFLOW_DEMO_KERNEL (make demo KERNEL=...) picks the kernel
# series of lib.sh's table (default 6.12); only that one is set up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
kernel=${TCPFLOW_DEMO_KERNEL:-6.12}
tcpflow_check_series "$kernel"
TCPFLOW_KERNELS=$kernel TCPFLOW_SETUP_SPARSE=0 scripts/setup.sh >/dev/null
exec scripts/vm-test.sh --kernel "$kernel" tests/demo/demo.bats
