#!/usr/bin/env bats
# Transitions that need both ends to act at once or a peer that never
# answers: a veth pair between two namespaces with 100 ms of delay each
# way, so both ends' segments are in flight together.
#
#   netns ea                          netns eb
#   +------------------+   veth      +------------------+
#   | va 10.98.0.1/24  |-------------| vb 10.98.0.2/24  |
#   +------------------+  netem 100ms each way          +

load helpers

setup() {
	tf_veth_pair ea eb 10.98.0.1 10.98.0.2
	ip netns exec ea tc qdisc add dev va root netem delay 100ms
	ip netns exec eb tc qdisc add dev vb root netem delay 100ms
	tf_load
	tf_trace_start
}

teardown() {
	tf_end_test
	ip netns del ea 2>/dev/null || true
	ip netns del eb 2>/dev/null || true
	rm -f "$T/edge".*
	tf_unload
}

@test "simultaneous close: FIN_WAIT1 > CLOSING > TIME_WAIT on both ends" {
	ip netns exec eb tcpflow-sock listen 10.98.0.2 9501 accept touch "$T/edge.b" wait "$T/edge.go" shutdown recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9501 eb
	ip netns exec ea tcpflow-sock bind 10.98.0.1 42501 connect 10.98.0.2 9501 touch "$T/edge.a" wait "$T/edge.go" shutdown recv-eof close 3>&- &
	tf_wait_for 10 test -e "$T/edge.a" -a -e "$T/edge.b"
	touch "$T/edge.go"
	wait
	tf_wait_for 10 tf_state_is 42501 9501 TIME_WAIT
	tf_wait_for 10 tf_state_is 9501 42501 TIME_WAIT
	# shutdown() sends the FIN, the peer's crosses it (CLOSING), close()
	# comes while the ACK is in flight: the kernel reports that as
	# CLOSING > CLOSING, and so does tcpflow.
	[ "$(tf_history 42501 9501)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>CLOSING CLOSING>CLOSING CLOSING>TIME_WAIT" ]
	[ "$(tf_history 9501 42501)" = "LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>CLOSING CLOSING>CLOSING CLOSING>TIME_WAIT" ]
	[ "$(tf_history 42501 9501)" = "$(tf_tw_expected "$(tf_trace_history TCP 42501 9501)")" ]
	[ "$(tf_history 9501 42501)" = "$(tf_tw_expected "$(tf_trace_history TCP 9501 42501)")" ]
}

@test "simultaneous open: SYN_SENT > SYN_RECV > ESTABLISHED on both ends" {
	ip netns exec ea tcpflow-sock bind 10.98.0.1 42502 wait "$T/edge.go" connect 10.98.0.2 42503 close 3>&- &
	ip netns exec eb tcpflow-sock bind 10.98.0.2 42503 wait "$T/edge.go" connect 10.98.0.1 42502 close 3>&- &
	touch "$T/edge.go"
	wait
	tf_wait_for 10 tf_state_is 42502 42503 TIME_WAIT
	open="CLOSE>SYN_SENT SYN_SENT>SYN_RECV SYN_RECV>ESTABLISHED"
	[[ $(tf_history 42502 42503) == "$open "* ]]
	[[ $(tf_history 42503 42502) == "$open "* ]]
	[ "$(tf_history 42502 42503)" = "$(tf_tw_expected "$(tf_trace_history TCP 42502 42503)")" ]
	[ "$(tf_history 42503 42502)" = "$(tf_tw_expected "$(tf_trace_history TCP 42503 42502)")" ]
}

@test "connect timeout: SYNs dropped by the peer, SYN_SENT > CLOSE after the retries" {
	# TCP only: ARP must still pass, or a neighbour entry gone stale
	# since the last test fails its probes and connect() ends with
	# EHOSTUNREACH instead of the timeout.
	ip netns exec eb tc qdisc add dev vb ingress
	ip netns exec eb tc filter add dev vb parent ffff: protocol ip \
		flower ip_proto tcp action drop
	run ip netns exec ea tcpflow-sock bind 10.98.0.1 42504 syncnt 1 connect-fail 10.98.0.2 9504
	[ "$output" = "Connection timed out" ]
	[ "$(tf_history 42504 9504)" = "CLOSE>SYN_SENT SYN_SENT>CLOSE" ]
	[ "$(tf_history 42504 9504)" = "$(tf_trace_history TCP 42504 9504)" ]
	[ "$(tf_state 42504 9504)" = CLOSE ]
}
