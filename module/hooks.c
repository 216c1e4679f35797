// SPDX-License-Identifier: GPL-2.0
/*
 * Where tcpflow learns what TCP does.
 *
 * sock:inet_sock_set_state is the one tracepoint that sees every state
 * change of every TCP socket, but it is not exported to modules, so it is
 * found by name among the kernel's tracepoints.  What it does not show is
 * filled in by k(ret)probes on exported (hence never inlined) functions:
 *
 *   inet_twsk_alloc()             the connection moves to a timewait socket:
 *                                 the CLOSE that follows means TIME_WAIT (or
 *                                 an orphaned FIN_WAIT2 kept alive);
 *   tcp_timewait_state_process()  that FIN_WAIT2 timewait socket receives
 *                                 the peer's FIN and becomes TIME_WAIT;
 *   tcp_twsk_destructor()         the timewait socket is gone: CLOSE;
 *   security_sock_graft()         accept() gives the child to a process,
 *                                 its owner (an LSM hook: it needs
 *                                 CONFIG_SECURITY_NETWORK, as Debian has).
 *
 * Only the first argument and the return value of these are used, which are
 * the same on every supported kernel.
 *
 * All hooks run with preemption disabled, in process or softirq context.
 * They run with interrupts off, take the lock of the one entry they
 * record in (found without the table lock when it can be), and
 * tcpflow_table.lock before it only to create, close or re-key an entry.
 * They never sleep and never allocate: entries come from the preallocated
 * pool.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/tracepoint.h>
#include <net/inet_timewait_sock.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tcp_states.h>
#include <trace/events/sock.h>

#include "fault.h"
#include "tcpflow.h"

/* First sighting of a connection: decide its role from how it began. */
static void tcpflow_conn_start(struct tcpflow_conn *c, int old, int new)
{
	if (old == TCP_CLOSE && new == TCP_SYN_SENT)
		c->info.role = TCPFLOW_ROLE_CLIENT;
	else if (old == TCP_CLOSE && new == TCP_LISTEN)
		c->info.role = TCPFLOW_ROLE_LISTENER;
	else	/* its opening was missed: no room then, or a load race */
		c->info.flags |= TCPFLOW_CONN_PARTIAL;
}

/*
 * LISTEN -> SYN_RECV is the first transition of a child socket, cloned from
 * its listener when the handshake's final ACK arrives.  The clone still
 * carries the listener's cookie, which names the parent; the child gets its
 * own cookie right after this event.  Usually the request that began with
 * the SYN (segments.c) is waiting for it, and has recorded LISTEN ->
 * SYN_RECV already, when its SYN-ACK left: the child's report of the same
 * transition is then not recorded a second time.
 *
 * Two races on two CPUs leave that request otherwise:
 *  - the client's reset was recorded, and closed the request, between its
 *    final ACK and this clone: the child still belongs to the connection
 *    (the kernel destroys it at once if the reset removed the request
 *    first);
 *  - two segments completed the handshake at once (the final ACK and the
 *    client's FIN or data right behind it) and another CPU's child has
 *    adopted the request: the kernel keeps only the first child it hashes
 *    and destroys the other.  This one gets a history of its own, marked
 *    duplicate; the two swap sockets if it turns out to be the one kept
 *    (tcpflow_conn_claim_pending()).
 */
