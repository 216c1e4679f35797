# shellcheck shell=bash
# The kernel's own view of sockets (ss) and the servers the tests start.

# tf_tcp_listening PORT [NETNS]: something listens on TCP port PORT (in
# network namespace NETNS).
tf_tcp_listening() {
	local port=$1 ns=${2:-}
	if [[ -n $ns ]]; then
		ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q .
	else
		ss -Hltn "sport = :$port" | grep -q .
	fi
}

# tf_listen [-n NETNS] PORT CMD...: start CMD, a server that listens on
# TCP port PORT, in the background (in NETNS when it is not empty) with
# bats's fd 3 closed, and wait until it listens. Its pid is TF_LISTEN_PID.
tf_listen() {
	local ns='' port
	if [[ $1 == -n ]]; then
		ns=$2
		shift 2
	fi
	port=$1
	shift
	if [[ -n $ns ]]; then
		ip netns exec "$ns" "$@" 3>&- &
	else
		"$@" 3>&- &
	fi
	# shellcheck disable=SC2034 # for the caller
	TF_LISTEN_PID=$!
	tf_wait_for 10 tf_tcp_listening "$port" "$ns"
}

# tf_ss_has STATE FILTER: ss lists a TCP socket in STATE matching FILTER.
tf_ss_has() {
	[ -n "$(ss -tanH state "$1" "$2")" ]
}

tf_ss_none() {
	! tf_ss_has "$@" || false
}

# tf_server_idle PORT: no connection on local port PORT is still open (only
# its listener, or nothing), as tcpflow records them.
tf_server_idle() {
	[ -z "$(tf_conn "$1" "" | awk '$6 != "CLOSE" && $6 != "LISTEN"')" ]
}

# tf_serve_done PORT PID: wait until the server on PORT (background job PID,
# a "tcpflow-sock listen ... serve N") has closed every connection it
# accepted, then stop it.  Under churn-abort it may wait forever for its
# Nth: on two CPUs a client's RST can overtake the handshake's final ACK
# and end the request before there is a child to accept (both sides'
# histories show it).
tf_serve_done() {
	tf_wait_for 60 tf_server_idle "$1"
	pkill -f "tcpflow-sock listen [^ ]* $1 serve" || true
	tf_wait_for 10 tf_pid_done "$2"
	wait "$2" || true	# served all, or stopped here
}
