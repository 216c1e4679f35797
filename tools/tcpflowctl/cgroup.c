// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: the owner's cgroup.  The module records a cgroup v2 id, which
 * is the inode number of the cgroup's directory under the cgroup2 mount:
 * the mount is walked once, when an id is first asked for, into a table of
 * ids and paths (relative to the mount, "/system.slice/nginx.service").
 * From a path comes the unit: the systemd unit or the container it names.
 */
#define _GNU_SOURCE		/* nftw()'s FTW_PHYS, FTW_MOUNT */
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tcpflowctl.h"

struct tf_cg {
	unsigned long long id;
	char *path;
};

static struct {
	bool host;		/* cg_init()'s */
	bool walked;		/* root looked for, and walked if found */
	char *root;		/* the mount, or NULL: resolve nothing */
	size_t rootlen;
	time_t walked_at;
	struct tf_cg *v;	/* sorted by id */
	size_t n;
} cg;

/* Where the mount is; NULL: none found. */
static char *cg_mount(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char *line = NULL, *dir = NULL, *sep, *p, *q;
	size_t cap = 0;
	int i;

	if (!f)
		return NULL;
	while (!dir && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE ... */
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		p = line;
		for (i = 0; i < 4 && p; i++) {
			p = strchr(p, ' ');
			p = p ? p + 1 : NULL;
		}
		if (!p)
			continue;
		p[strcspn(p, " ")] = '\0';
		/* the kernel writes a space as \040, a backslash as \134 */
		for (q = dir = xstrdup(p); *p; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' &&
			    p[3] >= '0' && p[3] <= '7') {
				*q++ = (p[1] - '0') << 6 | (p[2] - '0') << 3 |
				       (p[3] - '0');
				p += 3;
			} else {
				*q++ = *p;
			}
		}
		*q = '\0';
	}
	free(line);
	fclose(f);
	return dir;
}

void cg_init(bool host)
{
	cg.host = host;
}

static void cg_find_root(void)
{
	const char *env = getenv("TCPFLOW_CGROUP_ROOT");
	size_t n;

	if (env && *env)
		cg.root = xstrdup(env);
	else if (cg.host)
		cg.root = cg_mount();
	if (!cg.root)
		return;
	n = strlen(cg.root);
	while (n > 1 && cg.root[n - 1] == '/')
		cg.root[--n] = '\0';
	cg.rootlen = n;
}

static int cg_add(const char *fpath, const struct stat *st, int type,
		  struct FTW *ftw)
{
	const char *rel = fpath + cg.rootlen;

	(void)ftw;
	if (type != FTW_D && type != FTW_DNR)
		return 0;
	if (cg.rootlen == 1)	/* mounted at /: fpath is already the path */
		rel = fpath;
	cg.v = xrealloc(cg.v, (cg.n + 1) * sizeof(*cg.v));
	cg.v[cg.n++] = (struct tf_cg){
		.id = st->st_ino, .path = xstrdup(*rel ? rel : "/"),
	};
	return 0;
}

