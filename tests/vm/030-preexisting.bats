#!/usr/bin/env bats
# Connections that existed before insmod are found at load, flagged, and
# their history continues from there.

load helpers

teardown() {
	tf_end_test
	ip netns del ownehash 2>/dev/null || true
	tf_unload
}

# ns_ss_has NETNS STATE FILTER: ss in NETNS lists such a socket.
ns_ss_has() {
	[ -n "$(ip netns exec "$1" ss -tanH state "$2" "$3")" ]
}

@test "listener, ESTABLISHED, CLOSE_WAIT leak and TIME_WAIT from before insmod are seeded" {
	# A leak: the server never closes after the client's FIN.
	tcpflow-sock listen 127.0.0.1 9001 accept hold 3>&- &
	leak=$!
	tf_wait_for 10 tf_tcp_listening 9001
	tcpflow-sock bind 127.0.0.1 41001 connect 127.0.0.1 9001 close
	# An open connection.
	tcpflow-sock listen 127.0.0.1 9002 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9002
	tcpflow-sock bind 127.0.0.1 41002 connect 127.0.0.1 9002 touch "$T/c41002" hold 3>&- &
	tf_wait_for 10 test -e "$T/c41002"
	# A finished one whose client sits in TIME_WAIT.
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen 127.0.0.1 9003 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9003
	taskset -c 0 tcpflow-sock bind 127.0.0.1 41003 connect 127.0.0.1 9003 close
	# Up to 30 s: the debug kernel once took over 10 s here.
	tf_wait_for 30 tf_ss_has time-wait 'sport = :41003'
	tf_wait_for 30 tf_ss_has close-wait 'sport = :9001'
	# 9003's server has exited, its listener with it.
	tf_wait_for 10 tf_ss_none listening 'sport = :9003'

	tf_load
	[[ $(tf_conn 9001 0) == "conn "*" listener 127.0.0.1:9001 0.0.0.0:0 LISTEN "*" preexisting"* ]]
	[[ $(tf_conn 9001 41001) == "conn "*" 127.0.0.1:9001 127.0.0.1:41001 CLOSE_WAIT "*" preexisting"* ]]
	[[ $(tf_conn 41001 9001) == "conn "*" 127.0.0.1:41001 127.0.0.1:9001 FIN_WAIT2 "*" preexisting"* ]]
	[[ $(tf_conn 41002 9002) == "conn "*" 127.0.0.1:41002 127.0.0.1:9002 ESTABLISHED "*" preexisting"* ]]
	[[ $(tf_conn 9002 41002) == "conn "*" 127.0.0.1:9002 127.0.0.1:41002 ESTABLISHED "*" preexisting"* ]]
	[[ $(tf_conn 41003 9003) == "conn "*" 127.0.0.1:41003 127.0.0.1:9003 TIME_WAIT "*" preexisting"* ]]
	# Roles where they are certain: the end on a listener's port serves,
	# the end whose peer is a listener here is the client.  The listener
	# on 9003 is gone with its process: neither end of 41003 is certain.
	roles=$(for p in "9001 41001" "41001 9001" "41002 9002" "9002 41002" "41003 9003"; do
		# shellcheck disable=SC2086 # two ports
		tf_conn $p | awk '{ print $3 }'
	done | xargs)
	[ "$roles" = "server client client server -" ]
	# The cookie is the one ss -e shows.
	cookie=$(ss -tanHe 'sport = :9001 and dport = :41001' | grep -o 'sk:[0-9a-f]*' | cut -d: -f2)
	[ "$(tf_field 9001 41001 sk)" = "$cookie" ]
	# Nothing happened since load: no events yet.
	[ -z "$(tf_history 9001 41001)" ]

	# The leak ends when its process dies: the history goes on in place.
	kill "$leak"
	tf_wait_for 10 tf_state_is 9001 41001 CLOSE
	[ "$(tf_history 9001 41001)" = "CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE" ]
	tf_wait_for 10 tf_state_is 41001 9001 TIME_WAIT
	[ "$(tf_history 41001 9001)" = "FIN_WAIT2>TIME_WAIT" ]
	[ "$(tf_conn 9001 41001 | wc -l)" = 1 ]
	[ "$(tf_conn 41001 9001 | wc -l)" = 1 ]
	rm -f "$T/c41002"
}

