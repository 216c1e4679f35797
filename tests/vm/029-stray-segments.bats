#!/usr/bin/env bats
# Segments that are not part of a connection's life as TCP saw it: a peer
# writing to a connection that ended, and IPv6 fragments, which netfilter's
# LOCAL_IN sees one at a time, before IPv6 reassembles them.

load helpers

setup() {
	ip netns add sg
	ip -n sg link set lo up
	tf_load
}

teardown() {
	tf_end_test
	pkill -f hping3 || true
	ip netns del sg 2>/dev/null || true
	tf_unload
}

# post_close LPORT RPORT: that connection's event lines after its CLOSE.
post_close() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / { cur = ports(lp, rp); closed = 0; next }
		cur && closed && /^  \+/ { $1 = ""; print substr($0, 2) }
		cur && / -> CLOSE$/ { closed = 1 }' /proc/tcpflow
}

# dropped_is N: the header counts N events dropped.
dropped_is() {
	[ "$(tf_header_count events)" = "$1" ]
}

@test "a connection that ended records at most 4 more segments; what the peer sends after that is counted, not recorded" {
	ip netns exec sg tcpflow-sock listen 127.0.0.1 9601 accept close-listener touch "$T/acc" hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9601 sg
	# The client aborts: its RST follows its own move to CLOSE.
	ip netns exec sg tcpflow-sock bind 127.0.0.1 39601 connect 127.0.0.1 9601 wait "$T/acc" linger0 close
	tf_wait_for 10 tf_state_is 9601 39601 CLOSE
	tf_wait_for 10 tf_state_is 39601 9601 CLOSE
	[ "$(post_close 39601 9601)" = "tx RST,ACK seq=1 ack=1" ]
	[ -z "$(post_close 9601 39601)" ]
	[ "$(tf_header_count events)" = 0 ]
	echo 1 >/sys/module/tcpflow/parameters/absolute_seq

	# The peer goes on: 10 FINs to the port nobody listens on, each
	# answered by a RST from no socket.
	ip netns exec sg hping3 -q -F -A -s 39601 -k -p 9601 -M 7 -L 9 -i u10000 -c 10 127.0.0.1 2>/dev/null || true
	# Each end's history takes 4 segments in all after its close; the
	# other 16 of the server's and 17 of the client's are counted.  (Not
	# the table's total of events: a TIME_WAIT an earlier test left in
	# another netns may end meanwhile, and that is an event too.)
	tf_wait_for 10 dropped_is 33
	[ "$(post_close 9601 39601)" = "rx FIN,ACK seq=7 ack=9
tx RST seq=9
rx FIN,ACK seq=7 ack=9 retrans=1
tx RST seq=9" ]
	[ "$(post_close 39601 9601 | wc -l)" = 4 ]
	[ "$(tf_header_count events)" = 33 ]
	# Both ends are sg's: its reader, shown its own netns's, counts them
	# all (README, Counters).
	[ "$(tf_header_count events sg)" = 33 ]
}

@test "the first fragment of an IPv6 SYN is counted as dropped, not recorded with a wrong length" {
	ip netns exec sg tcpflow-sock listen ::1 9602 hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9602 sg
	ip netns exec sg tcpflow-sock frag6-syn ::1 39602 ::1 9602
	# IPv6 reassembled the SYN and the listener answered it: the request
	# begins with the SYN-ACK, its opening unseen, and ends with the RST
	# that the SYN-ACK got from a port with no socket.
	tf_wait_for 10 tf_state_is 9602 39602 CLOSE
	[ "$(tf_segments 9602 39602 | awk '{ print $1, $2, $5 }')" = "tx SYN,ACK 0
rx RST 0" ]
	[[ " $(tf_conn 9602 39602) " == *" partial "* ]]
	# The first fragment, as it left the raw socket and as it arrived,
	# in sg, whose reader counts both.
	[ "$(tf_header_count events)" = 2 ]
	[ "$(tf_header_count events sg)" = 2 ]
}
