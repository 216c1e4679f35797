#!/usr/bin/env bats
# What one user may read about another's connections (module/view.c):
# owners only with CAP_NET_ADMIN over the connection's netns, as pids of the
# reader's pid namespace; absolute sequence numbers to the same readers
# only; a reader in a namespace of its own counts only that namespace.
#
#   initial netns and pid ns                   child user+net+pid ns
#   +-------------------------------+          +---------------------------+
#   | root: sees every owner, as    |  nsenter | tcpflow-sock :9211 (its   |
#   |   global pids                 |--------->|   own pids)               |
#   | nobody: connections, no owner |          | host's listener :9212     |
#   +-------------------------------+          +---------------------------+

load helpers

setup() {
	tf_load
	VIS=$(mktemp -d "$T/vis.XXXXXX")
	chmod 777 "$VIS"
}

teardown() {
	tf_end_test
	# -x: "-f tcpflowctl" also matches bats itself, whose command line
	# names 070-tcpflowctl.bats.
	pkill -x tcpflowctl || true
	ip netns del sa 2>/dev/null || true
	ip netns del sb 2>/dev/null || true
	rm -rf "$VIS"
	tf_unload
}

# field FILE LPORT RPORT KEY: KEY=VALUE's value on the newest such conn
# line of FILE (empty when the line has no KEY).
field() {
	tf_conn "$2" "$3" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$4=//p"
}

# owned FILE: the conn lines of FILE that name an owner or its cgroup.
owned() {
	grep '^conn ' "$1" | grep -E ' (pid|comm|cgroup)=' || true
}

# hdr FILE WORD: a number from FILE's /proc/tcpflow header, by the word that
# follows it (tf_header_count's, for a copy).
hdr() {
	head -n 1 "$1" | tr -d '(),' |
		awk -v w="$2" '{ for (i = 2; i <= NF; i++) if ($i == w) print $(i - 1) }'
}

# conn_local [NETNS]: a connection 127.0.0.1:42201 -> :9201 in NETNS (or
# the initial netns), both ends closed; sets SPID (the listener's and
# server's process) and CPID (the client's).  ip netns exec execs its
# command: $! is that process.
conn_local() {
	local in=()
	[[ -n ${1:-} ]] && in=(ip netns exec "$1")
	# CPU 0: a teardown's TIME_WAIT (tests/lib/sock.bash)
	tf_listen -n "${1:-}" 9201 taskset -c 0 tcpflow-sock listen 127.0.0.1 9201 accept recv-eof close
	SPID=$TF_LISTEN_PID
	"${in[@]}" taskset -c 0 tcpflow-sock bind 127.0.0.1 42201 connect 127.0.0.1 9201 send 10 close 3>&- &
	CPID=$!
	wait "$CPID"
	wait "$SPID"
	tf_wait_for 10 tf_history_has 9201 42201 'LAST_ACK>CLOSE'
	tf_wait_for 10 tf_history_has 42201 9201 'FIN_WAIT2>TIME_WAIT'
}

@test "without CAP_NET_ADMIN a reader sees its netns's connections but not their owners" {
	conn_local
	tf_as_nobody cat /proc/tcpflow >"$VIS/nobody"
	cat /proc/tcpflow >"$VIS/root"
	[ "$(tf_conn 9201 0 "$VIS/nobody" | wc -l)" = 1 ]
	[ "$(tf_conn 9201 42201 "$VIS/nobody" | wc -l)" = 1 ]
	[ "$(tf_conn 42201 9201 "$VIS/nobody" | wc -l)" = 1 ]
	[ -z "$(owned "$VIS/nobody")" ]
	[ "$(field "$VIS/root" 9201 0 pid)" = "$SPID" ]
	[ "$(field "$VIS/root" 9201 0 comm)" = tcpflow-sock ]
	[ "$(field "$VIS/root" 9201 42201 pid)" = "$SPID" ]
	[ "$(field "$VIS/root" 42201 9201 pid)" = "$CPID" ]
	[ "$(field "$VIS/root" 42201 9201 comm)" = tcpflow-sock ]
	# The owner's cgroup goes with its pid.
	[[ $(field "$VIS/root" 42201 9201 cgroup) =~ ^[1-9][0-9]*$ ]]
}

