// SPDX-License-Identifier: GPL-2.0
/*
 * tcpflowctl: error lines and the JSON writer (JSON Lines with -j: one
 * object per line), and the allocators that exit when memory runs out.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tcpflowctl.h"

bool tf_json;

static void js_str_raw(const char *s);

void tf_err_msg(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (tf_json) {
		fputs("{\"error\":", stdout);
		js_str_raw(msg);
		fputs("}\n", stdout);
		fflush(stdout);
	} else {
		fflush(stdout);		/* in order with what came before */
		fprintf(stderr, "tcpflowctl: %s\n", msg);
	}
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		tf_err("out of memory");
		exit(1);
	}
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

/*
 * The JSON writer: nesting is tracked so commas go where they belong.
 * Strings are written as valid UTF-8; a byte that is not part of a valid
 * UTF-8 sequence (comm is whatever a task set) becomes U+FFFD.
 */
#define JS_MAX_DEPTH 8

static struct {
	int depth;
	bool need_comma[JS_MAX_DEPTH];
	bool after_key;
} js;

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;	/* overlong, surrogate, or above U+10FFFF */
	return n;
}

static void js_str_raw(const char *str)
{
	const unsigned char *s = (const unsigned char *)str, *run;
	size_t n;

	putchar('"');
	while (*s) {
		/* Printable ASCII but '"' and '\\' goes out as it is, at once. */
		for (run = s; *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\';)
			s++;
		if (s > run)
			fwrite(run, 1, s - run, stdout);
		if (!*s)
			break;
		switch (*s) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				printf("\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", stdout);
				break;
			}
			fwrite(s, 1, n, stdout);
			s += n - 1;
			break;
		}
		s++;
	}
	putchar('"');
}

static void js_sep(void)
{
	if (js.after_key) {
		js.after_key = false;
		return;
	}
	if (js.need_comma[js.depth])
		putchar(',');
	js.need_comma[js.depth] = true;
}

void js_open(char c)
{
	js_sep();
	putchar(c);
	js.depth++;
	js.need_comma[js.depth] = false;
}

void js_close(char c)
{
	putchar(c);
	js.depth--;
	if (!js.depth) {
		putchar('\n');
		js.need_comma[0] = false;
	}
}

/* Keys are this tool's own names: plain ASCII, nothing to escape. */
void js_key(const char *k)
{
	js_sep();
	putchar('"');
	fputs(k, stdout);
	fputs("\":", stdout);
	js.after_key = true;
}

void js_str(const char *k, const char *v)
{
	js_key(k);
	js_sep();
	js_str_raw(v);
}

/* k NULL: an element of an array. */
void js_u64(const char *k, unsigned long long v)
{
	char buf[24];
	struct tf_sb b;

	if (k)
		js_key(k);
	js_sep();
	sb_init(&b, buf, sizeof(buf));
	sb_u64(&b, v, 1);
	fwrite(buf, 1, b.p - buf, stdout);
}

void js_bool(const char *k, bool v)
{
	js_key(k);
	js_sep();
	fputs(v ? "true" : "false", stdout);
}

void js_null(const char *k)
{
	js_key(k);
	js_sep();
	fputs("null", stdout);
}
