#!/usr/bin/env bats
# Readers never hold up the hooks, and never skip or repeat an event:
# /proc/tcpflow and the device walk the table in bounded batches under the
# table lock, whatever they may see, and the device's snapshot sends each
# connection from a copy taken at once, however long the reads take.

load helpers

# TCPFLOW_WALK_BATCH in module/tcpflow.h: the bound every hold keeps to.
WALK_BATCH=64

setup() {
	ip netns add rd
	ip -n rd link set lo up
	ip netns add churn
	ip -n churn link set lo up
}

teardown() {
	tf_end_test
	pkill -f hping3 || true
	pkill -f 'cat /proc/tcpflow' || true
	rm -f "$T"/rd.*
	ip netns del rd 2>/dev/null || true
	ip netns del churn 2>/dev/null || true
	tf_unload
}

in_churn() {
	ip netns exec churn "$@"
}

# as_nobody_in_rd CMD...: CMD as nobody in the reader's own namespace.
as_nobody_in_rd() {
	ip netns exec rd setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}

@test "readers looping over a full table they cannot see leave the hooks running: every hold walks at most the batch" {
	tf_load max_conns=4096
	# Fill the table with closed histories of the churn namespace.
	tf_aborted churn 9501 2100
	[ "$(tf_header_count connections)" = 4096 ]
	# Root in the initial namespace sees every entry: one node per hold.
	[ "$(tcpflow-devtest open walk)" = "walk_max 1" ]

	# nobody, in a namespace with no connection, reads /proc/tcpflow in
	# a loop; root there takes device snapshots in a loop.  Neither may
	# see any of the 4096 entries, and both walk all of them each time.
	as_nobody_in_rd bash -c 'while :; do cat /proc/tcpflow >/dev/null; done' 3>&- &
	as_nobody_in_rd bash -c 'while :; do cat /proc/tcpflow >/dev/null; done' 3>&- &
	ip netns exec rd bash -c 'while :; do tcpflow-devtest open snapshot >/dev/null; done' 3>&- &
	[ "$(as_nobody_in_rd cat /proc/tcpflow | grep -c '^conn ')" = 0 ]
	run ip netns exec rd tcpflow-devtest open snapshot
	[ "$output" = SYNC ]

	# Meanwhile new connections are made and recorded, all of them.
	in_churn tcpflow-sock listen 127.0.0.1 9502 serve 1000 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 9502 churn
	run in_churn tcpflow-sock churn 1000 127.0.0.1 9502
	[ "$output" = "connected=1000 failed=0" ]
	tf_serve_done 9502 "$srv"
	pkill -f 'while :; do'
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
	[ "$(in_churn cat /proc/tcpflow | awk -v lp=9502 "$TF_AWK_PORTS"'/^conn / && ports(lp, "") && / server / && / CLOSE /' | wc -l)" = 1000 ]

	# The readers walked full batches; no hold walked more.
	[ "$(tcpflow-devtest open walk)" = "walk_max $WALK_BATCH" ]
}

# rst_flood N: N out-of-window resets from the client's port to the server,
# which TCP drops without a word and tcpflow records (rx RST).
rst_flood() {
	ip netns exec rd hping3 -q -R -s 39503 -k -p 9503 -M "$far" -i u2000 -c "$1" 127.0.0.1 2>/dev/null || true
}