@test "in a netns of the initial user namespace, root sees owners and nobody does not" {
	tf_netns_add sa
	conn_local sa
	spid=$SPID cpid=$CPID
	ip netns exec sa cat /proc/tcpflow >"$VIS/root"
	tf_as_nobody -n sa cat /proc/tcpflow >"$VIS/nobody"
	[ "$(grep -c '^conn ' "$VIS/root")" = 3 ]
	[ "$(grep -c '^conn ' "$VIS/nobody")" = 3 ]
	[ -z "$(owned "$VIS/nobody")" ]
	[ "$(field "$VIS/root" 9201 0 pid)" = "$spid" ]
	[ "$(field "$VIS/root" 9201 42201 pid)" = "$spid" ]
	[ "$(field "$VIS/root" 42201 9201 pid)" = "$cpid" ]
	[[ $(field "$VIS/root" 42201 9201 cgroup) =~ ^[1-9][0-9]*$ ]]
}

# inside DIR: run in a new user, net and pid namespace (pid 1 there): a
# connection 127.0.0.1:42211 -> :9211 on its own loopback, then, once the
# host made its listener :9212 here (file DIR/host), /proc/tcpflow into
# DIR/proc and, if it can open the device, tcpflowctl's list into
# DIR/list.  Its follow (live records) started before any connection goes
# to DIR/follow.  Holds its server (DIR/spid, DIR/cpid: their pids here)
# until DIR/done.
inside() {
	local d=$1 fpid=''
	ip link set lo up
	if [[ -r /dev/tcpflow ]]; then
		tcpflowctl -j follow >"$d/follow" 2>&1 &
		fpid=$!
		tf_wait_for 10 tf_has_open "$fpid" /dev/tcpflow
	fi
	tcpflow-sock listen 127.0.0.1 9211 accept touch "$d/accepted" recv-eof close wait "$d/done" &
	echo $! >"$d/spid"
	tf_wait_for 10 tf_tcp_listening 9211
	tcpflow-sock bind 127.0.0.1 42211 connect 127.0.0.1 9211 send 10 close &
	echo $! >"$d/cpid"
	wait $!
	tf_wait_for 10 test -e "$d/accepted"
	touch "$d/ready"
	tf_wait_for 30 test -e "$d/host"
	if [[ -n $fpid ]]; then
		tcpflowctl -a -H -j >"$d/list"
		tf_wait_for 10 grep -Eq '"sport": *9212,' "$d/follow"
		kill -INT "$fpid"
		wait "$fpid" || true
	fi
	cat /proc/tcpflow >"$d/proc.tmp"
	mv "$d/proc.tmp" "$d/proc"
	tf_wait_for 60 test -e "$d/done"
	wait
}

# run_inside AS...: inside, as the given user (prefix command), from the
# host, which adds its own listener :9212 in that netns; leaves root's
# /proc/tcpflow in VIS/root and sets GSPID (the server's global pid),
# NSPID (its pids, global and inside, from its status) and HPID (the host
# listener's).
run_inside() {
	"$@" unshare -Urnpf --mount-proc bash -c \
		"$(declare -f inside tf_wait_for tf_tcp_listening tf_has_open); inside $VIS" 3>&- &
	local upid=$!
	tf_wait_for 20 test -e "$VIS/ready"
	GSPID=$(pgrep -f '^tcpflow-sock listen 127.0.0.1 9211 ')
	NSPID=$(awk '/^NSpid:/ { print $2, $3 }' "/proc/$GSPID/status")
	nsenter -t "$GSPID" -n tcpflow-sock listen 127.0.0.1 9212 close-listener &
	HPID=$!
	wait "$HPID"
	touch "$VIS/host"
	tf_wait_for 30 test -e "$VIS/proc"
	cat /proc/tcpflow >"$VIS/root"
	touch "$VIS/done"
	wait "$upid"
}

