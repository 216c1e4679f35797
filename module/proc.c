// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/tcpflow: the histories as text, for cat.
 *
 * A reader sees the connections of the network namespace it opened the file
 * in; a reader in the initial namespace with CAP_NET_ADMIN sees them all
 * (view.c says what else it may see).
 * Any local user may read this file, so a read must not hold up the hooks:
 * ->start and ->next walk the table with a cursor (table.c), a bounded
 * batch per hold of tcpflow_table.lock, and copy the one entry they return
 * into the reader's own buffer, which ->show formats with no lock held.
 * Entries go on changing between two read()s; the cursor stays between the
 * entries shown and the others, so each is shown once, in id order, or not
 * at all if it went away meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <net/net_namespace.h>

#include <uapi/linux/tcpflow_names.h>

#include "tcpflow.h"

struct tcpflow_proc_iter {
	struct tcpflow_viewer view;
	struct tcpflow_cursor cur;
	loff_t pos;			/* seq_file position of the copy */
	struct tcpflow_conn *copy;	/* the entry at pos, as taken */
};

/* In the order tcpdump prints them. */
#define TCPFLOW_FLAG_ROW(bit, name) { bit, name },
static const struct {
	u8 bit;
	const char *name;
} tcpflow_flags[] = { TCPFLOW_TCP_FLAGS(TCPFLOW_FLAG_ROW) };

static const char *tcpflow_proc_state(unsigned int s)
{
	return tcpflow_state_name(s) ?: "?";
}

static const char *tcpflow_proc_role(unsigned int r)
{
	return tcpflow_role_name(r) ?: tcpflow_role_name(TCPFLOW_ROLE_UNKNOWN);
}

static bool tcpflow_visible(const struct tcpflow_conn *c, void *arg)
{
	const struct tcpflow_viewer *view = arg;

	return tcpflow_viewer_sees(view, c->net_cookie);
}

/* The next visible entry into it->copy, at position *pos + 1. */
static void *tcpflow_seq_fetch(struct tcpflow_proc_iter *it, loff_t *pos)
{
	++*pos;
	if (!tcpflow_cursor_next(&it->cur, tcpflow_visible, &it->view,
				 it->copy))
		return NULL;
	it->pos = *pos;
	return it->copy;
}

/*
 * seq_file asks for the header at 0, then for the record at the position
 * ->next last returned: again (the buffer was full, or the next read()
 * continues there: as the entry is now, or the next one if it went away)
 * or the one after it.  Anything else (a read at another offset) walks
 * from the start.
 */
static void *tcpflow_seq_start(struct seq_file *m, loff_t *pos)
{
	struct tcpflow_proc_iter *it = m->private;
	loff_t want = *pos, at = 0;
	void *v = NULL;

	if (want && want == it->pos) {
		if (tcpflow_cursor_refresh(&it->cur, tcpflow_visible,
					   &it->view, it->copy))
			return it->copy;
		at = want - 1;
		return tcpflow_seq_fetch(it, &at);
	}
	if (want && want == it->pos + 1) {
		at = it->pos;
		return tcpflow_seq_fetch(it, &at);
	}
	tcpflow_cursor_rewind(&it->cur);
	it->pos = 0;
	if (!want)
		return SEQ_START_TOKEN;
	while (at < want && (v = tcpflow_seq_fetch(it, &at)))
		;
	*pos = at;
	return v;
}

static void *tcpflow_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	return tcpflow_seq_fetch(m->private, pos);
}

static void tcpflow_seq_stop(struct seq_file *m, void *v)
{
}

static void tcpflow_show_secs(struct seq_file *m, u64 ns)
{
	seq_printf(m, "%llu.%06llu", ns / NSEC_PER_SEC,
		   (ns % NSEC_PER_SEC) / NSEC_PER_USEC);
}

static void tcpflow_show_addr(struct seq_file *m, u16 family, const u8 *a,
			      u16 port)
{
	if (family == AF_INET6)
		seq_printf(m, " [%pI6c]:%u", a, port);
	else
		seq_printf(m, " %pI4:%u", a, port);
}

static void tcpflow_show_header(struct seq_file *m)
{
	struct tcpflow_proc_iter *it = m->private;
	struct tcpflow_counters c;

	tcpflow_viewer_counters(&it->view, &c);
	seq_printf(m,
		   "tcpflow %s abi %d: %llu connections (%llu live, %llu closed) of %llu, %llu untracked, %llu evicted, %llu events dropped\n",
		   TCPFLOW_VERSION, TCPFLOW_ABI_VERSION, c.conns, c.live,
		   c.closed, c.max_conns, c.untracked, c.evicted,
		   c.events_dropped);
}

/* "tx SYN,ACK seq=0 ack=1 win=65483", like the textbook's ladder. */
static void tcpflow_show_segment(struct seq_file *m,
				 const struct tcpflow_conn *c,
				 const struct tcpflow_event *e)
{
	const struct tcpflow_proc_iter *it = m->private;
	bool tx = e->a == TCPFLOW_DIR_TX;
	u32 seq = e->seq, ack = e->ack;
	char sep = ' ';
	int i;

	seq_printf(m, " %s", tx ? "tx" : "rx");
	for (i = 0; i < ARRAY_SIZE(tcpflow_flags); i++) {
		if (e->flags & tcpflow_flags[i].bit) {
			seq_printf(m, "%c%s", sep, tcpflow_flags[i].name);
			sep = ',';
		}
	}
	if ((e->len || (e->flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_FIN |
				    TCPFLOW_TCP_RST))) &&
	    tcpflow_viewer_seq(&it->view, &c->info, tx, &seq))
		seq_printf(m, " seq=%u", seq);
	if ((e->flags & TCPFLOW_TCP_ACK) &&
	    tcpflow_viewer_seq(&it->view, &c->info, !tx, &ack))
		seq_printf(m, " ack=%u", ack);
	if (e->flags & TCPFLOW_TCP_SYN)
		seq_printf(m, " win=%u", e->win);
	if (e->len)
		seq_printf(m, " len=%u", e->len);
	if (e->b)
		seq_printf(m, " retrans=%u", e->b);
	seq_putc(m, '\n');
}

