// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/tcpflow: the histories as binary records (include/uapi/linux/tcpflow.h
 * documents the stream).
 *
 * Each open file is a reader with its own position in each CPU's ring.  At
 * open it takes a cut of the rings (ring.c): events before it are
 * delivered from the histories (the snapshot), the others from the rings,
 * so none is delivered twice or skipped in between, and each connection's
 * snapshot is a beginning of its history.
 *
 * The snapshot walks the table with a cursor and copies one connection at
 * a time into the reader's own buffer (table.c), then makes its records
 * from that copy with no lock held, across as many read()s as it takes:
 * a history that goes on changing meanwhile is neither skipped nor sent
 * twice.  Each read() of the live stream takes a cut of the rings and
 * merges the events up to it by time, each CPU's in its order: every event
 * of a connection that came before one in the cut is in it too, so each
 * connection's events come in order, whichever CPUs recorded them.  Its
 * records are built into the reader's own page, copying a bounded batch of
 * one CPU's slots per hold of that CPU's ring lock, then copied to user
 * space with no lock held: copy_to_user() may fault and sleep.  read()
 * calls on one file are serialized by its mutex; a read() and a poll()
 * move the reader's positions under its raw lock, pos.
 * The file holds a reference on the module (fops.owner), so rmmod fails
 * with EBUSY while any reader has the device open.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "tcpflow.h"

#define TCPFLOW_STATE_BITS	GENMASK(TCPFLOW_STATE_MAX - 1, 1)

/* A reader's place in one CPU's ring. */
struct tcpflow_rcpu {
	u64 start;			/* its first event of the live stream */
	u64 next;			/* the next slot to look at */
	u64 ns_seen;			/* not "all": its netns's events passed
					 * (struct tcpflow_slot.ns_seq)
					 */
	bool gap;			/* not "all": the ring overtook it */
	bool have;			/* peek holds the next event it wants */
	struct tcpflow_slot peek;
};

struct tcpflow_reader {
	struct mutex lock;		/* one read() at a time */
	raw_spinlock_t pos;		/* cpu[], between read() and poll() */
	struct tcpflow_viewer view;
	struct tcpflow_filter filter;	/* written under lock and pos */
	struct tcpflow_rcpu *cpu;	/* nr_cpu_ids of them */
	u64 *cut;			/* each CPU's head in the last cut */
	struct tcpflow_cursor cur;	/* the snapshot's place in the table */
	struct tcpflow_conn *copy;	/* the connection it is sending */
	u32 snap_ev;			/* next event of copy to send */
	bool snap_have;			/* copy holds a connection */
	bool snap_conn_sent;		/* its CONN record is out */
	bool synced;			/* the SYNC record is out */
	bool full;			/* the last fill ran out of room */
	size_t len;			/* bytes built in buf */
	char buf[];			/* PAGE_SIZE - sizeof(*this) */
};

static size_t tcpflow_reader_room(const struct tcpflow_reader *r,
				  size_t limit)
{
	size_t cap = PAGE_SIZE - offsetof(struct tcpflow_reader, buf);

	return min(cap, limit) - r->len;
}

/* Append one record to the reader's page if it fits in @limit bytes. */
static bool tcpflow_emit(struct tcpflow_reader *r, size_t limit, u16 type,
			 u64 conn_id, u32 index, const void *payload,
			 size_t plen)
{
	struct tcpflow_rec_hdr h = {
		.type = type,
		.size = sizeof(h) + plen,
		.index = index,
		.conn_id = conn_id,
	};

	if (tcpflow_reader_room(r, limit) < h.size) {
		r->full = true;
		return false;
	}
	memcpy(r->buf + r->len, &h, sizeof(h));
	memcpy(r->buf + r->len + sizeof(h), payload, plen);
	r->len += h.size;
	return true;
}

