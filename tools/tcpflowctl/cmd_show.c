// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl show: one connection's history as a ladder diagram, with the
 * other end's when it is on this host too.
 */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpflowctl.h"

static bool conn_mirrors(const struct tcpflow_conn_info *a,
			 const struct tcpflow_conn_info *b)
{
	size_t n = a->family == AF_INET6 ? 16 : 4;

	return a->id != b->id && a->family == b->family &&
	       a->sport == b->dport && a->dport == b->sport && a->dport &&
	       !memcmp(a->saddr, b->daddr, n) && !memcmp(a->daddr, b->saddr, n);
}

/*
 * The other end on this host: the mirrored tuple opened closest in time.
 * A duplicate child (a second clone of one handshake, destroyed at once)
 * is never the other end of a connection.
 */
static const struct tf_conn *snap_peer(const struct tf_snap *sn,
				       const struct tf_conn *c)
{
	const struct tf_conn *best = NULL;
	unsigned long long d, bestd = ULLONG_MAX;
	size_t i;

	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *o = &sn->conns[i];

		if (!conn_mirrors(&c->info, &o->info) ||
		    (o->info.flags & TCPFLOW_CONN_DUPLICATE))
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
	       (unsigned long long)ci->id, fmt_role(ci->role),
	       fmt_ep(l, sizeof(l), ci->family, ci->saddr, ci->sport),
	       fmt_ep(p, sizeof(p), ci->family, ci->daddr, ci->dport),
	       fmt_state(st, ci->state),
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
	if (ci->flags & TCPFLOW_CONN_TW_OVERFLOW)
		fputs(" tw_overflow", stdout);
	if (ci->flags & TCPFLOW_CONN_SYNCOOKIE)
		fputs(" syncookie", stdout);
	if (ci->flags & TCPFLOW_CONN_CLOSED)
		fputs(" closed", stdout);
	if (ci->dropped_events)
		printf(" dropped=%u", ci->dropped_events);
	if (ci->pid)
		printf(" pid=%u comm=%s", ci->pid,
		       fmt_comm(comm, sizeof(comm), ci->comm));
	/* the path, or the id as /proc/tcpflow shows it */
	if (cg_path(ci->cgroup_id))
		printf(" cgroup=%s", cg_path(ci->cgroup_id));
	else if (ci->cgroup_id)
		printf(" cgroup=%llu", (unsigned long long)ci->cgroup_id);
	putchar('\n');
}

/* One row of the ladder: an event of one end, or a gap in a history. */
struct tf_row {
	unsigned long long t;
	int side;			/* 0: left column, 1: right */
	const struct tcpflow_event *e;	/* NULL: the gap row */
	unsigned int dropped;
	enum tf_delivery delivery;	/* a segment's, both ends recorded */
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

static bool row_is_seg(const struct tf_row *row, enum tcpflow_dir dir)
{
	return row->e && row->e->type == TCPFLOW_EV_SEGMENT &&
	       tcpflow_ev_dir(row->e) == dir;
}

/* An rx drawn with its tx, as one arrow. */
static bool row_merged(const struct tf_row *row)
{
	return row_is_seg(row, TCPFLOW_DIR_RX) &&
	       row->delivery == TF_DELIVERY_DELIVERED;
}

/* A history with nothing missing: what it lacks did not happen. */
static bool conn_complete(const struct tf_conn *c)
{
	return !c->info.dropped_events &&
	       !(c->info.flags & (TCPFLOW_CONN_PARTIAL |
				  TCPFLOW_CONN_PREEXISTING |
				  TCPFLOW_CONN_STALE));
}

/* When c's history closed (moved to CLOSE), or ULLONG_MAX. */
static unsigned long long conn_closed_at(const struct tf_conn *c)
{
	const struct tcpflow_event *e = conn_find_state(c, -1, TCPFLOW_CLOSE);

	return e ? e->t_ns : ULLONG_MAX;
}

/*
 * Whether the other end's history (peer) would hold seg, sent or received
 * at t by this end, had it happened there.  Both ends record every SYN,
 * FIN and RST of a connection they follow, but not every ACK or data
 * segment: which of those the module keeps depends on each end's own state
 * (module/segments.c), so their absence at one end proves nothing.  Nor
 * does the absence of anything from a history that misses events, that
 * had not begun at t, or had closed by then (a closed history takes only a
 * few more segments).  A SYN sent to a server before its history began is
 * judged all the same: that history begins with the first SYN its
 * listener answered, so the earlier ones never reached the connection.
 */
static bool peer_would_hold(const struct tcpflow_event *seg,
			    unsigned long long t, const struct tf_conn *peer)
{
	bool syn = (seg->flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_ACK)) ==
		   TCPFLOW_TCP_SYN;

