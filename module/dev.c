// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/tcpflow: the histories as binary records (include/uapi/linux/tcpflow.h
 * documents the stream).
 *
 * Each open file is a reader with its own position.  At open it notes the
 * live stream's head under the table lock: events numbered below it are
 * delivered from the histories (the snapshot), the others from the ring, so
 * none is delivered twice or skipped in between.
 *
 * The snapshot walks the table with a cursor and copies one connection at
 * a time into the reader's own buffer (table.c), then makes its records
 * from that copy with no lock held, across as many read()s as it takes:
 * a history that goes on changing meanwhile is neither skipped nor sent
 * twice.  The live stream's records are built under tcpflow_table.lock
 * into the reader's own page, a bounded batch of ring slots per hold, then
 * copied to user space with the lock dropped: copy_to_user() may fault
 * and sleep.  read() calls on one file are serialized by its mutex.
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

struct tcpflow_reader {
	struct mutex lock;		/* one read() at a time */
	struct tcpflow_viewer view;
	struct tcpflow_filter filter;	/* written under both locks */
	u64 start_seq;			/* first event of the live stream */
	u64 next_seq;			/* next live event to deliver */
	u64 ns_seen;			/* not "all": its netns's last event
					 * passed (struct tcpflow_slot.ns_seq)
					 */
	bool gap;			/* not "all": the ring overtook it */
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
			 u64 conn_id, const void *payload, size_t plen)
{
	struct tcpflow_rec_hdr h = {
		.type = type,
		.size = sizeof(h) + plen,
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

/* In the snapshot: visible, wanted, and not born after the open. */
static bool tcpflow_snap_wants(const struct tcpflow_conn *c, void *arg)
{
	const struct tcpflow_reader *r = arg;

	if (!tcpflow_reader_wants(r, c->net_cookie, &c->info))
		return false;
	/* Born after the open: the live stream tells all of it. */
	return !(c->total_events && c->ev[0].gseq >= r->start_seq);
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
						  &sync, sizeof(sync)))
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
					  c->info.id, &ci, sizeof(ci)))
				return;
			r->snap_conn_sent = true;
		}
		for (; r->snap_ev < tcpflow_conn_nevents(c); r->snap_ev++) {
			ke = tcpflow_conn_event(c, r->snap_ev);
			if (ke->gseq >= r->start_seq)
				continue;
			if (!tcpflow_emit(r, limit, TCPFLOW_REC_EVENT,
					  c->info.id, &ke->e, sizeof(ke->e)))
				return;
		}
		r->snap_have = false;
	}
}

/*
 * The live stream, for fill_live() and reader_ready() alike, under the
 * table lock: passes over the events this reader does not want, at most
 * *budget slots, up to @head, and returns the slot at next_seq of the next
 * one it wants (deliver it, then tcpflow_live_pass()), or NULL with *lost
 * set to a loss to report first (then tcpflow_live_lost()), or NULL.
 *
 * The ring does not wait for readers: one that falls behind is told how
 * many events it missed.  A reader of every namespace is told the count
 * at once.  Any other must not learn how busy other namespaces were, so it
 * is told only how many of its own namespace's events it missed: each
 * slot carries its namespace's event number (ns_seq), and the count is
 * known at the next event of its own namespace still in the ring, or, with
 * none left, from its namespace's counters once it has caught up.
 *
 * next_seq, ns_seen and gap move only under the table lock: a poll() that
 * does not take r->lock may move them past events this reader does not
 * want while a read() is in progress; a wanted event, or a loss to report,
 * stops both where the other would stop.
 */
static const struct tcpflow_slot *tcpflow_live_next(struct tcpflow_reader *r,
						    u64 head, u64 *lost,
						    unsigned int *budget)
{
	const bool all = r->view.all;
	const struct tcpflow_slot *s;
	const struct tcpflow_netcnt *n;
	u64 oldest = tcpflow_ring_oldest();

	lockdep_assert_held(&tcpflow_table.lock);
	*lost = 0;
	if (r->next_seq < oldest) {
		if (all) {
			*lost = oldest - r->next_seq;
			return NULL;
		}
		r->gap = true;
		r->next_seq = oldest;
	}
	for (; *budget && r->next_seq < head; r->next_seq++, --*budget) {
		s = tcpflow_ring_slot(r->next_seq);
		if (!tcpflow_viewer_sees(&r->view, s->net_cookie))
			continue;
		if (!all && r->gap) {
			if (s->ns_seq > r->ns_seen + 1) {
				*lost = s->ns_seq - r->ns_seen - 1;
				return NULL;
			}
			r->gap = false;
		}
		if (tcpflow_filter_match(&r->filter, &s->info))
			return s;
		if (!all)
			r->ns_seen = s->ns_seq;
	}
	if (r->gap && r->next_seq == tcpflow_ring_head()) {
		n = tcpflow_netcnt_find(r->view.net_cookie);
		if (n && n->cnt.events_total > r->ns_seen) {
			*lost = n->cnt.events_total - r->ns_seen;
			return NULL;
		}
		r->gap = false;
	}
	return NULL;
}

