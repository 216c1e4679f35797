#!/usr/bin/env bats
# CPU hotplug while tracing, and wake-ups of blocked readers: cpu1 of the
# 2-CPU guest goes offline and online 100 times under churn, and every
# history stays in order; readers blocked in read() and in poll() on
# /dev/tcpflow get every event of the churn (the module wakes them from
# the probe through an irq_work).

load helpers

setup() {
	rm -f "$T/hp".*
	ip netns add hp
	ip -n hp link set lo up
}

# What failed, in short: 20,000 histories are too many for the console.
dump_short_on_failure() {
	[[ -z ${BATS_TEST_COMPLETED:-} ]] || return 0
	{ head -n 1 /proc/tcpflow; grep -h . "$T/hp.check" 2>/dev/null | head -n 20; } | sed 's/^/# /' >&3
}

teardown() {
	dump_short_on_failure
	touch "$T/hp.stop"
	echo 1 >/sys/devices/system/cpu/cpu1/online || true
	pkill -f tcpflow-devtest || true
	sleep 0.2
	pkill -f tcpflow-sock || true
	ip netns del hp 2>/dev/null || true
	rm -f "$T/hp".*
	tf_unload
}

# check_histories FILE: every connection's state changes chain (each old
# state is the previous new state) and start as its role starts, and no
# event goes back in time; prints the first offence and fails.
check_histories() {
	awk '
		function done_conn() {
			if (id == "") return
			if (n == 0) { print "no events: " id; bad = 1 }
		}
		/^conn / {
			done_conn()
			id = $2; role = $3; n = 0; last = ""; t = -1
			next
		}
		/^  \+/ {
			ts = substr($1, 2) + 0
			if (ts < t) { print "time goes back in " id ": " $0; bad = 1 }
			t = ts
			if ($3 != "->")
				next	# a segment: only its time is checked
			if (n == 0) {
				first = $2 ">" $4
				if ((role == "client" && first != "CLOSE>SYN_SENT") ||
				    (role == "server" && first != "LISTEN>SYN_RECV") ||
				    (role == "listener" && first != "CLOSE>LISTEN")) {
					print "bad first event in " id ": " first; bad = 1
				}
			} else if ($2 != last) {
				print "broken chain in " id ": " last " then " $2 ">" $4; bad = 1
			}
			last = $4; n++
			next
		}
		/^  \.\.\./ { print "events dropped in " id; bad = 1 }
		END { done_conn(); exit bad }' "$1"
}

@test "cpu1 offline/online 100 times under churn: every history in order" {
	[ "$(cat /sys/devices/system/cpu/online)" = 0-1 ]
	tf_load max_conns=65536
	ns=$(tf_netns_inode hp)
	ip netns exec hp tcpflow-sock listen 127.0.0.1 9800 serve 100000000 3>&- &
	tf_wait_for 10 tf_tcp_listening 9800 hp
	ip netns exec hp bash -c 'while [ ! -e "$T/hp.stop" ]; do
		tcpflow-sock churn 20 127.0.0.1 9800; done' >"$T/hp.churn" 2>&1 3>&- &
	churn=$!
	for i in $(seq 100); do
		echo 0 >/sys/devices/system/cpu/cpu1/online
		[ "$(cat /sys/devices/system/cpu/online)" = 0 ]
		sleep 0.02
		echo 1 >/sys/devices/system/cpu/cpu1/online
		[ "$(cat /sys/devices/system/cpu/online)" = 0-1 ]
		sleep 0.02
	done
	touch "$T/hp.stop"
	wait "$churn"
	made=$(awk -F'[= ]' '{ n += $2 } END { print n }' "$T/hp.churn")
	[ "$(grep -vc '^connected=20 failed=0$' "$T/hp.churn")" = 0 ]
	echo "# $made connections during the hotplug cycles" >&3
	ip netns exec hp cat /proc/tcpflow >"$T/hp.proc"
	head -n 1 /proc/tcpflow | sed 's/^/# /' >&3
	check_histories "$T/hp.proc" >"$T/hp.check" || true
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
	[ "$(grep -c '^conn .* client ' "$T/hp.proc")" = "$made" ]
	[ "$(grep -c '^conn .* server ' "$T/hp.proc")" -ge $((made - 1)) ]
	run check_histories "$T/hp.proc"
	echo "$output" | head -n 5 | sed 's/^/# /' >&3
	[ "$status" = 0 ]
	# Each client: SYN_SENT, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, then
	# TIME_WAIT or (no timewait bucket) CLOSE, and CLOSE after TIME_WAIT.
	[ "$(awk '/^conn / { c = ($3 == "client") } c && /^  \+/ && $3 == "->" { print $2 ">" $4 }' "$T/hp.proc" |
		grep -cvE '^(CLOSE>SYN_SENT|SYN_SENT>ESTABLISHED|ESTABLISHED>FIN_WAIT1|FIN_WAIT1>FIN_WAIT2|FIN_WAIT2>TIME_WAIT|FIN_WAIT2>CLOSE|TIME_WAIT>CLOSE)$')" = 0 ]
}

reader_events() {
	sed '1,/^SYNC$/d' "$1" | grep -cE '^(EVENT|SEGMENT)'
}

events_are() {
	[ "$(reader_events "$T/hp.read")" = "$1" ] && [ "$(reader_events "$T/hp.poll")" = "$1" ]
}

@test "readers blocked in read() and poll() get every event of 3000 connections" {
	tf_load max_conns=16384 ring_events=65536
	ns=$(tf_netns_inode hp)
	# Both readers see only the churn's netns: the count is exact.
	tcpflow-devtest open filter 1 "$ns" 0 0 snapshot touch "$T/hp.r1" next 1000000000 >"$T/hp.read" 3>&- &
	tcpflow-devtest open filter 1 "$ns" 0 0 snapshot touch "$T/hp.r2" poll-loop >"$T/hp.poll" 3>&- &
	tf_wait_for 10 test -e "$T/hp.r1" -a -e "$T/hp.r2"
	tf_aborted hp 9801 3000	# the readers read on until killed
	ip netns exec hp cat /proc/tcpflow >"$T/hp.proc"
	want=$(grep -c '^  +' "$T/hp.proc")
	[ "$(grep -c '^conn ' "$T/hp.proc")" = 6001 ]
	tf_wait_for 30 events_are "$want"
	sleep 0.5
	events_are "$want"
	[ "$(grep -c '^LOSS' "$T/hp.read" "$T/hp.poll" | awk -F: '{ n += $2 } END { print n }')" = 0 ]
	# The same records in the same order for both.
	cmp <(sed '1,/^SYNC$/d' "$T/hp.read") <(sed '1,/^SYNC$/d' "$T/hp.poll")
}
