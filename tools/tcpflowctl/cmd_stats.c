// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl stats: the counters, the transitions by kind and a histogram
 * of handshake times.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tcpflowctl.h"

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

int cmd_stats(struct tf_ctx *x)
{
	const struct tf_snap *sn = x->sn;
	const struct tf_opts *o = x->o;
	struct tf_src *s = x->src;
	static const char * const head[] = { "Transition", "Count" };
	static unsigned long long tr[TCPFLOW_STATE_MAX + 1][TCPFLOW_STATE_MAX + 1];
	unsigned long long h[HIST_BUCKETS] = { 0 };
	struct tcpflow_counters k = { 0 };
	struct tf_table t = TF_TABLE(head, "lr");
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

		for (e = 0; e < c->nev; e++) {
			const struct tcpflow_event *ev = &c->ev[e];

			if (ev->type == TCPFLOW_EV_STATE)
				tr[state_idx(tcpflow_ev_old_state(ev))]
				  [state_idx(tcpflow_ev_new_state(ev))]++;
		}
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
			js_str("old", fmt_state(st, bi));
			js_str("new", fmt_state(st, bj));
			js_u64("count", best);
			js_close('}');
			continue;
		}
		snprintf(name, sizeof(name), "%s>", fmt_state(st, bi));
		strncat(name, fmt_state(st, bj), sizeof(name) - strlen(name) - 1);
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
