#!/usr/bin/env bats
# tcpflowctl against the real /dev/tcpflow.

load helpers

setup() {
	tf_load
}

teardown() {
	tf_end_test
	pkill -f 'tcpflowctl follow' || true
	tf_unload
}

# leak PORT: a server on PORT that never closes after the FIN of its
# client on PORT + 32000.  Each test uses its own ports: the module is
# reloaded between tests and would seed an earlier test's sockets.
leak() {
	tcpflow-sock listen 127.0.0.1 "$1" accept hold 3>&- &
	LEAK=$!
	tf_wait_for 10 tf_tcp_listening "$1"
	tcpflow-sock bind 127.0.0.1 $(($1 + 32000)) connect 127.0.0.1 "$1" close
	tf_wait_for 10 tf_state_is "$1" $(($1 + 32000)) CLOSE_WAIT
	# The server's ACK of that FIN is delayed (up to 40 ms): the client
	# is in FIN_WAIT2 once it was sent and recorded.
	tf_wait_for 10 tf_state_is $(($1 + 32000)) "$1" FIN_WAIT2
}

@test "leaks finds a CLOSE_WAIT leak with the process that holds it" {
	leak 9401
	run tcpflowctl leaks -v -t 0
	[ "$status" -eq 3 ]
	id=$(tf_conn 9401 41401 | awk '{ print $2 }')
	row=$(printf '%s\n' "${lines[@]}" | awk -v id="$id" '$1 == id')
	[[ $row == *" 127.0.0.1:9401 "*" 127.0.0.1:41401 "* ]]
	# Recorded owner (at accept) and owner now (from /proc/*/fd): the same.
	[ "$(grep -o "$LEAK/tcpflow-sock" <<<"$row" | wc -l)" = 2 ]

	run tcpflowctl -j leaks -t 0
	[ "$status" -eq 3 ]
	obj=$(printf '%s\n' "${lines[@]}" | jq -c "select(.id == $id)")
	[ "$(jq -r .state <<<"$obj")" = CLOSE_WAIT ]
	[ "$(jq -r .pid <<<"$obj")" = "$LEAK" ]

	# Younger than the threshold: no leak, exit 0.
	run tcpflowctl leaks -t 3600
	[ "$status" -eq 0 ]
}

@test "list filters by state and port like ss" {
	leak 9404
	run tcpflowctl list -H -s close-wait
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" = 1 ]
	[[ ${lines[0]} == *CLOSE_WAIT*"127.0.0.1:9404"*"127.0.0.1:41404"*"server"*"$LEAK/tcpflow-sock"* ]]
	run tcpflowctl list -H --port 41404
	[ "${#lines[@]}" = 2 ]
	run tcpflowctl list -H -s no-such-state
	[ "$status" -eq 2 ]
}

@test "show joins both ends of a loopback connection into one ladder" {
	tcpflow-sock listen 127.0.0.1 9402 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9402
	tcpflow-sock bind 127.0.0.1 41402 connect 127.0.0.1 9402 close
	wait
	tf_wait_for 10 tf_state_is 9402 41402 CLOSE
	# The client's move to TIME_WAIT can come after the server's CLOSE:
	# its ACK of the server's FIN leaves before it.
	tf_wait_for 10 tf_history_has 41402 9402 'FIN_WAIT2>TIME_WAIT'
	cid=$(tf_conn 41402 9402 | awk '{ print $2 }')
	sid=$(tf_conn 9402 41402 | awk '{ print $2 }')
	run tcpflowctl show "$cid"
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" | grep -q "client $cid |.*| server $sid"
	# Left column: the client's states in order; right: the server's.
	left=$(printf '%s\n' "${lines[@]}" | awk -F'|' '/^[0-9]/ { split($1, a, " "); if (a[2] != "") printf "%s%s", s, a[2]; if (a[2] != "") s = " " }')
	right=$(printf '%s\n' "${lines[@]}" | awk -F'|' '/^[0-9]/ { gsub(/ /, "", $3); if ($3 != "") { printf "%s%s", s, $3; s = " " } }')
	[ "$left" = "SYN_SENT ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT" ]
	[ "$right" = "SYN_RECV ESTABLISHED CLOSE_WAIT LAST_ACK CLOSE" ]
	run tcpflowctl show 999999
	[ "$status" -eq 1 ]
	[ "$output" = "tcpflowctl: no connection with id 999999" ]
}

@test "JSON Lines: one valid object per connection with the documented keys" {
	leak 9405
	run tcpflowctl -j list -a
	[ "$status" -eq 0 ]
	for l in "${lines[@]}"; do jq -e . <<<"$l" >/dev/null; done
	obj=$(printf '%s\n' "${lines[@]}" | jq -c 'select(.sport == 9405 and .dport == 41405)')
	[ "$(jq -r '[.role, .state, .pid, .comm, .family, .saddr] | join(" ")' <<<"$obj")" = "server CLOSE_WAIT $LEAK tcpflow-sock inet 127.0.0.1" ]
	[ "$(jq -r '[.events[] | select(.type == "state") | .old + ">" + .new] | join(" ")' <<<"$obj")" = "$(tf_history 9405 41405)" ]
	# The segments: the handshake, then the peer's FIN and our ACK of it.
	[ "$(jq -r '[.events[] | select(.type == "segment") | .dir + " " + .flags] | join(", ")' <<<"$obj")" = "$(tf_segments 9405 41405 | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }')" ]
	[ "$(jq -r .cookie <<<"$obj")" = "$((16#$(tf_field 9405 41405 sk)))" ]
}

@test "a recording made with dump reads back the same as the device" {
	leak 9406
	tcpflowctl dump >"$T/rec"
	# This test's connections only: older TIME_WAITs may end meanwhile.
	sel='select(.sport == 9406 or .dport == 9406) | {id, state, pid, events}'
	diff <(tcpflowctl -j list -a | jq -c "$sel") \
		<(tcpflowctl -f "$T/rec" -j list -a | jq -c "$sel")
	# Listener, client and server; a duplicate child of the handshake
	# (README: the kernel clones one when the ACK and the FIN race on two
	# CPUs, seen on 5.10) is recorded too, flagged, as many times as /proc
	# shows it.
	mine='select(.sport == 9406 or .dport == 9406)'
	[ "$(tcpflowctl -f "$T/rec" -j list -a | jq -c "$mine | select(.duplicate | not)" | wc -l)" = 3 ]
	[ "$(tcpflowctl -f "$T/rec" -j list -a | jq -c "$mine | select(.duplicate)" | wc -l)" = "$(tf_dups 9406 41406)" ]
}

@test "follow streams new events as they happen" {
	tcpflowctl follow >"$T/follow.out" 3>&- &
	follower=$!
	# Events after its open() reach it through the live stream.
	tf_wait_for 10 tf_has_open "$follower" /dev/tcpflow
	tcpflow-sock listen 127.0.0.1 9403 close-listener
	tf_wait_for 10 grep -q 'LISTEN -> CLOSE\|LISTEN>CLOSE' "$T/follow.out"
	kill -INT "$follower"
	wait "$follower"
	grep -q '127.0.0.1:9403' "$T/follow.out"
}

@test "without the module tcpflowctl says to load it" {
	tf_unload
	run tcpflowctl list
	[ "$status" -eq 1 ]
	[[ $output == *"/dev/tcpflow not found"*"insmod"* ]]
}
