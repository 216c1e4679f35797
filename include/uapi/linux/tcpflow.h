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
 *   network namespace, its 4-tuple, its role and its owning process (for
 *   the readers that may see it: see Visibility).
 *
 * Events
 *   A connection's history is an ordered list of struct tcpflow_event.
 *   t_ns is CLOCK_MONOTONIC (ktime_get_ns()).  For TCPFLOW_EV_STATE, a and b
 *   are the old and new state (enum tcpflow_state, the kernel's TCP_* values).
 *   A history is bounded: when it is full, the module keeps the opening
 *   events and the most recent ones and counts what it dropped in between.
 *   For TCPFLOW_EV_SEGMENT, a segment of the handshake or the teardown as
 *   it left (TCPFLOW_DIR_TX) or reached (TCPFLOW_DIR_RX) this host: flags,
 *   absolute seq and ack, the header's (unscaled) window and the payload
 *   length; b counts earlier transmissions of the same SYN, SYN-ACK or FIN
 *   (0: the first one).  Data segments are not recorded one by one.
 *
 * Requests
 *   A passive open is tracked from the SYN its listener answered: the entry
 *   is a server with TCPFLOW_CONN_REQUEST set and state SYN_RECV until the
 *   handshake completes and the accepted socket takes it over (the flag is
 *   then cleared).  A request that never completes keeps the flag.  When
 *   two segments complete one handshake at once on two CPUs (the final ACK
 *   and a FIN or data right behind it), the kernel clones two children,
 *   keeps the first it can hash and destroys the other: that one is a
 *   history of its own, LISTEN -> SYN_RECV -> CLOSE with the connection's
 *   tuple, marked TCPFLOW_CONN_DUPLICATE.
 *
 * States
 *   The kernel's values (include/net/tcp_states.h).  TCPFLOW_TIME_WAIT is
 *   reported when the kernel hands a connection to its timewait socket,
 *   which the kernel's own tracepoint shows as a move to CLOSE.
 *
 * /dev/tcpflow
 *   A read() returns whole records, each a struct tcpflow_rec_hdr followed
 *   by its payload; hdr.size is the record's whole size, a multiple of 8.
 *   A buffer too small for the next record gets EINVAL.  An open file first
 *   yields a snapshot of every connection held when it was opened, each as
 *   a TCPFLOW_REC_CONN followed by its events as TCPFLOW_REC_EVENT, then one
 *   TCPFLOW_REC_SYNC,
 *   then the live stream: each new event as TCPFLOW_REC_CONN (the
 *   connection as it is after the event) followed by TCPFLOW_REC_EVENT.
 *   Every event is delivered once: those before the open in the snapshot,
 *   those after it in the stream, each connection's in the order they
 *   happened.  An EVENT record's header carries the event's index: its
 *   number in its connection's history from 0, counting the events a full
 *   history dropped (so a snapshot's events of such a history skip some),
 *   the same in the snapshot and in the stream.  The stream's events of
 *   different connections come in about the order of their t_ns.  Events
 *   are buffered per CPU: a reader that falls behind the stream's
 *   ring of any CPU gets a TCPFLOW_REC_LOSS saying how many events it missed (a
 *   reader that sees one namespace only: how many of that namespace's
 *   events, told before its next event or once it has caught up); the
 *   kernel never waits for a reader.  read() blocks until there is
 *   something to read unless O_NONBLOCK (then EAGAIN); poll() works.
 *   While the device is open the module cannot be unloaded (rmmod fails
 *   with EBUSY).
 *
 * Visibility
 *   Decided when a file is opened, with the opener's credentials, the same
 *   for /proc/tcpflow and /dev/tcpflow:
 *   - connections: those of the network namespace the reader opened the
 *     file in, or all of them when it opened it in the initial namespace
 *     with CAP_NET_ADMIN;
 *   - owners (pid, comm and cgroup_id of struct tcpflow_conn_info): zero
 *     unless the reader has CAP_NET_ADMIN over its network namespace (in
 *     the user namespace that owns it), and then the pid is the owner's
 *     tgid as the reader's pid namespace numbers it: the global tgid in
 *     the initial pid namespace, the tgid there in the owner's own
 *     (innermost) pid namespace, and no owner at all (pid, comm and
 *     cgroup_id zero) in any other;
 *   - counters (TCPFLOW_IOC_COUNTERS): the whole table's for a reader of
 *     every namespace, its own namespace's for any other (max_conns is
 *     always the shared pool's; probe hits the kernel skipped, in
 *     events_dropped, and walk_max are for readers of every namespace
 *     only);
 *   - sequence numbers: the records carry absolute seq, ack and ISNs (the
 *     device is root's); /proc/tcpflow shows absolute numbers (the
 *     absolute_seq parameter) only to readers that may see owners.
 */
#ifndef _UAPI_LINUX_TCPFLOW_H
#define _UAPI_LINUX_TCPFLOW_H

#include <linux/ioctl.h>
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
	TCPFLOW_ROLE_UNKNOWN = 0,	/* pre-existing, role not certain */
	TCPFLOW_ROLE_CLIENT,		/* active open (connect) */
	TCPFLOW_ROLE_SERVER,		/* passive open (accepted child) */
	TCPFLOW_ROLE_LISTENER,
	TCPFLOW_ROLE_MAX,
};

