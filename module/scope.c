// SPDX-License-Identifier: GPL-2.0
/*
 * The tracking scope: the ports= parameter, for users who want one service
 * only.  Empty (the default), every TCP connection is recorded; otherwise
 * only those with a local or peer port in it, and every hook leaves traffic
 * outside it after one test of each port, before any lookup, without an
 * entry or a count.
 *
 * It can be set at insmod and changed at any time through
 * /sys/module/tcpflow/parameters/ports.  A change applies to events from
 * then on: a connection recorded so far and outside the new scope records
 * nothing more (its history ends where it was; the reaper closes its entry
 * once its socket is gone), one already open that enters it is recorded
 * from its next state change on, marked partial.
 *
 * The set is a bitmap of the 65536 ports, replaced whole by a writer and
 * freed after an RCU grace period: a hook sees the old set or the new,
 * never a mix.  Hooks run with preemption off or under rcu_read_lock()
 * (netfilter), both of which synchronize_rcu() waits for.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/inet_sock.h>

#include "tcpflow.h"

/* Items ("80" or "8000-8099") a scope may list: its text fits a page. */
#define TCPFLOW_SCOPE_MAX_ITEMS	64

struct tcpflow_scope {
	DECLARE_BITMAP(ports, 65536);
};

struct tcpflow_scope __rcu *tcpflow_scope_ports __read_mostly;
/* Writers of tcpflow_scope_ports (the parameter's set and free). */
static DEFINE_MUTEX(tcpflow_scope_lock);

/*
 * Parse "80,443,8000-8099" into @s; an empty string is no scope.  Ports are
 * 1 to 65535, ranges go up, at most TCPFLOW_SCOPE_MAX_ITEMS items.
 */
static int tcpflow_scope_parse(const char *val, struct tcpflow_scope *s)
{
	char buf[16];
	const char *p = val, *end;
	unsigned int lo, hi, n = 0;
	size_t len;
	char *dash;

	while (*p && *p != '\n') {
		end = strchrnul(p, ',');
		len = end - p;
		if (end[0] == '\0' && len && p[len - 1] == '\n')
			len--;
		if (!len || len >= sizeof(buf) || ++n > TCPFLOW_SCOPE_MAX_ITEMS)
			return -EINVAL;
		memcpy(buf, p, len);
		buf[len] = '\0';
		dash = strchr(buf, '-');
		if (dash)
			*dash = '\0';
		if (kstrtouint(buf, 10, &lo))
			return -EINVAL;
		hi = lo;
		if (dash && kstrtouint(dash + 1, 10, &hi))
			return -EINVAL;
		if (!lo || lo > hi || hi > 65535)
			return -EINVAL;
		bitmap_set(s->ports, lo, hi - lo + 1);
		p = *end ? end + 1 : end;
		if (*end && (!*p || *p == '\n'))
			return -EINVAL;	/* a trailing comma */
	}
	return 0;
}

static int tcpflow_scope_set(const char *val, const struct kernel_param *kp)
{
	struct tcpflow_scope *s, *old;
	int err;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	err = tcpflow_scope_parse(val, s);
	if (err) {
		pr_err("ports=%s: must be ports (1-65535) or ranges (LOW-HIGH), at most %d, separated by commas; empty for all\n",
		       val, TCPFLOW_SCOPE_MAX_ITEMS);
		kfree(s);
		return err;
	}
	if (bitmap_empty(s->ports, 65536)) {
		kfree(s);
		s = NULL;
	}
	mutex_lock(&tcpflow_scope_lock);
	old = rcu_replace_pointer(tcpflow_scope_ports, s,
				  lockdep_is_held(&tcpflow_scope_lock));
	mutex_unlock(&tcpflow_scope_lock);
	/* No hook still reads the old set once this returns. */
	if (old) {
		synchronize_rcu();
		kfree(old);
	}
	return 0;
}

/* The scope as it would be written: ports and ranges, ascending. */
static int tcpflow_scope_get(char *buf, const struct kernel_param *kp)
{
	const struct tcpflow_scope *s;
	unsigned int lo, hi = 0;
	int n = 0;

	mutex_lock(&tcpflow_scope_lock);
	s = rcu_dereference_protected(tcpflow_scope_ports,
				      lockdep_is_held(&tcpflow_scope_lock));
	while (s && hi < 65536) {
		lo = find_next_bit(s->ports, 65536, hi);
		if (lo >= 65536)
			break;
		hi = find_next_zero_bit(s->ports, 65536, lo);
		n += scnprintf(buf + n, PAGE_SIZE - n, "%s%u", n ? "," : "",
			       lo);
		if (hi - 1 > lo)
			n += scnprintf(buf + n, PAGE_SIZE - n, "-%u", hi - 1);
	}
	mutex_unlock(&tcpflow_scope_lock);
	n += scnprintf(buf + n, PAGE_SIZE - n, "\n");
	return n;
}

/*
 * Called by the kernel when the module goes (or its load fails after the
 * parameters were parsed), once no hook runs any more.
 */
static void tcpflow_scope_free(void *arg)
{
	kfree(rcu_dereference_protected(tcpflow_scope_ports, true));
	RCU_INIT_POINTER(tcpflow_scope_ports, NULL);
}

static const struct kernel_param_ops tcpflow_scope_ops = {
	.set = tcpflow_scope_set,
	.get = tcpflow_scope_get,
	.free = tcpflow_scope_free,
};

module_param_cb(ports, &tcpflow_scope_ops, NULL, 0644);
MODULE_PARM_DESC(ports,
		 "record only connections with a local or peer port in this list, e.g. 80,443,8000-8099 (default: all)");

/*
 * A full socket lets its local port go (inet_put_port() zeroes inet_num)
 * before the tracepoint reports its move to CLOSE; inet_sport keeps it.
 * A timewait or request socket keeps its number.
 */
bool tcpflow_scope_out_sk_slow(const struct sock *sk)
{
	u16 lport = sk->sk_num;

	if (!lport && sk_fullsock(sk))
		lport = ntohs(inet_sk(sk)->inet_sport);
	return tcpflow_scope_out_slow(lport, ntohs(sk->sk_dport));
}

/* Out of scope: both ports outside a set. */
bool tcpflow_scope_out_slow(u16 lport, u16 rport)
{
	const struct tcpflow_scope *s;

	s = rcu_dereference_check(tcpflow_scope_ports,
				  rcu_read_lock_sched_held());
	return s && !test_bit(lport, s->ports) && !test_bit(rport, s->ports);
}
