# The helpers of the guest tests: the one file the suites load (`load
# helpers`; tests/reliability, tests/demo and tests/bench link to it). It
# sources the library in tests/lib, one file per concern:
#   wait.bash     tf_wait_for and other conditions to wait on, tf_say,
#                 tf_as_nobody
#   proc.bash     readers of /proc/tcpflow (tf_conn, tf_conn_id,
#                 tf_conn_block, tf_history, tf_state, tf_segments,
#                 tf_header_count...), counters, vmalloc
#   sock.bash     ss's view of sockets, servers the tests start (tf_listen,
#                 tf_serve_done)
#   oracle.bash   the tracefs oracle (tf_trace_start, tf_trace_history...)
#   netns.bash    namespaces (tf_netns_add), veth pairs, the router topology
#   capture.bash  tcpdump captures and tf_seg_check against them
#   module.bash   tf_load, tf_unload, tf_scaled, tf_end_test
#
# Start background processes with `3>&-` (cmd 3>&- &): bats waits for every
# holder of its fd 3 to exit, so a leaked one hangs the run until the
# harness timeout. Kill what you start in teardown.
#
# A bare `! cmd` line asserts nothing: bash exempts a negated pipeline from
# set -e, so it fails a test only as the last command of the test or of a
# function. Write `run ! cmd` in a test and `! cmd || false` in a helper
# (scripts/style.sh rejects the bare form).

bats_require_minimum_version 1.5.0	# run ! CMD

# The library is tests/lib, beside this file's directory. In the guest
# scripts/vm-test.sh installs it as /tests/lib: one level up from a suite's
# copy of this file (/tests/vm/helpers.bash), beside a lone test file's
# (/tests/helpers.bash).
TF_LIB=$(dirname "${BASH_SOURCE[0]}")/../lib
[[ -f $TF_LIB/wait.bash ]] || TF_LIB=$(dirname "${BASH_SOURCE[0]}")/lib
# shellcheck source=tests/lib/wait.bash
. "$TF_LIB/wait.bash"
# shellcheck source=tests/lib/proc.bash
. "$TF_LIB/proc.bash"
# shellcheck source=tests/lib/sock.bash
. "$TF_LIB/sock.bash"
# shellcheck source=tests/lib/oracle.bash
. "$TF_LIB/oracle.bash"
# shellcheck source=tests/lib/netns.bash
. "$TF_LIB/netns.bash"
# shellcheck source=tests/lib/capture.bash
. "$TF_LIB/capture.bash"
# shellcheck source=tests/lib/module.bash
. "$TF_LIB/module.bash"

# T: this test's own directory for temporary files (bats's
# BATS_TEST_TMPDIR, removed after the run), exported for the `bash -c`
# scripts a test starts. Tests hand files in it to processes run as nobody,
# so it and the directories above it are opened to them: the guest is the
# tests' own.
if [[ -n ${BATS_TEST_TMPDIR:-} ]]; then
	export T=$BATS_TEST_TMPDIR
	chmod 0755 "$BATS_RUN_TMPDIR" "$BATS_RUN_TMPDIR/test"
	chmod 1777 "$T"
fi