static int cg_cmp(const void *a, const void *b)
{
	const struct tf_cg *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void cg_walk(void)
{
	size_t i;

	for (i = 0; i < cg.n; i++)
		free(cg.v[i].path);
	cg.n = 0;
	cg.walked_at = time(NULL);
	/* What cannot be read stays unresolved: no error to report. */
	nftw(cg.root, cg_add, 16, FTW_PHYS | FTW_MOUNT);
	if (cg.n)
		qsort(cg.v, cg.n, sizeof(*cg.v), cg_cmp);
}

/*
 * An id not in the table walks the mount again, at most once a second:
 * follow then finds the cgroups made after it started, and a command
 * that reads one snapshot walks once.
 */
static const char *cg_find(unsigned long long id)
{
	struct tf_cg key = { .id = id }, *hit;

	hit = cg.n ? bsearch(&key, cg.v, cg.n, sizeof(key), cg_cmp) : NULL;
	return hit ? hit->path : NULL;
}

const char *cg_path(unsigned long long id)
{
	const char *path;

	if (!id)
		return NULL;
	if (!cg.walked) {
		cg.walked = true;
		cg_find_root();
		if (cg.root)
			cg_walk();
	}
	if (!cg.root)
		return NULL;
	path = cg_find(id);
	if (!path && time(NULL) != cg.walked_at) {
		cg_walk();
		path = cg_find(id);
	}
	return path;
}

static bool is_hex(const char *s, size_t n)
{
	return n && strspn(s, "0123456789abcdef") >= n;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

/*
 * A container scope (docker-ID.scope), as RUNTIME:ID with 12 hex digits
 * of the id, as docker ps shows it; false if s (n bytes) is none.
 */
static bool container_scope(const char *s, size_t n, char *buf, size_t len)
{
	static const struct {
		const char *prefix, *runtime;
	} scopes[] = {
		{ "docker-", "docker" },
		{ "libpod-", "podman" },
		{ "cri-containerd-", "containerd" },
		{ "crio-", "crio" },
	};
	size_t i, k;

	if (!ends_with(s, n, ".scope"))
		return false;
	for (i = 0; i < ARRAY_SIZE(scopes); i++) {
		k = strlen(scopes[i].prefix);
		if (n < k + 6 + 12 || memcmp(s, scopes[i].prefix, k) ||
		    !is_hex(s + k, n - k - 6))
			continue;
		snprintf(buf, len, "%s:%.12s", scopes[i].runtime, s + k);
		return true;
	}
	return false;
}

/*
 * What a component (n bytes at s, parent the one before it) names: a
 * container, or a systemd unit other than the root slice; false if none.
 */
static bool unit_name(const char *s, size_t n, const char *parent,
		      size_t pn, char *buf, size_t len)
{
	if (container_scope(s, n, buf, len))
		return true;
	if (n == 64 && is_hex(s, n)) {	/* cgroupfs driver: docker/ID */
		snprintf(buf, len, "%s:%.12s",
			 pn == 6 && !memcmp(parent, "docker", 6) ? "docker" :
			 "container", s);
		return true;
	}
	if (ends_with(s, n, ".service") || ends_with(s, n, ".scope") ||
	    (ends_with(s, n, ".slice") && (n != 7 || s[0] != '-'))) {
		snprintf(buf, len, "%.*s", (int)n, s);
		return true;
	}
	return false;
}

/*
 * Into buf: the last component of path that names a unit or a container,
 * else its last component ("/" for the root).  Returns the length of the
 * path up to the end of that component: the cgroup that names it.
 */
static size_t unit_of(const char *path, char *buf, size_t len)
{
	const char *end = path + strlen(path), *s, *parent, *pe;

	while (end > path) {
		for (s = end; s > path && s[-1] != '/'; s--)
			;
		for (pe = s > path ? s - 1 : path, parent = pe;
		     parent > path && parent[-1] != '/'; parent--)
			;
		if (s < end && unit_name(s, end - s, parent, pe - parent, buf,
					 len))
			return end - path;
		end = s > path ? s - 1 : path;
	}
	for (s = path + strlen(path); s > path && s[-1] != '/'; s--)
		;
	snprintf(buf, len, "%s", *s ? s : "/");
	return strlen(path);
}

const char *fmt_unit(char *buf, size_t len, unsigned long long id,
		     size_t *scope)
{
	const char *path = cg_path(id);
	size_t n = 0;

	if (!id)
		snprintf(buf, len, "-");
	else if (!path)
		snprintf(buf, len, "cgroup:%llu", id);
	else
		n = unit_of(path, buf, len);
	if (scope)
		*scope = n;
	return buf;
}

bool cg_match(const char *want, unsigned long long id)
{
	const char *path = cg_path(id);
	size_t n = strlen(want);
	char unit[256];

	if (!id)
		return false;
	while (n > 1 && want[n - 1] == '/')
		n--;
	if (path && want[0] == '/' &&
	    (n == 1 || (!strncmp(path, want, n) &&
			(path[n] == '\0' || path[n] == '/'))))
		return true;
	return !strcmp(fmt_unit(unit, sizeof(unit), id, NULL), want);
}
