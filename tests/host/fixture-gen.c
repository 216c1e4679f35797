// SPDX-License-Identifier: GPL-2.0
/*
 * fixture-gen: writes /dev/tcpflow record streams for tcpflowctl's host
 * tests, exactly as include/uapi/linux/tcpflow.h describes them.
 *
 *   fixture-gen DIR [NGINX WORKER DOCKER SESSION POD]
 *   fixture-gen --big N FILE
 *
 * writes into DIR (cgroup.rec only when given the five cgroup ids):
 *   host.rec       a snapshot (then SYNC at now = 1000 s) of:
 *                    1  listener 127.0.0.1:8080
 *                    2  client 127.0.0.1:40001 -> :8080, active close, TIME_WAIT
 *                    3  server 127.0.0.1:8080 <- :40001, LAST_ACK -> CLOSE, closed
 *                    4  listener 0.0.0.0:8082
 *                    5  server :8082 <- :40005, CLOSE_WAIT for 120 s
 *                    6  server :8082 <- :40006, CLOSE_WAIT for 10 s
 *                    7  client [2001:db8::5]:40010 -> [2001:db8::1]:443, segments
 *                       of one end (the SYN retransmitted), ESTABLISHED
 *                    8  pre-existing 10.0.0.5:22 <- 10.0.0.9:51234, no events
 *                    9  listener 127.0.0.1:9000
 *                   10  client 127.0.0.1:40020 -> :9000, state and segment
 *                       events, TIME_WAIT
 *                   11  server 127.0.0.1:9000 <- :40020, the same, closed
 *                   12, 13  clients 10.0.0.5 -> 10.0.0.7:5432 in TIME_WAIT
 *   stream.rec     a small snapshot with an unknown record type, SYNC at
 *                  now = 2000 s, then live records: CONN+EVENT pairs, a LOSS
 *   truncated.rec  host.rec cut in the middle of a record
 *   nosync.rec     host.rec without its SYNC record
 *   badsize.rec    a CONN record whose size is wrong
 *   unnamed.rec    values a newer module may send that this tool has no
 *                  name for: connection 30 with role 7 and state 14, a
 *                  state event 13 -> 14 in the snapshot, SYNC at now =
 *                  3000 s, then a live state event 14 -> 15
 *   busy.rec       more owners and peers than metrics labels (SYNC at now
 *                  = 4000 s): servers on 127.0.0.1:8000 in CLOSE_WAIT,
 *                  app00..app11 (one each, since 10..120 s), q"b\s (5 s)
 *                  and one pre-existing with no owner (since 1000 s);
 *                  clients from 10.0.0.5 in TIME_WAIT, k to 192.0.2.k for
 *                  k = 1..12, 20 to 2001:db8::7
 *   leaky.rec      41 CLOSE_WAIT (SYNC at now = 5000 s): web (pid 800),
 *                  30 servers on 127.0.0.1:80 (even i) and :443 (odd i),
 *                  since (i + 1) * 10 s, i = 0..29; worker (801), 5
 *                  clients to 10.0.0.9:5432, since 1000 + i s; gw (802),
 *                  6 servers on ports 9001..9006, since 500 + i s
 *   lost.rec       both ends of three connections across a veth pair (netns
 *                  4026532300 and 4026532301; SYNC at now = 5000 s):
 *                    1  listener 10.99.0.2:8000
 *                    2  client 10.99.0.1:40100 -> :8000, ESTABLISHED
 *                    3  server 10.99.0.2:8000 <- :40100, ESTABLISHED: what
 *                       it sent for 2.5 s was dropped (netem loss), so its
 *                       SYN-ACK went out 5 times and 2 saw only the last
 *                    4  client 10.99.0.1:40101 -> :8000, FIN_WAIT2
 *                    5  server 10.99.0.2:8000 <- :40101, CLOSE_WAIT: the
 *                       client's FIN arrived twice (netem duplicate) and
 *                       the server acknowledged both; the client, in
 *                       FIN_WAIT2, recorded only the first ACK (the module
 *                       keeps no pure ACK there)
 *                    6  client 10.99.0.1:40102 -> :8000, CLOSE: its first
 *                       SYN was lost, the second answered; its FIN crossed
 *                       the server's RST and reached a closed history
 *                    7  server 10.99.0.2:8000 <- :40102, CLOSE (RST sent)
 *   cgroup.rec     owners in cgroups (SYNC at now = 6000 s), ids as given:
 *                  the test made those directories and read their inode
 *                  numbers (see 050-cgroup.bats):
 *                    1  listener 0.0.0.0:80, nginx (900) in NGINX
 *                    2  server :80 <- 10.0.0.9:50001, CLOSE_WAIT for
 *                       300 s, nginx (901) in WORKER (under NGINX)
 *                    3  server :80 <- 10.0.0.9:50002, CLOSE_WAIT for
 *                       200 s, nginx (902) in NGINX
 *                    4  client 172.17.0.2:40000 -> 10.0.0.7:5432,
 *                       ESTABLISHED, app (1000) in DOCKER
 *                    5  client 10.0.0.5:41000 -> 10.0.0.8:443,
 *                       CLOSE_WAIT for 100 s, curl (1100) in SESSION
 *                    6  server :8080 <- 10.0.0.9:50010, CLOSE_WAIT for
 *                       400 s, old (1200) in cgroup 4242424242, gone
 *                    7  server :8081 <- 10.0.0.9:50011, CLOSE_WAIT for
 *                       90 s, legacy (1300), cgroup unknown (0)
 *                    8  client 10.244.0.5:40001 -> 10.0.0.7:5432,
 *                       ESTABLISHED, kube (1400) in POD
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tcpflow.h>

#define S 1000000000ULL			/* ns per second */
#define US 1000ULL			/* ns per microsecond */
#define NETNS 4026531840U

