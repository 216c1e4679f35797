// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: the connection model.  The snapshot (every connection and
 * its events, up to the SYNC record) loaded into a table sorted by id,
 * what is derived from a history (age, handshake time) or from all of them
 * (counters, transitions, TIME_WAIT by peer), and a connection and its
 * events as JSON objects.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "tcpflowctl.h"

static int conn_cmp_id(const void *a, const void *b)
{
	const struct tf_conn *x = a, *y = b;

	return x->info.id < y->info.id ? -1 : x->info.id > y->info.id;
}

const struct tf_conn *snap_find(const struct tf_snap *sn,
				unsigned long long id)
{
	struct tf_conn key = { .info.id = id };

	return bsearch(&key, sn->conns, sn->n, sizeof(key), conn_cmp_id);
}

/* Reads the snapshot up to and including SYNC: 0, or -1 (reported). */
int snap_load(struct tf_src *s, struct tf_snap *sn)
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

unsigned long long conn_age(const struct tf_snap *sn,
			    const struct tf_conn *c)
{
	unsigned long long since = conn_since(c);

	return sn->now_ns > since ? sn->now_ns - since : 0;
}

const struct tcpflow_event *conn_find_state(const struct tf_conn *c,
					    int old, int new)
{
	const struct tcpflow_event *e;
	size_t i;

	for (i = 0; i < c->nev; i++) {
		e = &c->ev[i];
		if (e->type != TCPFLOW_EV_STATE ||
		    tcpflow_ev_new_state(e) != (unsigned int)new)
			continue;
		if (old < 0 || tcpflow_ev_old_state(e) == (unsigned int)old)
			return e;
	}
	return NULL;
}

/*
 * Handshake time: a client's SYN_SENT -> ESTABLISHED; a server's first
 * received SYN (when segments are recorded) or LISTEN -> SYN_RECV, to
 * SYN_RECV -> ESTABLISHED.  -1 when unknown.
 */
long long conn_handshake(const struct tf_conn *c)
{
	const struct tcpflow_event *from = NULL, *to;
	size_t i;

	if (c->info.role == TCPFLOW_ROLE_CLIENT) {
		from = conn_find_state(c, -1, TCPFLOW_SYN_SENT);
		to = conn_find_state(c, TCPFLOW_SYN_SENT, TCPFLOW_ESTABLISHED);
	} else if (c->info.role == TCPFLOW_ROLE_SERVER) {
		for (i = 0; i < c->nev && !from; i++)
			if (c->ev[i].type == TCPFLOW_EV_SEGMENT &&
			    tcpflow_ev_dir(&c->ev[i]) == TCPFLOW_DIR_RX &&
			    (c->ev[i].flags & TCPFLOW_TCP_SYN))
				from = &c->ev[i];
		if (!from)
			from = conn_find_state(c, TCPFLOW_LISTEN, TCPFLOW_SYN_RECV);
		to = conn_find_state(c, TCPFLOW_SYN_RECV, TCPFLOW_ESTABLISHED);
	} else {
		return -1;
	}
	if (!from || !to || to->t_ns < from->t_ns)
		return -1;
	return to->t_ns - from->t_ns;
}

int snap_counters(struct tf_src *s, const struct tf_snap *sn,
		  struct tcpflow_counters *k)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	if (s->dev) {
		if (ioctl(s->fd, TCPFLOW_IOC_COUNTERS, k) < 0) {
			tf_err("%s: TCPFLOW_IOC_COUNTERS: %s", s->name,
			       strerror(errno));
			return -1;
		}
		return 1;
	}
	k->conns = sn->n;
	for (i = 0; i < sn->n; i++) {
		if (sn->conns[i].info.flags & TCPFLOW_CONN_CLOSED)
			k->closed++;
		k->events_total += sn->conns[i].nev;
		k->events_dropped += sn->conns[i].info.dropped_events;
	}
	k->live = k->conns - k->closed;
	return 0;
}

