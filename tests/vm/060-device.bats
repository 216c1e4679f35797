#!/usr/bin/env bats
# /dev/tcpflow: the binary stream, its snapshot/live boundary, blocking,
# poll, loss records, ioctls and permissions.

load helpers

setup() {
	tf_load "${TF_PARAMS[@]}"
}

teardown() {
	tf_end_test
	rm -f "$T/dt".*
	tf_unload
}

@test "the device is a root-only character device" {
	[ -c /dev/tcpflow ]
	[ "$(stat -c '%a %U %G' /dev/tcpflow)" = "600 root root" ]
	run setpriv --reuid 65534 --regid 65534 --clear-groups tcpflow-devtest open
	[ "$output" = "open EACCES" ]
}

@test "the ABI version ioctl says 1; counters match /proc/tcpflow" {
	tf_client_closes 9301 39301
	run tcpflow-devtest open version counters
	[ "${lines[0]}" = "version 1" ]
	# An older TIME_WAIT may end between the two reads: read again then.
	tf_wait_for 10 counters_match_proc
}

counters_match_proc() {
	run tcpflow-devtest open counters
	[[ ${lines[0]} == "conns=$(tf_header_count connections) live=$(tf_header_count live) closed=$(tf_header_count closed) max=8192 untracked=0 evicted=0 dropped=0 total="* ]]
}

@test "the snapshot holds every connection with its events, then SYNC" {
	tf_client_closes 9302 39302
	id=$(tf_conn 39302 9302 | awk '{ print $2 }')
	# The same history in /proc before and after the snapshot (a stray
	# ACK can still draw a RST that ends the TIME_WAIT: then again).
	for try in 1 2 3; do
		before=$(tf_state 39302 9302; tf_history 39302 9302)
		run tcpflow-devtest open snapshot
		[ "$before" = "$(tf_state 39302 9302; tf_history 39302 9302)" ] && break
	done
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = SYNC ]
	events=$(printf '%s\n' "${lines[@]}" | awk -v id="$id" '$1 == "EVENT" && $2 == id { printf "%s%s", sep, $3; sep = " " }')
	[ "$events" = "$(tf_history 39302 9302)" ]
	printf '%s\n' "${lines[@]}" | grep -qx "CONN $id $(tf_state 39302 9302) 39302 9302"
	[[ $events == *FIN_WAIT2\>TIME_WAIT* ]]
}

@test "events before open come in the snapshot, after it in the live stream, each once" {
	tf_client_closes 9303 39303
	tcpflow-devtest open-nb touch "$T/dt.opened" wait "$T/dt.go" snapshot drain >"$T/dt.out" 3>&- &
	tf_wait_for 10 test -e "$T/dt.opened"
	tf_client_closes 9304 39304
	touch "$T/dt.go"
	wait
	before=$(tf_conn 39303 9303 | awk '{ print $2 }')
	after=$(tf_conn 39304 9304 | awk '{ print $2 }')
	sed -n '1,/^SYNC$/p' "$T/dt.out" >"$T/dt.snap"
	sed '1,/^SYNC$/d' "$T/dt.out" >"$T/dt.live"
	# The earlier connection: all of it in the snapshot, none live.
	[ "$(grep -c "^EVENT $before " "$T/dt.snap")" = "$(wc -w <<<"$(tf_history 39303 9303)")" ]
	[ "$(grep -c "^EVENT $before " "$T/dt.snap")" -ge 5 ]
	[ "$(grep -c "^EVENT $before " "$T/dt.live")" = 0 ]
	# The later one: none in the snapshot, every event once, in order,
	# each after a CONN record of its connection.
	[ "$(grep -c "^EVENT $after " "$T/dt.snap")" = 0 ]
	[ "$(awk -v id="$after" '$1 == "EVENT" && $2 == id { printf "%s%s", s, $3; s = " " }' "$T/dt.live")" = "$(tf_history 39304 9304)" ]
	# Its segments too, each after a CONN record.
	[ "$(grep -c "^SEGMENT $after " "$T/dt.live")" = "$(tf_segments 39304 9304 | wc -l)" ]
	[ "$(grep -c "^SEGMENT $before " "$T/dt.snap")" = "$(tf_segments 39303 9303 | wc -l)" ]
	[ "$(grep -c "^CONN $after " "$T/dt.live")" = "$(grep -cE "^(EVENT|SEGMENT) $after " "$T/dt.live")" ]
	run ! grep -q '^LOSS' "$T/dt.out"
}

