#!/usr/bin/env bats
# The module Debian's dkms built from dkms.conf (scripts/dkms-check.sh)
# loads on its kernel and records connections, as the one make builds.
# scripts/vm-test.sh provides it as TCPFLOW_KO_DKMS when a test file names
# that variable (not on the debug kernel, which has no headers package).

load helpers

setup() {
	if [[ -z ${TCPFLOW_KO_DKMS:-} ]]; then
		skip "no TCPFLOW_KO_DKMS: the harness built no module with dkms for this kernel (the debug kernel has none; run scripts/vm-test.sh --kernel SERIES tests/vm/011-dkms.bats)"
	fi
	# The module make built (vm-init.sh's TCPFLOW_KO), to compare with;
	# tf_load loads the dkms one.
	MAKE_KO=$TCPFLOW_KO
	TCPFLOW_KO=$TCPFLOW_KO_DKMS
}

teardown() {
	tf_end_test
	tf_unload
}

@test "the dkms-built module is this kernel's, at the version and from the sources of the make-built one" {
	[ -f "$TCPFLOW_KO_DKMS" ]
	[ "$(modinfo -F vermagic "$TCPFLOW_KO_DKMS" | cut -d' ' -f1)" = "$(uname -r)" ]
	[ "$(modinfo -F version "$TCPFLOW_KO_DKMS")" = "$(modinfo -F version "$MAKE_KO")" ]
	[ -n "$(modinfo -F srcversion "$TCPFLOW_KO_DKMS")" ]
	[ "$(modinfo -F srcversion "$TCPFLOW_KO_DKMS")" = "$(modinfo -F srcversion "$MAKE_KO")" ]
}

@test "the dkms-built module loads with its defaults and shows its version in /proc/tcpflow" {
	tf_load
	grep -q '^tcpflow ' /proc/modules
	[ "$(cat /sys/module/tcpflow/version)" = "$(modinfo -F version "$TCPFLOW_KO_DKMS")" ]
	[ "$(cat /sys/module/tcpflow/parameters/max_conns)" = 8192 ]
	run head -n 1 /proc/tcpflow
	[[ $output =~ ^tcpflow\ $(modinfo -F version "$TCPFLOW_KO_DKMS")\ abi\ 1:\ [0-9]+\ connections\ \([0-9]+\ live,\ [0-9]+\ closed\)\ of\ 8192,\ 0\ untracked,\ 0\ evicted,\ 0\ events\ dropped$ ]]
}

@test "the dkms-built module records a loopback connection's whole history" {
	tf_load
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	tf_listen 7011 taskset -c 0 tcpflow-sock listen 127.0.0.1 7011 accept recv-eof close
	taskset -c 0 tcpflow-sock bind 127.0.0.1 7012 connect 127.0.0.1 7011 send 10 close
	wait "$TF_LISTEN_PID"
	tf_wait_for 10 tf_state_is 7012 7011 TIME_WAIT
	tf_wait_for 10 tf_state_is 7011 7012 CLOSE
	[ "$(tf_history 7012 7011)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT" ]
	[ "$(tf_history 7011 7012)" = "LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE" ]
	rmmod tcpflow
	[ ! -e /proc/tcpflow ]
}