	if (!(seg->flags & (TCPFLOW_TCP_SYN | TCPFLOW_TCP_FIN |
			    TCPFLOW_TCP_RST)) ||
	    !conn_complete(peer) || !peer->nev)
		return false;
	if (peer->ev[0].t_ns > t &&
	    !(syn && tcpflow_ev_is_tx(seg) &&
	      peer->info.role == TCPFLOW_ROLE_SERVER))
		return false;
	return conn_closed_at(peer) >= t;
}

/*
 * Both ends recorded: a segment one end sent and the other received is one
 * arrow, drawn when it was sent.  An rx is the receive of the latest send
 * before it with the same raw fields that no other rx took: a retransmit
 * the other end did receive takes the rx, the copies sent before it are
 * lost.  What stays unmatched is lost (a tx) or has no recorded send (an
 * rx) when the other end's history would hold it (peer_would_hold()), and
 * is drawn as with one end recorded otherwise.
 */
static void rows_match(struct tf_row *rows, size_t n,
		       const struct tf_conn *end[2])
{
	size_t i, j;

	for (j = 0; j < n; j++) {
		const struct tcpflow_event *rx = rows[j].e;

		if (!row_is_seg(&rows[j], TCPFLOW_DIR_RX))
			continue;
		for (i = j; i--;) {
			const struct tcpflow_event *tx = rows[i].e;

			if (rows[i].side != rows[j].side &&
			    row_is_seg(&rows[i], TCPFLOW_DIR_TX) &&
			    !rows[i].delivery &&
			    rx->flags == tx->flags &&
			    rx->seq == tx->seq && rx->ack == tx->ack &&
			    rx->len == tx->len) {
				rows[i].delivery = TF_DELIVERY_DELIVERED;
				rows[j].delivery = TF_DELIVERY_DELIVERED;
				break;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (rows[i].delivery || !rows[i].e ||
		    rows[i].e->type != TCPFLOW_EV_SEGMENT ||
		    !peer_would_hold(rows[i].e, rows[i].t,
				     end[!rows[i].side]))
			continue;
		rows[i].delivery = tcpflow_ev_is_tx(rows[i].e) ?
				   TF_DELIVERY_LOST : TF_DELIVERY_UNSENT;
	}
}

/* The rows of a and b (NULL: remote) by time, their segments matched. */
static struct tf_row *ladder_rows(const struct tf_conn *end[2], size_t *n)
{
	struct tf_row *rows = NULL;

	*n = 0;
	rows_add(&rows, n, end[0], 0);
	if (end[1])
		rows_add(&rows, n, end[1], 1);
	qsort(rows, *n, sizeof(*rows), row_cmp);
	if (end[1])
		rows_match(rows, *n, end);
	return rows;
}

/* A row's arrow label (a segment, a gap) or note (an unknown event). */
static const char *row_label(char *buf, size_t len, const struct tf_row *row,
			     const struct tf_conn *end[2])
{
	static const char * const suffix[] = {
		[TF_DELIVERY_LOST] = " (lost)",
		[TF_DELIVERY_UNSENT] = " (no send recorded)",
	};
	const struct tcpflow_event *e = row->e;
	size_t off;

	if (!e) {
		snprintf(buf, len, "... %u events dropped ...", row->dropped);
	} else if (e->type == TCPFLOW_EV_SEGMENT) {
		off = strlen(fmt_segment(buf, len, &end[row->side]->info, e));
		if (suffix[row->delivery] && off < len)
			snprintf(buf + off, len - off, "%s",
				 suffix[row->delivery]);
	} else {
		snprintf(buf, len, "event type %u", e->type);
	}
	return buf;
}

/* An end as the ladder names it: its role and id, or remote. */
static const char *end_name(char *buf, size_t len, const struct tf_conn *c)
{
	if (c)
		snprintf(buf, len, "%s %llu", fmt_role(c->info.role),
			 (unsigned long long)c->info.id);
	else
		snprintf(buf, len, "remote, not recorded");
	return buf;
}

#define LADDER_STATE_W 12		/* strlen("NEW_SYN_RECV") */
#define LADDER_SHORT 3			/* how far short a lost arrow stops */

/* How far short of an end the arrow of a segment so delivered stays. */
static int arrow_gap(enum tf_delivery d)
{
	return d == TF_DELIVERY_LOST || d == TF_DELIVERY_UNSENT ?
	       LADDER_SHORT : 0;
}

/*
 * An arrow `width` wide with its label in the middle.  A lost segment's
 * stops short of the receiver at an x; one with no recorded send starts
 * short of the sender at a ?.
 */
static void put_arrow(const char *label, int width, bool right,
		      enum tf_delivery d)
{
	bool lost = d == TF_DELIVERY_LOST, unsent = d == TF_DELIVERY_UNSENT;
	int gap = arrow_gap(d);
	int w = width - gap, len = strlen(label) + 2, left;
	char a[256];

	assert(width < (int)sizeof(a));
	left = (w - 1 - len) / 2;
	if (!right)
		left = w - len - left;	/* after the head */
	memset(a, '-', w);
	a[w] = '\0';
	a[left] = ' ';
	memcpy(a + left + 1, label, len - 2);
	a[left + len - 1] = ' ';
	a[right ? w - 1 : 0] = lost ? 'x' : right ? '>' : '<';
	if (unsent)
		a[right ? 0 : w - 1] = '?';
	/* the gap is on the receiver's side if lost, else the sender's */
	if (lost == right)
		printf("%s%*s", a, gap, "");
	else
		printf("%*s%s", gap, "", a);
}

static void ladder_text(const struct tf_conn *end[2],
			const struct tf_row *rows, size_t n)
{
	const struct tf_conn *a = end[0], *b = end[1];
	char ts[32], label[192], l[64], r[64], stbuf[TF_STATE_LEN];
	int tw = 8, aw = 30, len;
	char rbar = b ? '|' : ':';
	unsigned long long t0 = rows[0].t;
	size_t i;

	/* Column widths: the widest time and the longest arrow label. */
	for (i = 0; i < n; i++) {
		const struct tcpflow_event *e = rows[i].e;

		len = strlen(fmt_secs(ts, sizeof(ts), rows[i].t - t0));
		if (len > tw)
			tw = len;
		if (e && e->type != TCPFLOW_EV_SEGMENT)
			continue;
		len = strlen(row_label(label, sizeof(label), &rows[i], end)) +
		      arrow_gap(rows[i].delivery);
		if (len + 8 > aw)
			aw = len + 8;
	}

	putchar('\n');
	fmt_ep(l, sizeof(l), a->info.family, a->info.saddr, a->info.sport);
	fmt_ep(r, sizeof(r), a->info.family, a->info.daddr, a->info.dport);
	printf("%*s%*s%s\n", tw + 2 + LADDER_STATE_W, l, aw + 4, "", r);
	printf("%*s  %*s |%*s%c %s\n", tw, "time (s)", LADDER_STATE_W,
	       end_name(l, sizeof(l), a), aw, "", rbar,
	       end_name(r, sizeof(r), b));

	for (i = 0; i < n; i++) {
		const struct tf_row *row = &rows[i];
		const struct tcpflow_event *e = row->e;
		const char *st = "";

		if (row_merged(row))
			continue;
		if (e && e->type == TCPFLOW_EV_STATE)
			st = fmt_state(stbuf, tcpflow_ev_new_state(e));
		printf("%*s  %*s |", tw,
		       e ? fmt_secs(ts, sizeof(ts), row->t - t0) : "",
		       LADDER_STATE_W, row->side == 0 ? st : "");
		row_label(label, sizeof(label), row, end);
		if (!e) {
			printf("%*s%*s", (aw + (int)strlen(label)) / 2, label,
			       aw - (aw + (int)strlen(label)) / 2, "");
		} else if (e->type == TCPFLOW_EV_SEGMENT) {
			/* tx goes away from its end, rx comes to it */
			bool right = (row->side == 0) == tcpflow_ev_is_tx(e);

			put_arrow(label, aw, right, row->delivery);
		} else if (e->type != TCPFLOW_EV_STATE) {
			printf("%-*s", aw, label);
		} else {
			printf("%*s", aw, "");
		}
		if (row->side == 1 && *st)
			printf("%c %s\n", rbar, st);
		else
			printf("%c\n", rbar);
	}
}

/*
 * Mermaid text: '#' would start a comment and ';' end the statement, so
 * both are written as Mermaid's entity codes.
 */
static void mmd_puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '#' || *s == ';')
			printf("#%d;", *s);
		else
			putchar(*s);
	}
}

