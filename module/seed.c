// SPDX-License-Identifier: GPL-2.0
/*
 * Connections that existed before the module was loaded: found once, at
 * load, in TCP's own hash tables, so that a CLOSE_WAIT leak that started
 * yesterday is visible after today's insmod.
 *
 * The hooks are attached before the walk, so nothing that happens during it
 * is missed; a socket the hooks already track is skipped (same cookie).
 * Sockets in a bucket cannot be freed while the bucket lock is held.
 * Lock order: bucket lock, then tcpflow_table.lock, then an entry's; the
 * hooks never take a bucket lock while holding either.
 *
 * The global tables are walked, and the established table of each
 * namespace that has its own (net.ipv4.tcp_child_ehash_entries, 6.1+).
 *
 * How a connection began was not seen, so its role is inferred where that
 * is certain: the listening table is walked first and its sockets kept
 * (by netns, port and address), then an established or timewait socket
 * on a listener's address and port in its namespace is a server, one whose
 * peer is such a listener a client (a connection within the host: the
 * listener is bound to the peer's address, or to any and the peer is the
 * loopback or our own address), and one in SYN_SENT a client.  Otherwise,
 * or when both ends match, the role stays unknown: a client may bind a
 * listener's port, and an accepted connection outlives its listener.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <net/inet_hashtables.h>
#include <net/inet_timewait_sock.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/tcp.h>

#include "tcpflow.h"

/* A listener found at load: where it listens. */
struct tcpflow_seed_lsn {
	u32 netns;
	u16 port;
	u8 addr[16];			/* all zero: any address */
};

struct tcpflow_seed {
	struct tcpflow_seed_lsn *lsn;	/* sorted by netns, port once full */
	unsigned int nlsn, maxlsn;
	unsigned int seeded;
};

