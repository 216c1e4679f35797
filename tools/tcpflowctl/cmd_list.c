// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl list: connections, one per line, like ss (the default).  The
 * Unit column (cgroup.c) is there when one of them has a cgroup.
 */
#include <stdio.h>

#include "tcpflowctl.h"

static bool list_wants(const struct tf_opts *o, const struct tf_conn *c)
{
	if (!o->all && (c->info.flags & TCPFLOW_CONN_CLOSED))
		return false;
	return filter_match(&o->flt, &c->info);
}

int cmd_list(struct tf_ctx *x)
{
	const struct tf_snap *sn = x->sn;
	const struct tf_opts *o = x->o;
	static const char * const head[] = {
		"ID", "State", "Age", "Local Address:Port",
		"Peer Address:Port", "Netns", "Role", "Handshake", "Unit",
		"Process",
	};
	struct tf_table t = TF_TABLE(head, "rllllrllll");
	char id[24], age[24], l[64], p[64], ns[16], hs[24], own[40];
	char st[TF_STATE_LEN], unit[256];
	const struct tf_conn *c;
	long long h;
	size_t i;

	/* Unit, the last but one, until a connection has a cgroup */
	t.hide = 1U << (ARRAY_SIZE(head) - 2);

	if (sn->lost && !tf_json)
		printf("# lost %llu events\n", sn->lost);
	else if (sn->lost)
		js_loss(sn->lost);
	for (i = 0; i < sn->n; i++) {
		c = &sn->conns[i];
		if (!list_wants(o, c))
			continue;
		if (tf_json) {
			js_conn(sn, c, NULL);
			continue;
		}
		h = conn_handshake(c);
		if (c->info.cgroup_id)
			t.hide = 0;
		snprintf(id, sizeof(id), "%llu", (unsigned long long)c->info.id);
		snprintf(ns, sizeof(ns), "%u", c->info.netns);
		tbl_add(&t, id, fmt_state(st, c->info.state),
			fmt_dur(age, sizeof(age), conn_age(sn, c)),
			fmt_ep(l, sizeof(l), c->info.family, c->info.saddr,
			       c->info.sport),
			fmt_ep(p, sizeof(p), c->info.family, c->info.daddr,
			       c->info.dport),
			ns, c->info.role != TCPFLOW_ROLE_UNKNOWN &&
			(c->info.flags & TCPFLOW_CONN_REQUEST) ? "request" :
			fmt_role(c->info.role),
			h < 0 ? "-" : fmt_dur(hs, sizeof(hs), h),
			fmt_unit(unit, sizeof(unit), c->info.cgroup_id, NULL),
			fmt_owner(own, sizeof(own), &c->info));
	}
	if (!tf_json)
		tbl_print(&t, o->header);
	return 0;
}
