#!/usr/bin/env bats
# Per-connection histories in /proc/tcpflow, checked against the kernel's
# own account of the same connections (tracefs sock:inet_sock_set_state).

load helpers

setup() {
	tf_load
	tf_trace_start
}

teardown() {
	tf_end_test
	ip netns del assassin 2>/dev/null || true
	tf_unload
}

CLIENT_ACTIVE_CLOSE="CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT"
SERVER_PASSIVE_CLOSE="LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE"

# client_closes_first ADDR: a client sends and closes; the server reads to
# EOF and closes.  Checks all three sides against the tracepoint.
client_closes_first() {
	local addr=$1 srv cli lid

	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	tf_listen 8080 taskset -c 0 tcpflow-sock listen "$addr" 8080 accept recv-eof close
	srv=$TF_LISTEN_PID
	taskset -c 0 tcpflow-sock bind "$addr" 40001 connect "$addr" 8080 send 100 close 3>&- &
	cli=$!
	wait "$cli" "$srv"
	tf_wait_for 10 tf_state_is 40001 8080 TIME_WAIT
	tf_wait_for 10 tf_state_is 8080 40001 CLOSE

	[ "$(tf_history 40001 8080)" = "$CLIENT_ACTIVE_CLOSE" ]
	[ "$(tf_history 8080 40001)" = "$SERVER_PASSIVE_CLOSE" ]
	[ "$(tf_history 8080 0)" = "CLOSE>LISTEN LISTEN>CLOSE" ]

	# The kernel reported the same, but FIN_WAIT2>CLOSE for TIME_WAIT.
	[ "$(tf_history 40001 8080)" = "$(tf_tw_expected "$(tf_trace_history TCP 40001 8080)")" ]
	[ "$(tf_history 8080 40001)" = "$(tf_trace_history TCP 8080 40001)" ]
	# A duplicate child, as many as the kernel cloned (README).
	[ "$(tf_dups 8080 40001)" = "$(tf_trace_dups TCP 8080 40001)" ]
	[ "$(tf_history 8080 0)" = "$(tf_trace_history TCP 8080 0)" ]

	# Roles, owners, and the child's link to its listener.
	[[ $(tf_conn 40001 8080) == "conn "*" client "* ]]
	[[ $(tf_conn 8080 40001) == "conn "*" server "* ]]
	[[ $(tf_conn 8080 0) == "conn "*" listener "* ]]
	[ "$(tf_field 40001 8080 pid)" = "$cli" ]
	[ "$(tf_field 8080 40001 pid)" = "$srv" ]
	[ "$(tf_field 8080 0 pid)" = "$srv" ]
	[ "$(tf_field 40001 8080 comm)" = tcpflow-sock ]
	lid=$(tf_conn_id 8080 0)
	[ "$(tf_field 8080 40001 listener)" = "$lid" ]
}

@test "IPv4: client closes first: TIME_WAIT on the client, LAST_ACK on the server" {
	client_closes_first 127.0.0.1
	[[ $(tf_conn 40001 8080) == "conn "*" client 127.0.0.1:40001 127.0.0.1:8080 TIME_WAIT "* ]]
}

@test "IPv6: client closes first: TIME_WAIT on the client, LAST_ACK on the server" {
	client_closes_first ::1
	[[ $(tf_conn 40001 8080) == "conn "*" client [::1]:40001 [::1]:8080 TIME_WAIT "* ]]
}

@test "server closes first: TIME_WAIT on the server, LAST_ACK on the client" {
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	tf_listen 8081 taskset -c 0 tcpflow-sock listen 127.0.0.1 8081 accept send 10 close
	taskset -c 0 tcpflow-sock bind 127.0.0.1 40002 connect 127.0.0.1 8081 recv-eof close
	wait
	tf_wait_for 10 tf_state_is 8081 40002 TIME_WAIT
	# Its TIME_WAIT is recorded before it sends the ACK that closes the
	# client.
	tf_wait_for 10 tf_state_is 40002 8081 CLOSE

	[ "$(tf_history 8081 40002)" = "LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT" ]
	[ "$(tf_history 40002 8081)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE" ]
	[ "$(tf_history 8081 40002)" = "$(tf_tw_expected "$(tf_trace_history TCP 8081 40002)")" ]
	# A duplicate child, as many as the kernel cloned (README).
	[ "$(tf_dups 8081 40002)" = "$(tf_trace_dups TCP 8081 40002)" ]
	[ "$(tf_history 40002 8081)" = "$(tf_trace_history TCP 40002 8081)" ]
}

