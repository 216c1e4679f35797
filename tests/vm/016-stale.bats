#!/usr/bin/env bats
# A live entry whose socket is gone (its CLOSE was lost) is found and
# closed, flagged stale, once live entries fill most of the pool; entries
# of sockets that still exist (listening, established, in TIME_WAIT) are
# left alone.  The lost CLOSE comes from the test module's
# drop_close_port= (module/fault.c).

load helpers

teardown() {
	tf_end_test
	tf_unload
}

# quiet_for SECS LPORT...: every entry on these local ports had no event
# for SECS (the check leaves younger entries alone).
quiet_for() {
	local s=$1 p
	shift
	for p in "$@"; do
		tf_conn "$p" "" | awk -v s="$s" '{ sub(/s$/, "", $7); if ($7 < s) bad = 1 } END { exit bad }' || return 1
	done
}

no_tcp_sockets() {
	[ -z "$(ss -tanH)" ]
}

stale_count() {
	[ "$(grep -c '^conn .* stale' /proc/tcpflow)" = "$1" ]
}

@test "entries whose CLOSE was lost are closed as stale when live entries fill the pool" {
	local p pid id
	# The counts below are this test's sockets only: no TIME_WAIT left
	# by an earlier test may be found at load.
	tf_wait_for 70 no_tcp_sockets
	insmod "$TCPFLOW_KO_FAULT" max_conns=16 drop_close_port=9700
	# A listener, its child and the client, the connection ended by the
	# client's reset: the kernel frees the three sockets, tcpflow never
	# sees them CLOSE.
	rm -f "$T/st.reset"
	tcpflow-sock listen 127.0.0.1 9700 accept wait "$T/st.reset" close close-listener 3>&- &
	pid=$!
	tf_wait_for 10 tf_tcp_listening 9700
	tcpflow-sock bind 127.0.0.1 9701 connect 127.0.0.1 9700 linger0 close touch "$T/st.reset"
	wait "$pid"
	[ -z "$(ss -tanH 'sport = :9700 or dport = :9700')" ]
	[ "$(tf_state 9700 0)" = LISTEN ]
	[ "$(tf_state 9700 9701)" = ESTABLISHED ]
	[ "$(tf_state 9701 9700)" = ESTABLISHED ]
	# Sockets that exist: an established pair with its listener, and a
	# client in TIME_WAIT.
	tcpflow-sock listen 127.0.0.1 9740 accept hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9740
	tcpflow-sock bind 127.0.0.1 9741 connect 127.0.0.1 9740 hold 3>&- &
	tf_wait_for 10 tf_state_is 9741 9740 ESTABLISHED
	tf_wait_for 10 tf_state_is 9740 9741 ESTABLISHED
	tf_client_closes 9750 9751
	# Old enough to be checked when the pool runs short.
	tf_wait_for 10 quiet_for 1.2 9700 9701 9740 9741 9751
	[ "$(tf_header_count live)" = 7 ]
	stale_count 0
	# Eight listeners bring live entries to 15 of 16: the allocation
	# that finds 14 (seven eighths) live queues the check.
	for p in $(seq 9720 9727); do
		tcpflow-sock listen 127.0.0.1 $p hold 3>&- &
		tf_wait_for 10 tf_tcp_listening $p
	done
	tf_wait_for 10 stale_count 3
	[ "$(tf_conn 9700 0 | grep -c ' stale')" = 1 ]
	[ "$(tf_conn 9700 9701 | grep -c ' stale')" = 1 ]
	[ "$(tf_conn 9701 9700 | grep -c ' stale')" = 1 ]
	# Closed, still showing the last state seen; nothing else was.
	[ "$(tf_header_count live)" = 12 ]
	[ "$(tf_state 9740 0)" = LISTEN ]
	[ "$(tf_state 9740 9741)" = ESTABLISHED ]
	[ "$(tf_state 9741 9740)" = ESTABLISHED ]
	[ "$(tf_state 9751 9750)" = TIME_WAIT ]
	for p in $(seq 9720 9727); do [ "$(tf_state $p 0)" = LISTEN ]; done
	dmesg | grep -q 'tcpflow: closed 3 live entries whose socket is gone (3 since load)$'
	# tcpflowctl shows the flag too.
	[ "$(tcpflowctl -j list -a | jq -s '[.[] | select(.stale)] | length')" = 3 ]
	id=$(tf_conn 9701 9700 | awk '{ print $2 }')
	[[ $(tcpflowctl show "$id" | head -n 1) == "conn $id client "*" stale"* ]]
}