static int tcpflow_seed_lsn_cmp(const void *a, const void *b)
{
	const struct tcpflow_seed_lsn *x = a, *y = b;

	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/*
 * Whether a listener found at load listens on addr:port in netns: bound
 * to addr, or (if any) to any address.
 */
static bool tcpflow_seed_listened(const struct tcpflow_seed *s, u32 netns,
				  u16 port, const u8 addr[16], bool any_ok)
{
	static const u8 any[16];
	struct tcpflow_seed_lsn k = { .netns = netns, .port = port };
	unsigned int lo = 0, hi = s->nlsn;

	while (lo < hi) {		/* the first entry not below k */
		unsigned int mid = lo + (hi - lo) / 2;

		if (tcpflow_seed_lsn_cmp(&s->lsn[mid], &k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->nlsn && !tcpflow_seed_lsn_cmp(&s->lsn[lo], &k); lo++)
		if ((any_ok && !memcmp(s->lsn[lo].addr, any, 16)) ||
		    !memcmp(s->lsn[lo].addr, addr, 16))
			return true;
	return false;
}

/* A peer on this host for certain: the loopback, or our own address. */
static bool tcpflow_seed_peer_here(const struct tcpflow_conn_info *ci)
{
	if (!memcmp(ci->saddr, ci->daddr, 16))
		return true;
	if (ci->family == AF_INET)
		return ci->daddr[0] == 127;
	if (ipv6_addr_v4mapped((const struct in6_addr *)ci->daddr))
		return ci->daddr[12] == 127;
	return ipv6_addr_loopback((const struct in6_addr *)ci->daddr);
}

static void tcpflow_seed_role(const struct tcpflow_seed *s,
			      struct tcpflow_conn *c, int state)
{
	const struct tcpflow_conn_info *ci = &c->info;
	bool server, client;

	if (state == TCP_LISTEN) {
		c->info.role = TCPFLOW_ROLE_LISTENER;
		return;
	}
	server = tcpflow_seed_listened(s, ci->netns, ci->sport, ci->saddr,
				       true);
	/* A peer elsewhere may use a port one of ours listens on. */
	client = state == TCP_SYN_SENT ||
		 tcpflow_seed_listened(s, ci->netns, ci->dport, ci->daddr,
				       tcpflow_seed_peer_here(ci));
	if (server != client)
		c->info.role = server ? TCPFLOW_ROLE_SERVER :
					TCPFLOW_ROLE_CLIENT;
}

/* Keep a listener; as many as were counted, and a few opened since. */
static void tcpflow_seed_keep_lsn(struct tcpflow_seed *s,
				  const struct tcpflow_conn_info *ci)
{
	struct tcpflow_seed_lsn *l;

	if (s->nlsn >= s->maxlsn)
		return;
	l = &s->lsn[s->nlsn++];
	l->netns = ci->netns;
	l->port = ci->sport;
	memcpy(l->addr, ci->saddr, 16);
}

static void tcpflow_seed_sock(struct sock *sk, void *arg)
{
	struct tcpflow_seed *s = arg;
	struct tcpflow_conn *c;
	unsigned long flags;
	int state = sk->sk_state;
	u64 cookie;

	if (state == TCP_NEW_SYN_RECV)
		return;		/* a request, not yet a connection */
	if (tcpflow_scope_out_sk(sk))
		return;
	cookie = tcpflow_sock_cookie(sk);

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	c = tcpflow_conn_lookup(cookie);
	if (c) {
		/* Tracked since the hooks were attached. */
		tcpflow_conn_lock(c);
		if (state == TCP_LISTEN)
			tcpflow_seed_keep_lsn(s, &c->info);
		tcpflow_conn_unlock(c);
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
		return;
	}
	c = tcpflow_conn_new(sk);
	if (c) {
		tcpflow_conn_hash(c, cookie);
		c->info.flags |= TCPFLOW_CONN_PREEXISTING;
		if (state == TCP_TIME_WAIT) {
			/* A FIN_WAIT2 timewait socket is still FIN_WAIT2. */
			c->info.state = inet_twsk(sk)->tw_substate;
			c->in_tw = 1;
		} else if (state == TCP_LISTEN) {
			tcpflow_seed_keep_lsn(s, &c->info);
		}
		tcpflow_seed_role(s, c, state);
		s->seeded++;
		tcpflow_conn_unlock(c);
	}
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
}

/* Calls @fn on every socket in TCP's global listening table. */
static void tcpflow_tcp_walk_listening(void (*fn)(struct sock *sk, void *arg),
				       void *arg)
{
	/* The global table: init_net always uses it. */
	struct inet_hashinfo *h = init_net.ipv4.tcp_death_row.hashinfo;
	struct hlist_nulls_node *node;
	struct sock *sk;
	unsigned int i;

	for (i = 0; i < tcpflow_lhash_size(h); i++) {
		struct inet_listen_hashbucket *ilb = tcpflow_lhash_bucket(h, i);

		if (hlist_nulls_empty(&ilb->nulls_head))
			continue;
		spin_lock_bh(&ilb->lock);
		sk_nulls_for_each(sk, node, &ilb->nulls_head)
			fn(sk, arg);
		spin_unlock_bh(&ilb->lock);
	}
}

/* The same for an established table, timewait sockets included. */
static void tcpflow_tcp_walk_ehash(struct inet_hashinfo *h,
				   void (*fn)(struct sock *sk, void *arg),
				   void *arg)
{
	struct hlist_nulls_node *node;
	struct sock *sk;
	unsigned int i;

	for (i = 0; i <= h->ehash_mask; i++) {
		struct inet_ehash_bucket *b = &h->ehash[i];
		spinlock_t *lock = inet_ehash_lockp(h, i);

		if (hlist_nulls_empty(&b->chain))
			continue;
		spin_lock_bh(lock);
		sk_nulls_for_each(sk, node, &b->chain)
			fn(sk, arg);
		spin_unlock_bh(lock);
		cond_resched();
	}
}

/*
 * The global established table, then those of namespaces that have one of
 * their own.  net_rwsem keeps each namespace on the list, and so its table
 * allocated (tcp_sk_exit_batch() frees it only after cleanup_net() took
 * the namespace off the list under net_rwsem), while its buckets are
 * walked; it may be held across cond_resched().
 */
static void tcpflow_tcp_walk_established(void (*fn)(struct sock *sk,
						    void *arg),
					 void *arg)
{
	struct inet_hashinfo *h;
	struct net *net;

	tcpflow_tcp_walk_ehash(init_net.ipv4.tcp_death_row.hashinfo, fn, arg);
	down_read(&net_rwsem);
	for_each_net(net) {
		h = tcpflow_own_ehash(net);
		if (h)
			tcpflow_tcp_walk_ehash(h, fn, arg);
	}
	up_read(&net_rwsem);
}

/*
 * Calls @fn on every socket in TCP's listening and established (timewait
 * included) tables, each bucket under its lock: a socket cannot be freed,
 * nor move between buckets, while its bucket's lock is held.  Process
 * context: it reschedules between buckets.
 */
void tcpflow_tcp_walk(void (*fn)(struct sock *sk, void *arg), void *arg)
{
	tcpflow_tcp_walk_listening(fn, arg);
	tcpflow_tcp_walk_established(fn, arg);
}

static void tcpflow_seed_count_lsn(struct sock *sk, void *arg)
{
	unsigned int *n = arg;

	(*n)++;
}

/* Listeners opened between counting them and keeping them. */
#define TCPFLOW_SEED_LSN_SLACK	64

void tcpflow_seed(void)
{
	struct tcpflow_seed s = {};

	tcpflow_tcp_walk_listening(tcpflow_seed_count_lsn, &s.maxlsn);
	s.maxlsn += TCPFLOW_SEED_LSN_SLACK;
	/* Without it, no listener is known and no role inferred. */
	s.lsn = kvcalloc(s.maxlsn, sizeof(*s.lsn), GFP_KERNEL);
	if (!s.lsn)
		s.maxlsn = 0;
	tcpflow_tcp_walk_listening(tcpflow_seed_sock, &s);
	sort(s.lsn, s.nlsn, sizeof(*s.lsn), tcpflow_seed_lsn_cmp, NULL);
	tcpflow_tcp_walk_established(tcpflow_seed_sock, &s);
	kvfree(s.lsn);
	pr_info("%u connections existed at load\n", s.seeded);
}
