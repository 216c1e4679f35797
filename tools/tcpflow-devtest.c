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
 *   walk          its walk_max: "walk_max N"
 *   bufsize N     snapshot, drain and next read N bytes at a time
 *   times         print after each event its time and index:
 *                 "TIME id t=NS i=INDEX"
 *   filter FLAGS NETNS PORT STATEMASK [RESERVED]  TCPFLOW_IOC_SET_FILTER
 *   ioctl-bad     unknown command, NULL and bad pointers, bad filters
 *   ioctl-fuzz N SEED  N ioctls with random commands (magic 0xf1 and
 *                 others) and random, NULL, kernel-range or half-mapped
 *                 pointers; every result must be the one the ABI gives
 *                 (ENOTTY, EFAULT, EINVAL or success): prints a summary,
 *                 or each "MISMATCH" and exits 1
 *   read-raw N    one read() of N bytes of any file: "read BYTES"
 *   poll-loop     forever: poll(), then read without blocking to EAGAIN,
 *                 printing records (the test kills it)
 *   close-race N  N times: open the device, a thread reads it (blocking)
 *                 while the main thread closes the descriptor under it
 *   fd N          use inherited descriptor N as the device
 *   write         write(2) one byte
 *   seek          lseek(2) to 0
 *   touch FILE / wait FILE   synchronize with a test script
 * Records print as "CONN id state sport dport", "EVENT id OLD>NEW",
 * "SEGMENT id tx|rx FLAGS" (hex), "SYNC", "LOSS n".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/tcpflow.h>
#include <linux/tcpflow_names.h>

static const char *dev = "/dev/tcpflow";
static int fd = -1;
static char buf[65536];
static size_t rdsz = sizeof(buf);	/* what snapshot/drain/next read */
static int times;			/* print t_ns with events */

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
	case EIO: return "EIO";
	case EBUSY: return "EBUSY";
	default: return strerror(e);
	}
}

/* "?" for a value with no name, as /proc/tcpflow prints it. */
static const char *state(unsigned int s)
{
	return tcpflow_state_name(s) ?: "?";
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
				       state(tcpflow_ev_old_state(e)),
				       state(tcpflow_ev_new_state(e)));
			else if (e->type == TCPFLOW_EV_SEGMENT)
				printf("SEGMENT %llu %s 0x%02x\n",
				       (unsigned long long)h->conn_id,
				       tcpflow_ev_is_tx(e) ? "tx" : "rx",
				       e->flags);
			else
				printf("EVENT %llu type=%u\n",
				       (unsigned long long)h->conn_id, e->type);
			if (times)	/* on the line just printed */
				printf("TIME %llu t=%llu i=%u\n",
				       (unsigned long long)h->conn_id,
				       (unsigned long long)e->t_ns, h->index);
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

#define STATE_BITS (((1U << TCPFLOW_STATE_MAX) - 1) & ~1U)

/* What SET_FILTER must say of filter @f (the rules of the uapi header). */
static int filter_errno(const struct tcpflow_filter *f)
{
	if (f->flags & ~TCPFLOW_FILTER_ALL || f->reserved0 || f->reserved[0] ||
	    f->reserved[1] || f->state_mask & ~STATE_BITS)
		return -EINVAL;
	if ((f->flags & TCPFLOW_FILTER_STATE) && !f->state_mask)
		return -EINVAL;
	return 0;
}

/* Ioctl types the VFS answers itself for any file (FIONBIO, FICLONE...). */
static int vfs_type(unsigned int type)
{
	return type == 0x00 || type == 0x15 || type == 'T' || type == 'X' ||
	       type == 'f' || type == 0x94;
}

/* Arguments no ioctl may accept; 5 runs off a mapping, 7 is valid. */
static void *const bad_args[] = {
	NULL,
	(void *)16,
	(void *)-1L,
	(void *)-4096L,
	(void *)0xffff888000000000UL,	/* kernel direct map */
	NULL,
	(void *)0x7ffffffff000UL,	/* top of user space, unmapped */
};

