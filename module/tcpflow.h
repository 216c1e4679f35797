/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces of the tcpflow module: the connection table that every
 * hook writes to and every reader walks.
 */
#ifndef _TCPFLOW_H
#define _TCPFLOW_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <uapi/linux/tcpflow.h>

#define TCPFLOW_VERSION "0.1.0"

struct file;
struct sock;

/* An event as held in a history: the global sequence number orders it
 * against the live stream (see dev.c).
 */
struct tcpflow_kevent {
	u64 gseq;
	struct tcpflow_event e;
};

/* Who is reading: decided once, when the file is opened. */
struct tcpflow_viewer {
	u64 net_cookie;		/* the reader's network namespace */
	bool all;		/* initial netns with CAP_NET_ADMIN */
};

/*
 * One tracked connection.  Entries come from a pool allocated at load, so
 * the hooks never allocate.  An entry is "live" while it is in the cookie
 * hash (its socket, or the timewait socket that inherited its cookie, still
 * exists) and "closed" once its history is complete; closed entries stay
 * readable until the pool needs them back, oldest closed first.
 *
 * Every field is protected by tcpflow_table.lock.
 */
struct tcpflow_conn {
	struct hlist_node hnode;	/* table.hash, while live */
	struct list_head node;		/* table.all (id order) or table.free */
	struct list_head lnode;		/* table.closed or table.pending */
	const void *pending_sk;		/* identity only: never dereferenced */
	u64 net_cookie;			/* which netns may see it */
	u32 total_events;		/* appended, including dropped ones */
	u8 tw_pending;			/* tcp_time_wait(sk, state) seen */
	u8 in_tw;			/* history continues on a timewait sock */
	struct tcpflow_conn_info info;
	struct tcpflow_kevent ev[];	/* tcpflow_table.max_events */
};

struct tcpflow_kcounters {
	u64 conns_seen;		/* entries ever created */
	u64 untracked;		/* connections we had no room for */
	u64 evicted;		/* closed histories reused for new ones */
	u64 events_dropped;	/* events lost: overflow or untracked */
	u64 events_total;	/* events recorded; the next one's gseq */
};

struct tcpflow_table {
	spinlock_t lock;		/* all of it; taken in process and softirq */
	struct hlist_head *hash;	/* live entries by socket cookie */
	unsigned int hash_bits;
	struct list_head all;		/* every tracked entry, in id order */
	struct list_head closed;	/* closed entries, oldest first */
	struct list_head pending;	/* new children without a cookie yet */
	struct list_head free;
	void *pool;
	size_t entry_size;
	unsigned int max_conns;
	unsigned int max_events;
	unsigned int nlive;
	unsigned int nclosed;
	u64 next_id;
	u64 load_ns;
	struct tcpflow_kcounters cnt;
};

extern struct tcpflow_table tcpflow_table;

int tcpflow_table_init(unsigned int max_conns, unsigned int max_events);
void tcpflow_table_exit(void);

struct tcpflow_conn *tcpflow_conn_lookup(u64 cookie);
struct tcpflow_conn *tcpflow_conn_new(const struct sock *sk);
void tcpflow_conn_hash(struct tcpflow_conn *c, u64 cookie);
void tcpflow_conn_set_pending(struct tcpflow_conn *c, const struct sock *sk);
struct tcpflow_conn *tcpflow_conn_claim_pending(const struct sock *sk,
						u64 cookie);
void tcpflow_conn_fill_tuple(struct tcpflow_conn *c, const struct sock *sk);
void tcpflow_conn_set_owner(struct tcpflow_conn *c);
void tcpflow_conn_add_state(struct tcpflow_conn *c, u64 t_ns, int old,
			    int new);
void tcpflow_conn_close(struct tcpflow_conn *c);
const struct tcpflow_kevent *tcpflow_conn_event(const struct tcpflow_conn *c,
						u32 i);
u32 tcpflow_conn_nevents(const struct tcpflow_conn *c);
u32 tcpflow_conn_head(void);

u64 tcpflow_sock_cookie(const struct sock *sk);

void tcpflow_viewer_init(struct tcpflow_viewer *v, const struct file *file);
static inline bool tcpflow_viewer_sees(const struct tcpflow_viewer *v,
				       u64 net_cookie)
{
	return v->all || v->net_cookie == net_cookie;
}

/* The live stream every /dev/tcpflow reader follows (ring.c). */
struct tcpflow_slot {
	u64 net_cookie;
	struct tcpflow_conn_info info;	/* as it is after the event */
	struct tcpflow_event e;
};

int tcpflow_ring_init(unsigned int size);
void tcpflow_ring_exit(void);
void tcpflow_ring_push(const struct tcpflow_conn *c,
		       const struct tcpflow_event *e);
u64 tcpflow_ring_head(void);
u64 tcpflow_ring_oldest(void);
const struct tcpflow_slot *tcpflow_ring_slot(u64 seq);
struct wait_queue_head *tcpflow_ring_waitq(void);
void tcpflow_ring_quiesce(void);

int tcpflow_dev_init(void);
void tcpflow_dev_exit(void);

int tcpflow_hooks_init(void);
void tcpflow_hooks_exit(void);
u64 tcpflow_hooks_missed(void);

void tcpflow_seed(void);

int tcpflow_proc_init(void);
void tcpflow_proc_exit(void);

#endif /* _TCPFLOW_H */
