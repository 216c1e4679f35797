/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * tcpflow: the names of the ABI's values, as every reader prints them.
 *
 * One table per kind of value, written once as an X-macro so that
 * /proc/tcpflow (the module) and the tools cannot drift apart.  Each row is
 * X(VALUE, NAME[, ...]); a reader defines X to build what it needs:
 *
 *   TCPFLOW_STATES(X)     X(state, "KERNEL_NAME", "ss-name"): the kernel's
 *                         name (tcp_states.h without TCP_), and the one
 *                         ss(8) takes after "state"
 *   TCPFLOW_ROLES(X)      X(role, "name"): "-" when unknown, as ss(8) shows
 *                         a field it does not know
 *   TCPFLOW_TCP_FLAGS(X)  X(bit, "NAME"), in the order tcpdump prints them
 *   TCPFLOW_DIRS(X)       X(dir, "name")
 *
 * The helpers below return NULL for a value with no name: each reader says
 * how it shows one.  (checkpatch's COMPLEX_MACRO, MACRO_ARG_REUSE and
 * MACRO_ARG_UNUSED are what an X-macro is: scripts/style.sh skips them for
 * this file only.)
 */
#ifndef _UAPI_LINUX_TCPFLOW_NAMES_H
#define _UAPI_LINUX_TCPFLOW_NAMES_H

#include "tcpflow.h"

#define TCPFLOW_STATES(X)						\
	X(TCPFLOW_ESTABLISHED, "ESTABLISHED", "established")		\
	X(TCPFLOW_SYN_SENT, "SYN_SENT", "syn-sent")			\
	X(TCPFLOW_SYN_RECV, "SYN_RECV", "syn-recv")			\
	X(TCPFLOW_FIN_WAIT1, "FIN_WAIT1", "fin-wait-1")			\
	X(TCPFLOW_FIN_WAIT2, "FIN_WAIT2", "fin-wait-2")			\
	X(TCPFLOW_TIME_WAIT, "TIME_WAIT", "time-wait")			\
	X(TCPFLOW_CLOSE, "CLOSE", "close")				\
	X(TCPFLOW_CLOSE_WAIT, "CLOSE_WAIT", "close-wait")		\
	X(TCPFLOW_LAST_ACK, "LAST_ACK", "last-ack")			\
	X(TCPFLOW_LISTEN, "LISTEN", "listen")				\
	X(TCPFLOW_CLOSING, "CLOSING", "closing")			\
	X(TCPFLOW_NEW_SYN_RECV, "NEW_SYN_RECV", "new-syn-recv")

#define TCPFLOW_ROLES(X)						\
	X(TCPFLOW_ROLE_UNKNOWN, "-")					\
	X(TCPFLOW_ROLE_CLIENT, "client")				\
	X(TCPFLOW_ROLE_SERVER, "server")				\
	X(TCPFLOW_ROLE_LISTENER, "listener")

#define TCPFLOW_TCP_FLAGS(X)						\
	X(TCPFLOW_TCP_SYN, "SYN")					\
	X(TCPFLOW_TCP_FIN, "FIN")					\
	X(TCPFLOW_TCP_RST, "RST")					\
	X(TCPFLOW_TCP_PSH, "PSH")					\
	X(TCPFLOW_TCP_ACK, "ACK")					\
	X(TCPFLOW_TCP_URG, "URG")					\
	X(TCPFLOW_TCP_ECE, "ECE")					\
	X(TCPFLOW_TCP_CWR, "CWR")

#define TCPFLOW_DIRS(X)							\
	X(TCPFLOW_DIR_RX, "rx")						\
	X(TCPFLOW_DIR_TX, "tx")

/* Table rows as designated initializers: [value] = name. */
#define TCPFLOW_NAME_INIT(v, name) \
	[v] = name,
#define TCPFLOW_STATE_NAME_INIT(v, name, ss) \
	[v] = name,
#define TCPFLOW_SS_NAME_INIT(v, name, ss) \
	[v] = ss,

static inline const char *tcpflow_state_name(unsigned int state)
{
	static const char *const names[TCPFLOW_STATE_MAX] = {
		TCPFLOW_STATES(TCPFLOW_STATE_NAME_INIT)
	};

	return state < TCPFLOW_STATE_MAX ? names[state] : NULL;
}

static inline const char *tcpflow_state_ss_name(unsigned int state)
{
	static const char *const names[TCPFLOW_STATE_MAX] = {
		TCPFLOW_STATES(TCPFLOW_SS_NAME_INIT)
	};

	return state < TCPFLOW_STATE_MAX ? names[state] : NULL;
}

static inline const char *tcpflow_role_name(unsigned int role)
{
	static const char *const names[TCPFLOW_ROLE_MAX] = {
		TCPFLOW_ROLES(TCPFLOW_NAME_INIT)
	};

	return role < TCPFLOW_ROLE_MAX ? names[role] : NULL;
}

static inline const char *tcpflow_dir_name(unsigned int dir)
{
	static const char *const names[TCPFLOW_DIR_TX + 1] = {
		TCPFLOW_DIRS(TCPFLOW_NAME_INIT)
	};

	return dir <= TCPFLOW_DIR_TX ? names[dir] : NULL;
}

#endif /* _UAPI_LINUX_TCPFLOW_NAMES_H */
