#!/usr/bin/env bash
# `make demo`: set up, build, boot the VM, show tcpflow recording real
# connections.  TCPFLOW_DEMO_KERNEL (make demo KERNEL=...) picks the kernel.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec scripts/vm-test.sh --kernel "${TCPFLOW_DEMO_KERNEL:-6.12}" tests/demo/demo.bats