static void tcpflow_child_new(const struct sock *sk)
{
	struct tcpflow_conn *c, *l, *req;
	unsigned long flags;
	u64 now;

	/* Its request's place changes, or a new entry is made: both locks. */
	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	req = tcpflow_request_take(sk);
	if (req && req->embryo) {
		c = req;
		tcpflow_conn_lock(c);
		now = ktime_get_ns();
		tcpflow_conn_adopt(c);
	} else {
		c = tcpflow_conn_new(sk);
		if (!c) {
			tcpflow_count_dropped(tcpflow_net_cookie(sock_net(sk)));
			goto unlock;
		}
		now = ktime_get_ns();
		c->info.role = TCPFLOW_ROLE_SERVER;
		c->info.first_ns = now;
		if (req) {
			c->info.flags |= TCPFLOW_CONN_DUPLICATE;
			/* The table lock's fields: req is not locked. */
			if (req->pending_sk)	/* still its first child's */
				tcpflow_conn_set_twins(req, c);
		}
	}
	l = tcpflow_conn_lookup(atomic64_read(&sk->sk_cookie));
	/* A role is set when its entry is made: the table lock keeps it. */
	if (l && l->info.role == TCPFLOW_ROLE_LISTENER)
		c->info.parent_id = l->info.id;
	tcpflow_conn_set_pending(c, sk);
	if (c->req_syn_recv)	/* recorded when its request began */
		c->info.state = TCP_SYN_RECV;
	else
		tcpflow_conn_add_state(c, now, TCP_LISTEN, TCP_SYN_RECV);
	tcpflow_conn_unlock(c);
unlock:
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
}

/*
 * Does this transition of @c (locked) change where the entry is or how it
 * is counted?  Then it is made with the table lock held too.
 */
static bool tcpflow_state_moves(const struct tcpflow_conn *c, int oldstate,
				int newstate)
{
	if ((c->info.flags & TCPFLOW_CONN_CLOSED) && oldstate == TCP_CLOSE)
		return true;	/* a new connection on the same socket */
	if (!c->info.sport || !c->info.dport)
		return true;	/* its tuple is hashed once complete */
	return newstate == TCP_CLOSE && !c->tw_pending;
}

/*
 * The transition, in @c (locked), at @now, taken under its lock: events of
 * one connection on two CPUs then have the order of their times.  With
 * the table lock held if tcpflow_state_moves().
 */
static void tcpflow_state_record(struct tcpflow_conn *c,
				 const struct sock *sk, u64 now,
				 int oldstate, int newstate)
{
	if (!c->info.sport || !c->info.dport) {
		/* Ports are filled in after the first transitions. */
		tcpflow_conn_fill_tuple(c, sk);
	}
	/* The socket may have let its port go: ask by the entry's. */
	if (newstate == TCP_CLOSE &&
	    tcpflow_fault_drop_close(c->info.sport, c->info.dport))
		return;
	/* What tcp_info would say; the last values are the final ones. */
	c->info.bytes_acked = tcp_sk(sk)->bytes_acked;
	c->info.bytes_received = tcp_sk(sk)->bytes_received;

	/*
	 * In task context the socket is being driven by a process that
	 * holds it: connect(), listen(), close(), or a send/recv that
	 * processes the backlog.  In softirq, current is whoever was on the
	 * CPU and says nothing about the socket.
	 */
	if (in_task() && (newstate == TCP_SYN_SENT ||
			  newstate == TCP_LISTEN || !c->info.pid))
		tcpflow_conn_set_owner(c);

	if (newstate == TCP_CLOSE && c->tw_pending) {
		/*
		 * tcp_time_wait() built a timewait socket that inherited the
		 * cookie and now calls tcp_done(): the connection lives on.
		 * An orphaned FIN_WAIT2 stays FIN_WAIT2 until the peer's FIN.
		 * A FIN that reached the timewait socket first is not in the
		 * full socket's bytes_received, copied above.
		 */
		if (c->tw_pending == TCP_TIME_WAIT)
			tcpflow_conn_add_state(c, now, oldstate, TCP_TIME_WAIT);
		if (c->tw_fin)
			c->info.bytes_received++;
		c->tw_pending = 0;
		c->tw_fin = 0;
		c->in_tw = 1;
		return;
	}
	tcpflow_conn_add_state(c, now, oldstate, newstate);
	if (newstate == TCP_CLOSE)
		tcpflow_conn_close(c);
}

