#!/usr/bin/env bats
# tcpflowctl metrics on the live module: its connections by state are the
# ones ss counts, for a scripted set of loopback connections in each
# long-lived state (ESTABLISHED, LISTEN, CLOSE_WAIT, FIN_WAIT2, TIME_WAIT).

load helpers

setup() {
	tf_load
}

teardown() {
	tf_end_test
	tf_unload
}

# ss_by_state: "STATE COUNT" lines, kernel state names, sorted, for every
# TCP socket of this namespace (ss: ESTAB, FIN-WAIT-1, UNCONN for CLOSE).
ss_by_state() {
	ss -tanH | awk '{ s = $1; if (s == "ESTAB") s = "ESTABLISHED";
		else if (s == "UNCONN") s = "CLOSE";
		else { gsub(/-/, "_", s); sub(/_WAIT_/, "_WAIT", s) }
		n[s]++ } END { for (s in n) print s, n[s] }' | sort
}

# metrics_by_state FILE: the same from tcpflow_connections, roles summed.
metrics_by_state() {
	sed -n 's/^tcpflow_connections{state="\([A-Z0-9_]*\)",role="[^"]*"} \([0-9]*\)$/\1 \2/p' "$1" |
		awk '{ n[$1] += $2 } END { for (s in n) print s, n[s] }' | sort
}

# states_agree: ss, metrics, then ss again see the same counts (nothing
# moved in between), written to $BATS_TEST_TMPDIR for the assertions.
states_agree() {
	local d=$BATS_TEST_TMPDIR

	ss_by_state >"$d/ss1"
	ss_count time-wait 'dst 127.0.0.1' >"$d/tw1"
	tcpflowctl metrics >"$d/metrics.prom" || return 1
	ss_count time-wait 'dst 127.0.0.1' >"$d/tw2"
	ss_by_state >"$d/ss2"
	metrics_by_state "$d/metrics.prom" >"$d/metrics"
	cmp -s "$d/ss1" "$d/ss2" && cmp -s "$d/tw1" "$d/tw2" &&
		cmp -s "$d/ss1" "$d/metrics"
}

# ss_count STATE FILTER: sockets ss lists in STATE (its name) matching FILTER.
ss_count() {
	ss -tanH state "$1" "$2" | wc -l
}

