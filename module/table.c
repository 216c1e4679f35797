// SPDX-License-Identifier: GPL-2.0
/*
 * The connection table: a fixed pool of entries, a hash of live entries by
 * socket cookie, and the lists readers walk.
 *
 * Why a cookie and not the socket address: struct sock addresses are reused
 * as soon as a socket is freed, but a cookie is a 64-bit number the kernel
 * never hands out twice, and the timewait socket inherits it from the full
 * socket, so one key follows a connection from connect() to the end of
 * TIME_WAIT.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hash.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/nsproxy.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/sock_diag.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <net/inet_sock.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "tcpflow.h"

struct tcpflow_table tcpflow_table = {
	.lock = __SPIN_LOCK_UNLOCKED(tcpflow_table.lock),
};

static struct tcpflow_conn *tcpflow_entry(unsigned int i)
{
	return tcpflow_table.pool + (size_t)i * tcpflow_table.entry_size;
}

int tcpflow_table_init(unsigned int max_conns, unsigned int max_events)
{
	struct tcpflow_table *t = &tcpflow_table;
	unsigned int i;

	t->max_conns = max_conns;
	t->max_events = max_events;
	t->entry_size = sizeof(struct tcpflow_conn) +
			 max_events * sizeof(struct tcpflow_kevent);
	t->hash_bits = ilog2(roundup_pow_of_two(max_conns));
	t->hash = kvcalloc(1U << t->hash_bits, sizeof(*t->hash), GFP_KERNEL);
	if (!t->hash)
		return -ENOMEM;
	t->pool = vzalloc(array_size(max_conns, t->entry_size));
	if (!t->pool) {
		kvfree(t->hash);
		return -ENOMEM;
	}
	INIT_LIST_HEAD(&t->all);
	INIT_LIST_HEAD(&t->closed);
	INIT_LIST_HEAD(&t->pending);
	INIT_LIST_HEAD(&t->free);
	for (i = 0; i < max_conns; i++)
		list_add_tail(&tcpflow_entry(i)->node, &t->free);
	t->next_id = 1;
	t->load_ns = ktime_get_ns();
	return 0;
}

/* Called once every hook and reader is gone: nothing else can see the pool. */
void tcpflow_table_exit(void)
{
	vfree(tcpflow_table.pool);
	kvfree(tcpflow_table.hash);
}

u64 tcpflow_sock_cookie(const struct sock *sk)
{
	u32 c[2];

	/*
	 * Generates the cookie if the socket has none yet; this only sets
	 * sk_cookie atomically, once, and is safe in any context.
	 */
	sock_diag_save_cookie((struct sock *)sk, c);
	return (u64)c[1] << 32 | c[0];
}

void tcpflow_viewer_init(struct tcpflow_viewer *v, const struct file *file)
{
	struct net *net = current->nsproxy->net_ns;

	v->net_cookie = net->net_cookie;
	v->all = net_eq(net, &init_net) &&
		 file_ns_capable(file, &init_user_ns, CAP_NET_ADMIN);
}

static struct hlist_head *tcpflow_bucket(u64 cookie)
{
	return &tcpflow_table.hash[hash_64(cookie, tcpflow_table.hash_bits)];
}

struct tcpflow_conn *tcpflow_conn_lookup(u64 cookie)
{
	struct tcpflow_conn *c;

	lockdep_assert_held(&tcpflow_table.lock);
	hlist_for_each_entry(c, tcpflow_bucket(cookie), hnode)
		if (c->info.cookie == cookie)
			return c;
	return NULL;
}

void tcpflow_conn_fill_tuple(struct tcpflow_conn *c, const struct sock *sk)
{
	struct tcpflow_conn_info *ci = &c->info;

	ci->family = sk->sk_family;
	ci->sport = sk->sk_num;
	ci->dport = ntohs(sk->sk_dport);
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6) {
		memcpy(ci->saddr, &sk->sk_v6_rcv_saddr, 16);
		memcpy(ci->daddr, &sk->sk_v6_daddr, 16);
		return;
	}
#endif
	memset(ci->saddr, 0, sizeof(ci->saddr));
	memset(ci->daddr, 0, sizeof(ci->daddr));
	memcpy(ci->saddr, &sk->sk_rcv_saddr, 4);
	memcpy(ci->daddr, &sk->sk_daddr, 4);
}

void tcpflow_conn_set_owner(struct tcpflow_conn *c)
{
	c->info.pid = task_tgid_nr(current);
	strscpy_pad(c->info.comm, current->comm, sizeof(c->info.comm));
}

static void tcpflow_conn_release(struct tcpflow_conn *c)
{
	list_del(&c->lnode);
	list_del(&c->node);
	tcpflow_table.nclosed--;
}

/*
 * A new live entry for this socket, or NULL when every entry holds a live
 * connection.  The oldest closed history is given up first.  The caller
 * makes it findable: tcpflow_conn_hash() or tcpflow_conn_set_pending().
 */