# The readers below filter on their test's port: a TIME_WAIT of an earlier
# test may end meanwhile, and its event is not the one waited for.
@test "O_NONBLOCK gives EAGAIN when caught up; a blocking reader wakes on a new event" {
	run tcpflow-devtest open-nb filter 2 0 9305 0 snapshot read 4096
	[ "${lines[-1]}" = "read EAGAIN" ]

	tcpflow-devtest open filter 2 0 9305 0 snapshot touch "$T/dt.synced" next 2 >"$T/dt.out" 3>&- &
	reader=$!
	tf_wait_for 10 test -e "$T/dt.synced"
	tcpflow-sock listen 127.0.0.1 9305 close-listener
	wait "$reader"
	[ "$(sed '1,/^SYNC$/d' "$T/dt.out" | sed -n 2p)" = "EVENT $(tf_conn 9305 0 | awk '{ print $2 }') CLOSE>LISTEN" ]
}

@test "poll times out when caught up, is not woken by events its filter hides, and is ready after its own" {
	run tcpflow-devtest open filter 2 0 9306 0 snapshot poll 200
	[ "${lines[-1]}" = "poll timeout" ]
	tcpflow-devtest open filter 2 0 9306 0 snapshot touch "$T/dt.synced" poll 60000 >"$T/dt.out" 3>&- &
	reader=$!
	tf_wait_for 10 test -e "$T/dt.synced"
	# A whole connection on another port: events, but not input for it.
	t0=$(tf_counters_total)
	tf_client_closes 9326 39326
	(($(tf_counters_total) - t0 >= 12))
	kill -0 "$reader"
	run ! grep -q '^poll' "$T/dt.out"
	tcpflow-sock listen 127.0.0.1 9306 close-listener
	wait "$reader"
	[ "$(tail -n 1 "$T/dt.out")" = "poll ready" ]
}

@test "a buffer too small for the next record gets EINVAL and loses nothing; read(0) returns 0" {
	tcpflow-sock listen 127.0.0.1 9307 close-listener
	run tcpflow-devtest open read 0 read 1 read 15 read 159 read 160
	# read(2): "If count is zero, read() may detect errors ... returns 0".
	[ "${lines[0]}" = "read 0" ]
	[ "${lines[1]}" = "read EINVAL" ]
	[ "${lines[2]}" = "read EINVAL" ]
	[ "${lines[3]}" = "read EINVAL" ]
	# The first record is a CONN (16 + 144 bytes): exactly one fits.
	[ "${lines[4]}" = "read 160" ]
	[[ ${lines[5]} == "CONN "* ]]
}

