// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection, built only into the test module (make TCPFLOW_FAULT=1):
 * the tests reach error paths that a healthy kernel never takes.
 *
 *   fail_init=STEP	the init step STEP (table, ring, hooks, segments,
 *			proc, dev: see main.c) fails as if it had failed
 *			itself, with the error it would return.
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
