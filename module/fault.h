/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault injection, for the tests only.  `make module TCPFLOW_FAULT=1`
 * builds module/fault.c and defines TCPFLOW_FAULT_INJECT (see Kbuild); in
 * any other build these are constants the compiler folds away, and the
 * module has none of fault.c's parameters.
 */
#ifndef _TCPFLOW_FAULT_H
#define _TCPFLOW_FAULT_H

#include <linux/types.h>

#ifdef TCPFLOW_FAULT_INJECT
int tcpflow_fault_init(const char *step, int err);
bool tcpflow_fault_drop_close(u16 lport, u16 rport);
bool tcpflow_fault_hide_probe(const char *symbol);
#else
/* 0, or @err when the test asked the init step @step to fail. */
static inline int tcpflow_fault_init(const char *step, int err)
{
	return 0;
}

/* The test asked to ignore this socket's move to CLOSE (a lost event). */
static inline bool tcpflow_fault_drop_close(u16 lport, u16 rport)
{
	return false;
}

/* The test asked to act as if the kernel had no function @symbol. */
static inline bool tcpflow_fault_hide_probe(const char *symbol)
{
	return false;
}
#endif

#endif /* _TCPFLOW_FAULT_H */
