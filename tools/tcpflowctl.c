// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: reads what the tcpflow module recorded.
 *
 * Reads the record stream of /dev/tcpflow (or a recording of it made with
 * `tcpflowctl dump`, given with -f) as include/uapi/linux/tcpflow.h
 * describes it: a snapshot of every connection and its events, a SYNC
 * record, then the live stream.  The snapshot is loaded into a table of
 * connections sorted by id; every command but follow and dump works on it.
 *
 * Output is for people by default (aligned tables, a ladder diagram) and
 * JSON Lines with -j: one object per line, written by the js_* functions.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcpflow.h>
#include <linux/tcpflow_names.h>

#define TCPFLOWCTL_VERSION "0.1.0"
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

/* ---- names ---------------------------------------------------------- */

#define TF_FLAG_ROW(bit, name) { bit, name },

static const struct {
	unsigned int bit;
	const char *name;
} tf_tcp_flags[] = { TCPFLOW_TCP_FLAGS(TF_FLAG_ROW) };

/*
 * A state's name, or STATE_<n>, into the caller's buffer: two of them go
 * into one line (follow's "OLD -> NEW") and each keeps its own number.
 */
#define TF_STATE_LEN 24

static const char *state_name(char buf[TF_STATE_LEN], unsigned int s)
{
	const char *name = tcpflow_state_name(s);

	if (name)
		return name;
	snprintf(buf, TF_STATE_LEN, "STATE_%u", s);
	return buf;
}

/* Unknown, or a role this tool has no name for: "-", as in /proc/tcpflow. */
static const char *role_name(unsigned int r)
{
	return tcpflow_role_name(r) ?: tcpflow_role_name(TCPFLOW_ROLE_UNKNOWN);
}

/* "SYN,ACK" into buf; "none" for no flag. */
static const char *tcp_flags_str(char *buf, size_t len, unsigned int flags)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(tf_tcp_flags); i++) {
		if (!(flags & tf_tcp_flags[i].bit))
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? "," : "",
				tf_tcp_flags[i].name);
		if (off >= len)
			break;
	}
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}

/* ---- errors and JSON ------------------------------------------------ */

static bool tf_json;

/*
 * One error line: "tcpflowctl: MSG" on stderr, or {"error":"MSG"} on stdout
 * in JSON mode.  The caller picks the exit status.
 */
static void tf_err_msg(const char *fmt, ...);

/* The compiler checks the format against the arguments, as no_printk(). */
#define tf_err(...) do {					\
	if (0)							\
		printf(__VA_ARGS__);				\
	tf_err_msg(__VA_ARGS__);				\
} while (0)

static void js_str_raw(const char *s);

static void tf_err_msg(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (tf_json) {
		fputs("{\"error\":", stdout);
		js_str_raw(msg);
		fputs("}\n", stdout);
		fflush(stdout);
	} else {
		fprintf(stderr, "tcpflowctl: %s\n", msg);
	}
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		tf_err("out of memory");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

/*
 * The JSON writer: nesting is tracked so commas go where they belong.
 * Strings are written as valid UTF-8; a byte that is not part of a valid
 * UTF-8 sequence (comm is whatever a task set) becomes U+FFFD.
 */
#define JS_MAX_DEPTH 8

static struct {
	int depth;
	bool need_comma[JS_MAX_DEPTH];
	bool after_key;
} js;

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;	/* overlong, surrogate, or above U+10FFFF */
	return n;
}

static void js_str_raw(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	putchar('"');
	while (*s) {
		switch (*s) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				printf("\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", stdout);
				break;
			}
			fwrite(s, 1, n, stdout);
			s += n - 1;
			break;
		}
		s++;
	}
	putchar('"');
}

static void js_sep(void)
{
	if (js.after_key) {
		js.after_key = false;
		return;
	}
	if (js.need_comma[js.depth])
		putchar(',');
	js.need_comma[js.depth] = true;
}

static void js_open(char c)
{
	js_sep();
	putchar(c);
	js.depth++;
	js.need_comma[js.depth] = false;
}

static void js_close(char c)
{
	putchar(c);
	js.depth--;
	if (!js.depth) {
		putchar('\n');
		js.need_comma[0] = false;
	}
}

static void js_key(const char *k)
{
	js_sep();
	js_str_raw(k);
	putchar(':');
	js.after_key = true;
}

static void js_str(const char *k, const char *v)
{
	js_key(k);
	js_sep();
	js_str_raw(v);
}

static void js_u64(const char *k, unsigned long long v)
{
	js_key(k);
	js_sep();
	printf("%llu", v);
}

static void js_bool(const char *k, bool v)
{
	js_key(k);
	js_sep();
	fputs(v ? "true" : "false", stdout);
}

static void js_null(const char *k)
{
	js_key(k);
	js_sep();
	fputs("null", stdout);
}

/* ---- formatting ----------------------------------------------------- */

/* 350ms, 4.2s, 3m12s, 2h5m: truncated, never rounded up. */
static const char *fmt_dur(char *buf, size_t len, unsigned long long ns)
{
	unsigned long long s = ns / NSEC_PER_SEC;

	if (ns < NSEC_PER_USEC)
		snprintf(buf, len, "%lluns", ns);
	else if (ns < 10 * NSEC_PER_USEC)
		snprintf(buf, len, "%llu.%lluus", ns / 1000, ns / 100 % 10);
	else if (ns < NSEC_PER_MSEC)
		snprintf(buf, len, "%lluus", ns / NSEC_PER_USEC);
	else if (ns < 10 * NSEC_PER_MSEC)
		snprintf(buf, len, "%llu.%llums", ns / NSEC_PER_MSEC,
			 ns / 100000 % 10);
	else if (ns < NSEC_PER_SEC)
		snprintf(buf, len, "%llums", ns / NSEC_PER_MSEC);
	else if (ns < 10 * NSEC_PER_SEC)
		snprintf(buf, len, "%llu.%llus", s, ns / 100000000 % 10);
	else if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%llum", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%llud%lluh", s / 86400, s / 3600 % 24);
	return buf;
}

/* Seconds with microseconds: "12.000350". */
static const char *fmt_secs(char *buf, size_t len, unsigned long long ns)
{
	snprintf(buf, len, "%llu.%06llu", ns / NSEC_PER_SEC,
		 ns % NSEC_PER_SEC / NSEC_PER_USEC);
	return buf;
}

static const char *fmt_addr(char *buf, size_t len, unsigned int family,
			    const __u8 *addr)
{
	int af = family == AF_INET6 ? AF_INET6 : AF_INET;

	if ((family != AF_INET && family != AF_INET6) ||
	    !inet_ntop(af, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* ss style: 127.0.0.1:8080, [::1]:8080, 0.0.0.0:* for no port. */
static const char *fmt_ep(char *buf, size_t len, unsigned int family,
			  const __u8 *addr, unsigned int port)
{
	char a[INET6_ADDRSTRLEN], p[8];

	fmt_addr(a, sizeof(a), family, addr);
	if (port)
		snprintf(p, sizeof(p), "%u", port);
	else
		snprintf(p, sizeof(p), "*");
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%s" : "%s:%s", a, p);
	return buf;
}

/* comm is a task's name, any bytes: keep a table's columns intact. */
static const char *fmt_comm(char *buf, size_t len, const char *comm)
{
	size_t i;

	for (i = 0; i + 1 < len && i < 16 && comm[i]; i++)
		buf[i] = (comm[i] > ' ' && comm[i] < 0x7f) ? comm[i] : '?';
	buf[i] = '\0';
	return buf;
}

static const char *fmt_owner(char *buf, size_t len,
			     const struct tcpflow_conn_info *ci)
{
	char comm[17];

	if (!ci->pid)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%u/%s", ci->pid,
			 fmt_comm(comm, sizeof(comm), ci->comm));
	return buf;
}

/*
 * A table: rows of strings, columns as wide as their widest cell, two
 * spaces apart, the last column unpadded.  align: 'l' or 'r' per column.
 */
struct tf_table {
	int ncols;
	const char * const *head;
	const char *align;
	char **cells;
	size_t nrows;
};

static void tbl_add(struct tf_table *t, ...)
{
	va_list ap;
	int i;

	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols *
			    sizeof(*t->cells));
	va_start(ap, t);
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(va_arg(ap, char *));
	va_end(ap);
	t->nrows++;
}

static void tbl_row(const struct tf_table *t, const size_t *w,
		    const char * const *row)
{
	int i;

	for (i = 0; i < t->ncols; i++) {
		bool last = i == t->ncols - 1;
		int pad = (int)w[i];

		if (t->align[i] == 'r')
			printf("%*s", pad, row[i]);
		else if (last)
			fputs(row[i], stdout);
		else
			printf("%-*s", pad, row[i]);
		fputs(last ? "\n" : "  ", stdout);
	}
}

static void tbl_print(struct tf_table *t, bool header)
{
	size_t w[16] = { 0 }, r;
	int i;

	for (i = 0; i < t->ncols; i++) {
		if (header)
			w[i] = strlen(t->head[i]);
		for (r = 0; r < t->nrows; r++) {
			size_t l = strlen(t->cells[r * t->ncols + i]);

			if (l > w[i])
				w[i] = l;
		}
	}
	if (header)
		tbl_row(t, w, t->head);
	for (r = 0; r < t->nrows; r++)
		tbl_row(t, w, (const char * const *)&t->cells[r * t->ncols]);
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

/* ---- options -------------------------------------------------------- */

struct tf_filter {
	unsigned int state_mask;
	bool port_set, netns_set, pid_set, addr_set;
	unsigned int port, netns, pid;
	__u8 addr[16];			/* IPv4 mapped into IPv6 */
};

struct tf_opts {
	bool header;
	bool all;
	bool follow;
	const char *file;
	unsigned long threshold;	/* leaks: seconds */
	struct tf_filter flt;
};

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* ss names (close-wait), the kernel's (CLOSE_WAIT), any case. */
static int parse_state(const char *s)
{
	int i;

	for (i = 1; i < TCPFLOW_STATE_MAX; i++)
		if (!strcasecmp(s, tcpflow_state_ss_name(i)) ||
		    !strcasecmp(s, tcpflow_state_name(i)))
			return i;
	return -1;
}

/* addr as 16 bytes, IPv4 as ::ffff:a.b.c.d; accepts [v6]. */
static bool parse_addr(const char *s, __u8 *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);
	struct in_addr a4;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, s, out) == 1;
}

