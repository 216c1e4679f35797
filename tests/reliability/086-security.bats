#!/usr/bin/env bats
# Security: the device is root's, a namespace sees only itself, no output
# carries a kernel address, an unprivileged user changes nothing.

load helpers

setup() {
	tf_load
	ip netns add sa
	ip -n sa link set lo up
}

teardown() {
	tf_dump_on_failure
	pkill -f tcpflow-sock || true
	ip netns del sa 2>/dev/null || true
	rm -f "$T/se".*
	tf_unload
}

nobody() {
	setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}

# Some traffic, IPv4 and IPv6, in the initial netns and in sa.
traffic() {
	local ns
	for ns in "" sa; do
		${ns:+ip netns exec $ns} tcpflow-sock listen 127.0.0.1 9700 accept recv-eof close 3>&- &
		tf_wait_for 10 tf_tcp_listening 9700 $ns
		${ns:+ip netns exec $ns} tcpflow-sock connect 127.0.0.1 9700 send 100 close
		wait
		${ns:+ip netns exec $ns} tcpflow-sock listen ::1 9701 accept recv-eof close 3>&- &
		tf_wait_for 10 tf_tcp_listening 9701 $ns
		${ns:+ip netns exec $ns} tcpflow-sock connect ::1 9701 send 100 close
		wait
	done
}

@test "an unprivileged user can open /dev/tcpflow in no mode" {
	[ "$(stat -c '%a %U %G' /dev/tcpflow)" = "600 root root" ]
	for op in open open-nb; do
		run nobody tcpflow-devtest $op
		[ "$output" = "open EACCES" ]
	done
	run nobody bash -c 'exec 5<>/dev/tcpflow'
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	run nobody tcpflowctl
	[ "$status" = 1 ]
}

@test "an unprivileged user changes no counter, parameter or filter" {
	traffic
	before=$(tcpflow-devtest open counters)
	run nobody bash -c 'echo 16 >/sys/module/tcpflow/parameters/max_conns'
	[[ $output == *"Permission denied"* ]]
	run nobody bash -c 'echo x >/proc/tcpflow'
	[[ $output == *"Permission denied"* ]]
	run nobody tcpflow-devtest open filter 2 0 9700 0
	[ "$output" = "open EACCES" ]
	[ "$(tcpflow-devtest open counters)" = "$before" ]
	[ "$(cat /sys/module/tcpflow/parameters/max_conns)" = 8192 ]
	# A descriptor root opened and handed down: its filter only narrows
	# that reader's own view; the other readers and the counters are
	# untouched.
	run nobody tcpflow-devtest fd 5 filter 2 0 9700 0 snapshot 5</dev/tcpflow
	[ "${lines[0]}" = "filter ok" ]
	[ "$(printf '%s\n' "${lines[@]}" | grep '^CONN' | awk '$4 != 9700 && $5 != 9700' | wc -l)" = 0 ]
	[ "$(tcpflow-devtest open counters)" = "$before" ]
	[ "$(tcpflow-devtest open snapshot | grep -c '^CONN')" = "$(tf_header_count connections)" ]
}

@test "a child netns sees only itself, in /proc/tcpflow, on the device and through tcpflowctl, whatever the filter" {
	traffic
	ns=$(tf_netns_inode sa)
	init=$(stat -L -c %i /proc/1/ns/net)
	ip netns exec sa cat /proc/tcpflow >"$T/se.proc"
	[ "$(grep -c '^conn ' "$T/se.proc")" = 6 ]
	[ "$(grep '^conn ' "$T/se.proc" | grep -vc " netns=$ns ")" = 0 ]
	# Root or not, in the child netns.
	ip netns exec sa setpriv --reuid 65534 --regid 65534 --clear-groups cat /proc/tcpflow >"$T/se.nobody"
	[ "$(grep -c '^conn ' "$T/se.nobody")" = 6 ]
	[ "$(grep '^conn ' "$T/se.nobody" | grep -vc " netns=$ns ")" = 0 ]
	run ip netns exec sa tcpflow-devtest open snapshot
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^CONN')" = 6 ]
	# Asking for the initial netns by filter widens nothing.
	run ip netns exec sa tcpflow-devtest open filter 1 "$init" 0 0 snapshot
	[ "${lines[0]}" = "filter ok" ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^CONN')" = 0 ]
	run ip netns exec sa tcpflowctl -a -H -j
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .netns | sort -u)" = "$ns" ]
	[ "${#lines[@]}" = 6 ]
}

@test "no kernel address in /proc/tcpflow, tcpflowctl output or the raw records" {
	traffic
	cat /proc/tcpflow >"$T/se.proc"
	tcpflowctl -a >"$T/se.list"
	tcpflowctl -a -j >"$T/se.json"
	tcpflowctl stats -j >"$T/se.stats"
	tcpflowctl dump >"$T/se.rec"
	tcpflowctl -f "$T/se.rec" dump -j >"$T/se.dumpj"
	ids=$(awk '/^conn / { print $2 }' "$T/se.proc")
	for id in $ids; do tcpflowctl show "$id"; tcpflowctl -j show "$id"; done >"$T/se.show"
	[ "$(grep -c '^conn ' "$T/se.proc")" -ge 12 ]
	[ -s "$T/se.rec" ] && [ -s "$T/se.json" ] && [ -s "$T/se.show" ]
	# Text: nothing shaped like a kernel pointer (sk= is a socket cookie).
	[ "$(cat "$T/se.proc" "$T/se.list" "$T/se.json" "$T/se.stats" "$T/se.dumpj" "$T/se.show" |
		grep -ciE 'ffff[0-9a-f]{12}')" = 0 ]
	# Binary: no aligned 64-bit word whose top 16 bits are set.
	[ $(($(stat -c %s "$T/se.rec") % 8)) = 0 ]
	[ "$(od -An -v -tx8 -w8 "$T/se.rec" | grep -c '^ ffff')" = 0 ]
	# The same on the raw device, read directly.
	dd if=/dev/tcpflow bs=65536 count=4 iflag=nonblock status=none >"$T/se.raw" 2>/dev/null || true
	[ -s "$T/se.raw" ]
	[ "$(od -An -v -tx8 -w8 "$T/se.raw" | grep -c '^ ffff')" = 0 ]
	# And the kernel log of the module.
	[ "$(dmesg | grep tcpflow | grep -ciE 'ffff[0-9a-f]{12}')" = 0 ]
}
