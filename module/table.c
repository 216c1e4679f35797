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

#include <linux/cgroup.h>
#include <linux/hash.h>
#include <linux/jhash.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/pid_namespace.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/sched.h>
#include <linux/sock_diag.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "tcpflow.h"

/*
 * The tuple hash's key: addresses and ports are the peer's choice, so a
 * seed it cannot know keeps it from aiming every request at one chain.
 */
static u32 tcpflow_key_seed __read_mostly;
#ifdef TCPFLOW_FAULT_INJECT
/* Test builds show it, so that a test sees a new one at each load. */
module_param_named(key_seed, tcpflow_key_seed, uint, 0400);
MODULE_PARM_DESC(key_seed, "test builds only: the tuple hash's seed");
#endif

struct tcpflow_table tcpflow_table = {
	.lock = __RAW_SPIN_LOCK_UNLOCKED(tcpflow_table.lock),
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
	t->thash = kvcalloc(1U << t->hash_bits, sizeof(*t->thash), GFP_KERNEL);
	t->pool = vzalloc(array_size(max_conns, t->entry_size));
	t->cnt = alloc_percpu(struct tcpflow_kcounters);
	if (!t->hash || !t->thash || !t->pool || !t->cnt) {
		tcpflow_table_exit();
		return -ENOMEM;
	}
	/*
	 * Requests are cheap to make (one SYN each) and most of a flood's
	 * never complete: they may hold a quarter of the pool, and beyond
	 * that the oldest request gives its entry to the newest.
	 */
	t->max_embryos = max(max_conns / 4, 1U);
	INIT_LIST_HEAD(&t->all);
	INIT_LIST_HEAD(&t->closed);
	INIT_LIST_HEAD(&t->pending);
	INIT_LIST_HEAD(&t->embryos);
	INIT_LIST_HEAD(&t->free);
	for (i = 0; i < max_conns; i++) {
		raw_spin_lock_init(&tcpflow_entry(i)->lock);
		list_add_tail(&tcpflow_entry(i)->node, &t->free);
	}
	tcpflow_key_seed = get_random_u32();
	t->next_id = 1;
	t->load_ns = ktime_get_ns();
	return 0;
}

/* Called once every hook and reader is gone: nothing else can see the pool. */
void tcpflow_table_exit(void)
{
	free_percpu(tcpflow_table.cnt);
	vfree(tcpflow_table.pool);
	kvfree(tcpflow_table.thash);
	kvfree(tcpflow_table.hash);
}

void tcpflow_kcounters_sum(const struct tcpflow_kcounters __percpu *pc,
			   struct tcpflow_kcounters *sum)
{
	const struct tcpflow_kcounters *one;
	unsigned int i;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		one = per_cpu_ptr(pc, cpu);
		for (i = 0; i < TCPFLOW_CNT_MAX; i++)
			sum->v[i] += READ_ONCE(one->v[i]);
	}
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

static struct hlist_head *tcpflow_bucket(u64 cookie)
{
	return &tcpflow_table.hash[hash_64(cookie, tcpflow_table.hash_bits)];
}

/*
 * Lookups.  Under the table lock a lookup is exact: nothing it reads moves.
 * Without it (tcpflow_conn_try()), only with preemption off, a lookup
 * reads chains that other CPUs change, as RCU readers of a
 * SLAB_TYPESAFE_BY_RCU cache do: the pool is never freed while the module
 * is loaded, so every pointer it follows is an entry, but one that may be
 * unhashed, reused for another connection, or rehashed into another chain
 * (its next pointer then leads into that chain, or is cleared) while it is
 * read.  So what it finds is a candidate, checked again under the entry's
 * lock, which every change to what a lookup compares is made under; and
 * what it misses may have been there.  A miss, a candidate that fails the
 * check, or a chain longer than TCPFLOW_TRY_STEPS (which can only grow
 * that long while entries move) sends the caller to the exact lookup.
 */
#define TCPFLOW_TRY_STEPS	16

struct tcpflow_conn *tcpflow_conn_lookup(u64 cookie)
{
	struct tcpflow_conn *c;

	lockdep_assert_held(&tcpflow_table.lock);
	hlist_for_each_entry_rcu(c, tcpflow_bucket(cookie), hnode)
		if (c->info.cookie == cookie)
			return c;
	return NULL;
}