/* A connection's address in the filter's form. */
static void addr_mapped(const struct tcpflow_conn_info *ci, const __u8 *a,
			__u8 *out)
{
	if (ci->family == AF_INET6) {
		memcpy(out, a, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, a, 4);
}

static bool filter_match(const struct tf_filter *f,
			 const struct tcpflow_conn_info *ci)
{
	__u8 s[16], d[16];

	if (f->state_mask && !(f->state_mask & (1U << ci->state)))
		return false;
	if (f->port_set && ci->sport != f->port && ci->dport != f->port)
		return false;
	if (f->netns_set && ci->netns != f->netns)
		return false;
	if (f->pid_set && ci->pid != f->pid)
		return false;
	if (f->addr_set) {
		addr_mapped(ci, ci->saddr, s);
		addr_mapped(ci, ci->daddr, d);
		if (memcmp(s, f->addr, 16) && memcmp(d, f->addr, 16))
			return false;
	}
	return true;
}

/* ---- the record source ---------------------------------------------- */

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

/* Set by SIGINT and SIGTERM: lock-free, so a signal handler may store it. */
static atomic_int tf_stop;

static void on_signal(int sig)
{
	(void)sig;
	tf_stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocked read() returns EINTR and we exit 0. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int src_open_dev(struct tf_src *s, const struct tf_filter *flt)
{
	struct tcpflow_filter kf = { 0 };
	__u32 abi = 0;

	s->name = TCPFLOW_DEV;
	s->dev = true;
	s->fd = open(TCPFLOW_DEV, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			tf_err("%s not found: load the module (insmod tcpflow.ko)",
			       TCPFLOW_DEV);
		else if (errno == EACCES || errno == EPERM)
			tf_err("%s: permission denied: tcpflowctl needs root (CAP_NET_ADMIN to see every namespace)",
			       TCPFLOW_DEV);
		else
			tf_err("%s: %s", TCPFLOW_DEV, strerror(errno));
		return -1;
	}
	if (ioctl(s->fd, TCPFLOW_IOC_VERSION, &abi) < 0) {
		tf_err("%s: TCPFLOW_IOC_VERSION: %s", TCPFLOW_DEV,
		       strerror(errno));
		return -1;
	}
	if (abi != TCPFLOW_ABI_VERSION) {
		tf_err("%s speaks ABI %u, this tcpflowctl ABI %d: use the tcpflowctl built with the loaded module",
		       TCPFLOW_DEV, abi, TCPFLOW_ABI_VERSION);
		return -1;
	}
	if (!flt)
		return 0;
	/* The kernel filters what it can; filter_match() does the rest. */
	if (flt->netns_set) {
		kf.flags |= TCPFLOW_FILTER_NETNS;
		kf.netns = flt->netns;
	}
	if (flt->port_set) {
		kf.flags |= TCPFLOW_FILTER_PORT;
		kf.port = flt->port;
	}
	if (flt->state_mask) {
		kf.flags |= TCPFLOW_FILTER_STATE;
		kf.state_mask = flt->state_mask;
	}
	if (kf.flags && ioctl(s->fd, TCPFLOW_IOC_SET_FILTER, &kf) < 0 &&
	    errno != ENOTTY && errno != EINVAL) {
		tf_err("%s: TCPFLOW_IOC_SET_FILTER: %s", TCPFLOW_DEV,
		       strerror(errno));
		return -1;
	}
	return 0;
}

static int src_open(struct tf_src *s, const struct tf_opts *o,
		    const struct tf_filter *kernel_flt)
{
	memset(s, 0, sizeof(*s));
	s->buf = xrealloc(NULL, TCPFLOW_BUF_SIZE);
	if (!o->file)
		return src_open_dev(s, kernel_flt);
	s->name = o->file;
	if (!strcmp(o->file, "-")) {
		s->fd = STDIN_FILENO;
		s->name = "stdin";
		return 0;
	}
	s->fd = open(o->file, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		tf_err("%s: %s", o->file, strerror(errno));
		return -1;
	}
	return 0;
}

static size_t rec_payload_size(unsigned int type)
{
	switch (type) {
	case TCPFLOW_REC_CONN:
		return sizeof(struct tcpflow_conn_info);
	case TCPFLOW_REC_EVENT:
		return sizeof(struct tcpflow_event);
	case TCPFLOW_REC_SYNC:
		return sizeof(struct tcpflow_sync);
	case TCPFLOW_REC_LOSS:
		return sizeof(struct tcpflow_loss);
	}
	return 0;
}

/* Reads until buf holds `want` bytes from off: 1, 0 at EOF, -1 on error. */
static int src_fill(struct tf_src *s, size_t want)
{
	ssize_t n;

	while (s->len - s->off < want) {
		if (s->off) {
			memmove(s->buf, s->buf + s->off, s->len - s->off);
			s->len -= s->off;
			s->pos += s->off;
			s->off = 0;
		}
		if (tf_stop)
			return 0;
		n = read(s->fd, s->buf + s->len, TCPFLOW_BUF_SIZE - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			tf_err("%s: read: %s", s->name, strerror(errno));
			return -1;
		}
		if (!n)
			return 0;
		s->len += n;
	}
	return 1;
}

/*
 * The next record: 1, 0 at the end of the stream (or on SIGINT), -1 on a
 * truncated or corrupt stream (reported).  A type this tool does not know
 * is returned with an empty payload, for its callers to skip (or dump):
 * newer modules may add some.
 */
static int src_next(struct tf_src *s, struct tf_rec *r)
{
	size_t want;
	int ret;

	for (;;) {
		memset(&r->p, 0, sizeof(r->p));
		ret = src_fill(s, sizeof(r->hdr));
		if (ret <= 0) {
			if (!ret && s->len > s->off && !tf_stop) {
				tf_err("%s: truncated record at offset %llu",
				       s->name, s->pos + s->off);
				return -1;
			}
			return ret;
		}
		memcpy(&r->hdr, s->buf + s->off, sizeof(r->hdr));
		if (r->hdr.size < sizeof(r->hdr) || r->hdr.size % 8) {
			tf_err("%s: corrupt record at offset %llu: size %u",
			       s->name, s->pos + s->off, r->hdr.size);
			return -1;
		}
		want = rec_payload_size(r->hdr.type);
		if (want && r->hdr.size != sizeof(r->hdr) + want) {
			tf_err("%s: corrupt record at offset %llu: type %u size %u, expected %zu",
			       s->name, s->pos + s->off, r->hdr.type,
			       r->hdr.size, sizeof(r->hdr) + want);
			return -1;
		}
		ret = src_fill(s, r->hdr.size);
		if (ret <= 0) {
			if (!tf_stop && ret == 0)
				tf_err("%s: truncated record at offset %llu",
				       s->name, s->pos + s->off);
			return tf_stop ? 0 : -1;
		}
		r->raw = s->buf + s->off;
		s->off += r->hdr.size;
		memcpy(&r->p, r->raw + sizeof(r->hdr), want);
		return 1;
	}
}

/* ---- the snapshot --------------------------------------------------- */

struct tf_conn {
	struct tcpflow_conn_info info;
	struct tcpflow_event *ev;
	size_t nev;
};

struct tf_snap {
	struct tf_conn *conns;
	size_t n;
	unsigned long long now_ns;
	unsigned long long lost;	/* LOSS records before the SYNC */
};

static int conn_cmp_id(const void *a, const void *b)
{
	const struct tf_conn *x = a, *y = b;

	return x->info.id < y->info.id ? -1 : x->info.id > y->info.id;
}

static struct tf_conn *snap_find(const struct tf_snap *sn,
				 unsigned long long id)
{
	struct tf_conn key = { .info.id = id };

	return bsearch(&key, sn->conns, sn->n, sizeof(key), conn_cmp_id);
}

/* Reads the snapshot up to and including SYNC: 0, or -1 (reported). */
static int snap_load(struct tf_src *s, struct tf_snap *sn)
{
	struct tf_rec r;
	size_t cur = SIZE_MAX, i;
	struct tf_conn *c;
	int ret;

	memset(sn, 0, sizeof(*sn));
	while ((ret = src_next(s, &r)) > 0) {
		switch (r.hdr.type) {
		case TCPFLOW_REC_CONN:
			sn->conns = xrealloc(sn->conns, (sn->n + 1) *
					     sizeof(*sn->conns));
			cur = sn->n++;
			memset(&sn->conns[cur], 0, sizeof(sn->conns[cur]));
			sn->conns[cur].info = r.p.conn;
			break;
		case TCPFLOW_REC_EVENT:
			if (cur == SIZE_MAX ||
			    sn->conns[cur].info.id != r.hdr.conn_id) {
				for (i = 0; i < sn->n; i++)
					if (sn->conns[i].info.id == r.hdr.conn_id)
						break;
				if (i == sn->n) {
					tf_err("%s: corrupt stream: event for unknown connection %llu",
					       s->name,
					       (unsigned long long)r.hdr.conn_id);
					return -1;
				}
				cur = i;
			}
			c = &sn->conns[cur];
			c->ev = xrealloc(c->ev, (c->nev + 1) * sizeof(*c->ev));
			c->ev[c->nev++] = r.p.ev;
			break;
		case TCPFLOW_REC_LOSS:
			sn->lost += r.p.loss.events;
			break;
		case TCPFLOW_REC_SYNC:
			sn->now_ns = r.p.sync.now_ns;
			qsort(sn->conns, sn->n, sizeof(*sn->conns),
			      conn_cmp_id);
			return 0;
		}
	}
	if (!ret)
		tf_err("%s: truncated: the stream ends before its SYNC record",
		       s->name);
	return -1;
}

/* t_ns of the last state change: when the current state began. */
static unsigned long long conn_since(const struct tf_conn *c)
{
	size_t i = c->nev;

	while (i--)
		if (c->ev[i].type == TCPFLOW_EV_STATE)
			return c->ev[i].t_ns;
	return c->info.first_ns;
}

static unsigned long long conn_age(const struct tf_snap *sn,
				   const struct tf_conn *c)
{
	unsigned long long since = conn_since(c);

	return sn->now_ns > since ? sn->now_ns - since : 0;
}

static const struct tcpflow_event *find_state(const struct tf_conn *c,
					      int old, int new)
{
	size_t i;

	for (i = 0; i < c->nev; i++)
		if (c->ev[i].type == TCPFLOW_EV_STATE &&
		    (old < 0 || c->ev[i].a == old) && c->ev[i].b == new)
			return &c->ev[i];
	return NULL;
}

/*
 * Handshake time: a client's SYN_SENT -> ESTABLISHED; a server's first
 * received SYN (when segments are recorded) or LISTEN -> SYN_RECV, to
 * SYN_RECV -> ESTABLISHED.  -1 when unknown.
 */
static long long conn_handshake(const struct tf_conn *c)
{
	const struct tcpflow_event *from = NULL, *to;
	size_t i;

	if (c->info.role == TCPFLOW_ROLE_CLIENT) {
		from = find_state(c, -1, TCPFLOW_SYN_SENT);
		to = find_state(c, TCPFLOW_SYN_SENT, TCPFLOW_ESTABLISHED);
	} else if (c->info.role == TCPFLOW_ROLE_SERVER) {
		for (i = 0; i < c->nev && !from; i++)
			if (c->ev[i].type == TCPFLOW_EV_SEGMENT &&
			    c->ev[i].a == TCPFLOW_DIR_RX &&
			    (c->ev[i].flags & TCPFLOW_TCP_SYN))
				from = &c->ev[i];
		if (!from)
			from = find_state(c, TCPFLOW_LISTEN, TCPFLOW_SYN_RECV);
		to = find_state(c, TCPFLOW_SYN_RECV, TCPFLOW_ESTABLISHED);
	} else {
		return -1;
	}
	if (!from || !to || to->t_ns < from->t_ns)
		return -1;
	return to->t_ns - from->t_ns;
}

/* A segment as the ladder and follow show it: seq/ack relative to the ISNs. */
static const char *fmt_segment(char *buf, size_t len,
			       const struct tcpflow_conn_info *ci,
			       const struct tcpflow_event *e)
{
	bool tx = e->a == TCPFLOW_DIR_TX;
	bool lknown = ci->flags & TCPFLOW_CONN_ISN_LOCAL;
	bool rknown = ci->flags & TCPFLOW_CONN_ISN_REMOTE;
	/* Numbers stay absolute where the ISN was never seen. */
	__u32 sbase = tx ? (lknown ? ci->isn_local : 0) :
			   (rknown ? ci->isn_remote : 0);
	__u32 abase = tx ? (rknown ? ci->isn_remote : 0) :
			   (lknown ? ci->isn_local : 0);
	char flags[48];
	size_t off;

	tcp_flags_str(flags, sizeof(flags), e->flags);
	off = snprintf(buf, len, "%s seq=%u", flags,
		       e->seq - sbase);
	if ((e->flags & TCPFLOW_TCP_ACK) && off < len)
		off += snprintf(buf + off, len - off, " ack=%u",
				e->ack - abase);
	if (off < len)
		off += snprintf(buf + off, len - off, " win=%u", e->win);
	if (e->len && off < len)
		off += snprintf(buf + off, len - off, " len=%u", e->len);
	if (e->b && off < len)
		snprintf(buf + off, len - off, " retrans=%u", e->b);
	return buf;
}

/* ---- JSON objects --------------------------------------------------- */

static void js_event(const struct tcpflow_event *e)
{
	char flags[48], st[TF_STATE_LEN];

	js_u64("t_ns", e->t_ns);
	switch (e->type) {
	case TCPFLOW_EV_STATE:
		js_str("type", "state");
		js_str("old", state_name(st, e->a));
		js_str("new", state_name(st, e->b));
		break;
	case TCPFLOW_EV_SEGMENT:
		js_str("type", "segment");
		js_str("dir", e->a == TCPFLOW_DIR_TX ? "tx" : "rx");
		js_str("flags", tcp_flags_str(flags, sizeof(flags), e->flags));
		js_u64("seq", e->seq);
		js_u64("ack", e->ack);
		js_u64("win", e->win);
		js_u64("len", e->len);
		js_u64("retrans", e->b);
		break;
	default:
		js_str("type", "unknown");
		js_u64("code", e->type);
		break;
	}
}

/* The connection's fields, without the braces (follow adds its own). */
static void js_conn_fields(const struct tcpflow_conn_info *ci)
{
	char a[INET6_ADDRSTRLEN], comm[17], st[TF_STATE_LEN];

	js_u64("id", ci->id);
	js_u64("cookie", ci->cookie);
	js_u64("netns", ci->netns);
	js_str("family", ci->family == AF_INET6 ? "inet6" : "inet");
	js_str("saddr", fmt_addr(a, sizeof(a), ci->family, ci->saddr));
	js_u64("sport", ci->sport);
	js_str("daddr", fmt_addr(a, sizeof(a), ci->family, ci->daddr));
	js_u64("dport", ci->dport);
	js_str("role", role_name(ci->role));
	js_str("state", state_name(st, ci->state));
	js_u64("pid", ci->pid);
	memcpy(comm, ci->comm, 16);
	comm[16] = '\0';
	js_str("comm", comm);
}

static void js_conn(const struct tf_snap *sn, const struct tf_conn *c)
{
	const struct tcpflow_conn_info *ci = &c->info;
	long long hs = conn_handshake(c);
	size_t i;

	js_open('{');
	js_conn_fields(ci);
	js_u64("state_age_ns", conn_age(sn, c));
	js_bool("preexisting", ci->flags & TCPFLOW_CONN_PREEXISTING);
	js_bool("closed", ci->flags & TCPFLOW_CONN_CLOSED);
	js_bool("partial", ci->flags & TCPFLOW_CONN_PARTIAL);
	js_bool("request", ci->flags & TCPFLOW_CONN_REQUEST);
	js_bool("duplicate", ci->flags & TCPFLOW_CONN_DUPLICATE);
	js_bool("stale", ci->flags & TCPFLOW_CONN_STALE);
	js_u64("parent_id", ci->parent_id);
	js_u64("dropped_events", ci->dropped_events);
	if (hs < 0)
		js_null("handshake_ns");
	else
		js_u64("handshake_ns", hs);
	js_u64("first_ns", ci->first_ns);
	js_u64("isn_local", ci->isn_local);
	js_u64("isn_remote", ci->isn_remote);
	js_u64("bytes_acked", ci->bytes_acked);
	js_u64("bytes_received", ci->bytes_received);
	js_key("events");
	js_open('[');
	for (i = 0; i < c->nev; i++) {
		js_open('{');
		js_event(&c->ev[i]);
		js_close('}');
	}
	js_close(']');
	js_close('}');
}

static void js_loss(unsigned long long n)
{
	js_open('{');
	js_str("type", "loss");
	js_u64("events", n);
	js_close('}');
}

/* ---- list ----------------------------------------------------------- */

static bool list_wants(const struct tf_opts *o, const struct tf_conn *c)
{
	if (!o->all && (c->info.flags & TCPFLOW_CONN_CLOSED))
		return false;
	return filter_match(&o->flt, &c->info);
}

static int cmd_list(const struct tf_snap *sn, const struct tf_opts *o)
{
	static const char * const head[] = {
		"ID", "State", "Age", "Local Address:Port",
		"Peer Address:Port", "Netns", "Role", "Handshake", "Process",
	};
	struct tf_table t = { 9, head, "rllllrlll", NULL, 0 };
	char id[24], age[24], l[64], p[64], ns[16], hs[24], own[40];
	char st[TF_STATE_LEN];
	const struct tf_conn *c;
	long long h;
	size_t i;

	if (sn->lost && !tf_json)
		printf("# lost %llu events\n", sn->lost);
	else if (sn->lost)
		js_loss(sn->lost);
	for (i = 0; i < sn->n; i++) {
		c = &sn->conns[i];
		if (!list_wants(o, c))
			continue;
		if (tf_json) {
			js_conn(sn, c);
			continue;
		}
		h = conn_handshake(c);
		snprintf(id, sizeof(id), "%llu", (unsigned long long)c->info.id);
		snprintf(ns, sizeof(ns), "%u", c->info.netns);
		tbl_add(&t, id, state_name(st, c->info.state),
			fmt_dur(age, sizeof(age), conn_age(sn, c)),
			fmt_ep(l, sizeof(l), c->info.family, c->info.saddr,
			       c->info.sport),
			fmt_ep(p, sizeof(p), c->info.family, c->info.daddr,
			       c->info.dport),
			ns, c->info.role != TCPFLOW_ROLE_UNKNOWN &&
			(c->info.flags & TCPFLOW_CONN_REQUEST) ? "request" :
			role_name(c->info.role),
			h < 0 ? "-" : fmt_dur(hs, sizeof(hs), h),
			fmt_owner(own, sizeof(own), &c->info));
	}
	if (!tf_json)
		tbl_print(&t, o->header);
	return 0;
}

/* ---- show: the ladder diagram --------------------------------------- */

static bool conn_mirrors(const struct tcpflow_conn_info *a,
			 const struct tcpflow_conn_info *b)
{
	size_t n = a->family == AF_INET6 ? 16 : 4;

	return a->id != b->id && a->family == b->family &&
	       a->sport == b->dport && a->dport == b->sport && a->dport &&
	       !memcmp(a->saddr, b->daddr, n) && !memcmp(a->daddr, b->saddr, n);
}

/* The other end on this host: the mirrored tuple opened closest in time. */
static const struct tf_conn *snap_peer(const struct tf_snap *sn,
				       const struct tf_conn *c)
{
	const struct tf_conn *best = NULL;
	unsigned long long d, bestd = ULLONG_MAX;
	size_t i;

	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *o = &sn->conns[i];

		if (!conn_mirrors(&c->info, &o->info))
			continue;
		d = o->info.first_ns > c->info.first_ns ?
		    o->info.first_ns - c->info.first_ns :
		    c->info.first_ns - o->info.first_ns;
		if (d < bestd) {
			best = o;
			bestd = d;
		}
	}
	return best;
}

static void show_summary(const struct tf_snap *sn, const struct tf_conn *c)
{
	const struct tcpflow_conn_info *ci = &c->info;
	char l[64], p[64], age[24], comm[17], st[TF_STATE_LEN];
	long long hs = conn_handshake(c);

	printf("conn %llu %s %s %s %s %s netns=%u sk=%llx",
	       (unsigned long long)ci->id, role_name(ci->role),
	       fmt_ep(l, sizeof(l), ci->family, ci->saddr, ci->sport),
	       fmt_ep(p, sizeof(p), ci->family, ci->daddr, ci->dport),
	       state_name(st, ci->state),
	       fmt_dur(age, sizeof(age), conn_age(sn, c)),
	       ci->netns, (unsigned long long)ci->cookie);
	if (ci->parent_id)
		printf(" listener=%llu", (unsigned long long)ci->parent_id);
	if (hs >= 0)
		printf(" handshake=%s", fmt_dur(age, sizeof(age), hs));
	if (ci->flags & TCPFLOW_CONN_PREEXISTING)
		fputs(" preexisting", stdout);
	if (ci->flags & TCPFLOW_CONN_PARTIAL)
		fputs(" partial", stdout);
	if (ci->flags & TCPFLOW_CONN_REQUEST)
		fputs(" request", stdout);
	if (ci->flags & TCPFLOW_CONN_DUPLICATE)
		fputs(" duplicate", stdout);
	if (ci->flags & TCPFLOW_CONN_STALE)
		fputs(" stale", stdout);
	if (ci->flags & TCPFLOW_CONN_CLOSED)
		fputs(" closed", stdout);
	if (ci->dropped_events)
		printf(" dropped=%u", ci->dropped_events);
	if (ci->pid)
		printf(" pid=%u comm=%s", ci->pid,
		       fmt_comm(comm, sizeof(comm), ci->comm));
	putchar('\n');
}

/* One row of the ladder: an event of one end, or a gap in a history. */
struct tf_row {
	unsigned long long t;
	int side;			/* 0: left column, 1: right */
	const struct tcpflow_event *e;	/* NULL: the gap row */
	unsigned int dropped;
	bool merged;			/* an rx drawn with its tx */
};

static void rows_add(struct tf_row **rows, size_t *n, const struct tf_conn *c,
		     int side)
{
	size_t i, gap = c->info.dropped_events ? c->nev / 2 : SIZE_MAX;

	*rows = xrealloc(*rows, (*n + c->nev + 1) * sizeof(**rows));
	for (i = 0; i < c->nev; i++) {
		if (i == gap)
			(*rows)[(*n)++] = (struct tf_row){
				.t = c->ev[i].t_ns, .side = side,
				.dropped = c->info.dropped_events };
		(*rows)[(*n)++] = (struct tf_row){ .t = c->ev[i].t_ns,
						   .side = side,
						   .e = &c->ev[i] };
	}
}

static int row_cmp(const void *a, const void *b)
{
	const struct tf_row *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->side != y->side)
		return x->side - y->side;
	return x < y ? -1 : x > y;	/* stable: rows_add kept order */
}

