#!/usr/bin/env bats
# Handshake and teardown segments in each history, checked segment by
# segment against tcpdump captures taken beside each scenario (tf_seg_check in
# helpers.bash says exactly what is compared).

load helpers

setup() {
	tf_load
	CAP_PIDS=() CAP_NAMES=()
}

teardown() {
	tf_dump_on_failure
	tf_cap_stop || true
	pkill -f tcpflow-sock || true
	tf_router_teardown
	ip netns del segchurn 2>/dev/null || true
	ip netns del cookie 2>/dev/null || true
	ip netns del gsoc 2>/dev/null || true
	ip netns del gsos 2>/dev/null || true
	tf_unload
}

# settled_then ADDR SPORT CPORT CMD...: connect from CPORT to a listener
# on SPORT, then run the client's CMD... once the handshake has settled,
# that is once the server's child is ESTABLISHED: data sent at once after
# connect() can reach the server before the final ACK when softirq work
# is deferred, and then completes the handshake itself (the last test
# below covers that race).
settled_then() {
	local addr=$1 sp=$2 cp=$3 cli
	shift 3

	rm -f "$T/go.$cp"
	taskset -c 0 tcpflow-sock bind "$addr" "$cp" connect "$addr" "$sp" \
		wait "$T/go.$cp" "$@" 3>&- &
	cli=$!
	tf_wait_for 10 tf_state_is "$sp" "$cp" ESTABLISHED
	touch "$T/go.$cp"
	wait "$cli"
}