static FILE *out;
static char path[4096];
static size_t written, cut_at;

static void put(const void *p, size_t n)
{
	if (fwrite(p, 1, n, out) != n) {
		perror("fixture-gen: write");
		exit(1);
	}
	written += n;
}

static void rec(__u16 type, __u64 id, const void *payload, size_t n)
{
	struct tcpflow_rec_hdr h = {
		.type = type, .size = sizeof(h) + n, .conn_id = id,
	};

	put(&h, sizeof(h));
	put(payload, n);
}

static struct tcpflow_conn_info conn(__u64 id, int family, const char *src,
				     __u16 sport, const char *dst, __u16 dport,
				     __u8 role, __u8 state, __u32 pid,
				     const char *comm)
{
	struct tcpflow_conn_info c = {
		.id = id, .cookie = 0x2000 + id, .netns = NETNS, .pid = pid,
		.sport = sport, .dport = dport, .family = family,
		.role = role, .state = state,
	};

	inet_pton(family, src, c.saddr);
	inet_pton(family, dst, c.daddr);
	memcpy(c.comm, comm, strnlen(comm, sizeof(c.comm) - 1));
	return c;
}

/* A connection and its events; fills in first_ns and nevents. */
static void emit(struct tcpflow_conn_info *c, const struct tcpflow_event *ev,
		 size_t n)
{
	size_t i;

	if (c->id == 5)
		cut_at = written;
	c->nevents = n;
	if (n)
		c->first_ns = ev[0].t_ns;
	rec(TCPFLOW_REC_CONN, c->id, c, sizeof(*c));
	for (i = 0; i < n; i++)
		rec(TCPFLOW_REC_EVENT, c->id, &ev[i], sizeof(ev[i]));
}

#define ST(t, o, n) { .t_ns = (t), .type = TCPFLOW_EV_STATE, .a = (o), .b = (n) }
#define SEG(t, d, f, s, k, w, l, r) { .t_ns = (t), .type = TCPFLOW_EV_SEGMENT, \
	.a = (d), .flags = (f), .seq = (s), .ack = (k), .win = (w), .len = (l), \
	.b = (r) }
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TX TCPFLOW_DIR_TX
#define RX TCPFLOW_DIR_RX
#define SYN TCPFLOW_TCP_SYN
#define ACK TCPFLOW_TCP_ACK
#define FIN TCPFLOW_TCP_FIN
#define PSH TCPFLOW_TCP_PSH
#define RST TCPFLOW_TCP_RST

enum {
	ESTABLISHED = TCPFLOW_ESTABLISHED, SYN_SENT = TCPFLOW_SYN_SENT,
	SYN_RECV = TCPFLOW_SYN_RECV, FIN_WAIT1 = TCPFLOW_FIN_WAIT1,
	FIN_WAIT2 = TCPFLOW_FIN_WAIT2, TIME_WAIT = TCPFLOW_TIME_WAIT,
	CLOSE = TCPFLOW_CLOSE, CLOSE_WAIT = TCPFLOW_CLOSE_WAIT,
	LAST_ACK = TCPFLOW_LAST_ACK, LISTEN = TCPFLOW_LISTEN,
};

