// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflow-load: a TCP load generator for tcpflow's benchmark (make bench).
 *
 * One process per side, many connections each, driven by epoll: what it
 * measures is TCP, not fork() and exec().
 *
 *   tcpflow-load server churn|bulk ADDR PORT
 *   tcpflow-load client churn|bulk ADDR PORT [-c N] [-t SECS]
 *
 * churn: the client keeps N connections in flight (default 8); each
 *        connects, sends a 1-byte request, reads the 1-byte reply and then
 *        the server's FIN (the server closes first), and closes; a new one
 *        takes its place until SECS (default 5) have passed.
 * bulk:  the client opens N streams (default 1) and writes to each for SECS
 *        seconds, then shuts them down and waits for the server's FIN,
 *        which comes once the server has read everything.
 *
 * The server runs until SIGTERM or SIGINT; both sides then print one line
 * of key=value pairs, for scripts:
 *
 *   role=client mode=churn conns=18234 failed=0 inflight=8 duration_us=5000311
 *   role=server mode=churn accepted=18234 completed=18234 failed=0
 *
 * conns and completed count connections that went through their whole
 * exchange; failed counts the others (refused, reset, timed out).
 * Exit 0, or 1 with a message on stderr when it cannot run at all.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLIGHT	4096
#define BULK_CHUNK	(64 * 1024)
/* After SECS, how long in-flight connections get to finish. */
#define DRAIN_NS	(10 * 1000000000ULL)

enum mode { CHURN, BULK };

/* SIGTERM and SIGINT, read from the epoll set: they end the run. */
static int sig_fd;
static bool stop;
static char buf[BULK_CHUNK];

static void bad_usage(void)
{
	fprintf(stderr,
		"usage: tcpflow-load server churn|bulk ADDR PORT\n"
		"       tcpflow-load client churn|bulk ADDR PORT [-c N] [-t SECS]\n");
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "tcpflow-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static socklen_t parse_addr(const char *addr, const char *port,
			    struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	char *end;
	long p = strtol(port, &end, 10);

	if (*end || p < 1 || p > 65535) {
		fprintf(stderr, "tcpflow-load: bad port '%s'\n", port);
		exit(2);
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p);
		return sizeof(*s4);
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p);
		return sizeof(*s6);
	}
	fprintf(stderr, "tcpflow-load: bad address '%s'\n", addr);
	exit(2);
}

static long parse_num(const char *s, long min, long max, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < min || v > max) {
		fprintf(stderr, "tcpflow-load: %s must be %ld to %ld, got '%s'\n",
			what, min, max, s);
		exit(2);
	}
	return v;
}

static void ep_add(int ep, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl");
}

static void ep_mod(int ep, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev))
		die("epoll_ctl");
}

/* ---------------------------------------------------------------- server */

/*
 * Per accepted socket, indexed by fd: how much of the request it has.
 * churn: replies to the first byte and closes; bulk: reads to EOF, closes.
 */
static int run_server(enum mode mode, const struct sockaddr_storage *ss,
		      socklen_t len)
{
	struct epoll_event evs[256];
	unsigned long accepted = 0, completed = 0, failed = 0;
	unsigned long long bytes = 0;
	int one = 1, lfd, ep, n, i;

	lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)ss, len))
		die("bind");
	if (listen(lfd, 4096))
		die("listen");
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	ep_add(ep, lfd, EPOLLIN);
	ep_add(ep, sig_fd, EPOLLIN);
	while (!stop) {
		n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r;

			if (fd == sig_fd) {
				stop = true;
				continue;
			}
			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK)) >= 0) {
					accepted++;
					ep_add(ep, c, EPOLLIN);
				}
				if (errno != EAGAIN && errno != ECONNABORTED &&
				    errno != EINTR)
					die("accept4");
				continue;
			}
			r = read(fd, buf, mode == CHURN ? 1 : sizeof(buf));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r > 0 && mode == BULK) {
				bytes += r;
				continue;
			}
			/* churn: the reply; bulk: EOF after the data. */
			if ((r > 0 && write(fd, buf, 1) == 1) ||
			    (r == 0 && mode == BULK))
				completed++;
			else
				failed++;
			close(fd);	/* the server closes first */
		}
	}
	printf("role=server mode=%s accepted=%lu completed=%lu failed=%lu",
	       mode == CHURN ? "churn" : "bulk", accepted, completed, failed);
	if (mode == BULK)
		printf(" bytes=%llu", bytes);
	printf("\n");
	return 0;
}

/* ---------------------------------------------------------------- client */

enum phase { CONNECTING, WAIT_REPLY, WRITING, WAIT_EOF };

struct flight {
	int fd;
	enum phase phase;
	bool got_reply;
};

struct client {
	enum mode mode;
	const struct sockaddr_storage *ss;
	socklen_t len;
	int ep;
	struct flight *by_fd[65536];
	unsigned long conns, failed;
	unsigned long long bytes;
	unsigned int inflight;
};

