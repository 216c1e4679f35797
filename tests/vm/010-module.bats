#!/usr/bin/env bats
# The module loads, attaches, shows /proc/tcpflow, refuses bad parameters
# and leaves nothing behind.

load helpers

teardown() {
	tf_unload
}

@test "insmod creates /proc/tcpflow with a header line" {
	tf_load
	run head -n 1 /proc/tcpflow
	[ "$status" -eq 0 ]
	[[ $output =~ ^tcpflow\ [0-9.]+\ abi\ 1:\ [0-9]+\ connections\ \([0-9]+\ live,\ [0-9]+\ closed\)\ of\ 8192,\ 0\ untracked,\ 0\ evicted,\ 0\ events\ dropped$ ]]
}

@test "the module attaches to sock:inet_sock_set_state and its kprobes" {
	tf_load
	grep -q 'tcp_twsk_destructor' /sys/kernel/debug/kprobes/list
	grep -q 'inet_twsk_alloc' /sys/kernel/debug/kprobes/list
	grep -q 'tcp_timewait_state_process' /sys/kernel/debug/kprobes/list
	grep -q 'security_sock_graft' /sys/kernel/debug/kprobes/list
}

@test "rmmod removes /proc/tcpflow and every probe" {
	tf_load
	rmmod tcpflow
	[ ! -e /proc/tcpflow ]
	run grep -c -e tcp_twsk_destructor -e inet_twsk_alloc \
		-e tcp_timewait_state_process -e security_sock_graft \
		/sys/kernel/debug/kprobes/list
	[ "$output" = 0 ]
}

@test "module parameters are shown and out-of-range values are refused" {
	tf_load max_conns=100 max_events=8
	[ "$(cat /sys/module/tcpflow/parameters/max_conns)" = 100 ]
	[ "$(cat /sys/module/tcpflow/parameters/max_events)" = 8 ]
	rmmod tcpflow

	for bad in max_conns=15 max_conns=1048577 max_events=3 \
		   max_events=1025 max_conns=abc max_events=-1; do
		dmesg -C
		run insmod "$TCPFLOW_KO" "$bad"
		[ "$status" -ne 0 ]
		run ! grep -q '^tcpflow ' /proc/modules
		run dmesg
		[[ $output == *"tcpflow: ${bad%%=*}=${bad#*=}: must be an integer from "* ]]
	done
}

@test "a combination of parameters over a quarter of RAM is refused, a large one within loads" {
	local quarter cpus
	quarter=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 4))
	cpus=$(tf_possible_cpus)
	dmesg -C
	# 1048576 * (360 + 32 * 1024) + 2 * 8 MiB + 4096 * 200 bytes a CPU.
	run insmod "$TCPFLOW_KO" max_conns=1048576 max_events=1024
	[ "$status" -ne 0 ]
	dmesg -t | grep -qxF "tcpflow: max_conns=1048576 max_events=1024 ring_events=4096: need $((33939456 + 800 * cpus)) KiB, more than a quarter of RAM ($quarter KiB)"
	run grep -c '^tcpflow ' /proc/modules
	[ "$output" = 0 ]
	[ "$(tf_vmalloc_bytes)" = 0 ]
	# 131072 * (360 + 32 * 32) + 2 * 1 MiB + 65536 * 200 bytes a CPU.
	tf_load max_conns=131072 ring_events=65536
	dmesg -t | grep -qx "tcpflow: version [0-9.]* loaded: 131072 connections x 32 events, 65536 live events a CPU, $((179200 + 12800 * cpus)) KiB"
	[ $((179200 + 12800 * cpus)) -le "$quarter" ]
	rmmod tcpflow
	[ "$(tf_vmalloc_bytes)" = 0 ]
}

@test "parameters cannot be changed through sysfs once loaded" {
	tf_load
	run sh -c 'echo 32 > /sys/module/tcpflow/parameters/max_conns'
	[ "$status" -ne 0 ]
	[ "$(cat /sys/module/tcpflow/parameters/max_conns)" = 8192 ]
}

@test "a loopback connection appears in /proc/tcpflow" {
	tf_load
	tf_listen 7001 tcpflow-sock listen 127.0.0.1 7001 accept recv-eof close
	tcpflow-sock bind 127.0.0.1 7002 connect 127.0.0.1 7001 send 10 close
	wait
	run tf_conn 7002 7001
	[[ $output == "conn "*" client 127.0.0.1:7002 127.0.0.1:7001 "* ]]
}

@test "reload after rmmod works and starts a fresh table" {
	tf_load
	tcpflow-sock listen 127.0.0.1 7003 close-listener
	[ -n "$(tf_conn 7003 0)" ]
	rmmod tcpflow
	tf_load
	[ -z "$(tf_conn 7003 0)" ]
}
