#!/usr/bin/env bats
# TIME_WAIT ends 60 s later, silently for the tracepoint: tcpflow records
# TIME_WAIT > CLOSE when the timewait socket goes, at the right time.

load helpers

teardown() {
	tf_end_test
	tf_unload
}

uptime_ns() {
	awk '{ printf "%d\n", $1 * 1000000000 }' /proc/uptime
}

@test "TIME_WAIT > CLOSE is recorded when the kernel reaps the timewait socket" {
	tf_load
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen 127.0.0.1 8090 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 8090
	taskset -c 0 tcpflow-sock bind 127.0.0.1 40090 connect 127.0.0.1 8090 close
	wait
	tf_wait_for 10 tf_state_is 40090 8090 TIME_WAIT
	tf_ss_has time-wait 'sport = :40090'

	# The oracle: ss lists the timewait socket at some time after $seen,
	# and no longer at a time before $gone (uptime has 10 ms steps).
	for i in $(seq 750); do
		t=$(uptime_ns)
		tf_ss_has time-wait 'sport = :40090' || break
		seen=$t
		sleep 0.1
	done
	gone=$(uptime_ns)
	tf_ss_none time-wait 'sport = :40090'
	tf_wait_for 5 tf_state_is 40090 8090 CLOSE
	[ "$(tf_history 40090 8090)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT TIME_WAIT>CLOSE" ]

	obj=$(tcpflowctl -j list -a | jq -c 'select(.sport == 40090)')
	tw=$(jq '[.events[] | select(.new == "TIME_WAIT")][0].t_ns' <<<"$obj")
	end=$(jq '[.events[] | select(.old == "TIME_WAIT")][0].t_ns' <<<"$obj")
	# TCP_TIMEWAIT_LEN is 60 s; the timer wheel may fire a 60 s timer up
	# to 1/8 late (its granularity at that range), never early ...
	[ $((end - tw)) -ge 59900000000 ]
	[ $((end - tw)) -le 67500000000 ]
	# ... and tcpflow saw it go between the last ss that listed it and
	# the first that did not.
	[ "$end" -ge "$seen" ]
	[ "$end" -le $((gone + 10000000)) ]
}