enum tcpflow_event_type {
	TCPFLOW_EV_STATE = 1,		/* a: old state, b: new state */
	TCPFLOW_EV_SEGMENT,		/* a: enum tcpflow_dir, b: retransmits */
	TCPFLOW_EV_MAX,
};

enum tcpflow_dir {
	TCPFLOW_DIR_RX = 0,
	TCPFLOW_DIR_TX = 1,
};

/* struct tcpflow_event.flags for TCPFLOW_EV_SEGMENT: the TCP header's */
#define TCPFLOW_TCP_FIN		0x01
#define TCPFLOW_TCP_SYN		0x02
#define TCPFLOW_TCP_RST		0x04
#define TCPFLOW_TCP_PSH		0x08
#define TCPFLOW_TCP_ACK		0x10
#define TCPFLOW_TCP_URG		0x20
#define TCPFLOW_TCP_ECE		0x40
#define TCPFLOW_TCP_CWR		0x80

/* struct tcpflow_conn_info.flags */
#define TCPFLOW_CONN_PREEXISTING	(1U << 0) /* seen at load, not opened */
#define TCPFLOW_CONN_CLOSED		(1U << 1) /* history is complete */
#define TCPFLOW_CONN_PARTIAL		(1U << 2) /* first events were lost */
#define TCPFLOW_CONN_REQUEST		(1U << 3) /* a SYN answered, no socket yet */
#define TCPFLOW_CONN_ISN_LOCAL		(1U << 4) /* isn_local is known */
#define TCPFLOW_CONN_ISN_REMOTE		(1U << 5) /* isn_remote is known */
#define TCPFLOW_CONN_DUPLICATE		(1U << 6) /* a destroyed 2nd child */
/*
 * Closed by tcpflow, not by its socket's events: the socket no longer
 * existed, and how it ended was not seen (an event lost).
 */
#define TCPFLOW_CONN_STALE		(1U << 7)
/*
 * Its move to TIME_WAIT (or to an orphaned FIN_WAIT2's timewait socket)
 * found no timewait socket to go to (net.ipv4.tcp_max_tw_buckets reached,
 * or no memory; the kernel counts TCPTimeWaitOverflow): its CLOSE is final.
 */
#define TCPFLOW_CONN_TW_OVERFLOW	(1U << 8)
/*
 * Its handshake was answered with a SYN cookie, so no request socket held
 * its SYN_RECV: LISTEN -> SYN_RECV is when the final ACK made the child,
 * not when the SYN was answered.
 */
#define TCPFLOW_CONN_SYNCOOKIE		(1U << 9)

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

/*
 * What a and b of struct tcpflow_event mean depends on its type: readers
 * use these names, each only for its type (TCPFLOW_EV_STATE or
 * TCPFLOW_EV_SEGMENT).
 */
static inline unsigned int tcpflow_ev_old_state(const struct tcpflow_event *e)
{
	return e->a;
}

static inline unsigned int tcpflow_ev_new_state(const struct tcpflow_event *e)
{
	return e->b;
}

/* enum tcpflow_dir */
static inline unsigned int tcpflow_ev_dir(const struct tcpflow_event *e)
{
	return e->a;
}

