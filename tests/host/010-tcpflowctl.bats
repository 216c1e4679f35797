#!/usr/bin/env bats
# tcpflowctl on the host: every command against record streams written by
# fixture-gen.c (see the top of it for what each fixture holds), and its
# handling of bad usage and bad input.  No module, no VM, no root.

load helpers

setup_file() {
	tf_build_fixtures
}

@test "version prints the tool's version (the Makefile's) and ABI" {
	local ver

	ver=$(sed -n 's/^TCPFLOW_VERSION := //p' "$REPO/Makefile")
	[ -n "$ver" ]
	run_tool version
	expect_output "tcpflowctl $ver (abi 1)"
	run_tool -V
	expect_output "tcpflowctl $ver (abi 1)"
	run_tool -j version
	[ "$(jq -r '"\(.version) \(.abi)"' <<<"$output")" = "$ver 1" ]
}

@test "-h prints the help to stdout and exits 0" {
	run_tool -h
	[[ $output == "Usage: tcpflowctl "* ]]
	[ -z "$stderr" ]
}

@test "-h lists every state -s takes, new-syn-recv included, and each one works" {
	local states st

	run_tool -h
	states=$(awk '/only this state/ { on = 1; sub(/.*:/, ""); print; next }
		on && /^                     [^ ]/ { print; next } { on = 0 }' <<<"$output" |
		tr -d ',' | xargs)
	[ "$states" = "established syn-sent syn-recv fin-wait-1 fin-wait-2 time-wait close close-wait last-ack listen closing new-syn-recv" ]
	for st in $states; do
		run_tool -f "$FIXTURES/host.rec" -H -s "$st"
	done
}

@test "-h lists each option once, and tcpflowctl takes every one it lists" {
	local opt opts

	run_tool -h
	opts=$(sed -n '/^Options:/,/^$/p' <<<"$output" |
		grep -oE -- '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+')
	[ "$(wc -l <<<"$opts")" -eq 19 ]
	[ -z "$(sort <<<"$opts" | uniq -d)" ]
	for opt in $opts; do
		run --separate-stderr "$TCPFLOWCTL" "$opt" x
		[[ $stderr != *"unknown option"* ]]
	done
}

@test "list shows live connections, one aligned row each, like ss" {
	run_tool -f "$FIXTURES/host.rec" -H
	expect_output "$(cat <<'END'
 1  LISTEN       8m20s   127.0.0.1:8080       0.0.0.0:*          4026531840  listener  -      142/tcpflow-sock
 2  TIME_WAIT    9.9s    127.0.0.1:40001      127.0.0.1:8080     4026531840  client    80us   143/tcpflow-sock
 4  LISTEN       5m0s    0.0.0.0:8082         0.0.0.0:*          4026531840  listener  -      150/leaky
 5  CLOSE_WAIT   2m0s    127.0.0.1:8082       127.0.0.1:40005    4026531840  server    50us   150/leaky
 6  CLOSE_WAIT   10s     127.0.0.1:8082       127.0.0.1:40006    4026531840  server    40us   150/leaky
 7  ESTABLISHED  3.9s    [2001:db8::5]:40010  [2001:db8::1]:443  4026532200  client    1.0s   300/curl
 8  ESTABLISHED  13m20s  10.0.0.5:22          10.0.0.9:51234     4026531840  -         -      -
 9  LISTEN       31s     127.0.0.1:9000       0.0.0.0:*          4026531840  listener  -      160/srv?"q"
10  TIME_WAIT    29s     127.0.0.1:40020      127.0.0.1:9000     4026531840  client    21us   161/cli
12  TIME_WAIT    19s     10.0.0.5:41000       10.0.0.7:5432      4026531840  client    300us  170/psql
13  TIME_WAIT    4.9s    10.0.0.5:41001       10.0.0.7:5432      4026531840  client    2.5ms  171/psql
END
)"
}

@test "list has a header line unless -H" {
	run_tool -f "$FIXTURES/host.rec" list --port 8080
	expect_output "$(cat <<'END'
ID  State      Age    Local Address:Port  Peer Address:Port       Netns  Role      Handshake  Process
 1  LISTEN     8m20s  127.0.0.1:8080      0.0.0.0:*          4026531840  listener  -          142/tcpflow-sock
 2  TIME_WAIT  9.9s   127.0.0.1:40001     127.0.0.1:8080     4026531840  client    80us       143/tcpflow-sock
END
)"
}

@test "list -a adds the closed connections" {
	run_tool -f "$FIXTURES/host.rec" list -a -H --port 8080
	[ "${#lines[@]}" -eq 3 ]
	[ "$(line 3)" = "3  CLOSE      9.9s   127.0.0.1:8080   127.0.0.1:40001  4026531840  server    5.0us  142/tcpflow-sock" ]
}