/*
 * Both ends recorded: a segment one end sent and the other received is one
 * arrow, drawn when it was sent.  The receive is found by its raw fields.
 */
static void rows_merge(struct tf_row *rows, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		const struct tcpflow_event *tx = rows[i].e;

		if (!tx || tx->type != TCPFLOW_EV_SEGMENT ||
		    tx->a != TCPFLOW_DIR_TX)
			continue;
		for (j = i + 1; j < n; j++) {
			const struct tcpflow_event *rx = rows[j].e;

			if (rx && !rows[j].merged && rows[j].side != rows[i].side &&
			    rx->type == TCPFLOW_EV_SEGMENT &&
			    rx->a == TCPFLOW_DIR_RX && rx->flags == tx->flags &&
			    rx->seq == tx->seq && rx->ack == tx->ack &&
			    rx->len == tx->len) {
				rows[j].merged = true;
				break;
			}
		}
	}
}

#define LADDER_STATE_W 12		/* strlen("NEW_SYN_RECV") */

/* An arrow `width` wide with its label in the middle. */
static void put_arrow(const char *label, int width, bool right)
{
	int len = strlen(label) + 2, left, i;

	left = (width - 1 - len) / 2;
	if (!right) {
		putchar('<');
		left = width - 1 - len - left;
	}
	for (i = 0; i < left; i++)
		putchar('-');
	printf(" %s ", label);
	for (i = left + len + 1; i < width; i++)
		putchar('-');
	if (right)
		putchar('>');
}