static void host_snapshot(bool with_sync)
{
	const __u64 now = 1000 * S, t1 = now - 10 * S, t7 = now - 5 * S;
	const __u64 t10 = now - 30 * S;
	struct tcpflow_conn_info c;

	/* 1-3: the loopback pair and its listener, state events only */
	struct tcpflow_event e1[] = { ST(500 * S, CLOSE, LISTEN) };
	struct tcpflow_event e2[] = {
		ST(t1, CLOSE, SYN_SENT),
		ST(t1 + 80 * US, SYN_SENT, ESTABLISHED),
		ST(t1 + 622 * US, ESTABLISHED, FIN_WAIT1),
		ST(t1 + 680 * US, FIN_WAIT1, FIN_WAIT2),
		ST(t1 + 10310 * US, FIN_WAIT2, TIME_WAIT),
	};
	struct tcpflow_event e3[] = {
		ST(t1 + 90 * US, LISTEN, SYN_RECV),
		ST(t1 + 95 * US, SYN_RECV, ESTABLISHED),
		ST(t1 + 650 * US, ESTABLISHED, CLOSE_WAIT),
		ST(t1 + 10250 * US, CLOSE_WAIT, LAST_ACK),
		ST(t1 + 10330 * US, LAST_ACK, CLOSE),
	};
	/* 4-6: a server that never closes what its peers closed */
	struct tcpflow_event e4[] = { ST(now - 300 * S, CLOSE, LISTEN) };
	struct tcpflow_event e5[] = {
		ST(now - 200 * S, LISTEN, SYN_RECV),
		ST(now - 200 * S + 50 * US, SYN_RECV, ESTABLISHED),
		ST(now - 120 * S, ESTABLISHED, CLOSE_WAIT),
	};
	struct tcpflow_event e6[] = {
		ST(now - 15 * S, LISTEN, SYN_RECV),
		ST(now - 15 * S + 40 * US, SYN_RECV, ESTABLISHED),
		ST(now - 10 * S, ESTABLISHED, CLOSE_WAIT),
	};
	/* 7: IPv6, one end seen, its SYN retransmitted once */
	struct tcpflow_event e7[] = {
		ST(t7, CLOSE, SYN_SENT),
		SEG(t7 + 10 * US, TX, SYN, 7000, 0, 64800, 0, 0),
		SEG(t7 + S + 10 * US, TX, SYN, 7000, 0, 64800, 0, 1),
		SEG(t7 + S + 1500 * US, RX, SYN | ACK, 9000, 7001, 65160, 0, 0),
		ST(t7 + S + 1510 * US, SYN_SENT, ESTABLISHED),
		SEG(t7 + S + 1520 * US, TX, ACK, 7001, 9001, 507, 0, 0),
	};
	/* 9-11: both ends with segments: the textbook exchange */
	struct tcpflow_event e9[] = { ST(t10 - S, CLOSE, LISTEN) };
	struct tcpflow_event e10[] = {
		ST(t10, CLOSE, SYN_SENT),
		SEG(t10 + 2 * US, TX, SYN, 1000, 0, 65495, 0, 0),
		SEG(t10 + 20 * US, RX, SYN | ACK, 5000, 1001, 65483, 0, 0),
		ST(t10 + 21 * US, SYN_SENT, ESTABLISHED),
		SEG(t10 + 22 * US, TX, ACK, 1001, 5001, 512, 0, 0),
		SEG(t10 + 100 * US, TX, PSH | ACK, 1001, 5001, 512, 100, 0),
		SEG(t10 + 118 * US, RX, ACK, 5001, 1101, 512, 0, 0),
		SEG(t10 + 200 * US, TX, FIN | ACK, 1101, 5001, 512, 0, 0),
		ST(t10 + 201 * US, ESTABLISHED, FIN_WAIT1),
		SEG(t10 + 218 * US, RX, ACK, 5001, 1102, 512, 0, 0),
		ST(t10 + 219 * US, FIN_WAIT1, FIN_WAIT2),
		SEG(t10 + 308 * US, RX, FIN | ACK, 5001, 1102, 512, 0, 0),
		ST(t10 + 309 * US, FIN_WAIT2, TIME_WAIT),
		SEG(t10 + 310 * US, TX, ACK, 1102, 5002, 512, 0, 0),
	};
	struct tcpflow_event e11[] = {
		SEG(t10 + 10 * US, RX, SYN, 1000, 0, 65495, 0, 0),
		ST(t10 + 11 * US, LISTEN, SYN_RECV),
		SEG(t10 + 12 * US, TX, SYN | ACK, 5000, 1001, 65483, 0, 0),
		SEG(t10 + 30 * US, RX, ACK, 1001, 5001, 512, 0, 0),
		ST(t10 + 31 * US, SYN_RECV, ESTABLISHED),
		SEG(t10 + 108 * US, RX, PSH | ACK, 1001, 5001, 512, 100, 0),
		SEG(t10 + 110 * US, TX, ACK, 5001, 1101, 512, 0, 0),
		SEG(t10 + 208 * US, RX, FIN | ACK, 1101, 5001, 512, 0, 0),
		ST(t10 + 209 * US, ESTABLISHED, CLOSE_WAIT),
		SEG(t10 + 210 * US, TX, ACK, 5001, 1102, 512, 0, 0),
		SEG(t10 + 300 * US, TX, FIN | ACK, 5001, 1102, 512, 0, 0),
		ST(t10 + 301 * US, CLOSE_WAIT, LAST_ACK),
		SEG(t10 + 318 * US, RX, ACK, 1102, 5002, 512, 0, 0),
		ST(t10 + 319 * US, LAST_ACK, CLOSE),
	};
	/* 12, 13: TIME_WAIT towards one peer */
	struct tcpflow_event e12[] = {
		ST(now - 40 * S, CLOSE, SYN_SENT),
		ST(now - 40 * S + 300 * US, SYN_SENT, ESTABLISHED),
		ST(now - 20 * S, ESTABLISHED, FIN_WAIT1),
		ST(now - 20 * S + 200 * US, FIN_WAIT1, FIN_WAIT2),
		ST(now - 20 * S + 400 * US, FIN_WAIT2, TIME_WAIT),
	};
	struct tcpflow_event e13[] = {
		ST(now - 30 * S, CLOSE, SYN_SENT),
		ST(now - 30 * S + 2500 * US, SYN_SENT, ESTABLISHED),
		ST(now - 5 * S, ESTABLISHED, FIN_WAIT1),
		ST(now - 5 * S + 200 * US, FIN_WAIT1, FIN_WAIT2),
		ST(now - 5 * S + 400 * US, FIN_WAIT2, TIME_WAIT),
	};
	struct tcpflow_sync sync = { .now_ns = now };

	c = conn(1, AF_INET, "127.0.0.1", 8080, "0.0.0.0", 0,
		 TCPFLOW_ROLE_LISTENER, LISTEN, 142, "tcpflow-sock");
	emit(&c, e1, N(e1));
	c = conn(2, AF_INET, "127.0.0.1", 40001, "127.0.0.1", 8080,
		 TCPFLOW_ROLE_CLIENT, TIME_WAIT, 143, "tcpflow-sock");
	emit(&c, e2, N(e2));
	c = conn(3, AF_INET, "127.0.0.1", 8080, "127.0.0.1", 40001,
		 TCPFLOW_ROLE_SERVER, CLOSE, 142, "tcpflow-sock");
	c.parent_id = 1;
	c.flags = TCPFLOW_CONN_CLOSED;
	emit(&c, e3, N(e3));
	c = conn(4, AF_INET, "0.0.0.0", 8082, "0.0.0.0", 0,
		 TCPFLOW_ROLE_LISTENER, LISTEN, 150, "leaky");
	emit(&c, e4, N(e4));
	c = conn(5, AF_INET, "127.0.0.1", 8082, "127.0.0.1", 40005,
		 TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 150, "leaky");
	c.parent_id = 4;
	emit(&c, e5, N(e5));
	c = conn(6, AF_INET, "127.0.0.1", 8082, "127.0.0.1", 40006,
		 TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 150, "leaky");
	c.parent_id = 4;
	emit(&c, e6, N(e6));
	c = conn(7, AF_INET6, "2001:db8::5", 40010, "2001:db8::1", 443,
		 TCPFLOW_ROLE_CLIENT, ESTABLISHED, 300, "curl");
	c.netns = 4026532200U;
	c.isn_local = 7000;
	c.isn_remote = 9000;
	c.flags |= TCPFLOW_CONN_ISN_LOCAL | TCPFLOW_CONN_ISN_REMOTE;
	emit(&c, e7, N(e7));
	c = conn(8, AF_INET, "10.0.0.5", 22, "10.0.0.9", 51234,
		 TCPFLOW_ROLE_UNKNOWN, ESTABLISHED, 0, "");
	c.flags = TCPFLOW_CONN_PREEXISTING;
	c.first_ns = 200 * S;
	emit(&c, NULL, 0);
	c = conn(9, AF_INET, "127.0.0.1", 9000, "0.0.0.0", 0,
		 TCPFLOW_ROLE_LISTENER, LISTEN, 160, "srv \"q\"");
	emit(&c, e9, N(e9));
	c = conn(10, AF_INET, "127.0.0.1", 40020, "127.0.0.1", 9000,
		 TCPFLOW_ROLE_CLIENT, TIME_WAIT, 161, "cli");
	c.isn_local = 1000;
	c.isn_remote = 5000;
	c.flags |= TCPFLOW_CONN_ISN_LOCAL | TCPFLOW_CONN_ISN_REMOTE;
	emit(&c, e10, N(e10));
	c = conn(11, AF_INET, "127.0.0.1", 9000, "127.0.0.1", 40020,
		 TCPFLOW_ROLE_SERVER, CLOSE, 160, "srv \"q\"");
	c.parent_id = 9;
	c.flags = TCPFLOW_CONN_CLOSED | TCPFLOW_CONN_ISN_LOCAL |
		  TCPFLOW_CONN_ISN_REMOTE;
	c.isn_local = 5000;
	c.isn_remote = 1000;
	emit(&c, e11, N(e11));
	c = conn(12, AF_INET, "10.0.0.5", 41000, "10.0.0.7", 5432,
		 TCPFLOW_ROLE_CLIENT, TIME_WAIT, 170, "psql");
	emit(&c, e12, N(e12));
	c = conn(13, AF_INET, "10.0.0.5", 41001, "10.0.0.7", 5432,
		 TCPFLOW_ROLE_CLIENT, TIME_WAIT, 171, "psql");
	emit(&c, e13, N(e13));
	if (with_sync)
		rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));
}