@test "list filters: ss state names, port, address, netns, pid" {
	ids() { awk '{ printf "%s ", $1 }' <<<"$output"; }

	run_tool -f "$FIXTURES/host.rec" -H -s close-wait
	[ "$(ids)" = "5 6 " ]
	run_tool -f "$FIXTURES/host.rec" -H -s time-wait -s listen
	[ "$(ids)" = "1 2 4 9 10 12 13 " ]
	run_tool -f "$FIXTURES/host.rec" -H -s TIME_WAIT --addr 10.0.0.7
	[ "$(ids)" = "12 13 " ]
	run_tool -f "$FIXTURES/host.rec" -H --addr '[2001:db8::1]'
	[ "$(ids)" = "7 " ]
	run_tool -f "$FIXTURES/host.rec" -H --netns 4026532200
	[ "$(ids)" = "7 " ]
	run_tool -f "$FIXTURES/host.rec" -H --pid 150 -a
	[ "$(ids)" = "4 5 6 " ]
	run_tool -f "$FIXTURES/host.rec" -H -s established --port 22
	[ "$(ids)" = "8 " ]
}

@test "list -j: one JSON object per connection with the documented keys" {
	run_tool -f "$FIXTURES/host.rec" -j list -a
	[ "$(jq -s length <<<"$output")" -eq 13 ]
	run jq -c 'select(.id == 2) | [.cookie, .netns, .family, .saddr, .sport,
		.daddr, .dport, .role, .state, .state_age_ns, .pid, .comm,
		.preexisting, .closed, .partial, .request, .duplicate,
		.parent_id, .dropped_events,
		.handshake_ns, (.events | length)]' <<<"$output"
	[ "$output" = '[8194,4026531840,"inet","127.0.0.1",40001,"127.0.0.1",8080,"client","TIME_WAIT",9989690000,143,"tcpflow-sock",false,false,false,false,false,0,0,80000,5]' ]
}

@test "list -j: IPv6, pre-existing, closed, escaped comm, events" {
	run_tool -f "$FIXTURES/host.rec" -j list -a
	local out=$output

	[ "$(jq -r 'select(.id == 7) | "\(.family) \(.saddr) \(.daddr) \(.dport)"' <<<"$out")" = "inet6 2001:db8::5 2001:db8::1 443" ]
	[ "$(jq -r 'select(.id == 8) | "\(.preexisting) \(.events | length) \(.handshake_ns) \(.state_age_ns)"' <<<"$out")" = "true 0 null 800000000000" ]
	[ "$(jq -r 'select(.id == 3) | "\(.closed) \(.parent_id) \(.role)"' <<<"$out")" = "true 1 server" ]
	[ "$(jq -r 'select(.id == 9) | .comm' <<<"$out")" = 'srv "q"' ]
	[ "$(jq -c 'select(.id == 2) | .events[1]' <<<"$out")" = '{"t_ns":990000080000,"type":"state","old":"SYN_SENT","new":"ESTABLISHED"}' ]
	[ "$(jq -c 'select(.id == 7) | .events[2]' <<<"$out")" = '{"t_ns":996000010000,"type":"segment","dir":"tx","flags":"SYN","seq":7000,"ack":0,"win":64800,"len":0,"retrans":1}' ]
}

@test "show: a loopback pair's two histories in one ladder, by time" {
	run_tool -f "$FIXTURES/host.rec" show 2
	expect_output "$(cat <<'END'
conn 2 client 127.0.0.1:40001 127.0.0.1:8080 TIME_WAIT 9.9s netns=4026531840 sk=2002 handshake=80us pid=143 comm=tcpflow-sock
conn 3 server 127.0.0.1:8080 127.0.0.1:40001 CLOSE 9.9s netns=4026531840 sk=2003 listener=1 handshake=5.0us closed pid=142 comm=tcpflow-sock

       127.0.0.1:40001                                  127.0.0.1:8080
time (s)      client 2 |                              | server 3
0.000000      SYN_SENT |                              |
0.000080   ESTABLISHED |                              |
0.000090               |                              | SYN_RECV
0.000095               |                              | ESTABLISHED
0.000622     FIN_WAIT1 |                              |
0.000650               |                              | CLOSE_WAIT
0.000680     FIN_WAIT2 |                              |
0.010250               |                              | LAST_ACK
0.010310     TIME_WAIT |                              |
0.010330               |                              | CLOSE
END
)"
}

@test "show LOCAL PEER finds the same connection as its id" {
	run_tool -f "$FIXTURES/host.rec" show 2
	local by_id=$output
	run_tool -f "$FIXTURES/host.rec" show 127.0.0.1:40001 127.0.0.1:8080
	[ "$output" = "$by_id" ]
}

