// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: the record source.  Reads the record stream of /dev/tcpflow
 * (or a recording of it made with `tcpflowctl dump`, given with -f) as
 * include/uapi/linux/tcpflow.h describes it, one whole record at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tcpflowctl.h"

/* Set by SIGINT and SIGTERM: lock-free, so a signal handler may store it. */
atomic_int tf_stop;

static void on_signal(int sig)
{
	(void)sig;
	tf_stop = 1;
}

void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocked read() returns EINTR and we exit 0. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int src_open_dev(struct tf_src *s, const struct tf_filter *flt)
{
	struct tcpflow_filter kf = { 0 };
	__u32 abi = 0;

	s->name = TCPFLOW_DEV;
	s->dev = true;
	s->fd = open(TCPFLOW_DEV, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			tf_err("%s not found: load the module (insmod tcpflow.ko)",
			       TCPFLOW_DEV);
		else if (errno == EACCES || errno == EPERM)
			tf_err("%s: permission denied: tcpflowctl needs root (CAP_NET_ADMIN to see every namespace)",
			       TCPFLOW_DEV);
		else
			tf_err("%s: %s", TCPFLOW_DEV, strerror(errno));
		return -1;
	}
	if (ioctl(s->fd, TCPFLOW_IOC_VERSION, &abi) < 0) {
		tf_err("%s: TCPFLOW_IOC_VERSION: %s", TCPFLOW_DEV,
		       strerror(errno));
		return -1;
	}
	if (abi != TCPFLOW_ABI_VERSION) {
		tf_err("%s speaks ABI %u, this tcpflowctl ABI %d: use the tcpflowctl built with the loaded module",
		       TCPFLOW_DEV, abi, TCPFLOW_ABI_VERSION);
		return -1;
	}
	if (!flt)
		return 0;
	/* The kernel filters what it can; filter_match() does the rest. */
	if (flt->netns_set) {
		kf.flags |= TCPFLOW_FILTER_NETNS;
		kf.netns = flt->netns;
	}
	if (flt->port_set) {
		kf.flags |= TCPFLOW_FILTER_PORT;
		kf.port = flt->port;
	}
	if (flt->state_mask) {
		kf.flags |= TCPFLOW_FILTER_STATE;
		kf.state_mask = flt->state_mask;
	}
	if (kf.flags && ioctl(s->fd, TCPFLOW_IOC_SET_FILTER, &kf) < 0 &&
	    errno != ENOTTY && errno != EINVAL) {
		tf_err("%s: TCPFLOW_IOC_SET_FILTER: %s", TCPFLOW_DEV,
		       strerror(errno));
		return -1;
	}
	return 0;
}

int src_open(struct tf_src *s, const char *file,
	     const struct tf_filter *kflt)
{
	memset(s, 0, sizeof(*s));
	s->buf = xrealloc(NULL, TCPFLOW_BUF_SIZE);
	if (!file)
		return src_open_dev(s, kflt);
	s->name = file;
	if (!strcmp(file, "-")) {
		s->fd = STDIN_FILENO;
		s->name = "stdin";
		return 0;
	}
	s->fd = open(file, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		tf_err("%s: %s", file, strerror(errno));
		return -1;
	}
	return 0;
}

static size_t rec_payload_size(unsigned int type)
{
	switch (type) {
	case TCPFLOW_REC_CONN:
		return sizeof(struct tcpflow_conn_info);
	case TCPFLOW_REC_EVENT:
		return sizeof(struct tcpflow_event);
	case TCPFLOW_REC_SYNC:
		return sizeof(struct tcpflow_sync);
	case TCPFLOW_REC_LOSS:
		return sizeof(struct tcpflow_loss);
	}
	return 0;
}

/* Reads until buf holds `want` bytes from off: 1, 0 at EOF, -1 on error. */
static int src_fill(struct tf_src *s, size_t want)
{
	ssize_t n;

	while (s->len - s->off < want) {
		if (s->off) {
			memmove(s->buf, s->buf + s->off, s->len - s->off);
			s->len -= s->off;
			s->pos += s->off;
			s->off = 0;
		}
		if (tf_stop)
			return 0;
		/*
		 * What was formatted so far goes out before a read that may
		 * wait for the next event: a live reader sees each event
		 * once it is read, without a write per event.
		 */
		fflush(stdout);
		n = read(s->fd, s->buf + s->len, TCPFLOW_BUF_SIZE - s->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			tf_err("%s: read: %s", s->name, strerror(errno));
			return -1;
		}
		if (!n)
			return 0;
		s->len += n;
	}
	return 1;
}

/*
 * The next record: 1, 0 at the end of the stream (or on SIGINT), -1 on a
 * truncated or corrupt stream (reported).  A type this tool does not know
 * is returned with an empty payload, for its callers to skip (or dump):
 * newer modules may add some.
 */
int src_next(struct tf_src *s, struct tf_rec *r)
{
	size_t want;
	int ret;

	for (;;) {
		memset(&r->p, 0, sizeof(r->p));
		ret = src_fill(s, sizeof(r->hdr));
		if (ret <= 0) {
			if (!ret && s->len > s->off && !tf_stop) {
				tf_err("%s: truncated record at offset %llu",
				       s->name, s->pos + s->off);
				return -1;
			}
			return ret;
		}
		memcpy(&r->hdr, s->buf + s->off, sizeof(r->hdr));
		if (r->hdr.size < sizeof(r->hdr) || r->hdr.size % 8) {
			tf_err("%s: corrupt record at offset %llu: size %u",
			       s->name, s->pos + s->off, r->hdr.size);
			return -1;
		}
		want = rec_payload_size(r->hdr.type);
		if (want && r->hdr.size != sizeof(r->hdr) + want) {
			tf_err("%s: corrupt record at offset %llu: type %u size %u, expected %zu",
			       s->name, s->pos + s->off, r->hdr.type,
			       r->hdr.size, sizeof(r->hdr) + want);
			return -1;
		}
		ret = src_fill(s, r->hdr.size);
		if (ret <= 0) {
			if (!tf_stop && ret == 0)
				tf_err("%s: truncated record at offset %llu",
				       s->name, s->pos + s->off);
			return tf_stop ? 0 : -1;
		}
		r->raw = s->buf + s->off;
		s->off += r->hdr.size;
		memcpy(&r->p, r->raw + sizeof(r->hdr), want);
		return 1;
	}
}