static bool tcpflow_filter_match(const struct tcpflow_filter *f,
				 const struct tcpflow_conn_info *ci)
{
	if ((f->flags & TCPFLOW_FILTER_NETNS) && ci->netns != f->netns)
		return false;
	if ((f->flags & TCPFLOW_FILTER_PORT) && ci->sport != f->port &&
	    ci->dport != f->port)
		return false;
	if ((f->flags & TCPFLOW_FILTER_STATE) &&
	    !(f->state_mask & BIT(ci->state)))
		return false;
	return true;
}

static bool tcpflow_reader_wants(const struct tcpflow_reader *r,
				 u64 net_cookie,
				 const struct tcpflow_conn_info *ci)
{
	return tcpflow_viewer_sees(&r->view, net_cookie) &&
	       tcpflow_filter_match(&r->filter, ci);
}

/* An event recorded after the reader opened: its live stream has it. */
static bool tcpflow_reader_live(const struct tcpflow_reader *r, u64 pos)
{
	return tcpflow_pos_seq(pos) >= r->cpu[tcpflow_pos_cpu(pos)].start;
}

/* In the snapshot: visible, wanted, and not born after the open. */
static bool tcpflow_snap_wants(const struct tcpflow_conn *c, void *arg)
{
	const struct tcpflow_reader *r = arg;

	if (!tcpflow_reader_wants(r, c->net_cookie, &c->info))
		return false;
	/* Born after the open: the live stream tells all of it. */
	return !(c->total_events && tcpflow_reader_live(r, c->ev[0].pos));
}

/*
 * The snapshot: each connection, then its events older than the stream,
 * from the reader's copy.  The copy is the connection as it was when the
 * cursor took it, so the events it sends are in order, each once, however
 * many read()s it takes and whatever the history does meanwhile.
 */
static void tcpflow_fill_snapshot(struct tcpflow_reader *r, size_t limit)
{
	const struct tcpflow_conn *c = r->copy;
	const struct tcpflow_kevent *ke;
	struct tcpflow_conn_info ci;
	struct tcpflow_sync sync;

	while (!r->synced) {
		if (!r->snap_have) {
			if (!tcpflow_cursor_next(&r->cur, tcpflow_snap_wants, r,
						 r->copy)) {
				sync.now_ns = ktime_get_ns();
				if (!tcpflow_emit(r, limit, TCPFLOW_REC_SYNC, 0,
						  0, &sync, sizeof(sync)))
					return;
				r->synced = true;
				return;
			}
			r->snap_have = true;
			r->snap_conn_sent = false;
			r->snap_ev = 0;
		}
		if (!r->snap_conn_sent) {
			ci = c->info;
			tcpflow_viewer_redact(&r->view, &c->owner, &ci);
			if (!tcpflow_emit(r, limit, TCPFLOW_REC_CONN,
					  c->info.id, 0, &ci, sizeof(ci)))
				return;
			r->snap_conn_sent = true;
		}
		for (; r->snap_ev < tcpflow_conn_nevents(c); r->snap_ev++) {
			ke = tcpflow_conn_event(c, r->snap_ev);
			if (tcpflow_reader_live(r, ke->pos))
				continue;
			if (!tcpflow_emit(r, limit, TCPFLOW_REC_EVENT,
					  c->info.id,
					  tcpflow_conn_event_index(c, r->snap_ev),
					  &ke->e, sizeof(ke->e)))
				return;
		}
		r->snap_have = false;
	}
}

/*
 * Peek at the next event this reader wants from @cpu's ring, below @limit
 * and the ring's head, into its rcpu (have), or find a loss to report
 * first (*lost, then tcpflow_live_lost()): at most *budget slots, in one
 * hold of the ring's lock.
 *
 * The ring does not wait for readers: one that falls behind is told how
 * many events it missed.  A reader of every namespace is told the count
 * at once.  Any other must not learn how busy other namespaces were, so it
 * is told only how many of its own namespace's events it missed: each
 * slot carries its namespace's event number on that CPU (ns_seq), and the
 * count is known at the next event of its own namespace still in the
 * ring, or, with none left, from its namespace's count once it has caught
 * up (tcpflow_live_catch_up()).
 */