static inline int tcpflow_ev_is_tx(const struct tcpflow_event *e)
{
	return e->a == TCPFLOW_DIR_TX;
}

/* Earlier transmissions of the same SYN, SYN-ACK or FIN: 0 the first. */
static inline unsigned int tcpflow_ev_retrans(const struct tcpflow_event *e)
{
	return e->b;
}

struct tcpflow_conn_info {
	__u64 id;
	__u64 cookie;
	__u64 first_ns;			/* t_ns of the first event */
	__u32 netns;			/* inode of the network namespace */
	__u32 pid;			/* owner's tgid; 0: unknown, hidden */
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
	__u32 isn_local;		/* initial sequence numbers, see */
	__u32 isn_remote;		/* TCPFLOW_CONN_ISN_* */
	/* tcp_info's tcpi_bytes_acked and tcpi_bytes_received as of the
	 * last state change: final once the connection is closed.
	 */
	__u64 bytes_acked;
	__u64 bytes_received;
	/* The cgroup v2 id of the owner's cgroup, as it was when the owner
	 * last acted on the connection: the inode number of its directory
	 * under the cgroup2 mount.  0: unknown, or hidden with the owner.
	 */
	__u64 cgroup_id;
};

enum tcpflow_rec_type {
	TCPFLOW_REC_CONN = 1,		/* struct tcpflow_conn_info */
	TCPFLOW_REC_EVENT,		/* struct tcpflow_event */
	TCPFLOW_REC_SYNC,		/* struct tcpflow_sync: snapshot complete */
	TCPFLOW_REC_LOSS,		/* struct tcpflow_loss */
	TCPFLOW_REC_MAX,
};

struct tcpflow_rec_hdr {
	__u16 type;			/* enum tcpflow_rec_type */
	__u16 size;			/* header and payload, bytes */
	__u32 index;			/* EVENT: its number in the history */
	__u64 conn_id;			/* CONN, EVENT: the connection */
};

struct tcpflow_sync {
	__u64 now_ns;			/* the kernel's clock (t_ns) at the sync */
};

struct tcpflow_loss {
	__u64 events;			/* live events this reader missed */
};

/* The largest record: a reader's buffer must hold at least this much. */
#define TCPFLOW_REC_MAX_SIZE \
	(sizeof(struct tcpflow_rec_hdr) + sizeof(struct tcpflow_conn_info))

/* The table's, or the reader's own namespace's: see Visibility. */
struct tcpflow_counters {
	__u64 conns;			/* held now, live and closed */
	__u64 live;
	__u64 closed;
	__u64 max_conns;
	__u64 untracked;
	__u64 evicted;
	__u64 events_dropped;
	__u64 events_total;		/* events recorded since load */
	/* The most table entries or ring slots a reader walked in one hold
	 * of a lock the hooks take, whether it could see them or not: readers
	 * never hold up the hooks for longer (a small constant).
	 */
	__u64 walk_max;
	__u64 reserved[3];
};

/* struct tcpflow_filter.flags: which fields apply */
#define TCPFLOW_FILTER_NETNS	(1U << 0)
#define TCPFLOW_FILTER_PORT	(1U << 1)	/* local or peer port */
#define TCPFLOW_FILTER_STATE	(1U << 2)	/* current state in state_mask */
#define TCPFLOW_FILTER_ALL	(TCPFLOW_FILTER_NETNS | TCPFLOW_FILTER_PORT | \
				 TCPFLOW_FILTER_STATE)

/* A reader's filter: a connection must match every field flags names. */
struct tcpflow_filter {
	__u32 flags;
	__u32 netns;			/* inode */
	__u16 port;
	__u16 reserved0;
	__u32 state_mask;		/* 1 << enum tcpflow_state */
	__u64 reserved[2];		/* zero */
};

#define TCPFLOW_IOC_MAGIC	0xf1
#define TCPFLOW_IOC_VERSION	_IOR(TCPFLOW_IOC_MAGIC, 1, __u32)
#define TCPFLOW_IOC_COUNTERS	_IOR(TCPFLOW_IOC_MAGIC, 2, struct tcpflow_counters)
#define TCPFLOW_IOC_SET_FILTER	_IOW(TCPFLOW_IOC_MAGIC, 3, struct tcpflow_filter)

#endif /* _UAPI_LINUX_TCPFLOW_H */
