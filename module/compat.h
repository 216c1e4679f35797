/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the supported kernels (5.10 to 7.2) lives here.
 * Kbuild defines TCPFLOW_HAVE_* from feature tests on the kernel's own
 * headers, not from version numbers: Debian backports APIs.  tcpflow.h
 * includes this file.
 *
 * What does not differ: the state tracepoint's prototype, and the first
 * argument and return value of the functions the kprobes read (the later
 * arguments of tcp_timewait_state_process() changed; they are not read).
 */
#ifndef _TCPFLOW_COMPAT_H
#define _TCPFLOW_COMPAT_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/inet6_hashtables.h>
#include <net/inet_hashtables.h>
#include <net/net_namespace.h>

/*
 * A namespace's identity, never reused while the module is loaded.  From
 * 5.12 the kernel gives every namespace a u64 cookie at creation.  5.10
 * makes it lazily, in a function it does not export, so most namespaces
 * read 0 there: use the inode number, unique among live namespaces, with
 * the namespace's random hash_mix, so that a later namespace that reuses
 * the number is told apart (but for a 1 in 2^32 chance).  Never 0.
 */
static inline u64 tcpflow_net_cookie(const struct net *net)
{
#ifdef TCPFLOW_HAVE_NET_COOKIE
	return net->net_cookie;
#else
	return (u64)net->ns.inum << 32 | net->hash_mix;
#endif
}

/*
 * TCP's listening buckets, which seed.c walks.  Before 5.19 every listener
 * is in listening_hash[], chained by sk_nulls_node (lhash2 chains by
 * icsk_listen_portaddr_node there); from 5.19 lhash2 is the only one and
 * chains by sk_nulls_node.
 */
static inline unsigned int tcpflow_lhash_size(const struct inet_hashinfo *h)
{
#ifdef TCPFLOW_HAVE_LISTENING_HASH
	return INET_LHTABLE_SIZE;
#else
	return h->lhash2_mask + 1;
#endif
}

static inline struct inet_listen_hashbucket *
tcpflow_lhash_bucket(struct inet_hashinfo *h, unsigned int i)
{
#ifdef TCPFLOW_HAVE_LISTENING_HASH
	return &h->listening_hash[i];
#else
	return &h->lhash2[i];
#endif
}

/*
 * From 6.1 a namespace created while its creator's
 * net.ipv4.tcp_child_ehash_entries was set has an established table of its
 * own (its listeners stay in the global listening table); NULL when it
 * uses the global one, and always before 6.1.
 */
static inline struct inet_hashinfo *tcpflow_own_ehash(const struct net *net)
{
#ifdef TCPFLOW_HAVE_PERNET_EHASH
	struct inet_hashinfo *h = net->ipv4.tcp_death_row.hashinfo;

	return h && h->pernet ? h : NULL;
#else
	return NULL;
#endif
}

/*
 * Established-table lookups, in softirq under rcu_read_lock(): up to 7.1
 * the caller passes the hash table; 7.2 finds it from the namespace.
 */
static inline struct sock *
tcpflow_inet_lookup_established(struct net *net, __be32 saddr, __be16 sport,
				__be32 daddr, u16 hnum, int dif, int sdif)
{
#ifdef TCPFLOW_HAVE_LOOKUP_HASHINFO
	return __inet_lookup_established(net, net->ipv4.tcp_death_row.hashinfo,
					 saddr, sport, daddr, hnum, dif, sdif);
#else
	return __inet_lookup_established(net, saddr, sport, daddr, hnum, dif,
					 sdif);
#endif
}

static inline struct sock *
tcpflow_inet6_lookup_established(struct net *net, const struct in6_addr *saddr,
				 __be16 sport, const struct in6_addr *daddr,
				 u16 hnum, int dif, int sdif)
{
#ifdef TCPFLOW_HAVE_LOOKUP_HASHINFO
	return __inet6_lookup_established(net,
					  net->ipv4.tcp_death_row.hashinfo,
					  saddr, sport, daddr, hnum, dif, sdif);
#else
	return __inet6_lookup_established(net, saddr, sport, daddr, hnum, dif,
					  sdif);
#endif
}

/*
 * The largest packet a device takes whole for segmentation offload: from
 * 6.3 (BIG TCP for IPv4) it depends on the packet's family, read from
 * skb->protocol (set before LOCAL_OUT).
 */
static inline unsigned int tcpflow_gso_max_size(const struct net_device *dev,
						const struct sk_buff *skb)
{
#ifdef TCPFLOW_HAVE_GSO_MAX_SIZE_SKB
	return netif_get_gso_max_size(dev, skb);
#else
	return READ_ONCE(dev->gso_max_size);
#endif
}

#endif /* _TCPFLOW_COMPAT_H */