static void ladder(const struct tf_snap *sn, const struct tf_conn *a,
		   const struct tf_conn *b)
{
	const struct tf_conn *end[2] = { a, b };
	char ts[32], label[160], l[64], r[64], stbuf[TF_STATE_LEN];
	struct tf_row *rows = NULL;
	size_t n = 0, i;
	int tw = 8, aw = 30, len;
	char rbar = b ? '|' : ':';
	unsigned long long t0;

	(void)sn;
	rows_add(&rows, &n, a, 0);
	if (b)
		rows_add(&rows, &n, b, 1);
	if (!n) {
		printf("\nno events recorded: %s\n",
		       (a->info.flags & TCPFLOW_CONN_PREEXISTING) ?
		       "the connection predates the module" :
		       "its history was lost");
		free(rows);
		return;
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	if (b)
		rows_merge(rows, n);
	t0 = rows[0].t;

	/* Column widths: the widest time and the longest arrow label. */
	for (i = 0; i < n; i++) {
		const struct tcpflow_event *e = rows[i].e;

		len = strlen(fmt_secs(ts, sizeof(ts), rows[i].t - t0));
		if (len > tw)
			tw = len;
		if (!e)
			len = snprintf(label, sizeof(label),
				       "... %u events dropped ...",
				       rows[i].dropped);
		else if (e->type == TCPFLOW_EV_SEGMENT)
			len = strlen(fmt_segment(label, sizeof(label),
						 &end[rows[i].side]->info, e));
		else
			continue;
		if (len + 8 > aw)
			aw = len + 8;
	}

	putchar('\n');
	fmt_ep(l, sizeof(l), a->info.family, a->info.saddr, a->info.sport);
	fmt_ep(r, sizeof(r), a->info.family, a->info.daddr, a->info.dport);
	printf("%*s%*s%s\n", tw + 2 + LADDER_STATE_W, l, aw + 4, "", r);
	snprintf(l, sizeof(l), "%s %llu", role_name(a->info.role),
		 (unsigned long long)a->info.id);
	if (b)
		snprintf(r, sizeof(r), "%s %llu", role_name(b->info.role),
			 (unsigned long long)b->info.id);
	else
		snprintf(r, sizeof(r), "remote, not recorded");
	printf("%*s  %*s |%*s%c %s\n", tw, "time (s)", LADDER_STATE_W, l, aw,
	       "", rbar, r);

	for (i = 0; i < n; i++) {
		const struct tf_row *row = &rows[i];
		const struct tcpflow_event *e = row->e;
		const char *st = "";

		if (row->merged)
			continue;
		if (e && e->type == TCPFLOW_EV_STATE)
			st = state_name(stbuf, e->b);
		printf("%*s  %*s |", tw,
		       e ? fmt_secs(ts, sizeof(ts), row->t - t0) : "",
		       LADDER_STATE_W, row->side == 0 ? st : "");
		if (!e) {
			snprintf(label, sizeof(label),
				 "... %u events dropped ...", row->dropped);
			printf("%*s%*s", (aw + (int)strlen(label)) / 2, label,
			       aw - (aw + (int)strlen(label)) / 2, "");
		} else if (e->type == TCPFLOW_EV_SEGMENT) {
			/* tx goes away from its end, rx comes to it */
			bool right = (row->side == 0) == (e->a == TCPFLOW_DIR_TX);

			fmt_segment(label, sizeof(label),
				    &end[row->side]->info, e);
			put_arrow(label, aw, right);
		} else if (e->type != TCPFLOW_EV_STATE) {
			snprintf(label, sizeof(label), "event type %u",
				 e->type);
			printf("%-*s", aw, label);
		} else {
			printf("%*s", aw, "");
		}
		if (row->side == 1 && *st)
			printf("%c %s\n", rbar, st);
		else
			printf("%c\n", rbar);
	}
	free(rows);
}

/* ADDR:PORT, [V6]:PORT: the address in filter form, and the port. */
static bool parse_ep(const char *s, __u8 *addr, unsigned int *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p;
	char buf[64];

	if (!colon || (size_t)(colon - s) >= sizeof(buf) ||
	    !parse_ulong(colon + 1, 65535, &p))
		return false;
	memcpy(buf, s, colon - s);
	buf[colon - s] = '\0';
	*port = p;
	return parse_addr(buf, addr);
}

static const struct tf_conn *show_find(const struct tf_snap *sn,
				       char **args, int nargs)
{
	unsigned int lport, pport;
	__u8 la[16], pa[16], s[16], d[16];
	unsigned long id;
	size_t i;

	if (nargs == 1) {
		const struct tf_conn *c;

		if (!parse_ulong(args[0], ULONG_MAX, &id)) {
			tf_err("show: bad connection id '%s'", args[0]);
			exit(EXIT_USAGE);
		}
		c = snap_find(sn, id);
		if (!c)
			tf_err("no connection with id %lu", id);
		return c;
	}
	if (!parse_ep(args[0], la, &lport) || !parse_ep(args[1], pa, &pport)) {
		tf_err("show: bad endpoint: expected ADDR:PORT ADDR:PORT ([ADDR]:PORT for IPv6)");
		exit(EXIT_USAGE);
	}
	/* The newest connection with this tuple: ports get reused. */
	for (i = sn->n; i--;) {
		const struct tf_conn *c = &sn->conns[i];

		addr_mapped(&c->info, c->info.saddr, s);
		addr_mapped(&c->info, c->info.daddr, d);
		if (c->info.sport == lport && c->info.dport == pport &&
		    !memcmp(s, la, 16) && !memcmp(d, pa, 16))
			return c;
	}
	tf_err("no connection %s %s", args[0], args[1]);
	return NULL;
}

static int cmd_show(const struct tf_snap *sn, char **args, int nargs)
{
	const struct tf_conn *c, *peer;

	if (nargs != 1 && nargs != 2) {
		tf_err("show: expected ID, or LOCAL PEER as ADDR:PORT ADDR:PORT");
		return EXIT_USAGE;
	}
	c = show_find(sn, args, nargs);
	if (!c)
		return 1;
	peer = snap_peer(sn, c);
	if (tf_json) {
		js_conn(sn, c);
		return 0;
	}
	show_summary(sn, c);
	if (peer)
		show_summary(sn, peer);
	ladder(sn, c, peer);
	return 0;
}

/* ---- follow and dump ------------------------------------------------ */

static const char * const follow_head[] = {
	"Time", "ID", "Local Address:Port", "Peer Address:Port", "Process",
	"Event",
};

static void follow_line(unsigned long long t0, const struct tcpflow_conn_info *ci,
			const struct tcpflow_event *e)
{
	char ts[32], l[64], p[64], own[40], ev[160];
	char old[TF_STATE_LEN], new[TF_STATE_LEN];
	unsigned long long t = e->t_ns;

	if (tf_json) {
		js_open('{');
		js_event(e);
		js_conn_fields(ci);
		js_close('}');
		fflush(stdout);
		return;
	}
	if (t >= t0)
		snprintf(ts, sizeof(ts), "+");
	else
		snprintf(ts, sizeof(ts), "-");
	fmt_secs(ts + 1, sizeof(ts) - 1, t >= t0 ? t - t0 : t0 - t);
	if (e->type == TCPFLOW_EV_STATE) {
		snprintf(ev, sizeof(ev), "%s -> %s", state_name(old, e->a),
			 state_name(new, e->b));
	} else if (e->type == TCPFLOW_EV_SEGMENT) {
		snprintf(ev, sizeof(ev), "%s ",
			 e->a == TCPFLOW_DIR_TX ? "tx" : "rx");
		fmt_segment(ev + 3, sizeof(ev) - 3, ci, e);
	} else {
		snprintf(ev, sizeof(ev), "event type %u", e->type);
	}
	printf("%12s  %5llu  %-21s  %-21s  %-20s  %s\n", ts,
	       (unsigned long long)ci->id,
	       fmt_ep(l, sizeof(l), ci->family, ci->saddr, ci->sport),
	       fmt_ep(p, sizeof(p), ci->family, ci->daddr, ci->dport),
	       fmt_owner(own, sizeof(own), ci), ev);
	fflush(stdout);
}

/*
 * The live stream: each event comes as CONN (the connection after it) then
 * EVENT.  Runs until SIGINT, or the end of a recording.
 */
static int cmd_follow(struct tf_src *s, const struct tf_opts *o)
{
	struct tcpflow_conn_info ci = { 0 };
	unsigned long long t0 = 0;
	bool synced = false;
	struct tf_rec r;
	int ret;

	catch_signals();
	if (!tf_json && o->header)
		printf("%12s  %5s  %-21s  %-21s  %-20s  %s\n", follow_head[0],
		       follow_head[1], follow_head[2], follow_head[3],
		       follow_head[4], follow_head[5]);
	fflush(stdout);
	while ((ret = src_next(s, &r)) > 0) {
		switch (r.hdr.type) {
		case TCPFLOW_REC_SYNC:
			if (!synced)
				t0 = r.p.sync.now_ns;
			synced = true;
			break;
		case TCPFLOW_REC_CONN:
			ci = r.p.conn;
			break;
		case TCPFLOW_REC_EVENT:
			if (!synced)
				break;
			if (ci.id != r.hdr.conn_id) {
				memset(&ci, 0, sizeof(ci));
				ci.id = r.hdr.conn_id;
			}
			if (filter_match(&o->flt, &ci))
				follow_line(t0, &ci, &r.p.ev);
			break;
		case TCPFLOW_REC_LOSS:
			if (tf_json)
				js_loss(r.p.loss.events);
			else
				printf("# lost %llu events\n",
				       (unsigned long long)r.p.loss.events);
			fflush(stdout);
			break;
		}
	}
	if (ret < 0)
		return 1;
	if (!synced && !tf_stop) {
		tf_err("%s: truncated: the stream ends before its SYNC record",
		       s->name);
		return 1;
	}
	return 0;
}

static void dump_json(const struct tf_rec *r)
{
	js_open('{');
	switch (r->hdr.type) {
	case TCPFLOW_REC_CONN:
		js_str("type", "conn");
		js_conn_fields(&r->p.conn);
		js_u64("flags", r->p.conn.flags);
		js_u64("nevents", r->p.conn.nevents);
		js_u64("dropped_events", r->p.conn.dropped_events);
		js_u64("parent_id", r->p.conn.parent_id);
		js_u64("first_ns", r->p.conn.first_ns);
		js_u64("isn_local", r->p.conn.isn_local);
		js_u64("isn_remote", r->p.conn.isn_remote);
		break;
	case TCPFLOW_REC_EVENT:
		js_str("type", "event");
		js_u64("id", r->hdr.conn_id);
		js_key("event");
		js_open('{');
		js_event(&r->p.ev);
		js_close('}');
		break;
	case TCPFLOW_REC_SYNC:
		js_str("type", "sync");
		js_u64("now_ns", r->p.sync.now_ns);
		break;
	case TCPFLOW_REC_LOSS:
		js_str("type", "loss");
		js_u64("events", r->p.loss.events);
		break;
	default:
		js_str("type", "unknown");
		js_u64("rec_type", r->hdr.type);
		js_u64("size", r->hdr.size);
		break;
	}
	js_close('}');
}

/* The raw records (a recording -f reads back), or decoded with -j. */
static int cmd_dump(struct tf_src *s, const struct tf_opts *o)
{
	struct tf_rec r;
	int ret;

	if (!tf_json && isatty(STDOUT_FILENO)) {
		tf_err("dump writes binary records: redirect it to a file (or use -j)");
		return 1;
	}
	catch_signals();
	while ((ret = src_next(s, &r)) > 0) {
		if (tf_json)
			dump_json(&r);
		else if (fwrite(r.raw, 1, r.hdr.size, stdout) != r.hdr.size)
			break;
		if (o->follow)
			fflush(stdout);
		if (r.hdr.type == TCPFLOW_REC_SYNC && !o->follow)
			break;
	}
	if (fflush(stdout) || ferror(stdout)) {
		tf_err("stdout: %s", strerror(errno));
		return 1;
	}
	if (ret < 0)
		return 1;
	if (!ret && !o->follow && !tf_stop) {
		tf_err("%s: truncated: the stream ends before its SYNC record",
		       s->name);
		return 1;
	}
	return 0;
}

/* ---- leaks ---------------------------------------------------------- */

/* What the kernel says now about a socket, found by its cookie. */
struct tf_diag {
	unsigned long long cookie;
	unsigned int inode, rqueue;
};

/* CLOSE_WAIT sockets of this netns, both families; -1 if unavailable. */
static int diag_close_wait(struct tf_diag **out, size_t *n)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	long buf[8192 / sizeof(long)];
	size_t f;
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	for (f = 0; f < 2; f++) {
		struct {
			struct nlmsghdr nlh;
			struct inet_diag_req_v2 r;
		} req = {
			.nlh = {
				.nlmsg_len = sizeof(req),
				.nlmsg_type = SOCK_DIAG_BY_FAMILY,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = f + 1,
			},
			.r = {
				.sdiag_family = families[f],
				.sdiag_protocol = IPPROTO_TCP,
				.idiag_states = 1U << TCPFLOW_CLOSE_WAIT,
			},
		};
		bool done = false;

		if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl,
			   sizeof(nl)) < 0)
			goto err;
		while (!done) {
			ssize_t len = recv(fd, buf, sizeof(buf), 0);
			struct nlmsghdr *h = (struct nlmsghdr *)buf;

			if (len < 0 && errno == EINTR)
				continue;
			if (len <= 0)
				goto err;
			for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
				struct inet_diag_msg *m = NLMSG_DATA(h);

				if (h->nlmsg_type == NLMSG_DONE) {
					done = true;
					break;
				}
				if (h->nlmsg_type == NLMSG_ERROR)
					goto err;
				*out = xrealloc(*out, (*n + 1) * sizeof(**out));
				(*out)[(*n)++] = (struct tf_diag){
					.cookie = m->id.idiag_cookie[0] |
						  (unsigned long long)m->id.idiag_cookie[1] << 32,
					.inode = m->idiag_inode,
					.rqueue = m->idiag_rqueue,
				};
			}
		}
	}
	close(fd);
	return 0;
