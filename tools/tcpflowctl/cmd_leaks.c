// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl leaks: CLOSE_WAIT connections past a threshold, with the
 * processes that hold them now (sock_diag by cookie, then /proc/PID/fd),
 * and TIME_WAIT by peer against the local port range.  Owners are counted
 * by the unit of their cgroup where it was recorded ("which service
 * leaks", whatever its processes' pids were), by pid otherwise.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "tcpflowctl.h"

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

/* The CLOSE_WAIT connections of one recorded owner. */
struct tf_owner {
	char *key;			/* its unit's cgroup, or name */
	char name[256];			/* fmt_unit(), or fmt_owner() */
	size_t n;
	const struct tf_leak *oldest;
	unsigned int ports[4];		/* local ports of its servers */
	size_t nports;
	bool more_ports;
};

/* Per-connection lines shown without -v: the oldest ones. */
#define LEAKS_LINES 20

static int leak_cmp(const void *a, const void *b)
{
	const struct tf_leak *x = a, *y = b;

	if (x->age != y->age)
		return x->age > y->age ? -1 : 1;
	return x->c->info.id < y->c->info.id ? -1 : 1;
}

static int port_cmp(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

/*
 * Who owns ci: the unit of its cgroup (name), keyed by the cgroup that
 * names the unit, so a service's sub-cgroups count with it ("cgroup:ID"
 * when it is not resolved); else its pid and comm.  Paths start with '/',
 * the other keys never do.  free() the key.
 */
static char *owner_key(const struct tcpflow_conn_info *ci, char *name,
		       size_t len)
{
	size_t scope;
	char *key;

	if (!ci->cgroup_id)
		return xstrdup(fmt_owner(name, len, ci));
	fmt_unit(name, len, ci->cgroup_id, &scope);
	if (!scope)
		return xstrdup(name);
	key = xstrdup(cg_path(ci->cgroup_id));
	key[scope] = '\0';
	return key;
}

/*
 * One entry per recorded owner, in order of their oldest connection (lk is
 * sorted oldest first), with the local ports its accepted connections
 * came in on: on a server, which service leaks and where.
 */
static size_t owners_of(const struct tf_leak *lk, size_t n,
			struct tf_owner **out)
{
	struct tf_owner *ow = NULL;
	size_t no = 0, i, j, k;
	char name[256], *key;

	for (i = 0; i < n; i++) {
		const struct tcpflow_conn_info *ci = &lk[i].c->info;

		key = owner_key(ci, name, sizeof(name));
		for (j = 0; j < no && strcmp(ow[j].key, key); j++)
			;
		if (j == no) {
			ow = xrealloc(ow, (no + 1) * sizeof(*ow));
			ow[no] = (struct tf_owner){ .oldest = &lk[i], .key = key };
			snprintf(ow[no].name, sizeof(ow[no].name), "%s", name);
			no++;
		} else {
			free(key);
		}
		ow[j].n++;
		if (ci->role != TCPFLOW_ROLE_SERVER)
			continue;
		for (k = 0; k < ow[j].nports && ow[j].ports[k] != ci->sport; k++)
			;
		if (k < ow[j].nports)
			continue;
		if (k < ARRAY_SIZE(ow[j].ports))
			ow[j].ports[ow[j].nports++] = ci->sport;
		else
			ow[j].more_ports = true;
	}
	for (j = 0; j < no; j++)	/* the first four found, in order */
		qsort(ow[j].ports, ow[j].nports, sizeof(ow[j].ports[0]),
		      port_cmp);
	*out = ow;
	return no;
}

static void owners_free(struct tf_owner *ow, size_t no)
{
	size_t i;

	for (i = 0; i < no; i++)
		free(ow[i].key);
	free(ow);
}

static const char *fmt_ports(char *buf, size_t len, const struct tf_owner *w)
{
	size_t i, off = 0;

	snprintf(buf, len, "-");
	for (i = 0; i < w->nports && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%u", i ? "," : "",
				w->ports[i]);
	if (w->more_ports && off < len)
		snprintf(buf + off, len - off, ",...");
	return buf;
}

static const char *fmt_leak_age(char *buf, size_t len, const struct tf_leak *l)
{
	/* '>': the FIN came before tcpflow was loaded, at least this long */
	buf[0] = l->known ? '\0' : '>';
	fmt_dur(buf + !l->known, len - 1, l->age);
	return buf;
}

static void leaks_by_owner(const struct tf_owner *ow, size_t no,
			   const struct tf_opts *o)
{
	static const char * const head[] = {
		"Recorded owner", "CLOSE_WAIT", "Oldest", "Local ports (server)",
	};
	struct tf_table t = TF_TABLE(head, "lrll");
	char cnt[24], age[64], ports[64], comm[17];
	size_t i, j;

	for (i = 0; i < no; i++) {
		if (tf_json) {
			js_open('{');
			js_str("type", "close_wait_owner");
			/* as in the close_wait objects: the comm as recorded */
			memcpy(comm, ow[i].oldest->c->info.comm, 16);
			comm[16] = '\0';
			js_u64("pid", ow[i].oldest->c->info.pid);
			js_str("comm", comm);
			js_cgroup(ow[i].oldest->c->info.cgroup_id);
			js_u64("close_wait", ow[i].n);
			js_u64("oldest_close_wait_ns", ow[i].oldest->age);
			js_bool("oldest_close_wait_known", ow[i].oldest->known);
			js_key("ports");
			js_open('[');
			for (j = 0; j < ow[i].nports; j++)
				js_u64(NULL, ow[i].ports[j]);
			js_close(']');
			js_bool("more_ports", ow[i].more_ports);
			js_close('}');
			continue;
		}
		snprintf(cnt, sizeof(cnt), "%zu", ow[i].n);
		tbl_add(&t, ow[i].name, cnt,
			fmt_leak_age(age, sizeof(age), ow[i].oldest),
			fmt_ports(ports, sizeof(ports), &ow[i]));
	}
	if (!tf_json) {
		tbl_print(&t, o->header);
		putchar('\n');
	}
}

static void leaks_close_wait(struct tf_leak *lk, size_t n, bool live,
			     const struct tf_opts *o)
{
	static const char * const head_dev[] = {
		"ID", "Since FIN", "Local Address:Port", "Peer Address:Port",
		"Netns", "Unit", "Recorded owner", "Owner now", "Unread",
	};
	struct tf_table t = TF_TABLE(head_dev, "rlllrlllr");
	char id[24], age[64], l[64], p[64], ns[16], own[40], rq[16];
	char unit[256];
	struct tf_owner *ow = NULL;
	size_t i, no, shown;

	no = owners_of(lk, n, &ow);
	if (tf_json) {
		leaks_by_owner(ow, no, o);
		owners_free(ow, no);
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
	printf("CLOSE_WAIT for %lus or more: %zu connection%s", o->threshold,
	       n, n == 1 ? "" : "s");
	if (n)
		printf(", %zu owner%s", no, no == 1 ? "" : "s");
	putchar('\n');
	if (!n)
		return;
	leaks_by_owner(ow, no, o);
	owners_free(ow, no);
	if (!live)	/* no "Owner now" and "Unread" in a recording */
		t.ncols -= 2;
	t.hide = 1U << 5;	/* Unit, unless a connection has a cgroup */
	shown = o->verbose || n <= LEAKS_LINES ? n : LEAKS_LINES;
	for (i = 0; i < shown; i++) {
		const struct tcpflow_conn_info *ci = &lk[i].c->info;

		snprintf(id, sizeof(id), "%llu", (unsigned long long)ci->id);
		snprintf(ns, sizeof(ns), "%u", ci->netns);
		fmt_leak_age(age, sizeof(age), &lk[i]);
		if (lk[i].now)
			snprintf(rq, sizeof(rq), "%u", lk[i].now->rqueue);
		else
			snprintf(rq, sizeof(rq), "-");
		if (ci->cgroup_id)
			t.hide = 0;
		tbl_add(&t, id, age,
			fmt_ep(l, sizeof(l), ci->family, ci->saddr, ci->sport),
			fmt_ep(p, sizeof(p), ci->family, ci->daddr, ci->dport),
			ns, fmt_unit(unit, sizeof(unit), ci->cgroup_id, NULL),
			fmt_owner(own, sizeof(own), ci),
			lk[i].now ? lk[i].owners : "-", rq);
	}
	tbl_print(&t, o->header);
	if (shown < n)
		printf("... and %zu more, younger (-v shows every one)\n",
		       n - shown);
}

static void leaks_time_wait(const struct tf_snap *sn, const struct tf_opts *o)
{
	static const char * const head[] = {
		"Local", "Peer", "TIME_WAIT", "Local ports free",
	};
	struct tf_table t = TF_TABLE(head, "llrl");
	unsigned long lo = 0, hi = 0, range = 0;
	char a[INET6_ADDRSTRLEN], p[64], tw[24], fr[48];
	bool have_range = local_port_range(&lo, &hi);
	struct tf_tw *g;
	size_t n, i;
	int pass;

	if (have_range)
		range = hi - lo + 1;
	for (pass = 0; pass < 2; pass++) {
		bool by_peer = pass == 0;

		n = tw_groups(sn, by_peer, lo, hi, &g);
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

int cmd_leaks(struct tf_ctx *x)
{
	const struct tf_snap *sn = x->sn;
	const struct tf_opts *o = x->o;
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
			.known = !!conn_find_state(c, -1, TCPFLOW_CLOSE_WAIT),
		};
		n++;
	}
	if (n)	/* qsort()'s base must not be NULL, even for 0 */
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