/*
 * Lookups return their entry locked, or NULL: a conditional lock that
 * sparse's context counting cannot follow.  These two hide the entry's
 * lock from it; lockdep checks it instead, on the debug kernel, where
 * every function that needs an entry locked asserts it.
 */
void tcpflow_conn_lock(struct tcpflow_conn *c)
{
	lockdep_assert_irqs_disabled();
	raw_spin_lock(&c->lock);
	__release(&c->lock);
}

void tcpflow_conn_unlock(struct tcpflow_conn *c)
{
	__acquire(&c->lock);
	raw_spin_unlock(&c->lock);
}

/* The entry hashed under @cookie, locked, or NULL: try the exact lookup. */
struct tcpflow_conn *tcpflow_conn_try(u64 cookie)
{
	struct tcpflow_conn *c;
	unsigned int n = 0;

	lockdep_assert_irqs_disabled();
	hlist_for_each_entry_rcu(c, tcpflow_bucket(cookie), hnode) {
		if (++n > TCPFLOW_TRY_STEPS)
			return NULL;
		if (READ_ONCE(c->info.cookie) != cookie)
			continue;
		tcpflow_conn_lock(c);
		if (c->info.cookie == cookie && !hlist_unhashed(&c->hnode))
			return c;
		tcpflow_conn_unlock(c);
		return NULL;
	}
	return NULL;
}

/*
 * The entry hashed under @cookie, locked, or NULL: without the table lock
 * if it can, else with it.  Interrupts off.
 */
struct tcpflow_conn *tcpflow_conn_find(u64 cookie)
{
	struct tcpflow_conn *c = tcpflow_conn_try(cookie);

	if (c)
		return c;
	raw_spin_lock(&tcpflow_table.lock);
	c = tcpflow_conn_lookup(cookie);
	if (c)
		tcpflow_conn_lock(c);
	raw_spin_unlock(&tcpflow_table.lock);
	return c;
}

void tcpflow_key_set_addr(struct in6_addr *dst, u16 family, const void *a)
{
	if (family == AF_INET6)
		memcpy(dst, a, sizeof(*dst));
	else
		ipv6_addr_set_v4mapped(*(const __be32 *)a, dst);
}

static struct hlist_head *tcpflow_key_bucket(const struct tcpflow_key *k)
{
	u32 h = jhash2((const u32 *)k, sizeof(*k) / sizeof(u32),
		       tcpflow_key_seed);

	return &tcpflow_table.thash[hash_32(h, tcpflow_table.hash_bits)];
}

/* The newest entry with this tuple: a reused tuple names the latest. */
struct tcpflow_conn *tcpflow_conn_lookup_key(const struct tcpflow_key *k)
{
	struct tcpflow_conn *c;

	lockdep_assert_held(&tcpflow_table.lock);
	hlist_for_each_entry_rcu(c, tcpflow_key_bucket(k), tnode)
		if (!memcmp(&c->key, k, sizeof(*k)))
			return c;
	return NULL;
}

/*
 * The same without the table lock, locked, or NULL (see above).  An
 * entry being hashed under this tuple meanwhile may be missed for an
 * older one: the lookup happened first.
 */
struct tcpflow_conn *tcpflow_conn_try_key(const struct tcpflow_key *k)
{
	struct tcpflow_conn *c;
	unsigned int n = 0;

	lockdep_assert_irqs_disabled();
	hlist_for_each_entry_rcu(c, tcpflow_key_bucket(k), tnode) {
		if (++n > TCPFLOW_TRY_STEPS)
			return NULL;
		if (memcmp(&c->key, k, sizeof(*k)))
			continue;
		tcpflow_conn_lock(c);
		if (!memcmp(&c->key, k, sizeof(*k)) &&
		    !hlist_unhashed(&c->tnode))
			return c;
		tcpflow_conn_unlock(c);
		return NULL;
	}
	return NULL;
}

/* Changes to where an entry is found: under both locks. */
static void tcpflow_conn_assert_moving(const struct tcpflow_conn *c)
{
	lockdep_assert_held(&tcpflow_table.lock);
	lockdep_assert_held(&c->lock);
}