static void tcpflow_probe_state(void *data, const struct sock *sk,
				const int oldstate, const int newstate)
{
	struct tcpflow_conn *c;
	unsigned long flags;
	u64 cookie, now;

	if (!tcpflow_is_tcp(sk) || tcpflow_scope_out_sk(sk))
		return;
	if (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		tcpflow_child_new(sk);
		return;
	}
	cookie = tcpflow_sock_cookie(sk);

	local_irq_save(flags);
	c = tcpflow_conn_try(cookie);
	if (c && !tcpflow_state_moves(c, oldstate, newstate)) {
		tcpflow_state_record(c, sk, ktime_get_ns(), oldstate, newstate);
		tcpflow_conn_unlock(c);
		goto out;
	}
	if (c)
		tcpflow_conn_unlock(c);

	raw_spin_lock(&tcpflow_table.lock);
	c = tcpflow_conn_lookup(cookie);
	if (c) {
		tcpflow_conn_lock(c);
		if ((c->info.flags & TCPFLOW_CONN_CLOSED) &&
		    oldstate == TCP_CLOSE) {
			/* The socket starts a new connection (connect() again). */
			tcpflow_conn_unhash(c);
			tcpflow_conn_unlock(c);
			c = NULL;
		}
	}
	if (!c)
		c = tcpflow_conn_claim_pending(sk, cookie, newstate);
	now = ktime_get_ns();
	if (!c) {
		c = tcpflow_conn_new(sk);
		if (!c) {
			tcpflow_count_dropped(tcpflow_net_cookie(sock_net(sk)));
			goto unlock;
		}
		tcpflow_conn_hash(c, cookie);
		c->info.first_ns = now;
		tcpflow_conn_start(c, oldstate, newstate);
	}
	tcpflow_state_record(c, sk, now, oldstate, newstate);
	tcpflow_conn_unlock(c);
unlock:
	raw_spin_unlock(&tcpflow_table.lock);
out:
	local_irq_restore(flags);
}

struct tcpflow_tw_data {
	const struct sock *sk;
	int substate;
};

static int tcpflow_twsk_alloc_entry(struct kretprobe_instance *ri,
				    struct pt_regs *regs)
{
	struct tcpflow_tw_data *d = (void *)ri->data;

	d->sk = (const struct sock *)regs_get_kernel_argument(regs, 0);
	return tcpflow_is_tcp(d->sk) && !tcpflow_scope_out_sk(d->sk) ? 0 : 1;
}

static int tcpflow_twsk_alloc_ret(struct kretprobe_instance *ri,
				  struct pt_regs *regs)
{
	struct inet_timewait_sock *tw = (void *)regs_return_value(regs);
	struct tcpflow_tw_data *d = (void *)ri->data;
	struct tcpflow_conn *c;
	unsigned long flags;
	u64 cookie;

	/*
	 * The full socket is still held by tcp_time_wait(), which calls
	 * tcp_done() next: reading its cookie is safe.
	 */
	cookie = atomic64_read(&d->sk->sk_cookie);
	if (!cookie)
		return 0;	/* never tracked */
	local_irq_save(flags);
	c = tcpflow_conn_find(cookie);
	if (c && tw)
		c->tw_pending = tw->tw_substate;
	else if (c)	/* no timewait socket: the CLOSE that follows is final */
		c->info.flags |= TCPFLOW_CONN_TW_OVERFLOW;
	if (c)
		tcpflow_conn_unlock(c);
	local_irq_restore(flags);
	return 0;
}

/*
 * tcp_timewait_state_process() is called by tcp_v4_rcv() and tcp_v6_rcv()
 * with a reference to the timewait socket, taken by their lookup, and its
 * return value says whether it is still held when it returns (6.1 and
 * 6.12 alike):
 *
 *   TCP_TW_SUCCESS  the function dropped it: inet_twsk_deschedule_put()
 *                   for a RST that kills the socket (in FIN_WAIT2, or in
 *                   TIME_WAIT with the right sequence number), or
 *                   inet_twsk_put() for a duplicate or in-window ACK, an
 *                   out-of-window RST, and an out-of-window segment whose
 *                   ACK is rate-limited.  The socket may be freed by then
 *                   and, its slab being SLAB_TYPESAFE_BY_RCU, already be
 *                   another connection's timewait socket: reading it is
 *                   memory-safe (KASAN says nothing) but may read that
 *                   other connection's substate and cookie.
 *   TCP_TW_ACK      still held; the caller sends an ACK, then drops it.
 *                   The one path that moves FIN_WAIT2 to TIME_WAIT (the
 *                   peer's FIN) returns this, and so does an out-of-window
 *                   segment that is answered, the substate unchanged.
 *   TCP_TW_RST, TCP_TW_SYN  still held; the caller drops it after its
 *                   reset, or when a listener takes the new SYN.
 *
 * So the entry handler, while the caller's reference certainly holds the
 * socket, takes what the return handler needs (the cookie), and the return
 * handler reads the socket only after TCP_TW_ACK.  Only that value, which
 * both kernels have, is relied on: a kernel that returned another one for
 * the FIN would lose the transition, never read a socket that may be gone.
 */
