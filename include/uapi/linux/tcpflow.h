/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * tcpflow: per-connection TCP lifecycle histories.
 *
 * This header is the ABI between the tcpflow kernel module and the tools
 * that read it (tcpflowctl).  Everything here is fixed-width, explicitly
 * padded and little-endian as the host is; reserved fields are zero.
 *
 * Connections
 *   Every TCP connection the module sees gets a module-assigned 64-bit id
 *   (never a kernel address), increasing in order of first sighting and never
 *   reused while the module is loaded.  A connection also carries the socket
 *   cookie (the value `ss -e` prints as sk:<hex>), the inode number of its
 *   network namespace, its 4-tuple, its role and its owning process.
 *
 * Events
 *   A connection's history is an ordered list of struct tcpflow_event.
 *   t_ns is CLOCK_MONOTONIC (ktime_get_ns()).  For TCPFLOW_EV_STATE, a and b
 *   are the old and new state (enum tcpflow_state, the kernel's TCP_* values).
 *   A history is bounded: when it is full, the module keeps the opening
 *   events and the most recent ones and counts what it dropped in between.
 *
 * States
 *   The kernel's values (include/net/tcp_states.h).  TCPFLOW_TIME_WAIT is
 *   reported when the kernel hands a connection to its timewait socket,
 *   which the kernel's own tracepoint shows as a move to CLOSE.
 */
#ifndef _UAPI_LINUX_TCPFLOW_H
#define _UAPI_LINUX_TCPFLOW_H

#include <linux/types.h>

#define TCPFLOW_ABI_VERSION	1

enum tcpflow_state {
	TCPFLOW_ESTABLISHED = 1,
	TCPFLOW_SYN_SENT,
	TCPFLOW_SYN_RECV,
	TCPFLOW_FIN_WAIT1,
	TCPFLOW_FIN_WAIT2,
	TCPFLOW_TIME_WAIT,
	TCPFLOW_CLOSE,
	TCPFLOW_CLOSE_WAIT,
	TCPFLOW_LAST_ACK,
	TCPFLOW_LISTEN,
	TCPFLOW_CLOSING,
	TCPFLOW_NEW_SYN_RECV,
	TCPFLOW_STATE_MAX,
};

enum tcpflow_role {
	TCPFLOW_ROLE_UNKNOWN = 0,	/* pre-existing, not a listener */
	TCPFLOW_ROLE_CLIENT,		/* active open (connect) */
	TCPFLOW_ROLE_SERVER,		/* passive open (accepted child) */
	TCPFLOW_ROLE_LISTENER,
	TCPFLOW_ROLE_MAX,
};

enum tcpflow_event_type {
	TCPFLOW_EV_STATE = 1,		/* a: old state, b: new state */
	TCPFLOW_EV_MAX,
};

/* struct tcpflow_conn_info.flags */
#define TCPFLOW_CONN_PREEXISTING	(1U << 0) /* seen at load, not opened */
#define TCPFLOW_CONN_CLOSED		(1U << 1) /* history is complete */
#define TCPFLOW_CONN_PARTIAL		(1U << 2) /* first events were lost */

struct tcpflow_event {
	__u64 t_ns;
	__u32 seq;
	__u32 ack;
	__u16 win;
	__u16 len;
	__u8 type;			/* enum tcpflow_event_type */
	__u8 a;
	__u8 b;
	__u8 flags;
};

struct tcpflow_conn_info {
	__u64 id;
	__u64 cookie;
	__u64 first_ns;			/* t_ns of the first event */
	__u32 netns;			/* inode of the network namespace */
	__u32 pid;			/* tgid of the owner, 0 if unknown */
	__u8 saddr[16];			/* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;			/* host byte order */
	__u16 dport;
	__u16 family;			/* AF_INET or AF_INET6 */
	__u8 role;			/* enum tcpflow_role */
	__u8 state;			/* enum tcpflow_state, current */
	__u32 flags;			/* TCPFLOW_CONN_* */
	__u32 nevents;			/* events held */
	__u32 dropped_events;		/* events lost from this history */
	__u32 reserved;
	__u64 parent_id;		/* server: the listener's id, else 0 */
	char comm[16];
};

#endif /* _UAPI_LINUX_TCPFLOW_H */
