// SPDX-License-Identifier: GPL-2.0
/*
 * Live entries whose socket is gone.  An entry is closed by the events of
 * its socket; when one of them is lost (a missed probe hit, or a timewait
 * socket freed before the CLOSE that would have marked it) the entry stays
 * live for good, and enough of them fill the pool until new connections
 * go untracked.
 *
 * When live entries fill most of the pool, the allocation that sees it
 * queues a work item (never more than once per TCPFLOW_REAP_INTERVAL); no
 * probe ever walks anything.  In process context the work:
 *
 *  1. collects, in batches under tcpflow_table.lock, the live entries of
 *     sockets that had no event for TCPFLOW_REAP_QUIET_NS before it began
 *     (a socket about to be hashed, connect() or listen(), has just had
 *     one);
 *  2. walks TCP's listening and established (timewait included) tables
 *     as seed.c does (the global ones and those of namespaces with a table
 *     of their own), each bucket under its lock, where every TCP socket
 *     that can have a live entry is hashed, and checks off the cookies it
 *     finds (a candidate's namespace existed at step 1, so it is on the
 *     list the walk reads, unless it is being dismantled);
 *  3. closes, flagged TCPFLOW_CONN_STALE and counted, each entry left that
 *     is still live and had no event since step 1.
 *
 * A socket moves between buckets or tables only under the bucket locks
 * (the timewait hash dance replaces one socket with the other in one
 * bucket, under its lock), so a walk that holds each bucket's lock while
 * it reads it finds every socket that exists throughout the walk.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bsearch.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/workqueue.h>
#include <net/inet_hashtables.h>
#include <net/net_namespace.h>
#include <net/tcp.h>

#include "tcpflow.h"

#define TCPFLOW_REAP_BATCH	TCPFLOW_WALK_BATCH
#define TCPFLOW_REAP_QUIET_NS	NSEC_PER_SEC
#define TCPFLOW_REAP_INTERVAL	(5 * HZ)

struct tcpflow_reap_cand {
	u64 cookie;
	u64 id;
	u32 total_events;
	bool found;
};

static void tcpflow_reap_fn(struct work_struct *work);

/* All but the work item are protected by tcpflow_table.lock. */
static struct {
	struct work_struct work;
	unsigned long next;		/* jiffies: no run queued before */
	bool kicked;			/* next is set */
	bool stopping;
} tcpflow_reap = {
	.work = __WORK_INITIALIZER(tcpflow_reap.work, tcpflow_reap_fn),
};

/*
 * From tcpflow_conn_alloc(), in any context, under the table lock:
 * queue_work() takes only the pool's raw lock, with interrupts off.
 */
void tcpflow_reap_kick(void)
{
	lockdep_assert_held(&tcpflow_table.lock);
	if (tcpflow_reap.stopping ||
	    (tcpflow_reap.kicked && time_before(jiffies, tcpflow_reap.next)))
		return;
	tcpflow_reap.kicked = true;
	tcpflow_reap.next = jiffies + TCPFLOW_REAP_INTERVAL;
	schedule_work(&tcpflow_reap.work);
}

/* No hook runs any more: no kick can come; wait for a run in progress. */
void tcpflow_reap_exit(void)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	tcpflow_reap.stopping = true;
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	cancel_work_sync(&tcpflow_reap.work);
}

static int tcpflow_reap_cmp(const void *a, const void *b)
{
	u64 x = ((const struct tcpflow_reap_cand *)a)->cookie;
	u64 y = ((const struct tcpflow_reap_cand *)b)->cookie;

	return x < y ? -1 : x > y;
}

static u64 tcpflow_reap_last_ns(const struct tcpflow_conn *c)
{
	u32 n = tcpflow_conn_nevents(c);

	return n ? tcpflow_conn_event(c, n - 1)->e.t_ns : c->info.first_ns;
}

struct tcpflow_reap_collect {
	struct tcpflow_reap_cand *cand;
	unsigned int n, max;
	u64 quiet;
};

