# Shared helpers for the guest tests (tests/vm). Loaded with `load helpers`.
#
# Start background processes with `3>&-` (cmd 3>&- &): bats waits for every
# holder of its fd 3 to exit, so a leaked one hangs the run until the
# harness timeout. Kill what you start in teardown.

# wait_for TIMEOUT_SECS CMD [ARGS...]: run CMD until it succeeds or the
# timeout passes (then fail, naming CMD). Polls every 50 ms.
wait_for() {
	local timeout=$1 deadline
	shift
	deadline=$((SECONDS + timeout))
	until "$@"; do
		if ((SECONDS >= deadline)); then
			echo "wait_for: timed out after ${timeout}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# Succeeds once something listens on TCP port $1 (optionally in netns $2).
tcp_listening() {
	local port=$1 ns=${2:-}
	if [[ -n $ns ]]; then
		ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q .
	else
		ss -Hltn "sport = :$port" | grep -q .
	fi
}

# Succeeds once file $1 exists and is not empty.
file_nonempty() {
	[[ -s $1 ]]
}

# ---- tcpflow -----------------------------------------------------------------

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

# tf_conn LPORT RPORT [FILE]: the "conn" lines of /proc/tcpflow (or FILE)
# whose local and peer ports are these, oldest first.
tf_conn() {
	awk -v lp="$1" -v rp="$2" '
		/^conn / {
			n = split($4, l, ":"); m = split($5, r, ":")
			if (l[n] == lp && r[m] == rp) print
		}' "${3:-/proc/tcpflow}"
}

# tf_history LPORT RPORT [FILE]: the newest such connection's transitions,
# as OLD>NEW words on one line.
tf_history() {
	awk -v lp="$1" -v rp="$2" '
		/^conn / {
			n = split($4, l, ":"); m = split($5, r, ":")
			cur = (l[n] == lp && r[m] == rp)
			if (cur) h = ""
			next
		}
		cur && /^  \+/ && $3 == "->" { h = h (h == "" ? "" : " ") $2 ">" $4 }
		END { print h }' "${3:-/proc/tcpflow}"
}

# tf_field LPORT RPORT KEY: value of KEY=VALUE on the newest such conn line.
tf_field() {
	tf_conn "$1" "$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# tf_state LPORT RPORT: the newest such connection's current state.
tf_state() {
	tf_conn "$1" "$2" | tail -n 1 | awk '{ print $6 }'
}

# tf_header_count WORD: a number from the /proc/tcpflow header, by the word
# that follows it ("live", "closed", "untracked", "evicted", "events").
tf_header_count() {
	head -n 1 /proc/tcpflow | tr -d '(),' |
		awk -v w="$1" '{ for (i = 2; i <= NF; i++) if ($i == w) print $(i - 1) }'
}

TRACEFS=/sys/kernel/tracing

# tf_trace_start: record sock:inet_sock_set_state, the kernel's own account
# of every transition, as the oracle the module is checked against.
tf_trace_start() {
	echo 0 >"$TRACEFS/tracing_on"
	echo >"$TRACEFS/trace"
	echo 1 >"$TRACEFS/events/sock/inet_sock_set_state/enable"
	echo 1 >"$TRACEFS/tracing_on"
}

tf_trace_stop() {
	echo 0 >"$TRACEFS/events/sock/inet_sock_set_state/enable"
}

# tf_trace_history PROTO LPORT RPORT: transitions the tracepoint reported for
# the connection between these ports (RPORT 0: the listener on LPORT), as
# OLD>NEW words.  A child's first event (LISTEN>SYN_RECV) carries peer port
# 0 like its listener's, a client's first (CLOSE>SYN_SENT) may carry local
# port 0: those are matched by their transition.  Tests give each listener
# one child and each connection its own ports.
tf_trace_history() {
	awk -v proto="IPPROTO_$1" -v lp="$2" -v rp="$3" '
		/inet_sock_set_state:/ {
			delete f
			for (i = 1; i <= NF; i++)
				if (split($i, kv, "=") == 2) f[kv[1]] = kv[2]
			if (f["protocol"] != proto) next
			sub(/^TCP_/, "", f["oldstate"]); sub(/^TCP_/, "", f["newstate"])
			t = f["oldstate"] ">" f["newstate"]
			sp = f["sport"]; dp = f["dport"]
			if (rp == 0)
				m = sp == lp && dp == 0 && t != "LISTEN>SYN_RECV"
			else
				m = (sp == lp && dp == rp) ||
				    (sp == lp && dp == 0 && t == "LISTEN>SYN_RECV") ||
				    (sp == 0 && dp == rp && t == "CLOSE>SYN_SENT")
			if (m) h = h (h == "" ? "" : " ") t
		}
		END { print h }' "$TRACEFS/trace"
}

# tf_tw_expected: a trace history as tcpflow shows it: the move to the
# timewait socket (FIN_WAIT2>CLOSE, CLOSING>CLOSE at the end) is TIME_WAIT.
tf_tw_expected() {
	sed -E 's/(FIN_WAIT2|CLOSING)>CLOSE$/\1>TIME_WAIT/' <<<"$1"
}

# tf_state_is LPORT RPORT STATE: for wait_for.
tf_state_is() {
	[ "$(tf_state "$1" "$2")" = "$3" ]
}

# tf_dump_on_failure: in teardown, show what tcpflow and the kernel recorded
# when the test failed (as TAP comments).
tf_dump_on_failure() {
	[[ -z ${BATS_TEST_COMPLETED:-} ]] || return 0
	{
		[[ -r /proc/tcpflow ]] && cat /proc/tcpflow
		grep -h inet_sock_set_state "$TRACEFS/trace" 2>/dev/null |
			sed 's/.*inet_sock_set_state: //' | tail -n 60
	} | sed 's/^/# /' >&3
}

# ss_has STATE FILTER: ss lists a TCP socket in STATE matching FILTER.
ss_has() {
	[ -n "$(ss -tanH state "$1" "$2")" ]
}

ss_none() {
	! ss_has "$@"
}

# has_open PID PATH: process PID has PATH open.
has_open() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd")" = "$2" ] && return 0
	done
	return 1
}

# tf_history_has LPORT RPORT TRANSITION: for wait_for.
tf_history_has() {
	[[ " $(tf_history "$1" "$2") " == *" $3 "* ]]
}

# trace_history_is PROTO LPORT RPORT HISTORY: for wait_for.
trace_history_is() {
	[ "$(tf_trace_history "$1" "$2" "$3")" = "$4" ]
}
