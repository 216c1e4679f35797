#!/usr/bin/env bats
# Network namespaces: each reader sees its own namespace's connections; the
# initial namespace with CAP_NET_ADMIN sees all of them.
#
#   netns nsa                       netns nsb
#   +-----------------+            +-----------------+
#   | va 10.99.0.1/24 |------------| vb 10.99.0.2/24 |
#   | client :42001   |   veth     | listener :9101  |
#   +-----------------+            +-----------------+

load helpers

setup() {
	tf_load
	tf_veth_pair nsa nsb 10.99.0.1 10.99.0.2
}

teardown() {
	tf_end_test
	ip netns del nsa 2>/dev/null || true
	ip netns del nsb 2>/dev/null || true
	tf_unload
}

connect_across() {
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	ip netns exec nsb taskset -c 0 tcpflow-sock listen 10.99.0.2 9101 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9101 nsb
	ip netns exec nsa taskset -c 0 tcpflow-sock bind 10.99.0.1 42001 connect 10.99.0.2 9101 send 10 close
	wait
	tf_wait_for 10 tf_state_is 9101 42001 CLOSE
	# The client's move to TIME_WAIT can come after the server's CLOSE:
	# its ACK of the server's FIN leaves before it.
	tf_wait_for 10 tf_history_has 42001 9101 'FIN_WAIT2>TIME_WAIT'
}

@test "a connection over veth is recorded on both ends with their netns" {
	connect_across
	[[ $(tf_conn 42001 9101) == "conn "*" client 10.99.0.1:42001 10.99.0.2:9101 TIME_WAIT "* ]]
	[[ $(tf_conn 9101 42001) == "conn "*" server 10.99.0.2:9101 10.99.0.1:42001 CLOSE "* ]]
	[ "$(tf_field 42001 9101 netns)" = "$(tf_netns_inode nsa)" ]
	[ "$(tf_field 9101 42001 netns)" = "$(tf_netns_inode nsb)" ]
	[ "$(tf_field 9101 0 netns)" = "$(tf_netns_inode nsb)" ]
}

@test "a reader in a netns sees only that netns" {
	connect_across
	ip netns exec nsa cat /proc/tcpflow >"$T/nsa.txt"
	ip netns exec nsb cat /proc/tcpflow >"$T/nsb.txt"
	[ "$(grep -c '^conn ' "$T/nsa.txt")" = 1 ]
	[ -n "$(tf_conn 42001 9101 "$T/nsa.txt")" ]
	[ "$(grep -c '^conn ' "$T/nsb.txt")" = 2 ]
	[ -n "$(tf_conn 9101 42001 "$T/nsb.txt")" ]
	[ -n "$(tf_conn 9101 0 "$T/nsb.txt")" ]
	run ! grep -q "netns=$(tf_netns_inode nsb)" "$T/nsa.txt"
	run ! grep -q "netns=$(tf_netns_inode nsa)" "$T/nsb.txt"
}

@test "without CAP_NET_ADMIN the initial netns sees only its own connections" {
	connect_across
	tcpflow-sock listen 127.0.0.1 9102 close-listener
	setpriv --reuid 65534 --regid 65534 --clear-groups cat /proc/tcpflow >"$T/nobody.txt"
	[ -n "$(tf_conn 9102 0 "$T/nobody.txt")" ]
	[ -z "$(tf_conn 42001 9101 "$T/nobody.txt")" ]
	[ -z "$(tf_conn 9101 42001 "$T/nobody.txt")" ]
	# root in the initial netns sees both namespaces and its own.
	[ -n "$(tf_conn 42001 9101)" ]
	[ -n "$(tf_conn 9101 42001)" ]
	[ -n "$(tf_conn 9102 0)" ]
}

@test "no kernel address appears in /proc/tcpflow" {
	connect_across
	run ! grep -Eq 'ffff[0-9a-f]{8,}' /proc/tcpflow
	run ! grep -Eq '0x[0-9a-f]{12,}' /proc/tcpflow
}
