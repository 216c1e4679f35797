#!/usr/bin/env bats
# tcpflowctl against the real /dev/tcpflow.

load helpers

setup() {
	tf_load
}

teardown() {
	tf_end_test
	pkill -f 'tcpflowctl follow' || true
	# Empty once its processes are gone: tf_end_test ended them.
	if [[ -n ${CG:-} ]]; then
		tf_wait_for 10 rmdir "$CG"
	fi
	tf_unload
}

# leak PORT [CGROUP]: a server on PORT (in CGROUP, a cgroup2 directory)
# that never closes after the FIN of its client on PORT + 32000.  Each
# test uses its own ports: the module is reloaded between tests and would
# seed an earlier test's sockets.
leak() {
	if [[ -n ${2:-} ]]; then
		# $BASHPID: the subshell, which becomes the server
		(echo "$BASHPID" >"$2/cgroup.procs" &&
			exec tcpflow-sock listen 127.0.0.1 "$1" accept hold) 3>&- &
	else
		tcpflow-sock listen 127.0.0.1 "$1" accept hold 3>&- &
	fi
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

# cgroup_new NAME: a new cgroup NAME under the cgroup2 mount (mounted at
# /sys/fs/cgroup if the guest's init could not), in CG for teardown.
cgroup_new() {
	if ! grep -q '^cgroup2 /sys/fs/cgroup ' /proc/mounts; then
		mount -t cgroup2 cgroup2 /sys/fs/cgroup
	fi
	CG=/sys/fs/cgroup/$1
	mkdir "$CG"
}

@test "a leaking server in a service's cgroup: its id in /proc, its unit in leaks, its path in JSON, --cgroup" {
	cgroup_new tcpflow-test.service
	ino=$(stat -c %i "$CG")
	leak 9407 "$CG"
	grep -qx "$LEAK" "$CG/cgroup.procs"
	# The cgroup's id is its directory's inode number: the listener's
	# (listen) and the server's (accept).  The client ran in the test's.
	[ "$(tf_field 9407 0 cgroup)" = "$ino" ]
	[ "$(tf_field 9407 41407 cgroup)" = "$ino" ]
	[ "$(tf_field 9407 41407 pid)" = "$LEAK" ]
	client=$(tf_field 41407 9407 cgroup)
	[[ $client =~ ^[1-9][0-9]*$ ]]
	[ "$client" != "$ino" ]

	# leaks names the unit as the owner, and each connection's unit.
	run tcpflowctl leaks -t 0
	[ "$status" -eq 3 ]
	printf '%s\n' "${lines[@]}" | grep -Eq '^tcpflow-test\.service +1 '
	id=$(tf_conn_newest 9407 41407 | awk '{ print $2 }')
	row=$(printf '%s\n' "${lines[@]}" | awk -v id="$id" '$1 == id')
	# Unit, recorded owner, owner now
	[ "$(awk '{ print $6, $7, $8 }' <<<"$row")" = "tcpflow-test.service $LEAK/tcpflow-sock $LEAK/tcpflow-sock" ]
	run tcpflowctl -j leaks -t 0
	[ "$status" -eq 3 ]
	[ "$(printf '%s\n' "${lines[@]}" | jq -r 'select(.type == "close_wait_owner" and .unit == "tcpflow-test.service") | .close_wait')" = 1 ]

	# JSON: the path under the mount, the id, the unit.
	run tcpflowctl -j list
	[ "$status" -eq 0 ]
	obj=$(printf '%s\n' "${lines[@]}" | jq -c "select(.id == $id)")
	[[ $obj == *'"cgroup":"/tcpflow-test.service"'* ]]
	[ "$(jq -r '"\(.cgroup_id) \(.unit)"' <<<"$obj")" = "$ino tcpflow-test.service" ]
	# show ends its summary line with the path.
	[[ $(tcpflowctl show "$id" | head -n 1) == *" cgroup=/tcpflow-test.service" ]]

	# --cgroup, by unit or by path: the listener and the server only.
	want=$(printf '%s\n' "$(tf_conn_newest 9407 0 | awk '{ print $2 }')" "$id" | sort -n | tr '\n' ' ')
	for sel in tcpflow-test.service /tcpflow-test.service; do
		run tcpflowctl -H --cgroup "$sel"
		[ "$status" -eq 0 ]
		[ "$(printf '%s\n' "${lines[@]}" | awk '{ print $1 }' | sort -n | tr '\n' ' ')" = "$want" ]
	done
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

# Both ends on CPU 0: from two CPUs loopback can deliver the server's FIN
# before its ACK of the client's FIN, and the client's timewait socket
# answers that stale ACK, which the closed server resets: TIME_WAIT ends
# at once (020 shows it), and the ladder with it.
@test "show joins both ends of a loopback connection into one ladder" {
	taskset -c 0 tcpflow-sock listen 127.0.0.1 9402 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9402
	taskset -c 0 tcpflow-sock bind 127.0.0.1 41402 connect 127.0.0.1 9402 close
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
