// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflow-sock: a scripted TCP endpoint for tcpflow's tests.
 *
 * Runs its arguments as a sequence of socket operations, so a test can write
 * exactly the connection life it wants to observe:
 *
 *   tcpflow-sock listen 127.0.0.1 8080 accept recv-eof close
 *   tcpflow-sock connect 127.0.0.1 8080 send 100 close
 *
 * Operations (the "current" socket is the last one created or accepted):
 *   mptcp                 sockets made after this are MPTCP (IPPROTO_MPTCP)
 *   bind ADDR PORT        new socket bound to ADDR:PORT (connect uses it)
 *   listen ADDR PORT      new listening socket (SO_REUSEADDR)
 *   connect ADDR PORT     connect (a new socket unless bind made one)
 *   connect-fail ADDR PORT  connect, expecting it to fail; prints the error
 *   accept                accept on the listener: the child becomes current
 *   send N                write N bytes
 *   recv-eof              read until the peer's FIN
 *   shutdown              shutdown(SHUT_WR): send our FIN
 *   linger0               SO_LINGER {1, 0}: close() will send a RST
 *   syncnt N              TCP_SYNCNT: SYN retries before connect gives up
 *   close                 close the current socket
 *   close-listener        close the listening socket
 *   sleep MS              sleep MS milliseconds
 *   touch FILE            create FILE (tells a test a point was reached)
 *   wait FILE             wait until FILE exists
 *   hold                  wait for a signal (SIGTERM ends the process)
 *   port                  print the current socket's local port
 *   churn N ADDR PORT     N times: connect, close; prints how many
 *                         connected and failed (refused, timed out)
 *   churn-abort N ADDR PORT  the same, closing with SO_LINGER 0 (RST)
 *   churn-send N ADDR PORT   the same, sending 100 bytes before each close
 *   serve N               accept N connections, each read to EOF and closed
 *   frag6-syn SRC SPORT DST DPORT  send, through a raw socket, a SYN with
 *                         16 bytes of data cut into two IPv6 fragments
 * Exits 0 when every operation succeeded, 1 with a message otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static int cur = -1, lsn = -1, proto;

static void die(const char *op, const char *what)
{
	fprintf(stderr, "tcpflow-sock: %s: %s\n", op, what);
	exit(1);
}

static unsigned long number(const char *op, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end)
		die(op, "expected digits");
	return v;
}

static socklen_t sockaddr_of(const char *op, const char *addr,
			     const char *port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	unsigned long p = number(op, port);

	if (p > 65535)
		die(op, "port out of range");
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(p);
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		return sizeof(*in6);
	}
	die(op, "not an IPv4 or IPv6 address");
	return 0;
}

static int new_socket(const char *op, int family)
{
	int one = 1, fd = socket(family, SOCK_STREAM, proto);

	if (fd < 0)
		die(op, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die(op, strerror(errno));
	return fd;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int need(int argc, int i, int n, const char *op)
{
	if (i + n >= argc)
		die(op, "missing argument");
	return i + n;
}

static void op_connect(char **argv, int i, int expect_fail)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(argv[i], argv[i + 1], argv[i + 2], &ss);

	if (cur < 0)
		cur = new_socket(argv[i], ss.ss_family);
	if (connect(cur, (struct sockaddr *)&ss, len) == 0) {
		if (expect_fail)
			die(argv[i], "connected, but a failure was expected");
		return;
	}
	if (!expect_fail)
		die(argv[i], strerror(errno));
	printf("%s\n", strerror(errno));
	fflush(stdout);
}

static ssize_t drain(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	return n;
}

static void op_recv_eof(void)
{
	if (drain(cur) < 0)
		die("recv-eof", strerror(errno));
}

static void op_churn(char **argv, int i)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(argv[i], argv[i + 2], argv[i + 3], &ss);
	unsigned long n = number(argv[i], argv[i + 1]), ok = 0, failed = 0;
	int abort_close = !strcmp(argv[i], "churn-abort");
	int send_data = !strcmp(argv[i], "churn-send");
	struct linger l = { 1, 0 };
	static const char data[100];

	while (n--) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);

		if (fd < 0)
			die(argv[i], strerror(errno));
		if (connect(fd, (struct sockaddr *)&ss, len)) {
			failed++;
		} else {
			ok++;
			if (abort_close &&
			    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)))
				die(argv[i], strerror(errno));
			if (send_data &&
			    write(fd, data, sizeof(data)) != sizeof(data))
				die(argv[i], "short write");
		}
		close(fd);
	}
	printf("connected=%lu failed=%lu\n", ok, failed);
	fflush(stdout);
}