/* Index the entry by its tuple once both ports are known. */
static void tcpflow_conn_hash_key(struct tcpflow_conn *c)
{
	const struct tcpflow_conn_info *ci = &c->info;
	struct tcpflow_key k = {
		.net_cookie = c->net_cookie,
		.lport = ci->sport,
		.rport = ci->dport,
	};

	if (!k.lport || !k.rport)
		return;
	tcpflow_conn_assert_moving(c);
	tcpflow_key_set_addr(&k.laddr, ci->family, ci->saddr);
	tcpflow_key_set_addr(&k.raddr, ci->family, ci->daddr);
	if (!hlist_unhashed(&c->tnode)) {
		if (!memcmp(&c->key, &k, sizeof(k)))
			return;
		hlist_del_init_rcu(&c->tnode);
	}
	c->key = k;
	hlist_add_head_rcu(&c->tnode, tcpflow_key_bucket(&k));
}

void tcpflow_conn_set_lport(struct tcpflow_conn *c, u16 port)
{
	c->info.sport = port;
	tcpflow_conn_hash_key(c);
}

void tcpflow_conn_fill_tuple(struct tcpflow_conn *c, const struct sock *sk)
{
	struct tcpflow_conn_info *ci = &c->info;

	/* A port, once known, stays: a closing socket may have let it go. */
	ci->family = sk->sk_family;
	ci->sport = sk->sk_num ?: ci->sport;
	ci->dport = ntohs(sk->sk_dport) ?: ci->dport;
	memset(ci->saddr, 0, sizeof(ci->saddr));
	memset(ci->daddr, 0, sizeof(ci->daddr));
	if (IS_ENABLED(CONFIG_IPV6) && sk->sk_family == AF_INET6) {
		memcpy(ci->saddr, &sk->sk_v6_rcv_saddr, 16);
		memcpy(ci->daddr, &sk->sk_v6_daddr, 16);
	} else {
		memcpy(ci->saddr, &sk->sk_rcv_saddr, 4);
		memcpy(ci->daddr, &sk->sk_daddr, 4);
	}
	tcpflow_conn_hash_key(c);
}

/*
 * The cgroup v2 id of current's cgroup: its id in the default hierarchy,
 * which is the inode number of its directory under a cgroup2 mount.
 * current->cgroups is RCU-protected: a task being moved meanwhile gives
 * the old cgroup's id, and the cgroup cannot be freed before
 * rcu_read_unlock().  Neither sleeps nor allocates.
 */
static u64 tcpflow_current_cgroup_id(void)
{
#ifdef CONFIG_CGROUPS
	u64 id;

	rcu_read_lock();
	id = cgroup_id(task_dfl_cgroup(current));
	rcu_read_unlock();
	return id;
#else
	return 0;
#endif
}

/*
 * Called in task context, by the process acting on the socket.  Its pid
 * in the namespace it lives in is taken now, with that namespace's inode
 * number: a reader there sees that number (view.c), without the probe
 * holding a reference on anything.  So is its cgroup's id, which names
 * the service or container after the process has gone.
 */
void tcpflow_conn_set_owner(struct tcpflow_conn *c)
{
	struct pid_namespace *ns = task_active_pid_ns(current);

	c->info.pid = task_tgid_nr(current);
	c->owner.tgid = c->info.pid;
	c->owner.ns_tgid = ns ? task_tgid_nr_ns(current, ns) : 0;
	c->owner.pidns = ns ? ns->ns.inum : 0;
	strscpy_pad(c->info.comm, current->comm, sizeof(c->info.comm));
	/* Kept in info, as comm is: view.c hides both with the pid. */
	c->info.cgroup_id = tcpflow_current_cgroup_id();
}

/* The entry stops being found by its cookie (its socket starts anew). */
void tcpflow_conn_unhash(struct tcpflow_conn *c)
{
	tcpflow_conn_assert_moving(c);
	hlist_del_init_rcu(&c->hnode);
}

/*
 * Entries held, live and closed, in all and in @c's namespace: its counts
 * hold @c only if its record existed when @c was made (net_held), and
 * have gone with its namespace (tcpflow_netcnt_find() finds nothing).
 */