struct tcpflow_tw_process_data {
	const struct inet_timewait_sock *tw;
	u64 cookie;
};

static int tcpflow_tw_process_entry(struct kretprobe_instance *ri,
				    struct pt_regs *regs)
{
	struct tcpflow_tw_process_data *d = (void *)ri->data;
	const struct inet_timewait_sock *tw;

	tw = (void *)regs_get_kernel_argument(regs, 0);
	if (READ_ONCE(tw->tw_substate) != TCP_FIN_WAIT2)
		return 1;	/* only FIN_WAIT2 -> TIME_WAIT is silent */
	if (tcpflow_scope_out_sk((const struct sock *)tw))
		return 1;
	d->cookie = atomic64_read(&tw->tw_cookie);
	if (!d->cookie)
		return 1;	/* never tracked */
	d->tw = tw;
	return 0;
}

static int tcpflow_tw_process_ret(struct kretprobe_instance *ri,
				  struct pt_regs *regs)
{
	struct tcpflow_tw_process_data *d = (void *)ri->data;
	struct tcpflow_conn *c;
	unsigned long flags;

	/* Not TCP_TW_ACK: the socket may be gone, do not touch it. */
	if ((int)regs_return_value(regs) != TCP_TW_ACK)
		return 0;
	/* Held by the caller.  Still FIN_WAIT2: an out-of-window segment. */
	if (READ_ONCE(d->tw->tw_substate) != TCP_TIME_WAIT)
		return 0;
	local_irq_save(flags);
	c = tcpflow_conn_find(d->cookie);
	if (!c)
		goto out;
	if (c->tw_pending == TCP_FIN_WAIT2) {
		/*
		 * tcp_time_wait() hashes the timewait socket before its
		 * tcp_done() reports the CLOSE that moves the history to it:
		 * the FIN reached the socket in between, on another CPU.
		 * That CLOSE records the TIME_WAIT, and counts the FIN.
		 */
		c->tw_pending = TCP_TIME_WAIT;
		c->tw_fin = 1;
	} else if (c->in_tw && c->info.state == TCP_FIN_WAIT2) {
		/*
		 * The FIN takes one sequence number, as tcp_info's
		 * bytes_received counts it on a full socket.
		 */
		tcpflow_conn_add_state(c, ktime_get_ns(), TCP_FIN_WAIT2,
				       TCP_TIME_WAIT);
		c->info.bytes_received++;
	}
	tcpflow_conn_unlock(c);
out:
	local_irq_restore(flags);
	return 0;
}

/* The timewait socket is being freed; its cookie is still readable. */
static int tcpflow_twsk_destructor(struct kprobe *p, struct pt_regs *regs)
{
	const struct sock *sk = (void *)regs_get_kernel_argument(regs, 0);
	u64 cookie = atomic64_read(&sk->sk_cookie);
	struct tcpflow_conn *c;
	unsigned long flags;

	if (!cookie || tcpflow_scope_out_sk(sk))
		return 0;
	/* The history is complete: it moves to the closed ones. */
	raw_spin_lock_irqsave(&tcpflow_table.lock, flags);
	c = tcpflow_conn_lookup(cookie);
	if (c) {
		tcpflow_conn_lock(c);
		if (c->in_tw) {
			tcpflow_conn_add_state(c, ktime_get_ns(),
					       c->info.state, TCP_CLOSE);
			tcpflow_conn_close(c);
		}
		tcpflow_conn_unlock(c);
	}
	raw_spin_unlock_irqrestore(&tcpflow_table.lock, flags);
	return 0;
}

