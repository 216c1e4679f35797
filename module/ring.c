// SPDX-License-Identifier: GPL-2.0
/*
 * The live stream: a power-of-two ring of the most recent events per CPU,
 * each with its connection as it was right after the event.  Every event
 * is numbered on the CPU that records it (its position, tcpflow_pos()),
 * whether or not a reader is open; its slot is written only while one is.
 *
 * Each CPU's ring has its own spinning lock, which the hooks of that CPU
 * take for each event (inside the lock that orders the events of the
 * event's connection) and readers take to copy a slot: no cache line is
 * written by every CPU.  A reader's view of all the rings at one instant, a
 * cut, is taken with every CPU's lock held at once (tcpflow_ring_cut()):
 * an event recorded after another one of its connection, on whatever CPU,
 * is then in the cut only if that one is.  The snapshot/stream boundary of a
 * reader is such a cut (dev.c), and so is the set of events each read()
 * of the stream merges by time, which keeps every connection's events in
 * order across CPUs.  A cut holds the hooks of every CPU for as long as it
 * takes to read one counter per CPU.
 *
 * Readers keep their own positions, so a slow reader never holds a writer
 * back: it is overwritten and told how much it lost (dev.c).
 *
 * Writers are the hooks, which run with preemption disabled and often in
 * softirq: they cannot take the wait queue's lock from every context they
 * run in without risking an inversion with a reader being woken, so the
 * wake-up is deferred to an irq_work, as the kernel's own ring buffers do.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/irq_work.h>
#include <linux/percpu.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "tcpflow.h"

/*
 * The per-CPU locks are arch spinlocks, as lglocks were: a cut holds one
 * per possible CPU, and as many raw_spinlock_t would each add to the
 * preemption count, which holds 255.  Every holder has interrupts off, so
 * it cannot be preempted.  Lockdep and lock_stat see them as one lock,
 * dep_map: shared for one CPU's, exclusive for a cut.
 */
struct tcpflow_cpu_ring {
	arch_spinlock_t lock;
	u64 head;			/* this CPU's next event number */
	struct tcpflow_slot *slots;
};

static struct {
	struct tcpflow_cpu_ring __percpu *cpus;
	u64 mask;
	/* /dev/tcpflow files open: changed only in a cut, read under a lock */
	unsigned int readers;
	struct wait_queue_head wq;
	struct irq_work wake;
#ifdef CONFIG_DEBUG_LOCK_ALLOC
	struct lockdep_map dep_map;
#endif
} tcpflow_ring;

/* Named for /proc/lock_stat (make bench-locks). */
static struct lock_class_key tcpflow_cpu_ring_key;

static void tcpflow_ring_wake(struct irq_work *work)
{
	wake_up_interruptible_all(&tcpflow_ring.wq);
}

static struct tcpflow_cpu_ring *tcpflow_cpu_ring(int cpu)
{
	return per_cpu_ptr(tcpflow_ring.cpus, cpu);
}

/* @size slots for each possible CPU. */
int tcpflow_ring_init(unsigned int size)
{
	struct tcpflow_cpu_ring *r;
	int cpu;

	tcpflow_ring.cpus = alloc_percpu(struct tcpflow_cpu_ring);
	if (!tcpflow_ring.cpus)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		r = tcpflow_cpu_ring(cpu);
		r->lock = (arch_spinlock_t)__ARCH_SPIN_LOCK_UNLOCKED;
		r->slots = vcalloc(size, sizeof(*r->slots));
		if (!r->slots) {
			tcpflow_ring_exit();
			return -ENOMEM;
		}
	}
	tcpflow_ring.mask = size - 1;
	lockdep_init_map_wait(&tcpflow_ring.dep_map, "tcpflow_cpu_ring.lock",
			      &tcpflow_cpu_ring_key, 0, LD_WAIT_SPIN);
	init_waitqueue_head(&tcpflow_ring.wq);
	init_irq_work(&tcpflow_ring.wake, tcpflow_ring_wake);
	return 0;
}

/* No hook runs any more: let a queued wake-up finish before freeing. */
void tcpflow_ring_quiesce(void)
{
	irq_work_sync(&tcpflow_ring.wake);
}

void tcpflow_ring_exit(void)
{
	int cpu;

	if (!tcpflow_ring.cpus)
		return;
	for_each_possible_cpu(cpu)
		vfree(tcpflow_cpu_ring(cpu)->slots);
	free_percpu(tcpflow_ring.cpus);
	tcpflow_ring.cpus = NULL;
}

/* One CPU's lock, interrupts off; contention is counted for lock_stat. */
static void tcpflow_cpu_ring_lock(struct tcpflow_cpu_ring *r,
				  unsigned long ip)
{
	lock_acquire_shared(&tcpflow_ring.dep_map, 0, 0, NULL, ip);
	if (!arch_spin_trylock(&r->lock)) {
		lock_contended(&tcpflow_ring.dep_map, ip);
		arch_spin_lock(&r->lock);
	}
	lock_acquired(&tcpflow_ring.dep_map, ip);
}