static void stream(void)
{
	const __u64 now = 2000 * S;
	struct tcpflow_event l1[] = { ST(now - 60 * S, CLOSE, LISTEN) };
	struct tcpflow_event ev;
	struct tcpflow_conn_info c;
	struct tcpflow_sync sync = { .now_ns = now };
	struct tcpflow_loss loss = { .events = 3 };
	__u64 future[2] = { 1, 2 };

	c = conn(1, AF_INET, "127.0.0.1", 9100, "0.0.0.0", 0,
		 TCPFLOW_ROLE_LISTENER, LISTEN, 200, "srv");
	emit(&c, l1, N(l1));
	rec(99, 0, future, sizeof(future));	/* a newer module's record */
	rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));

	c = conn(20, AF_INET, "127.0.0.1", 40030, "127.0.0.1", 9100,
		 TCPFLOW_ROLE_CLIENT, SYN_SENT, 201, "cli");
	c.first_ns = now + 1000 * US;
	c.nevents = 1;
	rec(TCPFLOW_REC_CONN, 20, &c, sizeof(c));
	ev = (struct tcpflow_event)ST(now + 1000 * US, CLOSE, SYN_SENT);
	rec(TCPFLOW_REC_EVENT, 20, &ev, sizeof(ev));

	c.isn_local = 100;
	c.flags |= TCPFLOW_CONN_ISN_LOCAL;
	c.nevents = 2;
	rec(TCPFLOW_REC_CONN, 20, &c, sizeof(c));
	ev = (struct tcpflow_event)SEG(now + 1002 * US, TX, SYN, 100, 0, 65495,
				       0, 0);
	rec(TCPFLOW_REC_EVENT, 20, &ev, sizeof(ev));

	rec(TCPFLOW_REC_LOSS, 0, &loss, sizeof(loss));

	c.state = ESTABLISHED;
	c.nevents = 6;
	rec(TCPFLOW_REC_CONN, 20, &c, sizeof(c));
	ev = (struct tcpflow_event)ST(now + 1100 * US, SYN_SENT, ESTABLISHED);
	rec(TCPFLOW_REC_EVENT, 20, &ev, sizeof(ev));

	c = conn(21, AF_INET6, "::1", 8443, "::1", 40031,
		 TCPFLOW_ROLE_SERVER, SYN_RECV, 202, "srv6");
	c.netns = 4026532200U;
	c.nevents = 1;
	rec(TCPFLOW_REC_CONN, 21, &c, sizeof(c));
	ev = (struct tcpflow_event)ST(now + 2 * S + 5 * US, LISTEN, SYN_RECV);
	rec(TCPFLOW_REC_EVENT, 21, &ev, sizeof(ev));
}