static void tcpflow_live_peek(struct tcpflow_reader *r, int cpu, u64 limit,
			      u64 *lost, unsigned int *budget)
{
	struct tcpflow_rcpu *rc = &r->cpu[cpu];
	const bool all = r->view.all;
	const struct tcpflow_slot *s;
	unsigned long flags;
	unsigned int n = 0;
	u64 oldest;

	lockdep_assert_held(&r->pos);
	*lost = 0;
	tcpflow_ring_lock(cpu, &flags);
	limit = min(limit, tcpflow_ring_head(cpu));
	oldest = tcpflow_ring_oldest(cpu);
	if (rc->next < oldest) {
		if (all) {
			*lost = oldest - rc->next;
			goto unlock;
		}
		rc->gap = true;
		rc->next = oldest;
	}
	for (; n < *budget && rc->next < limit; rc->next++) {
		s = tcpflow_ring_slot(cpu, rc->next);
		n++;
		if (!tcpflow_viewer_sees(&r->view, s->net_cookie))
			continue;
		if (rc->gap) {
			if (s->ns_seq > rc->ns_seen + 1) {
				*lost = s->ns_seq - rc->ns_seen - 1;
				goto unlock;
			}
			rc->gap = false;
		}
		if (!all)
			rc->ns_seen = s->ns_seq;
		if (tcpflow_filter_match(&r->filter, &s->info)) {
			rc->peek = *s;
			rc->have = true;
			rc->next++;
			break;
		}
	}
unlock:
	tcpflow_ring_unlock(cpu, flags);
	tcpflow_walk_note(n);
	*budget -= n;
}

/*
 * Not "all", overtaken, and at @cpu's head: what it missed of its own
 * namespace there is what that CPU recorded of it beyond ns_seen.
 */
static void tcpflow_live_catch_up(struct tcpflow_reader *r, int cpu,
				  u64 *lost)
{
	struct tcpflow_rcpu *rc = &r->cpu[cpu];
	const struct tcpflow_netcnt *n;
	unsigned long rflags;
	u64 count;

	*lost = 0;
	rcu_read_lock();
	n = tcpflow_netcnt_find(r->view.net_cookie);
	tcpflow_ring_lock(cpu, &rflags);
	if (rc->next == tcpflow_ring_head(cpu)) {
		count = n ? tcpflow_ring_ns_count(cpu, n->ev_cpu) : 0;
		if (count > rc->ns_seen)
			*lost = count - rc->ns_seen;
		else
			rc->gap = false;
	}
	tcpflow_ring_unlock(cpu, rflags);
	rcu_read_unlock();
}

/* The loss tcpflow_live_peek() or _catch_up() found is reported. */
static void tcpflow_live_lost(struct tcpflow_reader *r, int cpu, u64 lost)
{
	struct tcpflow_rcpu *rc = &r->cpu[cpu];

	if (r->view.all) {
		rc->next += lost;
	} else {
		rc->ns_seen += lost;
		rc->gap = false;
	}
}

/* Which of two peeked events goes first: by time, a connection's by index. */
static bool tcpflow_slot_before(const struct tcpflow_slot *a,
				const struct tcpflow_slot *b)
{
	if (a->info.id == b->info.id)
		return a->index < b->index;
	return a->e.t_ns < b->e.t_ns;
}

enum tcpflow_live {
	TCPFLOW_LIVE_NONE,	/* nothing more below the limits */
	TCPFLOW_LIVE_EVENT,	/* deliver cpu[*which].peek */
	TCPFLOW_LIVE_LOSS,	/* report *lost of CPU *which */
	TCPFLOW_LIVE_MORE,	/* the budget ran out: again */
};

