/*
 * buf.c -- a growable byte buffer for text built on the hot path (task
 * JSON): appends without a malloc per piece; jansson does the escaping.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for n more bytes (and a NUL). */
static void
buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	b->cap = b->cap == 0 ? 512 : b->cap * 2;
	while (b->len + n + 1 > b->cap)
		b->cap *= 2;
	b->data = xrealloc(b->data, b->cap);
}

/* Append n bytes. */
void
buf_add(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append a NUL-terminated string. */
void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append a decimal integer. */
void
buf_add_int(struct buf *b, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);

	buf_add(b, tmp, (size_t)n);
}

/* jansson's dump callback: append to a buffer. */
static int
buf_dump_cb(const char *s, size_t n, void *arg)
{
	buf_add(arg, s, n);
	return 0;
}

/* Append a JSON value as compact JSON (NULL: null). */
void
buf_add_json(struct buf *b, const json_t *v)
{
	if (v == NULL)
		buf_add(b, "null", 4);
	else if (json_dump_callback(v, buf_dump_cb, b, JSON_COMPACT |
	    JSON_ENCODE_ANY) != 0)
		fatalx("json_dump_callback failed");
}

/* Append a string as a JSON string (NULL: null). */
void
buf_add_jstr(struct buf *b, const char *s)
{
	json_t *v;

	if (s == NULL) {
		buf_add(b, "null", 4);
		return;
	}
	v = json_string(s);
	if (v == NULL)		/* not UTF-8: never from a validated task */
		fatalx("buf_add_jstr: invalid UTF-8");
	buf_add_json(b, v);
	json_decref(v);
}

/* Take the text out of the buffer (to free); the buffer is empty after. */
char *
buf_steal(struct buf *b, size_t *len)
{
	char *s;

	buf_reserve(b, 0);
	b->data[b->len] = '\0';	/* also when nothing was added */
	s = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return s[0] != 0;	/* NUL is not kept either */
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* Is this valid UTF-8 without NUL (fit for a JSON string as it is)? */
int
utf8_valid(const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, len;

	while (i < n) {
		if ((len = utf8_seq(s + i, n - i)) == 0)
			return 0;
		i += len;
	}
	return 1;
}

/*
 * Bytes from a process, made fit for a JSON string: valid UTF-8 is kept,
 * anything else (and NUL) becomes U+FFFD. Returns a new string.
 */
char *
utf8_sanitize(const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	struct buf b = { NULL, 0, 0 };
	size_t i = 0, len;

	while (i < n) {
		len = utf8_seq(s + i, n - i);
		if (len == 0) {
			buf_add(&b, "\xef\xbf\xbd", 3);
			i++;
		} else {
			buf_add(&b, in + i, len);
			i += len;
		}
	}
	return buf_steal(&b, NULL);
}