err:
	close(fd);
	return -1;
}

/* "pid/comm[,pid/comm...]" of the processes with socket:[inode] open. */
static void proc_owners(unsigned int inode, char *out, size_t len)
{
	char path[600], link[64], want[32], comm[32];
	struct dirent *p, *fd;
	size_t off = 0;
	DIR *proc, *fds;
	ssize_t n;
	FILE *f;

	snprintf(out, len, "-");
	snprintf(want, sizeof(want), "socket:[%u]", inode);
	proc = opendir("/proc");
	if (!proc || !inode) {
		if (proc)
			closedir(proc);
		return;
	}
	while ((p = readdir(proc)) && off < len) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fd = readdir(fds))) {
			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
				 p->d_name, fd->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/comm",
				 p->d_name);
			f = fopen(path, "r");
			if (!f || !fgets(comm, sizeof(comm), f))
				snprintf(comm, sizeof(comm), "?");
			if (f)
				fclose(f);
			comm[strcspn(comm, "\n")] = '\0';
			off += snprintf(out + off, len - off, "%s%s/%s",
					off ? "," : "", p->d_name, comm);
			break;
		}
		closedir(fds);
	}
	closedir(proc);
}

struct tf_leak {
	const struct tf_conn *c;
	unsigned long long age;
	bool known;			/* has a ->CLOSE_WAIT event */
	const struct tf_diag *now;
	char owners[256];
};

