/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces of the tcpflow module: the connection table that every
 * hook writes to and every reader walks.
 */
#ifndef _TCPFLOW_H
#define _TCPFLOW_H

#include <linux/in6.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <net/sock.h>
#include <uapi/linux/tcpflow.h>

#include "compat.h"

#ifndef TCPFLOW_VERSION
#error "TCPFLOW_VERSION comes from the Makefile: build with make module"
#endif

struct file;
struct pid_namespace;
struct sock;

/*
 * An event as held in a history, with its position in the live stream:
 * the CPU that recorded it and its number there (ring.c), which tell a
 * reader whether it came before the reader opened (dev.c).
 */
struct tcpflow_kevent {
	u64 pos;			/* tcpflow_pos() */
	struct tcpflow_event e;
};

#define TCPFLOW_POS_CPU_SHIFT	48

static inline u64 tcpflow_pos(int cpu, u64 seq)
{
	return (u64)cpu << TCPFLOW_POS_CPU_SHIFT | seq;
}

static inline int tcpflow_pos_cpu(u64 pos)
{
	return pos >> TCPFLOW_POS_CPU_SHIFT;
}

static inline u64 tcpflow_pos_seq(u64 pos)
{
	return pos & (BIT_ULL(TCPFLOW_POS_CPU_SHIFT) - 1);
}

/*
 * A connection's 4-tuple as seen from this host, in its network namespace:
 * the second index of the table, for segments that arrive or leave without
 * a socket that carries the connection's cookie (a request socket, the
 * per-netns control socket that sends resets, or none at all).  IPv4
 * addresses are stored v4-mapped, so a dual-stack socket and its packets
 * have the same key.
 */
struct tcpflow_key {
	u64 net_cookie;
	struct in6_addr laddr;
	struct in6_addr raddr;
	u16 lport;			/* host byte order */
	u16 rport;
	u32 zero;			/* hashed and compared: keep zero */
};

/* The last SYN, SYN-ACK or FIN sent in one direction (retransmits). */
struct tcpflow_sent {
	u32 seq;			/* the SYN's seq, the FIN's seq + len */
	u32 n;				/* times it was seen */
};

enum {
	TCPFLOW_SENT_SYN,
	TCPFLOW_SENT_SYNACK,
	TCPFLOW_SENT_FIN,
	TCPFLOW_SENT_MAX,
};

/*
 * Who is reading, and what it may see (view.c): decided once, when the
 * file is opened, with the opener's credentials.
 */
struct tcpflow_viewer {
	u64 net_cookie;		/* the reader's network namespace */
	bool all;		/* initial netns with CAP_NET_ADMIN */
	bool owners;		/* CAP_NET_ADMIN over its netns: pids, comms */
	struct pid_namespace *pid_ns;	/* the reader's: a reference */
};

/*
 * The process that owns a connection, as it was when it last acted on it,
 * in enough namespaces for every reader that may see it (view.c): the
 * probes cannot hold a reference on a struct pid, so the numbers are taken
 * then.
 */
struct tcpflow_owner {
	u32 tgid;		/* in the initial pid namespace; 0: none */
	u32 ns_tgid;		/* in its own (innermost) pid namespace */
	u32 pidns;		/* inode number of that namespace */
};

/*
 * One tracked connection.  Entries come from a pool allocated at load, so
 * the hooks never allocate.  An entry is "live" while its socket (or the
 * timewait socket that inherited its cookie, or the request socket of a
 * handshake in progress) exists and "closed" once its history is complete.
 * Closed entries stay readable, and findable by cookie and tuple (a reset
 * can follow the move to CLOSE), until the pool needs them back.
 *
 * Two locks protect an entry (table.c): its own, for its history and
 * everything else in it, and tcpflow_table.lock, for where it is (the
 * hashes and lists, hence the id, cookie and key it is found by, and the
 * CLOSED flag) and for its place in the counts (embryo, net_held).  A
 * write to those is made under both, the table's first, so either lock
 * keeps them still; any other write under the entry's.  What ties it to
 * other entries (pending_sk, twin, twin_id) is the table lock's alone.
 * An event of an entry found by a lookup without the table lock
 * (tcpflow_conn_try()) takes only the entry's.
 */
