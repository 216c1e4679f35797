#!/usr/bin/env bats
# Resets and out-of-window segments reaching timewait sockets, in both
# substates, while other connections keep making timewait sockets.
#
#   netns twc (clients)                 netns tws (servers)
#   +----------------------+           +--------------------------+
#   | va 10.27.1.1/24      |-----------| vb 10.27.1.2/24          |
#   | :20001..20004 -> tw  |   veth    | :8271..8274, hping3 as   |
#   | churn -> :8279       |           | their peer; churn :8279  |
#   +----------------------+           +--------------------------+
#
# tcp_timewait_state_process() drops its caller's reference to the timewait
# socket on most of these paths (a RST that kills it, an ignored or
# rate-limited segment), and the slab it comes from hands freed sockets to
# new timewait sockets at once: the churn makes new ones all along, so a
# probe that read a socket after the kernel let it go could give another
# connection a transition.  Every history, the churn's included, must come
# out exact.
#
# hping3 plays the server: it sends from tws with the server's address and
# port, and what the timewait socket answers is dropped on vb's ingress
# (tws would otherwise answer it with a RST that kills the timewait socket).
# hping3's segments leave tws through its LOCAL_OUT hook, so the servers'
# histories get them too: only their transitions are checked.

load helpers

CLIENT_TO_FIN_WAIT2="CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2"
CLIENT_ACTIVE_CLOSE="$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>TIME_WAIT"
SERVER_PASSIVE_CLOSE="LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE"
# 2^30: far outside any receive window.
OFF=1073741824
# The churn: batches of CHURN_BATCH connections until the test is done, at
# most CHURN_MAX batches.
CHURN_BATCH=10
CHURN_MAX=700

setup() {
	tf_load max_conns=16384
	tf_veth_pair twc tws 10.27.1.1 10.27.1.2
	# Answer the first out-of-window segment and no other for 60 s (a
	# rate limit of 60,000 ms): which are answered is then certain.
	ip netns exec twc sysctl -qw net.ipv4.tcp_invalid_ratelimit=60000
	# No timewait socket refused for want of buckets.
	ip netns exec twc sysctl -qw net.ipv4.tcp_max_tw_buckets=100000
	ip netns exec tws tc qdisc add dev vb clsact
	# The kernel's account of the scenarios' connections, not the churn's
	# (which would overrun the trace buffer).
	echo '(sport >= 8271 && sport <= 8274) || (dport >= 8271 && dport <= 8274)' \
		>"$TF_TRACEFS/events/sock/inet_sock_set_state/filter"
	tf_trace_start
	churn_start
}

teardown() {
	touch "$T/churn.stop"
	tf_end_test
	echo 0 >"$TF_TRACEFS/events/sock/inet_sock_set_state/filter"
	wait 2>/dev/null || true
	ip netns del twc 2>/dev/null || true
	ip netns del tws 2>/dev/null || true
	tf_unload
}

# ---- the churn ----------------------------------------------------------------

# churn_start: clients in twc connect to tws:8279 and close first, in
# batches, until churn_stop.  Each becomes a FIN_WAIT2 timewait socket that
# the server's FIN makes TIME_WAIT (tcp_timewait_state_process() again), or
# a TIME_WAIT one when that FIN came first.
churn_start() {
	ip netns exec tws tcpflow-sock listen 10.27.1.2 8279 serve 1000000 3>&- &
	CHURN_SRV=$!
	tf_wait_for 10 tf_tcp_listening 8279 tws
	(
		for ((i = 0; i < CHURN_MAX; i++)); do
			if [[ -e "$T/churn.stop" ]]; then
				echo stopped >"$T/churn.end"
				exit 0
			fi
			ip netns exec twc tcpflow-sock churn "$CHURN_BATCH" 10.27.1.2 8279 >>"$T/churn.out"
			# Paced: two CPUs under emulation are shared with the test.
			sleep 0.1
		done
		echo "ran out" >"$T/churn.end"
	) 3>&- &
	CHURN=$!
	# Running before the scenario starts.
	tf_wait_for 20 tf_file_nonempty "$T/churn.out"
}

