#!/usr/bin/env bats
# Harness self-test: a failing test, which must make scripts/vm-test.sh fail.

@test "harness selftest fails on purpose" {
	false
}