@test "rmmod with connections open in every state, then reload" {
	tcpflow-sock listen 127.0.0.1 9011 accept hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9011
	tf_load
	tcpflow-sock bind 127.0.0.1 41011 connect 127.0.0.1 9011 close
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	taskset -c 0 tcpflow-sock listen 127.0.0.1 9012 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9012
	taskset -c 0 tcpflow-sock bind 127.0.0.1 41012 connect 127.0.0.1 9012 touch "$T/c41012" hold 3>&- &
	tf_wait_for 10 test -e "$T/c41012"
	tf_wait_for 10 tf_state_is 9011 41011 CLOSE_WAIT
	cat /proc/tcpflow >/dev/null

	rmmod tcpflow
	[ ! -e /proc/tcpflow ]
	# Connections change state with no module: nothing may be left hooked.
	pkill -f 'tcpflow-sock listen 127.0.0.1 9011'
	pkill -f 'tcpflow-sock bind 127.0.0.1 41012'
	tf_wait_for 10 tf_ss_none close-wait 'sport = :9011'
	# Each client moves to TIME_WAIT after it acknowledged the FIN that
	# closed its server: wait for both, not only the servers.
	tf_wait_for 10 tf_ss_has time-wait 'sport = :41011'
	tf_wait_for 10 tf_ss_has time-wait 'sport = :41012'

	tf_load
	[[ $(tf_conn 41011 9011) == *" TIME_WAIT "*" preexisting"* ]]
	[[ $(tf_conn 41012 9012) == *" TIME_WAIT "*" preexisting"* ]]
	rm -f "$T/c41012"
}

@test "a namespace with an established table of its own: its connections are seeded too" {
	local old
	[ -e /proc/sys/net/ipv4/tcp_child_ehash_entries ] ||
		skip "no namespace has a table of its own before 6.1"
	# A namespace made while tcp_child_ehash_entries is set gets its own
	# established table (tcp_ehash_entries reads negative where the
	# namespace shares the global one).
	old=$(sysctl -n net.ipv4.tcp_child_ehash_entries)
	sysctl -qw net.ipv4.tcp_child_ehash_entries=1024
	tf_netns_add ownehash
	sysctl -qw net.ipv4.tcp_child_ehash_entries="$old"
	[ "$(ip netns exec ownehash sysctl -n net.ipv4.tcp_ehash_entries)" -gt 0 ]
	# A CLOSE_WAIT leak there, before insmod.
	ip netns exec ownehash tcpflow-sock listen 127.0.0.1 9021 accept hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9021 ownehash
	ip netns exec ownehash tcpflow-sock bind 127.0.0.1 41021 connect 127.0.0.1 9021 close
	tf_wait_for 30 ns_ss_has ownehash close-wait 'sport = :9021'
	tf_wait_for 30 ns_ss_has ownehash fin-wait-2 'sport = :41021'

	tf_load
	[[ $(tf_conn 9021 41021) == "conn "*" server 127.0.0.1:9021 127.0.0.1:41021 CLOSE_WAIT "*" preexisting"* ]]
	[[ $(tf_conn 41021 9021) == "conn "*" client 127.0.0.1:41021 127.0.0.1:9021 FIN_WAIT2 "*" preexisting"* ]]
	[ "$(tf_field 9021 41021 netns)" = "$(tf_netns_inode ownehash)" ]
	[ "$(tf_field 41021 9021 netns)" = "$(tf_netns_inode ownehash)" ]
}
