// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflow-devtest: exercises /dev/tcpflow one system call at a time, for
 * the tests.  Each operation prints one line per result; errors print the
 * errno name, so tests compare exact behaviour.
 *
 *   tcpflow-devtest [-d DEV] OP...
 *   open          open the device (O_RDONLY; "open-nb" for O_NONBLOCK)
 *   read N        one read() with an N-byte buffer: "read BYTES RECORDS"
 *   snapshot      read until the SYNC record, printing every record
 *   drain         read without blocking until EAGAIN, printing records
 *   next N        read (blocking) until N more records were printed
 *   poll MS       poll() for input: "poll ready" or "poll timeout"
 *   version       TCPFLOW_IOC_VERSION
 *   counters      TCPFLOW_IOC_COUNTERS
 *   filter FLAGS NETNS PORT STATEMASK [RESERVED]  TCPFLOW_IOC_SET_FILTER
 *   ioctl-bad     unknown command, NULL and bad pointers, bad filters
 *   write         write(2) one byte
 *   seek          lseek(2) to 0
 *   touch FILE / wait FILE   synchronize with a test script
 * Records print as "CONN id state sport dport", "EVENT id OLD>NEW",
 * "SYNC", "LOSS n".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/tcpflow.h>

static const char *const states[TCPFLOW_STATE_MAX] = {
	"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
	"NEW_SYN_RECV",
};

static const char *dev = "/dev/tcpflow";
static int fd = -1;
static char buf[65536];

static const char *errname(int e)
{
	switch (e) {
	case EINVAL: return "EINVAL";
	case EAGAIN: return "EAGAIN";
	case EFAULT: return "EFAULT";
	case ENOTTY: return "ENOTTY";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ESPIPE: return "ESPIPE";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	default: return strerror(e);
	}
}

static const char *state(unsigned int s)
{
	return s < TCPFLOW_STATE_MAX ? states[s] : "?";
}

/* Print the records in buf[0..len); returns how many, 1 more if SYNC. */
static int print_records(size_t len, int *synced)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		const struct tcpflow_rec_hdr *h = (void *)(buf + off);
		const void *p = h + 1;

		if (h->size < sizeof(*h) || h->size % 8 || off + h->size > len) {
			printf("BAD size=%u\n", h->size);
			exit(1);
		}
		switch (h->type) {
		case TCPFLOW_REC_CONN: {
			const struct tcpflow_conn_info *ci = p;

			printf("CONN %llu %s %u %u\n", (unsigned long long)h->conn_id,
			       state(ci->state), ci->sport, ci->dport);
			break;
		}
		case TCPFLOW_REC_EVENT: {
			const struct tcpflow_event *e = p;

			if (e->type == TCPFLOW_EV_STATE)
				printf("EVENT %llu %s>%s\n",
				       (unsigned long long)h->conn_id,
				       state(e->a), state(e->b));
			else
				printf("EVENT %llu type=%u\n",
				       (unsigned long long)h->conn_id, e->type);
			break;
		}
		case TCPFLOW_REC_SYNC:
			printf("SYNC\n");
			if (synced)
				*synced = 1;
			break;
		case TCPFLOW_REC_LOSS:
			printf("LOSS %llu\n", (unsigned long long)
			       ((const struct tcpflow_loss *)p)->events);
			break;
		default:
			printf("TYPE %u\n", h->type);
		}
		off += h->size;
		n++;
	}
	fflush(stdout);
	return n;
}

static void need_fd(void)
{
	if (fd < 0) {
		fprintf(stderr, "tcpflow-devtest: open the device first\n");
		exit(2);
	}
}

