#!/usr/bin/env bats
# The benchmark's load generator (tools/tcpflow-load) under tcpflow: every
# connection of a burst of churn and of bulk streams recorded on both ends,
# transition for transition as the kernel's tracepoint reported them.

load helpers

setup() {
	tf_load max_conns=65536
	# Room for every transition of the burst: checked below (overrun).
	cat "$TF_TRACEFS/buffer_size_kb" >"$BATS_FILE_TMPDIR/trace_kb"
	echo 16384 >"$TF_TRACEFS/buffer_size_kb"
	tf_trace_start
}

teardown() {
	tf_dump_on_failure
	pkill -f 'tcpflow-load server' || true
	tf_trace_stop
	sed 's/ .*//' "$BATS_FILE_TMPDIR/trace_kb" >"$TF_TRACEFS/buffer_size_kb" || true
	ip netns del lda 2>/dev/null || true
	ip netns del ldb 2>/dev/null || true
	tf_unload
}

# field KEY FILE: the value of KEY=VALUE in FILE's line.
field() {
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$2"
}

# histories PORT: each connection to or from PORT (not its listener) as
# "ROLE HISTORY", duplicate children as "duplicate".
histories() {
	awk -v p="$1" '
		function port(a,   n, x) { n = split(a, x, ":"); return x[n] }
		function flush() { if (on) print (dup ? "duplicate" : role " " h) }
		/^conn / {
			flush()
			on = (port($4) == p && port($5) != 0) || port($5) == p
			role = $3; h = ""; dup = / duplicate( |$)/
			next
		}
		/^  \+/ && $3 == "->" { h = h (h == "" ? "" : " ") $2 ">" $4 }
		END { flush() }' /proc/tcpflow
}

# transitions PORT: how many of each transition tcpflow recorded in the
# connections of PORT (but duplicates), as the tracepoint reports them:
# a move to TIME_WAIT is its FIN_WAIT2>CLOSE there.
transitions() {
	histories "$1" | grep -v '^duplicate$' | cut -d' ' -f2- | tr ' ' '\n' |
		sed 's/^FIN_WAIT2>TIME_WAIT$/FIN_WAIT2>CLOSE/' | sort | uniq -c
}

# trace_transitions PORT: the same from the tracepoint, without the
# listener's own and without each duplicate child's two (LISTEN>SYN_RECV,
# SYN_RECV>CLOSE: in this traffic only a duplicate moves to CLOSE from
# SYN_RECV), first a line "dups=N" with their number.
trace_transitions() {
	awk -v p="$1" '
		/inet_sock_set_state:/ && / protocol=IPPROTO_TCP / {
			delete f
			for (i = 1; i <= NF; i++)
				if (split($i, kv, "=") == 2) f[kv[1]] = kv[2]
			sub(/^TCP_/, "", f["oldstate"]); sub(/^TCP_/, "", f["newstate"])
			t = f["oldstate"] ">" f["newstate"]
			if (f["dport"] == 0 && t != "LISTEN>SYN_RECV")
				next	# the listener
			if (f["sport"] == p || f["dport"] == p) n[t]++
		}
		END {
			d = n["SYN_RECV>CLOSE"]
			n["LISTEN>SYN_RECV"] -= d
			delete n["SYN_RECV>CLOSE"]
			printf "dups=%d\n", d
			for (t in n) if (n[t]) printf "%7d %s\n", n[t], t
		}' "$TF_TRACEFS/trace" | sort -k2
}

# no_overrun: the trace buffer kept every event.
no_overrun() {
	! grep -h '^overrun: [1-9]' "$TF_TRACEFS"/per_cpu/cpu*/stats || false
}

# run_load MODE PORT ARGS...: tcpflow-load's MODE between a server in ldb
# and a client in lda given ARGS, over veth; their lines in $T/server and
# $T/client.  Stops the oracle, which must have kept every event.
run_load() {
	local mode=$1 port=$2 srv
	shift 2
	tf_veth_pair lda ldb 10.78.0.1 10.78.0.2
	ip netns exec ldb tcpflow-load server "$mode" 10.78.0.2 "$port" \
		>"$T/server" 3>&- &
	srv=$!
	tf_wait_for 10 tf_tcp_listening "$port" ldb
	ip netns exec lda tcpflow-load client "$mode" 10.78.0.2 "$port" "$@" \
		>"$T/client"
	kill -TERM "$srv"
	wait "$srv"
	cat "$T/client" "$T/server"
	tf_trace_stop
	no_overrun
}

@test "churn from tcpflow-load: every connection recorded on both ends as the kernel reported it" {
	local n
	run_load churn 9700 -c 8 -t 1
	n=$(field conns "$T/client")
	[ "$n" -gt 0 ]
	[ "$(field failed "$T/client")" = 0 ]
	[ "$(cat "$T/server")" = "role=server mode=churn accepted=$n completed=$n failed=0" ]
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]

	# Each end's history, once per connection: the server closes first.
	histories 9700 | grep -v '^duplicate$' | sort | uniq -c >"$T/hist"
	cat "$T/hist"
	[ "$(cat "$T/hist")" = "$(printf '%7d %s\n' \
		"$n" "client CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE" \
		"$n" "server LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT")" ]
	# The kernel's account, transition for transition, and the same
	# number of duplicate children.
	transitions 9700 >"$T/ours"
	trace_transitions 9700 >"$T/theirs"
	grep -v '^dups=' "$T/theirs" | diff - "$T/ours"
	[ "$(grep '^dups=' "$T/theirs")" = "dups=$(histories 9700 | grep -c '^duplicate$' || true)" ]
}

@test "bulk streams from tcpflow-load: both ends of each recorded, and no data segment" {
	run_load bulk 9701 -c 2 -t 1
	[ "$(field conns "$T/client")" = 2 ]
	[ "$(field failed "$T/client")" = 0 ]
	[ "$(field bytes "$T/client")" -gt 0 ]
	[ "$(field bytes "$T/server")" = "$(field bytes "$T/client")" ]
	[ "$(field completed "$T/server")" = 2 ]
	# The client shuts down first; the server closes once it read it all.
	histories 9701 | sort | uniq -c >"$T/hist"
	cat "$T/hist"
	[ "$(cat "$T/hist")" = "$(printf '%7d %s\n' \
		2 "client CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT" \
		2 "server LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE")" ]
	transitions 9701 >"$T/ours"
	trace_transitions 9701 >"$T/theirs"
	grep -v '^dups=' "$T/theirs" | diff - "$T/ours"
	[ "$(grep '^dups=' "$T/theirs")" = dups=0 ]
	# Megabytes each way, yet each history holds only its handshake and
	# teardown: at most SYN, SYN-ACK, ACK (or the data segment that
	# completed the handshake), FIN, ACK, FIN, ACK, and the five moves.
	awk -v p=9701 '
		function port(a,   n, x) { n = split(a, x, ":"); return x[n] }
		/^conn / { on = (port($4) == p && port($5) != 0) || port($5) == p
			   n = 0; next }
		on && /^  \+/ && ++n > 12 { print; bad = 1 }
		END { exit bad }' /proc/tcpflow
}