static void tcpflow_show_event(struct seq_file *m, const struct tcpflow_conn *c,
			       const struct tcpflow_event *e)
{
	seq_puts(m, "  +");
	tcpflow_show_secs(m, e->t_ns - c->info.first_ns);
	switch (e->type) {
	case TCPFLOW_EV_STATE:
		seq_printf(m, " %s -> %s\n", tcpflow_proc_state(e->a),
			   tcpflow_proc_state(e->b));
		break;
	case TCPFLOW_EV_SEGMENT:
		tcpflow_show_segment(m, c, e);
		break;
	default:
		seq_printf(m, " event %u\n", e->type);
		break;
	}
}

static int tcpflow_seq_show(struct seq_file *m, void *v)
{
	struct tcpflow_proc_iter *it = m->private;
	const struct tcpflow_conn *c = v;
	struct tcpflow_conn_info info;
	const struct tcpflow_conn_info *ci = &info;
	u64 now = ktime_get_ns(), since;
	u32 i, n;

	if (v == SEQ_START_TOKEN) {
		tcpflow_show_header(m);
		return 0;
	}
	info = c->info;
	tcpflow_viewer_redact(&it->view, &c->owner, &info);
	n = tcpflow_conn_nevents(c);
	since = n ? tcpflow_conn_event(c, n - 1)->e.t_ns : ci->first_ns;

	seq_printf(m, "conn %llu %s", ci->id, tcpflow_proc_role(ci->role));
	tcpflow_show_addr(m, ci->family, ci->saddr, ci->sport);
	tcpflow_show_addr(m, ci->family, ci->daddr, ci->dport);
	seq_printf(m, " %s ", tcpflow_proc_state(ci->state));
	tcpflow_show_secs(m, now - since);
	seq_printf(m, "s netns=%u sk=%llx", ci->netns, ci->cookie);
	if (ci->parent_id)
		seq_printf(m, " listener=%llu", ci->parent_id);
	if (ci->flags & TCPFLOW_CONN_PREEXISTING)
		seq_puts(m, " preexisting");
	if (ci->flags & TCPFLOW_CONN_PARTIAL)
		seq_puts(m, " partial");
	if (ci->flags & TCPFLOW_CONN_REQUEST)
		seq_puts(m, " request");
	if (ci->flags & TCPFLOW_CONN_DUPLICATE)
		seq_puts(m, " duplicate");
	if (ci->flags & TCPFLOW_CONN_STALE)
		seq_puts(m, " stale");
	if (ci->flags & TCPFLOW_CONN_TW_OVERFLOW)
		seq_puts(m, " tw_overflow");
	if (ci->flags & TCPFLOW_CONN_SYNCOOKIE)
		seq_puts(m, " syncookie");
	if (ci->bytes_acked || ci->bytes_received)
		seq_printf(m, " acked=%llu received=%llu", ci->bytes_acked,
			   ci->bytes_received);
	if (ci->dropped_events)
		seq_printf(m, " dropped=%u", ci->dropped_events);
	if (ci->pid)
		seq_printf(m, " pid=%u comm=%s", ci->pid, ci->comm);
	if (ci->cgroup_id)
		seq_printf(m, " cgroup=%llu", ci->cgroup_id);
	seq_putc(m, '\n');

	for (i = 0; i < n; i++) {
		if (ci->dropped_events && i == tcpflow_conn_head())
			seq_printf(m, "  ... %u events dropped\n",
				   ci->dropped_events);
		tcpflow_show_event(m, c, &tcpflow_conn_event(c, i)->e);
	}
	return 0;
}

static const struct seq_operations tcpflow_seq_ops = {
	.start = tcpflow_seq_start,
	.next = tcpflow_seq_next,
	.stop = tcpflow_seq_stop,
	.show = tcpflow_seq_show,
};

static int tcpflow_proc_open(struct inode *inode, struct file *file)
{
	struct tcpflow_conn *copy = tcpflow_conn_copy_alloc();
	struct tcpflow_proc_iter *it;

	if (!copy)
		return -ENOMEM;
	it = __seq_open_private(file, &tcpflow_seq_ops, sizeof(*it));
	if (!it) {
		kvfree(copy);
		return -ENOMEM;
	}
	it->copy = copy;
	tcpflow_viewer_init(&it->view, file);
	tcpflow_cursor_init(&it->cur);
	return 0;
}

/*
 * Also called by proc_remove() for files still open at rmmod, before the
 * table goes (main.c): the cursor leaves the list while it exists.
 */
static int tcpflow_proc_release(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;
	struct tcpflow_proc_iter *it = m->private;

	tcpflow_cursor_del(&it->cur);
	kvfree(it->copy);
	tcpflow_viewer_release(&it->view);
	return seq_release_private(inode, file);
}

static const struct proc_ops tcpflow_proc_ops = {
	.proc_open = tcpflow_proc_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = tcpflow_proc_release,
};

static struct proc_dir_entry *tcpflow_proc;

int tcpflow_proc_init(void)
{
	tcpflow_proc = proc_create("tcpflow", 0444, NULL, &tcpflow_proc_ops);
	return tcpflow_proc ? 0 : -ENOMEM;
}

/* proc_remove() waits for readers inside our callbacks to leave. */
void tcpflow_proc_exit(void)
{
	proc_remove(tcpflow_proc);
}
