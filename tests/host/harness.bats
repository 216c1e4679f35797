#!/usr/bin/env bats
# Self-tests of the VM harness (scripts/vm-test.sh), run on the host:
#   bats tests/host/harness.bats
# Each test boots the 6.12 kernel once (about a minute under TCG).

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	VMTEST="$REPO/scripts/vm-test.sh"
}

@test "a WARNING: on the kernel console fails the run even though bats passed" {
	run "$VMTEST" --kernel 6.12 --timeout 600 "$REPO/tests/harness/warn.bats"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"ok 1 harness selftest writes WARNING to the console"* ]]
	[[ $output == *"WARNING: CPU: 0 PID: 1 at tcpflow-harness-selftest"* ]]
	[[ $output == *"kernel console reports problems"* ]]
	[[ $output == *"vm-test 6.12 "*": FAIL"* ]]
}

@test "a failing test fails the run" {
	run "$VMTEST" --kernel 6.12 --timeout 600 "$REPO/tests/harness/fail.bats"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"not ok 1 harness selftest fails on purpose"* ]]
	[[ $output == *"bats exited 1"* ]]
	[[ $output == *"vm-test 6.12 "*": FAIL"* ]]
}

@test "a passing .bats file outside the repository passes, run from another cwd" {
	local dir
	dir=$(mktemp -d)
	# Written with printf: bats would take a literal @test line here for
	# one of this file's own tests.
	printf '%s "outside-the-repo test runs in the guest" {\n\t[ -n "$TCPFLOW_KERNEL" ]\n}\n' \
		'@test' >"$dir/outside.bats"
	cd "$dir"
	run "$VMTEST" --kernel 6.12 --timeout 600 "$dir/outside.bats"
	rm -rf "$dir"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"ok 1 outside-the-repo test runs in the guest"* ]]
	[[ $output == *"vm-test 6.12 "*": PASS"* ]]
}

@test "--plain boots without slab debugging; linked helpers and TCPFLOW_BENCH_* reach the guest" {
	local dir
	dir=$(mktemp -d)
	mkdir "$dir/suite"
	echo 'harness_helper() { echo linked; }' >"$dir/real-helpers.bash"
	ln -s ../real-helpers.bash "$dir/suite/helpers.bash"
	# AT_TEST, not the literal: bats would take that line for a test of
	# this file.
	sed 's/^AT_TEST/@test/' >"$dir/suite/plain.bats" <<-'BATS'
	load helpers
	AT_TEST "plain guest" {
		[ "$(harness_helper)" = linked ]
		[ "$TCPFLOW_BENCH_PROBE" = "a b'c" ]
		[[ $(cat /proc/cmdline) != *slub_debug* ]]
		[[ $(cat /proc/cmdline) != *init_on_free* ]]
	}
	BATS
	TCPFLOW_BENCH_PROBE="a b'c" run "$VMTEST" --plain --kernel 6.12 --timeout 600 "$dir/suite"
	rm -rf "$dir"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"ok 1 plain guest"* ]]
	[[ $output == *"vm-test 6.12 "*": PASS"* ]]
}
