// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl follow and dump: the live stream as it comes, one line per
 * event (follow), or the records themselves (dump; decoded with -j).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tcpflowctl.h"

static const char * const follow_head[] = {
	"Time", "ID", "Local Address:Port", "Peer Address:Port", "Process",
	"Event",
};

static void follow_line(unsigned long long t0, const struct tcpflow_conn_info *ci,
			const struct tcpflow_event *e)
{
	char ts[32], l[64], p[64], own[40], ev[160], id[24], line[512];
	char old[TF_STATE_LEN], new[TF_STATE_LEN];
	unsigned long long t = e->t_ns;
	struct tf_sb b;

	if (tf_json) {
		js_open('{');
		js_event(e);
		js_conn_fields(ci);
		js_close('}');
		return;
	}
	ts[0] = t >= t0 ? '+' : '-';
	fmt_secs(ts + 1, sizeof(ts) - 1, t >= t0 ? t - t0 : t0 - t);
	sb_init(&b, ev, sizeof(ev));
	if (e->type == TCPFLOW_EV_STATE) {
		sb_str(&b, fmt_state(old, tcpflow_ev_old_state(e)));
		sb_str(&b, " -> ");
		sb_str(&b, fmt_state(new, tcpflow_ev_new_state(e)));
	} else if (e->type == TCPFLOW_EV_SEGMENT) {
		sb_str(&b, fmt_dir(e));
		sb_str(&b, " ");
		fmt_segment(b.p, b.end + 1 - b.p, ci, e);
	} else {
		sb_str(&b, "event type ");
		sb_u64(&b, e->type, 1);
	}
	/* As "%12s  %5llu  %-21s  %-21s  %-20s  %s\n": the header's columns. */
	sb_init(&b, id, sizeof(id));
	sb_u64(&b, ci->id, 1);
	sb_init(&b, line, sizeof(line));
	sb_rpad(&b, ts, 12);
	sb_str(&b, "  ");
	sb_rpad(&b, id, 5);
	sb_str(&b, "  ");
	sb_pad(&b, fmt_ep(l, sizeof(l), ci->family, ci->saddr, ci->sport), 21);
	sb_str(&b, "  ");
	sb_pad(&b, fmt_ep(p, sizeof(p), ci->family, ci->daddr, ci->dport), 21);
	sb_str(&b, "  ");
	sb_pad(&b, fmt_owner(own, sizeof(own), ci), 20);
	sb_str(&b, "  ");
	sb_str(&b, ev);
	sb_str(&b, "\n");
	fputs(line, stdout);
}

/*
 * The live stream: each event comes as CONN (the connection after it) then
 * EVENT.  Runs until SIGINT, or the end of a recording.
 */
int cmd_follow(struct tf_ctx *x)
{
	const struct tf_opts *o = x->o;
	struct tf_src *s = x->src;
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
		js_u64("index", r->hdr.index);
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
int cmd_dump(struct tf_ctx *x)
{
	const struct tf_opts *o = x->o;
	struct tf_src *s = x->src;
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
