/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcpflowctl: what its files share.  Layered like the module, no file
 * calling back up: main.c (options, the command table) -> cmd_*.c (one per
 * command) -> snapshot.c (connections) -> source.c (records) ->
 * filter.c, table.c (formatters) -> cgroup.c (cgroup ids), json.c
 * (writer, errors).
 */
#ifndef _TCPFLOWCTL_H
#define _TCPFLOWCTL_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <linux/tcpflow.h>
#include <linux/tcpflow_names.h>

#ifndef TCPFLOW_VERSION
#error "TCPFLOW_VERSION comes from the Makefile (-DTCPFLOW_VERSION=...)"
#endif

#define TCPFLOW_DEV "/dev/tcpflow"
#define TCPFLOW_BUF_SIZE (64 * 1024)
#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit statuses (documented in tcpflowctl.8). */
#define EXIT_USAGE 2
#define EXIT_LEAKS 3

static_assert(sizeof(struct tcpflow_event) == 24, "tcpflow_event ABI");
static_assert(sizeof(struct tcpflow_conn_info) == 144, "tcpflow_conn_info ABI");
static_assert(sizeof(struct tcpflow_rec_hdr) == 16, "tcpflow_rec_hdr ABI");
static_assert(sizeof(struct tcpflow_counters) == 96, "tcpflow_counters ABI");
static_assert(sizeof(struct tcpflow_filter) == 32, "tcpflow_filter ABI");
static_assert(sizeof(struct tcpflow_sync) == 8, "tcpflow_sync ABI");
static_assert(sizeof(struct tcpflow_loss) == 8, "tcpflow_loss ABI");
static_assert(TCPFLOW_REC_MAX_SIZE <= TCPFLOW_BUF_SIZE, "read buffer");

/* ---- json.c: errors and the JSON writer ----------------------------- */

extern bool tf_json;

/*
 * One error line: "tcpflowctl: MSG" on stderr, or {"error":"MSG"} on stdout
 * in JSON mode.  The caller picks the exit status.
 */
void tf_err_msg(const char *fmt, ...);

/* The compiler checks the format against the arguments, as no_printk(). */
#define tf_err(...) do {					\
	if (0)							\
		printf(__VA_ARGS__);				\
	tf_err_msg(__VA_ARGS__);				\
} while (0)

void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

void js_open(char c);
void js_close(char c);
void js_key(const char *k);
void js_str(const char *k, const char *v);
void js_u64(const char *k, unsigned long long v);
void js_bool(const char *k, bool v);
void js_null(const char *k);

/* ---- table.c: formatters and aligned tables ------------------------- */

/* A state's name, or STATE_<n> for one the tool does not know. */
#define TF_STATE_LEN 24
const char *fmt_state(char buf[TF_STATE_LEN], unsigned int state);
const char *fmt_role(unsigned int role);
const char *fmt_dir(const struct tcpflow_event *e);
/* A string built into a buffer (table.c): no printf per piece. */
struct tf_sb {
	char *p, *end;
};

void sb_init(struct tf_sb *b, char *buf, size_t len);
void sb_str(struct tf_sb *b, const char *s);
void sb_pad(struct tf_sb *b, const char *s, size_t w);
void sb_rpad(struct tf_sb *b, const char *s, size_t w);
void sb_u64(struct tf_sb *b, unsigned long long v, int w);

const char *fmt_tcp_flags(char *buf, size_t len, unsigned int flags);
const char *fmt_dur(char *buf, size_t len, unsigned long long ns);
const char *fmt_secs(char *buf, size_t len, unsigned long long ns);
const char *fmt_addr(char *buf, size_t len, unsigned int family,
		     const __u8 *addr);
const char *fmt_ep(char *buf, size_t len, unsigned int family,
		   const __u8 *addr, unsigned int port);
const char *fmt_comm(char *buf, size_t len, const char *comm);
const char *fmt_owner(char *buf, size_t len,
		      const struct tcpflow_conn_info *ci);
const char *fmt_segment(char *buf, size_t len,
			const struct tcpflow_conn_info *ci,
			const struct tcpflow_event *e);

