#!/usr/bin/env bats
# Harness self-test: passes, but leaves a WARNING: line on the kernel
# console, which must make scripts/vm-test.sh fail.

@test "harness selftest writes WARNING to the console" {
	echo "WARNING: CPU: 0 PID: 1 at tcpflow-harness-selftest" >/dev/kmsg
}
