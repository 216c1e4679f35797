// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: reads what the tcpflow module recorded.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <linux/tcpflow.h>

#define TCPFLOWCTL_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tcpflowctl [OPTIONS] COMMAND\n"
		"\n"
		"Commands:\n"
		"  version        print the tool's version and ABI\n"
		"\n"
		"Options:\n"
		"  -h, --help     show this help\n"
		"  -V, --version  same as the version command\n"
		"\n"
		"The recorded histories are readable now with: cat /proc/tcpflow\n");
}

static int cmd_version(void)
{
	printf("tcpflowctl %s (abi %d)\n", TCPFLOWCTL_VERSION,
	       TCPFLOW_ABI_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return cmd_version();
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "version"))
		return cmd_version();
	fprintf(stderr, "tcpflowctl: unknown command '%s' (try -h)\n",
		argv[optind]);
	return 2;
}
