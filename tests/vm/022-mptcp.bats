#!/usr/bin/env bats
# MPTCP: the connection-level (meta) socket changes state through the same
# tracepoint but is not TCP; its subflows are ordinary TCP connections.

load helpers

setup() {
	tf_load
	tf_trace_start
}

teardown() {
	tf_end_test
	tf_unload
}

@test "MPTCP: subflows are recorded as TCP connections, the meta socket is not" {
	# Debian's kernels have MPTCP; the debug kernel's small config not.
	[ -e /proc/sys/net/mptcp ] || skip "no MPTCP in $(uname -r)"
	sysctl -qw net.mptcp.enabled=1
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock mptcp listen 127.0.0.1 8095 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 8095
	taskset -c 0 tcpflow-sock mptcp bind 127.0.0.1 40095 connect 127.0.0.1 8095 send 10 close
	wait
	tf_wait_for 10 tf_state_is 8095 40095 CLOSE
	# The client subflow's move to TIME_WAIT can come after the server's
	# CLOSE: its ACK of the server's FIN leaves before it.
	tf_wait_for 10 tf_history_has 40095 8095 'FIN_WAIT2>TIME_WAIT'
	# The kernel reported the meta sockets' transitions ...
	[[ $(tf_trace_history MPTCP 40095 8095) == *ESTABLISHED* ]]
	# ... and the subflows' as TCP, which tcpflow recorded, once each: one
	# entry per child socket the kernel cloned.  Two CPUs processing the
	# final ACK and the first data at once may each clone one (the loser's
	# is closed at once), so the kernel's own count decides.
	children=$(tf_trace_history TCP 8095 40095 | grep -o 'LISTEN>SYN_RECV' | wc -l)
	[ "$(tf_conn 40095 8095 | wc -l)" = 1 ]
	[ "$(tf_conn 8095 40095 | wc -l)" = "$children" ]
	[ "$(tf_history 40095 8095)" = "$(tf_tw_expected "$(tf_trace_history TCP 40095 8095)")" ]
	if ((children == 1)); then
		[ "$(tf_history 8095 40095)" = "$(tf_trace_history TCP 8095 40095)" ]
	fi
	[[ $(tf_history 40095 8095) == "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED "* ]]
}
