# Shared helpers for the guest tests (tests/vm). Loaded with `load helpers`.
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

# say LINE...: print for people, on the terminal (bats's fd 3).
say() {
	printf '%s\n' "$@" >&3
}

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

# tf_vmalloc_bytes: bytes the module holds in vmalloc space (its pool, hash
# and ring).
tf_vmalloc_bytes() {
	awk '/\[tcpflow\]/ { n += $2 } END { print n + 0 }' /proc/vmallocinfo
}

# live_at_most N: the header counts N live connections or fewer (only its
# first line is generated: cheap with 200,000 entries held).
live_at_most() {
	[ "$(tf_header_count live)" -le "$1" ]
}

# netns_inode NAME: the inode of network namespace NAME, as /proc/tcpflow
# shows it (netns=).
netns_inode() {
	stat -L -c %i "/run/netns/$1"
}

# pid_done PID: the process has exited (a zombie counts).
pid_done() {
	[[ ! -e /proc/$1/stat ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]
}

# server_idle PORT: no connection on local port PORT is still open (only
# its listener, or nothing).
server_idle() {
	[ -z "$(tf_conn "$1" "" | awk '$6 != "CLOSE" && $6 != "LISTEN"')" ]
}

# tf_serve_done PORT PID: wait until the server on PORT (background job PID,
# a "tcpflow-sock listen ... serve N") has closed every connection it
# accepted, then stop it.  Under churn-abort it may wait forever for its
# Nth: on two CPUs a client's RST can overtake the handshake's final ACK
# and end the request before there is a child to accept (both sides'
# histories show it).
tf_serve_done() {
	wait_for 60 server_idle "$1"
	pkill -f "tcpflow-sock listen [^ ]* $1 serve" || true
	wait_for 10 pid_done "$2"
	wait "$2" || true	# served all, or stopped here
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

# counters_total: events recorded since load, from the device's counters.
counters_total() {
	tcpflow-devtest open counters | sed 's/.*total=//'
}

# tf_unload: unload it if loaded (safe in teardown).
tf_unload() {
	if grep -q '^tcpflow ' /proc/modules; then
		rmmod tcpflow
	fi
}

# TF_AWK_PORTS: an awk function for the readers of /proc/tcpflow below:
# ports(lp, rp) is true on a "conn" line whose local port is lp and peer
# port rp (any peer when rp is empty).
# shellcheck disable=SC2016 # awk code: awk expands its $4 and $5
TF_AWK_PORTS='
	function ports(lp, rp,   l, r, n, m) {
		n = split($4, l, ":"); m = split($5, r, ":")
		return l[n] == lp && (rp == "" || r[m] == rp)
	}'

# tf_conn LPORT RPORT [FILE]: the "conn" lines of /proc/tcpflow (or FILE)
# whose local and peer ports are these, oldest first.
tf_conn() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / && ports(lp, rp)' "${3:-/proc/tcpflow}"
}

# tf_history LPORT RPORT [FILE]: the newest such connection's transitions,
# as OLD>NEW words on one line.
tf_history() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / {
			cur = ports(lp, rp)
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

# tf_dump_on_failure: in teardown, show what tcpflow and the kernel recorded
# when the test failed (as TAP comments).
tf_dump_on_failure() {
	[[ -z ${BATS_TEST_COMPLETED:-} ]] || return 0
	{
		# The first lines: a table of 200,000 would take the console
		# an hour.
		[[ -r /proc/tcpflow ]] && head -n 400 /proc/tcpflow
		grep -h inet_sock_set_state "$TRACEFS/trace" 2>/dev/null |
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

# ss_has STATE FILTER: ss lists a TCP socket in STATE matching FILTER.
ss_has() {
	[ -n "$(ss -tanH state "$1" "$2")" ]
}

ss_none() {
	! ss_has "$@" || false
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

# tf_veth_pair NSA NSB ADDRA ADDRB: two new namespaces joined by a veth pair
# (va in NSA with ADDRA/24, vb in NSB with ADDRB/24), loopbacks up.
tf_veth_pair() {
	ip netns add "$1"
	ip netns add "$2"
	ip link add va netns "$1" type veth peer name vb netns "$2"
	ip -n "$1" addr add "$3/24" dev va
	ip -n "$2" addr add "$4/24" dev vb
	ip -n "$1" link set va up
	ip -n "$2" link set vb up
	ip -n "$1" link set lo up
	ip -n "$2" link set lo up
}

# ---- segments -----------------------------------------------------------------

# tf_segments LPORT RPORT [FILE]: the newest such connection's segments as
# "DIR FLAGS SEQ ACK LEN RETRANS" lines, SEQ and ACK "-" where /proc shows
# none (read it with absolute_seq=1 to compare with a capture).
tf_segments() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / {
			cur = ports(lp, rp)
			if (cur) out = ""
			next
		}
		cur && /^  \+/ && ($2 == "tx" || $2 == "rx") {
			seq = "-"; ack = "-"; len = 0; re = 0
			for (i = 4; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "seq") seq = kv[2]
				else if (kv[1] == "ack") ack = kv[2]
				else if (kv[1] == "len") len = kv[2]
				else if (kv[1] == "retrans") re = kv[2]
			}
			out = out $2 " " $3 " " seq " " ack " " len " " re "\n"
		}
		END { printf "%s", out }' "${3:-/proc/tcpflow}"
}

# cap_segments PCAP LPORT RPORT: the capture's segments between these ports
# in tf_segments' form, seen from LPORT's side; RETRANS counts earlier
# copies of the same SYN, SYN-ACK or FIN.
cap_segments() {
	tcpdump -nn -S -r "$1" "tcp port $2 and tcp port $3" 2>/dev/null | awk -v lp="$2" -v rp="$3" '
		function port(a,  n, x) { sub(/:$/, "", a); n = split(a, x, "."); return x[n] }
		BEGIN { nf = split("S:SYN F:FIN R:RST P:PSH .:ACK U:URG E:ECE W:CWR", fm, " ") }
		{
			sp = ""
			for (i = 1; i < NF; i++)
				if ($i == ">") { sp = port($(i - 1)); dp = port($(i + 1)); break }
			if (sp == lp && dp == rp) dir = "tx"
			else if (sp == rp && dp == lp) dir = "rx"
			else next
			if (!match($0, /Flags \[[^]]*\]/)) next
			f = substr($0, RSTART + 7, RLENGTH - 8)
			seq = "-"; ack = "-"; len = 0
			if (match($0, /seq [0-9]+/)) seq = substr($0, RSTART + 4, RLENGTH - 4)
			if (match($0, / ack [0-9]+/)) ack = substr($0, RSTART + 5, RLENGTH - 5)
			if (match($0, /length [0-9]+/)) len = substr($0, RSTART + 7, RLENGTH - 7)
			names = ""
			for (i = 1; i <= nf; i++) {
				split(fm[i], kv, ":")
				if (index(f, kv[1])) names = names (names == "" ? "" : ",") kv[2]
			}
			if (f !~ /[SFR]/ && len == 0) seq = "-"
			if (f !~ /\./) ack = "-"
			key = ""
			if (f ~ /S/) key = dir (f ~ /\./ ? "SA" : "S") seq
			else if (f ~ /F/) key = dir "F" (seq + len)
			re = key == "" ? 0 : seen[key]++
			print dir, names, seq, ack, len, re
		}'
}

# seg_check LPORT RPORT PCAP: tcpflow's segments of the newest connection
# LPORT-RPORT against a capture taken on the same host.  Fails, saying why,
# unless every recorded segment was captured, in the same order for each
# direction, with the
# same direction, flags, numbers, length and retransmission count; every
# captured SYN, FIN and RST, the ACK that completed the handshake and the
# first ACK of each FIN were recorded; and no data segment was recorded but
# one that completed a handshake.
seg_check() {
	local rec=$BATS_TEST_TMPDIR/rec.$1.$2 cap=$BATS_TEST_TMPDIR/cap.$1.$2
	echo 1 >/sys/module/tcpflow/parameters/absolute_seq
	tf_segments "$1" "$2" >"$rec"
	echo 0 >/sys/module/tcpflow/parameters/absolute_seq
	cap_segments "$3" "$1" "$2" >"$cap"
	if ! awk '
		NR == FNR { rec[++nr] = $0; next }
		{ cap[++nc] = $0; split($0, f, " "); dir[nc] = f[1]; fl[nc] = f[2]
		  sq[nc] = f[3]; ak[nc] = f[4]; ln[nc] = f[5] }
		function has(s, w) { return index("," s ",", "," w ",") > 0 }
		function ctl(i) { return has(fl[i], "SYN") || has(fl[i], "FIN") || has(fl[i], "RST") }
		END {
			if (nr == 0) { print "nothing recorded"; bad = 1 }
			# In order within each direction: between directions
			# the capture (at the device) and the hooks (in IP)
			# may see a crossing SYN and SYN-ACK in either order.
			for (d = 0; d < 2; d++) {
				want = d ? "rx" : "tx"
				j = 1
				for (i = 1; i <= nr; i++) {
					if (substr(rec[i], 1, 2) != want) continue
					while (j <= nc && cap[j] != rec[i]) j++
					if (j > nc) { print "recorded but not captured (in this order): " rec[i]; bad = 1; break }
					got[j] = 1; j++
				}
			}
			for (i = 1; i <= nc; i++) {
				if (ctl(i)) need[i] = "SYN/FIN/RST"
				if (has(fl[i], "SYN") && has(fl[i], "ACK") && !done_hs) {
					done_hs = 1
					for (k = i + 1; k <= nc; k++)
						if (dir[k] != dir[i] && has(fl[k], "ACK") && !has(fl[k], "SYN")) {
							need[k] = "handshake ACK"; hs = k; break
						}
				}
				if (has(fl[i], "FIN")) {
					end = sq[i] + ln[i] + 1
					for (k = i + 1; k <= nc; k++)
						if (dir[k] != dir[i] && has(fl[k], "ACK") && ak[k] >= end) {
							need[k] = "ACK of FIN"; break
						}
				}
			}
			for (i = 1; i <= nc; i++) {
				if (need[i] != "" && !got[i]) { print "captured " need[i] " not recorded: " cap[i]; bad = 1 }
				if (got[i] && ln[i] > 0 && !ctl(i) && i != hs) { print "data segment recorded: " cap[i]; bad = 1 }
			}
			exit bad
		}' "$rec" "$cap"; then
		echo "--- recorded $1-$2:"; cat "$rec"
		echo "--- captured $1-$2:"; cat "$cap"
		return 1
	fi
}

# cap_start NAME DEV [NETNS]: capture TCP on DEV (in NETNS) into
# $BATS_TEST_TMPDIR/NAME.pcap until cap_stop.
cap_start() {
	local name=$1 dev=$2 ns=${3:-} pre=()
	[[ -n $ns ]] && pre=(ip netns exec "$ns")
	# Immediate mode: packets still in the kernel's ring when tcpdump is
	# stopped would be lost, and they are the teardown's.
	"${pre[@]}" tcpdump -i "$dev" -nn --immediate-mode -B 16384 -U \
		-w "$BATS_TEST_TMPDIR/$name.pcap" tcp \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	CAP_PIDS+=("$!")
	CAP_NAMES+=("$name")
	wait_for 10 grep -q 'listening on' "$BATS_TEST_TMPDIR/$name.err"
}

# cap_settled FILE: FILE did not grow for 300 ms.
cap_settled() {
	local a b
	a=$(stat -c %s "$1")
	sleep 0.3
	b=$(stat -c %s "$1")
	[ "$a" = "$b" ]
}

# cap_stop: end every capture cap_start began once it has written all it
# saw; fails if the kernel dropped a packet before tcpdump read it.
cap_stop() {
	local i n
	for n in "${CAP_NAMES[@]}"; do
		wait_for 10 cap_settled "$BATS_TEST_TMPDIR/$n.pcap"
	done
	for i in "${!CAP_PIDS[@]}"; do
		kill -INT "${CAP_PIDS[i]}" 2>/dev/null || true
		wait "${CAP_PIDS[i]}" 2>/dev/null || true
		n=${CAP_NAMES[i]}
		if ! grep -q '^0 packets dropped by kernel' "$BATS_TEST_TMPDIR/$n.err"; then
			cat "$BATS_TEST_TMPDIR/$n.err"
			CAP_PIDS=() CAP_NAMES=()
			return 1
		fi
	done
	CAP_PIDS=() CAP_NAMES=()
}

# tf_router_setup: a client namespace sc and a server namespace ss joined
# through a router namespace sr, so that what the router drops was sent by
# one side (and captured there) but never reached the other:
#
#   sc: c0 10.9.1.1 fd09:1::1 -- c1 (sr) s1 -- s0 10.9.2.1 fd09:2::1 :ss
#
# tf_router_teardown removes them.
tf_router_setup() {
	local n
	for n in sc sr ss; do ip netns add "$n"; done
	ip link add c0 netns sc type veth peer name c1 netns sr
	ip link add s0 netns ss type veth peer name s1 netns sr
	ip -n sc addr add 10.9.1.1/24 dev c0
	ip -n sc addr add fd09:1::1/64 dev c0 nodad
	ip -n sr addr add 10.9.1.2/24 dev c1
	ip -n sr addr add fd09:1::2/64 dev c1 nodad
	ip -n sr addr add 10.9.2.2/24 dev s1
	ip -n sr addr add fd09:2::2/64 dev s1 nodad
	ip -n ss addr add 10.9.2.1/24 dev s0
	ip -n ss addr add fd09:2::1/64 dev s0 nodad
	for n in sc sr ss; do ip -n "$n" link set lo up; done
	ip -n sc link set c0 up
	ip -n ss link set s0 up
	ip -n sr link set c1 up
	ip -n sr link set s1 up
	ip netns exec sr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n sc route add default via 10.9.1.2
	ip -n sc -6 route add default via fd09:1::2
	ip -n ss route add default via 10.9.2.2
	ip -n ss -6 route add default via fd09:2::2
	ip netns exec sr tc qdisc add dev s1 clsact
}

tf_router_teardown() {
	local n
	for n in sc sr ss; do ip netns del "$n" 2>/dev/null || true; done
}

# tf_router_drop PROTO DPORT FLAGS/MASK: the router drops segments towards
# the server's port DPORT whose TCP flags match (PROTO: ip or ipv6).
tf_router_drop() {
	ip netns exec sr tc filter add dev s1 egress protocol "$1" pref 1 \
		flower ip_proto tcp dst_port "$2" tcp_flags "$3" action drop
}

tf_router_pass() {
	ip netns exec sr tc filter del dev s1 egress pref 1
}