/* Most frequent first, then by state values: a stable order. */
static int trans_cmp(const void *a, const void *b)
{
	const struct tf_trans *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

size_t snap_transitions(const struct tf_snap *sn, struct tf_trans **out)
{
	size_t i, e, j, n = 0;

	*out = NULL;
	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *c = &sn->conns[i];

		for (e = 0; e < c->nev; e++) {
			const struct tcpflow_event *ev = &c->ev[e];
			unsigned int from = tcpflow_ev_old_state(ev);
			unsigned int to = tcpflow_ev_new_state(ev);

			if (ev->type != TCPFLOW_EV_STATE)
				continue;
			for (j = 0; j < n; j++)
				if ((*out)[j].from == from && (*out)[j].to == to)
					break;
			if (j == n) {
				*out = xrealloc(*out, (n + 1) * sizeof(**out));
				(*out)[n++] = (struct tf_trans){ from, to, 0 };
			}
			(*out)[j].n++;
		}
	}
	if (n)	/* qsort() takes no NULL, even for 0 */
		qsort(*out, n, sizeof(**out), trans_cmp);
	return n;
}

bool local_port_range(unsigned long *lo, unsigned long *hi)
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

size_t tw_groups(const struct tf_snap *sn, bool by_peer, unsigned long lo,
		 unsigned long hi, struct tf_tw **out)
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
	for (i = 0; i < n; i++)
		tw_used(sn, &(*out)[i], lo, hi);
	if (n)	/* qsort() takes no NULL, even for 0 */
		qsort(*out, n, sizeof(**out), tw_cmp);
	return n;
}

void js_event(const struct tcpflow_event *e)
{
	char flags[48], st[TF_STATE_LEN];

	js_u64("t_ns", e->t_ns);
	switch (e->type) {
	case TCPFLOW_EV_STATE:
		js_str("type", "state");
		js_str("old", fmt_state(st, tcpflow_ev_old_state(e)));
		js_str("new", fmt_state(st, tcpflow_ev_new_state(e)));
		break;
	case TCPFLOW_EV_SEGMENT:
		js_str("type", "segment");
		js_str("dir", fmt_dir(e));
		js_str("flags", fmt_tcp_flags(flags, sizeof(flags), e->flags));
		js_u64("seq", e->seq);
		js_u64("ack", e->ack);
		js_u64("win", e->win);
		js_u64("len", e->len);
		js_u64("retrans", tcpflow_ev_retrans(e));
		break;
	default:
		js_str("type", "unknown");
		js_u64("code", e->type);
		break;
	}
}

/* The owner's cgroup: its id, path and unit, null where unknown. */
void js_cgroup(unsigned long long id)
{
	const char *path = cg_path(id);
	char unit[256];

	js_u64("cgroup_id", id);
	if (path) {
		js_str("cgroup", path);
		js_str("unit", fmt_unit(unit, sizeof(unit), id, NULL));
	} else {
		js_null("cgroup");
		js_null("unit");
	}
}

/* The connection's fields, without the braces (follow adds its own). */
void js_conn_fields(const struct tcpflow_conn_info *ci)
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
	js_str("role", fmt_role(ci->role));
	js_str("state", fmt_state(st, ci->state));
	js_u64("pid", ci->pid);
	memcpy(comm, ci->comm, 16);
	comm[16] = '\0';
	js_str("comm", comm);
	js_cgroup(ci->cgroup_id);
}

void js_conn(const struct tf_snap *sn, const struct tf_conn *c,
	     const enum tf_delivery *delivery)
{
	static const char * const delivery_names[] = {
		[TF_DELIVERY_UNKNOWN] = "unknown",
		[TF_DELIVERY_DELIVERED] = "delivered",
		[TF_DELIVERY_LOST] = "lost",
		[TF_DELIVERY_UNSENT] = "unsent",
	};
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
	js_bool("tw_overflow", ci->flags & TCPFLOW_CONN_TW_OVERFLOW);
	js_bool("syncookie", ci->flags & TCPFLOW_CONN_SYNCOOKIE);
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
		if (delivery && c->ev[i].type == TCPFLOW_EV_SEGMENT)
			js_str("delivery", delivery_names[delivery[i]]);
		js_close('}');
	}
	js_close(']');
	js_close('}');
}

void js_loss(unsigned long long n)
{
	js_open('{');
	js_str("type", "loss");
	js_u64("events", n);
	js_close('}');
}