@test "connect to a closed port: SYN_SENT > CLOSE" {
	run tcpflow-sock bind 127.0.0.1 40003 connect-fail 127.0.0.1 8082
	[ "$output" = "Connection refused" ]
	[ "$(tf_history 40003 8082)" = "CLOSE>SYN_SENT SYN_SENT>CLOSE" ]
	[ "$(tf_history 40003 8082)" = "$(tf_trace_history TCP 40003 8082)" ]
	[ "$(tf_state 40003 8082)" = CLOSE ]
}

@test "abort with SO_LINGER 0: both ends ESTABLISHED > CLOSE" {
	tf_listen 8083 tcpflow-sock listen ::1 8083 accept recv-eof close
	tcpflow-sock bind ::1 40004 connect ::1 8083 send 10 linger0 close
	wait
	tf_wait_for 10 tf_state_is 8083 40004 CLOSE
	[ "$(tf_history 40004 8083)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE" ]
	[ "$(tf_history 8083 40004)" = "LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE" ]
	[ "$(tf_history 40004 8083)" = "$(tf_trace_history TCP 40004 8083)" ]
	[ "$(tf_history 8083 40004)" = "$(tf_trace_history TCP 8083 40004)" ]
	# A duplicate child, as many as the kernel cloned (README).
	[ "$(tf_dups 8083 40004)" = "$(tf_trace_dups TCP 8083 40004)" ]
}

@test "listen then close without accept: the unaccepted child is reset" {
	tcpflow-sock listen 127.0.0.1 8084 touch "$T/l8084" wait "$T/c8084" close-listener 3>&- &
	tf_wait_for 10 test -e "$T/l8084"
	tcpflow-sock bind 127.0.0.1 40005 connect 127.0.0.1 8084 touch "$T/e8084" recv-eof close 3>&- &
	cli=$!
	# The client is established when the SYN-ACK arrives; the server's
	# child only when the final ACK does, maybe later on the other CPU.
	# Closing the listener before that resets the request: no child.
	tf_wait_for 10 test -e "$T/e8084"
	tf_wait_for 10 tf_ss_has established 'sport = :8084'
	touch "$T/c8084"
	wait "$cli" || true
	wait
	tf_wait_for 10 tf_state_is 8084 40005 CLOSE
	tf_wait_for 10 tf_state_is 40005 8084 CLOSE
	[ "$(tf_history 8084 0)" = "CLOSE>LISTEN LISTEN>CLOSE" ]
	[ "$(tf_history 8084 40005)" = "LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE" ]
	[ "$(tf_history 40005 8084)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE" ]
	[ "$(tf_history 8084 0)" = "$(tf_trace_history TCP 8084 0)" ]
	[ "$(tf_history 8084 40005)" = "$(tf_trace_history TCP 8084 40005)" ]
	# A duplicate child, as many as the kernel cloned (README).
	[ "$(tf_dups 8084 40005)" = "$(tf_trace_dups TCP 8084 40005)" ]
	[ "$(tf_history 40005 8084)" = "$(tf_trace_history TCP 40005 8084)" ]
	rm -f "$T/l8084" "$T/c8084" "$T/e8084"
}

@test "an AF_INET6 socket talking IPv4 shows the v4-mapped address" {
	tf_listen 8085 taskset -c 0 tcpflow-sock listen :: 8085 accept recv-eof close
	taskset -c 0 tcpflow-sock bind 127.0.0.1 40006 connect 127.0.0.1 8085 close
	wait
	tf_wait_for 10 tf_state_is 8085 40006 CLOSE
	[[ $(tf_conn 8085 40006) == "conn "*" server [::ffff:127.0.0.1]:8085 [::ffff:127.0.0.1]:40006 CLOSE "* ]]
	[[ $(tf_conn 8085 0) == "conn "*" listener [::]:8085 [::]:0 CLOSE "* ]]
}

# fin_wait2_orphaned: the client of 8086, closed in FIN_WAIT2, is held for
# the peer's FIN.  Usually the kernel has moved it to a timewait socket and
# said CLOSE (right after FIN_WAIT2, possibly on the other CPU).  When the
# ACK of its FIN reached it while close() still owned it, the kernel keeps
# the full socket in FIN_WAIT2 instead, on a keepalive timer of
# tcp_fin_timeout (tcp_rcv_state_process()); the peer's FIN ends either.
fin_wait2_orphaned() {
	tf_trace_history_is TCP 40007 8086 "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>CLOSE" ||
		ss -tanoH state fin-wait-2 "sport = :40007" | grep -q 'timer:(keepalive,'
}