/* Under the table's and @c's locks: note @c if a candidate; true when full. */
static bool tcpflow_reap_visit(const struct tcpflow_conn *c, void *arg)
{
	struct tcpflow_reap_collect *w = arg;
	struct tcpflow_reap_cand *cand = &w->cand[w->n];

	if (!(c->info.flags & TCPFLOW_CONN_CLOSED) && !c->embryo &&
	    !c->pending_sk && c->info.cookie &&
	    tcpflow_reap_last_ns(c) < w->quiet) {
		cand->cookie = c->info.cookie;
		cand->id = c->info.id;
		cand->total_events = c->total_events;
		cand->found = false;
		w->n++;
	}
	return w->n == w->max;
}

/*
 * Step 1: at most w->max candidates, live and quiet since before w->quiet,
 * walking the table with a cursor of its own as the readers do (table.c).
 */
static void tcpflow_reap_collect(struct tcpflow_reap_collect *w)
{
	struct tcpflow_cursor cur = {};

	tcpflow_cursor_init(&cur);
	while (w->n < w->max &&
	       tcpflow_cursor_next(&cur, tcpflow_reap_visit, w, NULL))
		;
	tcpflow_cursor_del(&cur);
}

/* Step 2, on each socket of TCP's tables (seed.c's walk). */
static void tcpflow_reap_check(struct sock *sk, void *arg)
{
	struct tcpflow_reap_collect *w = arg;
	struct tcpflow_reap_cand key = {
		/* Read as inet_diag does; a socket never tracked has none. */
		.cookie = atomic64_read(&sk->sk_cookie),
	};
	struct tcpflow_reap_cand *f;

	if (!key.cookie)
		return;
	f = bsearch(&key, w->cand, w->n, sizeof(*w->cand), tcpflow_reap_cmp);
	if (f)
		f->found = true;
}

/* Step 3: the entry is still the same, still live and had no event. */
static unsigned int tcpflow_reap_close(struct tcpflow_reap_cand *cand,
				       unsigned int n)
{
	struct tcpflow_table *t = &tcpflow_table;
	unsigned int i = 0, j, closed = 0;
	struct tcpflow_conn *c;
	unsigned long flags;

	while (i < n) {
		raw_spin_lock_irqsave(&t->lock, flags);
		for (j = 0; i < n && j < TCPFLOW_REAP_BATCH; i++, j++) {
			if (cand[i].found)
				continue;
			c = tcpflow_conn_lookup(cand[i].cookie);
			if (!c)
				continue;
			tcpflow_conn_lock(c);
			if (c->info.id == cand[i].id &&
			    !(c->info.flags & TCPFLOW_CONN_CLOSED) &&
			    c->total_events == cand[i].total_events) {
				c->info.flags |= TCPFLOW_CONN_STALE;
				tcpflow_conn_close(c);
				tcpflow_count(NULL, TCPFLOW_CNT_STALE);
				closed++;
			}
			tcpflow_conn_unlock(c);
		}
		raw_spin_unlock_irqrestore(&t->lock, flags);
		cond_resched();
	}
	return closed;
}

static void tcpflow_reap_fn(struct work_struct *work)
{
	struct tcpflow_reap_collect w = {
		.quiet = ktime_get_ns() - TCPFLOW_REAP_QUIET_NS,
	};
	struct tcpflow_kcounters sum;
	unsigned int closed;
	unsigned long flags;

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	w.max = tcpflow_table.nlive;
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	if (!w.max)
		return;
	w.cand = kvmalloc_array(w.max, sizeof(*w.cand), GFP_KERNEL);
	if (!w.cand)
		return;
	tcpflow_reap_collect(&w);
	sort(w.cand, w.n, sizeof(*w.cand), tcpflow_reap_cmp, NULL);
	tcpflow_tcp_walk(tcpflow_reap_check, &w);
	closed = tcpflow_reap_close(w.cand, w.n);
	kvfree(w.cand);
	if (!closed)
		return;
	tcpflow_kcounters_sum(tcpflow_table.cnt, &sum);
	pr_info("closed %u live entries whose socket is gone (%llu since load)\n",
		closed, sum.v[TCPFLOW_CNT_STALE]);
}
