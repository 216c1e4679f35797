// SPDX-License-Identifier: GPL-2.0
/*
 * The live stream: a power-of-two ring of the most recent events, each with
 * its connection as it was right after the event, written only while a
 * /dev/tcpflow reader is open.  Every slot is written
 * and read under tcpflow_table.lock; readers keep their own position, so a
 * slow reader never holds the writer back: it is overwritten and told how
 * much it lost (dev.c).
 *
 * Writers are the hooks, which run with preemption disabled and often in
 * softirq: they cannot take the wait queue's lock from every context they
 * run in without risking an inversion with a reader being woken, so the
 * wake-up is deferred to an irq_work, as the kernel's own ring buffers do.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/irq_work.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "tcpflow.h"

static struct {
	struct tcpflow_slot *slots;
	u64 mask;
	u64 head;		/* sequence number of the next event */
	unsigned int readers;	/* /dev/tcpflow files open */
	struct wait_queue_head wq;
	struct irq_work wake;
} tcpflow_ring;

static void tcpflow_ring_wake(struct irq_work *work)
{
	wake_up_interruptible_all(&tcpflow_ring.wq);
}

int tcpflow_ring_init(unsigned int size)
{
	tcpflow_ring.slots = vcalloc(size, sizeof(*tcpflow_ring.slots));
	if (!tcpflow_ring.slots)
		return -ENOMEM;
	tcpflow_ring.mask = size - 1;
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
	vfree(tcpflow_ring.slots);
}

/*
 * A reader opens: the events from the returned head on are its live stream,
 * and are written to the ring for as long as it is open.  Called with
 * tcpflow_table.lock held, as every push is: no event falls between the
 * head a reader starts from and the first slot written for it.
 */
u64 tcpflow_ring_attach(void)
{
	lockdep_assert_held(&tcpflow_table.lock);
	tcpflow_ring.readers++;
	return tcpflow_ring.head;
}

void tcpflow_ring_detach(void)
{
	lockdep_assert_held(&tcpflow_table.lock);
	tcpflow_ring.readers--;
}

/*
 * Called with tcpflow_table.lock held: the slot and head change together
 * with the history, so the sequence numbers of both agree.  With no reader
 * open only the head moves: a reader that opens later reads the ring from
 * the head on (tcpflow_ring_attach()) and the events before it from the
 * histories, so no slot before its start is ever read.
 */
void tcpflow_ring_push(const struct tcpflow_conn *c,
		       const struct tcpflow_event *e, u64 ns_seq)
{
	struct tcpflow_slot *s;

	lockdep_assert_held(&tcpflow_table.lock);
	if (!tcpflow_ring.readers) {
		WRITE_ONCE(tcpflow_ring.head, tcpflow_ring.head + 1);
		return;
	}
	s = &tcpflow_ring.slots[tcpflow_ring.head & tcpflow_ring.mask];
	s->net_cookie = c->net_cookie;
	s->ns_seq = ns_seq;
	s->owner = c->owner;
	s->info = c->info;
	s->e = *e;
	/* Pairs with the barrier in the reader's prepare_to_wait(). */
	smp_store_release(&tcpflow_ring.head, tcpflow_ring.head + 1);
	if (wq_has_sleeper(&tcpflow_ring.wq))
		irq_work_queue(&tcpflow_ring.wake);
}

/* Readers may peek at head without the lock to decide whether to sleep. */
u64 tcpflow_ring_head(void)
{
	/* Pairs with the release in tcpflow_ring_push(). */
	return smp_load_acquire(&tcpflow_ring.head);
}

u64 tcpflow_ring_oldest(void)
{
	u64 head = tcpflow_ring.head, size = tcpflow_ring.mask + 1;

	return head > size ? head - size : 0;
}

const struct tcpflow_slot *tcpflow_ring_slot(u64 seq)
{
	lockdep_assert_held(&tcpflow_table.lock);
	return &tcpflow_ring.slots[seq & tcpflow_ring.mask];
}

struct wait_queue_head *tcpflow_ring_waitq(void)
{
	return &tcpflow_ring.wq;
}