@test "show: segments of both ends, each one arrow, seq/ack relative" {
	run_tool -f "$FIXTURES/host.rec" show 10
	expect_output "$(cat <<'END'
conn 10 client 127.0.0.1:40020 127.0.0.1:9000 TIME_WAIT 29s netns=4026531840 sk=200a handshake=21us pid=161 comm=cli
conn 11 server 127.0.0.1:9000 127.0.0.1:40020 CLOSE 29s netns=4026531840 sk=200b listener=9 handshake=21us closed pid=160 comm=srv?"q"

       127.0.0.1:40020                                               127.0.0.1:9000
time (s)     client 10 |                                           | server 11
0.000000      SYN_SENT |                                           |
0.000002               |---------- SYN seq=0 win=65495 ----------->|
0.000011               |                                           | SYN_RECV
0.000012               |<------ SYN,ACK seq=0 ack=1 win=65483 -----|
0.000021   ESTABLISHED |                                           |
0.000022               |-------- ACK seq=1 ack=1 win=512 --------->|
0.000031               |                                           | ESTABLISHED
0.000100               |-- PSH,ACK seq=1 ack=1 win=512 len=100 --->|
0.000110               |<-------- ACK seq=1 ack=101 win=512 -------|
0.000200               |----- FIN,ACK seq=101 ack=1 win=512 ------>|
0.000201     FIN_WAIT1 |                                           |
0.000209               |                                           | CLOSE_WAIT
0.000210               |<-------- ACK seq=1 ack=102 win=512 -------|
0.000219     FIN_WAIT2 |                                           |
0.000300               |<------ FIN,ACK seq=1 ack=102 win=512 -----|
0.000301               |                                           | LAST_ACK
0.000309     TIME_WAIT |                                           |
0.000310               |------- ACK seq=102 ack=2 win=512 -------->|
0.000319               |                                           | CLOSE
END
)"
}

@test "show: one end seen, IPv6, the peer drawn as remote, a retransmit" {
	run_tool -f "$FIXTURES/host.rec" show '[2001:db8::5]:40010' '[2001:db8::1]:443'
	expect_output "$(cat <<'END'
conn 7 client [2001:db8::5]:40010 [2001:db8::1]:443 ESTABLISHED 3.9s netns=4026532200 sk=2007 handshake=1.0s pid=300 comm=curl

   [2001:db8::5]:40010                                         [2001:db8::1]:443
time (s)      client 7 |                                     : remote, not recorded
0.000000      SYN_SENT |                                     :
0.000010               |------- SYN seq=0 win=64800 -------->:
1.000010               |-- SYN seq=0 win=64800 retrans=1 --->:
1.001500               |<--- SYN,ACK seq=0 ack=1 win=65160 --:
1.001510   ESTABLISHED |                                     :
1.001520               |----- ACK seq=1 ack=1 win=507 ------>:
END
)"
}

@test "show: of a retransmitted SYN-ACK only the copy the client received reaches it, the rest are lost" {
	run_tool -f "$FIXTURES/lost.rec" show 2
	expect_output "$(cat <<'END'
conn 2 client 10.99.0.1:40100 10.99.0.2:8000 ESTABLISHED 56s netns=4026532300 sk=2002 handshake=3.0s pid=401 comm=cli
conn 3 server 10.99.0.2:8000 10.99.0.1:40100 ESTABLISHED 56s netns=4026532301 sk=2003 listener=1 handshake=3.0s pid=400 comm=srv

       10.99.0.1:40100                                                             10.99.0.2:8000
time (s)      client 2 |                                                         | server 3
0.000000      SYN_SENT |                                                         |
0.000002               |----------------- SYN seq=0 win=64240 ------------------>|
0.000011               |                                                         | SYN_RECV
0.000012               |   x-------- SYN,ACK seq=0 ack=1 win=65160 (lost) -------|
1.000002               |------------ SYN seq=0 win=64240 retrans=1 ------------->|
1.000012               |   x--- SYN,ACK seq=0 ack=1 win=65160 retrans=1 (lost) --|
1.000040               |   x--- SYN,ACK seq=0 ack=1 win=65160 retrans=2 (lost) --|
2.000040               |   x--- SYN,ACK seq=0 ack=1 win=65160 retrans=3 (lost) --|
3.000002               |------------ SYN seq=0 win=64240 retrans=2 ------------->|
3.000012               |<-------- SYN,ACK seq=0 ack=1 win=65160 retrans=4 -------|
3.000021   ESTABLISHED |                                                         |
3.000022               |--------------- ACK seq=1 ack=1 win=502 ---------------->|
3.000031               |                                                         | ESTABLISHED
END
)"
}

@test "show: a segment received twice but sent once has no send recorded" {
	run_tool -f "$FIXTURES/lost.rec" show 10.99.0.1:40101 10.99.0.2:8000
	expect_output "$(cat <<'END'
conn 4 client 10.99.0.1:40101 10.99.0.2:8000 FIN_WAIT2 29s netns=4026532300 sk=2004 handshake=21us pid=401 comm=cli
conn 5 server 10.99.0.2:8000 10.99.0.1:40101 CLOSE_WAIT 29s netns=4026532301 sk=2005 listener=1 handshake=21us pid=400 comm=srv

       10.99.0.1:40101                                                                       10.99.0.2:8000
time (s)      client 4 |                                                                   | server 5
0.000000      SYN_SENT |                                                                   |
0.000002               |---------------------- SYN seq=0 win=64240 ----------------------->|
0.000011               |                                                                   | SYN_RECV
0.000012               |<------------------ SYN,ACK seq=0 ack=1 win=65160 -----------------|
0.000021   ESTABLISHED |                                                                   |
0.000022               |-------------------- ACK seq=1 ack=1 win=502 --------------------->|
0.000031               |                                                                   | ESTABLISHED
0.000100               |------------------ FIN,ACK seq=1 ack=1 win=502 ------------------->|
0.000101     FIN_WAIT1 |                                                                   |
0.000111               |                                                                   | CLOSE_WAIT
0.000112               |<--------------------- ACK seq=1 ack=2 win=509 --------------------|
0.000121     FIN_WAIT2 |                                                                   |
0.000130               |   ?- FIN,ACK seq=1 ack=1 win=502 retrans=1 (no send recorded) --->|
0.000131               |<--------------------- ACK seq=1 ack=2 win=509 --------------------|
END
)"
}