# A loopback connection: the client sends 100 bytes and closes first,
# after the handshake has settled.
client_closes_first() {
	local addr=$1 sp=$2 cp=$3 srv

	tf_cap_start lo lo
	# CPU 0 here and in settled_then: a teardown's TIME_WAIT
	# (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen "$addr" "$sp" accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$sp"
	settled_then "$addr" "$sp" "$cp" send 100 close
	wait "$srv"
	tf_wait_for 10 tf_state_is "$sp" "$cp" CLOSE
	tf_wait_for 10 tf_state_is "$cp" "$sp" TIME_WAIT
	tf_cap_stop || true
	tf_seg_check "$cp" "$sp" "$T/lo.pcap"
	tf_seg_check "$sp" "$cp" "$T/lo.pcap"

	# Relative to each side's ISN, like the textbook.
	[ "$(tf_segments "$cp" "$sp" | head -n 3)" = "tx SYN 0 - 0 0
rx SYN,ACK 0 1 0 0
tx ACK - 1 0 0" ]
	[ "$(tf_segments "$sp" "$cp" | head -n 3)" = "rx SYN 0 - 0 0
tx SYN,ACK 0 1 0 0
rx ACK - 1 0 0" ]
	[ "$(tf_segments "$cp" "$sp" | grep FIN | head -n 1)" = "tx FIN,ACK 101 1 0 0" ]
}

@test "IPv4: client closes first: each segment of the handshake and teardown, as captured" {
	client_closes_first 127.0.0.1 8100 41100
	# The textbook line, and the accepted side's history begins with its SYN.
	grep -q '^  +[0-9.]* tx SYN seq=0 win=65495$' /proc/tcpflow
	tf_conn 8100 41100 | grep -q ' server .* listener='
	[ "$(awk '/^conn .* 127.0.0.1:8100 127.0.0.1:41100 /{getline; print $2, $3; exit}' /proc/tcpflow)" = "rx SYN" ]
	[ "$(tf_field 41100 8100 received)" = 1 ]	# the server's FIN
	[ "$(tf_field 8100 41100 received)" = 101 ]	# 100 bytes and the FIN
}

@test "IPv6: client closes first: each segment of the handshake and teardown, as captured" {
	client_closes_first ::1 8101 41101
}

# The server sends 3000 bytes and closes first.
server_closes_first() {
	local addr=$1 sp=$2 cp=$3 srv

	tf_cap_start lo lo
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen "$addr" "$sp" accept send 3000 close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$sp"
	taskset -c 0 tcpflow-sock bind "$addr" "$cp" connect "$addr" "$sp" recv-eof close
	wait "$srv"
	tf_wait_for 10 tf_state_is "$sp" "$cp" TIME_WAIT
	tf_wait_for 10 tf_state_is "$cp" "$sp" CLOSE
	tf_cap_stop || true
	tf_seg_check "$cp" "$sp" "$T/lo.pcap"
	tf_seg_check "$sp" "$cp" "$T/lo.pcap"
	[ "$(tf_segments "$sp" "$cp" | grep FIN | head -n 1)" = "tx FIN,ACK 3001 1 0 0" ]
}

@test "IPv4: server closes first, as captured" {
	server_closes_first 127.0.0.1 8103 41103
}

@test "IPv6: server closes first, as captured" {
	server_closes_first ::1 8104 41104
}

# connect() to a port nobody listens on: the kernel answers with a RST from
# no socket at all; no server-side history is made for an unanswered SYN.
closed_port() {
	local addr=$1 sp=$2 cp=$3

	tf_cap_start lo lo
	run tcpflow-sock bind "$addr" "$cp" connect-fail "$addr" "$sp"
	[ "$status" -eq 0 ]
	tf_wait_for 10 tf_state_is "$cp" "$sp" CLOSE
	tf_cap_stop || true
	tf_seg_check "$cp" "$sp" "$T/lo.pcap"
	# The RST's seq is absolute: the peer never sent an ISN.
	[ "$(tf_segments "$cp" "$sp")" = "tx SYN 0 - 0 0
rx RST,ACK 0 1 0 0" ]
	[ -z "$(tf_conn "$sp" "$cp")" ]
}

@test "IPv4: connect to a closed port: SYN, then the RST no socket sent" {
	closed_port 127.0.0.1 8105 41105
}

@test "IPv6: connect to a closed port: SYN, then the RST no socket sent" {
	closed_port ::1 8106 41106
}

@test "RST from the application (SO_LINGER 0): sent after the move to CLOSE" {
	local srv

	tf_cap_start lo lo
	tcpflow-sock listen 127.0.0.1 8107 accept linger0 close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 8107
	run tcpflow-sock bind 127.0.0.1 41107 connect 127.0.0.1 8107 recv-eof close
	wait "$srv"
	tf_wait_for 10 tf_state_is 8107 41107 CLOSE
	tf_wait_for 10 tf_state_is 41107 8107 CLOSE
	tf_cap_stop || true
	tf_seg_check 41107 8107 "$T/lo.pcap"
	tf_seg_check 8107 41107 "$T/lo.pcap"
	[ "$(tf_segments 8107 41107 | tail -n 1)" = "tx RST,ACK 1 1 0 0" ]
	[ "$(tf_segments 41107 8107 | tail -n 1)" = "rx RST,ACK 1 1 0 0" ]
	# The server's history: the RST follows ESTABLISHED -> CLOSE.
	tf_conn_block 8107 41107 | tail -n 2 | awk '{ print $2, $3, $4 }' >"$T/last2"
	[ "$(cat "$T/last2")" = "ESTABLISHED -> CLOSE
tx RST,ACK seq=1" ]
}

# The router drops the client's pure ACKs: the server never gets the
# handshake's final ACK and retransmits its SYN-ACK until the client's data
# (which carries the ACK) completes the handshake.
synack_retransmit() {
	local proto=$1 saddr=$2 sp=$3 cp=$4 srv

	tf_router_setup
	tf_router_drop "$proto" "$sp" 0x10/0xff
	tf_cap_start c c0 sc
	tf_cap_start s s0 ss
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	ip netns exec ss taskset -c 0 tcpflow-sock listen "$saddr" "$sp" accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$sp" ss
	ip netns exec sc taskset -c 0 tcpflow-sock bind "${5}" "$cp" connect "$saddr" "$sp" \
		touch "$T/connected" wait "$T/send" send 100 wait "$T/close" close 3>&- &
	tf_wait_for 10 file_nonempty_or_exists "$T/connected"
	tf_wait_for 20 grep -q 'tx SYN,ACK .* retrans=1' /proc/tcpflow
	touch "$T/send"
	tf_wait_for 10 tf_state_is "$sp" "$cp" ESTABLISHED
	tf_router_pass
	touch "$T/close"
	wait "$srv"
	tf_wait_for 10 tf_state_is "$cp" "$sp" TIME_WAIT
	tf_wait_for 10 tf_state_is "$sp" "$cp" CLOSE
	tf_cap_stop || true
	tf_seg_check "$cp" "$sp" "$T/c.pcap"
	tf_seg_check "$sp" "$cp" "$T/s.pcap"
	# The server's SYN_RECV lasted from the SYN to the data's ACK.
	tf_segments "$sp" "$cp" | grep -qx 'tx SYN,ACK 0 1 0 1'
	[ "$(tf_segments "$sp" "$cp" | awk '$1 == "rx" && $2 != "SYN" { print; exit }')" = "rx PSH,ACK 1 1 100 0" ]
	# SYN_RECV where the textbooks draw it: from the SYN it answers, not
	# from the data that made the child later (which is where the
	# kernel's tracepoint reports LISTEN > SYN_RECV).
	tf_conn_block "$sp" "$cp" | awk 'NR > 1 && NR <= 4 { print $2, $3, $4 }' >"$T/opening"
	[ "$(cat "$T/opening")" = "rx SYN seq=0
LISTEN -> SYN_RECV
tx SYN,ACK seq=0" ]
	# In time: as the first SYN-ACK left (a nanosecond before it), before
	# the data (which made the child), before SYN_RECV > ESTABLISHED.
	tcpflowctl -j list -a | jq -r --argjson sp "$sp" --argjson cp "$cp" '
		select(.sport == $sp and .dport == $cp and (.duplicate | not)) |
		.events as $e |
		[($e[] | select(.type == "state" and .new == "SYN_RECV") | .t_ns),
		 ([$e[] | select(.type == "segment" and .dir == "tx" and .flags == "SYN,ACK")][0].t_ns),
		 ([$e[] | select(.type == "segment" and .dir == "rx" and .len > 0)][0].t_ns),
		 ($e[] | select(.type == "state" and .new == "ESTABLISHED") | .t_ns)] |
		map(tostring) | join(" ")' >"$T/times"
	read -r syn_recv synack data established <"$T/times"
	[ "$syn_recv" -eq $((synack - 1)) ]
	[ "$syn_recv" -lt "$data" ]
	[ "$data" -le "$established" ]
	both_ends_judged "$sp" "$cp"
}

# both_ends_judged SPORT CPORT: what tcpflowctl show says became of each
# segment of a connection whose ends are both recorded, when only pure ACKs
# were dropped.  Every SYN, SYN-ACK and FIN reached the other end; the data
# that completed the handshake (a tx the module does not keep) and the
# dropped pure ACKs (which each end's own state decides to keep or not) are
# judged neither lost nor unsent.
both_ends_judged() {
	local id

	for id in "$(tf_conn_newest "$1" "$2" | awk '{ print $2 }')" \
		  "$(tf_conn_newest "$2" "$1" | awk '{ print $2 }')"; do
		tcpflowctl -j show "$id" | jq -r '.events[] |
			select(.type == "segment") | "\(.dir) \(.flags) \(.delivery)"'
	done >"$T/delivery"
	[ -z "$(awk '$2 ~ /SYN|FIN|RST/ && $3 != "delivered" ||
		      $3 == "lost" || $3 == "unsent"' "$T/delivery")" ]
	grep -qx 'rx PSH,ACK unknown' "$T/delivery"
	grep -qx 'tx ACK unknown' "$T/delivery"
	[ "$(grep -c '^tx SYN,ACK delivered$' "$T/delivery")" -ge 2 ]
}

file_nonempty_or_exists() {
	[[ -e $1 ]]
}

@test "IPv4: SYN-ACK retransmitted when the final ACK is lost, on both sides' histories" {
	synack_retransmit ip 10.9.2.1 8108 41108 10.9.1.1
}

@test "IPv6: SYN-ACK retransmitted when the final ACK is lost, on both sides' histories" {
	synack_retransmit ipv6 fd09:2::1 8109 41109 fd09:1::1
}

@test "FIN retransmitted when its ACK is lost" {
	local srv

	tf_router_setup
	tf_cap_start c c0 sc
	tf_cap_start s s0 ss
	ip netns exec ss tcpflow-sock listen 10.9.2.1 8110 accept wait "$T/close" close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 8110 ss
	ip netns exec sc tcpflow-sock bind 10.9.1.1 41110 connect 10.9.2.1 8110 \
		recv-eof wait "$T/close2" close 3>&- &
	tf_wait_for 10 tf_state_is 8110 41110 ESTABLISHED
	tf_router_drop ip 8110 0x10/0xff
	touch "$T/close"
	tf_wait_for 20 grep -q 'tx FIN,ACK .* retrans=1' /proc/tcpflow
	tf_router_pass
	touch "$T/close2"
	wait "$srv"
	tf_wait_for 10 tf_state_is 41110 8110 CLOSE
	tf_wait_for 10 tf_state_is 8110 41110 TIME_WAIT
	tf_cap_stop || true
	tf_seg_check 41110 8110 "$T/c.pcap"
	tf_seg_check 8110 41110 "$T/s.pcap"
	tf_segments 8110 41110 | grep -qx 'tx FIN,ACK 1 1 0 1'
	tf_segments 41110 8110 | grep -qx 'rx FIN,ACK 1 1 0 1'
}

@test "SYN cookies: no request socket, so SYN_RECV begins with the child, flagged syncookie" {
	local srv

	tf_netns_add cookie
	# Always answer with a cookie: no request socket is kept.
	ip netns exec cookie sysctl -qw net.ipv4.tcp_syncookies=2
	# Both ends on CPU 0.  The client's ACK leaves from the softirq that
	# took the SYN-ACK, its FIN from close(); from two CPUs loopback can
	# hand both to the listener at once (each CPU drains its own backlog),
	# and each validates the cookie: SyncookiesRecv 2 (seen on 5.10).
	ip netns exec cookie taskset -c 0 tcpflow-sock listen 127.0.0.1 8113 accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 8113 cookie
	ip netns exec cookie taskset -c 0 tcpflow-sock bind 127.0.0.1 41113 connect 127.0.0.1 8113 close
	wait "$srv"
	tf_wait_for 10 tf_state_is 8113 41113 CLOSE
	[ "$(tf_netstat_ext cookie SyncookiesSent)" = 1 ]
	[ "$(tf_netstat_ext cookie SyncookiesRecv)" = 1 ]
	tf_conn_newest 8113 41113 | grep -q ' syncookie\( \|$\)'
	[[ $(tf_conn_newest 41113 8113) != *syncookie* ]]
	tf_conn_block 8113 41113 | awk 'NR > 1 && NR <= 6 { print $2, $3, $4 }' >"$T/opening"
	[ "$(cat "$T/opening")" = "rx SYN seq=0
tx SYN,ACK seq=0
rx ACK ack=1
LISTEN -> SYN_RECV
SYN_RECV -> ESTABLISHED" ]
	[ "$(tcpflowctl -j list -a | jq -r 'select(.sport == 8113 and .dport == 41113) | .syncookie')" = true ]
}

@test "a handshake that never completes stays visible as a request" {
	local lid

	tf_router_setup
	# Every segment from the client that carries an ACK is lost.
	tf_router_drop ip 8111 0x10/0x10
	ip netns exec ss tcpflow-sock listen 10.9.2.1 8111 hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 8111 ss
	ip netns exec sc tcpflow-sock bind 10.9.1.1 41111 connect 10.9.2.1 8111 hold 3>&- &
	tf_wait_for 20 grep -q 'tx SYN,ACK .* retrans=1' /proc/tcpflow
	lid=$(tf_conn 8111 0 | awk '{ print $2 }')
	[[ $(tf_conn 8111 41111) == "conn "*" server 10.9.2.1:8111 10.9.1.1:41111 SYN_RECV "* ]]
	[ "$(tf_field 8111 41111 listener)" = "$lid" ]
	tf_conn 8111 41111 | grep -q ' request'
	[ "$(tf_segments 8111 41111 | head -n 3)" = "rx SYN 0 - 0 0
tx SYN,ACK 0 1 0 0
tx SYN,ACK 0 1 0 1" ]
	# The client thinks it is established; its ACKs went nowhere.
	[ "$(tf_state 41111 8111)" = ESTABLISHED ]
	# The /dev/tcpflow record says the same.
	tcpflowctl list -a | grep -q ' 10.9.2.1:8111 .* request '
}

@test "bulk transfer: 5 MB and no data segment recorded" {
	local srv n

	tf_cap_start lo lo
	tcpflow-sock listen 127.0.0.1 8112 accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 8112
	settled_then 127.0.0.1 8112 41112 send 5000000 close
	wait "$srv"
	tf_wait_for 10 tf_state_is 8112 41112 CLOSE
	tf_cap_stop || true
	tf_seg_check 41112 8112 "$T/lo.pcap"
	tf_seg_check 8112 41112 "$T/lo.pcap"
	# The capture had data to refuse: hundreds of segments, both ways.
	n=$(awk '$5 > 0' "$T/cap.41112.8112" | wc -l)
	((n > 50))
	((  $(wc -l <"$T/rec.41112.8112") <= 8 ))
	# At most one pure ACK of each FIN (none when the other end's FIN
	# acknowledged it), however many window updates repeated it while the
	# server read the 5 MB.
	(( $(awk '$1 == "rx" && $2 == "ACK"' "$T/rec.41112.8112" | wc -l) <=
	   $(awk '$1 == "tx" && $2 ~ /FIN/' "$T/rec.41112.8112" | wc -l) ))
	(( $(awk '$1 == "tx" && $2 == "ACK"' "$T/rec.8112.41112" | wc -l) <=
	   $(awk '$1 == "rx" && $2 ~ /FIN/' "$T/rec.8112.41112" | wc -l) ))
	[ "$(tf_field 8112 41112 received)" = 5000001 ]
}

# client_queued: the client on 41114 in gsoc has closed and still has data
# queued behind its FIN.
client_queued() {
	[ -n "$(ip netns exec gsoc ss -tnH state fin-wait-1 '( sport = :41114 )' |
		awk '$2 > 0')" ]
}

# A device without TSO gets TCP's GSO packets cut into segments by the
# kernel first (validate_xmit_skb()), and a FIN sent on such a packet is on
# its last segment in the capture and at the peer: recorded so.  (On lo,
# above, and on a veth with TSO, the device takes the packet whole and the
# capture shows the FIN on all of it: recorded so.)  The client's send
# buffer takes all it writes, and the server reads nothing until the client
# has closed: the FIN is queued on data, sent as the window opens in
# packets of several segments.
@test "a FIN on a GSO packet the kernel segments before the device: recorded as its last segment" {
	local srv

	tf_veth_pair gsoc gsos 10.9.3.1 10.9.3.2
	ip netns exec gsoc ethtool -K va tso off
	[ "$(ip netns exec gsoc ethtool -k va | awk '$1 == "tcp-segmentation-offload:" { print $2 }')" = off ]
	ip netns exec gsoc sysctl -qw net.ipv4.tcp_wmem="4096 4194304 4194304"
	tf_cap_start c va gsoc
	tf_cap_start s vb gsos
	ip netns exec gsos tcpflow-sock listen 10.9.3.2 8114 accept wait "$T/read" recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 8114 gsos
	ip netns exec gsoc tcpflow-sock bind 10.9.3.1 41114 connect 10.9.3.2 8114 \
		send 1000000 close
	tf_wait_for 10 client_queued
	touch "$T/read"
	wait "$srv"
	tf_wait_for 10 tf_state_is 8114 41114 CLOSE
	tf_cap_stop || true
	tf_seg_check 41114 8114 "$T/c.pcap"
	tf_seg_check 8114 41114 "$T/s.pcap"
	# The FIN came with data, at most one MSS of it as the wire had it.
	run awk '$1 == "tx" && $2 ~ /FIN/ { print $5 }' "$T/rec.41114.8114"
	[ "${#lines[@]}" -eq 1 ]
	((lines[0] > 0 && lines[0] <= 1448))
	[ "$(tf_field 8114 41114 received)" = 1000001 ]
}

# A client's data right after connect() races the handshake's final ACK:
# one CPU may still be making the child from that ACK (SYN_RECV, then
# ESTABLISHED) while the data reaches the child on the other.  The data is
# the child's; the only data segment ever recorded is one that reached the
# request first and so completed the handshake itself.  (When the ACK and
# the data both reach the request, each makes a child; the kernel destroys
# one at once, shown as a duplicate.)
@test "churn with data sent right after connect: no data segment recorded but one that completed a handshake" {
	local addr port=8113 n srv c1 ns
	n=$(tf_scaled 800)
	# In a namespace of its own: the clients' TIME_WAIT sockets hold
	# 3,200 ephemeral ports for a minute, some of which later tests bind.
	ip netns add segchurn
	ip -n segchurn link set lo up
	for addr in 127.0.0.1 ::1; do
		ip netns exec segchurn tcpflow-sock listen "$addr" "$port" serve $((2 * n)) 3>&- &
		srv=$!
		tf_wait_for 10 tf_tcp_listening "$port" segchurn
		ip netns exec segchurn tcpflow-sock churn-send "$n" "$addr" "$port" >"$T/c1.$port" 3>&- &
		c1=$!
		ip netns exec segchurn tcpflow-sock churn-send "$n" "$addr" "$port" >"$T/c2.$port"
		wait "$c1"
		wait "$srv"
		[ "$(cat "$T/c1.$port" "$T/c2.$port")" = "connected=$n failed=0
connected=$n failed=0" ]
		port=$((port + 1))
	done
	# Per server history: rx SYN, tx SYN-ACK, then the segment that
	# completed the handshake (its ACK, or data that overtook it), and no
	# other data segment.
	run awk '
		function flush() {
			if (!cur) return
			if (dup) {
				# The child the kernel destroyed when both
				# segments completed the handshake (README).
				dups++
				if (data) { print "data recorded: " id ": " seq; bad = 1 }
				return
			}
			conns++
			if (seq !~ /^rx SYN; tx SYN,ACK; rx [A-Z,]*ACK\+?(;|$)/) { print "handshake: " id ": " seq; bad = 1 }
			first = seq ~ /^rx SYN; tx SYN,ACK; rx [A-Z,]*\+/
			overtook += first
			if (data > first) { print "data recorded: " id ": " seq; bad = 1 }
		}
		/^conn / {
			flush()
			cur = $3 == "server" && $4 ~ /:811[34]$/
			dup = / duplicate( |$)/
			id = $4 " " $5; seq = ""; data = 0
			next
		}
		cur && /^  \+/ && ($2 == "rx" || $2 == "tx") {
			d = / len=/ && $3 !~ /SYN|FIN|RST/
			data += d
			seq = seq (seq == "" ? "" : "; ") $2 " " $3 (d ? "+" : "")
		}
		END {
			flush()
			print "servers=" conns + 0, "overtook=" overtook + 0, "duplicates=" dups + 0
			exit bad
		}' /proc/tcpflow
	echo "$output"
	[ "$status" = 0 ]
	[ "${lines[-1]%% *}" = "servers=$((4 * n))" ]
	# Let the namespace go within this test: its timewait sockets are
	# purged when it goes, work that would otherwise slow the next tests.
	ns=$(tf_netns_inode segchurn)
	ip netns del segchurn
	tf_wait_for 60 ns_timewait_gone "$ns"
}

# ns_timewait_gone INODE: no connection of that netns is in TIME_WAIT.
ns_timewait_gone() {
	! grep -qE "^conn .* TIME_WAIT [0-9.]+s netns=$1 " /proc/tcpflow || false
}