struct tcpflow_conn {
	struct hlist_node hnode;	/* table.hash, once it has a cookie */
	struct hlist_node tnode;	/* table.thash, once its tuple is known */
	struct list_head node;		/* table.all (id order) or table.free */
	struct list_head lnode;		/* table.closed, .pending or .embryos */
	const void *pending_sk;		/* identity only: never dereferenced */
	struct tcpflow_conn *twin;	/* the other child of its handshake, */
	u64 twin_id;			/* if it still has this id */
	u64 net_cookie;			/* which netns may see it */
	struct tcpflow_key key;
	struct tcpflow_sent sent[2][TCPFLOW_SENT_MAX];	/* [dir][kind] */
	u32 total_events;		/* appended, including dropped ones */
	u8 tw_pending;			/* tcp_time_wait(sk, state) seen */
	u8 after_close;			/* segments recorded once closed */
	/*
	 * Bits of one byte, written under the entry's lock: embryo and
	 * net_held also under the table's, so a reader holding only that
	 * one reads them right while another bit is being written.
	 */
	u8 in_tw:1;			/* history continues on a timewait sock */
	u8 tw_fin:1;			/* its FIN came before that CLOSE */
	u8 embryo:1;			/* a request never adopted */
	u8 req_acked:1;			/* it has had its final ACK */
	u8 req_syn_recv:1;		/* LISTEN -> SYN_RECV at its SYN-ACK */
	u8 fin_ack_owed:1;		/* a FIN received, its ACK not sent */
	u8 fin_ack_awaited:1;		/* a FIN sent, its ACK not received */
	u8 net_held:1;			/* in its netns's nlive or nclosed */
	struct tcpflow_owner owner;
	/*
	 * Taken in the hooks' contexts, with interrupts off: raw, as the
	 * table's.  Never two at once; the table's lock before, a CPU's ring
	 * lock after (ring.c).  Not cleared when the entry is reused.
	 */
	raw_spinlock_t lock;
	struct tcpflow_conn_info info;
	struct tcpflow_kevent ev[];	/* tcpflow_table.max_events */
};

/*
 * Counters are per CPU: the hooks of every CPU add to them, and only
 * readers sum them (tcpflow_kcounters_sum()), so no CPU writes a cache line
 * another CPU writes too.
 */
enum {
	TCPFLOW_CNT_CONNS_SEEN,		/* entries ever created */
	TCPFLOW_CNT_UNTRACKED,		/* connections we had no room for */
	TCPFLOW_CNT_EVICTED,		/* closed histories reused */
	TCPFLOW_CNT_EVENTS_DROPPED,	/* lost: overflow or untracked */
	TCPFLOW_CNT_EVENTS_TOTAL,	/* events recorded */
	TCPFLOW_CNT_STALE,		/* live entries closed: reap.c */
	TCPFLOW_CNT_MAX,
};

struct tcpflow_kcounters {
	u64 v[TCPFLOW_CNT_MAX];
};

/*
 * The counters of one network namespace (view.c), beside the table's for
 * all of them: what a reader that sees only its own namespace is shown.
 */
struct tcpflow_netcnt {
	struct hlist_node node;		/* view.c's hash, by net_cookie */
	struct rcu_head rcu;
	u64 net_cookie;
	unsigned int nlive;		/* under tcpflow_table.lock */
	unsigned int nclosed;
	struct tcpflow_kcounters __percpu *cnt;
	/* Its events recorded on each CPU, for the live stream (ring.c). */
	u64 __percpu *ev_cpu;
};

struct tcpflow_table {
	/*
	 * The table's structure: the hashes, lists and counts below, and an
	 * entry's place in them (struct tcpflow_conn); taken to create, close
	 * and reuse entries, not for each event.  Taken in process and
	 * softirq context and in the tracepoint and kprobe handlers, which
	 * run with preemption off: a raw spinlock, since a spinlock_t sleeps
	 * on PREEMPT_RT.  Nothing
	 * under it allocates, frees, copies to user space or wakes a task
	 * (ring.c defers wake-ups to an irq_work), and a reader holds it for
	 * at most TCPFLOW_WALK_BATCH entries, so the time interrupts stay
	 * off is bounded on RT too.
	 */
	raw_spinlock_t lock;
	struct hlist_head *hash;	/* entries by socket cookie */
	struct hlist_head *thash;	/* entries by tcpflow_key, newest first */
	unsigned int hash_bits;
	struct list_head all;		/* entries in id order; cursors */
	struct list_head closed;	/* closed entries, oldest first */
	struct list_head pending;	/* new children without a cookie yet */
	struct list_head embryos;	/* requests, oldest first */
	struct list_head free;
	void *pool;
	size_t entry_size;
	unsigned int max_conns;
	unsigned int max_events;
	unsigned int nlive;
	unsigned int nclosed;
	unsigned int nembryos;		/* requests, in nlive or nclosed */
	unsigned int max_embryos;	/* a SYN flood takes no more */
	u64 next_id;
	u64 load_ns;
	struct tcpflow_kcounters __percpu *cnt;
};

