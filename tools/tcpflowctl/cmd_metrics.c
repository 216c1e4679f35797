// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl metrics: the snapshot in Prometheus's text exposition format
 * (version 0.0.4), for node_exporter's textfile collector.  Names carry
 * the tcpflow_ prefix, times are in seconds, counters end in _total, and
 * every label has a bounded set of values: states and roles are the
 * ABI's, owners and peers the --top N with the most (the rest summed as
 * "other").
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tcpflowctl.h"

#define TF_SYS_MODULE "/sys/module/tcpflow"

/* Handshake histogram bounds, seconds: loopback to a distant retry. */
static const char * const hs_le[] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
	"0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

static const unsigned long long hs_le_ns[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	2500000000, 5000000000, 10000000000,
};

static_assert(ARRAY_SIZE(hs_le) == ARRAY_SIZE(hs_le_ns), "bucket bounds");

static void prom_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static const char *prom_esc(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			buf[o++] = '\\';
			buf[o++] = *s == '\n' ? 'n' : *s;
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Nanoseconds as seconds, exactly: "1.5", "120", "0.000021". */
static const char *prom_secs(char *buf, size_t len, unsigned long long ns)
{
	int n = snprintf(buf, len, "%llu.%09llu", ns / NSEC_PER_SEC,
			 ns % NSEC_PER_SEC);

	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

static bool conn_live(const struct tf_conn *c)
{
	return !(c->info.flags & TCPFLOW_CONN_CLOSED);
}

static unsigned int role_idx(unsigned int role)
{
	return role < TCPFLOW_ROLE_MAX ? role : TCPFLOW_ROLE_UNKNOWN;
}

/* Live connections by state and role, in the ABI's order. */
static void metrics_states(const struct tf_snap *sn)
{
	static unsigned long n[256][TCPFLOW_ROLE_MAX];
	char st[TF_STATE_LEN];
	unsigned int s, r;
	size_t i;

	for (i = 0; i < sn->n; i++)
		if (conn_live(&sn->conns[i]))
			n[sn->conns[i].info.state][role_idx(sn->conns[i].info.role)]++;
	prom_head("tcpflow_connections", "gauge",
		  "Connections tcpflow holds that are not closed, by TCP state and role.");
	for (s = 0; s < ARRAY_SIZE(n); s++)
		for (r = 0; r < TCPFLOW_ROLE_MAX; r++)
			if (n[s][r])
				printf("tcpflow_connections{state=\"%s\",role=\"%s\"} %lu\n",
				       fmt_state(st, s), fmt_role(r), n[s][r]);
}

static void metrics_transitions(const struct tf_snap *sn)
{
	char a[TF_STATE_LEN], b[TF_STATE_LEN];
	struct tf_trans *tr;
	size_t i, n;

	n = snap_transitions(sn, &tr);
	prom_head("tcpflow_transitions_total", "counter",
		  "State transitions in the histories tcpflow holds, by old and new state.");
	for (i = 0; i < n; i++)
		printf("tcpflow_transitions_total{from=\"%s\",to=\"%s\"} %llu\n",
		       fmt_state(a, tr[i].from), fmt_state(b, tr[i].to),
		       tr[i].n);
	free(tr);
}

/* CLOSE_WAIT connections of one recorded owner (comm, and unit). */
struct tf_cw {
	char comm[17];
	char unit[128];			/* fmt_unit(): "-" when unknown */
	unsigned long n;
	unsigned long long oldest;
};

static int cw_cmp(const void *a, const void *b)
{
	const struct tf_cw *x = a, *y = b;
	int d;

	if (x->oldest != y->oldest)
		return x->oldest > y->oldest ? -1 : 1;
	d = strcmp(x->comm, y->comm);
	return d ? d : strcmp(x->unit, y->unit);
}

/* The --top owners with the oldest CLOSE_WAIT, the rest as "other". */
static void metrics_close_wait(const struct tf_snap *sn, unsigned long top)
{
	struct tf_cw *g = NULL, other = { .comm = "other", .unit = "other" };
	char comm[17], unit[128], esc[40], uesc[260], age[32];
	size_t i, j, n = 0;

	for (i = 0; i < sn->n; i++) {
		const struct tf_conn *c = &sn->conns[i];
		unsigned long long age_ns = conn_age(sn, c);

		if (c->info.state != TCPFLOW_CLOSE_WAIT || !conn_live(c))
			continue;
		fmt_comm(comm, sizeof(comm), c->info.comm);
		if (!comm[0])	/* the owner was not seen or is hidden */
			snprintf(comm, sizeof(comm), "-");
		fmt_unit(unit, sizeof(unit), c->info.cgroup_id, NULL);
		for (j = 0; j < n; j++)
			if (!strcmp(g[j].comm, comm) && !strcmp(g[j].unit, unit))
				break;
		if (j == n) {
			g = xrealloc(g, (n + 1) * sizeof(*g));
			g[n] = (struct tf_cw){ .n = 0 };
			memcpy(g[n].comm, comm, sizeof(comm));
			memcpy(g[n++].unit, unit, sizeof(unit));
		}
		g[j].n++;
		if (age_ns > g[j].oldest)
			g[j].oldest = age_ns;
	}
	if (n)
		qsort(g, n, sizeof(*g), cw_cmp);
	for (i = top; i < n; i++) {
		other.n += g[i].n;
		if (g[i].oldest > other.oldest)
			other.oldest = g[i].oldest;
	}
	if (n > top) {
		n = top;
		g = xrealloc(g, (n + 1) * sizeof(*g));
		g[n++] = other;
	}
	prom_head("tcpflow_close_wait_connections", "gauge",
		  "Connections in CLOSE_WAIT (the peer closed, this end did not), by recorded owner.");
	for (i = 0; i < n; i++)
		printf("tcpflow_close_wait_connections{comm=\"%s\",unit=\"%s\"} %lu\n",
		       prom_esc(esc, sizeof(esc), g[i].comm),
		       prom_esc(uesc, sizeof(uesc), g[i].unit), g[i].n);
	prom_head("tcpflow_close_wait_oldest_seconds", "gauge",
		  "Time since the oldest CLOSE_WAIT connection of each recorded owner entered it.");
	for (i = 0; i < n; i++)
		printf("tcpflow_close_wait_oldest_seconds{comm=\"%s\",unit=\"%s\"} %s\n",
		       prom_esc(esc, sizeof(esc), g[i].comm),
		       prom_esc(uesc, sizeof(uesc), g[i].unit),
		       prom_secs(age, sizeof(age), g[i].oldest));
	free(g);
}

/*
 * TIME_WAIT by peer address, the --top N peers with the most and the rest
 * as "other"; live, the local ports still free towards each (for "other":
 * the fewest of its peers') and the range's size.
 */
static void metrics_time_wait(const struct tf_snap *sn, unsigned long top,
			      bool live)
{
	unsigned long lo = 0, hi = 0, range = 0, other_tw = 0, other_free;
	bool ports = live && local_port_range(&lo, &hi);
	char a[INET6_ADDRSTRLEN];
	struct tf_tw *g;
	size_t i, n;

	if (ports)
		range = hi - lo + 1;
	other_free = range;
	n = tw_groups(sn, true, lo, hi, &g);
	for (i = top; i < n; i++) {
		other_tw += g[i].tw;
		if (range - g[i].used < other_free)
			other_free = range - g[i].used;
	}
	prom_head("tcpflow_time_wait_connections", "gauge",
		  "Connections in TIME_WAIT, by peer address (the top peers, the rest as other).");
	for (i = 0; i < n && i < top; i++)
		printf("tcpflow_time_wait_connections{peer=\"%s\"} %lu\n",
		       fmt_addr(a, sizeof(a), g[i].c->info.family,
				g[i].c->info.daddr), g[i].tw);
	if (n > top)
		printf("tcpflow_time_wait_connections{peer=\"other\"} %lu\n",
		       other_tw);
	if (!ports) {
		free(g);
		return;
	}
	prom_head("tcpflow_local_ports", "gauge",
		  "Ports in the ephemeral range (net.ipv4.ip_local_port_range).");
	printf("tcpflow_local_ports %lu\n", range);
	prom_head("tcpflow_local_ports_free", "gauge",
		  "Ephemeral ports connections to the peer do not hold (for other: the fewest of its peers).");
	for (i = 0; i < n && i < top; i++)
		printf("tcpflow_local_ports_free{peer=\"%s\"} %lu\n",
		       fmt_addr(a, sizeof(a), g[i].c->info.family,
				g[i].c->info.daddr), range - g[i].used);
	if (n > top)
		printf("tcpflow_local_ports_free{peer=\"other\"} %lu\n",
		       other_free);
	free(g);
}

/* Handshake times of clients and of servers, cumulative buckets. */
static void metrics_handshake(const struct tf_snap *sn)
{
	static const unsigned int roles[] = {
		TCPFLOW_ROLE_CLIENT, TCPFLOW_ROLE_SERVER,
	};
	unsigned long long sum, cnt, b[ARRAY_SIZE(hs_le_ns)];
	char secs[32];
	const char *role;
	size_t i, j, r;
	long long hs;

	prom_head("tcpflow_handshake_seconds", "histogram",
		  "Time from the first SYN to ESTABLISHED, by role.");
	for (r = 0; r < ARRAY_SIZE(roles); r++) {
		memset(b, 0, sizeof(b));
		sum = 0;
		cnt = 0;
		role = fmt_role(roles[r]);
		for (i = 0; i < sn->n; i++) {
			if (sn->conns[i].info.role != roles[r])
				continue;
			hs = conn_handshake(&sn->conns[i]);
			if (hs < 0)
				continue;
			for (j = 0; j < ARRAY_SIZE(hs_le_ns); j++)
				if ((unsigned long long)hs <= hs_le_ns[j])
					b[j]++;
			sum += hs;
			cnt++;
		}
		for (j = 0; j < ARRAY_SIZE(hs_le); j++)
			printf("tcpflow_handshake_seconds_bucket{role=\"%s\",le=\"%s\"} %llu\n",
			       role, hs_le[j], b[j]);
		printf("tcpflow_handshake_seconds_bucket{role=\"%s\",le=\"+Inf\"} %llu\n",
		       role, cnt);
		printf("tcpflow_handshake_seconds_sum{role=\"%s\"} %s\n", role,
		       prom_secs(secs, sizeof(secs), sum));
		printf("tcpflow_handshake_seconds_count{role=\"%s\"} %llu\n",
		       role, cnt);
	}
}

static void prom_counter(const char *name, const char *help,
			 unsigned long long v)
{
	prom_head(name, "counter", help);
	printf("%s %llu\n", name, v);
}

static void prom_gauge(const char *name, const char *help,
		       unsigned long long v)
{
	prom_head(name, "gauge", help);
	printf("%s %llu\n", name, v);
}

/* The module's counters; untracked and evicted only live. */
static void metrics_counters(const struct tcpflow_counters *k, bool have_k)
{
	prom_gauge("tcpflow_table_connections",
		   "Connections tcpflow holds, live and closed histories.",
		   k->conns);
	prom_gauge("tcpflow_table_closed_connections",
		   "Closed histories tcpflow holds (reused first when the table is full).",
		   k->closed);
	prom_counter("tcpflow_events_total", "Events tcpflow recorded.",
		     k->events_total);
	prom_counter("tcpflow_events_dropped_total",
		     "Events tcpflow lost: a history full, a connection untracked.",
		     k->events_dropped);
	if (!have_k)
		return;
	prom_gauge("tcpflow_table_max_connections",
		   "Connections tcpflow can hold (the max_conns parameter).",
		   k->max_conns);
	prom_counter("tcpflow_connections_untracked_total",
		     "Connections tcpflow had no room for.", k->untracked);
	prom_counter("tcpflow_connections_evicted_total",
		     "Closed histories reused for new connections.",
		     k->evicted);
}

/* A parameter's value from sysfs, its newline dropped; "" if unreadable. */
static void sys_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f && !fgets(buf, len, f))
		buf[0] = '\0';
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * The loaded module's version and parameters as labels of an info
 * metric.  key_seed (test builds) is the tuple hash's secret: never shown.
 */
static void metrics_module_info(void)
{
	char path[512], val[1024], esc[2052];	/* ports= up to 64 items */
	struct dirent **ents;
	int i, n;

	n = scandir(TF_SYS_MODULE "/parameters", &ents, NULL, alphasort);
	if (n < 0)
		return;
	prom_head("tcpflow_module_info", "gauge",
		  "The loaded module's version and parameters, as labels.");
	sys_read(TF_SYS_MODULE "/version", val, sizeof(val));
	printf("tcpflow_module_info{version=\"%s\"",
	       prom_esc(esc, sizeof(esc), val));
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (name[0] != '.' && strcmp(name, "key_seed") &&
		    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
		    strlen(name)) {
			snprintf(path, sizeof(path),
				 TF_SYS_MODULE "/parameters/%s", name);
			sys_read(path, val, sizeof(val));
			printf(",%s=\"%s\"", name,
			       prom_esc(esc, sizeof(esc), val));
		}
		free(ents[i]);
	}
	free(ents);
	printf("} 1\n");
}

