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

static void js_error_line(const char *msg);

void tf_err_msg(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (tf_json) {
		js_error_line(msg);
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

/*
 * An object is built in memory and written with one fwrite() when it
 * closes: a stdio call per piece cost more than all the formatting.
 */
static struct {
	char *p;
	size_t len, cap;
} jb;

/* Room for n more bytes. */
static inline void jb_reserve(size_t n)
{
	if (jb.len + n > jb.cap) {
		jb.cap = 2 * (jb.len + n) + 4096;
		jb.p = xrealloc(jb.p, jb.cap);
	}
}

static inline void jb_put(const char *s, size_t n)
{
	jb_reserve(n);
	memcpy(jb.p + jb.len, s, n);
	jb.len += n;
}

static inline void jb_c(char c)
{
	jb_reserve(1);
	jb.p[jb.len++] = c;
}

static void jb_flush(void)
{
	fwrite(jb.p, 1, jb.len, stdout);
	jb.len = 0;
}

static void js_str_raw(const char *str)
{
	const unsigned char *s = (const unsigned char *)str, *run;
	char u[8];
	size_t n;

	jb_c('"');
	while (*s) {
		/* Printable ASCII but '"' and '\\' goes out as it is, at once. */
		for (run = s; *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\';)
			s++;
		if (s > run)
			jb_put((const char *)run, s - run);
		if (!*s)
			break;
		switch (*s) {
		case '"':
			jb_put("\\\"", 2);
			break;
		case '\\':
			jb_put("\\\\", 2);
			break;
		case '\n':
			jb_put("\\n", 2);
			break;
		case '\t':
			jb_put("\\t", 2);
			break;
		case '\r':
			jb_put("\\r", 2);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				snprintf(u, sizeof(u), "\\u%04x", *s);
				jb_put(u, 6);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				jb_put("\\ufffd", 6);
				break;
			}
			jb_put((const char *)s, n);
			s += n - 1;
			break;
		}
		s++;
	}
	jb_c('"');
}

/* A line of its own, even while an object is being built. */
static void js_error_line(const char *msg)
{
	size_t start = jb.len;

	jb_put("{\"error\":", 9);
	js_str_raw(msg);
	jb_put("}\n", 2);
	fwrite(jb.p + start, 1, jb.len - start, stdout);
	jb.len = start;
}

static void js_sep(void)
{
	if (js.after_key) {
		js.after_key = false;
		return;
	}
	if (js.need_comma[js.depth])
		jb_c(',');
	js.need_comma[js.depth] = true;
}

void js_open(char c)
{
	js_sep();
	jb_c(c);
	js.depth++;
	js.need_comma[js.depth] = false;
}

void js_close(char c)
{
	jb_c(c);
	js.depth--;
	if (!js.depth) {
		jb_c('\n');
		jb_flush();
		js.need_comma[0] = false;
	}
}

/* Keys are this tool's own names: plain ASCII, nothing to escape. */
void js_key(const char *k)
{
	size_t n = strlen(k);

	js_sep();
	jb_c('"');
	jb_put(k, n);
	jb_put("\":", 2);
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
	char t[20];
	int n = 0;

	if (k)
		js_key(k);
	js_sep();
	do {
		t[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	jb_reserve(n);
	while (n)
		jb.p[jb.len++] = t[--n];
}

void js_bool(const char *k, bool v)
{
	js_key(k);
	js_sep();
	if (v)
		jb_put("true", 4);
	else
		jb_put("false", 5);
}

void js_null(const char *k)
{
	js_key(k);
	js_sep();
	jb_put("null", 4);
}