static void ioctl_fuzz(unsigned long n, unsigned int seed)
{
	static const unsigned int real[] = {
		TCPFLOW_IOC_VERSION, TCPFLOW_IOC_COUNTERS, TCPFLOW_IOC_SET_FILTER,
	};
	unsigned long i, count[5] = {}, bad = 0;
	long pg = sysconf(_SC_PAGESIZE);
	/* Two pages, the second unmapped: a buffer running off the end. */
	char *map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *good = map;

	if (map == MAP_FAILED || munmap(map + pg, pg)) {
		perror("tcpflow-devtest: mmap");
		exit(1);
	}
	srandom(seed);
	for (i = 0; i < n; i++) {
		unsigned int cmd, k, r = random() % 4;
		void *arg;
		int is_real = -1, want, got, a = random() % 8, j;
		long ret;

		if (r == 0) {
			cmd = real[random() % 3];
		} else if (r == 1) {
			cmd = _IOC(random() % 4, TCPFLOW_IOC_MAGIC, random() % 256,
				   random() % (1 << _IOC_SIZEBITS));
		} else {
			do
				cmd = (unsigned int)random() ^ ((unsigned int)random() << 16);
			while (vfs_type(_IOC_TYPE(cmd)));
		}
		for (k = 0; k < 3; k++)
			if (cmd == real[k])
				is_real = k;
		for (j = 0; j < 128; j++)
			good[j] = random();
		if (is_real == 2 && random() % 2) {	/* often valid */
			struct tcpflow_filter *f = (void *)good;

			f->flags &= TCPFLOW_FILTER_ALL;
			f->reserved0 = 0;
			f->reserved[0] = 0;
			f->reserved[1] = 0;
			if (random() % 2)
				f->state_mask &= STATE_BITS;
		}
		arg = a == 7 ? (void *)good : a == 5 ? (void *)(map + pg - 2) :
		      bad_args[a];
		if (is_real < 0)
			want = ENOTTY;
		else if (a != 7)
			want = EFAULT;
		else if (is_real == 2)
			want = -filter_errno((const struct tcpflow_filter *)good);
		else
			want = 0;
		ret = ioctl(fd, cmd, arg);
		got = ret < 0 ? errno : 0;
		if (ret > 0 || got != want) {
			printf("MISMATCH cmd=%#x arg=%d ret=%ld got=%s want=%s\n",
			       cmd, a, ret, got ? errname(got) : "0",
			       want ? errname(want) : "0");
			bad++;
		}
		count[got == 0 ? 0 : got == ENOTTY ? 1 : got == EFAULT ? 2 :
		      got == EINVAL ? 3 : 4]++;
	}
	printf("ioctl-fuzz %lu ok=%lu enotty=%lu efault=%lu einval=%lu other=%lu\n",
	       n, count[0], count[1], count[2], count[3], count[4]);
	fflush(stdout);
	if (bad)
		exit(1);
}

struct race {
	int fd;
	int nread, err;
};

static void *race_reader(void *p)
{
	static __thread char b[65536];
	struct race *r = p;
	ssize_t got;

	for (;;) {
		got = read(r->fd, b, sizeof(b));
		if (got < 0) {
			r->err = errno;
			return NULL;
		}
		r->nread++;
	}
}

/*
 * close() while another thread is in read(): the read holds the file, so it
 * ends normally when data comes (the test keeps traffic going); later reads
 * see EBADF.  Prints how the reads ended.
 */
static void close_race(unsigned long n)
{
	unsigned long i, ebadf = 0, other = 0;
	struct timespec ts;

	for (i = 0; i < n; i++) {
		struct race r = { .fd = open(dev, O_RDONLY) };
		pthread_t t;

		if (r.fd < 0) {
			printf("open %s\n", errname(errno));
			exit(1);
		}
		if (pthread_create(&t, NULL, race_reader, &r)) {
			perror("tcpflow-devtest: pthread_create");
			exit(1);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (random() % 3000) * 1000;
		nanosleep(&ts, NULL);
		close(r.fd);
		pthread_join(t, NULL);
		if (r.err == EBADF)
			ebadf++;
		else
			other++;
	}
	printf("close-race %lu ebadf=%lu other=%lu\n", n, ebadf, other);
	fflush(stdout);
	if (other)
		exit(1);
}

static void poll_loop(void)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		if (poll(&p, 1, -1) < 0) {
			printf("poll %s\n", errname(errno));
			exit(1);
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			print_records(n, NULL);
		if (errno != EAGAIN) {
			printf("read %s\n", errname(errno));
			exit(1);
		}
	}
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
				n = read(fd, buf, rdsz);
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
				n = read(fd, buf, rdsz);
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
		} else if (!strcmp(op, "bufsize") && i + 1 < argc) {
			rdsz = num(argv[++i]);
			if (rdsz > sizeof(buf))
				rdsz = sizeof(buf);
		} else if (!strcmp(op, "times")) {
			times = 1;
		} else if (!strcmp(op, "walk")) {
			struct tcpflow_counters c;

			need_fd();
			if (ioctl(fd, TCPFLOW_IOC_COUNTERS, &c))
				printf("walk %s\n", errname(errno));
			else
				printf("walk_max %llu\n",
				       (unsigned long long)c.walk_max);
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
		} else if (!strcmp(op, "ioctl-fuzz") && i + 2 < argc) {
			need_fd();
			ioctl_fuzz(num(argv[i + 1]), num(argv[i + 2]));
			i += 2;
		} else if (!strcmp(op, "read-raw") && i + 1 < argc) {
			size_t sz = num(argv[++i]);

			need_fd();
			n = read(fd, buf, sz > sizeof(buf) ? sizeof(buf) : sz);
			if (n < 0)
				printf("read %s\n", errname(errno));
			else
				printf("read %zd\n", n);
			fflush(stdout);
		} else if (!strcmp(op, "poll-loop")) {
			need_fd();
			poll_loop();
		} else if (!strcmp(op, "close-race") && i + 1 < argc) {
			close_race(num(argv[++i]));
		} else if (!strcmp(op, "fd") && i + 1 < argc) {
			fd = num(argv[++i]);
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
