#!/usr/bin/env bats
# No timewait socket to go to: net.ipv4.tcp_max_tw_buckets is 0 in a netns
# of its own, so tcp_time_wait() finds none (inet_twsk_alloc() fails, the
# kernel counts TCPTimeWaitOverflow) and the connection's CLOSE is final.
# The history says so, flagged tw_overflow, as the tracepoint says it.

load helpers

setup() {
	tf_load
	tf_netns_add twover
	ip netns exec twover sysctl -qw net.ipv4.tcp_max_tw_buckets=0
	tf_trace_start
}

teardown() {
	tf_end_test
	ip netns del twover 2>/dev/null || true
	tf_unload
}

CLIENT_TO_FIN_WAIT2="CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2"

@test "no timewait socket (tcp_max_tw_buckets reached): FIN_WAIT2 > CLOSE is final, flagged tw_overflow" {
	local srv

	# The client shuts its side down and waits for the server's FIN in
	# FIN_WAIT2: tcp_fin() then calls tcp_time_wait(), which finds no
	# timewait socket to go to.
	ip netns exec twover tcpflow-sock listen 127.0.0.1 8280 accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 8280 twover
	ip netns exec twover tcpflow-sock bind 127.0.0.1 20080 connect 127.0.0.1 8280 \
		shutdown recv-eof close
	wait "$srv"
	tf_wait_for 10 tf_state_is 20080 8280 CLOSE
	tf_wait_for 10 tf_state_is 8280 20080 CLOSE
	tf_wait_for 10 tf_netstat_is twover TCPTimeWaitOverflow 1
	[ -z "$(ip netns exec twover ss -tanH 'sport = :20080')" ]

	[ "$(tf_history 20080 8280)" = "$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>CLOSE" ]
	[ "$(tf_history 20080 8280)" = "$(tf_trace_history TCP 20080 8280)" ]
	[ "$(tf_history 8280 20080)" = "$(tf_trace_history TCP 8280 20080)" ]
	tf_conn_newest 20080 8280 | grep -q ' tw_overflow\( \|$\)'
	[[ $(tf_conn_newest 8280 20080) != *tw_overflow* ]]
	tcpflowctl -j list -a >"$T/list.json"
	[ "$(jq -r 'select(.sport == 20080) | .tw_overflow' "$T/list.json")" = true ]
	[ "$(jq -r 'select(.sport == 8280 and .dport == 20080) | .tw_overflow' "$T/list.json")" = false ]
	# Both FINs arrived: one sequence number each way.
	[ "$(tf_field 20080 8280 received)" = 1 ]
	[ "$(tf_field 8280 20080 received)" = 1 ]
}