static void tcpflow_conn_count(const struct tcpflow_conn *c, int live,
			       int closed)
{
	struct tcpflow_netcnt *n;

	tcpflow_table.nlive += live;
	tcpflow_table.nclosed += closed;
	n = c->net_held ? tcpflow_netcnt_find(c->net_cookie) : NULL;
	if (n) {
		n->nlive += live;
		n->nclosed += closed;
	}
}

/*
 * An event of this netns not recorded (no entry for it, a closed history
 * that took its last segment, a fragment): counted in the table's
 * counters and in the netns's, which its own readers are shown.
 */
void tcpflow_count_dropped(u64 net_cookie)
{
	tcpflow_count(tcpflow_netcnt_find(net_cookie),
		      TCPFLOW_CNT_EVENTS_DROPPED);
}

/*
 * Give a closed history or a request's entry back for reuse: counted as
 * evicted in its own namespace, whose history it was.
 */
static void tcpflow_conn_evict(struct tcpflow_conn *c)
{
	struct tcpflow_table *t = &tcpflow_table;
	struct tcpflow_netcnt *n = tcpflow_netcnt_find(c->net_cookie);

	tcpflow_conn_assert_moving(c);
	hlist_del_init_rcu(&c->hnode);
	hlist_del_init_rcu(&c->tnode);
	list_del(&c->lnode);
	list_del(&c->node);
	if (c->embryo)
		t->nembryos--;
	if (c->info.flags & TCPFLOW_CONN_CLOSED)
		tcpflow_conn_count(c, 0, -1);
	else
		tcpflow_conn_count(c, -1, 0);
	tcpflow_count(n, TCPFLOW_CNT_EVICTED);
}

/*
 * An entry from the pool, locked, or NULL when every entry holds a live
 * connection: free ones first, then the oldest closed history, then the
 * oldest request.  A request beyond its share of the pool takes the
 * oldest request's entry instead.  An entry reused is locked before it is
 * cleared: an event on another CPU that found it a moment ago waits, then
 * sees that it is no longer the entry it looked for.
 */
static struct tcpflow_conn *tcpflow_conn_alloc(u64 net_cookie, u32 netns,
					       bool request)
{
	struct tcpflow_table *t = &tcpflow_table;
	struct tcpflow_netcnt *n = tcpflow_netcnt_find(net_cookie);
	struct tcpflow_conn *c = NULL;

	lockdep_assert_held(&t->lock);
	/* Live entries fill the pool: are they all still live? (reap.c) */
	if (t->nlive >= t->max_conns - t->max_conns / 8)
		tcpflow_reap_kick();
	if (request && t->nembryos >= t->max_embryos)
		c = list_first_entry(&t->embryos, struct tcpflow_conn, lnode);
	if (!c && !list_empty(&t->free)) {
		c = list_first_entry(&t->free, struct tcpflow_conn, node);
		list_del(&c->node);
		tcpflow_conn_lock(c);
	} else {
		if (!c)
			c = list_first_entry_or_null(&t->closed,
						     struct tcpflow_conn, lnode);
		if (!c)
			c = list_first_entry_or_null(&t->embryos,
						     struct tcpflow_conn, lnode);
		if (!c) {
			tcpflow_count(n, TCPFLOW_CNT_UNTRACKED);
			return NULL;
		}
		tcpflow_conn_lock(c);
		tcpflow_conn_evict(c);
	}
	/*
	 * All of it but the lock, which is held.  Lookups without the
	 * table lock may still follow the chain pointers: clear those in
	 * one write each first, so that none can read half of one.
	 */
	WRITE_ONCE(c->hnode.next, NULL);
	WRITE_ONCE(c->tnode.next, NULL);
	memset(c, 0, offsetof(struct tcpflow_conn, lock));
	memset(&c->info, 0, sizeof(c->info));
	c->net_cookie = net_cookie;
	c->info.id = t->next_id++;
	c->info.netns = netns;
	c->info.first_ns = ktime_get_ns();
	INIT_HLIST_NODE(&c->hnode);
	INIT_HLIST_NODE(&c->tnode);
	INIT_LIST_HEAD(&c->lnode);
	list_add_tail(&c->node, &t->all);
	c->net_held = !!n;
	tcpflow_conn_count(c, 1, 0);
	tcpflow_count(n, TCPFLOW_CNT_CONNS_SEEN);
	return c;
}

