// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: the filters (-s, --port, --addr, --netns, --pid, --cgroup)
 * and the parsers of what a user types: numbers, state names, addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "tcpflowctl.h"

bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* ss names (close-wait), the kernel's (CLOSE_WAIT), any case. */
int parse_state(const char *s)
{
	int i;

	for (i = 1; i < TCPFLOW_STATE_MAX; i++)
		if (!strcasecmp(s, tcpflow_state_ss_name(i)) ||
		    !strcasecmp(s, tcpflow_state_name(i)))
			return i;
	return -1;
}

/* addr as 16 bytes, IPv4 as ::ffff:a.b.c.d; accepts [v6]. */
bool parse_addr(const char *s, __u8 *out)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);
	struct in_addr a4;

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, s, out) == 1;
}

/* A connection's address in the filter's form. */
void addr_mapped(const struct tcpflow_conn_info *ci, const __u8 *a,
		 __u8 *out)
{
	if (ci->family == AF_INET6) {
		memcpy(out, a, 16);
		return;
	}
	memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	memcpy(out + 12, a, 4);
}

static bool filter_cgroup(const struct tf_filter *f, unsigned long long id)
{
	size_t i;

	for (i = 0; i < f->ncgroups; i++)
		if (cg_match(f->cgroups[i], id))
			return true;
	return false;
}

bool filter_match(const struct tf_filter *f,
		  const struct tcpflow_conn_info *ci)
{
	__u8 s[16], d[16];

	if (f->state_mask && !(f->state_mask & (1U << ci->state)))
		return false;
	if (f->port_set && ci->sport != f->port && ci->dport != f->port)
		return false;
	if (f->netns_set && ci->netns != f->netns)
		return false;
	if (f->pid_set && ci->pid != f->pid)
		return false;
	if (f->ncgroups && !filter_cgroup(f, ci->cgroup_id))
		return false;
	if (f->addr_set) {
		addr_mapped(ci, ci->saddr, s);
		addr_mapped(ci, ci->daddr, d);
		if (memcmp(s, f->addr, 16) && memcmp(d, f->addr, 16))
			return false;
	}
	return true;
}

/* ADDR:PORT, [V6]:PORT: the address in filter form, and the port. */
bool parse_ep(const char *s, __u8 *addr, unsigned int *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p;
	char buf[64];

	if (!colon || (size_t)(colon - s) >= sizeof(buf) ||
	    !parse_ulong(colon + 1, 65535, &p))
		return false;
	memcpy(buf, s, colon - s);
	buf[colon - s] = '\0';
	*port = p;
	return parse_addr(buf, addr);
}
