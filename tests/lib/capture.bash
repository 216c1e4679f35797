# shellcheck shell=bash
# Captures with tcpdump, and tcpflow's segments checked against them.
# The captures a test runs are in CAP_PIDS and CAP_NAMES.

# tf_cap_segments PCAP LPORT RPORT: the capture's segments between these ports
# in tf_segments' form, seen from LPORT's side; RETRANS counts earlier
# copies of the same SYN, SYN-ACK or FIN.
tf_cap_segments() {
	tcpdump -nn -S -r "$1" "tcp port $2 and tcp port $3" 2>/dev/null | awk -v lp="$2" -v rp="$3" '
		function port(a,  n, x) { sub(/:$/, "", a); n = split(a, x, "."); return x[n] }
		BEGIN { nf = split("S:SYN F:FIN R:RST P:PSH .:ACK U:URG E:ECE W:CWR", fm, " ") }
		{
			sp = ""
			for (i = 1; i < NF; i++)
				if ($i == ">") { sp = port($(i - 1)); dp = port($(i + 1)); break }
			if (sp == lp && dp == rp) dir = "tx"
			else if (sp == rp && dp == lp) dir = "rx"
			else next
			if (!match($0, /Flags \[[^]]*\]/)) next
			f = substr($0, RSTART + 7, RLENGTH - 8)
			seq = "-"; ack = "-"; len = 0
			if (match($0, /seq [0-9]+/)) seq = substr($0, RSTART + 4, RLENGTH - 4)
			if (match($0, / ack [0-9]+/)) ack = substr($0, RSTART + 5, RLENGTH - 5)
			if (match($0, /length [0-9]+/)) len = substr($0, RSTART + 7, RLENGTH - 7)
			names = ""
			for (i = 1; i <= nf; i++) {
				split(fm[i], kv, ":")
				if (index(f, kv[1])) names = names (names == "" ? "" : ",") kv[2]
			}
			if (f !~ /[SFR]/ && len == 0) seq = "-"
			if (f !~ /\./) ack = "-"
			key = ""
			if (f ~ /S/) key = dir (f ~ /\./ ? "SA" : "S") seq
			else if (f ~ /F/) key = dir "F" (seq + len)
			re = key == "" ? 0 : seen[key]++
			print dir, names, seq, ack, len, re
		}'
}

