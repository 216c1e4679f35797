#!/usr/bin/env bats
# `make bench`: what tcpflow costs the traffic it records, as ratios of the
# same workload on the same booted kernel with tcpflow loaded and with
# nothing loaded.  Timing is reported, never asserted: a test here fails only
# when the workload did not happen or tcpflow did not record it whole.
#
# Each workload runs between two network namespaces over a veth pair, so
# every segment crosses both namespaces' netfilter hooks.  The client runs
# on CPU 0, the server on CPU 1, so the scheduler does not move them.  Runs
# alternate (off, on, on, off, off, on, ...) so a slow drift of the guest
# weighs on both sides alike; each pair gives two ratios, of throughput
# (work per second) and of CPU (work per busy clock tick of both CPUs), and
# their medians are reported.  TCPFLOW_BENCH_ROUNDS (default 7) pairs;
# TCPFLOW_BENCH_MB (default 64) megabytes per bulk run; TCPFLOW_BENCH_CONNS
# (default 2000) connections per churn run.

load helpers

ROUNDS=${TCPFLOW_BENCH_ROUNDS:-7}
MB=${TCPFLOW_BENCH_MB:-64}
CONNS=${TCPFLOW_BENCH_CONNS:-2000}
# Each churn run's client TIME_WAIT sockets stay for 60 s, and the next
# insmod seeds them: a table this large tracks every one of them.
MAX_CONNS=$((2 * ROUNDS * 4 * CONNS + 4096))

setup() {
	tf_veth_pair bna bnb 10.77.0.1 10.77.0.2
}

teardown() {
	pkill -f 'tcpflow-sock listen 10\.77\.' || true
	pkill -f 'while :; do cat /proc' || true
	ip netns del bfill 2>/dev/null || true
	ip netns del brd 2>/dev/null || true
	tf_dump_on_failure
	tf_unload
	ip netns del bna 2>/dev/null || true
	ip netns del bnb 2>/dev/null || true
}

