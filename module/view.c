// SPDX-License-Identifier: GPL-2.0
/*
 * What each reader may see of the table, decided on purpose as ss and
 * /proc/net/tcp decide it.
 *
 * A reader is a file opened on /proc/tcpflow or /dev/tcpflow, judged by the
 * credentials it was opened with and the namespaces of the opener:
 *
 *  - connections: those of the network namespace it was opened in, or all
 *    of them ("all") in the initial namespace with CAP_NET_ADMIN;
 *  - owners (pid, comm and cgroup id): only with CAP_NET_ADMIN over the
 *    user namespace that owns that network namespace (implied for "all").
 *    ss -p names a process only to who may read its /proc/PID/fd, so
 *    anything less would get around hidepid.  A pid is shown as the
 *    reader's pid namespace numbers it (see tcpflow_viewer_redact());
 *  - absolute sequence numbers (absolute_seq): to the same readers only;
 *    the others get numbers relative to each side's ISN, or none;
 *  - counters: those of all namespaces for "all", of its own namespace for
 *    the others.
 *
 * One decision per open suffices: a reader that is not "all" sees only the
 * network namespace it was opened in, the one its capability was checked
 * against, and an "all" reader's CAP_NET_ADMIN in the initial user
 * namespace covers every network namespace, whose owners are all its
 * descendants.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/nsproxy.h>
#include <linux/percpu.h>
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>

#include "tcpflow.h"

/*
 * Segment numbers are shown relative to each side's initial sequence
 * number, as Wireshark does, unless absolute_seq is set for a reader that
 * may see owners.  Where the ISN was never seen (a connection that existed
 * before load, the RST that answers a SYN to a closed port) the number is
 * absolute for those readers and not shown to the others: it would be the
 * connection's current sequence space.
 */
static bool tcpflow_absolute_seq;
module_param_named(absolute_seq, tcpflow_absolute_seq, bool, 0644);
MODULE_PARM_DESC(absolute_seq,
		 "show absolute sequence numbers in /proc/tcpflow to readers with CAP_NET_ADMIN (default: relative to the ISN)");

/*
 * The counters of each network namespace, by tcpflow_net_cookie() (see
 * compat.h): a 64-bit number not handed out twice, unlike a namespace's
 * inode number or address.  A record is made by the namespace's pernet .init (process
 * context: it may sleep, where the probes may not allocate) and removed
 * by its .exit.  The hash is written under tcpflow_netcnt_lock and read
 * under RCU: the hooks run with preemption off, and readers of the files
 * take rcu_read_lock(), so a record unhashed is freed after a grace
 * period (call_rcu(); the module's exit waits for those with rcu_barrier()).
 *
 * This pernet subsystem is registered before the hooks are (main.c), so
 * every namespace has its record before tcpflow can see a connection in
 * it: the probes only ever look one up.  A connection made while its
 * namespace had none (net_held clear) is not in its live and closed
 * counts, so they never go below zero.
 *
 * Teardown: a dying namespace's exits run in the reverse order of
 * registration, so this .exit runs after segments.c's (its netfilter hooks
 * are gone) and before TCP's, which purges the timewait sockets and so
 * still moves connections of the namespace to CLOSE.  Those events, and
 * any of a kernel socket closed later still, find no record: they are
 * counted in the table's counters only.  The cookie is never reused, so no
 * later namespace inherits the dead one's entries.  A reader opened in the
 * namespace that outlives it (a file descriptor passed on) reads zeros.
 */
#define TCPFLOW_NETCNT_BITS	8
static DEFINE_HASHTABLE(tcpflow_netcnts, TCPFLOW_NETCNT_BITS);
static DEFINE_SPINLOCK(tcpflow_netcnt_lock);

/* Under rcu_read_lock() or with preemption off; the record is not held. */
struct tcpflow_netcnt *tcpflow_netcnt_find(u64 net_cookie)
{
	struct tcpflow_netcnt *n;

	hash_for_each_possible_rcu(tcpflow_netcnts, n, node, net_cookie)
		if (n->net_cookie == net_cookie)
			return n;
	return NULL;
}

static void tcpflow_netcnt_free(struct tcpflow_netcnt *n)
{
	free_percpu(n->ev_cpu);
	free_percpu(n->cnt);
	kfree(n);
}

/* free_percpu() may be called in any context, an RCU callback's too. */
static void tcpflow_netcnt_free_rcu(struct rcu_head *head)
{
	tcpflow_netcnt_free(container_of(head, struct tcpflow_netcnt, rcu));
}

static int __net_init tcpflow_view_net_init(struct net *net)
{
	struct tcpflow_netcnt *n = kzalloc(sizeof(*n), GFP_KERNEL);

	if (!n)
		return -ENOMEM;
	n->ev_cpu = alloc_percpu(u64);
	n->cnt = alloc_percpu(struct tcpflow_kcounters);
	if (!n->ev_cpu || !n->cnt) {
		tcpflow_netcnt_free(n);
		return -ENOMEM;
	}
	n->net_cookie = tcpflow_net_cookie(net);
	spin_lock(&tcpflow_netcnt_lock);
	hash_add_rcu(tcpflow_netcnts, &n->node, n->net_cookie);
	spin_unlock(&tcpflow_netcnt_lock);
	return 0;
}