/*
 * accept() grafts the child onto the new struct socket in sock_graft(),
 * which calls security_sock_graft() under write_lock_bh(): in the
 * accepting process, which owns the connection from now on.
 *
 * Bottom halves being off there matters.  A probe whose handler runs in
 * process context with them on (a kretprobe on inet_csk_accept() did) can
 * have a softirq run on top of it at the end of an interrupt; a timewait
 * probe hit in that softirq finds a kprobe already running on the CPU and
 * is skipped, which loses an event.
 */
static int tcpflow_sock_graft(struct kprobe *p, struct pt_regs *regs)
{
	const struct sock *sk = (void *)regs_get_kernel_argument(regs, 0);
	struct tcpflow_conn *c;
	unsigned long flags;
	u64 cookie;

	if (!in_task() || !tcpflow_is_tcp(sk) || tcpflow_scope_out_sk(sk))
		return 0;
	cookie = tcpflow_sock_cookie(sk);
	local_irq_save(flags);
	c = tcpflow_conn_find(cookie);
	if (c) {
		tcpflow_conn_set_owner(c);
		tcpflow_conn_unlock(c);
	}
	local_irq_restore(flags);
	return 0;
}

static struct kretprobe tcpflow_krp_twsk_alloc = {
	.kp.symbol_name = "inet_twsk_alloc",
	.entry_handler = tcpflow_twsk_alloc_entry,
	.handler = tcpflow_twsk_alloc_ret,
	.data_size = sizeof(struct tcpflow_tw_data),
};

static struct kretprobe tcpflow_krp_tw_process = {
	.kp.symbol_name = "tcp_timewait_state_process",
	.entry_handler = tcpflow_tw_process_entry,
	.handler = tcpflow_tw_process_ret,
	.data_size = sizeof(struct tcpflow_tw_process_data),
};

static struct kretprobe *tcpflow_kretprobes[] = {
	&tcpflow_krp_twsk_alloc,
	&tcpflow_krp_tw_process,
};

static struct kprobe tcpflow_kp_twsk_destructor = {
	.symbol_name = "tcp_twsk_destructor",
	.pre_handler = tcpflow_twsk_destructor,
};

static struct kprobe tcpflow_kp_sock_graft = {
	.symbol_name = "security_sock_graft",
	.pre_handler = tcpflow_sock_graft,
};

static struct kprobe *tcpflow_kprobes[] = {
	&tcpflow_kp_twsk_destructor,
	&tcpflow_kp_sock_graft,
};

static struct tracepoint *tcpflow_tp_state;

static void tcpflow_find_tracepoint(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "inet_sock_set_state"))
		tcpflow_tp_state = tp;
}

/*
 * Missed probe hits (no free kretprobe instance, or a probe hit while
 * another ran on the CPU) of the probes that record events are lost
 * events: readers see them counted.  A missed sock_graft() only loses the
 * owner, which the next transition in the owner's context supplies; it
 * is not an event, so it is not counted as one.
 */
u64 tcpflow_hooks_missed(void)
{
	u64 n = tcpflow_kp_twsk_destructor.nmissed;
	int i;

	for (i = 0; i < ARRAY_SIZE(tcpflow_kretprobes); i++)
		n += tcpflow_kretprobes[i]->nmissed +
		     tcpflow_kretprobes[i]->kp.nmissed;
	return n;
}

/* As register_k*probe(), or a kernel without the function for the tests. */
static int tcpflow_register_kprobe(struct kprobe *kp)
{
	if (tcpflow_fault_hide_probe(kp->symbol_name))
		return -ENOENT;
	return register_kprobe(kp);
}

static int tcpflow_register_kretprobe(struct kretprobe *rp)
{
	if (tcpflow_fault_hide_probe(rp->kp.symbol_name))
		return -ENOENT;
	return register_kretprobe(rp);
}