static int leak_cmp(const void *a, const void *b)
{
	const struct tf_leak *x = a, *y = b;

	if (x->age != y->age)
		return x->age > y->age ? -1 : 1;
	return x->c->info.id < y->c->info.id ? -1 : 1;
}

static void leaks_close_wait(struct tf_leak *lk, size_t n, bool live,
			     const struct tf_opts *o)
{
	static const char * const head_dev[] = {
		"ID", "Since FIN", "Local Address:Port", "Peer Address:Port",
		"Netns", "Recorded owner", "Owner now", "Unread",
	};
	struct tf_table t = { live ? 8 : 6, head_dev, "rlllrllr", NULL, 0 };
	char id[24], age[64], l[64], p[64], ns[16], own[40], rq[16];
	size_t i;

	if (tf_json) {
		for (i = 0; i < n; i++) {
			const struct tcpflow_conn_info *ci = &lk[i].c->info;

			js_open('{');
			js_str("type", "close_wait");
			js_conn_fields(ci);
			js_u64("close_wait_ns", lk[i].age);
			js_bool("close_wait_known", lk[i].known);
			if (live && lk[i].now) {
				js_str("owner_now", lk[i].owners);
				js_u64("unread", lk[i].now->rqueue);
			} else if (live) {
				js_null("owner_now");
				js_null("unread");
			}
			js_close('}');
		}
		return;
	}
	printf("CLOSE_WAIT for %lus or more: %zu connection%s\n",
	       o->threshold, n, n == 1 ? "" : "s");
	if (!n)
		return;
	for (i = 0; i < n; i++) {
		const struct tcpflow_conn_info *ci = &lk[i].c->info;

		snprintf(id, sizeof(id), "%llu", (unsigned long long)ci->id);
		snprintf(ns, sizeof(ns), "%u", ci->netns);
		age[0] = lk[i].known ? '\0' : '>';
		fmt_dur(age + !lk[i].known, sizeof(age) - 1, lk[i].age);
		if (lk[i].now)
			snprintf(rq, sizeof(rq), "%u", lk[i].now->rqueue);
		else
			snprintf(rq, sizeof(rq), "-");
		tbl_add(&t, id, age,
			fmt_ep(l, sizeof(l), ci->family, ci->saddr, ci->sport),
			fmt_ep(p, sizeof(p), ci->family, ci->daddr, ci->dport),
			ns, fmt_owner(own, sizeof(own), ci),
			lk[i].now ? lk[i].owners : "-", rq);
	}
	tbl_print(&t, o->header);
}

/* TIME_WAIT by local address -> peer address:port, and by peer. */
struct tf_tw {
	const struct tf_conn *c;	/* the first of its group */
	bool by_peer;
	unsigned long tw, used;
};

static bool port_range(unsigned long *lo, unsigned long *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%lu %lu", lo, hi) == 2 && *lo <= *hi;
	fclose(f);
	return ok;
}

static bool tw_same(const struct tf_tw *g, const struct tf_conn *c)
{
	const struct tcpflow_conn_info *a = &g->c->info, *b = &c->info;
	size_t n = a->family == AF_INET6 ? 16 : 4;

	if (a->family != b->family || memcmp(a->daddr, b->daddr, n))
		return false;
	if (g->by_peer)
		return true;
	return a->dport == b->dport && !memcmp(a->saddr, b->saddr, n);
}

static size_t tw_groups(const struct tf_snap *sn, bool by_peer,
			struct tf_tw **out)
{
	size_t i, j, n = 0;

	*out = NULL;
	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *c = &sn->conns[i];

		if (c->info.state != TCPFLOW_TIME_WAIT ||
		    (c->info.flags & TCPFLOW_CONN_CLOSED))
			continue;
		for (j = 0; j < n; j++)
			if (tw_same(&(*out)[j], c))
				break;
		if (j == n) {
			*out = xrealloc(*out, (n + 1) * sizeof(**out));
			(*out)[n++] = (struct tf_tw){ .c = c, .by_peer = by_peer };
		}
		(*out)[j].tw++;
	}
	return n;
}

