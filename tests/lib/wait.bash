# shellcheck shell=bash
# Waiting on a condition, never a fixed sleep; processes; talking to the
# terminal.

# tf_say LINE...: print for people, on the terminal (bats's fd 3).
tf_say() {
	printf '%s\n' "$@" >&3
}

# tf_wait_for TIMEOUT_SECS CMD [ARGS...]: run CMD until it succeeds or the
# timeout passes (then fail, naming CMD). Polls every 50 ms.
tf_wait_for() {
	local timeout=$1 deadline
	shift
	deadline=$((SECONDS + timeout))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "tf_wait_for: timed out after ${timeout}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# tf_pid_done PID: the process has exited (a zombie counts).
tf_pid_done() {
	[[ ! -e /proc/$1/stat ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

# tf_file_nonempty FILE: FILE exists and is not empty.
tf_file_nonempty() {
	[[ -s $1 ]]
}

# tf_as_nobody [-n NETNS] CMD...: run CMD as nobody (uid and gid 65534, no
# supplementary groups), in NETNS when it is not empty.
tf_as_nobody() {
	local pre=()
	if [[ $1 == -n ]]; then
		[[ -z $2 ]] || pre=(ip netns exec "$2")
		shift 2
	fi
	"${pre[@]}" setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}

# tf_has_open PID PATH: process PID has PATH open.
tf_has_open() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd")" = "$2" ] && return 0
	done
	return 1
}