@test "metrics counts connections by state as ss does" {
	local p srv tw

	# 9751: three connections held open (6 ESTABLISHED, 1 LISTEN)
	tcpflow-sock listen 127.0.0.1 9751 accept accept accept hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9751
	for p in 41751 41752 41753; do
		tcpflow-sock bind 127.0.0.1 "$p" connect 127.0.0.1 9751 hold 3>&- &
		tf_wait_for 10 tf_state_is 9751 "$p" ESTABLISHED
	done
	# 9752: two clients that closed, a server that never does
	# (2 CLOSE_WAIT, 2 orphaned FIN_WAIT2, 1 LISTEN)
	tcpflow-sock listen 127.0.0.1 9752 accept accept hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9752
	for p in 41761 41762; do
		tcpflow-sock bind 127.0.0.1 "$p" connect 127.0.0.1 9752 close
		tf_wait_for 10 tf_state_is 9752 "$p" CLOSE_WAIT
		# the server's ACK of the FIN may be delayed (up to 40 ms)
		tf_wait_for 10 tf_state_is "$p" 9752 FIN_WAIT2
	done
	# 9753: three clients that closed first, served and closed
	# (3 TIME_WAIT; the server and its listener are gone)
	# (CPU 0: a teardown's TIME_WAIT, tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen 127.0.0.1 9753 serve 3 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 9753
	for p in 41771 41772 41773; do
		taskset -c 0 tcpflow-sock bind 127.0.0.1 "$p" connect 127.0.0.1 9753 close
	done
	tf_wait_for 10 tf_pid_done "$srv"
	for p in 41771 41772 41773; do
		tf_wait_for 10 tf_state_is "$p" 9753 TIME_WAIT
	done

	# The kernel agrees on the scripted set: ss by port.
	[ "$(ss_count established '( sport = :9751 or dport = :9751 )')" -eq 6 ]
	[ "$(ss_count listening '( sport = :9751 or sport = :9752 )')" -eq 2 ]
	[ "$(ss_count close-wait 'sport = :9752')" -eq 2 ]
	[ "$(ss_count fin-wait-2 'dport = :9752')" -eq 2 ]
	[ "$(ss_count time-wait 'dport = :9753')" -eq 3 ]

	# Every TCP socket of the host (this namespace is the only one), by
	# state: tcpflowctl metrics as ss.  Polled only so that the two are
	# read while nothing moves.
	tf_wait_for 10 states_agree || {
		diff -u "$T/ss1" "$T/metrics"
		false
	}
	# and the scripted set is all there
	[ "$(awk '$1 == "ESTABLISHED" { print $2 }' "$T/metrics")" -ge 6 ]
	[ "$(awk '$1 == "CLOSE_WAIT" { print $2 }' "$T/metrics")" -ge 2 ]
	[ "$(awk '$1 == "FIN_WAIT2" { print $2 }' "$T/metrics")" -ge 2 ]
	[ "$(awk '$1 == "TIME_WAIT" { print $2 }' "$T/metrics")" -ge 3 ]
	[ "$(awk '$1 == "LISTEN" { print $2 }' "$T/metrics")" -ge 2 ]
	# by role: the servers' CLOSE_WAIT, the clients' FIN_WAIT2 and TIME_WAIT
	grep -qx 'tcpflow_connections{state="CLOSE_WAIT",role="server"} 2' "$T/metrics.prom"
	grep -qx 'tcpflow_close_wait_connections{comm="tcpflow-sock",unit="/"} 2' "$T/metrics.prom"
	# TIME_WAIT towards 127.0.0.1: ours, and any an earlier file left
	# (counted around the same metrics read: an earlier file's TIME_WAIT
	# may end at any moment)
	tw=$(cat "$T/tw1")
	[ "$tw" -ge 3 ]
	grep -qx "tcpflow_time_wait_connections{peer=\"127.0.0.1\"} $tw" "$T/metrics.prom"
}

@test "metrics live: the counters, the port range and the module's parameters" {
	local lo hi srv free m

	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen 127.0.0.1 9754 serve 1 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening 9754
	taskset -c 0 tcpflow-sock bind 127.0.0.1 41781 connect 127.0.0.1 9754 close
	tf_wait_for 10 tf_pid_done "$srv"
	tf_wait_for 10 tf_state_is 41781 9754 TIME_WAIT

	m=$BATS_TEST_TMPDIR/metrics.prom
	tcpflowctl metrics >"$m"
	# only tcpflow_ samples and their HELP and TYPE lines
	run ! grep -v '^\(# \(HELP\|TYPE\) \)\?tcpflow_' "$m"
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	grep -qx "tcpflow_local_ports $((hi - lo + 1))" "$m"
	# the client's port 41781, in TIME_WAIT, is one connect() cannot pick
	free=$(sed -n 's/^tcpflow_local_ports_free{peer="127.0.0.1"} \([0-9]*\)$/\1/p' "$m")
	[ -n "$free" ]
	if ((lo <= 41781 && 41781 <= hi)); then
		[ "$free" -le $((hi - lo)) ]
	fi
	grep -qx "tcpflow_table_max_connections $(cat /sys/module/tcpflow/parameters/max_conns)" "$m"
	grep -qx 'tcpflow_connections_untracked_total 0' "$m"
	grep -qx 'tcpflow_connections_evicted_total 0' "$m"
	grep -qx "tcpflow_module_info{version=\"$(cat /sys/module/tcpflow/version)\",absolute_seq=\"$(cat /sys/module/tcpflow/parameters/absolute_seq)\",max_conns=\"$(cat /sys/module/tcpflow/parameters/max_conns)\",max_events=\"$(cat /sys/module/tcpflow/parameters/max_events)\",ports=\"$(cat /sys/module/tcpflow/parameters/ports)\",ring_events=\"$(cat /sys/module/tcpflow/parameters/ring_events)\"} 1" "$m"
	# the client's handshake, and the server's
	grep -qx 'tcpflow_handshake_seconds_count{role="client"} [1-9][0-9]*' "$m"
	grep -qx 'tcpflow_handshake_seconds_count{role="server"} [1-9][0-9]*' "$m"
}