extern struct tcpflow_table tcpflow_table;

/*
 * Count one event of counter @i in the table's counters and in those of
 * @n, the connection's namespace (NULL: it has no record).  Any context:
 * the increment is one instruction that preemption cannot split.
 */
static inline void tcpflow_count(struct tcpflow_netcnt *n, unsigned int i)
{
	this_cpu_inc(tcpflow_table.cnt->v[i]);
	if (n)
		this_cpu_inc(n->cnt->v[i]);
}

void tcpflow_kcounters_sum(const struct tcpflow_kcounters __percpu *pc,
			   struct tcpflow_kcounters *sum);

/*
 * A reader's place in tcpflow_table.all: a list node of its own, between
 * the entries it has walked and those it has not (see table.c).
 */
struct tcpflow_cursor {
	struct list_head node;
	struct tcpflow_conn *last;		/* the entry it took last */
};

/* Nodes a reader walks per hold of tcpflow_table.lock, visible or not. */
#define TCPFLOW_WALK_BATCH	64

typedef bool (*tcpflow_want_fn)(const struct tcpflow_conn *c, void *arg);

int tcpflow_table_init(unsigned int max_conns, unsigned int max_events);
void tcpflow_table_exit(void);

struct tcpflow_conn *tcpflow_conn_lookup(u64 cookie);
struct tcpflow_conn *tcpflow_conn_try(u64 cookie);
struct tcpflow_conn *tcpflow_conn_try_key(const struct tcpflow_key *k);
struct tcpflow_conn *tcpflow_conn_find(u64 cookie);
void tcpflow_conn_lock(struct tcpflow_conn *c);
void tcpflow_conn_unlock(struct tcpflow_conn *c);
struct tcpflow_conn *tcpflow_conn_new(const struct sock *sk);
struct tcpflow_conn *tcpflow_conn_new_request(const struct tcpflow_key *k,
					      u16 family, u32 netns);
void tcpflow_conn_adopt(struct tcpflow_conn *c);
bool tcpflow_conn_is_request(const struct tcpflow_conn *c);
struct tcpflow_conn *tcpflow_conn_lookup_key(const struct tcpflow_key *k);
void tcpflow_key_set_addr(struct in6_addr *dst, u16 family, const void *a);
void tcpflow_conn_unhash(struct tcpflow_conn *c);
void tcpflow_conn_hash(struct tcpflow_conn *c, u64 cookie);
void tcpflow_conn_set_pending(struct tcpflow_conn *c, const struct sock *sk);
void tcpflow_conn_set_twins(struct tcpflow_conn *a, struct tcpflow_conn *b);
struct tcpflow_conn *tcpflow_conn_claim_pending(const struct sock *sk,
						u64 cookie, int newstate);
void tcpflow_conn_fill_tuple(struct tcpflow_conn *c, const struct sock *sk);
void tcpflow_conn_set_lport(struct tcpflow_conn *c, u16 port);
void tcpflow_conn_set_owner(struct tcpflow_conn *c);
void tcpflow_conn_add_state(struct tcpflow_conn *c, u64 t_ns, int old,
			    int new);
void tcpflow_conn_add_event(struct tcpflow_conn *c,
			    const struct tcpflow_event *e);
void tcpflow_conn_close(struct tcpflow_conn *c);
const struct tcpflow_kevent *tcpflow_conn_event(const struct tcpflow_conn *c,
						u32 i);
u32 tcpflow_conn_nevents(const struct tcpflow_conn *c);
u32 tcpflow_conn_event_index(const struct tcpflow_conn *c, u32 i);
void tcpflow_cursor_init(struct tcpflow_cursor *cur);
void tcpflow_cursor_rewind(struct tcpflow_cursor *cur);
void tcpflow_cursor_del(struct tcpflow_cursor *cur);
bool tcpflow_cursor_next(struct tcpflow_cursor *cur, tcpflow_want_fn want,
			 void *arg, struct tcpflow_conn *copy);
bool tcpflow_cursor_refresh(const struct tcpflow_cursor *cur,
			    tcpflow_want_fn want, void *arg,
			    struct tcpflow_conn *copy);