@test "a user in its own user, net and pid namespaces sees its owners as its pids, and no host pid" {
	run_inside tf_as_nobody
	spid=$(cat "$VIS/spid") cpid=$(cat "$VIS/cpid")
	# Its own: listener, server, client, and the host's listener.
	[ "$(grep -c '^conn ' "$VIS/proc")" = 4 ]
	[ "$(field "$VIS/proc" 9211 0 pid)" = "$spid" ]
	[ "$(field "$VIS/proc" 9211 0 comm)" = tcpflow-sock ]
	[ "$(field "$VIS/proc" 9211 42211 pid)" = "$spid" ]
	[ "$(field "$VIS/proc" 42211 9211 pid)" = "$cpid" ]
	# Its cgroup, with its pid: the same number as the host sees.
	[[ $(field "$VIS/proc" 9211 0 cgroup) =~ ^[1-9][0-9]*$ ]]
	[ "$(field "$VIS/proc" 9211 0 cgroup)" = "$(field "$VIS/root" 9211 0 cgroup)" ]
	# The host's process has no pid in that namespace: no owner at all,
	# nor its cgroup, which root sees.
	[ "$(tf_conn 9212 0 "$VIS/proc" | wc -l)" = 1 ]
	[ -z "$(owned <(tf_conn 9212 0 "$VIS/proc"))" ]
	[[ $(field "$VIS/root" 9212 0 cgroup) =~ ^[1-9][0-9]*$ ]]
	# The initial pid namespace sees global pids for all of them.
	[ "$(field "$VIS/root" 9211 0 pid)" = "$GSPID" ]
	[ "$(field "$VIS/root" 9211 42211 pid)" = "$GSPID" ]
	[ "$(field "$VIS/root" 9212 0 pid)" = "$HPID" ]
	[ "$GSPID" != "$spid" ]
	[ "$NSPID" = "$GSPID $spid" ]
	# Its header counts only its namespace's connections.
	[ "$(hdr "$VIS/proc" connections)" = 4 ]
}

@test "root in a child user, net and pid namespace reads the device with its own pids, snapshot and live" {
	run_inside
	spid=$(cat "$VIS/spid") cpid=$(cat "$VIS/cpid")
	[ "$GSPID" != "$spid" ]
	list() {
		jq -r "select(.sport == $1 and .dport == $2) | \"\(.pid) \(.comm)\"" "$VIS/list"
	}
	[ "$(list 9211 0)" = "$spid tcpflow-sock" ]
	[ "$(list 9211 42211)" = "$spid tcpflow-sock" ]
	[ "$(list 42211 9211)" = "$cpid tcpflow-sock" ]
	[ "$(list 9212 0)" = "0 " ]
	# The cgroup id goes with the pid: its own, not the host's.
	[ "$(jq -r 'select(.sport == 9211 and .dport == 0) | .cgroup_id' "$VIS/list")" = "$(field "$VIS/root" 9211 0 cgroup)" ]
	[ "$(jq -r 'select(.sport == 9212 and .dport == 0) | .cgroup_id' "$VIS/list")" = 0 ]
	[ "$(jq -r 'select(.sport == 9212) | .cgroup_id' "$VIS/follow" | sort -u)" = 0 ]
	[ "$(jq -r .netns "$VIS/list" | sort -u | wc -l)" = 1 ]
	# Live: every record of its listener names it, none of the host's.
	[ "$(jq -r 'select(.sport == 9211 and .dport == 0) | .pid' "$VIS/follow" | sort -u)" = "$spid" ]
	[ "$(jq -r 'select(.sport == 9212) | "\(.pid) \(.comm)"' "$VIS/follow" | sort -u)" = "0 " ]
	[ "$(field "$VIS/root" 9211 0 pid)" = "$GSPID" ]
	[ "$(field "$VIS/root" 9212 0 pid)" = "$HPID" ]
}

