/*
 * ulid.c -- ULIDs (https://github.com/ulid/spec): 48 bits of milliseconds
 * then 80 random bits, written as 26 characters of Crockford base32, so
 * that ids sort by time as bytes and as text. Only their form: the daemon's
 * sequence of new ids is registry.c's.
 */

#include "evtask.h"

#include <string.h>

static const char ulid_b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Format a ULID as 26 characters of Crockford base32 (and a NUL). */
void
ulid_format(const struct ulid *id, char *out)
{
	unsigned __int128 v = 0;
	int i;

	for (i = 0; i < 16; i++)
		v = (v << 8) | id->b[i];
	/* 130 bits of output for 128 of input: two zero bits lead. */
	for (i = ULID_LEN - 1; i >= 0; i--, v >>= 5)
		out[i] = ulid_b32[(unsigned)v & 31];
	out[ULID_LEN] = '\0';
}

/* The value of one Crockford base32 character (either case), or -1. */
static int
ulid_char_value(char c)
{
	static signed char table[256];
	static int ready;
	int i;

	if (!ready) {
		memset(table, -1, sizeof table);
		for (i = 0; i < 32; i++) {
			table[(unsigned char)ulid_b32[i]] = (signed char)i;
			table[(unsigned char)ulid_b32[i] | 0x20] =
			    (signed char)i;	/* lower case; digits unchanged */
		}
		ready = 1;
	}
	return table[(unsigned char)c];
}

/* Parse 26 characters of Crockford base32 into a ULID; 0 or -1. */
int
ulid_parse(const char *s, struct ulid *id)
{
	int i, v, bit, off;

	if (strlen(s) != ULID_LEN)
		return -1;
	memset(id, 0, sizeof *id);
	for (i = 0; i < ULID_LEN; i++) {
		v = ulid_char_value(s[i]);
		if (v < 0 || (i == 0 && v > 7))
			return -1;
		bit = i * 5 - 2;
		for (off = 4; off >= 0; off--, bit++) {
			if (bit < 0)
				continue;
			if (v & (1 << off))
				id->b[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		}
	}
	return 0;
}

/* The millisecond timestamp in a ULID. */
int64_t
ulid_time_ms(const struct ulid *id)
{
	int64_t ms = 0;
	int i;

	for (i = 0; i < 6; i++)
		ms = (ms << 8) | id->b[i];
	return ms;
}

/* Compare two ULIDs (as their strings would compare). */
int
ulid_cmp(const struct ulid *a, const struct ulid *b)
{
	return memcmp(a->b, b->b, sizeof a->b);
}