/*
 * What comes next for this reader, below each CPU's @limit (a cut, or
 * NULL: the heads), under r->pos: every CPU's ring is peeked at first, so
 * that the event returned is the earliest there is.
 */
static enum tcpflow_live tcpflow_live_next(struct tcpflow_reader *r,
					   const u64 *limit, int *which,
					   u64 *lost, unsigned int *budget)
{
	struct tcpflow_rcpu *rc;
	int cpu, best = -1;
	u64 lim;

	lockdep_assert_held(&r->pos);
	for_each_possible_cpu(cpu) {
		rc = &r->cpu[cpu];
		lim = limit ? limit[cpu] : U64_MAX;
		while (!rc->have && rc->next < min(lim, tcpflow_ring_peek_head(cpu))) {
			if (!*budget)
				return TCPFLOW_LIVE_MORE;
			tcpflow_live_peek(r, cpu, lim, lost, budget);
			if (*lost) {
				*which = cpu;
				return TCPFLOW_LIVE_LOSS;
			}
		}
		if (!rc->have && rc->gap) {
			tcpflow_live_catch_up(r, cpu, lost);
			if (*lost) {
				*which = cpu;
				return TCPFLOW_LIVE_LOSS;
			}
		}
		if (rc->have && (best < 0 ||
				 tcpflow_slot_before(&rc->peek,
						     &r->cpu[best].peek)))
			best = cpu;
	}
	if (best < 0)
		return TCPFLOW_LIVE_NONE;
	*which = best;
	return TCPFLOW_LIVE_EVENT;
}

/*
 * The live stream's records: each event with its connection, or what was
 * lost, up to a cut of the rings taken now, TCPFLOW_WALK_BATCH slots at
 * most per hold of r->pos.
 */
static void tcpflow_fill_live(struct tcpflow_reader *r, size_t limit)
{
	const size_t pair = 2 * sizeof(struct tcpflow_rec_hdr) +
			    sizeof(struct tcpflow_conn_info) +
			    sizeof(struct tcpflow_event);
	enum tcpflow_live what = TCPFLOW_LIVE_MORE;
	const struct tcpflow_slot *s;
	struct tcpflow_conn_info ci;
	struct tcpflow_loss loss;
	unsigned int budget;
	unsigned long flags;
	int cpu, which;

	tcpflow_ring_cut(&flags);
	for_each_possible_cpu(cpu)
		r->cut[cpu] = tcpflow_ring_head(cpu);
	tcpflow_ring_uncut(flags);

	while (what == TCPFLOW_LIVE_MORE) {
		raw_spin_lock_irqsave(&r->pos, flags);
		budget = TCPFLOW_WALK_BATCH;
		while (!r->full) {
			what = tcpflow_live_next(r, r->cut, &which, &loss.events,
						 &budget);
			if (what == TCPFLOW_LIVE_LOSS) {
				if (tcpflow_emit(r, limit, TCPFLOW_REC_LOSS, 0,
						 0, &loss, sizeof(loss)))
					tcpflow_live_lost(r, which,
							  loss.events);
				continue;
			}
			if (what != TCPFLOW_LIVE_EVENT)
				break;
			if (tcpflow_reader_room(r, limit) < pair) {
				r->full = true;
				break;
			}
			s = &r->cpu[which].peek;
			ci = s->info;
			tcpflow_viewer_redact(&r->view, &s->owner, &ci);
			tcpflow_emit(r, limit, TCPFLOW_REC_CONN, s->info.id, 0,
				     &ci, sizeof(ci));
			tcpflow_emit(r, limit, TCPFLOW_REC_EVENT, s->info.id,
				     s->index, &s->e, sizeof(s->e));
			r->cpu[which].have = false;
		}
		raw_spin_unlock_irqrestore(&r->pos, flags);
		if (what == TCPFLOW_LIVE_MORE)
			cond_resched();
	}
}

