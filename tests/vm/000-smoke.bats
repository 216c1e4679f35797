#!/usr/bin/env bats
# Smoke test of the guest userland the VM harness (scripts/vm-test.sh) builds.

load helpers

setup() {
	TMP=$(mktemp -d)
}

teardown() {
	[[ -n ${BG_PID:-} ]] && kill "$BG_PID" 2>/dev/null
	ip netns del smoke-a 2>/dev/null || true
	ip netns del smoke-b 2>/dev/null || true
	rm -rf "$TMP"
}

@test "bash runs from /bin/bash and /usr/bin/bash, sh from /bin/sh" {
	run /bin/bash -c 'echo "$BASH_VERSION"'
	[ "$status" -eq 0 ]
	run /usr/bin/bash -c 'echo ok'
	[ "$output" = ok ]
	run /bin/sh -c 'echo ok'
	[ "$output" = ok ]
}

@test "kernel under test is the one the harness named" {
	[ -n "$TCPFLOW_KERNEL" ]
	[ "$(uname -r)" = "$TCPFLOW_KERNEL" ]
}

@test "TCPFLOW_KO is present but not loaded" {
	[ -f "$TCPFLOW_KO" ]
	run modinfo -F vermagic "$TCPFLOW_KO"
	[ "$status" -eq 0 ]
	[[ $output == "$TCPFLOW_KERNEL "* ]]
	run grep -q '^tcpflow ' /proc/modules
	[ "$status" -ne 0 ]
}

@test "the guest holds the tc static keys on (vm-init.sh's pin_keys)" {
	[[ $(tc qdisc show dev tfkeys0) == *"qdisc clsact "* ]]
	[[ $(tc filter show dev tfkeys0 ingress) == *matchall* ]]
	[[ $(tc filter show dev tfkeys0 egress) == *matchall* ]]
}

@test "veth pair between two network namespaces comes up" {
	tf_veth_pair smoke-a smoke-b 10.99.0.1 10.99.0.2
	run ip netns exec smoke-a ip link show va
	[[ $output == *"state UP"* ]] || tf_wait_for 5 bash -c 'ip -n smoke-a link show va | grep -q "state UP"'
	tf_wait_for 5 bash -c 'ip -n smoke-b link show vb | grep -q "state UP"'
	grep -q '^veth ' /proc/modules
}

@test "TCP across the veth pair with socat" {
	tf_veth_pair smoke-a smoke-b 10.99.0.1 10.99.0.2
	tf_listen -n smoke-b 5001 socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$TMP/got,creat"
	BG_PID=$TF_LISTEN_PID
	echo across | ip netns exec smoke-a socat -u - TCP:10.99.0.2:5001,connect-timeout=5
	wait "$BG_PID"
	BG_PID=
	[ "$(cat "$TMP/got")" = across ]
}

@test "tracefs has sock/inet_sock_set_state" {
	[ -d /sys/kernel/tracing/events/sock/inet_sock_set_state ]
	[ -r /sys/kernel/tracing/events/sock/inet_sock_set_state/format ]
}

@test "socat loopback connection" {
	tf_listen 5000 socat -u TCP-LISTEN:5000,bind=127.0.0.1,reuseaddr "OPEN:$TMP/got,creat"
	BG_PID=$TF_LISTEN_PID
	echo hello | socat -u - TCP:127.0.0.1:5000
	wait "$BG_PID"
	BG_PID=
	[ "$(cat "$TMP/got")" = hello ]
}

@test "tcpdump captures a loopback packet" {
	tcpdump -D
	tcpdump -i lo -n -c 1 -w "$TMP/cap.pcap" 'tcp port 5002' 2>"$TMP/tcpdump.err" 3>&- &
	BG_PID=$!
	tf_wait_for 5 grep -q 'listening on' "$TMP/tcpdump.err"
	tf_listen 5002 socat -u TCP-LISTEN:5002,bind=127.0.0.1,reuseaddr /dev/null
	local srv=$TF_LISTEN_PID
	echo x | socat -u - TCP:127.0.0.1:5002
	wait "$srv"
	wait "$BG_PID"
	BG_PID=
	run tcpdump -n -r "$TMP/cap.pcap"
	[ "$status" -eq 0 ]
	[[ $output == *"127.0.0.1"* ]]
}

@test "modprobe loads modules from the image (compressed or not)" {
	modprobe sch_netem
	modprobe cls_flower
	tc qdisc add dev lo root netem delay 1ms
	tc qdisc del dev lo root
	grep -q '^sch_netem ' /proc/modules
}

@test "build/tools executables, jq and busybox are on PATH" {
	local f
	for f in /usr/local/bin/*; do
		[ -x "$f" ]
		command -v "${f##*/}"
	done
	command -v jq
	command -v busybox
	command -v poweroff
}
