// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflow: records the life of every TCP connection on the host.
 *
 * This file only sequences.  Init goes from the inside out: the table, the
 * per-namespace counters (view.c: before any hook can see a namespace) and
 * the ring (the hooks write to them), then the hooks, then the walk of
 * connections that existed before load, and only then what userspace sees,
 * /proc/tcpflow and /dev/tcpflow, so that no reader ever meets a half-made
 * module or a table without the connections the walk adds.  Exit, and an
 * init that fails, undo it in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>

#include "fault.h"
#include "tcpflow.h"

struct tcpflow_uint_param {
	unsigned int *val;
	unsigned int min;
	unsigned int max;
	bool pow2;
};

static unsigned int tcpflow_max_conns = 8192;
static unsigned int tcpflow_max_events = 32;
static unsigned int tcpflow_ring_events = 4096;

static const struct tcpflow_uint_param tcpflow_param_limits[] = {
	{ &tcpflow_max_conns, 16, 1U << 20, false },
	{ &tcpflow_max_events, 4, 1024, false },
	{ &tcpflow_ring_events, 16, 1U << 20, true },
};

/* Reject out-of-range values at insmod with a message that says why. */
static int tcpflow_param_set(const char *val, const struct kernel_param *kp)
{
	const struct tcpflow_uint_param *p = NULL;
	unsigned int v;
	int i, err;

	for (i = 0; i < ARRAY_SIZE(tcpflow_param_limits); i++)
		if (tcpflow_param_limits[i].val == kp->arg)
			p = &tcpflow_param_limits[i];
	if (WARN_ON_ONCE(!p))
		return -EINVAL;
	err = kstrtouint(val, 0, &v);
	if (err || v < p->min || v > p->max || (p->pow2 && !is_power_of_2(v))) {
		pr_err("%s=%s: must be %s from %u to %u\n", kp->name, val,
		       p->pow2 ? "a power of two" : "an integer", p->min,
		       p->max);
		return -EINVAL;
	}
	*p->val = v;
	return 0;
}

static const struct kernel_param_ops tcpflow_param_ops = {
	.set = tcpflow_param_set,
	.get = param_get_uint,
};

module_param_cb(max_conns, &tcpflow_param_ops, &tcpflow_max_conns, 0444);
MODULE_PARM_DESC(max_conns,
		 "connections tracked at once, live and closed (16-1048576, default 8192)");
module_param_cb(max_events, &tcpflow_param_ops, &tcpflow_max_events, 0444);
MODULE_PARM_DESC(max_events,
		 "events kept per connection (4-1024, default 32)");
module_param_cb(ring_events, &tcpflow_param_ops, &tcpflow_ring_events, 0444);
MODULE_PARM_DESC(ring_events,
		 "live events buffered for /dev/tcpflow readers, per CPU (power of two, 16-1048576, default 4096)");

/*
 * What the parameters make tcpflow_table_init() and tcpflow_ring_init()
 * allocate, in bytes: the pool of entries with their histories, the two
 * hashes (by cookie and by tuple, a power of two of buckets each) and a
 * ring for each possible CPU.  At most 1048576 * (360 + 1024 * 32) +
 * 2 * 8 MiB + 8192 * 1048576 * 200: no overflow in 64 bits.
 */
static u64 tcpflow_footprint(void)
{
	u64 entry = struct_size((struct tcpflow_conn *)NULL, ev,
				tcpflow_max_events);
	u64 buckets = roundup_pow_of_two(tcpflow_max_conns);

	return entry * tcpflow_max_conns +
	       2 * buckets * sizeof(struct hlist_head) +
	       (u64)num_possible_cpus() * tcpflow_ring_events *
	       sizeof(struct tcpflow_slot);
}

/*
 * Each parameter has its range, but their product is what is allocated,
 * at once and for as long as the module is loaded: a combination that
 * would take more than a quarter of RAM is refused before anything is
 * allocated.  -EINVAL as for a value out of range: nothing failed to
 * allocate, the parameters ask too much of this machine.
 */
static int tcpflow_check_footprint(void)
{
	u64 need = tcpflow_footprint();
	u64 bound = (u64)totalram_pages() << PAGE_SHIFT >> 2;

	if (need <= bound)
		return 0;
	pr_err("max_conns=%u max_events=%u ring_events=%u: need %llu KiB, more than a quarter of RAM (%llu KiB)\n",
	       tcpflow_max_conns, tcpflow_max_events, tcpflow_ring_events,
	       DIV_ROUND_UP_ULL(need, 1024), bound >> 10);
	return -EINVAL;
}

