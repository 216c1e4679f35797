#!/usr/bin/env bats
# Churn and floods: 100,000 short connections recorded exactly; a SYN flood
# over veth from a second namespace and stress-ng's many-connections
# stressor leave module memory where insmod put it and the counters
# consistent.
#
#   netns fa                       netns fb
#   +-----------------+           +-----------------+
#   | va 10.99.1.1/24 |-----------| vb 10.99.1.2/24 |
#   | hping3 -S       |   veth    | listener :9410  |
#   +-----------------+           +-----------------+

load helpers

teardown() {
	tf_dump_on_failure
	pkill -f tcpflow-sock || true
	pkill -f hping3 || true
	pkill -f stress-ng || true
	for ns in fl fa fb sm; do ip netns del "$ns" 2>/dev/null || true; done
	rm -f "$T/fl".*
	tf_unload
}

# histories FILE NETNS: "role history" per connection of NETNS, counted; a
# duplicate child's role is "server-duplicate".
histories() {
	awk -v ns="netns=$2" '
		/^conn / { if (cur != "") n[cur]++; cur = ""; if (index($0, " " ns " ")) { cur = $3 (/ duplicate( |$)/ ? "-duplicate" : "") ":"; keep = 1 } else keep = 0; next }
		keep && /^  \+/ && $3 == "->" { cur = cur " " $2 ">" $4 }
		END { if (cur != "") n[cur]++; for (k in n) print n[k], k }' "$1" | sort -k2
}

# duplicate_tuples FILE: the addresses of each duplicate child, one per line;
# with "-v" those of the other servers.
duplicate_tuples() {
	awk -v want="${2:-}" '/^conn / && $3 == "server" {
		d = / duplicate( |$)/
		if ((want == "-v") != d) print $4, $5 }' "$1" | sort
}

# event_lines FILE: events held in a /proc/tcpflow copy.
event_lines() {
	grep -c '^  +' "$1"
}

@test "100000 short connections (10000 on the debug kernel): each recorded whole, counters exact, memory flat" {
	local n
	n=$(tf_scaled 100000)
	tf_load max_conns=262144 max_events=16
	base=$(tf_vmalloc_bytes)
	[ "$base" -gt 0 ]
	seeded=$(tf_header_count connections)
	live=$(tf_header_count live)
	ip netns add fl
	ip -n fl link set lo up
	ns=$(tf_netns_inode fl)

	# A client closes first.  With the default tcp_fin_timeout (60 s) it
	# waits for the server's FIN as a FIN_WAIT2 timewait socket, which
	# ends in FIN_WAIT2 when the server lags 60 s behind (a handshake
	# whose final ACK met a full accept queue completes only after
	# SYN-ACK retransmits) or when a connect() from the same port
	# recycles it.  A longer timeout keeps the client a full socket until
	# the FIN: then only TCPTimeWaitOverflow ends a client in FIN_WAIT2.
	ip netns exec fl sysctl -qw net.ipv4.tcp_fin_timeout=3600
	ip netns exec fl tcpflow-sock listen 127.0.0.1 9400 serve "$n" 3>&- &
	tf_wait_for 10 tf_tcp_listening 9400 fl
	t=$SECONDS
	run ip netns exec fl tcpflow-sock churn "$n" 127.0.0.1 9400
	echo "# $n connections in $((SECONDS - t)) s" >&3
	[ "$output" = "connected=$n failed=0" ]
	wait
	overflow=$(tf_netstat_ext fl TCPTimeWaitOverflow)
	echo "# TCPTimeWaitOverflow=$overflow" >&3
	# Deleting the netns ends its timewait sockets: every history closes.
	ip netns del fl
	tf_wait_for 60 tf_live_at_most "$live"

	# A consistent copy: no event between the two counter reads.
	for try in 1 2 3 4 5; do
		t0=$(tf_counters_total)
		cat /proc/tcpflow >"$T/fl.all"
		[ "$(tf_counters_total)" = "$t0" ] && break
	done
	[ "$(head -n 1 "$T/fl.all")" = "$(head -n 1 /proc/tcpflow)" ]

	# Each client went through TIME_WAIT, or straight to CLOSE when the
	# kernel had no timewait bucket left (TCPTimeWaitOverflow).  When the
	# client's FIN reached the request on one CPU while its final ACK did
	# on the other, the kernel cloned a second child and destroyed it: a
	# duplicate, of a connection that is also there whole.
	histories "$T/fl.all" "$ns" >"$T/fl.hist"
	cat "$T/fl.hist" | sed 's/^/# /' >&3
	dup=$(duplicate_tuples "$T/fl.all" | wc -l)
	echo "# $dup duplicate children" >&3
	if ((dup > 0)); then
		# One of them beside its connection, for the record.
		read -r id l r < <(grep -m 1 '^conn .* duplicate' "$T/fl.all" | cut -d ' ' -f 2,4,5)
		awk -v id="$id" -v l="$l" -v r="$r" '/^conn / {
			keep = $4 == l && $5 == r && $2 - id <= 2 && id - $2 <= 2 } keep' "$T/fl.all" |
			sed 's/^/# /' >&3
	fi
	cl="client: CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2"
	[ "$(cat "$T/fl.hist")" = "$(
		{
			((overflow < n)) && echo "$((n - overflow)) $cl FIN_WAIT2>TIME_WAIT TIME_WAIT>CLOSE"
			((overflow > 0)) && echo "$overflow $cl FIN_WAIT2>CLOSE"
			echo "1 listener: CLOSE>LISTEN LISTEN>CLOSE"
			echo "$n server: LISTEN>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE"
			((dup > 0)) && echo "$dup server-duplicate: LISTEN>SYN_RECV SYN_RECV>CLOSE"
		} | sort -k2)" ]
	[ -z "$(comm -23 <(duplicate_tuples "$T/fl.all") <(duplicate_tuples "$T/fl.all" -v))" ]

	[ "$(tf_header_count connections)" = $((seeded + 2 * n + 1 + dup)) ]
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count evicted)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
	[ "$(grep -c '^conn ' "$T/fl.all")" = $((seeded + 2 * n + 1 + dup)) ]
	[ "$(event_lines "$T/fl.all")" = "$t0" ]
	[ "$(tf_vmalloc_bytes)" = "$base" ]
}