static void client_start(struct client *cl, struct flight *f)
{
	int fd = socket(cl->ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		die("socket");
	if (fd >= 65536) {
		errno = EMFILE;
		die("socket");
	}
	f->fd = fd;
	f->phase = CONNECTING;
	f->got_reply = false;
	cl->by_fd[fd] = f;
	cl->inflight++;
	/* EINPROGRESS, or an error SO_ERROR reports once it is writable. */
	(void)connect(fd, (const struct sockaddr *)cl->ss, cl->len);
	ep_add(cl->ep, fd, EPOLLOUT);
}

static void client_end(struct client *cl, struct flight *f, bool ok)
{
	cl->by_fd[f->fd] = NULL;
	close(f->fd);
	f->fd = -1;
	cl->inflight--;
	if (ok)
		cl->conns++;
	else
		cl->failed++;
}

/* Move @f on as far as its socket allows; false once it has ended. */
static bool client_step(struct client *cl, struct flight *f, bool closing)
{
	socklen_t sl = sizeof(int);
	int err = 0;
	ssize_t r;

	switch (f->phase) {
	case CONNECTING:
		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
			client_end(cl, f, false);
			return false;
		}
		if (cl->mode == CHURN) {
			if (write(f->fd, "q", 1) != 1) {
				client_end(cl, f, false);
				return false;
			}
			f->phase = WAIT_REPLY;
			ep_mod(cl->ep, f->fd, EPOLLIN);
			return true;
		}
		f->phase = WRITING;
		return true;
	case WRITING:
		if (closing) {
			shutdown(f->fd, SHUT_WR);
			f->phase = WAIT_EOF;
			ep_mod(cl->ep, f->fd, EPOLLIN);
			return true;
		}
		r = write(f->fd, buf, sizeof(buf));
		if (r > 0) {
			cl->bytes += r;
		} else if (errno != EAGAIN && errno != EINTR) {
			client_end(cl, f, false);
			return false;
		}
		return true;
	case WAIT_REPLY:
	case WAIT_EOF:
		while ((r = read(f->fd, buf, sizeof(buf))) > 0)
			f->got_reply = true;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		/* EOF: the server closed, having replied (churn) or read
		 * everything (bulk); an error: it reset.
		 */
		client_end(cl, f, r == 0 &&
			   (cl->mode == BULK || f->got_reply));
		return false;
	}
	return true;
}

static int run_client(enum mode mode, const struct sockaddr_storage *ss,
		      socklen_t len, unsigned int n, unsigned int secs)
{
	static struct client cl;
	struct flight *fl = calloc(n, sizeof(*fl));
	struct epoll_event evs[256];
	uint64_t t0, end, deadline, last;
	bool closing = false;
	unsigned int i;
	int k, m;

	if (!fl)
		die("calloc");
	cl.mode = mode;
	cl.ss = ss;
	cl.len = len;
	cl.ep = epoll_create1(0);
	if (cl.ep < 0)
		die("epoll_create1");
	ep_add(cl.ep, sig_fd, EPOLLIN);
	t0 = now_ns();
	end = t0 + (uint64_t)secs * 1000000000ULL;
	deadline = end + DRAIN_NS;
	for (i = 0; i < n; i++)
		client_start(&cl, &fl[i]);
	last = t0;
	while (cl.inflight) {
		uint64_t t = now_ns();

		if (t >= deadline || stop)
			break;
		if (!closing && t >= end) {
			closing = true;
			/* Bulk streams: shut down now, not at their next
			 * write, which a full send buffer may delay.
			 */
			for (i = 0; mode == BULK && i < n; i++)
				if (fl[i].fd >= 0 && fl[i].phase == WRITING)
					client_step(&cl, &fl[i], true);
		}
		m = epoll_wait(cl.ep, evs, 256,
			       (int)(((closing ? deadline : end) - t) / 1000000) + 1);
		if (m < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (k = 0; k < m; k++) {
			struct flight *f = cl.by_fd[evs[k].data.fd];

			if (evs[k].data.fd == sig_fd)
				stop = true;
			if (!f)
				continue;
			if (client_step(&cl, f, closing))
				continue;
			last = now_ns();
			if (!closing && mode == CHURN)
				client_start(&cl, f);
		}
	}
	/* Whatever has not finished by the deadline failed. */
	for (i = 0; i < n; i++)
		if (fl[i].fd >= 0)
			client_end(&cl, &fl[i], false);
	printf("role=client mode=%s conns=%lu failed=%lu inflight=%u",
	       mode == CHURN ? "churn" : "bulk", cl.conns, cl.failed, n);
	if (mode == BULK)
		printf(" bytes=%llu", cl.bytes);
	printf(" duration_us=%llu\n", (unsigned long long)(last - t0) / 1000);
	free(fl);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	sigset_t block;
	unsigned int n = 0, secs = 5;
	enum mode mode;
	socklen_t len;
	bool server;
	int opt;

	if (argc < 5)
		bad_usage();
	if (!strcmp(argv[1], "server"))
		server = true;
	else if (!strcmp(argv[1], "client"))
		server = false;
	else
		bad_usage();
	if (!strcmp(argv[2], "churn"))
		mode = CHURN;
	else if (!strcmp(argv[2], "bulk"))
		mode = BULK;
	else
		bad_usage();
	len = parse_addr(argv[3], argv[4], &ss);
	optind = 5;
	while ((opt = getopt(argc, argv, "c:t:")) != -1) {
		if (server)
			bad_usage();
		switch (opt) {
		case 'c':
			n = parse_num(optarg, 1, MAX_FLIGHT, "-c");
			break;
		case 't':
			secs = parse_num(optarg, 1, 3600, "-t");
			break;
		default:
			bad_usage();
		}
	}
	if (optind != argc)
		bad_usage();
	if (!n)
		n = mode == CHURN ? 8 : 1;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sig_fd = signalfd(-1, &block, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0)
		die("signalfd");
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return server ? run_server(mode, &ss, len) :
			run_client(mode, &ss, len, n, secs);
}
