/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the supported kernels lives here.  Kbuild
 * force-includes this file and defines TCPFLOW_HAVE_* from feature tests on
 * the kernel's headers, not from version numbers: Debian backports APIs.
 *
 * Nothing tcpflow uses today differs between 6.1 and 6.12: the tracepoint
 * prototype is the same, and the probes read only the first argument and
 * the return value of functions whose later arguments changed
 * (tcp_timewait_state_process).
 */
#ifndef _TCPFLOW_COMPAT_H
#define _TCPFLOW_COMPAT_H

#endif /* _TCPFLOW_COMPAT_H */