@test "write, seek and bad ioctls are refused with the right errors" {
	run tcpflow-devtest open write seek ioctl-bad
	[ "$output" = "write EBADF
seek ESPIPE
unknown ENOTTY
version-null EFAULT
counters-null EFAULT
filter-null EFAULT
counters-bad EFAULT
filter-bad EFAULT
filter-flags EINVAL
filter-reserved EINVAL
filter-reserved0 EINVAL
filter-state-range EINVAL
filter-state-zero EINVAL
filter-state-empty EINVAL
version-huge-cmd ENOTTY" ]
	# The reader still works after all that.
	run tcpflow-devtest open version snapshot
	[ "${lines[0]}" = "version 1" ]
	[ "${lines[-1]}" = SYNC ]
}

@test "a port filter limits both the snapshot and the live stream" {
	tf_client_closes 9308 39308
	tf_client_closes 9309 39309
	tcpflow-devtest open-nb filter 2 0 9309 0 touch "$T/dt.opened" wait "$T/dt.go" snapshot drain >"$T/dt.out" 3>&- &
	tf_wait_for 10 test -e "$T/dt.opened"
	tf_client_closes 9310 39310
	tcpflow-sock listen 127.0.0.1 9309 close-listener
	touch "$T/dt.go"
	wait
	[ "$(head -n 1 "$T/dt.out")" = "filter ok" ]
	# Only connections with port 9309: the old listener, server and client
	# in the snapshot, the new listener live; nothing of 9308 or 9310.
	[ "$(grep '^CONN' "$T/dt.out" | awk '$4 != 9309 && $5 != 9309' | wc -l)" = 0 ]
	[ "$(sed -n '1,/^SYNC$/p' "$T/dt.out" | grep -c '^CONN')" = 3 ]
	[ "$(sed '1,/^SYNC$/d' "$T/dt.out" | grep -c '^EVENT')" = 2 ]
}

@test "two readers each get every live event" {
	for r in 1 2; do
		tcpflow-devtest open-nb touch "$T/dt.opened$r" wait "$T/dt.go" snapshot drain >"$T/dt.out$r" 3>&- &
	done
	tf_wait_for 10 test -e "$T/dt.opened1" -a -e "$T/dt.opened2"
	tf_client_closes 9311 39311
	touch "$T/dt.go"
	wait
	sed '1,/^SYNC$/d' "$T/dt.out1" >"$T/dt.live1"
	sed '1,/^SYNC$/d' "$T/dt.out2" >"$T/dt.live2"
	ids=$( { tf_conn 9311 0; tf_conn 9311 39311; tf_conn 39311 9311; } | awk '{ print $2 }')
	# 12 state changes, or 14 when the final ACK and the FIN raced on two
	# CPUs and the kernel cloned a second child that it closed at once.
	n=$(awk -v ids="$ids" 'BEGIN { split(ids, a); for (i in a) want[a[i]] = 1 }
		/^conn / { keep = ($2 in want) } keep && /^  \+/ && $3 == "->"' /proc/tcpflow | wc -l)
	[ "$n" -ge 12 ]
	[ "$(awk -v ids="$ids" 'BEGIN { split(ids, a); for (i in a) want[a[i]] = 1 }
		$1 == "EVENT" && ($2 in want)' "$T/dt.live1" | wc -l)" = "$n" ]
	cmp "$T/dt.live1" "$T/dt.live2"
}

@test "a reader that falls behind gets LOSS records with the exact count" {
	tf_unload
	tf_load ring_events=16
	tcpflow-devtest open-nb counters touch "$T/dt.opened" wait "$T/dt.go" snapshot drain counters >"$T/dt.out" 3>&- &
	tf_wait_for 10 test -e "$T/dt.opened"
	for p in 9321 9322 9323 9324; do tf_client_closes $p $((p + 30000)); done
	touch "$T/dt.go"
	wait
	t0=$(head -n 1 "$T/dt.out" | sed 's/.*total=//')
	t1=$(tail -n 1 "$T/dt.out" | sed 's/.*total=//')
	# 4 connections of 12 state changes and their segments (and any
	# TIME_WAIT of an earlier test ending meanwhile), on one or both CPUs:
	# each CPU's ring keeps its last 16, the rest is reported lost, each
	# event either delivered or counted in a LOSS record.
	[ $((t1 - t0)) -ge 48 ]
	lost=$(tf_dev_lost "$T/dt.out")
	got=$(tf_dev_live "$T/dt.out")
	[ "$lost" -gt 0 ]
	[ $((lost + got)) = $((t1 - t0)) ]
	[ "$got" -ge 16 ]
	[ "$got" -le $((16 * $(nproc))) ]
}

@test "rmmod fails with EBUSY while a reader is blocked in read, and works after" {
	tcpflow-devtest open filter 2 0 9325 0 snapshot touch "$T/dt.synced" next 1 >"$T/dt.out" 3>&- &
	reader=$!
	tf_wait_for 10 test -e "$T/dt.synced"
	run rmmod tcpflow
	[ "$status" -ne 0 ]
	[[ $output == *"in use"* ]]
	grep -q '^tcpflow ' /proc/modules
	kill "$reader"
	wait "$reader" || true
	rmmod tcpflow
	[ ! -e /dev/tcpflow ]
}

@test "a reader in a netns sees only its own connections on the device" {
	ip netns add devns
	ip -n devns link set lo up
	tf_client_closes 9331 39331
	ip netns exec devns tcpflow-sock listen 127.0.0.1 9332 close-listener
	run ip netns exec devns tcpflow-devtest open snapshot
	ip netns del devns
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^CONN')" = 1 ]
	[[ ${lines[0]} == "CONN "*" CLOSE 9332 0" ]]
}