/*
 * Is there a record for this reader?  An event its filter or its
 * namespace hides is not one: poll() must not report input that read()
 * would not return, nor tell a reader in one namespace when another one
 * is busy.  Such events are passed over for good, as tcpflow_fill_live()
 * would, a batch per hold of a ring's lock: a later event wakes the caller
 * again.
 */
static bool tcpflow_reader_ready(struct tcpflow_reader *r)
{
	enum tcpflow_live what;
	unsigned int budget;
	unsigned long flags;
	struct tcpflow_rcpu *rc;
	bool maybe = false;
	int cpu, which;
	u64 lost;

	if (!READ_ONCE(r->synced))
		return true;	/* the snapshot ends with a SYNC record */
	for_each_possible_cpu(cpu) {
		rc = &r->cpu[cpu];
		if (READ_ONCE(rc->have) || READ_ONCE(rc->gap) ||
		    READ_ONCE(rc->next) != tcpflow_ring_peek_head(cpu)) {
			maybe = true;
			break;
		}
	}
	if (!maybe)
		return false;
	do {
		raw_spin_lock_irqsave(&r->pos, flags);
		budget = TCPFLOW_WALK_BATCH;
		what = tcpflow_live_next(r, NULL, &which, &lost, &budget);
		raw_spin_unlock_irqrestore(&r->pos, flags);
	} while (what == TCPFLOW_LIVE_MORE);
	return what != TCPFLOW_LIVE_NONE;
}

static void tcpflow_fill(struct tcpflow_reader *r, size_t limit)
{
	tcpflow_fill_snapshot(r, limit);
	if (r->synced && !r->full)
		tcpflow_fill_live(r, limit);
}

static ssize_t tcpflow_dev_read(struct file *file, char __user *ubuf,
				size_t count, loff_t *ppos)
{
	struct tcpflow_reader *r = file->private_data;
	ssize_t ret;

	if (!count)
		return 0;	/* as read(2) says */
	if (mutex_lock_interruptible(&r->lock))
		return -ERESTARTSYS;
	for (;;) {
		r->len = 0;
		r->full = false;
		tcpflow_fill(r, count);
		if (r->len)
			break;
		if (r->full) {		/* the next record is bigger */
			ret = -EINVAL;
			goto unlock;
		}
		if (tcpflow_reader_ready(r))
			continue;	/* events arrived meanwhile */
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto unlock;
		}
		mutex_unlock(&r->lock);
		if (wait_event_interruptible(*tcpflow_ring_waitq(),
					     tcpflow_reader_ready(r)))
			return -ERESTARTSYS;
		if (mutex_lock_interruptible(&r->lock))
			return -ERESTARTSYS;
	}
	ret = copy_to_user(ubuf, r->buf, r->len) ? -EFAULT : r->len;
unlock:
	mutex_unlock(&r->lock);
	return ret;
}

static __poll_t tcpflow_dev_poll(struct file *file, poll_table *wait)
{
	struct tcpflow_reader *r = file->private_data;

	poll_wait(file, tcpflow_ring_waitq(), wait);
	return tcpflow_reader_ready(r) ? EPOLLIN | EPOLLRDNORM : 0;
}

static long tcpflow_ioc_counters(const struct tcpflow_reader *r,
				 void __user *arg)
{
	struct tcpflow_counters c;

	tcpflow_viewer_counters(&r->view, &c);
	return copy_to_user(arg, &c, sizeof(c)) ? -EFAULT : 0;
}

static long tcpflow_ioc_set_filter(struct tcpflow_reader *r,
				   const void __user *arg)
{
	struct tcpflow_filter f;
	unsigned long flags;

	if (copy_from_user(&f, arg, sizeof(f)))
		return -EFAULT;
	if (f.flags & ~TCPFLOW_FILTER_ALL || f.reserved0 || f.reserved[0] ||
	    f.reserved[1] || f.state_mask & ~TCPFLOW_STATE_BITS)
		return -EINVAL;
	if ((f.flags & TCPFLOW_FILTER_STATE) && !f.state_mask)
		return -EINVAL;
	mutex_lock(&r->lock);
	raw_spin_lock_irqsave(&r->pos, flags);
	r->filter = f;
	raw_spin_unlock_irqrestore(&r->pos, flags);
	mutex_unlock(&r->lock);
	return 0;
}

