#!/usr/bin/env bats
# `make bench`: what tcpflow costs the traffic it records, as ratios of the
# same workload on the same booted kernel with tcpflow loaded, with ftrace
# recording the kernel's TCP events (what a user has with no extra
# software), with bpftrace printing every TCP state change as bcc's
# tcpstates does (what a user would pick instead; when the guest has it),
# and with nothing loaded.  Timing is reported, never asserted:
# a test here fails only when the workload did not happen or tcpflow did
# not record it whole.
#
# Each workload is tools/tcpflow-load between two network namespaces over a
# veth pair, so every segment crosses both namespaces' netfilter hooks: the
# client on CPU 0, the server on CPU 1, for a fixed time.  churn: 8
# connections in flight, each connect, a 1-byte request, a 1-byte reply,
# the server's close, the client's; bulk: 2 streams.  The configurations
# take turns in each round (off, tcpflow, ftrace, bpftrace; then rotated) so a slow
# drift of the guest weighs on all alike; each round gives two ratios per
# configuration against nothing loaded, of throughput (work per second)
# and of CPU (work per busy clock tick of both CPUs), and their medians are
# reported.  TCPFLOW_BENCH_ROUNDS (default 7) rounds; TCPFLOW_BENCH_SECS
# (default 5) seconds per run.

load helpers
load workload

ROUNDS=${TCPFLOW_BENCH_ROUNDS:-7}
SECS=${TCPFLOW_BENCH_SECS:-5}
# Every connection of a run stays live (the server's TIME_WAIT) for 60 s,
# and the next insmod seeds those: room for about 2,000 connections a
# second churned in any minute (TCPFLOW_BENCH_MAX_CONNS; 1.4 KB each).
MAX_CONNS=${TCPFLOW_BENCH_MAX_CONNS:-262144}
CONFIGS=(off tcpflow ftrace)
# bpftrace when the guest has it (make bench copies it in).
if command -v bpftrace >/dev/null; then
	CONFIGS+=(bpftrace)
fi

setup() {
	tf_veth_pair bna bnb 10.77.0.1 10.77.0.2
}

teardown() {
	pkill -f 'tcpflow-load server' || true
	pkill -x bpftrace || true
	pkill -f 'while :; do cat /proc' || true
	ftrace_off
	ip netns del bfill 2>/dev/null || true
	ip netns del brd 2>/dev/null || true
	tf_dump_on_failure
	tf_unload
	ip netns del bna 2>/dev/null || true
	ip netns del bnb 2>/dev/null || true
}

# ftrace_on: what a user without extra software turns on to watch TCP
# connections: sock:inet_sock_set_state and every tcp: event recorded into
# tracefs's ring buffer, with its default options (record-cmd included).
ftrace_on() {
	echo 0 >"$TF_TRACEFS/tracing_on"
	echo >"$TF_TRACEFS/trace"
	echo 1 >"$TF_TRACEFS/options/record-cmd"
	echo 1 >"$TF_TRACEFS/events/sock/inet_sock_set_state/enable"
	echo 1 >"$TF_TRACEFS/events/tcp/enable"
	echo 1 >"$TF_TRACEFS/tracing_on"
}

ftrace_off() {
	echo 0 >"$TF_TRACEFS/events/tcp/enable" 2>/dev/null || true
	echo 0 >"$TF_TRACEFS/events/sock/inet_sock_set_state/enable" 2>/dev/null || true
	echo 0 >"$TF_TRACEFS/options/record-cmd" 2>/dev/null || true
}

# What a user would pick instead of tcpflow: bcc's tcpstates in bpftrace,
# every TCP state change printed with its process and the time spent in
# the state it leaves (Debian's bpftrace, copied into the guest).
BPF_TCPSTATES='tracepoint:sock:inet_sock_set_state /args->protocol == 6/
{
	$t = @last[args->skaddr];
	printf("%d %s %d %d %d %d %d\n", pid, comm, args->sport, args->dport,
	       args->oldstate, args->newstate, $t ? (nsecs - $t) / 1000000 : 0);
	if (args->newstate == 7) {
		delete(@last[args->skaddr]);
	} else {
		@last[args->skaddr] = nsecs;
	}
}
END { clear(@last); }'