/* The loss tcpflow_live_next() found is reported. */
static void tcpflow_live_lost(struct tcpflow_reader *r, u64 lost)
{
	if (r->view.all) {
		r->next_seq += lost;
	} else {
		r->ns_seen += lost;
		r->gap = false;
	}
}

/* The event at next_seq is delivered. */
static void tcpflow_live_pass(struct tcpflow_reader *r,
			      const struct tcpflow_slot *s)
{
	r->next_seq++;
	if (!r->view.all)
		r->ns_seen = s->ns_seq;
}

/*
 * The live stream's records: each event with its connection, or what was
 * lost, a batch of TCPFLOW_WALK_BATCH slots per hold of the table lock,
 * wanted or not, up to the head seen on entry.
 */
static void tcpflow_fill_live(struct tcpflow_reader *r, size_t limit)
{
	const size_t pair = 2 * sizeof(struct tcpflow_rec_hdr) +
			    sizeof(struct tcpflow_conn_info) +
			    sizeof(struct tcpflow_event);
	const struct tcpflow_slot *s;
	struct tcpflow_conn_info ci;
	struct tcpflow_loss loss;
	u64 head = tcpflow_ring_head();
	unsigned int budget;
	unsigned long flags;
	bool more;

	do {
		raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
		budget = TCPFLOW_WALK_BATCH;
		while (!r->full) {
			s = tcpflow_live_next(r, head, &loss.events, &budget);
			if (loss.events) {
				if (tcpflow_emit(r, limit, TCPFLOW_REC_LOSS, 0,
						 &loss, sizeof(loss)))
					tcpflow_live_lost(r, loss.events);
				continue;
			}
			if (!s)
				break;
			if (tcpflow_reader_room(r, limit) < pair) {
				r->full = true;
				break;
			}
			ci = s->info;
			tcpflow_viewer_redact(&r->view, &s->owner, &ci);
			tcpflow_emit(r, limit, TCPFLOW_REC_CONN, s->info.id,
				     &ci, sizeof(ci));
			tcpflow_emit(r, limit, TCPFLOW_REC_EVENT, s->info.id,
				     &s->e, sizeof(s->e));
			tcpflow_live_pass(r, s);
		}
		tcpflow_walk_note(TCPFLOW_WALK_BATCH - budget);
		more = !r->full && !budget && r->next_seq < head;
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	} while (more);
}

/*
 * Is there a record for this reader?  An event its filter or its
 * namespace hides is not one: poll() must not report input that read()
 * would not return, nor tell a reader in one namespace when another one
 * is busy.  Such events are passed over for good, as tcpflow_fill_live()
 * would, a batch per hold of the table lock (interrupts are off), up to the
 * head seen on entry: a later event wakes the caller again.
 */
static bool tcpflow_reader_ready(struct tcpflow_reader *r)
{
	unsigned int budget;
	unsigned long flags;
	bool ready, more;
	u64 head, lost;

	if (!READ_ONCE(r->synced))
		return true;	/* the snapshot ends with a SYNC record */
	head = tcpflow_ring_head();
	if (READ_ONCE(r->next_seq) == head && !READ_ONCE(r->gap))
		return false;
	do {
		raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
		budget = TCPFLOW_WALK_BATCH;
		ready = tcpflow_live_next(r, head, &lost, &budget) || lost;
		tcpflow_walk_note(TCPFLOW_WALK_BATCH - budget);
		more = !ready && !budget && r->next_seq < head;
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	} while (more);
	return ready;
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
	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	r->filter = f;
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
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

static int tcpflow_dev_open(struct inode *inode, struct file *file)
{
	struct tcpflow_reader *r;
	const struct tcpflow_netcnt *n;
	unsigned long flags;

	BUILD_BUG_ON(sizeof(*r) + TCPFLOW_REC_MAX_SIZE +
		     sizeof(struct tcpflow_rec_hdr) +
		     sizeof(struct tcpflow_event) > PAGE_SIZE);
	r = kzalloc(PAGE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	r->copy = tcpflow_conn_copy_alloc();
	if (!r->copy) {
		kfree(r);
		return -ENOMEM;
	}
	mutex_init(&r->lock);
	tcpflow_viewer_init(&r->view, file);
	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	r->start_seq = tcpflow_ring_attach();
	n = tcpflow_netcnt_find(r->view.net_cookie);
	r->ns_seen = n ? n->cnt.events_total : 0;
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	r->next_seq = r->start_seq;
	tcpflow_cursor_init(&r->cur);
	file->private_data = r;
	return stream_open(inode, file);
}

static int tcpflow_dev_release(struct inode *inode, struct file *file)
{
	struct tcpflow_reader *r = file->private_data;
	unsigned long flags;

	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	tcpflow_ring_detach();
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	tcpflow_cursor_del(&r->cur);
	kvfree(r->copy);
	tcpflow_viewer_release(&r->view);
	kfree(r);
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
