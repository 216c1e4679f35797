// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: how values are written for people (names, durations,
 * addresses, segments), and the aligned tables that hold them.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpflowctl.h"

/*
 * A string built piece by piece into a caller's buffer, always terminated
 * and cut at its end: what follow writes for every event, without the
 * cost of a printf per piece.
 */
void sb_init(struct tf_sb *b, char *buf, size_t len)
{
	b->p = buf;
	b->end = buf + len - 1;
	*b->p = '\0';
}

void sb_str(struct tf_sb *b, const char *s)
{
	while (*s && b->p < b->end)
		*b->p++ = *s++;
	*b->p = '\0';
}

/* s, then spaces up to w characters (left-aligned, as %-*s). */
void sb_pad(struct tf_sb *b, const char *s, size_t w)
{
	char *start = b->p;

	sb_str(b, s);
	while ((size_t)(b->p - start) < w && b->p < b->end)
		*b->p++ = ' ';
	*b->p = '\0';
}

/* Spaces up to w characters with s, then s (right-aligned, as %*s). */
void sb_rpad(struct tf_sb *b, const char *s, size_t w)
{
	size_t n;

	for (n = strlen(s); n < w && b->p < b->end; n++)
		*b->p++ = ' ';
	sb_str(b, s);
}

/* v in decimal, zero-padded to at least w digits. */
void sb_u64(struct tf_sb *b, unsigned long long v, int w)
{
	char t[24];
	int n = 0;

	do {
		t[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (n < w && n < (int)sizeof(t))
		t[n++] = '0';
	while (n && b->p < b->end)
		*b->p++ = t[--n];
	*b->p = '\0';
}

#define TF_FLAG_ROW(bit, name) { bit, name },

static const struct {
	unsigned int bit;
	const char *name;
} tf_tcp_flags[] = { TCPFLOW_TCP_FLAGS(TF_FLAG_ROW) };

/*
 * Into the caller's buffer, not a static one: two states go into one line
 * (follow's "OLD -> NEW"), and each keeps its own number.
 */
const char *fmt_state(char buf[TF_STATE_LEN], unsigned int s)
{
	const char *name = tcpflow_state_name(s);

	if (name)
		return name;
	snprintf(buf, TF_STATE_LEN, "STATE_%u", s);
	return buf;
}

/* Unknown, or a role this tool has no name for: "-", as in /proc/tcpflow. */
const char *fmt_role(unsigned int r)
{
	return tcpflow_role_name(r) ?: tcpflow_role_name(TCPFLOW_ROLE_UNKNOWN);
}

/* A segment's direction: "tx" or "rx" (anything but tx, as /proc). */
const char *fmt_dir(const struct tcpflow_event *e)
{
	return tcpflow_dir_name(tcpflow_ev_is_tx(e) ? TCPFLOW_DIR_TX :
				TCPFLOW_DIR_RX);
}

/* "SYN,ACK" into buf; "none" for no flag. */
const char *fmt_tcp_flags(char *buf, size_t len, unsigned int flags)
{
	struct tf_sb b;
	size_t i;

	sb_init(&b, buf, len);
	for (i = 0; i < ARRAY_SIZE(tf_tcp_flags); i++) {
		if (!(flags & tf_tcp_flags[i].bit))
			continue;
		if (b.p > buf)
			sb_str(&b, ",");
		sb_str(&b, tf_tcp_flags[i].name);
	}
	if (b.p == buf)
		sb_str(&b, "none");
	return buf;
}

/* 350ms, 4.2s, 3m12s, 2h5m: truncated, never rounded up. */
const char *fmt_dur(char *buf, size_t len, unsigned long long ns)
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
const char *fmt_secs(char *buf, size_t len, unsigned long long ns)
{
	struct tf_sb b;

	sb_init(&b, buf, len);
	sb_u64(&b, ns / NSEC_PER_SEC, 1);
	sb_str(&b, ".");
	sb_u64(&b, ns % NSEC_PER_SEC / NSEC_PER_USEC, 6);
	return buf;
}

const char *fmt_addr(char *buf, size_t len, unsigned int family,
		     const __u8 *addr)
{
	int af = family == AF_INET6 ? AF_INET6 : AF_INET;
	struct tf_sb b;
	int i;

	if (family == AF_INET && len >= INET_ADDRSTRLEN) {
		/* What inet_ntop() writes, without its sprintf(). */
		sb_init(&b, buf, len);
		for (i = 0; i < 4; i++) {
			if (i)
				sb_str(&b, ".");
			sb_u64(&b, addr[i], 1);
		}
		return buf;
	}
	if ((family != AF_INET && family != AF_INET6) ||
	    !inet_ntop(af, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* ss style: 127.0.0.1:8080, [::1]:8080, 0.0.0.0:* for no port. */
const char *fmt_ep(char *buf, size_t len, unsigned int family,
		   const __u8 *addr, unsigned int port)
{
	char a[INET6_ADDRSTRLEN];
	struct tf_sb b;

	fmt_addr(a, sizeof(a), family, addr);
	sb_init(&b, buf, len);
	if (family == AF_INET6)
		sb_str(&b, "[");
	sb_str(&b, a);
	sb_str(&b, family == AF_INET6 ? "]:" : ":");
	if (port)
		sb_u64(&b, port, 1);
	else
		sb_str(&b, "*");
	return buf;
}

/* comm is a task's name, any bytes: keep a table's columns intact. */
const char *fmt_comm(char *buf, size_t len, const char *comm)
{
	size_t i;

	for (i = 0; i + 1 < len && i < 16 && comm[i]; i++)
		buf[i] = (comm[i] > ' ' && comm[i] < 0x7f) ? comm[i] : '?';
	buf[i] = '\0';
	return buf;
}

const char *fmt_owner(char *buf, size_t len,
		      const struct tcpflow_conn_info *ci)
{
	char comm[17];
	struct tf_sb b;

	sb_init(&b, buf, len);
	if (!ci->pid) {
		sb_str(&b, "-");
		return buf;
	}
	sb_u64(&b, ci->pid, 1);
	sb_str(&b, "/");
	sb_str(&b, fmt_comm(comm, sizeof(comm), ci->comm));
	return buf;
}

/* A segment as the ladder and follow show it: seq/ack relative to the ISNs. */
const char *fmt_segment(char *buf, size_t len,
			const struct tcpflow_conn_info *ci,
			const struct tcpflow_event *e)
{
	bool tx = tcpflow_ev_is_tx(e);
	bool lknown = ci->flags & TCPFLOW_CONN_ISN_LOCAL;
	bool rknown = ci->flags & TCPFLOW_CONN_ISN_REMOTE;
	/* Numbers stay absolute where the ISN was never seen. */
	__u32 sbase = tx ? (lknown ? ci->isn_local : 0) :
			   (rknown ? ci->isn_remote : 0);
	__u32 abase = tx ? (rknown ? ci->isn_remote : 0) :
			   (lknown ? ci->isn_local : 0);
	char flags[48];
	struct tf_sb b;

	sb_init(&b, buf, len);
	sb_str(&b, fmt_tcp_flags(flags, sizeof(flags), e->flags));
	sb_str(&b, " seq=");
	sb_u64(&b, (__u32)(e->seq - sbase), 1);
	if (e->flags & TCPFLOW_TCP_ACK) {
		sb_str(&b, " ack=");
		sb_u64(&b, (__u32)(e->ack - abase), 1);
	}
	sb_str(&b, " win=");
	sb_u64(&b, e->win, 1);
	if (e->len) {
		sb_str(&b, " len=");
		sb_u64(&b, e->len, 1);
	}
	if (tcpflow_ev_retrans(e)) {
		sb_str(&b, " retrans=");
		sb_u64(&b, tcpflow_ev_retrans(e), 1);
	}
	return buf;
}

/* Appends one row: n cells, at least one per column. */
void tbl_add_row(struct tf_table *t, const char * const *row, size_t n)
{
	size_t i;

	assert(n >= t->ncols);
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols *
			    sizeof(*t->cells));
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(row[i]);
	t->nrows++;
}

static void tbl_row(const struct tf_table *t, const size_t *w,
		    const char * const *row)
{
	size_t i, end = t->ncols;

	while (end > 1 && (t->hide & (1U << (end - 1))))
		end--;
	for (i = 0; i < end; i++) {
		bool last = i == end - 1;
		int pad = (int)w[i];

		if (t->hide & (1U << i))
			continue;
		if (t->align[i] == 'r')
			printf("%*s", pad, row[i]);
		else if (last)
			fputs(row[i], stdout);
		else
			printf("%-*s", pad, row[i]);
		fputs(last ? "\n" : "  ", stdout);
	}
}

/* Prints the table and empties it. */
void tbl_print(struct tf_table *t, bool header)
{
	size_t *w = xrealloc(NULL, t->ncols * sizeof(*w));
	size_t i, r;

	for (i = 0; i < t->ncols; i++) {
		w[i] = header ? strlen(t->head[i]) : 0;
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
	free(w);
	t->cells = NULL;
	t->nrows = 0;
}
