#!/usr/bin/env bats
# Memory stays within the bound however many connections churn, and every
# loss is counted.  Churn runs in its own netns; TIME_WAIT sockets that
# earlier tests left in the initial netns are seeded at load and live, so
# bounds are set relative to what was seeded.

load helpers

setup() {
	ip netns add churn
	ip -n churn link set lo up
}

teardown() {
	tf_end_test
	[[ -n ${BATS_TEST_COMPLETED:-} ]] || grep -h '^conn\|^CONN\|^read' "$T/bd.before" "$T/bd.dev.out" 2>/dev/null | head -n 80 | sed 's/^/# /' >&3
	rm -f "$T/bd".*
	ip netns del churn 2>/dev/null || true
	tf_unload
}

in_churn() {
	ip netns exec churn "$@"
}

# Connections of the churn netns as its own reader sees them.
churn_conns() {
	in_churn cat /proc/tcpflow | grep -c '^conn ' || true
}

churn_live() {
	in_churn cat /proc/tcpflow | awk '/^conn / && $6 != "CLOSE"' | wc -l
}

# tf_load_room N: load with room for N connections beyond those seeded.
tf_load_room() {
	local seeded
	tf_load
	seeded=$(tf_header_count connections)
	rmmod tcpflow
	tf_load max_conns=$((seeded + $1))
}

@test "20000 aborted connections (2000 on the debug kernel) in a small table: oldest closed evicted, nothing lost, memory flat" {
	local n
	n=$(tf_scaled 20000)
	tf_load_room 16
	max=$(cat /sys/module/tcpflow/parameters/max_conns)
	seeded=$(tf_header_count connections)
	before=$(tf_vmalloc_bytes)
	[ "$before" -gt 0 ]

	tf_aborted churn 9201 "$n"

	# Every entry beyond the table's size was evicted, none lost.  Ids
	# count the entries ever made: the seeded ones, n clients, n children
	# or requests (a reset that closes a request between its final ACK and
	# the child's clone leaves the child that request's), the listener.
	last=$(awk '/^conn / { id = $2 } END { print id }' /proc/tcpflow)
	[ "$last" = $((seeded + 2 * n + 1)) ]
	[ "$(tf_header_count connections)" = "$max" ]
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count evicted)" = $((last - max)) ]
	[ "$(tf_header_count events)" = 0 ]
	[ "$(churn_live)" = 0 ]
	[ "$(tf_vmalloc_bytes)" = "$before" ]
	# New connections are still recorded.
	in_churn tcpflow-sock listen 127.0.0.1 9202 close-listener
	[ "$(tf_history 9202 0)" = "CLOSE>LISTEN LISTEN>CLOSE" ]
}

@test "2000 refused connects and 2000 aborts: every entry closed again, all recorded" {
	tf_load
	run in_churn tcpflow-sock churn 2000 127.0.0.1 9203
	[ "$output" = "connected=0 failed=2000" ]
	[ "$(churn_conns)" = 2000 ]
	[ "$(churn_live)" = 0 ]

	tf_aborted churn 9204 2000
	[ "$(churn_conns)" = $((2000 + 4001)) ]
	[ "$(churn_live)" = 0 ]
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
}

@test "connections in TIME_WAIT beyond max_conns are counted, then the table recovers" {
	tf_load_room 16
	max=$(cat /sys/module/tcpflow/parameters/max_conns)
	live=$(tf_header_count live)
	in_churn tcpflow-sock listen 127.0.0.1 9205 serve 40 3>&- &
	tf_wait_for 10 tf_tcp_listening 9205 churn
	run in_churn tcpflow-sock churn 40 127.0.0.1 9205
	[ "$output" = "connected=40 failed=0" ]
	wait
	# 40 clients wait in TIME_WAIT: they fill the table, what did not fit
	# is counted, never silently lost.
	[ "$(tf_header_count connections)" = "$max" ]
	[ "$(tf_header_count untracked)" -gt 0 ]
	[ "$(tf_header_count events)" -gt 0 ]
	# Deleting the netns frees its timewait sockets: the entries close.
	ip netns del churn
	tf_wait_for 30 tf_live_at_most "$live"
	tcpflow-sock listen 127.0.0.1 9206 close-listener
	[ "$(tf_history 9206 0)" = "CLOSE>LISTEN LISTEN>CLOSE" ]
}