# bpftrace_on: start it (BPF_PID), lines to $T/bpftrace, and wait until it
# prints that it attaches (LLVM compiles the program first: seconds here).
bpftrace_on() {
	bpftrace -B line -e "$BPF_TCPSTATES" >"$T/bpftrace" 2>"$T/bpftrace.err" 3>&- &
	BPF_PID=$!
	tf_wait_for 120 grep -q '^Attaching' "$T/bpftrace"
}

# bpftrace_saw PORT: bpftrace printed a state change of a port-PORT socket.
bpftrace_saw() {
	awk -v p="$1" 'NF >= 7 && ($(NF - 4) == p || $(NF - 3) == p) { f = 1 }
		END { exit !f }' "$T/bpftrace"
}

# duplicates PORT: duplicate children tcpflow holds of PORT's listener.
duplicates() {
	awk -v lp="$1" "$TF_AWK_PORTS"'
		/^conn / && / duplicate( |$)/ && ports(lp, "") { n++ }
		END { print n + 0 }' /proc/tcpflow
}

# measure CONFIG WORKLOAD PORT: one run with CONFIG (off, tcpflow, ftrace
# or bpftrace); prints workload's "WORK US TICKS CONNS".  Loading and
# unloading patches kernel text, which makes QEMU translate that code again: a short run first warms
# it up, on another port.  With tcpflow, the run must be recorded whole:
# every connection tracked, no event lost.  (This runs in a command
# substitution, where errexit does not reach: each check returns by hand.)
measure() {
	local cost conns made dup c n
	case $1 in
	tcpflow) tf_load max_conns=$MAX_CONNS || return ;;
	ftrace) ftrace_on ;;
	bpftrace) bpftrace_on || return ;;
	esac
	workload "$2" $(($3 + 5000)) 1 >/dev/null || return
	[[ $1 != tcpflow ]] || conns=$(tf_header_count connections)
	cost=$(workload "$2" "$3" "$SECS") || return
	case $1 in
	tcpflow)
		for c in untracked evicted events; do
			if [[ $(tf_header_count $c) != 0 ]]; then
				echo "measure: $(head -n 1 /proc/tcpflow)" >&2
				return 1
			fi
		done
		# The listener and both ends of each connection, and the
		# duplicate children of any handshake that made two (README).
		made=$(($(tf_header_count connections) - conns))
		dup=$(duplicates "$3")
		n=${cost##* }
		if ((made != 2 * n + 1 + dup)); then
			echo "measure: $made entries made for $n connections and $dup duplicates" >&2
			return 1
		fi
		tf_unload || return
		;;
	ftrace)
		# The ring may have wrapped: any event of the run's port.
		if ! grep -qE "(dport=|:)$3 " "$TF_TRACEFS/trace"; then
			echo "measure: ftrace recorded nothing of port $3" >&2
			return 1
		fi
		ftrace_off
		;;
	bpftrace)
		kill -INT "$BPF_PID"
		wait "$BPF_PID" || true
		if ! bpftrace_saw "$3"; then
			echo "measure: bpftrace printed nothing of port $3" >&2
			head -n 5 "$T/bpftrace" "$T/bpftrace.err" >&2
			return 1
		fi
		;;
	esac
	echo "$cost"
}

# summary RATIO...: "MEDIAN (MIN-MAX)" of the ratios.
summary() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3fx (%.3f-%.3f)", m, v[1], v[NR] }'
}

# ratios RUN BASE: of two runs' "WORK US TICKS", RUN's to BASE's work per
# second and work per busy tick, as "THROUGHPUT CPU".
ratios() {
	local r b
	read -r -a r <<<"$1"
	read -r -a b <<<"$2"
	awk -v w="${r[0]}" -v us="${r[1]}" -v t="${r[2]}" \
		-v bw="${b[0]}" -v bus="${b[1]}" -v bt="${b[2]}" \
		'BEGIN { printf "%.4f %.4f", (w / us) / (bw / bus), (w / t) / (bw / bt) }'
}