# churn_stop: stop the churn, which must have run all along the scenario,
# and check every history it made: each client ends FIN_WAIT2 > TIME_WAIT
# (then TIME_WAIT > CLOSE if its 60 s are over), each server LAST_ACK >
# CLOSE.  A child the kernel cloned twice is a duplicate (see README).
churn_stop() {
	local n dup
	touch "$T/churn.stop"
	wait "$CHURN"
	[ "$(cat "$T/churn.end")" = stopped ]
	n=$(awk -F '[= ]' '$1 == "connected" && $4 == 0 { n += $2; next } { bad = 1 }
		END { print bad ? "failed" : n }' "$T/churn.out")
	echo "# churn: $n connections" >&3
	[[ $n =~ ^[0-9]+$ ]]
	((n >= CHURN_BATCH))
	tf_serve_done 8279 "$CHURN_SRV"
	[ "$(tf_netstat_ext twc TCPTimeWaitOverflow)" = 0 ]

	awk -v cl="$CLIENT_ACTIVE_CLOSE" -v sv="$SERVER_PASSIVE_CLOSE" '
		function flush() {
			if (role == "") return
			if (role == "client" && (h == cl || h == cl " TIME_WAIT>CLOSE")) clients++
			else if (role == "server" && h == sv && !dup) servers++
			else if (role == "server" && h == "LISTEN>SYN_RECV SYN_RECV>CLOSE" && dup) dups++
			else if (role == "listener" && h == "CLOSE>LISTEN LISTEN>CLOSE") listeners++
			else print "unexpected: " line ": " h
		}
		/^conn / {
			flush()
			role = ""; h = ""; line = $0
			if ($5 ~ /^10\.27\.1\.2:8279$/ || $4 ~ /^10\.27\.1\.2:8279$/)
				role = $3
			dup = / duplicate( |$)/
			next
		}
		role != "" && /^  \+/ && $3 == "->" { h = h (h == "" ? "" : " ") $2 ">" $4 }
		END {
			flush()
			printf "clients=%d servers=%d listeners=%d\n", clients, servers, listeners
		}' /proc/tcpflow >"$T/churn.check"
	cat "$T/churn.check"
	# What the kernel says of a client whose history is not as expected.
	awk '/^unexpected: conn [0-9]+ client / { split($5, a, ":"); print a[2] }' "$T/churn.check" |
		while read -r p; do
			echo "ss: $p: $(ip netns exec twc ss -tanH "sport = :$p")"
		done
	[ "$(cat "$T/churn.check")" = "clients=$n servers=$n listeners=1" ]
	dup=$(grep -c '^conn .*10\.27\.1\.2:8279 .* duplicate' /proc/tcpflow || true)
	echo "# churn: $dup duplicate children" >&3
}

# ---- the scenarios --------------------------------------------------------------

# events LPORT RPORT: the newest such connection's events, without their
# times ("tx ACK ack=2", "TIME_WAIT -> CLOSE").
events() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / { cur = ports(lp, rp); if (cur) out = ""; next }
		cur && /^  \+/ { $1 = ""; out = out substr($0, 2) "\n" }
		END { printf "%s", out }' /proc/tcpflow
}

# events_count_is LPORT RPORT N: for tf_wait_for.
events_count_is() {
	[ "$(events "$1" "$2" | wc -l)" = "$3" ]
}

# isns CPORT SPORT: "CLIENT_ISN SERVER_ISN" of the client's connection, as
# its SYN and the SYN-ACK carried them.
isns() {
	echo 1 >/sys/module/tcpflow/parameters/absolute_seq
	tf_segments "$1" "$2" | awk '$2 == "SYN" { c = $3 } $2 == "SYN,ACK" { s = $3 }
		END { print c, s }'
	echo 0 >/sys/module/tcpflow/parameters/absolute_seq
}

# u32 N: N modulo 2^32.
u32() {
	echo $(($1 & 0xffffffff))
}

# send CPORT SPORT EXPECT HPING3-ARGS...: hping3 sends one segment from
# SPORT to the client's CPORT; then wait until the client's history has
# EXPECT more events (the segment, and what answered it).
send() {
	local cp=$1 sp=$2 want n
	n=$(events "$cp" "$sp" | wc -l)
	want=$((n + $3))
	shift 3
	ip netns exec tws hping3 -q -n -I vb -c 1 -s "$sp" -k -p "$cp" "$@" 10.27.1.1 >/dev/null 2>&1 ||
		true	# nothing answers it: hping3 says so
	tf_wait_for 10 events_count_is "$cp" "$sp" "$want"
}

# drop_answers: vb drops what the clients' timewait sockets answer.
drop_answers() {
	ip netns exec tws tc filter add dev vb ingress protocol ip pref 1 \
		flower ip_proto tcp src_port 20001-20003 action drop
}

pass_answers() {
	ip netns exec tws tc filter del dev vb ingress pref 1
}

# ss_twc STATE PORT: a socket on local PORT in twc is in STATE.
ss_twc() {
	[ -n "$(ip netns exec twc ss -tanH state "$1" "sport = :$2")" ]
}

ss_twc_none() {
	[ -z "$(ip netns exec twc ss -tanH "sport = :$1")" ]
}

