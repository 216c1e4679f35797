# shellcheck shell=bash
# Network namespaces and the veth links between them.

# tf_netns_inode NAME: the inode of network namespace NAME, as
# /proc/tcpflow shows it (netns=).
tf_netns_inode() {
	stat -L -c %i "/run/netns/$1"
}

# tf_netns_add NAME...: new network namespaces, each with its loopback up.
tf_netns_add() {
	local ns
	for ns; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
}

# tf_veth_pair NSA NSB ADDRA ADDRB: two new namespaces joined by a veth pair
# (va in NSA with ADDRA/24, vb in NSB with ADDRB/24), loopbacks up.
tf_veth_pair() {
	ip netns add "$1"
	ip netns add "$2"
	ip link add va netns "$1" type veth peer name vb netns "$2"
	ip -n "$1" addr add "$3/24" dev va
	ip -n "$2" addr add "$4/24" dev vb
	ip -n "$1" link set va up
	ip -n "$2" link set vb up
	ip -n "$1" link set lo up
	ip -n "$2" link set lo up
}

# tf_router_setup: a client namespace sc and a server namespace ss joined
# through a router namespace sr, so that what the router drops was sent by
# one side (and captured there) but never reached the other:
#
#   sc: c0 10.9.1.1 fd09:1::1 -- c1 (sr) s1 -- s0 10.9.2.1 fd09:2::1 :ss
#
# tf_router_teardown removes them.
tf_router_setup() {
	local n
	for n in sc sr ss; do ip netns add "$n"; done
	ip link add c0 netns sc type veth peer name c1 netns sr
	ip link add s0 netns ss type veth peer name s1 netns sr
	ip -n sc addr add 10.9.1.1/24 dev c0
	ip -n sc addr add fd09:1::1/64 dev c0 nodad
	ip -n sr addr add 10.9.1.2/24 dev c1
	ip -n sr addr add fd09:1::2/64 dev c1 nodad
	ip -n sr addr add 10.9.2.2/24 dev s1
	ip -n sr addr add fd09:2::2/64 dev s1 nodad
	ip -n ss addr add 10.9.2.1/24 dev s0
	ip -n ss addr add fd09:2::1/64 dev s0 nodad
	for n in sc sr ss; do ip -n "$n" link set lo up; done
	ip -n sc link set c0 up
	ip -n ss link set s0 up
	ip -n sr link set c1 up
	ip -n sr link set s1 up
	ip netns exec sr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n sc route add default via 10.9.1.2
	ip -n sc -6 route add default via fd09:1::2
	ip -n ss route add default via 10.9.2.2
	ip -n ss -6 route add default via fd09:2::2
	ip netns exec sr tc qdisc add dev s1 clsact
}

tf_router_teardown() {
	local n
	for n in sc sr ss; do ip netns del "$n" 2>/dev/null || true; done
}

# tf_router_drop PROTO DPORT FLAGS/MASK: the router drops segments towards
# the server's port DPORT whose TCP flags match (PROTO: ip or ipv6).
tf_router_drop() {
	ip netns exec sr tc filter add dev s1 egress protocol "$1" pref 1 \
		flower ip_proto tcp dst_port "$2" tcp_flags "$3" action drop
}

tf_router_pass() {
	ip netns exec sr tc filter del dev s1 egress pref 1
}

# tf_netstat_ext NS FIELD: a TcpExt counter of namespace NS
# (/proc/net/netstat, as nstat names it without the prefix).
tf_netstat_ext() {
	# shellcheck disable=SC2016 # an awk program
	ip netns exec "$1" awk -v f="$2" '
		$1 == "TcpExt:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "TcpExt:" { print $col[f] }' /proc/net/netstat
}

# tf_netstat_is NS FIELD VALUE: for tf_wait_for.
tf_netstat_is() {
	[ "$(tf_netstat_ext "$1" "$2")" = "$3" ]
}