static void unnamed(void)
{
	const __u64 now = 3000 * S;
	struct tcpflow_event ev = ST(now - S, 13, 14);
	struct tcpflow_conn_info c;
	struct tcpflow_sync sync = { .now_ns = now };

	c = conn(30, AF_INET, "127.0.0.1", 40040, "127.0.0.1", 9200, 7, 14,
		 0, "");
	emit(&c, &ev, 1);
	rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));

	c.state = 15;
	c.nevents = 2;
	rec(TCPFLOW_REC_CONN, 30, &c, sizeof(c));
	ev = (struct tcpflow_event)ST(now + 1000 * US, 14, 15);
	rec(TCPFLOW_REC_EVENT, 30, &ev, sizeof(ev));
}

static void busy(void)
{
	const __u64 now = 4000 * S;
	struct tcpflow_sync sync = { .now_ns = now };
	struct tcpflow_conn_info c;
	struct tcpflow_event ev;
	char comm[16], peer[32];
	__u64 id = 1;
	int i, k;

	for (i = 0; i < 12; i++) {
		snprintf(comm, sizeof(comm), "app%02d", i);
		c = conn(id++, AF_INET, "127.0.0.1", 8000, "127.0.0.1",
			 41000 + i, TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 500 + i,
			 comm);
		ev = (struct tcpflow_event)ST(now - (i + 1) * 10 * S,
					      ESTABLISHED, CLOSE_WAIT);
		emit(&c, &ev, 1);
	}
	c = conn(id++, AF_INET, "127.0.0.1", 8000, "127.0.0.1", 41100,
		 TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 600, "q\"b\\s");
	ev = (struct tcpflow_event)ST(now - 5 * S, ESTABLISHED, CLOSE_WAIT);
	emit(&c, &ev, 1);
	c = conn(id++, AF_INET, "127.0.0.1", 8000, "127.0.0.1", 41101,
		 TCPFLOW_ROLE_UNKNOWN, CLOSE_WAIT, 0, "");
	c.flags = TCPFLOW_CONN_PREEXISTING;
	c.first_ns = now - 1000 * S;
	emit(&c, NULL, 0);
	for (k = 1; k <= 12; k++) {
		snprintf(peer, sizeof(peer), "192.0.2.%d", k);
		for (i = 0; i < k; i++) {
			c = conn(id++, AF_INET, "10.0.0.5", 42000 + 100 * k + i,
				 peer, 443, TCPFLOW_ROLE_CLIENT, TIME_WAIT,
				 700, "client");
			ev = (struct tcpflow_event)ST(now - S, FIN_WAIT2,
						      TIME_WAIT);
			emit(&c, &ev, 1);
		}
	}
	for (i = 0; i < 20; i++) {
		c = conn(id++, AF_INET6, "2001:db8::5", 43000 + i,
			 "2001:db8::7", 443, TCPFLOW_ROLE_CLIENT, TIME_WAIT,
			 701, "client6");
		ev = (struct tcpflow_event)ST(now - S, FIN_WAIT2, TIME_WAIT);
		emit(&c, &ev, 1);
	}
	rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));
}

static void leaky(void)
{
	const __u64 now = 5000 * S;
	struct tcpflow_sync sync = { .now_ns = now };
	struct tcpflow_conn_info c;
	struct tcpflow_event ev;
	__u64 id = 1;
	int i;

	for (i = 0; i < 30; i++) {
		c = conn(id++, AF_INET, "127.0.0.1", i % 2 ? 443 : 80,
			 "127.0.0.1", 45000 + i, TCPFLOW_ROLE_SERVER,
			 CLOSE_WAIT, 800, "web");
		ev = (struct tcpflow_event)ST(now - (i + 1) * 10 * S,
					      ESTABLISHED, CLOSE_WAIT);
		emit(&c, &ev, 1);
	}
	for (i = 0; i < 5; i++) {
		c = conn(id++, AF_INET, "10.0.0.5", 50000 + i, "10.0.0.9",
			 5432, TCPFLOW_ROLE_CLIENT, CLOSE_WAIT, 801, "worker");
		ev = (struct tcpflow_event)ST(now - (1000 + i) * S,
					      ESTABLISHED, CLOSE_WAIT);
		emit(&c, &ev, 1);
	}
	for (i = 0; i < 6; i++) {
		c = conn(id++, AF_INET, "127.0.0.1", 9001 + i, "127.0.0.1",
			 46000 + i, TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 802,
			 "gw");
		ev = (struct tcpflow_event)ST(now - (500 + i) * S,
					      ESTABLISHED, CLOSE_WAIT);
		emit(&c, &ev, 1);
	}
	rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));
}