/*
 * A new live entry for this socket, locked, or NULL (counted) when there
 * is no room.  The caller makes it findable: tcpflow_conn_hash() or
 * tcpflow_conn_set_pending().
 */
struct tcpflow_conn *tcpflow_conn_new(const struct sock *sk)
{
	const struct net *net = sock_net(sk);
	struct tcpflow_conn *c;

	c = tcpflow_conn_alloc(tcpflow_net_cookie(net), net->ns.inum, false);

	if (c) {
		c->info.state = sk->sk_state;
		tcpflow_conn_fill_tuple(c, sk);
	}
	return c;
}

/*
 * A passive open seen from its SYN, before the kernel has a socket for
 * it: found by its tuple until the accepted socket adopts it.  Locked.
 */
struct tcpflow_conn *tcpflow_conn_new_request(const struct tcpflow_key *k,
					      u16 family, u32 netns)
{
	struct tcpflow_table *t = &tcpflow_table;
	struct tcpflow_conn *c;

	c = tcpflow_conn_alloc(k->net_cookie, netns, true);
	if (!c)
		return NULL;
	c->info.family = family;
	c->info.role = TCPFLOW_ROLE_SERVER;
	c->info.state = TCP_SYN_RECV;
	c->info.flags = TCPFLOW_CONN_REQUEST;
	c->info.sport = k->lport;
	c->info.dport = k->rport;
	if (family == AF_INET6) {
		memcpy(c->info.saddr, &k->laddr, 16);
		memcpy(c->info.daddr, &k->raddr, 16);
	} else {
		memcpy(c->info.saddr, &k->laddr.s6_addr32[3], 4);
		memcpy(c->info.daddr, &k->raddr.s6_addr32[3], 4);
	}
	c->key = *k;
	hlist_add_head_rcu(&c->tnode, tcpflow_key_bucket(k));
	c->embryo = 1;
	list_add_tail(&c->lnode, &t->embryos);
	t->nembryos++;
	return c;
}

/* A request still waiting for its handshake to complete. */
bool tcpflow_conn_is_request(const struct tcpflow_conn *c)
{
	return c->embryo && !(c->info.flags & TCPFLOW_CONN_CLOSED);
}

/*
 * The handshake completed: the request becomes the child socket's.  A
 * request a reset closed in the meantime lives again, for as long as the
 * child does.
 */
void tcpflow_conn_adopt(struct tcpflow_conn *c)
{
	struct tcpflow_table *t = &tcpflow_table;

	tcpflow_conn_assert_moving(c);
	list_del_init(&c->lnode);
	c->embryo = 0;
	t->nembryos--;
	if (c->info.flags & TCPFLOW_CONN_CLOSED)
		tcpflow_conn_count(c, 1, -1);
	c->info.flags &= ~(TCPFLOW_CONN_REQUEST | TCPFLOW_CONN_CLOSED);
}

