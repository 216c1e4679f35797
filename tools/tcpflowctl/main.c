// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: reads what the tcpflow module recorded.
 *
 * The snapshot of /dev/tcpflow (or of a recording, -f) is loaded into a
 * table of connections sorted by id (snapshot.c); every command but
 * follow and dump works on it.  Output is for people by default (aligned
 * tables, a ladder diagram) and JSON Lines with -j.  This file parses the
 * options and runs a command from the table of commands.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpflowctl.h"

/* What main() does for a command before it runs it. */
enum {
	TF_CMD_SOURCE = 1 << 0,		/* opens /dev/tcpflow or -f */
	TF_CMD_SNAPSHOT = 1 << 1,	/* and loads the snapshot */
	TF_CMD_KERNEL_FILTER = 1 << 2,	/* the kernel may filter */
	TF_CMD_ARGS = 1 << 3,		/* takes arguments */
};

struct tf_cmd {
	const char *name;
	int (*run)(struct tf_ctx *x);
	unsigned int flags;
	const char *usage[2][2];	/* -h: { ARGS, what it does } */
};

static int cmd_version(struct tf_ctx *x);

/* tf_cmds[] indices: the options each command takes name them. */
enum {
	TF_LIST, TF_SHOW, TF_FOLLOW, TF_LEAKS, TF_STATS, TF_METRICS, TF_DUMP,
	TF_VERSION,
};

/*
 * The first is the default.  list and follow show nothing else than what
 * the filters let through, so the kernel may filter for them.
 */
static const struct tf_cmd tf_cmds[] = {
	[TF_LIST] = { "list", cmd_list,
	  TF_CMD_SOURCE | TF_CMD_SNAPSHOT | TF_CMD_KERNEL_FILTER,
	  { { "", "connections, one per line (the default)" } } },
	[TF_SHOW] = { "show", cmd_show, TF_CMD_SOURCE | TF_CMD_SNAPSHOT | TF_CMD_ARGS,
	  { { "ID", "a connection's history as a ladder diagram" },
	    { "LOCAL PEER", "the same, by ADDR:PORT ADDR:PORT" } } },
	[TF_FOLLOW] = { "follow", cmd_follow, TF_CMD_SOURCE | TF_CMD_KERNEL_FILTER,
	  { { "", "new events as they happen, until Ctrl-C" } } },
	[TF_LEAKS] = { "leaks", cmd_leaks, TF_CMD_SOURCE | TF_CMD_SNAPSHOT,
	  { { "", "CLOSE_WAIT older than -t SECS, TIME_WAIT by peer" } } },
	[TF_STATS] = { "stats", cmd_stats, TF_CMD_SOURCE | TF_CMD_SNAPSHOT,
	  { { "", "counters, transitions, handshake times" } } },
	[TF_METRICS] = { "metrics", cmd_metrics, TF_CMD_SOURCE | TF_CMD_SNAPSHOT,
	  { { "", "the same and more for Prometheus (text format)" } } },
	[TF_DUMP] = { "dump", cmd_dump, TF_CMD_SOURCE,
	  { { "", "the raw records, for -f (--follow: live too)" } } },
	[TF_VERSION] = { "version", cmd_version, 0,
	  { { "", "print the tool's version and ABI" } } },
};

static const struct tf_cmd *cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tf_cmds); i++)
		if (!strcmp(name, tf_cmds[i].name))
			return &tf_cmds[i];
	return NULL;
}

static int cmd_version(struct tf_ctx *x)
{
	(void)x;
	if (tf_json) {
		js_open('{');
		js_str("version", TCPFLOW_VERSION);
		js_u64("abi", TCPFLOW_ABI_VERSION);
		js_close('}');
		return 0;
	}
	printf("tcpflowctl %s (abi %d)\n", TCPFLOW_VERSION,
	       TCPFLOW_ABI_VERSION);
	return 0;
}

/* Options without a letter. */
enum {
	OPT_PORT = 0x100,
	OPT_ADDR,
	OPT_NETNS,
	OPT_PID,
	OPT_CGROUP,
	OPT_FOLLOW,
	OPT_TOP,
	OPT_MERMAID,
};