# ids FILE WORD: the ids (second field) of FILE's lines starting with WORD.
ids() {
	awk -v w="$2" '$1 == w { print $2 }' "$1"
}

# in_order FILE WORD: those ids rise strictly (no entry twice, none back).
in_order() {
	ids "$1" "$2" | sort -c -n -u
}

@test "a reader paused mid-table while churn recycles entries resumes right: each entry once, in id order, none skipped" {
	tf_load_room 256
	in_churn tcpflow-sock listen 127.0.0.1 9207 serve 1000000 3>&- &
	tf_wait_for 10 tf_tcp_listening 9207 churn
	# 120 closed entries, 21 live ones (a listener and 10 pairs held
	# open), 80 closed ones: the live ones lie past the first read.
	[ "$(in_churn tcpflow-sock churn-abort 60 127.0.0.1 9207)" = "connected=60 failed=0" ]
	in_churn tcpflow-sock listen 127.0.0.1 9208 hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9208 churn
	for i in $(seq 10); do
		in_churn tcpflow-sock connect 127.0.0.1 9208 touch "$T/bd.held.$i" hold 3>&- &
		tf_wait_for 10 test -e "$T/bd.held.$i"
	done
	[ "$(in_churn tcpflow-sock churn-abort 40 127.0.0.1 9207)" = "connected=40 failed=0" ]
	in_churn cat /proc/tcpflow | awk '/^conn / && $6 != "CLOSE" { print $2 }' | sort -n >"$T/bd.live"
	[ "$(wc -l <"$T/bd.live")" = 22 ]
	in_churn cat /proc/tcpflow >"$T/bd.before"

	# Both readers stop after one read(), holding a place in the table.
	in_churn tcpflow-devtest open read 4096 touch "$T/bd.dev" wait "$T/bd.go" snapshot >"$T/bd.dev.out" 3>&- &
	dev=$!
	in_churn bash -c 'exec 4</proc/tcpflow; dd bs=4096 count=1 status=none <&4; touch "$T/bd.proc"
		for i in $(seq 300); do [ -e "$T/bd.go" ] && break; sleep 0.1; done; cat <&4' >"$T/bd.proc.out" 3>&- &
	proc=$!
	tf_wait_for 10 test -e "$T/bd.dev" -a -e "$T/bd.proc"
	# 400 new entries: every closed entry, the ones the readers stopped
	# at among them, is recycled (a new id, at the end of the table).
	[ "$(in_churn tcpflow-sock churn-abort 200 127.0.0.1 9207)" = "connected=200 failed=0" ]
	in_churn cat /proc/tcpflow >"$T/bd.now"
	[ "$(ids "$T/bd.now" conn | head -n 22)" = "$(cat "$T/bd.live")" ]
	touch "$T/bd.go"
	wait "$dev" "$proc"

	# The device: its first read (printed too) and then, once resumed,
	# exactly the live entries newer than that read (the closed ones were
	# recycled, the new ones are the live stream's), in order, then SYNC
	# (the live stream may follow in the same read).
	grep -qx SYNC "$T/bd.dev.out"
	sed -i '/^SYNC$/q' "$T/bd.dev.out"
	in_order "$T/bd.dev.out" CONN
	first=$(comm -23 <(ids "$T/bd.dev.out" CONN | sort) <(ids "$T/bd.now" conn | sort) | sort -n)
	[ -n "$first" ]
	[ "$(ids "$T/bd.dev.out" CONN)" = "$(sort -n -u <(echo "$first") "$T/bd.live")" ]
	[ "$(tail -n 1 <<<"$first")" -lt "$(sed -n 2p "$T/bd.live")" ]
	# /proc: what it showed before the pause (recycled since: gone from the
	# table now), then every entry the table holds now, in id order.
	in_order "$T/bd.proc.out" conn
	[ -n "$(comm -23 <(ids "$T/bd.proc.out" conn | sort) <(ids "$T/bd.now" conn | sort))" ]
	[ -z "$(comm -13 <(ids "$T/bd.proc.out" conn | sort) <(ids "$T/bd.now" conn | sort))" ]
}