struct tcpflow_conn *tcpflow_conn_new(const struct sock *sk)
{
	struct tcpflow_table *t = &tcpflow_table;
	const struct net *net = sock_net(sk);
	struct tcpflow_conn *c;

	lockdep_assert_held(&t->lock);
	c = list_first_entry_or_null(&t->free, struct tcpflow_conn, node);
	if (c) {
		list_del(&c->node);
	} else {
		c = list_first_entry_or_null(&t->closed, struct tcpflow_conn,
					     lnode);
		if (!c) {
			t->cnt.untracked++;
			return NULL;
		}
		tcpflow_conn_release(c);
		t->cnt.evicted++;
	}
	memset(c, 0, sizeof(*c));
	c->net_cookie = net->net_cookie;
	c->info.id = t->next_id++;
	c->info.netns = net->ns.inum;
	c->info.state = sk->sk_state;
	c->info.first_ns = ktime_get_ns();
	tcpflow_conn_fill_tuple(c, sk);
	INIT_HLIST_NODE(&c->hnode);
	INIT_LIST_HEAD(&c->lnode);
	list_add_tail(&c->node, &t->all);
	t->nlive++;
	t->cnt.conns_seen++;
	return c;
}

void tcpflow_conn_hash(struct tcpflow_conn *c, u64 cookie)
{
	c->info.cookie = cookie;
	hlist_add_head(&c->hnode, tcpflow_bucket(cookie));
}

/*
 * A child socket is cloned from its listener with the listener's cookie,
 * and gets its own only after its first transition (LISTEN -> SYN_RECV).
 * Until its next transition, which always comes while the child still
 * exists (at the latest its move to CLOSE), it is known by its address.
 */
void tcpflow_conn_set_pending(struct tcpflow_conn *c, const struct sock *sk)
{
	c->pending_sk = sk;
	list_add_tail(&c->lnode, &tcpflow_table.pending);
}

struct tcpflow_conn *tcpflow_conn_claim_pending(const struct sock *sk,
						u64 cookie)
{
	struct tcpflow_conn *c;

	lockdep_assert_held(&tcpflow_table.lock);
	list_for_each_entry(c, &tcpflow_table.pending, lnode) {
		if (c->pending_sk == sk) {
			list_del_init(&c->lnode);
			c->pending_sk = NULL;
			tcpflow_conn_hash(c, cookie);
			return c;
		}
	}
	return NULL;
}

/* Number of opening events an overflowing history keeps. */
u32 tcpflow_conn_head(void)
{
	return tcpflow_table.max_events / 2;
}

u32 tcpflow_conn_nevents(const struct tcpflow_conn *c)
{
	return min(c->total_events, tcpflow_table.max_events);
}

/*
 * The i-th event held, oldest first.  A full history keeps its first
 * tcpflow_conn_head() events in place and uses the rest as a ring, so both
 * the handshake and the latest events survive.
 */
const struct tcpflow_kevent *tcpflow_conn_event(const struct tcpflow_conn *c,
						u32 i)
{
	u32 max = tcpflow_table.max_events, head = tcpflow_conn_head();
	u32 ring = max - head;

	if (c->total_events <= max || i < head)
		return &c->ev[i];
	return &c->ev[head + (c->total_events - ring + (i - head) - head) % ring];
}

static void tcpflow_conn_add(struct tcpflow_conn *c,
			     const struct tcpflow_event *e)
{
	u32 max = tcpflow_table.max_events, head = tcpflow_conn_head();
	u32 n = c->total_events;
	struct tcpflow_kevent *ke;

	if (n < max) {
		ke = &c->ev[n];
	} else {
		ke = &c->ev[head + (n - head) % (max - head)];
		c->info.dropped_events++;
		tcpflow_table.cnt.events_dropped++;
	}
	ke->gseq = tcpflow_table.cnt.events_total++;
	ke->e = *e;
	c->total_events = n + 1;
	c->info.nevents = tcpflow_conn_nevents(c);
	tcpflow_ring_push(c, e);
}

void tcpflow_conn_add_state(struct tcpflow_conn *c, u64 t_ns, int old,
			    int new)
{
	struct tcpflow_event e = {
		.t_ns = t_ns,
		.type = TCPFLOW_EV_STATE,
		.a = old,
		.b = new,
	};

	c->info.state = new;
	tcpflow_conn_add(c, &e);
}

/* The history is complete: stop matching the cookie, queue for reuse. */
void tcpflow_conn_close(struct tcpflow_conn *c)
{
	struct tcpflow_table *t = &tcpflow_table;

	lockdep_assert_held(&t->lock);
	hlist_del_init(&c->hnode);
	list_del(&c->lnode);
	list_add_tail(&c->lnode, &t->closed);
	c->info.flags |= TCPFLOW_CONN_CLOSED;
	t->nlive--;
	t->nclosed++;
}