/*
 * Every option, once: getopt_long()'s tables and -h are built from it.
 * help NULL: written by usage_opt() (the state names).  cmds: the
 * commands that use it (0: all); any other rejects it.
 */
struct tf_opt {
	const char *name;
	int val;			/* its letter, or OPT_* */
	const char *arg;		/* its argument's name; NULL: none */
	const char *help;
	unsigned int cmds;
};

#define ON(c)		(1U << (c))
#define TF_READERS	(~0U & ~ON(TF_VERSION))
#define TF_TABLES	(ON(TF_LIST) | ON(TF_FOLLOW) | ON(TF_LEAKS) | ON(TF_STATS))
#define TF_FILTERS	(ON(TF_LIST) | ON(TF_FOLLOW) | ON(TF_LEAKS))

static const struct tf_opt tf_opts[] = {
	{ "file", 'f', "FILE", "read a recording made by dump, not " TCPFLOW_DEV,
	  TF_READERS },
	{ "json", 'j', NULL, "JSON Lines output", ~ON(TF_METRICS) },
	{ "no-header", 'H', NULL, "no table headers", TF_TABLES },
	{ "numeric", 'n', NULL, "numeric addresses (always: no DNS)", 0 },
	{ "all", 'a', NULL, "closed connections too", ON(TF_LIST) },
	{ "state", 's', "NAME", NULL, TF_FILTERS },
	{ "port", OPT_PORT, "N", "local or peer port N", TF_FILTERS },
	{ "addr", OPT_ADDR, "ADDR", "local or peer address ADDR", TF_FILTERS },
	{ "netns", OPT_NETNS, "INODE", "network namespace INODE", TF_FILTERS },
	{ "pid", OPT_PID, "PID", "owner PID", TF_FILTERS },
	{ "cgroup", OPT_CGROUP, "UNIT",
	  "owner's unit, or cgroup path and under (repeatable)", TF_FILTERS },
	{ "threshold", 't', "S", "CLOSE_WAIT for S seconds or more (60)",
	  ON(TF_LEAKS) },
	{ "verbose", 'v', NULL, "every connection, not only the 20 oldest",
	  ON(TF_LEAKS) },
	{ "follow", OPT_FOLLOW, NULL, "keep writing live records", ON(TF_DUMP) },
	{ "output", 'o', "FILE", "write FILE atomically (temp file, rename)",
	  ON(TF_METRICS) },
	{ "top", OPT_TOP, "N", "owners and peers labelled, the rest summed (10)",
	  ON(TF_METRICS) },
	{ "mermaid", OPT_MERMAID, NULL, "a Mermaid sequenceDiagram, not the ladder",
	  ON(TF_SHOW) },
	{ "help", 'h', NULL, "show this help", 0 },
	{ "version", 'V', NULL, "same as the version command", 0 },
};

/* How each option was given: 0 not, 's' as -t, 'l' as --threshold. */
static char tf_given[ARRAY_SIZE(tf_opts)];

#define USAGE_COL 21			/* where the help text starts */
#define USAGE_WIDTH 78

/* "  LEFT" padded to USAGE_COL, then the help. */
static void usage_line(FILE *f, const char *left, const char *help)
{
	fprintf(f, "  %-*s%s\n", USAGE_COL - 2, left, help);
}

static void usage_opt(FILE *f, const struct tf_opt *opt)
{
	char left[64];
	int col, i, n;

	if (opt->val < 0x100)
		n = snprintf(left, sizeof(left), "-%c, --%s", opt->val,
			     opt->name);
	else
		n = snprintf(left, sizeof(left), "    --%s", opt->name);
	if (opt->arg)
		snprintf(left + n, sizeof(left) - n, " %s", opt->arg);
	if (strlen(left) >= USAGE_COL - 2)
		strcat(left, " ");	/* at least one space before the help */
	if (opt->help && opt->cmds && !(opt->cmds & (opt->cmds - 1))) {
		/* one command's option: "list: closed connections too" */
		fprintf(f, "  %-*s%s: %s\n", USAGE_COL - 2, left,
			tf_cmds[__builtin_ctz(opt->cmds)].name, opt->help);
		return;
	}
	if (opt->help) {
		usage_line(f, left, opt->help);
		return;
	}
	/* -s: every state name it takes, wrapped */
	col = fprintf(f, "  %-*sonly this state (repeatable):", USAGE_COL - 2,
		      left);
	for (i = 1; i < TCPFLOW_STATE_MAX; i++) {
		const char *name = tcpflow_state_ss_name(i);
		int len = strlen(name) + (i < TCPFLOW_STATE_MAX - 1);

		if (col + 1 + len > USAGE_WIDTH)
			col = fprintf(f, "\n%*s", USAGE_COL - 1, "") - 1;
		col += fprintf(f, " %s%s", name,
			       i < TCPFLOW_STATE_MAX - 1 ? "," : "");
	}
	fputc('\n', f);
}