/*
 * Local ports in the ephemeral range that connections to the group's peer
 * hold now (any state but LISTEN, not closed): what connect() cannot pick.
 */
static void tw_used(const struct tf_snap *sn, struct tf_tw *g,
		    unsigned long lo, unsigned long hi)
{
	size_t i;

	for (i = 0; i < sn->n; i++) {
		const struct tcpflow_conn_info *ci = &sn->conns[i].info;

		if ((ci->flags & TCPFLOW_CONN_CLOSED) ||
		    ci->state == TCPFLOW_LISTEN || ci->sport < lo ||
		    ci->sport > hi || !tw_same(g, &sn->conns[i]))
			continue;
		g->used++;
	}
}

static int tw_cmp(const void *a, const void *b)
{
	const struct tf_tw *x = a, *y = b;

	if (x->tw != y->tw)
		return x->tw > y->tw ? -1 : 1;
	return x->c->info.id < y->c->info.id ? -1 : 1;
}

static void leaks_time_wait(const struct tf_snap *sn, const struct tf_opts *o)
{
	static const char * const head[] = {
		"Local", "Peer", "TIME_WAIT", "Local ports free",
	};
	struct tf_table t = { 4, head, "llrl", NULL, 0 };
	unsigned long lo = 0, hi = 0, range = 0;
	char a[INET6_ADDRSTRLEN], p[64], tw[24], fr[48];
	bool have_range = port_range(&lo, &hi);
	struct tf_tw *g;
	size_t n, i;
	int pass;

	if (have_range)
		range = hi - lo + 1;
	for (pass = 0; pass < 2; pass++) {
		bool by_peer = pass == 0;

		n = tw_groups(sn, by_peer, &g);
		for (i = 0; i < n; i++)
			tw_used(sn, &g[i], lo, hi);
		qsort(g, n, sizeof(*g), tw_cmp);
		if (!tf_json && by_peer)
			printf("\nTIME_WAIT: ");
		if (!tf_json && by_peer && !n)
			printf("none\n");
		else if (!tf_json && by_peer && have_range)
			printf("local port range %lu-%lu (%lu ports)\n", lo,
			       hi, range);
		else if (!tf_json && by_peer)
			printf("local port range unknown\n");
		for (i = 0; i < n; i++) {
			const struct tcpflow_conn_info *ci = &g[i].c->info;

			fmt_addr(a, sizeof(a), ci->family, ci->daddr);
			if (tf_json) {
				js_open('{');
				js_str("type", by_peer ? "time_wait_peer" :
				       "time_wait");
				if (!by_peer) {
					js_str("local", fmt_addr(p, sizeof(p),
								 ci->family,
								 ci->saddr));
				}
				js_str("peer", a);
				if (!by_peer)
					js_u64("peer_port", ci->dport);
				js_u64("time_wait", g[i].tw);
				if (have_range) {
					js_u64("ports_free", range - g[i].used);
					js_u64("ports_total", range);
				}
				js_close('}');
				continue;
			}
			snprintf(tw, sizeof(tw), "%lu", g[i].tw);
			if (have_range)
				snprintf(fr, sizeof(fr), "%lu of %lu",
					 range - g[i].used, range);
			else
				snprintf(fr, sizeof(fr), "-");
			if (by_peer) {
				printf("%s: %lu in TIME_WAIT, %s local ports free\n",
				       a, g[i].tw, fr);
				continue;
			}
			tbl_add(&t, fmt_addr(a, sizeof(a), ci->family,
					     ci->saddr),
				fmt_ep(p, sizeof(p), ci->family, ci->daddr,
				       ci->dport), tw, fr);
		}
		if (!tf_json && !by_peer && n) {
			putchar('\n');
			tbl_print(&t, o->header);
		}
		free(g);
	}
}

static int cmd_leaks(const struct tf_snap *sn, const struct tf_opts *o)
{
	unsigned long long min = (unsigned long long)o->threshold * NSEC_PER_SEC;
	struct tf_diag *diag = NULL;
	struct tf_leak *lk = NULL;
	size_t n = 0, ndiag = 0, i, j;
	bool live = !o->file;

	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *c = &sn->conns[i];

		if (c->info.state != TCPFLOW_CLOSE_WAIT ||
		    (c->info.flags & TCPFLOW_CONN_CLOSED) ||
		    conn_age(sn, c) < min || !filter_match(&o->flt, &c->info))
			continue;
		lk = xrealloc(lk, (n + 1) * sizeof(*lk));
		lk[n] = (struct tf_leak){
			.c = c, .age = conn_age(sn, c),
			.known = !!find_state(c, -1, TCPFLOW_CLOSE_WAIT),
		};
		n++;
	}
	qsort(lk, n, sizeof(*lk), leak_cmp);
	if (live && n && diag_close_wait(&diag, &ndiag) < 0)
		ndiag = 0;	/* owners now stay unknown: shown as '-' */
	for (i = 0; i < n; i++)
		for (j = 0; j < ndiag; j++)
			if (diag[j].cookie == lk[i].c->info.cookie) {
				lk[i].now = &diag[j];
				proc_owners(diag[j].inode, lk[i].owners,
					    sizeof(lk[i].owners));
				break;
			}
	leaks_close_wait(lk, n, live, o);
	leaks_time_wait(sn, o);
	free(lk);
	free(diag);
	return n ? EXIT_LEAKS : 0;
}

/* ---- stats ---------------------------------------------------------- */

/* bpftrace's hist() buckets: [0], [1], [2, 4), [4, 8)... */
#define HIST_BUCKETS 66

static unsigned int hist_bucket(unsigned long long v)
{
	unsigned int b = 0;

	if (!v)
		return 0;
	while (v) {
		b++;
		v >>= 1;
	}
	return b;		/* 1 for 1, 2 for [2, 4)... */
}

static const char *hist_num(char *buf, size_t len, unsigned long long v)
{
	static const char sfx[] = "KMGTPE";
	int i = -1;

	while (v >= 1024 && !(v % 1024) && i < 5) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", v);
	else
		snprintf(buf, len, "%llu%c", v, sfx[i]);
	return buf;
}

static void stats_hist(const unsigned long long *h)
{
	unsigned long long max = 0;
	char lbl[64], a[24], b[24];
	int lo = -1, hi = -1, i, w;

	for (i = 0; i < HIST_BUCKETS; i++) {
		if (!h[i])
			continue;
		if (lo < 0)
			lo = i;
		hi = i;
		if (h[i] > max)
			max = h[i];
	}
	printf("\nHandshake time (us):\n");
	if (lo < 0) {
		printf("none recorded\n");
		return;
	}
	for (i = lo; i <= hi; i++) {
		if (i <= 1)
			snprintf(lbl, sizeof(lbl), "[%d]", i);
		else
			snprintf(lbl, sizeof(lbl), "[%s, %s)",
				 hist_num(a, sizeof(a), 1ULL << (i - 1)),
				 hist_num(b, sizeof(b), 1ULL << i));
		w = (int)(h[i] * 52 / max);
		printf("%-16s %8llu |%.*s%*s|\n", lbl, h[i], w,
		       "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
		       52 - w, "");
	}
}

/* Out-of-range states share the last row of the transition matrix. */
static unsigned int state_idx(unsigned int s)
{
	return s < TCPFLOW_STATE_MAX ? s : TCPFLOW_STATE_MAX;
}

