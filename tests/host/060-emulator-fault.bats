#!/usr/bin/env bats
# scripts/vm-test.sh's emulator_fault(): which guest deaths it boots again
# (QEMU's software emulation running a stale int3, KERNEL-FACTS.md) and
# which fail the run, on consoles written here.  No VM is booted.

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	D=$(mktemp -d)
	# The tests had started: bats's plan is in the TAP log.
	printf '1..3\nok 1 a\n' >"$D/tap.log"
}

teardown() {
	rm -rf "$D"
}

# oops COMM CODE FRAME: an int3 oops as 6.12 prints it, on task COMM, with
# the Code: line CODE and FRAME on its call trace.
oops() {
	cat <<-OOPS
	[  101.000001] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI
	[  101.000002] CPU: 1 UID: 0 PID: 812 Comm: $1 Tainted: G           OE      6.12.118+deb12-amd64 #1  Debian 6.12.118-1
	[  101.000003] Tainted: [O]=OOT_MODULE, [E]=UNSIGNED_MODULE
	[  101.000004] RIP: 0010:ttwu_do_activate+0x8d/0x220
	[  101.000005] Code: 48 89 df e8 5d fe ff ff 0f 1f 44 $2 00 48 8b 43 28
	[  101.000006] Call Trace:
	[  101.000007]  <IRQ>
	[  101.000008]  ? die+0x36/0x90
	[  101.000009]  ? do_int3+0x2d/0x70
	[  101.000010]  ? ttwu_do_activate+0x8d/0x220
	[  101.000011]  $3
	[  101.000012]  sched_ttwu_pending+0xf2/0x1c0
	[  101.000013]  </IRQ>
	[  101.000014] Modules linked in: tcpflow(OE) veth
	[  101.000015] ---[ end trace 0000000000000000 ]---
	[  101.000016] Kernel panic - not syncing: Fatal exception in interrupt
	OOPS
}

emulator_fault() {
	bash -c 'source "$1"; emulator_fault "$2"' _ "$REPO/scripts/vm-test.sh" "$D"
}

@test "a stale int3 on a tests' helper task, no tcpflow frame: booted again" {
	oops tcpflow-sock '<00>' '__flush_smp_call_function_queue+0x9b/0x3c0' >"$D/console.log"
	run emulator_fault
	[ "$status" -eq 0 ]
	oops swapper/1 '<00>' '__flush_smp_call_function_queue+0x9b/0x3c0' >"$D/console.log"
	run emulator_fault
	[ "$status" -eq 0 ]
}

@test "an int3 with a tcpflow frame on its call trace fails the run" {
	oops swapper/1 '<00>' 'tcpflow_probe_state+0x5a/0x180 [tcpflow]' >"$D/console.log"
	run emulator_fault
	[ "$status" -eq 1 ]
}

@test "an int3 the kernel's text still holds fails the run" {
	oops tcpflow-sock "cc <00>" __flush_smp_call_function_queue+0x9b/0x3c0 >"$D/console.log"
	run emulator_fault
	[ "$status" -eq 1 ]
}

@test "another problem first fails the run; any int3 before the tests boots again" {
	{
		echo '[   99.000000] WARNING: CPU: 0 PID: 1 at somewhere'
		oops tcpflow-sock '<00>' '__flush_smp_call_function_queue+0x9b/0x3c0'
	} >"$D/console.log"
	run emulator_fault
	[ "$status" -eq 1 ]
	oops swapper/0 'cc <00>' 'sched_clock_cpu+0x10/0x1a0' >"$D/console.log"
	: >"$D/tap.log"
	run emulator_fault
	[ "$status" -eq 0 ]
	: >"$D/console.log"
	run emulator_fault
	[ "$status" -eq 1 ]
}

# vm-test.sh runs under set -e: the summary of a boot that died before its
# first test once ended the whole run there, with no verdict printed.
@test "the fault's summary line, with and without test results, under set -e" {
	oops swapper/0 '<00>' 'sched_clock_cpu+0x10/0x1a0' >"$D/console.log"
	: >"$D/tap.log"
	run bash -c 'source "$1"; s=$(fault_summary "$2"); echo "[$s]"' _ "$REPO/scripts/vm-test.sh" "$D"
	[ "$status" -eq 0 ]
	[ "$output" = "[Oops: int3: 0000 [#1] PREEMPT SMP NOPTI; RIP: 0010:ttwu_do_activate+0x8d/0x220 after 0 tests]" ]
	printf '1..3\nok 1 a\nnot ok 2 b\n' >"$D/tap.log"
	run bash -c 'source "$1"; s=$(fault_summary "$2"); echo "[$s]"' _ "$REPO/scripts/vm-test.sh" "$D"
	[ "$status" -eq 0 ]
	[ "$output" = "[Oops: int3: 0000 [#1] PREEMPT SMP NOPTI; RIP: 0010:ttwu_do_activate+0x8d/0x220 after 2 tests]" ]
	rm "$D/tap.log"
	run bash -c 'source "$1"; s=$(fault_summary "$2"); echo "[$s]"' _ "$REPO/scripts/vm-test.sh" "$D"
	[ "$status" -eq 0 ]
	[ "$output" = "[Oops: int3: 0000 [#1] PREEMPT SMP NOPTI; RIP: 0010:ttwu_do_activate+0x8d/0x220 after 0 tests]" ]
}

boot_again() {
	bash -c 'source "$1"; boot_again "$2" "$3"' _ "$REPO/scripts/vm-test.sh" "$D" "$1"
}

@test "deaths before the tests: up to four boots; during them: only the first boot again" {
	: >"$D/tap.log"
	run boot_again 1
	[ "$status" -eq 0 ]
	run boot_again 3
	[ "$status" -eq 0 ]
	run boot_again 4
	[ "$status" -eq 1 ]
	# During the tests: booted again when no earlier boot died during them,
	# whatever died before them.
	printf '1..3\nok 1 a\n' >"$D/tap.log"
	run boot_again 1
	[ "$status" -eq 0 ]
	: >"$D/tap.emulator-fault.1.log"
	run boot_again 2
	[ "$status" -eq 0 ]
	printf '1..3\n' >"$D/tap.emulator-fault.2.log"
	run boot_again 3
	[ "$status" -eq 1 ]
}
