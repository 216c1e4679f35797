# shellcheck shell=bash
# The oracle: the kernel's own account of every transition, the
# sock:inet_sock_set_state tracepoint, that tcpflow is checked against.

TF_TRACEFS=/sys/kernel/tracing

# tf_trace_start: record sock:inet_sock_set_state from now on.  Without
# recording task names: with record-cmd on (the default), enabling the first
# event and disabling the last registers and unregisters tracefs's own probes
# on sched_switch and sched_wakeup, patching those static branches in
# __schedule() and ttwu_do_activate() twice per test, and under QEMU's
# software emulation a vCPU then sometimes runs the patched int3 after it is
# gone (KERNEL-FACTS.md): the "Oops: int3" seen at both.
tf_trace_start() {
	echo 0 >"$TF_TRACEFS/tracing_on"
	echo 0 >"$TF_TRACEFS/options/record-cmd"
	echo >"$TF_TRACEFS/trace"
	echo 1 >"$TF_TRACEFS/events/sock/inet_sock_set_state/enable"
	echo 1 >"$TF_TRACEFS/tracing_on"
}

tf_trace_stop() {
	echo 0 >"$TF_TRACEFS/events/sock/inet_sock_set_state/enable"
}

# tf_trace_history PROTO LPORT RPORT: transitions the tracepoint reported for
# the connection between these ports (RPORT 0: the listener on LPORT), as
# OLD>NEW words.  A child's first event (LISTEN>SYN_RECV) carries peer port
# 0 like its listener's, a client's first (CLOSE>SYN_SENT) may carry local
# port 0: those are matched by their transition.  Tests give each listener
# one child and each connection its own ports.
tf_trace_history() {
	tf_trace_words "$@" | awk '
		# A duplicate child (README): a second LISTEN>SYN_RECV of the
		# tuple that ends SYN_RECV>CLOSE while the other clone goes
		# on to ESTABLISHED.  Its two transitions are not the
		# connection'"'"'s: drop each SYN_RECV>CLOSE and a LISTEN>SYN_RECV
		# after the first (tf_trace_dups counts them).
		{ w[NR] = $0; if ($0 == "SYN_RECV>ESTABLISHED") est = 1
		  if ($0 == "SYN_RECV>CLOSE") nclose++ }
		END {
			d = est ? nclose : 0
			for (i = 1; i <= NR; i++) {
				if (d && w[i] == "SYN_RECV>CLOSE") { dc++; continue }
				if (w[i] == "LISTEN>SYN_RECV" && seen++ && dl < d) { dl++; continue }
				h = h (h == "" ? "" : " ") w[i]
			}
			print h
		}'
}

# tf_trace_dups PROTO LPORT RPORT: how many duplicate children the kernel's
# trace shows for those ports (see tf_trace_history).
tf_trace_dups() {
	tf_trace_words "$@" | awk '
		$0 == "SYN_RECV>ESTABLISHED" { est = 1 }
		$0 == "SYN_RECV>CLOSE" { n++ }
		END { print est ? n + 0 : 0 }'
}

# tf_trace_words PROTO LPORT RPORT: the kernel's transitions of those
# ports, one OLD>NEW a line, duplicates included.
tf_trace_words() {
	awk -v proto="IPPROTO_$1" -v lp="$2" -v rp="$3" '
		/inet_sock_set_state:/ {
			delete f
			for (i = 1; i <= NF; i++)
				if (split($i, kv, "=") == 2) f[kv[1]] = kv[2]
			if (f["protocol"] != proto) next
			sub(/^TCP_/, "", f["oldstate"]); sub(/^TCP_/, "", f["newstate"])
			t = f["oldstate"] ">" f["newstate"]
			sp = f["sport"]; dp = f["dport"]
			if (rp == 0)
				m = sp == lp && dp == 0 && t != "LISTEN>SYN_RECV"
			else
				m = (sp == lp && dp == rp) ||
				    (sp == lp && dp == 0 && t == "LISTEN>SYN_RECV") ||
				    (sp == 0 && dp == rp && t == "CLOSE>SYN_SENT")
			if (m) print t
		}' "$TF_TRACEFS/trace"
}

# tf_trace_history_is PROTO LPORT RPORT HISTORY: for tf_wait_for.
tf_trace_history_is() {
	[ "$(tf_trace_history "$1" "$2" "$3")" = "$4" ]
}

# tf_tw_expected: a trace history as tcpflow shows it: the move to the
# timewait socket (FIN_WAIT2>CLOSE, CLOSING>CLOSE at the end) is TIME_WAIT.
tf_tw_expected() {
	sed -E 's/(FIN_WAIT2|CLOSING)>CLOSE$/\1>TIME_WAIT/' <<<"$1"
}