/* A client of lost.rec (port: its own) or its server, both ISNs seen. */
static void veth_end(__u64 id, bool client, __u16 port, __u8 state,
		     __u32 isn_local, __u32 isn_remote,
		     const struct tcpflow_event *ev, size_t n)
{
	struct tcpflow_conn_info c;

	if (client) {
		c = conn(id, AF_INET, "10.99.0.1", port, "10.99.0.2", 8000,
			 TCPFLOW_ROLE_CLIENT, state, 401, "cli");
		c.netns = 4026532300U;
	} else {
		c = conn(id, AF_INET, "10.99.0.2", 8000, "10.99.0.1", port,
			 TCPFLOW_ROLE_SERVER, state, 400, "srv");
		c.netns = 4026532301U;
		c.parent_id = 1;
	}
	c.isn_local = isn_local;
	c.isn_remote = isn_remote;
	c.flags = TCPFLOW_CONN_ISN_LOCAL | TCPFLOW_CONN_ISN_REMOTE;
	if (state == TCPFLOW_CLOSE)
		c.flags |= TCPFLOW_CONN_CLOSED;
	emit(&c, ev, n);
}

static void lost(void)
{
	const __u64 now = 5000 * S, t = now - 60 * S, t4 = now - 30 * S,
		    t6 = now - 20 * S;
	struct tcpflow_sync sync = { .now_ns = now };
	struct tcpflow_conn_info c;
	/* the SYN sent 3 times (0, 1, 3 s), each one answered */
	struct tcpflow_event e1[] = { ST(t - S, CLOSE, LISTEN) };
	struct tcpflow_event e2[] = {
		ST(t, CLOSE, SYN_SENT),
		SEG(t + 2 * US, TX, SYN, 1000, 0, 64240, 0, 0),
		SEG(t + S + 2 * US, TX, SYN, 1000, 0, 64240, 0, 1),
		SEG(t + 3 * S + 2 * US, TX, SYN, 1000, 0, 64240, 0, 2),
		SEG(t + 3 * S + 20 * US, RX, SYN | ACK, 5000, 1001, 65160, 0, 0),
		ST(t + 3 * S + 21 * US, SYN_SENT, ESTABLISHED),
		SEG(t + 3 * S + 22 * US, TX, ACK, 1001, 5001, 502, 0, 0),
	};
	struct tcpflow_event e3[] = {
		SEG(t + 10 * US, RX, SYN, 1000, 0, 64240, 0, 0),
		ST(t + 11 * US, LISTEN, SYN_RECV),
		SEG(t + 12 * US, TX, SYN | ACK, 5000, 1001, 65160, 0, 0),
		SEG(t + S + 10 * US, RX, SYN, 1000, 0, 64240, 0, 1),
		SEG(t + S + 12 * US, TX, SYN | ACK, 5000, 1001, 65160, 0, 1),
		SEG(t + S + 40 * US, TX, SYN | ACK, 5000, 1001, 65160, 0, 2),
		SEG(t + 2 * S + 40 * US, TX, SYN | ACK, 5000, 1001, 65160, 0, 3),
		SEG(t + 3 * S + 10 * US, RX, SYN, 1000, 0, 64240, 0, 2),
		SEG(t + 3 * S + 12 * US, TX, SYN | ACK, 5000, 1001, 65160, 0, 4),
		SEG(t + 3 * S + 30 * US, RX, ACK, 1001, 5001, 502, 0, 0),
		ST(t + 3 * S + 31 * US, SYN_RECV, ESTABLISHED),
	};
	/* the client's FIN sent once, received twice, acknowledged twice */
	struct tcpflow_event e4[] = {
		ST(t4, CLOSE, SYN_SENT),
		SEG(t4 + 2 * US, TX, SYN, 2000, 0, 64240, 0, 0),
		SEG(t4 + 20 * US, RX, SYN | ACK, 7000, 2001, 65160, 0, 0),
		ST(t4 + 21 * US, SYN_SENT, ESTABLISHED),
		SEG(t4 + 22 * US, TX, ACK, 2001, 7001, 502, 0, 0),
		SEG(t4 + 100 * US, TX, FIN | ACK, 2001, 7001, 502, 0, 0),
		ST(t4 + 101 * US, ESTABLISHED, FIN_WAIT1),
		SEG(t4 + 120 * US, RX, ACK, 7001, 2002, 509, 0, 0),
		ST(t4 + 121 * US, FIN_WAIT1, FIN_WAIT2),
		/* the second ACK is not recorded: a pure ACK in FIN_WAIT2 */
	};
	struct tcpflow_event e5[] = {
		SEG(t4 + 10 * US, RX, SYN, 2000, 0, 64240, 0, 0),
		ST(t4 + 11 * US, LISTEN, SYN_RECV),
		SEG(t4 + 12 * US, TX, SYN | ACK, 7000, 2001, 65160, 0, 0),
		SEG(t4 + 30 * US, RX, ACK, 2001, 7001, 502, 0, 0),
		ST(t4 + 31 * US, SYN_RECV, ESTABLISHED),
		SEG(t4 + 110 * US, RX, FIN | ACK, 2001, 7001, 502, 0, 0),
		ST(t4 + 111 * US, ESTABLISHED, CLOSE_WAIT),
		SEG(t4 + 112 * US, TX, ACK, 7001, 2002, 509, 0, 0),
		SEG(t4 + 130 * US, RX, FIN | ACK, 2001, 7001, 502, 0, 1),
		SEG(t4 + 131 * US, TX, ACK, 7001, 2002, 509, 0, 0),
	};

	/* the first SYN lost; a FIN that crossed the server's RST */
	struct tcpflow_event e6[] = {
		ST(t6, CLOSE, SYN_SENT),
		SEG(t6 + 2 * US, TX, SYN, 3000, 0, 64240, 0, 0),
		SEG(t6 + S + 2 * US, TX, SYN, 3000, 0, 64240, 0, 1),
		SEG(t6 + S + 20 * US, RX, SYN | ACK, 9000, 3001, 65160, 0, 0),
		ST(t6 + S + 21 * US, SYN_SENT, ESTABLISHED),
		SEG(t6 + S + 22 * US, TX, ACK, 3001, 9001, 502, 0, 0),
		SEG(t6 + 2 * S + 101 * US, TX, FIN | ACK, 3001, 9001, 502, 0, 0),
		ST(t6 + 2 * S + 102 * US, ESTABLISHED, FIN_WAIT1),
		SEG(t6 + 2 * S + 110 * US, RX, RST | ACK, 9001, 3001, 509, 0, 0),
		ST(t6 + 2 * S + 111 * US, FIN_WAIT1, CLOSE),
	};
	struct tcpflow_event e7[] = {
		SEG(t6 + S + 10 * US, RX, SYN, 3000, 0, 64240, 0, 0),
		ST(t6 + S + 11 * US, LISTEN, SYN_RECV),
		SEG(t6 + S + 12 * US, TX, SYN | ACK, 9000, 3001, 65160, 0, 0),
		SEG(t6 + S + 30 * US, RX, ACK, 3001, 9001, 502, 0, 0),
		ST(t6 + S + 31 * US, SYN_RECV, ESTABLISHED),
		ST(t6 + 2 * S + 99 * US, ESTABLISHED, CLOSE),
		SEG(t6 + 2 * S + 100 * US, TX, RST | ACK, 9001, 3001, 509, 0, 0),
	};

	c = conn(1, AF_INET, "10.99.0.2", 8000, "0.0.0.0", 0,
		 TCPFLOW_ROLE_LISTENER, LISTEN, 400, "srv");
	c.netns = 4026532301U;
	emit(&c, e1, N(e1));
	veth_end(2, true, 40100, ESTABLISHED, 1000, 5000, e2, N(e2));
	veth_end(3, false, 40100, ESTABLISHED, 5000, 1000, e3, N(e3));
	veth_end(4, true, 40101, FIN_WAIT2, 2000, 7000, e4, N(e4));
	veth_end(5, false, 40101, CLOSE_WAIT, 7000, 2000, e5, N(e5));
	veth_end(6, true, 40102, CLOSE, 3000, 9000, e6, N(e6));
	veth_end(7, false, 40102, CLOSE, 9000, 3000, e7, N(e7));
	rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));
}

