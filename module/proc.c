// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/tcpflow: the histories as text, for cat.
 *
 * A reader sees the connections of the network namespace it opened the file
 * in; a reader in the initial namespace with CAP_NET_ADMIN sees them all.
 * The walk holds tcpflow_table.lock from ->start to ->stop, which seq_file
 * calls around a buffer's worth of ->show, none of which sleeps.  Between
 * two read()s the lock is dropped and entries may be evicted, so ->start
 * resumes at the id where ->next stopped rather than at a count of entries:
 * an entry is shown once, or not at all if it went away meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/socket.h>
#include <net/net_namespace.h>

#include "tcpflow.h"

struct tcpflow_proc_iter {
	struct tcpflow_viewer view;
	loff_t next_pos;	/* position ->next reached ... */
	u64 next_id;		/* ... and the id it found there */
	struct tcpflow_mark at;	/* ... in that entry */
	unsigned long flags;	/* irq state while the lock is held */
};

static const char *const tcpflow_state_names[TCPFLOW_STATE_MAX] = {
	[TCPFLOW_ESTABLISHED] = "ESTABLISHED",
	[TCPFLOW_SYN_SENT] = "SYN_SENT",
	[TCPFLOW_SYN_RECV] = "SYN_RECV",
	[TCPFLOW_FIN_WAIT1] = "FIN_WAIT1",
	[TCPFLOW_FIN_WAIT2] = "FIN_WAIT2",
	[TCPFLOW_TIME_WAIT] = "TIME_WAIT",
	[TCPFLOW_CLOSE] = "CLOSE",
	[TCPFLOW_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPFLOW_LAST_ACK] = "LAST_ACK",
	[TCPFLOW_LISTEN] = "LISTEN",
	[TCPFLOW_CLOSING] = "CLOSING",
	[TCPFLOW_NEW_SYN_RECV] = "NEW_SYN_RECV",
};

static const char *const tcpflow_role_names[TCPFLOW_ROLE_MAX] = {
	[TCPFLOW_ROLE_UNKNOWN] = "-",
	[TCPFLOW_ROLE_CLIENT] = "client",
	[TCPFLOW_ROLE_SERVER] = "server",
	[TCPFLOW_ROLE_LISTENER] = "listener",
};

/*
 * Segment numbers are shown relative to each side's initial sequence
 * number, as Wireshark does, unless absolute_seq is set (or the ISN was
 * never seen, e.g. for a connection that existed before load).
 */
static bool tcpflow_absolute_seq;
module_param_named(absolute_seq, tcpflow_absolute_seq, bool, 0644);
MODULE_PARM_DESC(absolute_seq,
		 "show absolute sequence numbers in /proc/tcpflow (default: relative to the ISN)");

/* In the order tcpdump prints them. */
static const char *const tcpflow_flag_names[] = {
	"SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR",
};

static const u8 tcpflow_flag_bits[] = {
	TCPFLOW_TCP_SYN, TCPFLOW_TCP_FIN, TCPFLOW_TCP_RST, TCPFLOW_TCP_PSH,
	TCPFLOW_TCP_ACK, TCPFLOW_TCP_URG, TCPFLOW_TCP_ECE, TCPFLOW_TCP_CWR,
};

static const char *tcpflow_state_name(unsigned int s)
{
	if (s < TCPFLOW_STATE_MAX && tcpflow_state_names[s])
		return tcpflow_state_names[s];
	return "?";
}

static bool tcpflow_visible(const struct tcpflow_proc_iter *it,
			    const struct tcpflow_conn *c)
{
	return tcpflow_viewer_sees(&it->view, c->net_cookie);
}

static void *tcpflow_seq_start(struct seq_file *m, loff_t *pos)
	__acquires(&tcpflow_table.lock)
{
	struct tcpflow_proc_iter *it = m->private;
	struct tcpflow_conn *c;
	loff_t n = *pos;

	spin_lock_irqsave(&tcpflow_table.lock, it->flags);
	if (!n)
		return SEQ_START_TOKEN;
	if (n == it->next_pos) {
		c = tcpflow_conn_seek(it->next_id, &it->at);
		if (!c)
			return NULL;
		list_for_each_entry_from(c, &tcpflow_table.all, node)
			if (tcpflow_visible(it, c))
				return c;
		return NULL;
	}
	list_for_each_entry(c, &tcpflow_table.all, node)
		if (tcpflow_visible(it, c) && !--n)
			return c;
	return NULL;
}