@test "absolute_seq shows absolute numbers to readers with CAP_NET_ADMIN only" {
	echo 1 >/sys/module/tcpflow/parameters/absolute_seq
	conn_local
	cat /proc/tcpflow >"$VIS/root"
	tf_as_nobody cat /proc/tcpflow >"$VIS/nobody"
	echo 0 >/sys/module/tcpflow/parameters/absolute_seq
	cat /proc/tcpflow >"$VIS/root-rel"
	# The client's SYN: the ISN itself for root, 0 for nobody.
	syn() {
		tf_segments 42201 9201 "$1" | awk '$1 == "tx" && $2 == "SYN" { print $3 }'
	}
	isn=$(syn "$VIS/root")
	[[ $isn =~ ^[0-9]+$ ]]
	[ "$isn" != 0 ]
	[ "$(syn "$VIS/nobody")" = 0 ]
	[ "$(syn "$VIS/root-rel")" = 0 ]
	# Every segment nobody sees is the relative one root sees.
	[ "$(tf_segments 42201 9201 "$VIS/nobody")" = "$(tf_segments 42201 9201 "$VIS/root-rel")" ]
	[ "$(tf_segments 9201 42201 "$VIS/nobody")" = "$(tf_segments 9201 42201 "$VIS/root-rel")" ]
	[ "$(tf_segments 9201 42201 "$VIS/nobody")" != "$(tf_segments 9201 42201 "$VIS/root")" ]
}

@test "a number whose ISN was never seen is shown absolute to root and not at all to others" {
	# A SYN to a closed port: the RST that answers it has seq 0, from no
	# ISN of the peer's; its ack is relative to the client's ISN.
	run tcpflow-sock bind 127.0.0.1 42202 connect-fail 127.0.0.1 9203
	tf_wait_for 10 tf_history_has 42202 9203 'SYN_SENT>CLOSE'
	tf_as_nobody cat /proc/tcpflow >"$VIS/nobody"
	rst() {
		tf_segments 42202 9203 "$1" | awk '$1 == "rx" { print $2, $3, $4 }'
	}
	[ "$(rst /proc/tcpflow)" = "RST,ACK 0 1" ]
	[ "$(rst "$VIS/nobody")" = "RST,ACK - 1" ]
}

@test "a reader in a child netns counts only that netns, in /proc/tcpflow and TCPFLOW_IOC_COUNTERS" {
	# Others in the initial netns.
	tcpflow-sock listen 127.0.0.1 9204 close-listener
	tf_netns_add sa
	conn_local sa
	ip netns exec sa tcpflow-sock listen 127.0.0.1 9206 close-listener
	ip netns exec sa cat /proc/tcpflow >"$VIS/sa"
	tf_as_nobody cat /proc/tcpflow >"$VIS/init"
	cat /proc/tcpflow >"$VIS/all"
	# Listeners 9201 and 9206 and the server closed, the client in
	# TIME_WAIT.
	[ "$(grep -c '^conn ' "$VIS/sa")" = 4 ]
	events=$(grep -c '^  +' "$VIS/sa")
	[ "$(head -n 1 "$VIS/sa" | sed 's/.*abi [0-9]*: //')" = \
	  "4 connections (1 live, 3 closed) of 8192, 0 untracked, 0 evicted, 0 events dropped" ]
	[ "$(ip netns exec sa tcpflow-devtest open counters)" = \
	  "conns=4 live=1 closed=3 max=8192 untracked=0 evicted=0 dropped=0 total=$events" ]
	# The initial netns without CAP_NET_ADMIN: the connections it sees
	# (its listener 9204, and what earlier tests left in TIME_WAIT), none
	# of sa's.
	init=$(grep -c '^conn ' "$VIS/init")
	[ -n "$(tf_conn 9204 0 "$VIS/init")" ]
	[ -z "$(tf_conn 9201 0 "$VIS/init")" ]
	[ "$(hdr "$VIS/init" connections)" = "$init" ]
	[ "$(hdr "$VIS/init" closed)" = "$(grep '^conn ' "$VIS/init" | awk '$6 == "CLOSE"' | wc -l)" ]
	[ "$(hdr "$VIS/init" evicted)" = 0 ]
	# Root sees the whole table and its counters: the initial netns's
	# connections as nobody saw them, sa's four, and what the load seeded
	# from a netns an earlier test left behind that the kernel has not
	# finished destroying (cleanup_net() runs from a workqueue).
	all=$(grep -c '^conn ' "$VIS/all")
	ns_conns() {
		grep '^conn ' "$VIS/all" | grep -c " netns=$1 " || true
	}
	[ "$(ns_conns "$(stat -L -c %i /proc/self/ns/net)")" = "$init" ]
	[ "$(ns_conns "$(tf_netns_inode sa)")" = 4 ]
	[ "$(hdr "$VIS/all" connections)" = "$all" ]
	[[ $(tcpflow-devtest open counters) == "conns=$all "* ]]
}