static long tcpflow_dev_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct tcpflow_reader *r = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case TCPFLOW_IOC_VERSION:
		return put_user((u32)TCPFLOW_ABI_VERSION, (u32 __user *)uarg);
	case TCPFLOW_IOC_COUNTERS:
		return tcpflow_ioc_counters(r, uarg);
	case TCPFLOW_IOC_SET_FILTER:
		return tcpflow_ioc_set_filter(r, uarg);
	default:
		return -ENOTTY;
	}
}

static void tcpflow_reader_free(struct tcpflow_reader *r)
{
	kvfree(r->cut);
	kvfree(r->cpu);
	kvfree(r->copy);
	kfree(r);
}

static int tcpflow_dev_open(struct inode *inode, struct file *file)
{
	struct tcpflow_reader *r;
	const struct tcpflow_netcnt *n;
	unsigned long flags;
	int cpu;

	BUILD_BUG_ON(sizeof(*r) + TCPFLOW_REC_MAX_SIZE +
		     sizeof(struct tcpflow_rec_hdr) +
		     sizeof(struct tcpflow_event) > PAGE_SIZE);
	r = kzalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	r->copy = tcpflow_conn_copy_alloc();
	r->cpu = kvcalloc(nr_cpu_ids, sizeof(*r->cpu), GFP_KERNEL_ACCOUNT);
	r->cut = kvcalloc(nr_cpu_ids, sizeof(*r->cut), GFP_KERNEL_ACCOUNT);
	if (!r->copy || !r->cpu || !r->cut) {
		tcpflow_reader_free(r);
		return -ENOMEM;
	}
	mutex_init(&r->lock);
	raw_spin_lock_init(&r->pos);
	tcpflow_viewer_init(&r->view, file);
	/* The open's cut; its namespace's counts advance under the same locks. */
	rcu_read_lock();
	n = tcpflow_netcnt_find(r->view.net_cookie);
	tcpflow_ring_cut(&flags);
	tcpflow_ring_cut_readers(true);
	for_each_possible_cpu(cpu) {
		r->cpu[cpu].start = tcpflow_ring_head(cpu);
		r->cpu[cpu].next = r->cpu[cpu].start;
		if (n)
			r->cpu[cpu].ns_seen = tcpflow_ring_ns_count(cpu,
								    n->ev_cpu);
	}
	tcpflow_ring_uncut(flags);
	rcu_read_unlock();
	tcpflow_cursor_init(&r->cur);
	file->private_data = r;
	return stream_open(inode, file);
}

static int tcpflow_dev_release(struct inode *inode, struct file *file)
{
	struct tcpflow_reader *r = file->private_data;
	unsigned long flags;

	tcpflow_ring_cut(&flags);
	tcpflow_ring_cut_readers(false);
	tcpflow_ring_uncut(flags);
	tcpflow_cursor_del(&r->cur);
	tcpflow_viewer_release(&r->view);
	tcpflow_reader_free(r);
	return 0;
}

static const struct file_operations tcpflow_dev_fops = {
	.owner = THIS_MODULE,
	.open = tcpflow_dev_open,
	.release = tcpflow_dev_release,
	.read = tcpflow_dev_read,
	.poll = tcpflow_dev_poll,
	.unlocked_ioctl = tcpflow_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice tcpflow_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "tcpflow",
	.fops = &tcpflow_dev_fops,
	.mode = 0600,
};

int tcpflow_dev_init(void)
{
	return misc_register(&tcpflow_misc);
}

void tcpflow_dev_exit(void)
{
	misc_deregister(&tcpflow_misc);
}
