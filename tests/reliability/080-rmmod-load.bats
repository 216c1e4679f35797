#!/usr/bin/env bats
# rmmod under load: 50 cycles of insmod / traffic / rmmod while connections
# open and close in three network namespaces and readers hold /dev/tcpflow
# (blocked in read) and /proc/tcpflow open.  Decided behaviour: an open
# /dev/tcpflow pins the module (rmmod: EBUSY until the reader closes); a
# /proc/tcpflow reader that kept the file open across rmmod gets EIO.

load helpers

NSS=(rl1 rl2 rl3)

setup() {
	local ns i=0
	tf_unload
	rm -rf "$T/rl" && mkdir -p "$T/rl"
	for ns in "${NSS[@]}"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# Keep the timewait sockets few: each load seeds every one.
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=64
		ip netns exec "$ns" taskset -c 0 tcpflow-sock listen 127.0.0.1 $((9500 + i)) serve 100000000 3>&- &
		tf_wait_for 10 tf_tcp_listening $((9500 + i)) "$ns"
		# Graceful closes in two namespaces, resets in the third.
		if ((i < 2)); then mode=churn; else mode=churn-abort; fi
		# Paced (about 40 connections a second each): the emulated
		# guest's two CPUs must leave room for the load cycles.
		ip netns exec "$ns" taskset -c 0 bash -c "while [ ! -e "$T/rl/stop" ]; do
			tcpflow-sock $mode 10 127.0.0.1 $((9500 + i)); sleep 0.2; done" >"$T/rl/churn.$ns" 2>&1 3>&- &
		i=$((i + 1))
	done
}

teardown() {
	tf_dump_on_failure
	touch "$T/rl/stop"
	pkill -f tcpflow-devtest || true
	pkill -f 'cat /proc/tcpflow' || true
	sleep 0.2
	pkill -f tcpflow-sock || true
	for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	tf_unload
}

@test "50 insmod/rmmod cycles under churn with readers open: EBUSY, EIO, nothing left" {
	# Everything on CPU 0, as in 015: QEMU's software emulation can run a
	# stale copy of kernel text the other vCPU is patching as the hooks
	# come and go ("Oops: int3" in __ip_local_out on 6.12, 2026-11-29).
	taskset -cp 0 $$ >/dev/null
	[ "$(grep -c tcpflow /proc/vmallocinfo)" = 0 ]
	# Few processes per cycle: each fork and exec is slow in the emulated
	# guest, and bash builtins ([[ ]], $(<file), :>file) are not.
	for cycle in $(seq 50); do
		rm -f "$T/rl/dev".* "$T/rl/proc".* "$T/rl/go"
		tf_load
		# A /dev reader blocked in read after its snapshot and its first
		# live record, a /proc reader with the file open part-read, and
		# a loop of whole-file /proc readers.
		tcpflow-devtest open snapshot next 1 touch "$T/rl/dev.live" next 1000000000 >"$T/rl/dev.out" 3>&- &
		dev=$!
		tcpflow-devtest -d /proc/tcpflow open read-raw 100 touch "$T/rl/proc.opened" \
			wait "$T/rl/go" read-raw 4096 read-raw 4096 >"$T/rl/proc.out" 3>&- &
		proc=$!
		(while [[ ! -e "$T/rl/go" ]]; do cat /proc/tcpflow >/dev/null 2>&1 || :; sleep 0.1; done) 3>&- &
		catter=$!
		# The blocked reader was woken by the churn.
		tf_wait_for 20 test -e "$T/rl/dev.live" -a -e "$T/rl/proc.opened"
		run rmmod tcpflow
		[ "$status" -ne 0 ]
		[[ $output == *"in use"* ]]
		[[ $(</proc/modules) == *"tcpflow "* ]]
		[ -c /dev/tcpflow ]
		kill "$dev"
		wait "$dev" || true
		rmmod tcpflow
		[[ $(</proc/modules) != *"tcpflow "* ]]
		[ ! -e /dev/tcpflow ]
		[ ! -e /proc/tcpflow ]
		: >"$T/rl/go"
		wait "$proc"
		wait "$catter"
		[ "$(<"$T/rl/proc.out")" = "read 100
read EIO
read EIO" ]
		[[ $(</proc/vmallocinfo) != *tcpflow* ]]
	done
	: >"$T/rl/stop"
	sleep 0.5
	# The traffic never failed: every churn batch connected every time.
	for ns in "${NSS[@]}"; do
		[ "$(grep -c . "$T/rl/churn.$ns")" -gt 0 ]
		[ "$(grep -vc '^connected=10 failed=0$' "$T/rl/churn.$ns")" = 0 ]
	done
	[ "$(grep -c tcpflow /proc/vmallocinfo)" = 0 ]
	[ "$(grep -c '^tcpflow ' /proc/modules)" = 0 ]
	[ "$(grep -c tcpflow /proc/slabinfo)" = 0 ]
}