static void __net_exit tcpflow_view_net_exit(struct net *net)
{
	struct tcpflow_netcnt *n;

	spin_lock(&tcpflow_netcnt_lock);
	n = tcpflow_netcnt_find(tcpflow_net_cookie(net));
	if (n)
		hash_del_rcu(&n->node);
	spin_unlock(&tcpflow_netcnt_lock);
	if (n)
		call_rcu(&n->rcu, tcpflow_netcnt_free_rcu);
}

static struct pernet_operations tcpflow_view_net_ops = {
	.init = tcpflow_view_net_init,
	.exit = tcpflow_view_net_exit,
};

/* Makes every existing namespace's record now, and each new one's. */
int tcpflow_view_init(void)
{
	return register_pernet_subsys(&tcpflow_view_net_ops);
}

/* Once no hook runs: removes every record. */
void tcpflow_view_exit(void)
{
	unregister_pernet_subsys(&tcpflow_view_net_ops);
	rcu_barrier();
}

void tcpflow_viewer_init(struct tcpflow_viewer *v, const struct file *file)
{
	struct net *net = current->nsproxy->net_ns;

	v->net_cookie = tcpflow_net_cookie(net);
	v->owners = file_ns_capable(file, net->user_ns, CAP_NET_ADMIN);
	v->all = v->owners && net_eq(net, &init_net);
	v->pid_ns = get_pid_ns(task_active_pid_ns(current));
}

void tcpflow_viewer_release(struct tcpflow_viewer *v)
{
	put_pid_ns(v->pid_ns);
}

/*
 * A reader's copy of a connection, with what it may not see taken out:
 * the owner goes unless the reader may see owners and can name the owner
 * in its own pid namespace.  A reader in the initial pid namespace gets
 * the global tgid; a reader in the owner's own (innermost) namespace the
 * tgid there; any other reader no owner at all, not even its comm or its
 * cgroup, as ss shows no process it cannot find in its /proc.  (A reader
 * in a namespace between the two levels therefore gets none either.)
 * The cgroup id is the same number in every namespace: it goes with the
 * pid, never without it.
 *
 * A namespace's inode number may be reused once the namespace is gone,
 * when its processes, the owner among them, are gone too: a reader in a
 * new namespace with the same number would see the dead owner's pid
 * there.
 */
void tcpflow_viewer_redact(const struct tcpflow_viewer *v,
			   const struct tcpflow_owner *o,
			   struct tcpflow_conn_info *ci)
{
	u32 pid = 0;

	if (v->owners) {
		if (v->pid_ns == &init_pid_ns)
			pid = o->tgid;
		else if (o->pidns == v->pid_ns->ns.inum)
			pid = o->ns_tgid;
	}
	ci->pid = pid;
	if (!pid) {
		memset(ci->comm, 0, sizeof(ci->comm));
		ci->cgroup_id = 0;
	}
}

/*
 * A segment's seq (or ack) number as this reader may see it, relative to
 * the ISN of its side (@local: this host's): false when it may not see it
 * at all.
 */
bool tcpflow_viewer_seq(const struct tcpflow_viewer *v,
			const struct tcpflow_conn_info *ci, bool local,
			u32 *seq)
{
	u32 known = local ? TCPFLOW_CONN_ISN_LOCAL : TCPFLOW_CONN_ISN_REMOTE;

	if (v->owners && READ_ONCE(tcpflow_absolute_seq))
		return true;
	if (!(ci->flags & known))
		return v->owners;
	*seq -= local ? ci->isn_local : ci->isn_remote;
	return true;
}

/*
 * The counters this reader is shown: the entry counts read at once under
 * tcpflow_table.lock, the event counters summed over the CPUs.
 * Probe hits the kernel skipped (tcpflow_hooks_missed()) belong to no
 * known namespace: only "all" readers have them in events_dropped, and
 * walk_max, which readers of every namespace make, too.  max_conns is
 * the pool every namespace shares.
 */
void tcpflow_viewer_counters(const struct tcpflow_viewer *v,
			     struct tcpflow_counters *c)
{
	const struct tcpflow_table *t = &tcpflow_table;
	const struct tcpflow_netcnt *n;
	struct tcpflow_kcounters sum;
	unsigned long flags;

	memset(c, 0, sizeof(*c));
	c->max_conns = t->max_conns;
	if (v->all) {
		raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
		c->live = t->nlive;
		c->closed = t->nclosed;
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
		tcpflow_kcounters_sum(t->cnt, &sum);
		sum.v[TCPFLOW_CNT_EVENTS_DROPPED] += tcpflow_hooks_missed();
		c->walk_max = tcpflow_walk_max();
	} else {
		rcu_read_lock();
		n = tcpflow_netcnt_find(v->net_cookie);
		if (!n) {
			rcu_read_unlock();
			return;		/* its namespace is gone */
		}
		raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
		c->live = n->nlive;
		c->closed = n->nclosed;
		raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
		tcpflow_kcounters_sum(n->cnt, &sum);
		rcu_read_unlock();
	}
	c->untracked = sum.v[TCPFLOW_CNT_UNTRACKED];
	c->evicted = sum.v[TCPFLOW_CNT_EVICTED];
	c->events_dropped = sum.v[TCPFLOW_CNT_EVENTS_DROPPED];
	c->events_total = sum.v[TCPFLOW_CNT_EVENTS_TOTAL];
	c->conns = c->live + c->closed;
}
