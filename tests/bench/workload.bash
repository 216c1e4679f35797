# The benchmarks' workload (bench.bats, locks.bats): tools/tcpflow-load
# between the network namespaces bna (client, 10.77.0.1, CPU 0) and bnb
# (server, 10.77.0.2, CPU 1) over a veth pair, which each file's setup
# makes; with what it cost in time and busy CPU ticks.

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

# workload WORKLOAD PORT SECS: tcpflow-load's WORKLOAD (churn or bulk) for SECS
# seconds from bna to a server in bnb on PORT; prints "WORK US TICKS CONNS":
# the connections made (churn) or megabytes sent (bulk), the client's time
# from start to the last connection's end, the busy ticks meanwhile and
# the connections made.  A new
# port each run: the runs stay alike, never meeting an earlier run's
# TIME_WAIT sockets.
workload() {
	local t0 srv out cost conns us flags=(-c 8)
	[[ $1 == churn ]] || flags=(-c 2)
	ip netns exec bnb taskset -c 1 tcpflow-load server "$1" 10.77.0.2 "$2" \
		>"$T/server" 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$2" bnb
	t0=$(stamp)
	out=$(ip netns exec bna taskset -c 0 tcpflow-load client "$1" 10.77.0.2 "$2" \
		"${flags[@]}" -t "$3")
	cost=$(since "$t0")
	kill -TERM "$srv"
	wait "$srv"
	if [[ $out != *" failed=0 "* ]]; then
		echo "workload: $out" >&2
		return 1
	fi
	conns=$(sed -n 's/.* conns=\([0-9]*\).*/\1/p' <<<"$out")
	us=$(sed -n 's/.* duration_us=\([0-9]*\).*/\1/p' <<<"$out")
	if [[ $1 == churn ]]; then
		echo "$conns $us ${cost#* } $conns"
	else
		awk -v b="$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$out")" \
			-v us="$us" -v t="${cost#* }" -v n="$conns" \
			'BEGIN { printf "%.1f %d %d %d\n", b / 1048576, us, t, n }'
	fi
}
