#!/usr/bin/env bats
# tcpflow-load's handling of bad usage, on the host: it exits 2 with a
# message and sends nothing.  (Its traffic is tested in the guest:
# tests/vm/055-load.bats.)

bats_require_minimum_version 1.5.0

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export LOAD=$REPO/build/tools/tcpflow-load
	make -s -C "$REPO" "$LOAD" >&2
}

# bad MESSAGE ARGS...: tcpflow-load ARGS exits 2 and says MESSAGE.
bad() {
	local msg=$1
	shift
	run -2 --separate-stderr "$LOAD" "$@"
	[ -z "$output" ]
	[[ $stderr == *"$msg"* ]]
}

@test "bad usage exits 2 with a message" {
	bad usage:
	bad usage: client churn 127.0.0.1
	bad usage: listen churn 127.0.0.1 9000
	bad usage: client rr 127.0.0.1 9000
	bad usage: client churn 127.0.0.1 9000 extra
	bad usage: client churn 127.0.0.1 9000 -x
	bad usage: server churn 127.0.0.1 9000 -c 2
	bad "bad port '0'" client churn 127.0.0.1 0
	bad "bad port '65536'" client churn 127.0.0.1 65536
	bad "bad address 'localhost'" client churn localhost 9000
	bad "-c must be 1 to 4096, got '0'" client churn 127.0.0.1 9000 -c 0
	bad "-c must be 1 to 4096, got '4097'" client churn 127.0.0.1 9000 -c 4097
	bad "-t must be 1 to 3600, got '1s'" client bulk ::1 9000 -t 1s
}
