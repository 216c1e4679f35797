# shellcheck shell=bash
# The module under test: loading it, unloading it, and how a test ends.

# tf_load [PARAM=VALUE...]: load the module under test.
tf_load() {
	insmod "$TCPFLOW_KO" "$@"
}

# tf_unload: unload it if loaded (safe in teardown).
tf_unload() {
	if grep -q '^tcpflow ' /proc/modules; then
		rmmod tcpflow
	fi
}

# tf_possible_cpus: how many CPUs the kernel could bring up, each with its
# own ring (num_possible_cpus(): the size of the "possible" mask, which may
# hold ranges and single CPUs, e.g. 0-3,6).
tf_possible_cpus() {
	awk -F, '{
		for (i = 1; i <= NF; i++) {
			n = split($i, r, "-")
			cpus += n == 2 ? r[2] - r[1] + 1 : 1
		}
	} END { print cpus }' /sys/devices/system/cpu/possible
}

# tf_scaled N: N, or N/10 on the debug kernel, where KASAN and lockdep
# under emulation make each connection about ten times dearer.  For counts
# whose size is not what a test is about.
tf_scaled() {
	if [[ $(uname -r) == *-tcpflow-debug ]]; then
		echo $(($1 / 10))
	else
		echo "$1"
	fi
}

# tf_nothing_left: the module is gone and left nothing behind: no module,
# no /dev/tcpflow or /proc/tcpflow, no sysfs directory, no vmalloc'ed
# memory and none of its kprobes (for tf_wait_for, or as an assertion).
tf_nothing_left() {
	[ "$(grep -c '^tcpflow ' /proc/modules)" = 0 ] &&
		[ ! -e /dev/tcpflow ] && [ ! -e /proc/tcpflow ] &&
		[ ! -e /sys/module/tcpflow ] &&
		[ "$(tf_vmalloc_bytes)" = 0 ] &&
		[ "$(grep -c -e tcp_twsk_destructor -e inet_twsk_alloc \
			-e tcp_timewait_state_process -e security_sock_graft \
			/sys/kernel/debug/kprobes/list)" = 0 ]
}

# tf_dump_on_failure: in teardown, show what tcpflow and the kernel recorded
# when the test failed (as TAP comments).
tf_dump_on_failure() {
	[[ -z ${BATS_TEST_COMPLETED:-} ]] || return 0
	{
		# The first lines: a table of 200,000 would take the console
		# an hour.
		[[ -r /proc/tcpflow ]] && head -n 400 /proc/tcpflow
		grep -h inet_sock_set_state "$TF_TRACEFS/trace" 2>/dev/null |
			sed 's/.*inet_sock_set_state: //' | tail -n 60
	} | sed 's/^/# /' >&3
}

# tf_end_test: how a teardown begins: the dump of a failed test, then no
# tracing and no test program left running.
tf_end_test() {
	tf_dump_on_failure
	tf_trace_stop
	pkill -f tcpflow-sock || true
	pkill -f tcpflow-devtest || true
}