struct tcpflow_conn *tcpflow_conn_copy_alloc(void);
void tcpflow_walk_note(unsigned int n);
u64 tcpflow_walk_max(void);
u32 tcpflow_conn_head(void);

u64 tcpflow_sock_cookie(const struct sock *sk);

/* A TCP socket proper: not MPTCP's meta socket, a raw or a control one. */
static inline bool tcpflow_is_tcp(const struct sock *sk)
{
	return sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM;
}

void tcpflow_count_dropped(u64 net_cookie);

/*
 * The tracking scope (scope.c): false for every connection unless ports=
 * is set, at the cost of one test of a pointer every CPU only reads.
 */
struct tcpflow_scope;
extern struct tcpflow_scope __rcu *tcpflow_scope_ports;
bool tcpflow_scope_out_slow(u16 lport, u16 rport);
bool tcpflow_scope_out_sk_slow(const struct sock *sk);
static inline bool tcpflow_scope_out(u16 lport, u16 rport)
{
	return rcu_access_pointer(tcpflow_scope_ports) &&
	       tcpflow_scope_out_slow(lport, rport);
}

/* The same for a socket of any kind: full, request or timewait. */
static inline bool tcpflow_scope_out_sk(const struct sock *sk)
{
	return rcu_access_pointer(tcpflow_scope_ports) &&
	       tcpflow_scope_out_sk_slow(sk);
}

int tcpflow_view_init(void);
void tcpflow_view_exit(void);
struct tcpflow_netcnt *tcpflow_netcnt_find(u64 net_cookie);
void tcpflow_viewer_init(struct tcpflow_viewer *v, const struct file *file);
void tcpflow_viewer_release(struct tcpflow_viewer *v);
void tcpflow_viewer_redact(const struct tcpflow_viewer *v,
			   const struct tcpflow_owner *o,
			   struct tcpflow_conn_info *ci);
bool tcpflow_viewer_seq(const struct tcpflow_viewer *v,
			const struct tcpflow_conn_info *ci, bool local,
			u32 *seq);
void tcpflow_viewer_counters(const struct tcpflow_viewer *v,
			     struct tcpflow_counters *c);
static inline bool tcpflow_viewer_sees(const struct tcpflow_viewer *v,
				       u64 net_cookie)
{
	return v->all || v->net_cookie == net_cookie;
}

/* The live stream every /dev/tcpflow reader follows (ring.c). */
struct tcpflow_slot {
	u64 net_cookie;
	u64 ns_seq;			/* its netns's events on this CPU */
	u32 index;			/* the event's number in its history */
	struct tcpflow_owner owner;
	struct tcpflow_conn_info info;	/* as it is after the event */
	struct tcpflow_event e;
};

int tcpflow_ring_init(unsigned int size);
void tcpflow_ring_exit(void);
void tcpflow_ring_quiesce(void);
void tcpflow_ring_cut(unsigned long *flags);
void tcpflow_ring_uncut(unsigned long flags);
u64 tcpflow_ring_head(int cpu);
void tcpflow_ring_cut_readers(bool open);
u64 tcpflow_ring_push(const struct tcpflow_conn *c,
		      const struct tcpflow_event *e, u32 index,
		      u64 __percpu *ns_cpu);
u64 tcpflow_ring_peek_head(int cpu);
void tcpflow_ring_lock(int cpu, unsigned long *flags);
void tcpflow_ring_unlock(int cpu, unsigned long flags);
u64 tcpflow_ring_oldest(int cpu);
const struct tcpflow_slot *tcpflow_ring_slot(int cpu, u64 seq);
u64 tcpflow_ring_ns_count(int cpu, u64 __percpu *ns_cpu);
struct wait_queue_head *tcpflow_ring_waitq(void);

int tcpflow_dev_init(void);
void tcpflow_dev_exit(void);

int tcpflow_hooks_init(void);
void tcpflow_hooks_exit(void);
u64 tcpflow_hooks_missed(void);

void tcpflow_seed(void);
void tcpflow_tcp_walk(void (*fn)(struct sock *sk, void *arg), void *arg);

int tcpflow_segments_init(void);
void tcpflow_segments_exit(void);
struct tcpflow_conn *tcpflow_request_take(const struct sock *child);

void tcpflow_reap_kick(void);
void tcpflow_reap_exit(void);

int tcpflow_proc_init(void);
void tcpflow_proc_exit(void);

#endif /* _TCPFLOW_H */