static void *tcpflow_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct tcpflow_proc_iter *it = m->private;
	struct tcpflow_conn *c = v;

	++*pos;
	if (v == SEQ_START_TOKEN)
		c = list_entry(&tcpflow_table.all, struct tcpflow_conn, node);
	it->next_pos = *pos;
	list_for_each_entry_continue(c, &tcpflow_table.all, node) {
		if (tcpflow_visible(it, c)) {
			it->next_id = c->info.id;
			tcpflow_mark_set(&it->at, c);
			return c;
		}
	}
	it->next_id = U64_MAX;
	return NULL;
}

static void tcpflow_seq_stop(struct seq_file *m, void *v)
	__releases(&tcpflow_table.lock)
{
	struct tcpflow_proc_iter *it = m->private;

	spin_unlock_irqrestore(&tcpflow_table.lock, it->flags);
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
	const struct tcpflow_table *t = &tcpflow_table;

	seq_printf(m,
		   "tcpflow %s abi %d: %u connections (%u live, %u closed) of %u, %llu untracked, %llu evicted, %llu events dropped\n",
		   TCPFLOW_VERSION, TCPFLOW_ABI_VERSION,
		   t->nlive + t->nclosed, t->nlive, t->nclosed, t->max_conns,
		   t->cnt.untracked, t->cnt.evicted,
		   t->cnt.events_dropped + tcpflow_hooks_missed());
}

/* A sequence number relative to an ISN, when it is known. */
static u32 tcpflow_rel(const struct tcpflow_conn *c, u32 v, bool local)
{
	u32 known = local ? TCPFLOW_CONN_ISN_LOCAL : TCPFLOW_CONN_ISN_REMOTE;

	if (tcpflow_absolute_seq || !(c->info.flags & known))
		return v;
	return v - (local ? c->info.isn_local : c->info.isn_remote);
}

/* "tx SYN,ACK seq=0 ack=1 win=65483", like the textbook's ladder. */
static void tcpflow_show_segment(struct seq_file *m,
				 const struct tcpflow_conn *c,
				 const struct tcpflow_event *e)
{
	bool tx = e->a == TCPFLOW_DIR_TX;
	char sep = ' ';
	int i;

	seq_printf(m, " %s", tx ? "tx" : "rx");
	for (i = 0; i < ARRAY_SIZE(tcpflow_flag_bits); i++) {
		if (e->flags & tcpflow_flag_bits[i]) {
			seq_printf(m, "%c%s", sep, tcpflow_flag_names[i]);
			sep = ',';
		}
	}
	if (e->len || (e->flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_FIN |
				   TCPFLOW_TCP_RST)))
		seq_printf(m, " seq=%u", tcpflow_rel(c, e->seq, tx));
	if (e->flags & TCPFLOW_TCP_ACK)
		seq_printf(m, " ack=%u", tcpflow_rel(c, e->ack, !tx));
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
		seq_printf(m, " %s -> %s\n", tcpflow_state_name(e->a),
			   tcpflow_state_name(e->b));
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
	const struct tcpflow_conn *c = v;
	const struct tcpflow_conn_info *ci;
	u64 now = ktime_get_ns(), since;
	u32 i, n;

	if (v == SEQ_START_TOKEN) {
		tcpflow_show_header(m);
		return 0;
	}
	ci = &c->info;
	n = tcpflow_conn_nevents(c);
	since = n ? tcpflow_conn_event(c, n - 1)->e.t_ns : ci->first_ns;

	seq_printf(m, "conn %llu %s", ci->id,
		   tcpflow_role_names[ci->role < TCPFLOW_ROLE_MAX ? ci->role : 0]);
	tcpflow_show_addr(m, ci->family, ci->saddr, ci->sport);
	tcpflow_show_addr(m, ci->family, ci->daddr, ci->dport);
	seq_printf(m, " %s ", tcpflow_state_name(ci->state));
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
	if (ci->bytes_acked || ci->bytes_received)
		seq_printf(m, " acked=%llu received=%llu", ci->bytes_acked,
			   ci->bytes_received);
	if (ci->dropped_events)
		seq_printf(m, " dropped=%u", ci->dropped_events);
	if (ci->pid)
		seq_printf(m, " pid=%u comm=%s", ci->pid, ci->comm);
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
	struct tcpflow_proc_iter *it;

	it = __seq_open_private(file, &tcpflow_seq_ops, sizeof(*it));
	if (!it)
		return -ENOMEM;
	tcpflow_viewer_init(&it->view, file);
	return 0;
}

static const struct proc_ops tcpflow_proc_ops = {
	.proc_open = tcpflow_proc_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = seq_release_private,
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
