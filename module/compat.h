/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the supported kernels (5.10 to 7.2) lives here.
 * Kbuild force-includes this file and defines TCPFLOW_HAVE_* from feature
 * tests on the kernel's own headers, not from version numbers: Debian
 * backports APIs.  Only macros: nothing here needs a kernel type before
 * the file that uses it has included its headers.
 *
 * What does not differ: the state tracepoint's prototype, and the first
 * argument and return value of the functions the kprobes read (the later
 * arguments of tcp_timewait_state_process() changed; they are not read).
 */
#ifndef _TCPFLOW_COMPAT_H
#define _TCPFLOW_COMPAT_H

/*
 * A namespace's identity, never reused while the module is loaded.  From
 * 5.12 the kernel gives every namespace a u64 cookie at creation.  5.10
 * makes it lazily, in a function it does not export, so most namespaces
 * read 0 there: use the inode number, unique among live namespaces, with
 * the namespace's random hash_mix, so that a later namespace that reuses
 * the number is told apart (but for a 1 in 2^32 chance).  Never 0.
 */
#ifdef TCPFLOW_HAVE_NET_COOKIE
#define tcpflow_net_cookie(net)	((net)->net_cookie)
#else
#define tcpflow_net_cookie(net)	\
	(((u64)(net)->ns.inum << 32) | (net)->hash_mix)
#endif

/*
 * TCP's listening buckets, which seed.c walks.  Before 5.19 every listener
 * is in listening_hash[], chained by sk_nulls_node (lhash2 chains by
 * icsk_listen_portaddr_node there); from 5.19 lhash2 is the only one and
 * chains by sk_nulls_node.
 */
#ifdef TCPFLOW_HAVE_LISTENING_HASH
#define tcpflow_lhash_size(h)		INET_LHTABLE_SIZE
#define tcpflow_lhash_bucket(h, i)	(&(h)->listening_hash[i])
#else
#define tcpflow_lhash_size(h)		((h)->lhash2_mask + 1)
#define tcpflow_lhash_bucket(h, i)	(&(h)->lhash2[i])
#endif

/*
 * Established-table lookups: up to 7.1 the caller passes the hash table;
 * 7.2 finds it from the namespace.
 */
#ifdef TCPFLOW_HAVE_LOOKUP_HASHINFO
#define tcpflow_inet_lookup_established(net, ...)			\
	__inet_lookup_established(net, (net)->ipv4.tcp_death_row.hashinfo, \
				  __VA_ARGS__)
#define tcpflow_inet6_lookup_established(net, ...)			\
	__inet6_lookup_established(net, (net)->ipv4.tcp_death_row.hashinfo, \
				   __VA_ARGS__)
#else
#define tcpflow_inet_lookup_established(net, ...)			\
	__inet_lookup_established(net, __VA_ARGS__)
#define tcpflow_inet6_lookup_established(net, ...)			\
	__inet6_lookup_established(net, __VA_ARGS__)
#endif

#endif /* _TCPFLOW_COMPAT_H */