static void print_usage(FILE *f)
{
	char left[64];
	size_t i, j;

	fprintf(f, "Usage: tcpflowctl [OPTIONS] [COMMAND [ARGS]]\n\nCommands:\n");
	for (i = 0; i < ARRAY_SIZE(tf_cmds); i++) {
		for (j = 0; j < ARRAY_SIZE(tf_cmds[i].usage); j++) {
			const char * const *u = tf_cmds[i].usage[j];

			if (!u[1])
				break;
			snprintf(left, sizeof(left), "%s%s%s", tf_cmds[i].name,
				 *u[0] ? " " : "", u[0]);
			usage_line(f, left, u[1]);
		}
	}
	fprintf(f, "\nOptions:\n");
	for (i = 0; i < ARRAY_SIZE(tf_opts); i++)
		usage_opt(f, &tf_opts[i]);
	fprintf(f, "\nExit status: 0 ok, 1 error, 2 bad usage, 3 leaks found.\n"
		"See tcpflowctl(8).\n");
}

static const char *bad_opt(char **argv, int optind_now)
{
	return argv[optind_now - 1];
}

/* Notes option c, given long (li: its index) or short (li < 0). */
static void opt_given(int c, int li)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tf_opts); i++)
		if (tf_opts[i].val == c)
			tf_given[i] = li >= 0 ? 'l' : 's';
}

/* An option the command does not use: a usage error, not ignored. */
static int opts_check(const struct tf_cmd *cmd)
{
	unsigned int bit = ON(cmd - tf_cmds);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tf_opts); i++) {
		if (!tf_given[i] || !tf_opts[i].cmds || (tf_opts[i].cmds & bit))
			continue;
		if (tf_given[i] == 'l')
			tf_err("%s: option '--%s' does not apply (try -h)",
			       cmd->name, tf_opts[i].name);
		else
			tf_err("%s: option '-%c' does not apply (try -h)",
			       cmd->name, tf_opts[i].val);
		return EXIT_USAGE;
	}
	return 0;
}

/* getopt_long()'s long options and short string, from tf_opts. */
static void getopt_tables(struct option *lo, char *so)
{
	size_t i;

	*so++ = ':';
	for (i = 0; i < ARRAY_SIZE(tf_opts); i++) {
		lo[i] = (struct option){
			.name = tf_opts[i].name,
			.has_arg = tf_opts[i].arg ? required_argument :
				   no_argument,
			.val = tf_opts[i].val,
		};
		if (tf_opts[i].val >= 0x100)
			continue;
		*so++ = tf_opts[i].val;
		if (tf_opts[i].arg)
			*so++ = ':';
	}
	lo[i] = (struct option){ 0 };
	*so = '\0';
}

/* A filter's number (optarg): 0, or EXIT_USAGE (reported). */
static int opt_num(const char *what, unsigned long max, bool *set,
		   unsigned int *out)
{
	unsigned long v;

	if (!parse_ulong(optarg, max, &v)) {
		tf_err("bad %s '%s'", what, optarg);
		return EXIT_USAGE;
	}
	*set = true;
	*out = v;
	return 0;
}