# stamp: the time in microseconds and the clock ticks every CPU spent busy
# (user, system, irq, softirq), as "US TICKS".
stamp() {
	local t=${EPOCHREALTIME/./}
	awk -v us=$((10#$t)) '$1 == "cpu" { print us, $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# since "US TICKS": the microseconds and busy ticks since that stamp.
since() {
	local a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$(stamp)"
	echo $((b[0] - a[0])) $((b[1] - a[1]))
}

# bulk PORT MB: MB megabytes from bna to a server in bnb; prints "US TICKS"
# from connect to the server's close.
bulk() {
	local t0 srv
	ip netns exec bnb taskset -c 1 tcpflow-sock listen 10.77.0.2 "$1" accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$1" bnb
	t0=$(stamp)
	ip netns exec bna taskset -c 0 tcpflow-sock connect 10.77.0.2 "$1" send $(($2 << 20)) close
	wait "$srv"
	since "$t0"
}

# churn PORT N: N connections from bna to a server in bnb, each opened and
# closed; prints "US TICKS" from the first connect to the last accept's
# close.  A new port each run: a connect() never meets an earlier run's
# TIME_WAIT sockets on its 4-tuple, so the runs stay alike.
churn() {
	local t0 srv out
	ip netns exec bnb taskset -c 1 tcpflow-sock listen 10.77.0.2 "$1" serve "$2" 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$1" bnb
	t0=$(stamp)
	out=$(ip netns exec bna taskset -c 0 tcpflow-sock churn "$2" 10.77.0.2 "$1")
	wait "$srv"
	since "$t0"
	[ "$out" = "connected=$2 failed=0" ] || {
		echo "churn: $out" >&2
		return 1
	}
}

# duplicates PORT: duplicate children tcpflow holds of PORT's listener.
duplicates() {
	awk -v lp="$1" "$TF_AWK_PORTS"'
		/^conn / && / duplicate( |$)/ && ports(lp, "") { n++ }
		END { print n + 0 }' /proc/tcpflow
}

# measure on|off WORKLOAD PORT: one run, with tcpflow loaded or not; prints
# "US TICKS".  Loading and unloading tcpflow patches kernel text, which
# makes QEMU translate that code again: a small run first warms it up, on
# another port.  With tcpflow, the run must be recorded whole: every
# connection tracked, no event lost.  (This runs in a command substitution,
# where errexit does not reach: each check returns by hand.)
measure() {
	local cost conns made dup want=2 size=$MB warm=1 c
	if [[ $2 == churn ]]; then
		want=$((2 * CONNS))
		size=$CONNS
		warm=$((CONNS / 10))
	fi
	[[ $1 == off ]] || tf_load max_conns=$MAX_CONNS || return
	"$2" $(($3 + 5000)) "$warm" >/dev/null || return
	[[ $1 == off ]] || conns=$(tf_header_count connections)
	cost=$("$2" "$3" "$size") || return
	if [[ $1 == on ]]; then
		for c in untracked evicted events; do
			if [[ $(tf_header_count $c) != 0 ]]; then
				echo "measure: $(head -n 1 /proc/tcpflow)" >&2
				return 1
			fi
		done
		# The listener and the connections it served, and the
		# duplicate children of any handshake that made two (README).
		made=$(($(tf_header_count connections) - conns))
		dup=$(duplicates "$3")
		if ((made != want + 1 + dup)); then
			echo "measure: $made entries made, expected $((want + 1)) and $dup duplicates" >&2
			return 1
		fi
		tf_unload || return
	fi
	echo "$cost"
}

# ratio A B: A / B.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'
}

# summary: "MEDIAN (MIN-MAX)" of the ratios on stdin.
summary() {
	sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3fx (%.3f-%.3f)", m, v[1], v[NR] }'
}

# bench WORKLOAD BASEPORT UNIT PER_RUN: ROUNDS pairs of runs; prints each
# pair and the medians of two ratios, with tcpflow to without: throughput
# (work per second of wall time) and CPU (work per busy tick of all CPUs).
bench() {
	local i off on port=$2 tput=() cpu=()
	for ((i = 1; i <= ROUNDS; i++)); do
		if ((i % 2)); then
			off=$(measure off "$1" $((port++)))
			on=$(measure on "$1" $((port++)))
		else
			on=$(measure on "$1" $((port++)))
			off=$(measure off "$1" $((port++)))
		fi
		read -r -a off <<<"$off"
		read -r -a on <<<"$on"
		tput+=("$(ratio "${off[0]}" "${on[0]}")")
		cpu+=("$(ratio "${off[1]}" "${on[1]}")")
		tf_say "$(awk -v w="$1" -v i="$i" -v a="${off[0]}" -v b="${on[0]}" \
			-v ta="${off[1]}" -v tb="${on[1]}" -v n="$4" -v u="$3" \
			-v r="${tput[-1]}" -v c="${cpu[-1]}" 'BEGIN {
			printf "#   %s %d: without %7.1f %s (%5d ticks), with tcpflow %7.1f %s (%5d ticks): %.3fx, CPU %.3fx\n",
				w, i, n / (a / 1e6), u, ta, n / (b / 1e6), u, tb, r, c }')"
	done
	tf_say "# $1 with tcpflow, median of $ROUNDS pairs (min-max):" \
		"#   throughput $(printf '%s\n' "${tput[@]}" | summary), work per CPU tick $(printf '%s\n' "${cpu[@]}" | summary)"
}

@test "bench: bulk throughput over veth, tcpflow loaded / nothing loaded" {
	tf_say "" "# $(uname -r), $(nproc) CPUs, QEMU software emulation:" \
		"# bulk: $MB MB per run from one netns to another over veth"
	bench bulk 9600 MB/s "$MB"
}

@test "bench: connection churn over veth, tcpflow loaded / nothing loaded" {
	tf_say "" "# churn: $CONNS connections (connect, close) per run over veth"
	bench churn 19700 conn/s "$CONNS"
}

# reader_loop FILE: nobody, in netns brd, reads FILE over and over (until
# killed): a user who can see none of the connections it walks.
reader_loop() {
	ip netns exec brd setpriv --reuid 65534 --regid 65534 --clear-groups \
		bash -c "while :; do cat $1 >/dev/null; done" 3>&- &
}

@test "bench: churn beside an unprivileged reader looping over a full table in another netns, /proc/tcpflow against /proc/net/tcp" {
	local fill=$((4 * CONNS)) i j port=29700 mode runs=() base m
	local -A tput=() cpu=()
	ip netns add bfill
	ip -n bfill link set lo up
	ip netns add brd
	ip -n brd link set lo up
	tf_load max_conns=$((2 * fill + 2 * ROUNDS * 3 * (CONNS + CONNS / 10) + 4096))
	# The full table: fill clients in TIME_WAIT (in the kernel's table
	# too, for /proc/net/tcp to walk) and their closed servers.
	ip netns exec bfill tcpflow-sock listen 127.0.0.1 9900 serve "$fill" 3>&- &
	tf_wait_for 10 tf_tcp_listening 9900 bfill
	[ "$(ip netns exec bfill tcpflow-sock churn "$fill" 127.0.0.1 9900)" = "connected=$fill failed=0" ]
	wait
	tf_say "" "# churn: $CONNS connections per run over veth, tcpflow loaded, while nobody in" \
		"# another netns reads, in a loop, a file over $fill TIME_WAIT sockets and" \
		"# $(tf_header_count connections) tcpflow entries it cannot see"
	for ((i = 1; i <= ROUNDS; i++)); do
		for j in 0 1 2; do
			mode=$(((i + j) % 3))
			case $mode in
			1) reader_loop /proc/net/tcp ;;
			2) reader_loop /proc/tcpflow ;;
			esac
			churn $((port + 5000)) $((CONNS / 10)) >/dev/null
			runs[mode]=$(churn $((port++)) "$CONNS")
			pkill -f 'while :; do cat /proc' || true
			wait
		done
		read -r -a base <<<"${runs[0]}"
		for mode in 1 2; do
			read -r -a m <<<"${runs[mode]}"
			tput[$mode]+="$(ratio "${base[0]}" "${m[0]}") "
			cpu[$mode]+="$(ratio "${base[1]}" "${m[1]}") "
		done
	done
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
	tf_say "# churn with the reader / without it, median of $ROUNDS (min-max):" \
		"#   /proc/net/tcp: throughput $(tr ' ' '\n' <<<"${tput[1]}" | grep . | summary), work per CPU tick $(tr ' ' '\n' <<<"${cpu[1]}" | grep . | summary)" \
		"#   /proc/tcpflow: throughput $(tr ' ' '\n' <<<"${tput[2]}" | grep . | summary), work per CPU tick $(tr ' ' '\n' <<<"${cpu[2]}" | grep . | summary)"
}