/*
 * A table: rows of strings, columns as wide as their widest cell, two
 * spaces apart, the last column unpadded.  align: 'l' or 'r' per column.
 * TF_TABLE(head, align) counts the columns from head and checks align
 * against them at compile time; a table may then show fewer (ncols), or
 * leave out the columns of hide (1 << column) while rows still fill them.
 */
struct tf_table {
	size_t ncols;
	const char * const *head;
	const char *align;
	char **cells;
	size_t nrows;
	unsigned int hide;
};

#define TF_TABLE(h, a) {						\
	.ncols = sizeof(h) / sizeof((h)[0]) + 0 *			\
		 sizeof(char[sizeof(a) - 1 == sizeof(h) / sizeof((h)[0]) ? 1 : -1]), \
	.head = (h), .align = (a),					\
}

void tbl_add_row(struct tf_table *t, const char * const *row, size_t n);
/* tbl_add(t, cell, ...): one cell per column of the table. */
#define tbl_add(t, ...)							\
	tbl_add_row(t, (const char * const []){ __VA_ARGS__ },		\
		    ARRAY_SIZE(((const char * const []){ __VA_ARGS__ })))
void tbl_print(struct tf_table *t, bool header);

/* ---- cgroup.c: the owner's cgroup, by its id ------------------------ */

/*
 * Where ids are resolved: the directory TCPFLOW_CGROUP_ROOT names, else
 * when host (reading the device) this host's cgroup2 mount; else nowhere:
 * a recording may come from another host or boot, where the same ids name
 * other cgroups.
 */
void cg_init(bool host);
/*
 * Its path under the mount ("/system.slice/nginx.service"); NULL: unknown.
 * Valid until an id that is not found makes it walk the mount again.
 */
const char *cg_path(unsigned long long id);
/*
 * The unit or container the cgroup names ("nginx.service", "docker:" and
 * 12 hex digits), else its last component; "cgroup:ID" when the path is
 * unknown, "-" for 0.  scope (may be NULL): how much of the path names it
 * (0 when unknown), which groups the cgroups under a unit with it.
 */
const char *fmt_unit(char *buf, size_t len, unsigned long long id,
		     size_t *scope);
/* --cgroup: want is the path or a path above it, or the unit. */
bool cg_match(const char *want, unsigned long long id);

/* ---- filter.c: filters and address parsing -------------------------- */

struct tf_filter {
	unsigned int state_mask;
	bool port_set, netns_set, pid_set, addr_set;
	unsigned int port, netns, pid;
	__u8 addr[16];			/* IPv4 mapped into IPv6 */
	const char **cgroups;		/* --cgroup: any of them */
	size_t ncgroups;
};

bool parse_ulong(const char *s, unsigned long max, unsigned long *out);
int parse_state(const char *s);
bool parse_addr(const char *s, __u8 *out);
bool parse_ep(const char *s, __u8 *addr, unsigned int *port);
void addr_mapped(const struct tcpflow_conn_info *ci, const __u8 *a,
		 __u8 *out);
bool filter_match(const struct tf_filter *f,
		  const struct tcpflow_conn_info *ci);

/* ---- source.c: the record stream ------------------------------------ */

union tf_payload {
	struct tcpflow_conn_info conn;
	struct tcpflow_event ev;
	struct tcpflow_sync sync;
	struct tcpflow_loss loss;
};

struct tf_rec {
	struct tcpflow_rec_hdr hdr;
	union tf_payload p;
	const unsigned char *raw;	/* the whole record, hdr.size bytes */
};

struct tf_src {
	int fd;
	bool dev;
	const char *name;
	unsigned char *buf;
	size_t len, off;		/* bytes held, next record */
	unsigned long long pos;		/* stream offset of buf[0] */
};

/* Set by SIGINT and SIGTERM once catch_signals() ran. */
extern atomic_int tf_stop;
void catch_signals(void);

/* file: a recording ("-": stdin), NULL: the device, filtered by kflt. */
int src_open(struct tf_src *s, const char *file,
	     const struct tf_filter *kflt);
int src_next(struct tf_src *s, struct tf_rec *r);

/* ---- snapshot.c: the connections as the snapshot holds them --------- */