@test "a SYN flood from another netns over veth: requests bounded, no loss, memory flat" {
	local max=1024 before
	tf_veth_pair fa fb 10.99.1.1 10.99.1.2
	tf_load max_conns=$max
	# A real connection before the flood: its closed history must survive.
	ip netns exec fb tcpflow-sock listen 10.99.1.2 9412 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9412 fb
	ip netns exec fa tcpflow-sock bind 10.99.1.1 42412 connect 10.99.1.2 9412 close
	tf_wait_for 10 tf_state_is 9412 42412 CLOSE
	before=$(tf_conn 9412 42412)
	ip netns exec fb tcpflow-sock listen 10.99.1.2 9410 hold 3>&- &
	tf_wait_for 10 tf_tcp_listening 9410 fb
	base=$(tf_vmalloc_bytes)
	rx0=$(ip -n fb -s -j link show vb | jq '.[0].stats64.rx.packets')

	run ip netns exec fa timeout 5 hping3 -q -S --flood -p 9410 10.99.1.2
	[ "$status" = 124 ]
	rx=$(( $(ip -n fb -s -j link show vb | jq '.[0].stats64.rx.packets') - rx0 ))
	echo "# $rx packets in the flood" >&3
	[ "$rx" -ge 1000 ]
	head -n 1 /proc/tcpflow | sed 's/^/# /' >&3
	# Each answered SYN starts a request; requests hold at most a quarter
	# of the table and then recycle their own oldest.
	req=$(grep -c '^conn .* 10.99.1.2:9410 .* request' /proc/tcpflow)
	echo "# $req requests held" >&3
	[ "$req" -ge 100 ]
	[ "$req" -le $((max / 4)) ]
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
	[ "$(tf_history 9410 0)" = "CLOSE>LISTEN" ]
	[ "$(tf_vmalloc_bytes)" = "$base" ]
	# The history from before the flood is still there, whole.
	[ "$(tf_conn 9412 42412 | awk '{ print $1, $2, $3, $4, $5, $6 }')" = "$(awk '{ print $1, $2, $3, $4, $5, $6 }' <<<"$before")" ]
	# A real connection right after is recorded whole, from its SYN.
	ip netns exec fb tcpflow-sock listen 10.99.1.2 9411 accept recv-eof close 3>&- &
	tf_wait_for 10 tf_tcp_listening 9411 fb
	ip netns exec fa tcpflow-sock bind 10.99.1.1 42411 connect 10.99.1.2 9411 close
	tf_wait_for 10 tf_state_is 9411 42411 CLOSE
	[ "$(tf_history 42411 9411)" = "CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT" ]
	[ "$(tf_segments 9411 42411 | head -n 1)" = "rx SYN 0 - 0 0" ]
}

@test "stress-ng --sockmany for 10 s: nothing untracked or dropped, memory flat" {
	ip netns add sm
	ip -n sm link set lo up
	ip netns exec sm sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	tf_load max_conns=262144 max_events=16
	base=$(tf_vmalloc_bytes)
	live=$(tf_header_count live)
	ns=$(tf_netns_inode sm)
	cd /tmp
	run ip netns exec sm prlimit --nofile=200000:200000 timeout 60 stress-ng --sockmany 1 -t 10 --metrics-brief
	echo "$output" | sed 's/^/# /' >&3
	[ "$status" = 0 ]
	[[ $output == *"successful run completed"* ]]
	n=$(awk -v ns="netns=$ns" '/^conn / && index($0, " " ns " ")' /proc/tcpflow | wc -l)
	echo "# $n connections recorded in the stressor's netns" >&3
	[ "$n" -gt 1000 ]
	head -n 1 /proc/tcpflow | sed 's/^/# /' >&3
	[ "$(tf_header_count untracked)" = 0 ]
	[ "$(tf_header_count evicted)" = 0 ]
	[ "$(grep -c '^conn ' /proc/tcpflow)" = "$(tf_header_count connections)" ]
	[ "$(tf_header_count connections)" = $(($(tf_header_count live) + $(tf_header_count closed))) ]
	[ "$(tf_vmalloc_bytes)" = "$base" ]
	ip netns del sm
	tf_wait_for 60 tf_live_at_most "$live"
	# The table had room and no history filled up (max_events=16, none has
	# a "dropped=" mark): no event may be counted lost.
	[ "$(grep -c ' dropped=' /proc/tcpflow)" = 0 ]
	[ "$(tf_header_count events)" = 0 ]
}