@test "TIME_WAIT: out-of-window segments change nothing, an in-window RST ends it at once" {
	local cisn sisn rcv snd n skipped
	ip netns exec tws tcpflow-sock listen 10.27.1.2 8271 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 8271 tws
	ip netns exec twc tcpflow-sock bind 10.27.1.1 20001 connect 10.27.1.2 8271 close
	tf_wait_for 10 tf_state_is 8271 20001 CLOSE
	tf_wait_for 10 tf_state_is 20001 8271 TIME_WAIT
	ss_twc time-wait 20001
	[ "$(tf_history 20001 8271)" = "$CLIENT_ACTIVE_CLOSE" ]
	events 20001 8271 >"$T/before"
	n=$(wc -l <"$T/before")
	read -r cisn sisn < <(isns 20001 8271)
	# The server sent its SYN and FIN, the client its SYN and FIN.
	rcv=$(u32 $((sisn + 2)))
	snd=$(u32 $((cisn + 2)))
	drop_answers
	skipped=$(tf_netstat_ext twc TCPACKSkippedTimeWait)

	# An out-of-window ACK is answered with an ACK ...
	send 20001 8271 2 -A -M "$(u32 $((rcv + OFF)))" -L "$snd"
	# ... once: the next is not (rate-limited).
	send 20001 8271 1 -A -M "$(u32 $((rcv + OFF)))" -L "$snd"
	tf_wait_for 10 tf_netstat_is twc TCPACKSkippedTimeWait $((skipped + 1))
	# Out-of-window data is answered whatever the rate.
	send 20001 8271 2 -A -d 10 -M "$(u32 $((rcv + OFF)))" -L "$snd"
	# An out-of-window RST and an in-window pure ACK are dropped.
	send 20001 8271 1 -R -M "$(u32 $((rcv + OFF)))"
	send 20001 8271 1 -A -M "$rcv" -L "$snd"
	ss_twc time-wait 20001
	[ "$(tf_state 20001 8271)" = TIME_WAIT ]
	# An in-window RST kills the timewait socket.
	send 20001 8271 2 -R -M "$rcv"
	ss_twc_none 20001

	[ "$(events 20001 8271 | head -n "$n")" = "$(cat "$T/before")" ]
	[ "$(events 20001 8271 | tail -n +$((n + 1)))" = "rx ACK ack=2
tx ACK ack=2
rx ACK ack=2
rx ACK seq=1073741826 ack=2 len=10
tx ACK ack=2
rx RST seq=1073741826
rx ACK ack=2
rx RST seq=2
TIME_WAIT -> CLOSE" ]
	[ "$(tf_history 20001 8271)" = "$CLIENT_ACTIVE_CLOSE TIME_WAIT>CLOSE" ]
	[ "$(tf_history 20001 8271)" = "$(tf_tw_expected "$(tf_trace_history TCP 20001 8271)") TIME_WAIT>CLOSE" ]
	[ "$(tf_history 8271 20001)" = "$SERVER_PASSIVE_CLOSE" ]
	[ "$(tf_history 8271 20001)" = "$(tf_trace_history TCP 8271 20001)" ]
	# hping3 sent the six from the server's closed connection: its
	# history takes the first four after its CLOSE, the other two are
	# counted as dropped (README: a closed history takes at most 4).
	[ "$(events 8271 20001 | sed '1,/ -> CLOSE$/d')" = "tx ACK ack=2
tx ACK ack=2
tx ACK seq=1073741826 ack=2 len=10
tx RST seq=1073741826" ]

	churn_stop
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 2 ]
}

# fin_wait2_client CPORT SPORT: a client that closes first against a server
# that never does: orphaned, it waits for the FIN as a FIN_WAIT2 timewait
# socket.
fin_wait2_client() {
	ip netns exec tws tcpflow-sock listen 10.27.1.2 "$2" accept hold 3>&- &
	SRV=$!
	tf_wait_for 10 tf_tcp_listening "$2" tws
	ip netns exec twc tcpflow-sock bind 10.27.1.1 "$1" connect 10.27.1.2 "$2" close
	tf_wait_for 10 tf_state_is "$2" "$1" CLOSE_WAIT
	# The kernel moved it to a timewait socket and said CLOSE.
	tf_wait_for 10 tf_trace_history_is TCP "$1" "$2" "$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>CLOSE"
	ss_twc fin-wait-2 "$1"
	[ "$(tf_history "$1" "$2")" = "$CLIENT_TO_FIN_WAIT2" ]
}

# server_closes CPORT SPORT: the server closes at last; the client has no
# socket left and its kernel answers the FIN with a RST.
server_closes() {
	pass_answers
	kill "$SRV"
	tf_wait_for 10 tf_state_is "$2" "$1" CLOSE
	[ "$(tf_history "$2" "$1")" = "$SERVER_PASSIVE_CLOSE" ]
	[ "$(tf_history "$2" "$1")" = "$(tf_trace_history TCP "$2" "$1")" ]
}

@test "FIN_WAIT2: out-of-window segments change nothing, a RST ends it, never TIME_WAIT" {
	local cisn sisn rcv snd n skipped
	fin_wait2_client 20002 8272
	events 20002 8272 >"$T/before"
	n=$(wc -l <"$T/before")
	read -r cisn sisn < <(isns 20002 8272)
	# The server sent its SYN, the client its SYN and FIN.
	rcv=$(u32 $((sisn + 1)))
	snd=$(u32 $((cisn + 2)))
	drop_answers
	skipped=$(tf_netstat_ext twc TCPACKSkippedFinWait2)

	# An out-of-window RST is answered with an ACK (the window is checked
	# first) ...
	send 20002 8272 2 -R -M "$(u32 $((rcv + OFF)))"
	# ... and then no out-of-window ACK for a while.
	send 20002 8272 1 -A -M "$(u32 $((rcv + OFF)))" -L "$snd"
	tf_wait_for 10 tf_netstat_is twc TCPACKSkippedFinWait2 $((skipped + 1))
	# Out-of-window data is answered whatever the rate.
	send 20002 8272 2 -A -d 10 -M "$(u32 $((rcv + OFF)))" -L "$snd"
	# A duplicate ACK is dropped.
	send 20002 8272 1 -A -M "$rcv" -L "$snd"
	ss_twc fin-wait-2 20002
	[ "$(tf_state 20002 8272)" = FIN_WAIT2 ]
	# An in-window RST kills the timewait socket.
	send 20002 8272 2 -R -M "$rcv"
	ss_twc_none 20002

	[ "$(events 20002 8272 | head -n "$n")" = "$(cat "$T/before")" ]
	[ "$(events 20002 8272 | tail -n +$((n + 1)))" = "rx RST seq=1073741825
tx ACK ack=1
rx ACK ack=2
rx ACK seq=1073741825 ack=2 len=10
tx ACK ack=1
rx ACK ack=2
rx RST seq=1
FIN_WAIT2 -> CLOSE" ]
	[ "$(tf_history 20002 8272)" = "$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>CLOSE" ]
	# The kernel's own account ends the same way, by coincidence: its
	# FIN_WAIT2>CLOSE is the move to the timewait socket.
	[ "$(tf_trace_history TCP 20002 8272)" = "$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>CLOSE" ]

	server_closes 20002 8272
	churn_stop
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
}

@test "FIN_WAIT2: the peer's FIN makes it TIME_WAIT and counts in received" {
	fin_wait2_client 20004 8274
	[ "$(tf_field 20004 8274 received)" = 0 ]
	kill "$SRV"
	tf_wait_for 10 tf_state_is 8274 20004 CLOSE
	tf_wait_for 10 tf_state_is 20004 8274 TIME_WAIT
	ss_twc time-wait 20004
	[ "$(tf_history 20004 8274)" = "$CLIENT_ACTIVE_CLOSE" ]
	[ "$(tf_history 8274 20004)" = "$SERVER_PASSIVE_CLOSE" ]
	# No data either way: each end received the other's FIN, one
	# sequence number, the client's on its timewait socket.
	[ "$(tf_field 20004 8274 received)" = 1 ]
	[ "$(tf_field 8274 20004 received)" = 1 ]
	churn_stop
	[ "$(tf_header_count untracked)" = 0 ]
}

@test "FIN_WAIT2: new data is answered with a RST that ends it, never TIME_WAIT" {
	local cisn sisn rcv snd n
	fin_wait2_client 20003 8273
	n=$(events 20003 8273 | wc -l)
	read -r cisn sisn < <(isns 20003 8273)
	rcv=$(u32 $((sisn + 1)))
	snd=$(u32 $((cisn + 2)))
	drop_answers

	send 20003 8273 3 -A -d 10 -M "$rcv" -L "$snd"
	ss_twc_none 20003
	[ "$(events 20003 8273 | tail -n +$((n + 1)))" = "rx ACK seq=1 ack=2 len=10
tx RST seq=2
FIN_WAIT2 -> CLOSE" ]
	[ "$(tf_history 20003 8273)" = "$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>CLOSE" ]
	[ "$(tf_trace_history TCP 20003 8273)" = "$CLIENT_TO_FIN_WAIT2 FIN_WAIT2>CLOSE" ]

	server_closes 20003 8273
	churn_stop
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
}
