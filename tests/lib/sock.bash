# shellcheck shell=bash
# The kernel's own view of sockets (ss) and the servers the tests start.
#
# One CPU for a teardown whose TIME_WAIT a test expects: both ends run
# under `taskset -c 0`.  Loopback and veth deliver a segment from the
# backlog of the CPU that sent it.  When one end closes in answer to the
# other's FIN, its delayed ACK of that FIN (a timer, on one CPU) and its
# own FIN (close(), on another) can cross, and arrive FIN first: the
# timewait socket answers the stale ACK, the closed end resets it, and
# TIME_WAIT ends at once (tcp_rfc1337=0), as the kernel's tracepoint
# shows (020's RFC 1337 test makes it certain).  tcpflow records that
# faithfully; a test that needs the TIME_WAIT must not leave it to chance.

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

# tf_client_closes SPORT CPORT: a loopback connection from 127.0.0.1:CPORT
# to a server on SPORT; the client closes first, the server as soon as it
# sees that. Returns once the server's end is CLOSE and the client's
# history has its FIN_WAIT2>TIME_WAIT (which may come just after, on
# another CPU).  Its TIME_WAIT may end at once: when the server's pure ACK
# of the client's FIN is overtaken by its FIN (two CPUs' backlogs on
# loopback), the timewait socket answers that stale ACK, the server's
# kernel resets it, and the RST kills it (RFC 1337; see 020).
tf_client_closes() {
	local sp=$1 cp=$2 srv

	tcpflow-sock listen 127.0.0.1 "$sp" accept recv-eof close 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$sp"
	tcpflow-sock bind 127.0.0.1 "$cp" connect 127.0.0.1 "$sp" close
	wait "$srv"
	tf_wait_for 10 tf_state_is "$sp" "$cp" CLOSE
	tf_wait_for 10 tf_history_has "$cp" "$sp" 'FIN_WAIT2>TIME_WAIT'
}

# tf_aborted NETNS PORT N: N connections to a server on 127.0.0.1:PORT in
# NETNS, each aborted by the client once established (churn-abort); all
# must connect, and the server must have served them all.
tf_aborted() {
	local ns=$1 port=$2 n=$3 srv out
	ip netns exec "$ns" tcpflow-sock listen 127.0.0.1 "$port" serve "$n" 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$port" "$ns"
	out=$(ip netns exec "$ns" tcpflow-sock churn-abort "$n" 127.0.0.1 "$port")
	if [[ $out != "connected=$n failed=0" ]]; then
		echo "tf_aborted: $out" >&2
		return 1
	fi
	tf_serve_done "$port" "$srv"
}

# tf_churn_start NETNS PORT [CMD...]: connections in a new namespace NETNS
# (loopback up), 20 at a time and aborted, until tf_churn_stop: a server
# on PORT and a client loop, both in the background run through CMD...
# when given (e.g. taskset -c 0).
tf_churn_start() {
	local ns=$1 port=$2
	shift 2
	rm -f "$T/churn.$ns.stop"
	tf_netns_add "$ns"
	ip netns exec "$ns" "$@" tcpflow-sock listen 127.0.0.1 "$port" serve 100000000 3>&- &
	tf_wait_for 10 tf_tcp_listening "$port" "$ns"
	# shellcheck disable=SC2016 # expanded by the loop's own shell
	ip netns exec "$ns" "$@" bash -c 'while [ ! -e "$1" ]; do
		tcpflow-sock churn-abort 20 127.0.0.1 "$2" >/dev/null; done' \
		churn "$T/churn.$ns.stop" "$port" 3>&- &
}

# tf_churn_stop NETNS: the client loop of tf_churn_start ends after its
# current batch (the server and the namespace stay, for teardown).
tf_churn_stop() {
	touch "$T/churn.$1.stop"
}
