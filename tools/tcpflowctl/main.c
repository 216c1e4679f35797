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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpflowctl.h"

static void print_usage(FILE *f)
{
	fprintf(f,
		"Usage: tcpflowctl [OPTIONS] [COMMAND [ARGS]]\n"
		"\n"
		"Commands:\n"
		"  list               connections, one per line (the default)\n"
		"  show ID            a connection's history as a ladder diagram\n"
		"  show LOCAL PEER    the same, by ADDR:PORT ADDR:PORT\n"
		"  follow             new events as they happen, until Ctrl-C\n"
		"  leaks              CLOSE_WAIT older than -t SECS, TIME_WAIT by peer\n"
		"  stats              counters, transitions, handshake times\n"
		"  dump               the raw records, for -f (--follow: live too)\n"
		"  version            print the tool's version and ABI\n"
		"\n"
		"Options:\n"
		"  -f, --file FILE    read a recording made by dump, not /dev/tcpflow\n"
		"  -j, --json         JSON Lines output\n"
		"  -H, --no-header    no table headers\n"
		"  -n, --numeric      numeric addresses (always: no DNS)\n"
		"  -a, --all          list: closed connections too\n"
		"  -s, --state NAME   only this state (repeatable): established,\n"
		"                     syn-sent, syn-recv, fin-wait-1, fin-wait-2,\n"
		"                     time-wait, close, close-wait, last-ack, listen,\n"
		"                     closing\n"
		"      --port N       local or peer port N\n"
		"      --addr ADDR    local or peer address ADDR\n"
		"      --netns INODE  network namespace INODE\n"
		"      --pid PID      owner PID\n"
		"  -t, --threshold S  leaks: CLOSE_WAIT for S seconds or more (60)\n"
		"      --follow       dump: keep writing live records\n"
		"  -h, --help         show this help\n"
		"  -V, --version      same as the version command\n"
		"\n"
		"Exit status: 0 ok, 1 error, 2 bad usage, 3 leaks found.\n"
		"See tcpflowctl(8).\n");
}

static int cmd_version(void)
{
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

enum {
	OPT_PORT = 0x100,
	OPT_ADDR,
	OPT_NETNS,
	OPT_PID,
	OPT_FOLLOW,
};

static const char *bad_opt(char **argv, int optind_now)
{
	return argv[optind_now - 1];
}

/* Parses options into o; returns -1 to exit 0 (help), or an exit status. */
static int parse_opts(int argc, char **argv, struct tf_opts *o, bool *version)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "numeric", no_argument, NULL, 'n' },
		{ "no-header", no_argument, NULL, 'H' },
		{ "all", no_argument, NULL, 'a' },
		{ "file", required_argument, NULL, 'f' },
		{ "state", required_argument, NULL, 's' },
		{ "threshold", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c, st;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hVjnHaf:s:t:", opts, NULL)) != -1) {
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
			if (!parse_ulong(optarg, 65535, &v)) {
				tf_err("bad port '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.port_set = true;
			o->flt.port = v;
			break;
		case OPT_ADDR:
			if (!parse_addr(optarg, o->flt.addr)) {
				tf_err("bad address '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.addr_set = true;
			break;
		case OPT_NETNS:
			if (!parse_ulong(optarg, UINT32_MAX, &v)) {
				tf_err("bad netns inode '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.netns_set = true;
			o->flt.netns = v;
			break;
		case OPT_PID:
			if (!parse_ulong(optarg, UINT32_MAX, &v)) {
				tf_err("bad pid '%s'", optarg);
				return EXIT_USAGE;
			}
			o->flt.pid_set = true;
			o->flt.pid = v;
			break;
		case OPT_FOLLOW:
			o->follow = true;
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
	}
	return 0;
}

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
};

static int run_version(struct tf_ctx *x)
{
	(void)x;
	return cmd_version();
}

/* The first is the default.  list and follow show nothing else than what
 * the filters let through, so the kernel may filter for them.
 */
static const struct tf_cmd tf_cmds[] = {
	{ "list", cmd_list,
	  TF_CMD_SOURCE | TF_CMD_SNAPSHOT | TF_CMD_KERNEL_FILTER },
	{ "show", cmd_show, TF_CMD_SOURCE | TF_CMD_SNAPSHOT | TF_CMD_ARGS },
	{ "follow", cmd_follow, TF_CMD_SOURCE | TF_CMD_KERNEL_FILTER },
	{ "leaks", cmd_leaks, TF_CMD_SOURCE | TF_CMD_SNAPSHOT },
	{ "stats", cmd_stats, TF_CMD_SOURCE | TF_CMD_SNAPSHOT },
	{ "dump", cmd_dump, TF_CMD_SOURCE },
	{ "version", run_version, 0 },
};

static const struct tf_cmd *cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tf_cmds); i++)
		if (!strcmp(name, tf_cmds[i].name))
			return &tf_cmds[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct tf_opts o = { .header = true, .threshold = 60 };
	const struct tf_cmd *cmd = &tf_cmds[0];
	struct tf_ctx x = { .o = &o };
	bool version = false;
	struct tf_snap sn;
	struct tf_src src;
	int ret;

	ret = parse_opts(argc, argv, &o, &version);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (version)
		return cmd_version();
	if (optind < argc) {
		cmd = cmd_find(argv[optind]);
		if (!cmd) {
			tf_err("unknown command '%s' (try -h)", argv[optind]);
			return EXIT_USAGE;
		}
		optind++;
	}
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
