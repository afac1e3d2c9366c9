/*
 * buf.c -- a growable byte buffer for text built on the hot path (task
 * JSON): appends without a malloc per piece; jansson does the escaping.
 */

#include "evtask.h"

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
		xfatal("json_dump_callback failed");
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
		xfatal("buf_add_jstr: invalid UTF-8");
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