/* An end as a participant: A left, B right (c NULL: remote). */
static void mmd_participant(char id, const struct tcpflow_conn_info *ci,
			    bool local, const struct tf_conn *c)
{
	char buf[64];

	printf("    participant %c as ", id);
	mmd_puts(local ? fmt_ep(buf, sizeof(buf), ci->family, ci->saddr,
				ci->sport) :
			 fmt_ep(buf, sizeof(buf), ci->family, ci->daddr,
				ci->dport));
	putchar(' ');
	mmd_puts(end_name(buf, sizeof(buf), c));
	putchar('\n');
}

/*
 * The ladder as a Mermaid sequenceDiagram: a state change a note over its
 * end, a segment an arrow (-x lost, dotted with no send recorded), each
 * with its time as the ladder gives it.
 */
static void ladder_mermaid(const struct tf_conn *end[2],
			   const struct tf_row *rows, size_t n,
			   const char *none)
{
	const struct tf_conn *a = end[0];
	char ts[32], label[192], o[TF_STATE_LEN], w[TF_STATE_LEN];
	size_t i;

	printf("sequenceDiagram\n");
	mmd_participant('A', &a->info, true, a);
	mmd_participant('B', &a->info, false, end[1]);
	if (none)
		printf("    Note over A: no events recorded: %s\n", none);
	for (i = 0; i < n; i++) {
		const struct tf_row *row = &rows[i];
		const struct tcpflow_event *e = row->e;
		char side = row->side ? 'B' : 'A';

		if (row_merged(row))
			continue;
		fmt_secs(ts, sizeof(ts), row->t - rows[0].t);
		if (e && e->type == TCPFLOW_EV_STATE)
			snprintf(label, sizeof(label), "%s -> %s",
				 fmt_state(o, tcpflow_ev_old_state(e)),
				 fmt_state(w, tcpflow_ev_new_state(e)));
		else
			row_label(label, sizeof(label), row, end);
		if (!e) {
			printf("    Note over %c: ", side);
		} else if (e->type == TCPFLOW_EV_SEGMENT) {
			/* tx goes away from its end, rx comes to it */
			bool right = (row->side == 0) == tcpflow_ev_is_tx(e);

			printf("    %c%s%c: %s ", right ? 'A' : 'B',
			       row->delivery == TF_DELIVERY_LOST ? "-x" :
			       row->delivery == TF_DELIVERY_UNSENT ? "-->>" :
			       "->>", right ? 'B' : 'A', ts);
		} else {
			printf("    Note over %c: %s ", side, ts);
		}
		mmd_puts(label);
		putchar('\n');
	}
}