struct tf_conn {
	struct tcpflow_conn_info info;
	struct tcpflow_event *ev;
	size_t nev;
};

struct tf_snap {
	struct tf_conn *conns;		/* sorted by id */
	size_t n;
	unsigned long long now_ns;
	unsigned long long lost;	/* LOSS records before the SYNC */
};

int snap_load(struct tf_src *s, struct tf_snap *sn);
const struct tf_conn *snap_find(const struct tf_snap *sn,
				unsigned long long id);
unsigned long long conn_age(const struct tf_snap *sn,
			    const struct tf_conn *c);
const struct tcpflow_event *conn_find_state(const struct tf_conn *c,
					    int old, int new);
long long conn_handshake(const struct tf_conn *c);

/* JSON objects of the model, for every command that prints them. */
/*
 * The table's counters: the module's (TCPFLOW_IOC_COUNTERS) when s is the
 * device, returning 1; from a recording, what its snapshot holds (conns,
 * live, closed, events_total, events_dropped), returning 0; -1 on error
 * (reported).
 */
int snap_counters(struct tf_src *s, const struct tf_snap *sn,
		  struct tcpflow_counters *k);

/* How often the held histories moved from one state to another. */
struct tf_trans {
	unsigned int from, to;
	unsigned long long n;
};

/* Every transition seen, most frequent first; free() *out. */
size_t snap_transitions(const struct tf_snap *sn, struct tf_trans **out);

/* The ephemeral port range of this host's netns (ip_local_port_range). */
bool local_port_range(unsigned long *lo, unsigned long *hi);

/*
 * Live TIME_WAIT connections grouped by peer address (by_peer), or by
 * local address, peer address and port; most first.  used: the local
 * ports of [lo, hi] that connections to the group's peer hold now (any
 * state but LISTEN, not closed), which connect() cannot pick.
 */
struct tf_tw {
	const struct tf_conn *c;	/* the first of its group */
	bool by_peer;
	unsigned long tw, used;
};

size_t tw_groups(const struct tf_snap *sn, bool by_peer, unsigned long lo,
		 unsigned long hi, struct tf_tw **out);

/*
 * What became of a segment, known only when both ends are recorded (show):
 * a tx the other end received or an rx it sent, a tx it never received, an
 * rx it never recorded sending; unknown when the other end's history would
 * not hold it either way (an ACK or data, or outside that history).
 */
enum tf_delivery {
	TF_DELIVERY_UNKNOWN,
	TF_DELIVERY_DELIVERED,
	TF_DELIVERY_LOST,
	TF_DELIVERY_UNSENT,
};

void js_event(const struct tcpflow_event *e);
/* cgroup_id, and cgroup (the path) and unit, null when unknown */
void js_cgroup(unsigned long long id);
void js_conn_fields(const struct tcpflow_conn_info *ci);
/* delivery: one per event of c ("delivery" keys), or NULL */
void js_conn(const struct tf_snap *sn, const struct tf_conn *c,
	     const enum tf_delivery *delivery);
void js_loss(unsigned long long n);

/* ---- main.c and cmd_*.c: the commands ------------------------------- */

struct tf_opts {
	bool header;
	bool all;
	bool follow;
	bool verbose;			/* leaks: every connection */
	bool mermaid;			/* show: a Mermaid sequenceDiagram */
	const char *file;
	unsigned long threshold;	/* leaks: seconds */
	unsigned long top;		/* metrics: owners, peers */
	const char *out;		/* metrics: NULL: stdout */
	struct tf_filter flt;
};

/* What main.c hands a command. */
struct tf_ctx {
	const struct tf_opts *o;
	struct tf_src *src;
	struct tf_snap *sn;		/* loaded for TF_CMD_SNAPSHOT */
	char **args;
	int nargs;
};

int cmd_list(struct tf_ctx *x);
int cmd_show(struct tf_ctx *x);
int cmd_follow(struct tf_ctx *x);
int cmd_dump(struct tf_ctx *x);
int cmd_leaks(struct tf_ctx *x);
int cmd_stats(struct tf_ctx *x);
int cmd_metrics(struct tf_ctx *x);

#endif /* _TCPFLOWCTL_H */
