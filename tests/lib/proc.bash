# shellcheck shell=bash
# Readers of what tcpflow recorded: /proc/tcpflow (connections, histories,
# segments, the header), the device's counters and records (as
# tcpflow-devtest prints them) and the module's vmalloc.

# TF_AWK_PORTS: an awk function for the readers of /proc/tcpflow below:
# ports(lp, rp) is true on a "conn" line whose local port is lp and peer
# port rp (any peer when rp is empty).
# shellcheck disable=SC2016 # awk code: awk expands its $4 and $5
TF_AWK_PORTS='
	function ports(lp, rp,   l, r, n, m) {
		n = split($4, l, ":"); m = split($5, r, ":")
		return l[n] == lp && (rp == "" || r[m] == rp)
	}'

# tf_conn LPORT RPORT [FILE]: the "conn" lines of /proc/tcpflow (or FILE)
# whose local and peer ports are these, oldest first.
tf_conn() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / && ports(lp, rp)' "${3:-/proc/tcpflow}"
}

# tf_conn_id LPORT RPORT [FILE]: the ids of those connections, oldest
# first, one a line.
tf_conn_id() {
	tf_conn "$@" | awk '{ print $2 }'
}

# tf_conn_block LPORT RPORT [FILE]: the newest such connection's block: its
# "conn" line and the lines under it (transitions, segments, gaps).  A
# `duplicate` child (a second clone of one handshake, destroyed at once:
# README) is not the connection: it is skipped, and tf_dups counts it.
tf_conn_block() {
	awk -v lp="$1" -v rp="$2" "$TF_AWK_PORTS"'
		/^conn / {
			cur = ports(lp, rp) && $0 !~ / duplicate( |$)/
			if (cur) b = ""
		}
		cur { b = b $0 "\n" }
		END { printf "%s", b }' "${3:-/proc/tcpflow}"
}

# tf_history LPORT RPORT [FILE]: the newest such connection's transitions,
# as OLD>NEW words on one line.
tf_history() {
	tf_conn_block "$@" | awk '
		/^  \+/ && $3 == "->" { h = h (h == "" ? "" : " ") $2 ">" $4 }
		END { print h }'
}

# tf_history_has LPORT RPORT TRANSITION: for tf_wait_for.
tf_history_has() {
	[[ " $(tf_history "$1" "$2") " == *" $3 "* ]]
}

# tf_dups LPORT RPORT [FILE]: how many duplicate children have those ports.
tf_dups() {
	tf_conn "$@" | grep -c ' duplicate\( \|$\)' || true
}

# tf_conn_newest LPORT RPORT: the newest such conn line, duplicates skipped.
tf_conn_newest() {
	tf_conn "$1" "$2" | grep -v ' duplicate\( \|$\)' | tail -n 1
}

# tf_field LPORT RPORT KEY: value of KEY=VALUE on the newest such conn line
# (duplicates skipped).
tf_field() {
	tf_conn_newest "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# tf_state LPORT RPORT: the newest such connection's current state.
tf_state() {
	tf_conn_newest "$1" "$2" | awk '{ print $6 }'
}

# tf_state_is LPORT RPORT STATE: for tf_wait_for.
tf_state_is() {
	[ "$(tf_state "$1" "$2")" = "$3" ]
}

# tf_header_count WORD [NETNS]: a number from the /proc/tcpflow header, by
# the word that follows it ("live", "closed", "untracked", "evicted",
# "events"); as a reader in NETNS is shown it, when given.
tf_header_count() {
	local -a in=()
	[[ -z ${2:-} ]] || in=(ip netns exec "$2")
	"${in[@]}" head -n 1 /proc/tcpflow | tr -d '(),' |
		awk -v w="$1" '{ for (i = 2; i <= NF; i++) if ($i == w) print $(i - 1) }'
}

# tf_live_at_most N: the header counts N live connections or fewer (only
# its first line is generated: cheap with 200,000 entries held).
tf_live_at_most() {
	[ "$(tf_header_count live)" -le "$1" ]
}

# tf_segments LPORT RPORT [FILE]: the newest such connection's segments as
# "DIR FLAGS SEQ ACK LEN RETRANS" lines, SEQ and ACK "-" where /proc shows
# none (read it with absolute_seq=1 to compare with a capture).
tf_segments() {
	tf_conn_block "$@" | awk '
		/^  \+/ && ($2 == "tx" || $2 == "rx") {
			seq = "-"; ack = "-"; len = 0; re = 0
			for (i = 4; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "seq") seq = kv[2]
				else if (kv[1] == "ack") ack = kv[2]
				else if (kv[1] == "len") len = kv[2]
				else if (kv[1] == "retrans") re = kv[2]
			}
			out = out $2 " " $3 " " seq " " ack " " len " " re "\n"
		}
		END { printf "%s", out }'
}

# tf_counters_total: events recorded since load, from the device's counters.
tf_counters_total() {
	tcpflow-devtest open counters | sed 's/.*total=//'
}

# tf_dev_lost FILE: the events tcpflow-devtest's output says were lost, over
# all its LOSS records.
tf_dev_lost() {
	awk '$1 == "LOSS" { n += $2 } END { print n + 0 }' "$1"
}

# tf_dev_live FILE: the events (EVENT and SEGMENT records) tcpflow-devtest's
# output holds after the snapshot's SYNC.
tf_dev_live() {
	sed '1,/^SYNC$/d' "$1" | grep -cE '^(EVENT|SEGMENT)' || true
}

# tf_vmalloc_bytes: bytes the module holds in vmalloc space (its pool, hash
# and ring).
tf_vmalloc_bytes() {
	awk '/\[tcpflow\]/ { n += $2 } END { print n + 0 }' /proc/vmallocinfo
}
