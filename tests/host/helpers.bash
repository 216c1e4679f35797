# shellcheck shell=bash
# shellcheck disable=SC2154 # $output, $status, $stderr: set by bats run
# Helpers for the host tests of tcpflowctl: no module, no VM.  Fixtures are
# record streams written by fixture-gen.c exactly as the ABI describes them.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
TCPFLOWCTL=${TCPFLOWCTL:-$REPO/build/tools/tcpflowctl}

# setup_file: build tcpflowctl (unless TCPFLOWCTL names one) and the fixtures
# (tf_build_fixtures [CGROUP_ID...]: fixture-gen's arguments after DIR).
tf_build_fixtures() {
	if [[ $TCPFLOWCTL == "$REPO/build/tools/tcpflowctl" ]]; then
		make -s -C "$REPO" "$TCPFLOWCTL" >&2
	fi
	FIXTURES=$BATS_FILE_TMPDIR/fixtures
	mkdir -p "$FIXTURES"
	cc -O2 -Wall -Wextra -Werror -std=gnu11 -I"$REPO/include/uapi" \
		-o "$BATS_FILE_TMPDIR/fixture-gen" "$BATS_TEST_DIRNAME/fixture-gen.c"
	"$BATS_FILE_TMPDIR/fixture-gen" "$FIXTURES" "$@"
	export FIXTURES TCPFLOWCTL
}

# run_tool [EXPECTED_STATUS] ARGS...: run tcpflowctl, stdout in $output,
# stderr in $stderr, and fail unless it exits EXPECTED_STATUS (default 0).
run_tool() {
	local expected=0

	if [[ $1 =~ ^[0-9]+$ ]]; then
		expected=$1
		shift
	fi
	run --separate-stderr "$TCPFLOWCTL" "$@"
	echo "\$ tcpflowctl $*"
	echo "$output"
	[[ -z $stderr ]] || echo "stderr: $stderr"
	if [[ $status -ne $expected ]]; then
		echo "exit status $status, expected $expected"
		return 1
	fi
}

# expect_output TEXT: $output is exactly TEXT, with a diff if not.
expect_output() {
	if [[ $output != "$1" ]]; then
		diff -u <(printf '%s\n' "$1") <(printf '%s\n' "$output") || true
		return 1
	fi
}

# line N: line N of $output, as printed (bats' $lines drops leading blanks).
line() {
	sed -n "${1}p" <<<"$output"
}

# The local port range headroom leaks computes: "FREE of TOTAL".
tf_ports_free() {
	local lo hi

	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	echo "$((hi - lo + 1 - $1)) of $((hi - lo + 1))"
}