/*
 * -o FILE: stdout goes to a new file in FILE's directory, which
 * out_commit() renames over FILE once complete, so that a collector never
 * reads half of it.  Its name starts with a dot and does not end in
 * .prom: the textfile collector skips it.  0, or -1 (reported).
 */
static int out_open(const char *file, char *tmp, size_t len)
{
	char dir[4096];
	int fd;

	snprintf(dir, sizeof(dir), "%s", file);
	snprintf(tmp, len, "%s/.tcpflow-metrics.XXXXXX", dirname(dir));
	fd = mkstemp(tmp);
	if (fd < 0) {
		tf_err("%s: %s", tmp, strerror(errno));
		return -1;
	}
	fflush(stdout);
	if (fchmod(fd, 0644) < 0 || dup2(fd, STDOUT_FILENO) < 0) {
		tf_err("%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return 0;
}

static int out_commit(const char *file, const char *tmp)
{
	errno = 0;
	if (fflush(stdout) || ferror(stdout) || fsync(STDOUT_FILENO) < 0 ||
	    rename(tmp, file) < 0) {
		tf_err("%s: %s", file, strerror(errno ?: EIO));
		unlink(tmp);
		return 1;
	}
	return 0;
}

int cmd_metrics(struct tf_ctx *x)
{
	const struct tf_snap *sn = x->sn;
	unsigned long top = x->o->top;
	bool live = x->src->dev;
	struct tcpflow_counters k;
	char tmp[4096];
	int have_k;

	have_k = snap_counters(x->src, sn, &k);
	if (have_k < 0)
		return 1;
	if (x->o->out && out_open(x->o->out, tmp, sizeof(tmp)))
		return 1;
	metrics_states(sn);
	metrics_transitions(sn);
	metrics_close_wait(sn, top);
	metrics_time_wait(sn, top, live);
	metrics_handshake(sn);
	metrics_counters(&k, have_k);
	if (live)
		metrics_module_info();
	return x->o->out ? out_commit(x->o->out, tmp) : 0;
}