@test "an orphaned FIN_WAIT2 stays FIN_WAIT2 until the peer's FIN makes it TIME_WAIT" {
	tf_listen 8086 tcpflow-sock listen 127.0.0.1 8086 accept hold
	srv=$TF_LISTEN_PID
	tcpflow-sock bind 127.0.0.1 40007 connect 127.0.0.1 8086 close
	tf_wait_for 10 tf_state_is 8086 40007 CLOSE_WAIT
	tf_wait_for 10 tf_state_is 40007 8086 FIN_WAIT2
	tf_wait_for 10 fin_wait2_orphaned
	[ "$(tf_history 40007 8086)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2" ]
	ss -tanH state fin-wait-2 "sport = :40007" | grep -q .

	kill "$srv"	# the server's close sends its FIN
	tf_wait_for 10 tf_state_is 40007 8086 TIME_WAIT
	# ... before it sends the ACK that closes the server.
	tf_wait_for 10 tf_state_is 8086 40007 CLOSE
	[ "$(tf_history 40007 8086)" = "$CLIENT_ACTIVE_CLOSE" ]
	ss -tanH state time-wait "sport = :40007" | grep -q .
	[ "$(tf_history 8086 40007)" = "$SERVER_PASSIVE_CLOSE" ]
}

@test "TIME_WAIT ends with TIME_WAIT > CLOSE when its netns is deleted" {
	tf_netns_add tw
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	tf_listen -n tw 8087 taskset -c 0 tcpflow-sock listen 127.0.0.1 8087 accept recv-eof close
	ip netns exec tw taskset -c 0 tcpflow-sock bind 127.0.0.1 40008 connect 127.0.0.1 8087 close
	wait
	tf_wait_for 10 tf_state_is 40008 8087 TIME_WAIT
	ip netns del tw
	tf_wait_for 30 tf_state_is 40008 8087 CLOSE
	[ "$(tf_history 40008 8087)" = "$CLIENT_ACTIVE_CLOSE TIME_WAIT>CLOSE" ]
}