/*
 * A step that fails undoes its own part; the labels below undo the steps
 * done before it, each named for what it undoes.
 */
static int __init tcpflow_init(void)
{
	const char *step;
	int err;

	BUILD_BUG_ON(sizeof(struct tcpflow_event) != 24);
	BUILD_BUG_ON(sizeof(struct tcpflow_conn_info) != 144);
	/*
	 * The sizes README.md's memory formula gives: change both at once.
	 * A kernel that debugs locks has larger ones (tcpflow_footprint()).
	 */
	BUILD_BUG_ON(sizeof(raw_spinlock_t) == 4 &&
		     sizeof(struct tcpflow_conn) != 360);
	BUILD_BUG_ON(sizeof(struct tcpflow_kevent) != 32);
	BUILD_BUG_ON(sizeof(struct tcpflow_slot) != 200);

	err = tcpflow_check_footprint();
	if (err)
		return err;

	step = "table";
	err = tcpflow_fault_init(step, -ENOMEM) ?:
	      tcpflow_table_init(tcpflow_max_conns, tcpflow_max_events);
	if (err)
		goto err_report;
	step = "view";
	err = tcpflow_fault_init(step, -ENOMEM) ?: tcpflow_view_init();
	if (err)
		goto err_free_table;
	step = "ring";
	err = tcpflow_fault_init(step, -ENOMEM) ?:
	      tcpflow_ring_init(tcpflow_ring_events);
	if (err)
		goto err_exit_view;
	step = "hooks";
	err = tcpflow_fault_init(step, -ENOENT) ?: tcpflow_hooks_init();
	if (err)
		goto err_free_ring;
	step = "segments";
	err = tcpflow_fault_init(step, -ENOMEM) ?: tcpflow_segments_init();
	if (err)
		goto err_unhook_probes;
	/*
	 * After the hooks, so that nothing that happens during the walk is
	 * missed (seed.c); before the files, so that the first reader sees
	 * every connection, not those the walk has reached so far.
	 */
	tcpflow_seed();
	step = "proc";
	err = tcpflow_fault_init(step, -ENOMEM) ?: tcpflow_proc_init();
	if (err)
		goto err_unhook_segments;
	step = "dev";
	err = tcpflow_fault_init(step, -EBUSY) ?: tcpflow_dev_init();
	if (err)
		goto err_remove_proc;
	pr_info("version %s loaded: %u connections x %u events, %u live events a CPU, %llu KiB\n",
		TCPFLOW_VERSION, tcpflow_max_conns, tcpflow_max_events,
		tcpflow_ring_events, DIV_ROUND_UP_ULL(tcpflow_footprint(), 1024));
	return 0;

	/*
	 * /dev/tcpflow failed, so nobody has it open; proc_remove() waits
	 * for the readers of /proc/tcpflow.
	 */
err_remove_proc:
	tcpflow_proc_exit();
err_unhook_segments:
	tcpflow_segments_exit();
err_unhook_probes:
	tcpflow_hooks_exit();
err_free_ring:
	/*
	 * No hook runs any more (a failed tcpflow_hooks_init() unregisters
	 * the probes it had registered, which may have run): let a wake-up
	 * they queued finish first.
	 */
	tcpflow_ring_quiesce();
	tcpflow_ring_exit();
err_exit_view:
	tcpflow_view_exit();
err_free_table:
	tcpflow_reap_exit();
	tcpflow_table_exit();
err_report:
	pr_err("not loaded: %s failed: %d\n", step, err);
	return err;
}

/*
 * No reader can be left: open files of /dev/tcpflow pin the module, and
 * proc_remove() waits for /proc/tcpflow readers.  Then the hooks go, each
 * exit waiting for the hooks still running (hooks.c, segments.c), and
 * a wake-up they queued, before anything they write to is freed.
 */
static void __exit tcpflow_exit(void)
{
	tcpflow_dev_exit();
	tcpflow_proc_exit();
	tcpflow_segments_exit();
	tcpflow_hooks_exit();
	tcpflow_ring_quiesce();
	tcpflow_ring_exit();
	tcpflow_view_exit();
	tcpflow_reap_exit();
	tcpflow_table_exit();
}

module_init(tcpflow_init);
module_exit(tcpflow_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TCP connection lifecycle histories");
MODULE_VERSION(TCPFLOW_VERSION);