# listeners NETNS N FIRSTPORT: N listeners opened and closed in NETNS,
# 2 events each (CLOSE>LISTEN, LISTEN>CLOSE), all on CPU 0 (one ring).
listeners() {
	local p
	for p in $(seq "$3" $(($3 + $2 - 1))); do
		ip netns exec "$1" taskset -c 0 tcpflow-sock listen 127.0.0.1 "$p" close-listener
	done
}

# live_events FILE: the EVENT records after the snapshot's SYNC.
live_events() {
	awk 'live && /^EVENT / { n++ } /^SYNC$/ { live = 1 } END { print n + 0 }' "$1"
}

# reader_loss NETNS: a device reader in NETNS that takes its snapshot, waits
# for $VIS/go, then reads the live stream to its end (into $VIS/NETNS.out).
reader_loss() {
	ip netns exec "$1" tcpflow-devtest open-nb snapshot touch "$VIS/$1.synced" \
		wait "$VIS/go" drain >"$VIS/$1.out" 3>&- &
	tf_wait_for 10 test -e "$VIS/$1.synced"
}

@test "a reader in a child netns that falls behind is told how many of its own netns's events it missed, no more" {
	tf_unload
	tf_load ring_events=16
	tf_netns_add sa sb
	reader_loss sa
	# 40 events of sb, then 4 of sa: the ring keeps the last 16, sa's
	# among them; sa's reader lost none of its own.
	listeners sb 20 9230
	listeners sa 2 9260
	touch "$VIS/go"
	wait
	[ "$(grep -c '^LOSS' "$VIS/sa.out")" = 0 ]
	[ "$(live_events "$VIS/sa.out")" = 4 ]

	# 10 events of sa, then 40 of sb: every one of sa's is gone, and its
	# reader is told 10, not 34.
	rm -f "$VIS/go"
	reader_loss sa
	listeners sa 5 9270
	listeners sb 20 9280
	touch "$VIS/go"
	wait
	[ "$(grep '^LOSS' "$VIS/sa.out")" = "LOSS 10" ]
	[ "$(live_events "$VIS/sa.out")" = 0 ]

	# A reader of every namespace is told every event it missed: the 50
	# (and any of an earlier test's TIME_WAIT ending meanwhile, on either
	# CPU) but the 16 CPU 0 kept and what CPU 1 recorded.
	rm -f "$VIS/go"
	tcpflow-devtest open-nb counters snapshot touch "$VIS/all.synced" \
		wait "$VIS/go" drain counters >"$VIS/all.out" 3>&- &
	tf_wait_for 10 test -e "$VIS/all.synced"
	listeners sa 5 9300
	listeners sb 20 9310
	touch "$VIS/go"
	wait
	t0=$(head -n 1 "$VIS/all.out" | sed 's/.*total=//')
	t1=$(tail -n 1 "$VIS/all.out" | sed 's/.*total=//')
	[ $((t1 - t0)) -ge 50 ]
	lost=$(tf_dev_lost "$VIS/all.out")
	got=$(tf_dev_live "$VIS/all.out")
	[ "$got" -ge 16 ]
	[ $((lost + got)) = $((t1 - t0)) ]
	[ "$lost" -ge $((50 - 16)) ]
}