# A stale segment that reaches a timewait socket after its peer's socket is
# gone (a delayed ACK overtaken by the FIN behind it, seen once on 6.1
# right after another test had deleted a netns) is answered with an ACK,
# and the peer's kernel answers that with a RST whose sequence number is
# the timewait socket's rcv_nxt: with net.ipv4.tcp_rfc1337=0, the default,
# that RST kills it at once (tcp_timewait_state_process()).  tcpflow then
# records TIME_WAIT > CLOSE early, as the kernel did.  Made certain here:
# a SYN from the server's old port (no listener on the client's) is
# answered by the timewait socket with an ACK, which the connecting socket
# answers with that RST.
#
# The same stale ACK can come unbidden: loopback delivers a segment from
# the backlog of the CPU that sent it, so the server's ACK of the client's
# FIN and its own FIN, sent from two CPUs, can arrive FIN first (seen on
# 5.10 and 6.1).  Both ends run on CPU 0 here, so the TIME_WAIT lives
# until the test's SYN.
@test "a RST that answers the timewait socket's ACK ends TIME_WAIT at once, as the kernel does" {
	local ns=assassin
	tf_netns_add "$ns"
	tf_listen -n "$ns" 8096 taskset -c 0 tcpflow-sock listen 127.0.0.1 8096 accept recv-eof close
	ip netns exec "$ns" taskset -c 0 tcpflow-sock bind 127.0.0.1 40096 connect 127.0.0.1 8096 close
	wait
	tf_wait_for 10 tf_history_has 40096 8096 'FIN_WAIT2>TIME_WAIT'
	[ -n "$(ip netns exec "$ns" ss -tanH state time-wait 'sport = :40096')" ]
	run ip netns exec "$ns" tcpflow-sock bind 127.0.0.1 8096 syncnt 1 \
		connect-fail 127.0.0.1 40096
	[ "$status" -eq 0 ]
	tf_wait_for 10 tf_state_is 40096 8096 CLOSE
	[ "$(tf_history 40096 8096)" = "$CLIENT_ACTIVE_CLOSE TIME_WAIT>CLOSE" ]
	[ -z "$(ip netns exec "$ns" ss -tanH state time-wait 'sport = :40096')" ]
	# From the server's FIN on, but for the moves to FIN_WAIT2 and
	# TIME_WAIT: the ACK of that FIN, the timewait socket's ACK of the
	# SYN and the RST that killed it.  (The RST its kernel then sends the
	# SYN's retransmission, with no socket left, follows in the closed
	# history.)  The moves are left out because the FIN's ACK comes after
	# TIME_WAIT when the server's ACK of the client's FIN came alone and
	# close() had already handed the socket to a FIN_WAIT2 timewait socket
	# (tcp_close()); it comes before when the FIN reached a full socket
	# (tcp_fin()).
	tf_conn_block 40096 8096 | awk '/ rx FIN/ { on = 1; next }
		/ FIN_WAIT[12] -> (FIN_WAIT2|TIME_WAIT)$/ { next }
		on { print $2, $3, $4 } / TIME_WAIT -> CLOSE$/ { exit }' >"$T/end"
	[ "$(cat "$T/end")" = "tx ACK ack=2
tx ACK ack=2
rx RST seq=2
TIME_WAIT -> CLOSE" ]
}

# conn_events LPORT RPORT: the newest such connection's events in /proc, as
# "OLD -> NEW" or "DIR FLAGS".
conn_events() {
	tf_conn_block "$1" "$2" | awk '
		/^  \+/ { out = out ($3 == "->" ? $2 " -> " $4 : $2 " " $3) "\n" }
		END { printf "%s", out }'
}

@test "a full history keeps its opening and its latest events and counts the gap" {
	local fpid id n srv
	tf_unload
	tf_load max_events=4
	# The live stream gets every event whatever the history keeps: the
	# oracle for what was dropped.
	tcpflowctl follow -j >"$T/follow" 3>&- &
	fpid=$!
	tf_wait_for 10 tf_has_open "$fpid" /dev/tcpflow
	tf_listen 8088 taskset -c 0 tcpflow-sock listen 127.0.0.1 8088 accept recv-eof close
	srv=$TF_LISTEN_PID
	taskset -c 0 tcpflow-sock bind 127.0.0.1 40009 connect 127.0.0.1 8088 close
	wait "$srv"
	tf_wait_for 10 tf_state_is 8088 40009 CLOSE
	# The follower has printed up to the last event before it is stopped.
	tf_wait_for 10 grep -q '"old":"LAST_ACK"' "$T/follow"
	kill "$fpid"
	wait "$fpid" || true
	id=$(tf_conn_id 8088 40009)
	jq -r --argjson id "$id" 'select(.id == $id) |
		if .type == "state" then "\(.old) -> \(.new)" else "\(.dir) \(.flags)" end' \
		"$T/follow" >"$T/all"
	n=$(wc -l <"$T/all")
	# rx SYN, its LISTEN > SYN_RECV, tx SYN-ACK, rx ACK, SYN_RECV >
	# ESTABLISHED, the teardown's.
	((n >= 10))
	# Kept: the first max_events/2 and the latest max_events/2.
	[ "$(conn_events 8088 40009)" = "$(head -n 2 "$T/all"; tail -n 2 "$T/all")" ]
	[ "$(conn_events 8088 40009 | head -n 2)" = "rx SYN
LISTEN -> SYN_RECV" ]
	[ "$(conn_events 8088 40009 | tail -n 1)" = "LAST_ACK -> CLOSE" ]
	[ "$(tf_field 8088 40009 dropped)" = $((n - 4)) ]
	grep -q "^  \.\.\. $((n - 4)) events dropped\$" /proc/tcpflow
}

@test "SCTP state changes are not recorded" {
	modprobe sctp
	timeout 20 socat -u SCTP-LISTEN:8089,reuseaddr OPEN:/dev/null 3>&- &
	tf_wait_for 10 sctp_listening
	echo hi | timeout 10 socat -u - SCTP-CONNECT:127.0.0.1:8089,bind=127.0.0.1:40010
	wait
	# The tracepoint saw the SCTP association open and close ...
	[[ $(tf_trace_history SCTP 40010 8089) == *ESTABLISHED* ]]
	# ... and tcpflow recorded none of it.
	[ -z "$(tf_conn 8089 0)" ]
	[ -z "$(tf_conn 40010 8089)" ]
	[ -z "$(tf_conn 8089 40010)" ]
}

sctp_listening() {
	[ -n "$(tf_trace_history SCTP 8089 0)" ]
}