static void ladder(const struct tf_conn *a, const struct tf_conn *b,
		   bool mermaid)
{
	const struct tf_conn *end[2] = { a, b };
	const char *none = NULL;
	struct tf_row *rows;
	size_t n;

	rows = ladder_rows(end, &n);
	if (!n)
		none = (a->info.flags & TCPFLOW_CONN_PREEXISTING) ?
		       "the connection predates the module" :
		       "its history was lost";
	if (mermaid)
		ladder_mermaid(end, rows, n, none);
	else if (none)
		printf("\nno events recorded: %s\n", none);
	else
		ladder_text(end, rows, n);
	free(rows);
}

/* c as JSON, each segment saying what became of it when peer is known. */
static void show_json(const struct tf_snap *sn, const struct tf_conn *c,
		      const struct tf_conn *peer)
{
	const struct tf_conn *end[2] = { c, peer };
	enum tf_delivery *d = NULL;
	struct tf_row *rows = NULL;
	size_t i, n;

	if (peer) {
		rows = ladder_rows(end, &n);
		d = xrealloc(NULL, (c->nev + 1) * sizeof(*d));
		for (i = 0; i < n; i++)
			if (rows[i].side == 0 && rows[i].e)
				d[rows[i].e - c->ev] = rows[i].delivery;
	}
	js_conn(sn, c, d);
	free(rows);
	free(d);
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

int cmd_show(struct tf_ctx *x)
{
	const struct tf_snap *sn = x->sn;
	char **args = x->args;
	int nargs = x->nargs;
	const struct tf_conn *c, *peer;

	if (tf_json && x->o->mermaid) {
		tf_err("show: -j and --mermaid exclude each other");
		return EXIT_USAGE;
	}
	if (nargs != 1 && nargs != 2) {
		tf_err("show: expected ID, or LOCAL PEER as ADDR:PORT ADDR:PORT");
		return EXIT_USAGE;
	}
	c = show_find(sn, args, nargs);
	if (!c)
		return 1;
	peer = snap_peer(sn, c);
	if (tf_json) {
		show_json(sn, c, peer);
		return 0;
	}
	if (!x->o->mermaid) {
		show_summary(sn, c);
		if (peer)
			show_summary(sn, peer);
	}
	ladder(c, peer, x->o->mermaid);
	return 0;
}
