#!/usr/bin/env bats
# tcpflowctl on a stream recorded from the real module (Debian 6.12 in the
# VM, `tcpflowctl dump`): a loopback pair closed by the client, a
# CLOSE_WAIT leak, an IPv6 abort and a refused connect.

load helpers

setup_file() {
	tf_build_fixtures
}

REC=$BATS_TEST_DIRNAME/fixtures/loopback-6.12.rec

@test "recorded: list -a shows every connection as the module left it" {
	run_tool -f "$REC" list -a -H
	expect_output " 1  CLOSE       4.5s  127.0.0.1:8080   0.0.0.0:*        4026531840  listener  -      201/tcpflow-sock
 2  TIME_WAIT   4.5s  127.0.0.1:40001  127.0.0.1:8080   4026531840  client    31ms   206/tcpflow-sock
 3  CLOSE       4.5s  127.0.0.1:8080   127.0.0.1:40001  4026531840  server    2.4ms  201/tcpflow-sock
 4  LISTEN      4.3s  127.0.0.1:8083   0.0.0.0:*        4026531840  listener  -      208/tcpflow-sock
 5  FIN_WAIT2   3.6s  127.0.0.1:40004  127.0.0.1:8083   4026531840  client    3.6ms  211/tcpflow-sock
 6  CLOSE_WAIT  3.6s  127.0.0.1:8083   127.0.0.1:40004  4026531840  server    238us  208/tcpflow-sock
 7  CLOSE       2.4s  [::1]:8084       [::]:*           4026531840  listener  -      212/tcpflow-sock
 8  CLOSE       2.4s  [::1]:40005      [::1]:8084       4026531840  client    30ms   215/tcpflow-sock
 9  CLOSE       2.4s  [::1]:8084       [::1]:40005      4026531840  server    7.0ms  212/tcpflow-sock
10  CLOSE       2.0s  127.0.0.1:40003  127.0.0.1:8082   4026531840  client    -      216/tcpflow-sock"
}

@test "recorded: show draws the client and server of the loopback pair" {
	run_tool -f "$REC" show 2
	expect_output "conn 2 client 127.0.0.1:40001 127.0.0.1:8080 TIME_WAIT 4.5s netns=4026531840 sk=2 handshake=31ms pid=206 comm=tcpflow-sock
conn 3 server 127.0.0.1:8080 127.0.0.1:40001 CLOSE 4.5s netns=4026531840 sk=1001 listener=1 handshake=2.4ms closed pid=201 comm=tcpflow-sock

       127.0.0.1:40001                                  127.0.0.1:8080
time (s)      client 2 |                              | server 3
0.000000      SYN_SENT |                              |
0.031668   ESTABLISHED |                              |
0.036255               |                              | SYN_RECV
0.038743               |                              | ESTABLISHED
0.065558     FIN_WAIT1 |                              |
0.066248               |                              | CLOSE_WAIT
0.077134               |                              | LAST_ACK
0.077646     FIN_WAIT2 |                              |
0.083266     TIME_WAIT |                              |
0.087681               |                              | CLOSE"
}

@test "recorded: show --mermaid draws the loopback pair as a sequenceDiagram" {
	run_tool -f "$REC" show --mermaid 2
	expect_output "$(cat "$BATS_TEST_DIRNAME/golden/loopback-6.12-show-2.mmd")"
}

@test "recorded: leaks finds the CLOSE_WAIT server, exit 3" {
	run_tool 3 -f "$REC" leaks -t 1
	[ "$(line 1)" = "CLOSE_WAIT for 1s or more: 1 connection, 1 owner" ]
	[ "$(line 3)" = "208/tcpflow-sock           1  3.6s    8083" ]
	[ "$(line 6)" = " 6  3.6s       127.0.0.1:8083      127.0.0.1:40004    4026531840  208/tcpflow-sock" ]
	run_tool 0 -f "$REC" leaks -t 60
}

@test "recorded: JSON of the IPv6 abort and the refused connect" {
	run_tool -f "$REC" -j list -a
	[ "$(jq -sc '[.[] | select(.id == 8 or .id == 10) | {family, saddr, daddr, state, events: [.events[] | .old + ">" + .new]}]' <<<"$output")" = '[{"family":"inet6","saddr":"::1","daddr":"::1","state":"CLOSE","events":["CLOSE>SYN_SENT","SYN_SENT>ESTABLISHED","ESTABLISHED>CLOSE"]},{"family":"inet","saddr":"127.0.0.1","daddr":"127.0.0.1","state":"CLOSE","events":["CLOSE>SYN_SENT","SYN_SENT>CLOSE"]}]' ]
}
