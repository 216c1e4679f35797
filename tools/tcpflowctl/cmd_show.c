// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl show: one connection's history as a ladder diagram, with the
 * other end's when it is on this host too.
 */
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
		    !tcpflow_ev_is_tx(tx))
			continue;
		for (j = i + 1; j < n; j++) {
			const struct tcpflow_event *rx = rows[j].e;

			if (rx && !rows[j].merged && rows[j].side != rows[i].side &&
			    rx->type == TCPFLOW_EV_SEGMENT &&
			    tcpflow_ev_dir(rx) == TCPFLOW_DIR_RX &&
			    rx->flags == tx->flags &&
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
	snprintf(l, sizeof(l), "%s %llu", fmt_role(a->info.role),
		 (unsigned long long)a->info.id);
	if (b)
		snprintf(r, sizeof(r), "%s %llu", fmt_role(b->info.role),
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
			st = fmt_state(stbuf, tcpflow_ev_new_state(e));
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
			bool right = (row->side == 0) == tcpflow_ev_is_tx(e);

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
