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
	tf_dump_on_failure
	pkill -f tcpflow-sock || true
	ip netns del churn 2>/dev/null || true
	tf_unload
}

# Bytes the module holds in vmalloc space (its pool and hash).
tf_vmalloc_bytes() {
	awk '/\[tcpflow\]/ { n += $2 } END { print n + 0 }' /proc/vmallocinfo
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

live_at_most() {
	[ "$(tf_header_count live)" -le "$1" ]
}

@test "20000 aborted connections in a small table: oldest closed evicted, nothing lost, memory flat" {
	tf_load_room 16
	max=$(cat /sys/module/tcpflow/parameters/max_conns)
	seeded=$(tf_header_count connections)
	before=$(tf_vmalloc_bytes)
	[ "$before" -gt 0 ]

	in_churn tcpflow-sock listen 127.0.0.1 9201 serve 20000 3>&- &
	wait_for 10 tcp_listening 9201 churn
	run in_churn tcpflow-sock churn-abort 20000 127.0.0.1 9201
	[ "$output" = "connected=20000 failed=0" ]
	wait

	# 40001 connections seen: 20000 clients, 20000 children, the listener.
	[ "$(tf_header_count connections)" = "$max" ]
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count evicted)" = $((seeded + 40001 - max)) ]
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

	in_churn tcpflow-sock listen 127.0.0.1 9204 serve 2000 3>&- &
	wait_for 10 tcp_listening 9204 churn
	run in_churn tcpflow-sock churn-abort 2000 127.0.0.1 9204
	[ "$output" = "connected=2000 failed=0" ]
	wait
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
	wait_for 10 tcp_listening 9205 churn
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
	wait_for 30 live_at_most "$live"
	tcpflow-sock listen 127.0.0.1 9206 close-listener
	[ "$(tf_history 9206 0)" = "CLOSE>LISTEN LISTEN>CLOSE" ]
}