@test "show: a SYN sent before the server's history began is lost; a FIN sent after it closed is not judged" {
	run_tool -f "$FIXTURES/lost.rec" show 6
	expect_output "$(cat <<'END'
conn 6 client 10.99.0.1:40102 10.99.0.2:8000 CLOSE 17s netns=4026532300 sk=2006 handshake=1.0s closed pid=401 comm=cli
conn 7 server 10.99.0.2:8000 10.99.0.1:40102 CLOSE 17s netns=4026532301 sk=2007 listener=1 handshake=21us closed pid=400 comm=srv

       10.99.0.1:40102                                         10.99.0.2:8000
time (s)      client 6 |                                     | server 7
0.000000      SYN_SENT |                                     |
0.000002               |-- SYN seq=0 win=64240 (lost) ---x   |
1.000002               |-- SYN seq=0 win=64240 retrans=1 --->|
1.000011               |                                     | SYN_RECV
1.000012               |<--- SYN,ACK seq=0 ack=1 win=65160 --|
1.000021   ESTABLISHED |                                     |
1.000022               |----- ACK seq=1 ack=1 win=502 ------>|
1.000031               |                                     | ESTABLISHED
2.000099               |                                     | CLOSE
2.000100               |<---- RST,ACK seq=1 ack=1 win=509 ---|
2.000101               |--- FIN,ACK seq=1 ack=1 win=502 ---->|
2.000102     FIN_WAIT1 |                                     |
2.000111         CLOSE |                                     |
END
)"
	run_tool -f "$FIXTURES/lost.rec" -j show 6
	[ "$(jq -r '[.events[] | select(.type == "segment") | .delivery] | join(" ")' <<<"$output")" = "lost delivered delivered delivered unknown delivered" ]
}