static unsigned long num(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end) {
		fprintf(stderr, "tcpflow-devtest: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static void show_ret(const char *what, long ret)
{
	if (ret < 0)
		printf("%s %s\n", what, errname(errno));
	else
		printf("%s ok\n", what);
}

static void ioctl_bad(void)
{
	struct tcpflow_filter f = {};

	show_ret("unknown", ioctl(fd, _IO(TCPFLOW_IOC_MAGIC, 99), 0));
	show_ret("version-null", ioctl(fd, TCPFLOW_IOC_VERSION, NULL));
	show_ret("counters-null", ioctl(fd, TCPFLOW_IOC_COUNTERS, NULL));
	show_ret("filter-null", ioctl(fd, TCPFLOW_IOC_SET_FILTER, NULL));
	show_ret("counters-bad", ioctl(fd, TCPFLOW_IOC_COUNTERS, (void *)-1L));
	show_ret("filter-bad", ioctl(fd, TCPFLOW_IOC_SET_FILTER, (void *)16));
	f.flags = 1U << 31;
	show_ret("filter-flags", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
	f.flags = 0;
	f.reserved[1] = 1;
	show_ret("filter-reserved", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
	f.reserved[1] = 0;
	f.reserved0 = 1;
	show_ret("filter-reserved0", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
	f.reserved0 = 0;
	f.flags = TCPFLOW_FILTER_STATE;
	f.state_mask = 1U << TCPFLOW_STATE_MAX;
	show_ret("filter-state-range", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
	f.state_mask = 1;
	show_ret("filter-state-zero", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
	f.state_mask = 0;
	show_ret("filter-state-empty", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
	show_ret("version-huge-cmd", ioctl(fd, 0xffffffffUL, 0));
}

int main(int argc, char **argv)
{
	int i = 1, synced;
	ssize_t n;

	if (argc > 2 && !strcmp(argv[1], "-d")) {
		dev = argv[2];
		i = 3;
	}
	for (; i < argc; i++) {
		const char *op = argv[i];

		if (!strcmp(op, "open") || !strcmp(op, "open-nb")) {
			fd = open(dev, O_RDONLY | (op[4] ? O_NONBLOCK : 0));
			if (fd < 0) {
				printf("open %s\n", errname(errno));
				return 1;
			}
		} else if (!strcmp(op, "read") && i + 1 < argc) {
			size_t sz = num(argv[++i]);

			need_fd();
			n = read(fd, buf, sz > sizeof(buf) ? sizeof(buf) : sz);
			if (n < 0) {
				printf("read %s\n", errname(errno));
			} else {
				printf("read %zd\n", n);
				print_records(n, NULL);
			}
		} else if (!strcmp(op, "snapshot") || !strcmp(op, "drain")) {
			int snap = !strcmp(op, "snapshot");

			need_fd();
			synced = 0;
			while (!(snap && synced)) {
				n = read(fd, buf, sizeof(buf));
				if (n < 0) {
					if (!snap && errno == EAGAIN)
						break;
					printf("read %s\n", errname(errno));
					return 1;
				}
				print_records(n, &synced);
			}
		} else if (!strcmp(op, "next") && i + 1 < argc) {
			long want = num(argv[++i]);

			need_fd();
			while (want > 0) {
				n = read(fd, buf, sizeof(buf));
				if (n < 0) {
					printf("read %s\n", errname(errno));
					return 1;
				}
				want -= print_records(n, NULL);
			}
		} else if (!strcmp(op, "poll") && i + 1 < argc) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int r;

			need_fd();
			r = poll(&p, 1, num(argv[++i]));
			printf("poll %s\n", r > 0 ? "ready" : r == 0 ? "timeout" :
			       errname(errno));
		} else if (!strcmp(op, "version")) {
			__u32 v = 0;

			need_fd();
			if (ioctl(fd, TCPFLOW_IOC_VERSION, &v))
				printf("version %s\n", errname(errno));
			else
				printf("version %u\n", v);
		} else if (!strcmp(op, "counters")) {
			struct tcpflow_counters c;

			need_fd();
			if (ioctl(fd, TCPFLOW_IOC_COUNTERS, &c)) {
				printf("counters %s\n", errname(errno));
			} else {
				printf("conns=%llu live=%llu closed=%llu max=%llu ",
				       (unsigned long long)c.conns,
				       (unsigned long long)c.live,
				       (unsigned long long)c.closed,
				       (unsigned long long)c.max_conns);
				printf("untracked=%llu evicted=%llu dropped=%llu total=%llu\n",
				       (unsigned long long)c.untracked,
				       (unsigned long long)c.evicted,
				       (unsigned long long)c.events_dropped,
				       (unsigned long long)c.events_total);
			}
		} else if (!strcmp(op, "filter") && i + 4 < argc) {
			struct tcpflow_filter f = {};

			need_fd();
			f.flags = num(argv[++i]);
			f.netns = num(argv[++i]);
			f.port = num(argv[++i]);
			f.state_mask = num(argv[++i]);
			show_ret("filter", ioctl(fd, TCPFLOW_IOC_SET_FILTER, &f));
		} else if (!strcmp(op, "ioctl-bad")) {
			need_fd();
			ioctl_bad();
		} else if (!strcmp(op, "write")) {
			need_fd();
			show_ret("write", write(fd, "x", 1));
		} else if (!strcmp(op, "seek")) {
			need_fd();
			show_ret("seek", lseek(fd, 0, SEEK_SET));
		} else if (!strcmp(op, "touch") && i + 1 < argc) {
			close(open(argv[++i], O_CREAT | O_WRONLY, 0644));
		} else if (!strcmp(op, "wait") && i + 1 < argc) {
			struct stat st;
			struct timespec ts = { 0, 10000000 };

			i++;
			while (stat(argv[i], &st))
				nanosleep(&ts, NULL);
		} else {
			fprintf(stderr, "tcpflow-devtest: bad operation '%s'\n", op);
			return 2;
		}
	}
	return 0;
}