void tcpflow_conn_hash(struct tcpflow_conn *c, u64 cookie)
{
	tcpflow_conn_assert_moving(c);
	c->info.cookie = cookie;
	hlist_add_head_rcu(&c->hnode, tcpflow_bucket(cookie));
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

/*
 * Two children cloned for one handshake (tcpflow_child_new()): the first
 * adopted the request, the other is a duplicate.  Which of them the kernel
 * keeps is decided only later, when each tries to replace the request in
 * the established hash; the loser moves to CLOSE at once.
 */
void tcpflow_conn_set_twins(struct tcpflow_conn *a, struct tcpflow_conn *b)
{
	a->twin = b;
	a->twin_id = b->info.id;
	b->twin = a;
	b->twin_id = a->info.id;
}

/*
 * While both twins wait for their next transition, the first to make it
 * says which child is which: the child that moves to CLOSE lost and is the
 * duplicate, the other carries on the connection and its request's
 * history.  Give @c's socket to its twin if it belongs there.  Under the
 * table lock alone: twin, twin_id and pending_sk are the table's, and the
 * duplicate flag, set when an entry is made, does not change while
 * another flag is written beside it.
 */
static struct tcpflow_conn *tcpflow_conn_twin_pick(struct tcpflow_conn *c,
						   int newstate)
{
	struct tcpflow_conn *t = c->twin;
	bool dup = READ_ONCE(c->info.flags) & TCPFLOW_CONN_DUPLICATE;
	bool lost = newstate == TCP_CLOSE;

	if (!t || t->info.id != c->twin_id || !t->pending_sk || dup == lost)
		return c;
	swap(c->pending_sk, t->pending_sk);
	return t;
}

/* The pending entry of this child socket, now found by its cookie: locked. */
struct tcpflow_conn *tcpflow_conn_claim_pending(const struct sock *sk,
						u64 cookie, int newstate)
{
	struct tcpflow_conn *c;

	lockdep_assert_held(&tcpflow_table.lock);
	list_for_each_entry(c, &tcpflow_table.pending, lnode) {
		if (c->pending_sk == sk) {
			c = tcpflow_conn_twin_pick(c, newstate);
			tcpflow_conn_lock(c);
			list_del_init(&c->lnode);
			c->pending_sk = NULL;
			tcpflow_conn_hash(c, cookie);
			/* Complete now; a request held the packet's family. */
			tcpflow_conn_fill_tuple(c, sk);
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
 * Readers walk tcpflow_table.all with a cursor: a node of their own that
 * sits after the last entry they took.  The hooks never walk this list;
 * they only unlink an entry (tcpflow_conn_alloc() recycling it) and add
 * entries at the tail, which leaves every cursor where it is.  So a reader
 * resumes in O(1) however the table changed since its last read(), and
 * walks the table once, in id order: an entry recycled behind a cursor
 * joins the tail again, with a new id, and is met once more as the new
 * connection it now holds.
 *
 * A reader never holds the table lock (interrupts off, the probes that
 * create or close entries waiting) for more than TCPFLOW_WALK_BATCH nodes,
 * whether or not it may see them, plus one copy of the entry it takes; it
 * formats that copy with the lock dropped.  All of a cursor's moves are
 * under the lock.  Each entry is judged and copied under its own lock too,
 * which its events take.
 */
static bool tcpflow_node_is_entry(const struct list_head *pos)
{
	const void *p = pos, *pool = tcpflow_table.pool;

	return p >= pool &&
	       p < pool + (size_t)tcpflow_table.max_conns *
			  tcpflow_table.entry_size;
}

void tcpflow_cursor_init(struct tcpflow_cursor *cur)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	list_add(&cur->node, &tcpflow_table.all);
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
}

void tcpflow_cursor_rewind(struct tcpflow_cursor *cur)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	list_move(&cur->node, &tcpflow_table.all);
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
}

void tcpflow_cursor_del(struct tcpflow_cursor *cur)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	list_del(&cur->node);
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
}

/* The longest walk under a lock, for TCPFLOW_IOC_COUNTERS. */
static atomic64_t tcpflow_walk_longest = ATOMIC64_INIT(0);

/*
 * Readers hold the table lock, or one CPU's ring lock (dev.c), and note
 * how long: no lock is taken for the note itself.
 */
void tcpflow_walk_note(unsigned int n)
{
	s64 old = atomic64_read(&tcpflow_walk_longest);

	while (n > old &&
	       !atomic64_try_cmpxchg(&tcpflow_walk_longest, &old, n))
		;
}

u64 tcpflow_walk_max(void)
{
	return atomic64_read(&tcpflow_walk_longest);
}

/* @c, if @want accepts it, into @copy: under its lock, with the table's. */
static bool tcpflow_conn_take(struct tcpflow_conn *c, tcpflow_want_fn want,
			      void *arg, struct tcpflow_conn *copy)
{
	bool take;

	tcpflow_conn_lock(c);
	take = want(c, arg);
	if (take && copy)
		memcpy(copy, c, tcpflow_table.entry_size);
	tcpflow_conn_unlock(c);
	return take;
}

/*
 * Copy the next entry after @cur that @want accepts (called under the
 * locks) into @copy, a buffer from tcpflow_conn_copy_alloc(), or into
 * nothing if @copy is NULL (@want took what it needed), and move the
 * cursor past it.  False at the end of the table.  Sleeps between batches:
 * process context only, no lock held.
 */
bool tcpflow_cursor_next(struct tcpflow_cursor *cur, tcpflow_want_fn want,
			 void *arg, struct tcpflow_conn *copy)
{
	struct list_head *all = &tcpflow_table.all, *pos;
	struct tcpflow_conn *c;
	unsigned long flags;
	unsigned int n;

	for (;;) {
		raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
		pos = cur->node.next;
		for (n = 0; pos != all && n < TCPFLOW_WALK_BATCH;
		     pos = pos->next, n++) {
			if (!tcpflow_node_is_entry(pos))
				continue;	/* another reader's cursor */
			c = list_entry(pos, struct tcpflow_conn, node);
			if (tcpflow_conn_take(c, want, arg, copy)) {
				cur->last = c;
				list_move(&cur->node, pos);
				tcpflow_walk_note(n + 1);
				raw_spin_unlock_irqrestore(&tcpflow_table.lock,
							   flags);
				return true;
			}
		}
		/* Park the cursor after the nodes walked: before pos. */
		list_move_tail(&cur->node, pos);
		tcpflow_walk_note(n);
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
		if (pos == all)
			return false;
		cond_resched();
	}
}

/*
 * Copy again the entry the cursor took last, if it still holds the same
 * connection and @want still accepts it.  Pool entries are never freed
 * while the module is loaded, so cur->last is safe to read under the lock
 * whatever became of it.
 */
bool tcpflow_cursor_refresh(const struct tcpflow_cursor *cur,
			    tcpflow_want_fn want, void *arg,
			    struct tcpflow_conn *copy)
{
	struct tcpflow_conn *c = cur->last;
	unsigned long flags;
	bool same;

	/* The id changes only with both locks held: either will do. */
	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	same = c && c->info.id == copy->info.id &&
	       tcpflow_conn_take(c, want, arg, copy);
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	return same;
}

/* A reader's private copy of one entry, history included. */
struct tcpflow_conn *tcpflow_conn_copy_alloc(void)
{
	return kvmalloc(tcpflow_table.entry_size, GFP_KERNEL_ACCOUNT);
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

/* The i-th event held: its number in the history, counting dropped ones. */
u32 tcpflow_conn_event_index(const struct tcpflow_conn *c, u32 i)
{
	u32 max = tcpflow_table.max_events;

	if (c->total_events <= max || i < tcpflow_conn_head())
		return i;
	return c->total_events - max + i;
}

void tcpflow_conn_add_event(struct tcpflow_conn *c,
			    const struct tcpflow_event *e)
{
	u32 max = tcpflow_table.max_events, head = tcpflow_conn_head();
	struct tcpflow_netcnt *nc = tcpflow_netcnt_find(c->net_cookie);
	u32 n = c->total_events;
	struct tcpflow_kevent *ke;

	lockdep_assert_held(&c->lock);
	if (n < max) {
		ke = &c->ev[n];
	} else {
		ke = &c->ev[head + (n - head) % (max - head)];
		c->info.dropped_events++;
		tcpflow_count(nc, TCPFLOW_CNT_EVENTS_DROPPED);
	}
	tcpflow_count(nc, TCPFLOW_CNT_EVENTS_TOTAL);
	ke->e = *e;
	c->total_events = n + 1;
	c->info.nevents = tcpflow_conn_nevents(c);
	ke->pos = tcpflow_ring_push(c, e, n, nc ? nc->ev_cpu : NULL);
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
	tcpflow_conn_add_event(c, &e);
}

/*
 * The history is complete: queue it for reuse.  It stays in both hashes
 * until then, so that a reset sent after the move to CLOSE still finds it;
 * a cookie is never reused, and a reused tuple finds its newer entry first.
 */
void tcpflow_conn_close(struct tcpflow_conn *c)
{
	struct tcpflow_table *t = &tcpflow_table;

	tcpflow_conn_assert_moving(c);
	/* Closed already: reap.c took its socket for gone. */
	if (c->info.flags & TCPFLOW_CONN_CLOSED)
		return;
	/*
	 * A request that ends (reset) stays with the requests: a flood's
	 * dead requests must not push real histories out of the pool.
	 */
	if (!c->embryo) {
		list_del(&c->lnode);
		list_add_tail(&c->lnode, &t->closed);
	}
	c->info.flags |= TCPFLOW_CONN_CLOSED;
	tcpflow_conn_count(c, -1, 1);
}
