// SPDX-License-Identifier: GPL-2.0
/*
 * Connections that existed before the module was loaded: found once, at
 * load, in TCP's own hash tables, so that a CLOSE_WAIT leak that started
 * yesterday is visible after today's insmod.
 *
 * The hooks are attached before the walk, so nothing that happens during it
 * is missed; a socket the hooks already track is skipped (same cookie).
 * Sockets in a bucket cannot be freed while the bucket lock is held.
 * Lock order: bucket lock, then tcpflow_table.lock; the hooks never take a
 * bucket lock while holding tcpflow_table.lock.
 *
 * Only the global table is walked: a namespace with its own established
 * table (net.ipv4.tcp_child_ehash_entries) keeps its older connections
 * unseen.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <net/inet_hashtables.h>
#include <net/inet_timewait_sock.h>
#include <net/tcp.h>

#include "tcpflow.h"

static unsigned int tcpflow_seed_sock(struct sock *sk)
{
	struct tcpflow_conn *c;
	unsigned long flags;
	int state = sk->sk_state;
	u64 cookie;

	if (state == TCP_NEW_SYN_RECV)
		return 0;	/* a request, not yet a connection */
	cookie = tcpflow_sock_cookie(sk);

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	if (tcpflow_conn_lookup(cookie)) {
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
		return 0;
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
			c->info.role = TCPFLOW_ROLE_LISTENER;
		}
	}
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	return c ? 1 : 0;
}

/*
 * Calls @fn on every socket in TCP's global listening and established
 * (timewait included) tables, each bucket under its lock: a socket cannot
 * be freed, nor move between buckets, while its bucket's lock is held.
 * Process context: it reschedules between buckets.
 */
void tcpflow_tcp_walk(void (*fn)(struct sock *sk, void *arg), void *arg)
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

static void tcpflow_seed_one(struct sock *sk, void *arg)
{
	unsigned int *n = arg;

	*n += tcpflow_seed_sock(sk);
}

void tcpflow_seed(void)
{
	unsigned int n = 0;

	tcpflow_tcp_walk(tcpflow_seed_one, &n);
	pr_info("%u connections existed at load\n", n);
}
