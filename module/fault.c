// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection, built only into the test module (make TCPFLOW_FAULT=1):
 * the tests reach error paths that a healthy kernel never takes.
 *
 *   fail_init=STEP	the init step STEP (table, view, ring, hooks,
 *			segments, proc, dev: see main.c) fails as if it had failed
 *			itself, with the error it would return;
 *   drop_close_port=N	the state tracepoint ignores the move to CLOSE of
 *			every socket with local or peer port N, as if the
 *			event were lost: its entry stays live (reap.c);
 *   hide_probe=F	registering the kprobe on function F fails as on a
 *			kernel without F (-ENOENT), after the probes before it
 *			were registered;
 *   key_seed		(read-only, in table.c) the tuple hash's seed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/string.h>

#include "fault.h"

static char tcpflow_fail_init[16];
module_param_string(fail_init, tcpflow_fail_init, sizeof(tcpflow_fail_init),
		    0444);
MODULE_PARM_DESC(fail_init, "test builds only: the init step to fail");

int tcpflow_fault_init(const char *step, int err)
{
	if (strcmp(tcpflow_fail_init, step))
		return 0;
	pr_info("fault injected: %s fails with %d\n", step, err);
	return err;
}

static ushort tcpflow_drop_close_port;
module_param_named(drop_close_port, tcpflow_drop_close_port, ushort, 0444);
MODULE_PARM_DESC(drop_close_port,
		 "test builds only: ignore the CLOSE of connections on this port");

bool tcpflow_fault_drop_close(u16 lport, u16 rport)
{
	u16 port = READ_ONCE(tcpflow_drop_close_port);

	return port && (lport == port || rport == port);
}

static char tcpflow_hide_probe[32];
module_param_string(hide_probe, tcpflow_hide_probe, sizeof(tcpflow_hide_probe),
		    0444);
MODULE_PARM_DESC(hide_probe,
		 "test builds only: act as if the kernel had no such function to probe");

bool tcpflow_fault_hide_probe(const char *symbol)
{
	return !strcmp(tcpflow_hide_probe, symbol);
}