# total LPORT RPORT: events ever appended to that history (held + dropped).
total() {
	local n d
	n=$(tf_history_lines "$1" "$2" | wc -l)
	d=$(ip netns exec rd cat /proc/tcpflow | awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / && ports(lp, rp) { for (i = 1; i <= NF; i++) if ($i ~ /^dropped=/) { sub(/dropped=/, "", $i); d = $i } }
		END { print d + 0 }')
	echo $((n + d))
}

# total_is LPORT RPORT N: for tf_wait_for.
total_is() {
	[ "$(total "$1" "$2")" = "$3" ]
}

# tf_history_lines LPORT RPORT: that connection's event lines in /proc.
tf_history_lines() {
	ip netns exec rd cat /proc/tcpflow | awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / { cur = ports(lp, rp); next }
		cur && /^  \+/' | grep -v ' events dropped$'
}

@test "a snapshot read a record at a time while its connection's history wraps sends that history as it was at open, then every later event once" {
	tf_load max_events=8
	echo 1 >/sys/module/tcpflow/parameters/absolute_seq
	ip netns exec rd tcpflow-sock listen 127.0.0.1 9503 accept touch "$T/rd.acc" hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9503 rd
	ip netns exec rd tcpflow-sock bind 127.0.0.1 39503 connect 127.0.0.1 9503 hold 3>&- &
	tf_wait_for 10 test -e "$T/rd.acc"
	tf_wait_for 10 tf_history_has 9503 39503 'SYN_RECV>ESTABLISHED'
	# Resets half the sequence space away from the client's ISN.
	isn=$(tf_history_lines 9503 39503 | awk '$2 == "rx" && $3 == "SYN" { sub(/seq=/, "", $4); print $4 }')
	[ -n "$isn" ]
	far=$(((isn + 2147483648) % 4294967296))

	# 5 handshake events and 10 resets: the history holds its first 4 and
	# its last 4 events, and has dropped 7.
	rst_flood 10
	tf_wait_for 10 total_is 9503 39503 15
	tf_history_lines 9503 39503 >"$T/rd.before"
	[ "$(wc -l <"$T/rd.before")" = 8 ]
	id=$(ip netns exec rd cat /proc/tcpflow | awk -v lp=9503 -v rp=39503 "$TF_AWK_PORTS"'/^conn / && ports(lp, rp) { print $2 }')

	# The reader takes, in record-sized reads (a CONN or 4 events), the
	# client's CONN and events and the server's CONN and first 4 events,
	# then stops while 100 more resets wrap the history many times over,
	# then goes on: the rest of the snapshot, then the live stream.
	nclient=$(tf_history_lines 39503 9503 | wc -l)
	reads=$((1 + (nclient + 3) / 4 + 2))
	ip netns exec rd tcpflow-devtest open-nb times filter 2 0 39503 0 \
		$(printf 'read 160 %.0s' $(seq "$reads")) \
		touch "$T/rd.paused" wait "$T/rd.go" \
		bufsize 160 snapshot bufsize 4096 drain >"$T/rd.dev" 3>&- &
	dev=$!
	tf_wait_for 10 test -e "$T/rd.paused"
	# Where the reader stopped: 4 of the server's events sent.
	[ "$(grep -c "^\(EVENT\|SEGMENT\) $id " "$T/rd.dev")" = 4 ]
	rst_flood 100
	tf_wait_for 10 total_is 9503 39503 115
	touch "$T/rd.go"
	wait "$dev"

	# The snapshot: the 8 events the server's history held at open, each
	# once, in order; then the live stream: the 100 later resets, each
	# once, in order, all after them.
	awk -v id="$id" '
		/^SYNC$/ { live = 1 }
		/^(EVENT|SEGMENT) / && $2 == id { ev = $0 }
		$1 == "TIME" && $2 == id { sub(/t=/, "", $3); print (live ? "live" : "snap"), $3, ev }' \
		"$T/rd.dev" >"$T/rd.ev"
	[ "$(grep -c '^snap ' "$T/rd.ev")" = 8 ]
	[ "$(grep '^snap ' "$T/rd.ev" | grep -c " SEGMENT $id rx 0x04$")" = 4 ]
	[ "$(grep -c '^live ' "$T/rd.ev")" = 100 ]
	[ "$(grep '^live ' "$T/rd.ev" | grep -c " SEGMENT $id rx 0x04$")" = 100 ]
	awk '{ print $2 }' "$T/rd.ev" | sort -c -n -u
}

# recorded_over N: tcpflow has recorded more than N events since it was
# loaded.
recorded_over() {
	(($(tf_counters_total) > $1))
}

# delivered_all OUT: the reader's output holds every one of them.
delivered_all() {
	[ "$(grep -c '^TIME ' "$1")" = "$(tf_counters_total)" ]
}

@test "a reader opened during churn on both CPUs gets every event once, snapshot then stream, each connection's in order" {
	# Room for every event: no history drops one, no ring overtakes the
	# reader.
	tf_load max_events=64 ring_events=65536
	in_churn taskset -c 1 tcpflow-load server churn 127.0.0.1 9510 >/dev/null 3>&- &
	tf_wait_for 10 tf_tcp_listening 9510 churn
	# The client on CPU 0, the server on CPU 1: over loopback each CPU
	# processes what its side sends, so both record the events of every
	# connection.
	in_churn taskset -c 0 tcpflow-load client churn 127.0.0.1 9510 -c 8 -t 4 \
		>"$T/rd.load" 3>&- &
	load=$!
	tf_wait_for 20 recorded_over 500
	tcpflow-devtest open times poll-loop >"$T/rd.dev" 3>&- &
	dev=$!
	wait "$load"
	pkill -f 'tcpflow-load server'
	grep -q ' failed=0 ' "$T/rd.load"
	tf_wait_for 30 delivered_all "$T/rd.dev"
	kill "$dev"
	wait "$dev" || true
	run ! grep -q '^LOSS' "$T/rd.dev"
	grep -q '^SYNC$' "$T/rd.dev"
	# Events on both sides of the open.
	[ "$(sed -n '1,/^SYNC$/p' "$T/rd.dev" | grep -c '^TIME ')" -gt 100 ]
	[ "$(sed '1,/^SYNC$/d' "$T/rd.dev" | grep -c '^TIME ')" -gt 100 ]
	# Each connection's events once each, numbered 0, 1, 2... in the
	# order they came, and in the order of their times.
	awk '$1 == "TIME" {
		id = $2; t = substr($3, 3); i = substr($4, 3)
		if (i != n[id] + 0 || (id in last && t < last[id])) {
			print "connection " id ": event " i " after " n[id] " events, t=" t " after " last[id]
			bad = 1
		}
		n[id] = i + 1; last[id] = t
	} END { exit bad }' "$T/rd.dev"
}