/* The cgroup ids of the owners of cgroup.rec: see the top of this file. */
enum { CG_NGINX, CG_WORKER, CG_DOCKER, CG_SESSION, CG_POD, CG_MAX };

static void cgroups(const unsigned long long *cg)
{
	const __u64 now = 6000 * S;
	static const struct {
		int role, state, since, cg;
		const char *src, *dst;
		__u16 sport, dport;
		__u32 pid;
		const char *comm;
	} c[] = {
		{ TCPFLOW_ROLE_LISTENER, LISTEN, 900, CG_NGINX,
		  "0.0.0.0", "0.0.0.0", 80, 0, 900, "nginx" },
		{ TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 300, CG_WORKER,
		  "10.0.0.5", "10.0.0.9", 80, 50001, 901, "nginx" },
		{ TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 200, CG_NGINX,
		  "10.0.0.5", "10.0.0.9", 80, 50002, 902, "nginx" },
		{ TCPFLOW_ROLE_CLIENT, ESTABLISHED, 50, CG_DOCKER,
		  "172.17.0.2", "10.0.0.7", 40000, 5432, 1000, "app" },
		{ TCPFLOW_ROLE_CLIENT, CLOSE_WAIT, 100, CG_SESSION,
		  "10.0.0.5", "10.0.0.8", 41000, 443, 1100, "curl" },
		{ TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 400, -1,
		  "10.0.0.5", "10.0.0.9", 8080, 50010, 1200, "old" },
		{ TCPFLOW_ROLE_SERVER, CLOSE_WAIT, 90, -2,
		  "10.0.0.5", "10.0.0.9", 8081, 50011, 1300, "legacy" },
		{ TCPFLOW_ROLE_CLIENT, ESTABLISHED, 20, CG_POD,
		  "10.244.0.5", "10.0.0.7", 40001, 5432, 1400, "kube" },
	};
	struct tcpflow_sync sync = { .now_ns = now };
	struct tcpflow_conn_info ci;
	struct tcpflow_event ev;
	size_t i;

	for (i = 0; i < N(c); i++) {
		ci = conn(i + 1, AF_INET, c[i].src, c[i].sport, c[i].dst,
			  c[i].dport, c[i].role, c[i].state, c[i].pid,
			  c[i].comm);
		ci.cgroup_id = c[i].cg >= 0 ? cg[c[i].cg] :
			       c[i].cg == -1 ? 4242424242ULL : 0;
		ev = (struct tcpflow_event)ST(now - c[i].since * S,
					      c[i].state == LISTEN ? CLOSE :
					      ESTABLISHED, c[i].state);
		emit(&ci, &ev, 1);
	}
	rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));
}

