// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl stats: the counters, the transitions by kind and a histogram
 * of handshake times.
 */
#include <stdlib.h>
#include <string.h>

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

int cmd_stats(struct tf_ctx *x)
{
	const struct tf_snap *sn = x->sn;
	const struct tf_opts *o = x->o;
	static const char * const head[] = { "Transition", "Count" };
	unsigned long long h[HIST_BUCKETS] = { 0 };
	struct tcpflow_counters k;
	struct tf_table t = TF_TABLE(head, "lr");
	char name[48], cnt[24], st[TF_STATE_LEN];
	struct tf_trans *tr;
	size_t i, ntr;
	long long hs;
	int have_k;

	have_k = snap_counters(x->src, sn, &k);
	if (have_k < 0)
		return 1;
	for (i = 0; i < sn->n; i++) {
		hs = conn_handshake(&sn->conns[i]);
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
	ntr = snap_transitions(sn, &tr);
	for (i = 0; i < ntr; i++) {
		if (tf_json) {
			js_open('{');
			js_str("type", "transition");
			js_str("old", fmt_state(st, tr[i].from));
			js_str("new", fmt_state(st, tr[i].to));
			js_u64("count", tr[i].n);
			js_close('}');
			continue;
		}
		snprintf(name, sizeof(name), "%s>", fmt_state(st, tr[i].from));
		strncat(name, fmt_state(st, tr[i].to), sizeof(name) - strlen(name) - 1);
		snprintf(cnt, sizeof(cnt), "%llu", tr[i].n);
		tbl_add(&t, name, cnt);
	}
	free(tr);
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
