/*
 * utf8.c -- checking UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) and making arbitrary bytes fit for a JSON string.
 */

#include "evtask.h"

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