/*
 * --big N: a recording for the benchmark of tcpflowctl's own speed
 * (scripts/bench-tools.sh): a snapshot of N client connections to
 * 10.0.0.1:80, each with the 12 events of an active close, SYNC, then N
 * more such connections live, a CONN and an EVENT record per event.
 */
static void big(unsigned long n)
{
	const __u64 t0 = 1000 * S;
	struct tcpflow_sync sync = { .now_ns = t0 + n * 100 * US };
	struct tcpflow_conn_info c;
	unsigned long i, k;
	char src[32];

	for (i = 0; i < 2 * n; i++) {
		__u64 t = t0 + i * 100 * US;
		struct tcpflow_event ev[] = {
			ST(t, CLOSE, SYN_SENT),
			SEG(t + 1 * US, TX, SYN, 0, 0, 64240, 0, 0),
			SEG(t + 20 * US, RX, SYN | ACK, 0, 1, 65160, 0, 0),
			ST(t + 21 * US, SYN_SENT, ESTABLISHED),
			SEG(t + 22 * US, TX, ACK, 1, 1, 502, 0, 0),
			ST(t + 50 * US, ESTABLISHED, FIN_WAIT1),
			SEG(t + 51 * US, TX, FIN | ACK, 101, 1, 502, 0, 0),
			SEG(t + 70 * US, RX, ACK, 1, 102, 509, 0, 0),
			ST(t + 71 * US, FIN_WAIT1, FIN_WAIT2),
			SEG(t + 80 * US, RX, FIN | ACK, 1, 102, 509, 0, 0),
			SEG(t + 81 * US, TX, ACK, 102, 2, 502, 0, 0),
			ST(t + 82 * US, FIN_WAIT2, TIME_WAIT),
		};

		snprintf(src, sizeof(src), "10.%lu.%lu.%lu", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		c = conn(i + 1, AF_INET, src, 40000 + i % 20000, "10.0.0.1",
			 80, TCPFLOW_ROLE_CLIENT, TIME_WAIT, 1000 + i % 50,
			 "bench");
		if (i < n) {
			emit(&c, ev, N(ev));
			if (i == n - 1)
				rec(TCPFLOW_REC_SYNC, 0, &sync, sizeof(sync));
			continue;
		}
		c.first_ns = ev[0].t_ns;
		for (k = 0; k < N(ev); k++) {
			c.nevents = k + 1;
			rec(TCPFLOW_REC_CONN, c.id, &c, sizeof(c));
			rec(TCPFLOW_REC_EVENT, c.id, &ev[k], sizeof(ev[k]));
		}
	}
}

static void open_out(const char *dir, const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out = fopen(path, "wb");
	if (!out) {
		perror(path);
		exit(1);
	}
	written = 0;
}

static void close_out(void)
{
	if (fclose(out)) {
		perror("fixture-gen: close");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct tcpflow_conn_info c = { .id = 1 };
	struct tcpflow_rec_hdr bad = {
		.type = TCPFLOW_REC_CONN, .size = 16 + 136, .conn_id = 1,
	};

	unsigned long long cg[CG_MAX];
	int i;

	if (argc == 4 && !strcmp(argv[1], "--big")) {
		open_out(argv[3][0] == '/' ? "" : ".", argv[3]);
		big(strtoul(argv[2], NULL, 10));
		close_out();
		return 0;
	}
	if (argc != 2 && argc != 2 + CG_MAX) {
		fprintf(stderr, "usage: fixture-gen DIR [NGINX WORKER DOCKER SESSION POD]\n"
			"       fixture-gen --big N FILE\n");
		return 2;
	}
	for (i = 0; i < CG_MAX && argc > 2; i++)
		cg[i] = strtoull(argv[2 + i], NULL, 10);
	open_out(argv[1], "host.rec");
	host_snapshot(true);
	close_out();

	open_out(argv[1], "nosync.rec");
	host_snapshot(false);
	close_out();

	/* cut 40 bytes into connection 5's CONN record */
	open_out(argv[1], "truncated.rec");
	host_snapshot(true);
	close_out();
	if (truncate(path, cut_at + 40)) {
		perror(path);
		return 1;
	}

	open_out(argv[1], "badsize.rec");
	put(&bad, sizeof(bad));
	put(&c, 136);
	close_out();

	open_out(argv[1], "stream.rec");
	stream();
	close_out();

	open_out(argv[1], "unnamed.rec");
	unnamed();
	close_out();

	open_out(argv[1], "busy.rec");
	busy();
	close_out();

	open_out(argv[1], "leaky.rec");
	leaky();
	close_out();

	open_out(argv[1], "lost.rec");
	lost();
	close_out();

	if (argc > 2) {
		open_out(argv[1], "cgroup.rec");
		cgroups(cg);
		close_out();
	}
	return 0;
}