static int cmd_stats(struct tf_src *s, const struct tf_snap *sn,
		     const struct tf_opts *o)
{
	static const char * const head[] = { "Transition", "Count" };
	static unsigned long long tr[TCPFLOW_STATE_MAX + 1][TCPFLOW_STATE_MAX + 1];
	unsigned long long h[HIST_BUCKETS] = { 0 };
	struct tcpflow_counters k = { 0 };
	struct tf_table t = { 2, head, "lr", NULL, 0 };
	unsigned long long best;
	bool have_k = s->dev;
	char name[48], cnt[24], st[TF_STATE_LEN];
	size_t i, j, e;
	long long hs;

	if (have_k && ioctl(s->fd, TCPFLOW_IOC_COUNTERS, &k) < 0) {
		tf_err("%s: TCPFLOW_IOC_COUNTERS: %s", s->name,
		       strerror(errno));
		return 1;
	}
	if (!have_k) {		/* a recording: what its snapshot holds */
		k.conns = sn->n;
		for (i = 0; i < sn->n; i++) {
			if (sn->conns[i].info.flags & TCPFLOW_CONN_CLOSED)
				k.closed++;
			k.events_total += sn->conns[i].nev;
			k.events_dropped += sn->conns[i].info.dropped_events;
		}
		k.live = k.conns - k.closed;
	}
	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *c = &sn->conns[i];

		for (e = 0; e < c->nev; e++)
			if (c->ev[e].type == TCPFLOW_EV_STATE)
				tr[state_idx(c->ev[e].a)][state_idx(c->ev[e].b)]++;
		hs = conn_handshake(c);
		if (hs >= 0)
			h[hist_bucket(hs / NSEC_PER_USEC)]++;
	}

	if (tf_json) {
		js_open('{');
		js_str("type", "counters");
		js_u64("conns", k.conns);
		js_u64("live", k.live);
		js_u64("closed", k.closed);
		if (have_k) {
			js_u64("max_conns", k.max_conns);
			js_u64("untracked", k.untracked);
			js_u64("evicted", k.evicted);
		}
		js_u64("events_total", k.events_total);
		js_u64("events_dropped", k.events_dropped);
		js_close('}');
	} else {
		printf("connections  %llu (%llu live, %llu closed)",
		       (unsigned long long)k.conns,
		       (unsigned long long)k.live,
		       (unsigned long long)k.closed);
		if (have_k)
			printf(" of %llu\nuntracked    %llu\nevicted      %llu",
			       (unsigned long long)k.max_conns,
			       (unsigned long long)k.untracked,
			       (unsigned long long)k.evicted);
		printf("\nevents       %llu %s, %llu dropped\n\n",
		       (unsigned long long)k.events_total,
		       have_k ? "recorded" : "held",
		       (unsigned long long)k.events_dropped);
	}

	/* Transitions, most frequent first. */
	for (;;) {
		size_t bi = 0, bj = 0;

		best = 0;
		for (i = 0; i <= TCPFLOW_STATE_MAX; i++)
			for (j = 0; j <= TCPFLOW_STATE_MAX; j++)
				if (tr[i][j] > best) {
					best = tr[i][j];
					bi = i;
					bj = j;
				}
		if (!best)
			break;
		tr[bi][bj] = 0;
		if (tf_json) {
			js_open('{');
			js_str("type", "transition");
			js_str("old", state_name(st, bi));
			js_str("new", state_name(st, bj));
			js_u64("count", best);
			js_close('}');
			continue;
		}
		snprintf(name, sizeof(name), "%s>", state_name(st, bi));
		strncat(name, state_name(st, bj), sizeof(name) - strlen(name) - 1);
		snprintf(cnt, sizeof(cnt), "%llu", best);
		tbl_add(&t, name, cnt);
	}
	if (!tf_json) {
		tbl_print(&t, o->header);
		stats_hist(h);
		return 0;
	}
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (!h[i])
			continue;
		js_open('{');
		js_str("type", "handshake_us");
		js_u64("min", i ? 1ULL << (i - 1) : 0);
		js_u64("max", i ? (1ULL << i) - 1 : 0);
		js_u64("count", h[i]);
		js_close('}');
	}
	return 0;
}

/* ---- main ----------------------------------------------------------- */

static void print_usage(FILE *f)
{
	fprintf(f,
		"Usage: tcpflowctl [OPTIONS] [COMMAND [ARGS]]\n"
		"\n"
		"Commands:\n"
		"  list               connections, one per line (the default)\n"
		"  show ID            a connection's history as a ladder diagram\n"
		"  show LOCAL PEER    the same, by ADDR:PORT ADDR:PORT\n"
		"  follow             new events as they happen, until Ctrl-C\n"
		"  leaks              CLOSE_WAIT older than -t SECS, TIME_WAIT by peer\n"
		"  stats              counters, transitions, handshake times\n"
		"  dump               the raw records, for -f (--follow: live too)\n"
		"  version            print the tool's version and ABI\n"
		"\n"
		"Options:\n"
		"  -f, --file FILE    read a recording made by dump, not /dev/tcpflow\n"
		"  -j, --json         JSON Lines output\n"
		"  -H, --no-header    no table headers\n"
		"  -n, --numeric      numeric addresses (always: no DNS)\n"
		"  -a, --all          list: closed connections too\n"
		"  -s, --state NAME   only this state (repeatable): established,\n"
		"                     syn-sent, syn-recv, fin-wait-1, fin-wait-2,\n"
		"                     time-wait, close, close-wait, last-ack, listen,\n"
		"                     closing\n"
		"      --port N       local or peer port N\n"
		"      --addr ADDR    local or peer address ADDR\n"
		"      --netns INODE  network namespace INODE\n"
		"      --pid PID      owner PID\n"
		"  -t, --threshold S  leaks: CLOSE_WAIT for S seconds or more (60)\n"
		"      --follow       dump: keep writing live records\n"
		"  -h, --help         show this help\n"
		"  -V, --version      same as the version command\n"
		"\n"
		"Exit status: 0 ok, 1 error, 2 bad usage, 3 leaks found.\n"
		"See tcpflowctl(8).\n");
}

static int cmd_version(void)
{
	if (tf_json) {
		js_open('{');
		js_str("version", TCPFLOWCTL_VERSION);
		js_u64("abi", TCPFLOW_ABI_VERSION);
		js_close('}');
		return 0;
	}
	printf("tcpflowctl %s (abi %d)\n", TCPFLOWCTL_VERSION,
	       TCPFLOW_ABI_VERSION);
	return 0;
}

enum {
	OPT_PORT = 0x100,
	OPT_ADDR,
	OPT_NETNS,
	OPT_PID,
	OPT_FOLLOW,
};

static const char *bad_opt(char **argv, int optind_now)
{
	return argv[optind_now - 1];
}

/* Parses options into o; returns -1 to exit 0 (help), or an exit status. */
static int parse_opts(int argc, char **argv, struct tf_opts *o, bool *version)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "numeric", no_argument, NULL, 'n' },
		{ "no-header", no_argument, NULL, 'H' },
		{ "all", no_argument, NULL, 'a' },
		{ "file", required_argument, NULL, 'f' },
		{ "state", required_argument, NULL, 's' },
		{ "threshold", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c, st;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hVjnHaf:s:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_usage(stdout);
			return -1;
		case 'V':
			*version = true;
			break;
		case 'j':
			tf_json = true;
			break;
		case 'n':
			break;
		case 'H':
			o->header = false;
			break;
		case 'a':
			o->all = true;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 's':
			st = parse_state(optarg);
			if (st < 0) {
				tf_err("unknown state '%s' (try -h)", optarg);
				return EXIT_USAGE;
			}
			o->flt.state_mask |= 1U << st;
			break;
		case 't':
			if (!parse_ulong(optarg, 100UL * 365 * 86400,
					 &o->threshold)) {
				tf_err("bad threshold '%s': seconds expected",
				       optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_PORT:
			if (!parse_ulong(optarg, 65535, &v)) {
				tf_err("bad port '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.port_set = true;
			o->flt.port = v;
			break;
		case OPT_ADDR:
			if (!parse_addr(optarg, o->flt.addr)) {
				tf_err("bad address '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.addr_set = true;
			break;
		case OPT_NETNS:
			if (!parse_ulong(optarg, UINT32_MAX, &v)) {
				tf_err("bad netns inode '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.netns_set = true;
			o->flt.netns = v;
			break;
		case OPT_PID:
			if (!parse_ulong(optarg, UINT32_MAX, &v)) {
				tf_err("bad pid '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.pid_set = true;
			o->flt.pid = v;
			break;
		case OPT_FOLLOW:
			o->follow = true;
			break;
		case ':':
			tf_err("option '%s' needs an argument (try -h)",
			       bad_opt(argv, optind));
			return EXIT_USAGE;
		default:
			if (optopt)
				tf_err("unknown option '-%c' (try -h)", optopt);
			else
				tf_err("unknown option '%s' (try -h)",
				       bad_opt(argv, optind));
			return EXIT_USAGE;
		}
	}
	return 0;
}

static const char * const tf_cmds[] = {
	"list", "show", "follow", "leaks", "stats", "dump", "version", NULL,
};

int main(int argc, char **argv)
{
	struct tf_opts o = { .header = true, .threshold = 60 };
	const struct tf_filter *kflt = NULL;
	const char *cmd = "list";
	bool version = false;
	struct tf_snap sn;
	struct tf_src src;
	char **args;
	int nargs, ret, i;

	ret = parse_opts(argc, argv, &o, &version);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (version)
		return cmd_version();
	if (optind < argc)
		cmd = argv[optind++];
	args = argv + optind;
	nargs = argc - optind;
	for (i = 0; tf_cmds[i]; i++)
		if (!strcmp(cmd, tf_cmds[i]))
			break;
	if (!tf_cmds[i]) {
		tf_err("unknown command '%s' (try -h)", cmd);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "show") && nargs) {
		tf_err("%s: unexpected argument '%s' (try -h)", cmd, args[0]);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "version"))
		return cmd_version();

	/* The kernel may filter for list and follow: they show nothing else. */
	if (!strcmp(cmd, "list") || !strcmp(cmd, "follow"))
		kflt = &o.flt;
	if (src_open(&src, &o, kflt))
		return 1;
	if (!strcmp(cmd, "follow"))
		return cmd_follow(&src, &o);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(&src, &o);
	if (snap_load(&src, &sn))
		return 1;
	if (!strcmp(cmd, "show"))
		return cmd_show(&sn, args, nargs);
	if (!strcmp(cmd, "leaks"))
		return cmd_leaks(&sn, &o);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(&src, &sn, &o);
	return cmd_list(&sn, &o);
}
