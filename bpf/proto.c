// SPDX-License-Identifier: GPL-2.0
/*
 * JSON output and command arguments.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static bool jb_reserve(struct jbuf *jb, size_t more)
{
	size_t cap;
	char *p;

	if (jb->oom)
		return false;
	if (jb->len + more + 1 <= jb->cap)
		return true;
	cap = jb->cap ? jb->cap : 256;
	while (cap < jb->len + more + 1)
		cap *= 2;
	p = realloc(jb->p, cap);
	if (!p) {
		jb->oom = true;
		return false;
	}
	jb->p = p;
	jb->cap = cap;
	return true;
}

void jb_free(struct jbuf *jb)
{
	free(jb->p);
	memset(jb, 0, sizeof(*jb));
}

void jb_raw(struct jbuf *jb, const char *s, size_t n)
{
	if (!jb_reserve(jb, n))
		return;
	memcpy(jb->p + jb->len, s, n);
	jb->len += n;
	jb->p[jb->len] = '\0';
}

void jb_printf(struct jbuf *jb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		jb->oom = true;
		return;
	}
	if (!jb_reserve(jb, n))
		return;
	va_start(ap, fmt);
	vsnprintf(jb->p + jb->len, n + 1, fmt, ap);
	va_end(ap);
	jb->len += n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned int cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void jb_jstr(struct jbuf *jb, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run, len;
	char esc[8];

	jb_raw(jb, "\"", 1);
	while (i < n) {
		/* copy runs of plain characters at once */
		run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			jb_raw(jb, str + i, run - i);
			i = run;
			continue;
		}
		switch (s[i]) {
		case '"':
			jb_raw(jb, "\\\"", 2);
			break;
		case '\\':
			jb_raw(jb, "\\\\", 2);
			break;
		case '\n':
			jb_raw(jb, "\\n", 2);
			break;
		case '\t':
			jb_raw(jb, "\\t", 2);
			break;
		case '\r':
			jb_raw(jb, "\\r", 2);
			break;
		default:
			len = s[i] >= 0x80 ? utf8_len(s + i, n - i) : 0;
			if (len) {
				jb_raw(jb, str + i, len);
				i += len;
				continue;
			}
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			jb_raw(jb, esc, 6);
			break;
		}
		i++;
	}
	jb_raw(jb, "\"", 1);
}

static void jf_key(struct jbuf *jb, const char *key)
{
	jb_raw(jb, ",", 1);
	jb_jstr(jb, key, strlen(key));
	jb_raw(jb, ":", 1);
}

void jf_str(struct jbuf *jb, const char *key, const char *s)
{
	jf_strn(jb, key, s, strlen(s));
}

void jf_strn(struct jbuf *jb, const char *key, const char *s, size_t n)
{
	jf_key(jb, key);
	jb_jstr(jb, s, n);
}

void jf_int(struct jbuf *jb, const char *key, long long v)
{
	jf_key(jb, key);
	jb_printf(jb, "%lld", v);
}

void jf_u64(struct jbuf *jb, const char *key, unsigned long long v)
{
	jf_key(jb, key);
	jb_printf(jb, "%llu", v);
}

void jf_bool(struct jbuf *jb, const char *key, bool v)
{
	jf_key(jb, key);
	jb_raw(jb, v ? "true" : "false", v ? 4 : 5);
}

void jf_u64_array(struct jbuf *jb, const char *key,
		  const unsigned long long *v, size_t n)
{
	size_t i;

	jf_key(jb, key);
	jb_raw(jb, "[", 1);
	for (i = 0; i < n; i++)
		jb_printf(jb, i ? ",%llu" : "%llu", v[i]);
	jb_raw(jb, "]", 1);
}

int req_fail(struct req *r, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->errnum = errnum;
	return -1;
}

const char *arg_str(struct req *r, const char *key)
{
	int i;

	for (i = 0; i < r->nargs; i++)
		if (!strcmp(r->args[i].key, key))
			return r->args[i].val;
	return NULL;
}

int arg_u64(struct req *r, const char *key, bool required,
	    unsigned long long dflt, unsigned long long min,
	    unsigned long long max, unsigned long long *out)
{
	const char *s = arg_str(r, key);
	unsigned long long v;
	char *end;

	if (!s) {
		if (required)
			return req_fail(r, EINVAL, "missing argument %s", key);
		*out = dflt;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return req_fail(r, EINVAL, "%s=%s: not a number", key, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return req_fail(r, EINVAL, "%s=%s: not a number", key, s);
	if (v < min || v > max)
		return req_fail(r, ERANGE, "%s=%s: out of range [%llu, %llu]",
				key, s, min, max);
	*out = v;
	return 0;
}