/* Parses options into o; returns -1 to exit 0 (help), or an exit status. */
static int parse_opts(int argc, char **argv, struct tf_opts *o, bool *version)
{
	struct option lo[ARRAY_SIZE(tf_opts) + 1];
	char so[2 * ARRAY_SIZE(tf_opts) + 2];
	int c, st, li = -1, ret = 0;

	getopt_tables(lo, so);
	opterr = 0;
	while ((c = getopt_long(argc, argv, so, lo, &li)) != -1) {
		opt_given(c, li);
		li = -1;
		switch (c) {
		case 'h':
			print_usage(stdout);
			return -1;
		case 'V':
			*version = true;
			break;
		case 'j':
			tf_json = true;
			break;
		case 'n':
			break;
		case 'H':
			o->header = false;
			break;
		case 'a':
			o->all = true;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 's':
			st = parse_state(optarg);
			if (st < 0) {
				tf_err("unknown state '%s' (try -h)", optarg);
				return EXIT_USAGE;
			}
			o->flt.state_mask |= 1U << st;
			break;
		case 't':
			if (!parse_ulong(optarg, 100UL * 365 * 86400,
					 &o->threshold)) {
				tf_err("bad threshold '%s': seconds expected",
				       optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_PORT:
			ret = opt_num("port", 65535, &o->flt.port_set,
				      &o->flt.port);
			break;
		case OPT_ADDR:
			if (!parse_addr(optarg, o->flt.addr)) {
				tf_err("bad address '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.addr_set = true;
			break;
		case OPT_NETNS:
			ret = opt_num("netns inode", UINT32_MAX,
				      &o->flt.netns_set, &o->flt.netns);
			break;
		case OPT_PID:
			ret = opt_num("pid", UINT32_MAX, &o->flt.pid_set,
				      &o->flt.pid);
			break;
		case OPT_CGROUP:
			if (!*optarg) {
				tf_err("bad cgroup '': a path or a unit expected");
				return EXIT_USAGE;
			}
			o->flt.cgroups = xrealloc(o->flt.cgroups,
						  (o->flt.ncgroups + 1) *
						  sizeof(*o->flt.cgroups));
			o->flt.cgroups[o->flt.ncgroups++] = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_FOLLOW:
			o->follow = true;
			break;
		case OPT_MERMAID:
			o->mermaid = true;
			break;
		case OPT_TOP:
			if (!parse_ulong(optarg, 10000, &o->top)) {
				tf_err("bad --top '%s': 0 to 10000 expected",
				       optarg);
				return EXIT_USAGE;
			}
			break;
		case ':':
			tf_err("option '%s' needs an argument (try -h)",
			       bad_opt(argv, optind));
			return EXIT_USAGE;
		default:
			if (optopt)
				tf_err("unknown option '-%c' (try -h)", optopt);
			else
				tf_err("unknown option '%s' (try -h)",
				       bad_opt(argv, optind));
			return EXIT_USAGE;
		}
		if (ret)
			return ret;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tf_opts o = { .header = true, .threshold = 60, .top = 10 };
	const struct tf_cmd *cmd = &tf_cmds[0];
	struct tf_ctx x = { .o = &o };
	bool version = false;
	struct tf_snap sn;
	struct tf_src src;
	int ret;

	/*
	 * One thread: stdio need not lock stdout at each of the many small
	 * writes a table or JSON line is made of.
	 */
	__fsetlocking(stdout, FSETLOCKING_BYCALLER);
	ret = parse_opts(argc, argv, &o, &version);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (version) {
		cmd = &tf_cmds[TF_VERSION];
	} else if (optind < argc) {
		cmd = cmd_find(argv[optind]);
		if (!cmd) {
			tf_err("unknown command '%s' (try -h)", argv[optind]);
			return EXIT_USAGE;
		}
		optind++;
	}
	ret = opts_check(cmd);
	if (ret)
		return ret;
	if (version)
		return cmd_version(&x);
	cg_init(!o.file);
	x.args = argv + optind;
	x.nargs = argc - optind;
	if (!(cmd->flags & TF_CMD_ARGS) && x.nargs) {
		tf_err("%s: unexpected argument '%s' (try -h)", cmd->name,
		       x.args[0]);
		return EXIT_USAGE;
	}
	if (cmd->flags & TF_CMD_SOURCE) {
		if (src_open(&src, o.file, cmd->flags & TF_CMD_KERNEL_FILTER ?
			     &o.flt : NULL))
			return 1;
		x.src = &src;
	}
	if (cmd->flags & TF_CMD_SNAPSHOT) {
		if (snap_load(&src, &sn))
			return 1;
		x.sn = &sn;
	}
	return cmd->run(&x);
}