# bench WORKLOAD BASEPORT UNIT: ROUNDS rounds of one run per configuration,
# in an order rotated each round; prints each round and, per
# configuration, the medians of two ratios to nothing loaded: throughput
# (work per second) and CPU (work per busy tick of all CPUs).
bench() {
	local i j cfg port=$2 line m r
	local -A run=() tput=() cpu=()
	for ((i = 0; i < ROUNDS; i++)); do
		for ((j = 0; j < ${#CONFIGS[@]}; j++)); do
			cfg=${CONFIGS[(i + j) % ${#CONFIGS[@]}]}
			run[$cfg]=$(measure "$cfg" "$1" $((port++)))
			[[ -n ${run[$cfg]} ]] || return 1
		done
		line="#   $1 $((i + 1)):"
		for cfg in "${CONFIGS[@]}"; do
			read -r -a m <<<"${run[$cfg]}"
			line+=$(awk -v c="$cfg" -v w="${m[0]}" -v us="${m[1]}" -v t="${m[2]}" -v u="$3" \
				'BEGIN { printf " %s %.1f %s (%d ticks)", c, w / (us / 1e6), u, t }')
			[[ $cfg == off ]] && continue
			read -r -a r <<<"$(ratios "${run[$cfg]}" "${run[off]}")"
			tput[$cfg]+="${r[0]} "
			cpu[$cfg]+="${r[1]} "
		done
		tf_say "$line"
	done
	for cfg in "${CONFIGS[@]}"; do
		[[ $cfg == off ]] && continue
		tf_say "# $1 with $cfg / nothing loaded, median of $ROUNDS (min-max):" \
			"#   throughput $(summary ${tput[$cfg]}), work per CPU tick $(summary ${cpu[$cfg]})"
	done
}

@test "bench: bulk throughput over veth: tcpflow, ftrace, bpftrace / nothing loaded" {
	tf_say "" "# $(uname -r), $(nproc) CPUs, QEMU software emulation:" \
		"# bulk: 2 streams for ${SECS} s per run from one netns to another over veth"
	bench bulk 9600 MB/s
}

@test "bench: connection churn over veth: tcpflow, ftrace, bpftrace / nothing loaded" {
	tf_say "" "# churn: 8 connections in flight for ${SECS} s per run (connect, 1-byte request," \
		"# 1-byte reply, server closes, client closes) over veth"
	bench churn 19700 conn/s
}

# reader_loop FILE: nobody, in netns brd, reads FILE over and over (until
# killed): a user who can see none of the connections it walks.
reader_loop() {
	ip netns exec brd setpriv --reuid 65534 --regid 65534 --clear-groups \
		bash -c "while :; do cat $1 >/dev/null; done" 3>&- &
}

@test "bench: churn beside an unprivileged reader looping over a full table in another netns, /proc/tcpflow against /proc/net/tcp" {
	local fill=${TCPFLOW_BENCH_FILL:-8000} i j port=29700 mode runs=() r
	local -A tput=() cpu=()
	ip netns add bfill
	ip -n bfill link set lo up
	ip netns add brd
	ip -n brd link set lo up
	tf_load max_conns=$MAX_CONNS
	# The full table: fill clients in TIME_WAIT (in the kernel's table
	# too, for /proc/net/tcp to walk) and their closed servers.
	ip netns exec bfill tcpflow-sock listen 127.0.0.1 9900 serve "$fill" 3>&- &
	tf_wait_for 10 tf_tcp_listening 9900 bfill
	[ "$(ip netns exec bfill tcpflow-sock churn "$fill" 127.0.0.1 9900)" = "connected=$fill failed=0" ]
	wait
	tf_say "" "# churn: 8 connections in flight for ${SECS} s per run over veth, tcpflow loaded," \
		"# while nobody in another netns reads, in a loop, a file over $fill TIME_WAIT" \
		"# sockets and $(tf_header_count connections) tcpflow entries it cannot see"
	for ((i = 1; i <= ROUNDS; i++)); do
		for j in 0 1 2; do
			mode=$(((i + j) % 3))
			case $mode in
			1) reader_loop /proc/net/tcp ;;
			2) reader_loop /proc/tcpflow ;;
			esac
			workload churn $((port + 5000)) 1 >/dev/null
			runs[mode]=$(workload churn $((port++)) "$SECS")
			pkill -f 'while :; do cat /proc' || true
			wait
		done
		for mode in 1 2; do
			read -r -a r <<<"$(ratios "${runs[mode]}" "${runs[0]}")"
			tput[$mode]+="${r[0]} "
			cpu[$mode]+="${r[1]} "
		done
	done
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
	tf_say "# churn with the reader / without it, median of $ROUNDS (min-max):" \
		"#   /proc/net/tcp: throughput $(summary ${tput[1]}), work per CPU tick $(summary ${cpu[1]})" \
		"#   /proc/tcpflow: throughput $(summary ${tput[2]}), work per CPU tick $(summary ${cpu[2]})"
}
