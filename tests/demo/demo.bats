#!/usr/bin/env bats
# `make demo`: real connections on the guest's loopback, then what tcpflow
# recorded of them.  Output meant for people goes to fd 3 (the terminal).

load helpers

@test "demo: tcpflow records real connections" {
	tf_load
	tf_say "" "# insmod tcpflow.ko; then, on 127.0.0.1 and [::1]:"

	tf_say "#  1. a client connects to :8080, sends, closes first (TIME_WAIT)"
	tcpflow-sock listen 127.0.0.1 8080 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 8080
	tcpflow-sock bind 127.0.0.1 40001 connect 127.0.0.1 8080 send 100 close
	wait

	tf_say "#  2. the server closes first; the client follows"
	tcpflow-sock listen 127.0.0.1 8081 accept send 100 close 3>&- &
	tf_wait_for 10 tf_tcp_listening 8081
	tcpflow-sock bind 127.0.0.1 40002 connect 127.0.0.1 8081 recv-eof close
	wait

	tf_say "#  3. a connect to a closed port is refused (RST)"
	tcpflow-sock bind 127.0.0.1 40003 connect-fail 127.0.0.1 8082 >/dev/null

	tf_say "#  4. a server that never closes: CLOSE_WAIT leak"
	tcpflow-sock listen 127.0.0.1 8083 accept hold 3>&- &
	LEAK=$!
	tf_wait_for 10 tf_tcp_listening 8083
	tcpflow-sock bind 127.0.0.1 40004 connect 127.0.0.1 8083 close

	tf_say "#  5. the same over IPv6"
	tcpflow-sock listen ::1 8084 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 8084
	tcpflow-sock bind ::1 40005 connect ::1 8084 send 10 close
	wait "$!"

	tf_wait_for 10 tf_state_is 8083 40004 CLOSE_WAIT
	tf_say "" "\$ cat /proc/tcpflow"
	cat /proc/tcpflow >&3
	tf_say "" "\$ tcpflowctl list -a"
	tcpflowctl list -a >&3
	id=$(tf_conn 40001 8080 | awk '{ print $2 }')
	tf_say "" "\$ tcpflowctl show $id"
	tcpflowctl show "$id" >&3
	tf_say "" "\$ tcpflowctl leaks -t 0"
	run tcpflowctl leaks -t 0
	printf '%s\n' "$output" >&3
	[ "$status" -eq 3 ]
	kill "$LEAK"
	[ "$(tf_state 40001 8080)" = TIME_WAIT ]
}

teardown() {
	tf_unload
}