static void op_serve(const char *op, unsigned long n)
{
	if (lsn < 0)
		die(op, "no listener");
	while (n--) {
		int fd = accept(lsn, NULL, NULL);

		if (fd < 0)
			die(op, strerror(errno));
		drain(fd);	/* EOF, or ECONNRESET from an abort */
		close(fd);
	}
}

static void op_send(unsigned long n)
{
	static char buf[4096];
	ssize_t w;

	while (n) {
		w = write(cur, buf, n < sizeof(buf) ? n : sizeof(buf));
		if (w < 0)
			die("send", strerror(errno));
		n -= w;
	}
}

static unsigned int csum_add(unsigned int sum, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

/*
 * A SYN carrying 16 bytes, as two IPv6 fragments: the first holds the TCP
 * header and 4 bytes, the second the other 12.  The receiver reassembles
 * it after netfilter's LOCAL_IN, which sees each fragment on its own.
 */
static void op_frag6_syn(char **argv, int i)
{
	struct sockaddr_storage ss_src, ss_dst;
	struct sockaddr_in6 src, dst;
	unsigned char seg[36] = { 0 }, pkt[40 + 8 + 24];
	struct ip6_hdr *ip = (void *)pkt;
	struct ip6_frag *fh = (void *)(pkt + 40);
	struct tcphdr *th = (void *)seg;
	unsigned int sum, frag, id = (unsigned int)time(NULL);
	unsigned char pseudo[8] = { 0, 0, 0, sizeof(seg), 0, 0, 0, IPPROTO_TCP };
	int fd;

	sockaddr_of("frag6-syn", argv[i + 1], argv[i + 2], &ss_src);
	sockaddr_of("frag6-syn", argv[i + 3], argv[i + 4], &ss_dst);
	if (ss_src.ss_family != AF_INET6 || ss_dst.ss_family != AF_INET6)
		die("frag6-syn", "needs IPv6 addresses");
	memcpy(&src, &ss_src, sizeof(src));
	memcpy(&dst, &ss_dst, sizeof(dst));
	th->th_sport = src.sin6_port;
	th->th_dport = dst.sin6_port;
	th->th_seq = htonl(id);
	th->th_off = 5;
	th->th_flags = TH_SYN;
	th->th_win = htons(65535);
	memset(seg + 20, 'x', 16);
	sum = csum_add(0, &src.sin6_addr, 16);
	sum = csum_add(sum, &dst.sin6_addr, 16);
	sum = csum_add(sum, pseudo, sizeof(pseudo));
	sum = csum_add(sum, seg, sizeof(seg));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	th->th_sum = htons(~sum & 0xffff);

	fd = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("frag6-syn", strerror(errno));
	dst.sin6_port = 0;
	for (frag = 0; frag < 2; frag++) {
		size_t off = frag ? 24 : 0, len = frag ? 12 : 24;

		memset(pkt, 0, sizeof(pkt));
		ip->ip6_flow = htonl(6U << 28);
		ip->ip6_plen = htons(sizeof(*fh) + len);
		ip->ip6_nxt = IPPROTO_FRAGMENT;
		ip->ip6_hlim = 64;
		ip->ip6_src = src.sin6_addr;
		ip->ip6_dst = dst.sin6_addr;
		fh->ip6f_nxt = IPPROTO_TCP;
		fh->ip6f_offlg = htons(off | (frag ? 0 : 1));
		fh->ip6f_ident = htonl(id);
		memcpy(pkt + 48, seg + off, len);
		if (sendto(fd, pkt, 48 + len, 0, (struct sockaddr *)&dst,
			   sizeof(dst)) < 0)
			die("frag6-syn", strerror(errno));
	}
	close(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	int i, one = 1;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("usage: tcpflow-sock OP [ARG...] [OP [ARG...]]...\n"
		       "operations are listed at the top of its source file\n");
		return argc < 2;
	}
	for (i = 1; i < argc; i++) {
		const char *op = argv[i];

		if (!strcmp(op, "mptcp")) {
			proto = IPPROTO_MPTCP;
		} else if (!strcmp(op, "bind") || !strcmp(op, "listen")) {
			socklen_t len;

			need(argc, i, 2, op);
			len = sockaddr_of(op, argv[i + 1], argv[i + 2], &ss);
			if (cur >= 0 && !strcmp(op, "bind"))
				die(op, "a socket is already open");
			int fd = new_socket(op, ss.ss_family);

			if (bind(fd, (struct sockaddr *)&ss, len))
				die(op, strerror(errno));
			if (!strcmp(op, "listen")) {
				if (listen(fd, SOMAXCONN))
					die(op, strerror(errno));
				lsn = fd;
			} else {
				cur = fd;
			}
			i += 2;
		} else if (!strcmp(op, "connect") ||
			   !strcmp(op, "connect-fail")) {
			need(argc, i, 2, op);
			op_connect(argv, i, !strcmp(op, "connect-fail"));
			i += 2;
		} else if (!strcmp(op, "accept")) {
			if (lsn < 0)
				die(op, "no listener");
			cur = accept(lsn, NULL, NULL);
			if (cur < 0)
				die(op, strerror(errno));
		} else if (!strcmp(op, "send")) {
			i = need(argc, i, 1, op);
			op_send(number(op, argv[i]));
		} else if (!strcmp(op, "recv-eof")) {
			op_recv_eof();
		} else if (!strcmp(op, "shutdown")) {
			if (shutdown(cur, SHUT_WR))
				die(op, strerror(errno));
		} else if (!strcmp(op, "linger0")) {
			struct linger l = { 1, 0 };

			if (setsockopt(cur, SOL_SOCKET, SO_LINGER, &l,
				       sizeof(l)))
				die(op, strerror(errno));
		} else if (!strcmp(op, "syncnt")) {
			i = need(argc, i, 1, op);
			one = number(op, argv[i]);
			if (cur < 0)
				die(op, "no socket: use bind first");
			if (setsockopt(cur, IPPROTO_TCP, TCP_SYNCNT, &one,
				       sizeof(one)))
				die(op, strerror(errno));
		} else if (!strcmp(op, "close")) {
			if (cur < 0 || close(cur))
				die(op, "no open socket");
			cur = -1;
		} else if (!strcmp(op, "close-listener")) {
			if (lsn < 0 || close(lsn))
				die(op, "no listener");
			lsn = -1;
		} else if (!strcmp(op, "sleep")) {
			i = need(argc, i, 1, op);
			sleep_ms(number(op, argv[i]));
		} else if (!strcmp(op, "touch")) {
			int fd;

			i = need(argc, i, 1, op);
			fd = open(argv[i], O_CREAT | O_WRONLY, 0644);
			if (fd < 0 || close(fd))
				die(op, strerror(errno));
		} else if (!strcmp(op, "wait")) {
			struct stat st;

			i = need(argc, i, 1, op);
			while (stat(argv[i], &st))
				sleep_ms(10);
		} else if (!strcmp(op, "hold")) {
			for (;;)
				pause();
		} else if (!strcmp(op, "churn") ||
			   !strcmp(op, "churn-abort") ||
			   !strcmp(op, "churn-send")) {
			need(argc, i, 3, op);
			op_churn(argv, i);
			i += 3;
		} else if (!strcmp(op, "frag6-syn")) {
			need(argc, i, 4, op);
			op_frag6_syn(argv, i);
			i += 4;
		} else if (!strcmp(op, "serve")) {
			i = need(argc, i, 1, op);
			op_serve(op, number(op, argv[i]));
		} else if (!strcmp(op, "port")) {
			socklen_t len = sizeof(ss);
			int fd = cur >= 0 ? cur : lsn;

			if (getsockname(fd, (struct sockaddr *)&ss, &len))
				die(op, strerror(errno));
			printf("%u\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
			fflush(stdout);
		} else {
			die(op, "unknown operation");
		}
	}
	return 0;
}