static void tcpflow_cpu_ring_unlock(struct tcpflow_cpu_ring *r,
				    unsigned long ip)
{
	arch_spin_unlock(&r->lock);
	lock_release(&tcpflow_ring.dep_map, ip);
}

/*
 * Every CPU's lock, with interrupts off until tcpflow_ring_uncut(): nothing
 * is recorded anywhere in between.  Two cuts take the locks in the same
 * order; a caller may hold the table lock or an entry's, which the hooks
 * take first too.
 */
void tcpflow_ring_cut(unsigned long *flags)
{
	int cpu;

	local_irq_save(*flags);
	lock_acquire_exclusive(&tcpflow_ring.dep_map, 0, 0, NULL, _RET_IP_);
	for_each_possible_cpu(cpu)
		arch_spin_lock(&tcpflow_cpu_ring(cpu)->lock);
	lock_acquired(&tcpflow_ring.dep_map, _RET_IP_);
}

void tcpflow_ring_uncut(unsigned long flags)
{
	int cpu;

	for_each_possible_cpu(cpu)
		arch_spin_unlock(&tcpflow_cpu_ring(cpu)->lock);
	lock_release(&tcpflow_ring.dep_map, _RET_IP_);
	local_irq_restore(flags);
}

/* @cpu's next event number, in a cut or with that CPU's ring lock held. */
u64 tcpflow_ring_head(int cpu)
{
	return tcpflow_cpu_ring(cpu)->head;
}

/*
 * In a cut: a reader opens (@open) or closes.  Slots are written while any
 * reader is open, so from the cut a reader opens in on, every event in
 * its live stream has its slot.
 */
void tcpflow_ring_cut_readers(bool open)
{
	if (open)
		tcpflow_ring.readers++;
	else
		tcpflow_ring.readers--;
}

/*
 * Number the event on this CPU, and write its slot if a reader is open;
 * @ns_cpu is this CPU's count of the events of the connection's netns
 * (NULL: none), moved on with it.  Called with interrupts off and the
 * connection's events ordered by the caller's lock.  Returns the event's
 * position.
 */
u64 tcpflow_ring_push(const struct tcpflow_conn *c,
		      const struct tcpflow_event *e, u32 index,
		      u64 __percpu *ns_cpu)
{
	struct tcpflow_cpu_ring *r = this_cpu_ptr(tcpflow_ring.cpus);
	struct tcpflow_slot *s;
	bool wake = false;
	u64 seq, ns_seq;

	tcpflow_cpu_ring_lock(r, _RET_IP_);
	seq = r->head;
	ns_seq = ns_cpu ? ++*this_cpu_ptr(ns_cpu) : 0;
	if (tcpflow_ring.readers) {
		s = &r->slots[seq & tcpflow_ring.mask];
		s->net_cookie = c->net_cookie;
		s->ns_seq = ns_seq;
		s->index = index;
		s->owner = c->owner;
		s->info = c->info;
		s->e = *e;
		wake = true;
	}
	/* Pairs with the acquire in tcpflow_ring_peek_head(). */
	smp_store_release(&r->head, seq + 1);
	tcpflow_cpu_ring_unlock(r, _RET_IP_);
	if (wake && wq_has_sleeper(&tcpflow_ring.wq))
		irq_work_queue(&tcpflow_ring.wake);
	return tcpflow_pos(smp_processor_id(), seq);
}

/* A reader peeks at @cpu's head without a lock to decide whether to sleep. */
u64 tcpflow_ring_peek_head(int cpu)
{
	/* Pairs with the release in tcpflow_ring_push(). */
	return smp_load_acquire(&tcpflow_cpu_ring(cpu)->head);
}

/*
 * A reader's hold of one CPU's ring, for a bounded batch of slots: while it
 * is held, slots from tcpflow_ring_oldest() to the head stay as they are.
 */
void tcpflow_ring_lock(int cpu, unsigned long *flags)
{
	local_irq_save(*flags);
	tcpflow_cpu_ring_lock(tcpflow_cpu_ring(cpu), _RET_IP_);
}

void tcpflow_ring_unlock(int cpu, unsigned long flags)
{
	tcpflow_cpu_ring_unlock(tcpflow_cpu_ring(cpu), _RET_IP_);
	local_irq_restore(flags);
}

/* The oldest event of @cpu still in its ring, with its lock held. */
u64 tcpflow_ring_oldest(int cpu)
{
	struct tcpflow_cpu_ring *r = tcpflow_cpu_ring(cpu);
	u64 size = tcpflow_ring.mask + 1;

	return r->head > size ? r->head - size : 0;
}

/* A slot of @cpu, with its lock held. */
const struct tcpflow_slot *tcpflow_ring_slot(int cpu, u64 seq)
{
	return &tcpflow_cpu_ring(cpu)->slots[seq & tcpflow_ring.mask];
}

/* @cpu's count of a netns's events, with its lock held or in a cut. */
u64 tcpflow_ring_ns_count(int cpu, u64 __percpu *ns_cpu)
{
	return *per_cpu_ptr(ns_cpu, cpu);
}

struct wait_queue_head *tcpflow_ring_waitq(void)
{
	return &tcpflow_ring.wq;
}
