#!/usr/bin/env bats
# Init failing at each of its steps (the test module's fail_init=, see
# module/fault.c) undoes exactly what was done: the insmod fails with the
# step's error and says which step failed, and nothing stays behind: no
# file, no module, no vmalloc, no hook (a hook left behind, or a table
# freed under one, would crash the churn running meanwhile, which slab
# debugging and init_on_free make loud).  The release module has no trace
# of fault injection.

load helpers

teardown() {
	tf_dump_on_failure
	tf_churn_stop if
	pkill -f tcpflow-sock || true
	ip netns del if 2>/dev/null || true
	tf_unload
}

@test "the release module has no fault injection, the test module has" {
	run modinfo -F parm "$TCPFLOW_KO"
	[ "$status" = 0 ]
	[[ $output == *"max_conns:"* ]]
	[[ $output != *"fail_init"* ]]
	[[ $output != *"drop_close_port"* ]]
	[[ $output != *"key_seed"* ]]
	# (tcpflow_key_seed is a variable of every build: its parameter is not.)
	run grep -c -a -e fail_init -e drop_close_port -e parmtype=key_seed -e 'fault injected' "$TCPFLOW_KO"
	[ "$output" = 0 ]
	run modinfo -F parm "$TCPFLOW_KO_FAULT"
	[[ $output == *"fail_init:test builds only: the init step to fail (string)"* ]]
	[[ $output == *"drop_close_port:test builds only: ignore the CLOSE of connections on this port (ushort)"* ]]
	# Without a fault to inject, the test module is the module.
	insmod "$TCPFLOW_KO_FAULT"
	[ -e /proc/tcpflow ] && [ -e /dev/tcpflow ]
	rmmod tcpflow
	tf_nothing_left
}

# Connections in netns if meanwhile (tf_churn_start): the hooks run while a
# failing init unwinds. All on CPU 0, with the insmod: registering and unregistering the hooks
# patches kernel text (the tracepoint's static key, ftrace call sites) with
# int3, and QEMU's software emulation has been seen to run a stale copy of
# code another vCPU patched at that moment ("Oops: int3" in
# inet_sk_state_store on 6.12, a jump to 0 on 6.1, both in CI, on the
# churn's CPU while insmod unwound on the other; KERNEL-FACTS.md).  On one
# CPU the churn still runs between the steps of an unwinding init (it
# sleeps in synchronize_rcu() and friends), which is what this test needs.
@test "init failing at each step undoes every step before it, under churn" {
	local s step errno msg seeded
	tf_nothing_left
	tf_churn_start if 9650 taskset -c 0
	# STEP:ERRNO:what insmod says (kmod words ENOENT its own way); in
	# init order (module/main.c).
	for s in "table:-12:Cannot allocate memory" \
		 "view:-12:Cannot allocate memory" \
		 "ring:-12:Cannot allocate memory" \
		 "hooks:-2:Unknown symbol in module" \
		 "segments:-12:Cannot allocate memory" \
		 "proc:-12:Cannot allocate memory" \
		 "dev:-16:Device or resource busy"; do
		IFS=: read -r step errno msg <<<"$s"
		dmesg -C
		run taskset -c 0 insmod "$TCPFLOW_KO_FAULT" fail_init=$step
		[ "$status" -ne 0 ]
		[[ $output == *": $msg"* ]] || { echo "# $step: $output" >&3; false; }
		dmesg -t | grep -qxF "tcpflow: fault injected: $step fails with $errno"
		dmesg -t | grep -qxF "tcpflow: not loaded: $step failed: $errno"
		# The walk of existing connections runs after the hooks and
		# before the files: the proof that the steps before ran.
		seeded=$(dmesg -t | grep -c '^tcpflow: [0-9]* connections existed at load$' || true)
		case $step in
		proc | dev) [ "$seeded" = 1 ] ;;
		*) [ "$seeded" = 0 ] ;;
		esac
		run dmesg -t
		[[ $output != *"tcpflow: version"*"loaded:"* ]]
		tf_nothing_left || { echo "# $step left: $(grep tcpflow /proc/vmallocinfo /proc/modules)" >&3; false; }
	done
	tf_churn_stop if

	# The release module loads afterwards and records a connection.
	tf_load
	tf_client_closes 9651 9652
	# It reached TIME_WAIT (tf_client_closes waits for that); a stale ACK
	# of the server's may already have ended it (RFC 1337, see 020).
	[[ $(tf_conn 9652 9651) == "conn "*" client 127.0.0.1:9652 127.0.0.1:9651 "* ]]
	[ -e /dev/tcpflow ]
	rmmod tcpflow
	tf_nothing_left
}

@test "a kernel without a probed function is refused at insmod with the function's name" {
	local f
	tf_nothing_left
	tf_churn_start if 9650 taskset -c 0
	# In registration order (module/hooks.c): each one fails after the
	# probes before it were registered, which must be undone.
	for f in inet_twsk_alloc tcp_timewait_state_process \
		 tcp_twsk_destructor security_sock_graft; do
		dmesg -C
		run taskset -c 0 insmod "$TCPFLOW_KO_FAULT" hide_probe=$f
		[ "$status" -ne 0 ]
		run dmesg -t
		[[ $output == *"tcpflow: this kernel has no $f() to probe"* ]] ||
			{ echo "# $f: $output" >&3; false; }
		[[ $output == *"tcpflow: not loaded: hooks failed: -2"* ]]
		tf_nothing_left || { echo "# $f left: $(grep tcpflow /proc/modules; cat /sys/kernel/debug/kprobes/list)" >&3; false; }
	done
	[[ $output == *"(it needs CONFIG_SECURITY_NETWORK)"* ]]
	tf_churn_stop if
}

@test "the tuple hash has a new random seed at each load" {
	local a b
	insmod "$TCPFLOW_KO_FAULT"
	a=$(cat /sys/module/tcpflow/parameters/key_seed)
	rmmod tcpflow
	insmod "$TCPFLOW_KO_FAULT"
	b=$(cat /sys/module/tcpflow/parameters/key_seed)
	rmmod tcpflow
	# 0 was the seed before: the peer knew it.  Two draws of 32 random
	# bits are equal once in four billion loads.
	[ "$a" != 0 ] && [ "$b" != 0 ]
	[ "$a" != "$b" ]
}