@test "show -j: each segment says whether it was delivered, lost, unsent or unknown, when both ends are recorded" {
	local seg='.events[] | select(.type == "segment") | "\(.dir) \(.flags) \(.retrans) \(.delivery)"'
	run_tool -f "$FIXTURES/lost.rec" -j show 3
	[ "$(jq -r "$seg" <<<"$output")" = "rx SYN 0 delivered
tx SYN,ACK 0 lost
rx SYN 1 delivered
tx SYN,ACK 1 lost
tx SYN,ACK 2 lost
tx SYN,ACK 3 lost
rx SYN 2 delivered
tx SYN,ACK 4 delivered
rx ACK 0 delivered" ]
	run_tool -f "$FIXTURES/lost.rec" -j show 2
	[ "$(jq -r "$seg" <<<"$output")" = "tx SYN 0 delivered
tx SYN 1 delivered
tx SYN 2 delivered
rx SYN,ACK 0 delivered
tx ACK 0 delivered" ]
	run_tool -f "$FIXTURES/lost.rec" -j show 5
	# the second ACK's absence at the client (FIN_WAIT2 keeps no pure
	# ACK) proves nothing: unknown, not lost
	[ "$(jq -r 'select(.id == 5) | [.events[] | select(.type == "segment") | .delivery] | join(" ")' <<<"$output")" = "delivered delivered delivered delivered delivered unsent unknown" ]
	run_tool -f "$FIXTURES/lost.rec" -j show 4
	[ "$(jq -r 'select(.id == 4) | [.events[] | select(.type == "segment") | .delivery] | join(" ")' <<<"$output")" = "delivered delivered delivered delivered delivered" ]
	# one end recorded: not known, no key; list never has it
	run_tool -f "$FIXTURES/host.rec" -j show 7
	[ "$(jq -c '[.events[] | has("delivery")] | any' <<<"$output")" = false ]
	run_tool -f "$FIXTURES/lost.rec" -j list -a
	[ "$(jq -s -c '[.[].events[] | has("delivery")] | any' <<<"$output")" = false ]
}

@test "show --mermaid: the ladder as a Mermaid sequenceDiagram, lost segments as -x" {
	local golden=$BATS_TEST_DIRNAME/golden

	run_tool -f "$FIXTURES/lost.rec" show --mermaid 2
	expect_output "$(cat "$golden/lost-show-2.mmd")"
	run_tool -f "$FIXTURES/lost.rec" show --mermaid 4
	expect_output "$(cat "$golden/lost-show-4.mmd")"
	run_tool -f "$FIXTURES/host.rec" show --mermaid 10
	expect_output "$(cat "$golden/host-show-10.mmd")"
	run_tool -f "$FIXTURES/host.rec" show --mermaid 7
	expect_output "$(cat "$golden/host-show-7.mmd")"
}

@test "show --mermaid: nothing but Mermaid, a note when no event was recorded" {
	run_tool -f "$FIXTURES/host.rec" show --mermaid 8
	expect_output "sequenceDiagram
    participant A as 10.0.0.5:22 - 8
    participant B as 10.0.0.9:51234 remote, not recorded
    Note over A: no events recorded: the connection predates the module"
}

@test "show: a pre-existing connection has no events to draw" {
	run_tool -f "$FIXTURES/host.rec" show 8
	[ "${lines[1]}" = "no events recorded: the connection predates the module" ]
}

@test "an unknown role is - everywhere, as in /proc/tcpflow" {
	run_tool -f "$FIXTURES/host.rec" show 8
	[ "${lines[0]}" = "conn 8 - 10.0.0.5:22 10.0.0.9:51234 ESTABLISHED 13m20s netns=4026531840 sk=2008 preexisting" ]
	run_tool -f "$FIXTURES/host.rec" -j show 8
	[ "$(jq -r .role <<<"$output")" = "-" ]
	run_tool -f "$FIXTURES/unnamed.rec" show 30
	[ "$(line 4)" = "time (s)          - 30 |                              : remote, not recorded" ]
	run_tool -f "$FIXTURES/unnamed.rec" -j list
	[ "$(jq -r .role <<<"$output")" = "-" ]
}

@test "show -j: the connection object with its events" {
	run_tool -f "$FIXTURES/host.rec" -j show 11
	[ "$(jq -r '"\(.id) \(.role) \(.events | length) \(.events[0].dir) \(.events[0].flags)"' <<<"$output")" = "11 server 14 rx SYN" ]
}

@test "show: an unknown id is an error" {
	run_tool 1 -f "$FIXTURES/host.rec" show 99
	[ "$stderr" = "tcpflowctl: no connection with id 99" ]
	[ -z "$output" ]
	run_tool 2 -f "$FIXTURES/host.rec" show abc
	[ "$stderr" = "tcpflowctl: show: bad connection id 'abc'" ]
	run_tool 1 -f "$FIXTURES/host.rec" -j show 99
	[ "$(jq -r .error <<<"$output")" = "no connection with id 99" ]
}

@test "leaks: CLOSE_WAIT past the threshold, oldest first, exit 3" {
	run_tool 3 -f "$FIXTURES/host.rec" leaks
	expect_output "$(cat <<END
CLOSE_WAIT for 60s or more: 1 connection, 1 owner
Recorded owner  CLOSE_WAIT  Oldest  Local ports (server)
150/leaky                1  2m0s    8082

ID  Since FIN  Local Address:Port  Peer Address:Port       Netns  Recorded owner
 5  2m0s       127.0.0.1:8082      127.0.0.1:40005    4026531840  150/leaky

TIME_WAIT: local port range $(sed 's/\t/-/' /proc/sys/net/ipv4/ip_local_port_range) ($(tf_ports_free 0 | sed 's/.* of //') ports)
127.0.0.1: 2 in TIME_WAIT, $(tf_ports_free 2) local ports free
10.0.0.7: 2 in TIME_WAIT, $(tf_ports_free 2) local ports free

Local      Peer            TIME_WAIT  Local ports free
10.0.0.5   10.0.0.7:5432           2  $(tf_ports_free 2)
127.0.0.1  127.0.0.1:8080          1  $(tf_ports_free 1)
127.0.0.1  127.0.0.1:9000          1  $(tf_ports_free 1)
END
)"
}

@test "leaks -t 5 lists both CLOSE_WAIT connections, oldest first" {
	run_tool 3 -f "$FIXTURES/host.rec" leaks -t 5 -H
	[ "${lines[0]}" = "CLOSE_WAIT for 5s or more: 2 connections, 1 owner" ]
	[ "$(line 2)" = "150/leaky  2  2m0s  8082" ]
	[ "$(line 4)" = "5  2m0s  127.0.0.1:8082  127.0.0.1:40005  4026531840  150/leaky" ]
	[ "$(line 5)" = "6  10s   127.0.0.1:8082  127.0.0.1:40006  4026531840  150/leaky" ]
}

@test "leaks: one line per owner first, oldest first, then the 20 oldest connections" {
	run_tool 3 -f "$FIXTURES/leaky.rec" leaks
	[ "$(head -n 5 <<<"$output")" = "CLOSE_WAIT for 60s or more: 36 connections, 3 owners
Recorded owner  CLOSE_WAIT  Oldest  Local ports (server)
801/worker               5  16m44s  -
802/gw                   6  8m25s   9003,9004,9005,9006,...
800/web                 25  5m0s    80,443" ]
	# A header and the 20 oldest, then what was left out.
	[ "$(sed -n '7,$p' <<<"$output" | sed '/^$/,$d' | wc -l)" = 22 ]
	[ "$(line 8)" = "35  16m44s     10.0.0.5:50004      10.0.0.9:5432      4026531840  801/worker" ]
	[ "$(line 27)" = "22  3m40s      127.0.0.1:443       127.0.0.1:45021    4026531840  800/web" ]
	[ "$(line 28)" = "... and 16 more, younger (-v shows every one)" ]
}

@test "leaks -v lists every connection; filters narrow the owners too" {
	run_tool 3 -f "$FIXTURES/leaky.rec" leaks -v -H
	[ "$(sed -n '6,$p' <<<"$output" | sed '/^$/,$d' | wc -l)" = 36 ]
	[ "$(sed -n '6,$p' <<<"$output" | sed '/^$/,$d' | tail -n 1)" = " 6  1m0s    127.0.0.1:443   127.0.0.1:45005  4026531840  800/web" ]
	run_tool 3 -f "$FIXTURES/leaky.rec" leaks --port 443 -H
	[ "$(head -n 3 <<<"$output")" = "CLOSE_WAIT for 60s or more: 13 connections, 1 owner
800/web  13  5m0s  443" ]
}

@test "leaks -j: one close_wait_owner object per owner before the connections" {
	run_tool 3 -f "$FIXTURES/leaky.rec" -j leaks
	[ "$(jq -r 'select(.type == "close_wait_owner") | "\(.pid) \(.comm) \(.close_wait) \(.oldest_close_wait_ns) \(.ports | map(tostring) | join(",")) \(.more_ports)"' <<<"$output")" = "801 worker 5 1004000000000  false
802 gw 6 505000000000 9003,9004,9005,9006 true
800 web 25 300000000000 80,443 false" ]
	# Every connection, whatever the text output's limit.
	[ "$(jq -r 'select(.type == "close_wait") | .id' <<<"$output" | wc -l)" = 36 ]
	[ "$(jq -r '.type' <<<"$output" | uniq -c | awk '{ print $1, $2 }')" = "3 close_wait_owner
36 close_wait" ]
}

@test "leaks exits 0 when no CLOSE_WAIT is old enough" {
	run_tool 0 -f "$FIXTURES/host.rec" leaks --threshold 200
	[ "${lines[0]}" = "CLOSE_WAIT for 200s or more: 0 connections" ]
}

@test "leaks -j: close_wait objects, then TIME_WAIT by peer" {
	run_tool 3 -f "$FIXTURES/host.rec" -j leaks -t 5
	[ "$(jq -r 'select(.type == "close_wait") | "\(.id) \(.close_wait_ns) \(.pid) \(.comm)"' <<<"$output")" = "5 120000000000 150 leaky
6 10000000000 150 leaky" ]
	[ "$(jq -r 'select(.type == "time_wait_peer") | "\(.peer) \(.time_wait)"' <<<"$output")" = "127.0.0.1 2
10.0.0.7 2" ]
	[ "$(jq -r 'select(.type == "time_wait") | "\(.local) \(.peer):\(.peer_port) \(.time_wait)"' <<<"$output")" = "10.0.0.5 10.0.0.7:5432 2
127.0.0.1 127.0.0.1:8080 1
127.0.0.1 127.0.0.1:9000 1" ]
}

@test "stats: counters, transitions by kind, handshake histogram" {
	run_tool -f "$FIXTURES/host.rec" stats
	expect_output "$(cat <<'END'
connections  13 (11 live, 2 closed)
events       63 held, 0 dropped

Transition              Count
SYN_SENT>ESTABLISHED        5
CLOSE>SYN_SENT              5
ESTABLISHED>FIN_WAIT1       4
ESTABLISHED>CLOSE_WAIT      4
SYN_RECV>ESTABLISHED        4
FIN_WAIT1>FIN_WAIT2         4
FIN_WAIT2>TIME_WAIT         4
LISTEN>SYN_RECV             4
CLOSE>LISTEN                3
CLOSE_WAIT>LAST_ACK         2
LAST_ACK>CLOSE              2

Handshake time (us):
[4, 8)                  1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 16)                 0 |                                                    |
[16, 32)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[32, 64)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[64, 128)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[128, 256)              0 |                                                    |
[256, 512)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[512, 1K)               0 |                                                    |
[1K, 2K)                0 |                                                    |
[2K, 4K)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[4K, 8K)                0 |                                                    |
[8K, 16K)               0 |                                                    |
[16K, 32K)              0 |                                                    |
[32K, 64K)              0 |                                                    |
[64K, 128K)             0 |                                                    |
[128K, 256K)            0 |                                                    |
[256K, 512K)            0 |                                                    |
[512K, 1M)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
END
)"
}

@test "stats -j: counters, transitions and buckets as typed objects" {
	run_tool -f "$FIXTURES/host.rec" -j stats
	[ "$(jq -c 'select(.type == "counters")' <<<"$output")" = '{"type":"counters","conns":13,"live":11,"closed":2,"events_total":63,"events_dropped":0}' ]
	[ "$(jq -r 'select(.type == "transition" and .old == "LAST_ACK") | "\(.new) \(.count)"' <<<"$output")" = "CLOSE 2" ]
	[ "$(jq -s 'map(select(.type == "handshake_us") | .count) | add' <<<"$output")" -eq 9 ]
}

@test "follow skips the snapshot, prints live events and reports a loss" {
	run_tool -f "$FIXTURES/stream.rec" follow
	expect_output "$(cat <<'END'
        Time     ID  Local Address:Port     Peer Address:Port      Process               Event
   +0.001000     20  127.0.0.1:40030        127.0.0.1:9100         201/cli               CLOSE -> SYN_SENT
   +0.001002     20  127.0.0.1:40030        127.0.0.1:9100         201/cli               tx SYN seq=0 win=65495
# lost 3 events
   +0.001100     20  127.0.0.1:40030        127.0.0.1:9100         201/cli               SYN_SENT -> ESTABLISHED
   +2.000005     21  [::1]:8443             [::1]:40031            202/srv6              LISTEN -> SYN_RECV
END
)"
}

@test "follow -j: one object per event, a loss object, filters apply" {
	run_tool -f "$FIXTURES/stream.rec" -j follow
	[ "$(jq -r '"\(.type) \(.id) \(.new // .flags // .events)"' <<<"$output")" = "state 20 SYN_SENT
segment 20 SYN
loss null 3
state 20 ESTABLISHED
state 21 SYN_RECV" ]
	run_tool -f "$FIXTURES/stream.rec" -j follow --netns 4026532200
	[ "$(jq -r '"\(.type) \(.family) \(.saddr) \(.sport)"' <<<"$output")" = "loss null null null
state inet6 ::1 8443" ]
}

@test "dump copies a recording through SYNC, --follow to its end, unknown records too" {
	"$TCPFLOWCTL" -f "$FIXTURES/host.rec" dump >"$BATS_TEST_TMPDIR/host.rec"
	cmp "$FIXTURES/host.rec" "$BATS_TEST_TMPDIR/host.rec"
	"$TCPFLOWCTL" -f "$FIXTURES/stream.rec" dump --follow >"$BATS_TEST_TMPDIR/stream.rec"
	cmp "$FIXTURES/stream.rec" "$BATS_TEST_TMPDIR/stream.rec"
	"$TCPFLOWCTL" -f "$FIXTURES/stream.rec" dump >"$BATS_TEST_TMPDIR/snap.rec"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/snap.rec")" -eq 256 ]
	run_tool -f "$FIXTURES/stream.rec" -j dump
	[ "$(jq -r .type <<<"$output" | tr '\n' ' ')" = "conn event unknown sync " ]
}

@test "without -f and no module loaded: /dev/tcpflow not found, exit 1" {
	[ ! -e /dev/tcpflow ] || skip "/dev/tcpflow exists here"
	run_tool 1 list
	[ "$stderr" = "tcpflowctl: /dev/tcpflow not found: load the module (insmod tcpflow.ko)" ]
	run_tool 1
	[ "$stderr" = "tcpflowctl: /dev/tcpflow not found: load the module (insmod tcpflow.ko)" ]
	run_tool 1 -j leaks
	[ "$(jq -r .error <<<"$output")" = "/dev/tcpflow not found: load the module (insmod tcpflow.ko)" ]
}

@test "a truncated recording is an error, for every command" {
	local cmd

	for cmd in list "show 2" leaks stats; do
		# shellcheck disable=SC2086
		run_tool 1 -f "$FIXTURES/truncated.rec" $cmd
		[ "$stderr" = "tcpflowctl: $FIXTURES/truncated.rec: truncated record at offset 1120" ]
		[ -z "$output" ]
	done
	run_tool 1 -f "$FIXTURES/nosync.rec" list
	[ "$stderr" = "tcpflowctl: $FIXTURES/nosync.rec: truncated: the stream ends before its SYNC record" ]
	run_tool 1 -f "$FIXTURES/badsize.rec" list
	[ "$stderr" = "tcpflowctl: $FIXTURES/badsize.rec: corrupt record at offset 0: type 1 size 152, expected 160" ]
	run_tool 1 -f "$BATS_TEST_TMPDIR/missing.rec"
	[ "$stderr" = "tcpflowctl: $BATS_TEST_TMPDIR/missing.rec: No such file or directory" ]
}

@test "bad usage: a message on stderr, exit 2, nothing on stdout" {
	run_tool 2 --bogus
	[ "$stderr" = "tcpflowctl: unknown option '--bogus' (try -h)" ]
	[ -z "$output" ]
	run_tool 2 -Z
	[ "$stderr" = "tcpflowctl: unknown option '-Z' (try -h)" ]
	run_tool 2 frobnicate
	[ "$stderr" = "tcpflowctl: unknown command 'frobnicate' (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" -s close_wiat
	[ "$stderr" = "tcpflowctl: unknown state 'close_wiat' (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" --port 65536
	[ "$stderr" = "tcpflowctl: bad port '65536'" ]
	run_tool 2 -f "$FIXTURES/host.rec" --port 80x
	[ "$stderr" = "tcpflowctl: bad port '80x'" ]
	run_tool 2 -f "$FIXTURES/host.rec" leaks -t -5
	[ "$stderr" = "tcpflowctl: bad threshold '-5': seconds expected" ]
	run_tool 2 -f "$FIXTURES/host.rec" --addr 300.1.1.1
	[ "$stderr" = "tcpflowctl: bad address '300.1.1.1'" ]
	run_tool 2 -f "$FIXTURES/host.rec" list 5
	[ "$stderr" = "tcpflowctl: list: unexpected argument '5' (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" show
	run_tool 2 -f
	[ "$stderr" = "tcpflowctl: option '-f' needs an argument (try -h)" ]
}

@test "an option the command does not use is bad usage, not ignored" {
	run_tool 2 -f "$FIXTURES/host.rec" list -t 5
	[ "$stderr" = "tcpflowctl: list: option '-t' does not apply (try -h)" ]
	[ -z "$output" ]
	run_tool 2 -f "$FIXTURES/host.rec" list --threshold 5
	[ "$stderr" = "tcpflowctl: list: option '--threshold' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" -t 5
	[ "$stderr" = "tcpflowctl: list: option '-t' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" stats --port 80
	[ "$stderr" = "tcpflowctl: stats: option '--port' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" show -H 2
	[ "$stderr" = "tcpflowctl: show: option '-H' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" show -s listen 1
	[ "$stderr" = "tcpflowctl: show: option '-s' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" dump -a
	[ "$stderr" = "tcpflowctl: dump: option '-a' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/stream.rec" follow --follow
	[ "$stderr" = "tcpflowctl: follow: option '--follow' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" leaks -a
	[ "$stderr" = "tcpflowctl: leaks: option '-a' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" list -v
	[ "$stderr" = "tcpflowctl: list: option '-v' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" version
	[ "$stderr" = "tcpflowctl: version: option '-f' does not apply (try -h)" ]
	run_tool 2 -V -H
	[ "$stderr" = "tcpflowctl: version: option '-H' does not apply (try -h)" ]
	run_tool 2 -j -f "$FIXTURES/host.rec" list -t 5
	[ "$(jq -r .error <<<"$output")" = "list: option '-t' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" list --mermaid
	[ "$stderr" = "tcpflowctl: list: option '--mermaid' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/stream.rec" --mermaid follow
	[ "$stderr" = "tcpflowctl: follow: option '--mermaid' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" -j show --mermaid 2
	[ "$(jq -r .error <<<"$output")" = "show: -j and --mermaid exclude each other" ]
}

@test "each command takes the options it uses" {
	run_tool -f "$FIXTURES/host.rec" -n -j -H -a -s listen --port 8080 --addr 127.0.0.1 --netns 4026531840 --pid 142 list
	[ "$(jq -r .id <<<"$output")" = 1 ]
	run_tool -f "$FIXTURES/host.rec" -n -j show 2
	run_tool -f "$FIXTURES/host.rec" -n --mermaid show 2
	run_tool -f "$FIXTURES/stream.rec" -n -H -s syn-recv --port 8443 --addr ::1 --netns 4026532200 --pid 202 follow
	[ "${#lines[@]}" -eq 2 ]
	run_tool 3 -f "$FIXTURES/host.rec" -n -H -t 5 -s close-wait --port 40005 --addr 127.0.0.1 --netns 4026531840 --pid 150 -v leaks
	[ "$(line 4)" = "5  2m0s  127.0.0.1:8082  127.0.0.1:40005  4026531840  150/leaky" ]
	run_tool -f "$FIXTURES/host.rec" -n -H stats
	run_tool -f "$FIXTURES/host.rec" -n -j --follow dump
	run_tool -n -j version
}

@test "dump refuses to write binary records to a terminal" {
	command -v script >/dev/null || skip "no script(1)"
	run script -qec "$TCPFLOWCTL -f $FIXTURES/host.rec dump" /dev/null
	[ "$status" -eq 1 ]
	[[ $output == *"dump writes binary records: redirect it to a file (or use -j)"* ]]
}

@test "follow names both states of a transition it has no names for" {
	run_tool -f "$FIXTURES/unnamed.rec" -H follow
	expect_output "   +0.001000     30  127.0.0.1:40040        127.0.0.1:9200         -                     STATE_14 -> STATE_15"
	run_tool -f "$FIXTURES/unnamed.rec" -j list
	[ "$(jq -c '[.state, .events[0].old, .events[0].new]' <<<"$output")" = '["STATE_14","STATE_13","STATE_14"]' ]
}

@test "stats names both states of a transition it has no names for" {
	run_tool -f "$FIXTURES/unnamed.rec" -H stats
	[ "$(line 4)" = "STATE_13>STATE_14  1" ]
	run_tool -f "$FIXTURES/unnamed.rec" -j stats
	[ "$(jq -c 'select(.type == "transition") | [.old, .new, .count]' <<<"$output")" = '["STATE_13","STATE_14",1]' ]
}
