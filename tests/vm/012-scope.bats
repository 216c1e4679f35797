#!/usr/bin/env bats
# The tracking scope (module/scope.c): ports= records only connections with
# a local or peer port in it, at load and when changed at run time, and a
# bad value is refused and changes nothing.

load helpers

setup() {
	dmesg -C
}

teardown() {
	tf_dump_on_failure
	pkill -f tcpflow-sock || true
	tf_unload
}

PARAM=/sys/module/tcpflow/parameters/ports

# exchange SPORT CPORT: a client on CPORT connects to a server on SPORT,
# sends, closes first; the server reads to EOF and closes.
exchange() {
	tf_listen "$1" tcpflow-sock listen 127.0.0.1 "$1" accept recv-eof close
	tcpflow-sock bind 127.0.0.1 "$2" connect 127.0.0.1 "$1" send 10 close
	wait
}

# entries PORT: how many entries /proc/tcpflow holds with PORT at either
# end.
entries() {
	awk -v p="$1" '
		function port(a,   n, x) { n = split(a, x, ":"); return x[n] }
		/^conn / && (port($4) == p || port($5) == p) { n++ }
		END { print n + 0 }' /proc/tcpflow
}

CLIENT="CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT"
SERVER="LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE"

@test "ports= at load: only connections with a port in it are recorded, the others get no entry" {
	tf_load ports=8100,9100-9102
	[ "$(cat "$PARAM")" = 8100,9100-9102 ]
	exchange 8100 40100
	exchange 8101 40101
	exchange 9102 40102
	tf_wait_for 10 tf_state_is 8100 40100 CLOSE
	tf_wait_for 10 tf_state_is 9102 40102 CLOSE
	[ "$(tf_history 40100 8100)" = "$CLIENT" ]
	[ "$(tf_history 8100 40100)" = "$SERVER" ]
	[ "$(tf_history 8100 0)" = "CLOSE>LISTEN LISTEN>CLOSE" ]
	[ "$(tf_history 40102 9102)" = "$CLIENT" ]
	[ "$(tf_history 9102 40102)" = "$SERVER" ]
	# Segments too, for what is in scope.
	tf_conn_block 40100 8100 | grep -q ' tx SYN seq=0 '
	[ "$(entries 8101)" = 0 ]
	[ "$(entries 40101)" = 0 ]
	# The two listeners and both ends of the two connections; nothing
	# untracked: what is outside the scope is not counted anywhere.
	[ "$(tf_header_count connections)" = 6 ]
	[ "$(tf_header_count untracked)" = 0 ]
}

@test "ports= changed at run time applies from then on, and empty records everything again" {
	tf_load
	[ "$(cat "$PARAM")" = "" ]
	exchange 8110 40110
	tf_wait_for 10 tf_state_is 8110 40110 CLOSE
	[ "$(entries 8110)" = 3 ]

	echo 8111 >"$PARAM"
	[ "$(cat "$PARAM")" = 8111 ]
	exchange 8110 40112
	exchange 8111 40111
	tf_wait_for 10 tf_state_is 8111 40111 CLOSE
	[ "$(tf_history 40111 8111)" = "$CLIENT" ]
	[ "$(tf_history 8111 40111)" = "$SERVER" ]
	[ "$(entries 40112)" = 0 ]
	[ "$(entries 8110)" = 3 ]

	# A connection open before the scope takes it in is recorded from
	# its next state change on, marked partial.
	tf_listen 8112 tcpflow-sock listen 127.0.0.1 8112 accept recv-eof close
	tcpflow-sock bind 127.0.0.1 40114 connect 127.0.0.1 8112 \
		wait "$T/go" close 3>&- &
	tf_wait_for 10 tf_ss_has established "sport = :40114"
	[ "$(entries 8112)" = 0 ]
	echo 8111,8112 >"$PARAM"
	[ "$(cat "$PARAM")" = 8111-8112 ]
	touch "$T/go"
	wait
	tf_wait_for 10 tf_state_is 8112 40114 CLOSE
	[ "$(tf_history 40114 8112)" = "ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT" ]
	[ "$(tf_history 8112 40114)" = "ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE" ]
	[[ " $(tf_conn 40114 8112) " == *" partial "* ]]
	[[ " $(tf_conn 8112 40114) " == *" partial "* ]]

	echo >"$PARAM"
	[ "$(cat "$PARAM")" = "" ]
	exchange 8110 40113
	tf_wait_for 10 tf_state_is 8110 40113 CLOSE
	[ "$(tf_history 40113 8110)" = "$CLIENT" ]
	[ "$(tf_history 8110 40113)" = "$SERVER" ]
}

@test "a bad ports= is refused with a message, at load and at run time, and changes nothing" {
	local bad items
	for bad in 0 65536 abc 80,,81 80, ,80 10-5 80- -80; do
		dmesg -C
		run insmod "$TCPFLOW_KO" "ports=$bad"
		[ "$status" -ne 0 ]
		run ! grep -q '^tcpflow ' /proc/modules
		run dmesg -t
		[[ $output == *"tcpflow: ports=$bad: must be ports (1-65535) or ranges (LOW-HIGH), at most 64, separated by commas; empty for all"* ]]
	done
	# 64 items are taken, 65 are not.
	items=$(seq -s, 1001 1064)
	tf_load "ports=$items"
	[ "$(cat "$PARAM")" = 1001-1064 ]
	run ! sh -c "echo $items,1065 >$PARAM"
	[ "$(cat "$PARAM")" = 1001-1064 ]
	for bad in 0 abc 10-5 80,; do
		run ! sh -c "echo '$bad' >$PARAM"
		[ "$(cat "$PARAM")" = 1001-1064 ]
	done
	echo 1-65535 >"$PARAM"
	[ "$(cat "$PARAM")" = 1-65535 ]
	rmmod tcpflow
	tf_nothing_left
}