# tf_seg_check LPORT RPORT PCAP: tcpflow's segments of the newest connection
# LPORT-RPORT against a capture taken on the same host.  Fails, saying why,
# unless every recorded segment was captured, in the same order for each
# direction, with the
# same direction, flags, numbers, length and retransmission count; every
# captured SYN, FIN and RST, the ACK that completed the handshake and the
# first ACK of each FIN were recorded; and no data segment was recorded but
# one that completed a handshake.
tf_seg_check() {
	local rec=$BATS_TEST_TMPDIR/rec.$1.$2 cap=$BATS_TEST_TMPDIR/cap.$1.$2
	echo 1 >/sys/module/tcpflow/parameters/absolute_seq
	tf_segments "$1" "$2" >"$rec"
	echo 0 >/sys/module/tcpflow/parameters/absolute_seq
	tf_cap_segments "$3" "$1" "$2" >"$cap"
	if ! awk '
		NR == FNR { rec[++nr] = $0; next }
		{ cap[++nc] = $0; split($0, f, " "); dir[nc] = f[1]; fl[nc] = f[2]
		  sq[nc] = f[3]; ak[nc] = f[4]; ln[nc] = f[5] }
		function has(s, w) { return index("," s ",", "," w ",") > 0 }
		function ctl(i) { return has(fl[i], "SYN") || has(fl[i], "FIN") || has(fl[i], "RST") }
		END {
			if (nr == 0) { print "nothing recorded"; bad = 1 }
			# In order within each direction: between directions
			# the capture (at the device) and the hooks (in IP)
			# may see a crossing SYN and SYN-ACK in either order.
			for (d = 0; d < 2; d++) {
				want = d ? "rx" : "tx"
				j = 1
				for (i = 1; i <= nr; i++) {
					if (substr(rec[i], 1, 2) != want) continue
					while (j <= nc && cap[j] != rec[i]) j++
					if (j > nc) { print "recorded but not captured (in this order): " rec[i]; bad = 1; break }
					got[j] = 1; j++
				}
			}
			for (i = 1; i <= nc; i++) {
				if (ctl(i)) need[i] = "SYN/FIN/RST"
				if (has(fl[i], "SYN") && has(fl[i], "ACK") && !done_hs) {
					done_hs = 1
					for (k = i + 1; k <= nc; k++)
						if (dir[k] != dir[i] && has(fl[k], "ACK") && !has(fl[k], "SYN")) {
							need[k] = "handshake ACK"; hs = k; break
						}
				}
				if (has(fl[i], "FIN")) {
					end = sq[i] + ln[i] + 1
					for (k = i + 1; k <= nc; k++)
						if (dir[k] != dir[i] && has(fl[k], "ACK") && ak[k] >= end) {
							need[k] = "ACK of FIN"; break
						}
				}
			}
			for (i = 1; i <= nc; i++) {
				if (need[i] != "" && !got[i]) { print "captured " need[i] " not recorded: " cap[i]; bad = 1 }
				if (got[i] && ln[i] > 0 && !ctl(i) && i != hs) { print "data segment recorded: " cap[i]; bad = 1 }
			}
			exit bad
		}' "$rec" "$cap"; then
		echo "--- recorded $1-$2:"; cat "$rec"
		echo "--- captured $1-$2:"; cat "$cap"
		return 1
	fi
}

# tf_cap_start NAME DEV [NETNS]: capture TCP on DEV (in NETNS) into
# $BATS_TEST_TMPDIR/NAME.pcap until tf_cap_stop.
tf_cap_start() {
	local name=$1 dev=$2 ns=${3:-} pre=()
	[[ -n $ns ]] && pre=(ip netns exec "$ns")
	# Immediate mode: packets still in the kernel's ring when tcpdump is
	# stopped would be lost, and they are the teardown's.
	"${pre[@]}" tcpdump -i "$dev" -nn --immediate-mode -B 16384 -U \
		-w "$BATS_TEST_TMPDIR/$name.pcap" tcp \
		2>"$BATS_TEST_TMPDIR/$name.err" 3>&- &
	CAP_PIDS+=("$!")
	CAP_NAMES+=("$name")
	tf_wait_for 10 grep -q 'listening on' "$BATS_TEST_TMPDIR/$name.err"
}

# tf_cap_settled FILE: FILE did not grow for 300 ms.
tf_cap_settled() {
	local a b
	a=$(stat -c %s "$1")
	sleep 0.3
	b=$(stat -c %s "$1")
	[ "$a" = "$b" ]
}

# tf_cap_stop: end every capture tf_cap_start began once it has written all it
# saw; fails if the kernel dropped a packet before tcpdump read it.
tf_cap_stop() {
	local i n
	for n in "${CAP_NAMES[@]}"; do
		tf_wait_for 10 tf_cap_settled "$BATS_TEST_TMPDIR/$n.pcap"
	done
	for i in "${!CAP_PIDS[@]}"; do
		kill -INT "${CAP_PIDS[i]}" 2>/dev/null || true
		wait "${CAP_PIDS[i]}" 2>/dev/null || true
		n=${CAP_NAMES[i]}
		if ! grep -q '^0 packets dropped by kernel' "$BATS_TEST_TMPDIR/$n.err"; then
			cat "$BATS_TEST_TMPDIR/$n.err"
			CAP_PIDS=() CAP_NAMES=()
			return 1
		fi
	done
	CAP_PIDS=() CAP_NAMES=()
}