static void tcpflow_probe_failed(const char *symbol, int err)
{
	if (err == -ENOENT)
		pr_err("this kernel has no %s() to probe%s\n", symbol,
		       strcmp(symbol, "security_sock_graft") ? "" :
		       " (it needs CONFIG_SECURITY_NETWORK)");
	else
		pr_err("cannot probe %s(): %d\n", symbol, err);
}

int tcpflow_hooks_init(void)
{
	int i, nkrp = 0, nkp = 0, err;

	/*
	 * Not a call: the compiler checks our probe against the
	 * tracepoint's prototype, so a change fails the build.
	 */
	(void)sizeof(register_trace_inet_sock_set_state(tcpflow_probe_state,
							NULL));

	for_each_kernel_tracepoint(tcpflow_find_tracepoint, NULL);
	if (!tcpflow_tp_state) {
		pr_err("tracepoint sock:inet_sock_set_state not found\n");
		return -ENOENT;
	}

	/*
	 * The timewait probes never sleep and run with bottom halves off,
	 * so a few instances per CPU cover what nests (an interrupt).
	 */
	for (i = 0; i < ARRAY_SIZE(tcpflow_kretprobes); i++)
		tcpflow_kretprobes[i]->maxactive = 4 * num_possible_cpus();
	/*
	 * One at a time, so that a kernel without one of the functions (or
	 * one it will not let us probe) is refused with its name.
	 */
	for (nkrp = 0; nkrp < ARRAY_SIZE(tcpflow_kretprobes); nkrp++) {
		err = tcpflow_register_kretprobe(tcpflow_kretprobes[nkrp]);
		if (err) {
			tcpflow_probe_failed(tcpflow_kretprobes[nkrp]->kp.symbol_name,
					     err);
			goto err_unregister;
		}
	}
	for (nkp = 0; nkp < ARRAY_SIZE(tcpflow_kprobes); nkp++) {
		err = tcpflow_register_kprobe(tcpflow_kprobes[nkp]);
		if (err) {
			tcpflow_probe_failed(tcpflow_kprobes[nkp]->symbol_name,
					     err);
			goto err_unregister;
		}
	}
	err = tracepoint_probe_register(tcpflow_tp_state, tcpflow_probe_state,
					NULL);
	if (err) {
		pr_err("cannot attach to sock:inet_sock_set_state: %d\n", err);
		goto err_unregister;
	}
	return 0;

err_unregister:
	unregister_kprobes(tcpflow_kprobes, nkp);
	unregister_kretprobes(tcpflow_kretprobes, nkrp);
	return err;
}

/*
 * After this returns no hook is running or will run: the tracepoint waits
 * for probes in flight, (un)register_k*probes wait for an RCU grace period
 * and kretprobe instances pending on a stack are disarmed.
 */
void tcpflow_hooks_exit(void)
{
	struct kretprobe *rp;
	struct kprobe *kp;
	int i;

	tracepoint_probe_unregister(tcpflow_tp_state, tcpflow_probe_state,
				    NULL);
	tracepoint_synchronize_unregister();
	unregister_kprobes(tcpflow_kprobes, ARRAY_SIZE(tcpflow_kprobes));
	unregister_kretprobes(tcpflow_kretprobes,
			      ARRAY_SIZE(tcpflow_kretprobes));

	/* Which probe lost hits, for whoever saw a loss counted. */
	for (i = 0; i < ARRAY_SIZE(tcpflow_kprobes); i++) {
		kp = tcpflow_kprobes[i];
		if (kp->nmissed)
			pr_info("probe %s missed %lu hits\n", kp->symbol_name,
				kp->nmissed);
	}
	for (i = 0; i < ARRAY_SIZE(tcpflow_kretprobes); i++) {
		rp = tcpflow_kretprobes[i];
		if (rp->nmissed || rp->kp.nmissed)
			pr_info("probe %s missed %lu calls and %d returns\n",
				rp->kp.symbol_name, rp->kp.nmissed,
				rp->nmissed);
	}
}
