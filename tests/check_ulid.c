/* check_ulid.c -- the ULID text form: parsing, formatting, order. Tables. */

#include "evtaskd.h"
#include "check_main.h"

#include <string.h>

#define SPEC_ULID "01ARZ3NDEKTSV4RRFFQ69G5FAV"	/* spec README */
#define NOTIME -1

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Strings that parse: the canonical form they format back to, their time. */
static const struct {
	const char	*in;
	const char	*out;
	int64_t		 ms;		/* NOTIME: not checked */
} valid[] = {
	{ SPEC_ULID, SPEC_ULID, 1469922850259LL },
	{ "01ARYZ6S41TSV4RRFFQ69G5FAV", "01ARYZ6S41TSV4RRFFQ69G5FAV",
	  1469918176385LL },		/* the spec's decodeTime example */
	{ "01arz3ndektsv4rrffq69g5fav", SPEC_ULID, 1469922850259LL },
	{ "01ArZ3nDeKtSv4RrFfQ69g5FaV", SPEC_ULID, 1469922850259LL },
	{ "00000000000000000000000000", "00000000000000000000000000", 0 },
	{ "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
	  281474976710655LL },	/* 2^48 - 1 */
	{ "0000000000ZZZZZZZZZZZZZZZZ", "0000000000ZZZZZZZZZZZZZZZZ", 0 },
	{ "7ZZZZZZZZZ0000000000000000", "7ZZZZZZZZZ0000000000000000",
	  281474976710655LL },
};

/* Strings that do not: lengths, letters outside the alphabet, overflow. */
static const char *const invalid[] = {
	"",
	"01ARZ3NDEKTSV4RRFFQ69G5FA",		/* 25 */
	"01ARZ3NDEKTSV4RRFFQ69G5FAVX",		/* 27 */
	"01ARZ3NDEKTSV4RRFFQ69G5FAI",		/* I, L, O, U are not in it */
	"01ARZ3NDEKTSV4RRFFQ69G5FAL",
	"01ARZ3NDEKTSV4RRFFQ69G5FAO",
	"01ARZ3NDEKTSV4RRFFQ69G5FAU",
	"01ARZ3NDEKTSV4RRFFQ69G5FAi",
	"01ARZ3NDEKTSV4RRFFQ69G5FAl",
	"01ARZ3NDEKTSV4RRFFQ69G5FAo",
	"01ARZ3NDEKTSV4RRFFQ69G5FAu",
	"01ARZ3NDEKTSV4RRFFQ69G5FA-",
	"01ARZ3NDEKTSV4RRFFQ69G5FA ",
	" 01ARZ3NDEKTSV4RRFFQ69G5FA",
	"01ARZ3NDEKTSV4RRFFQ69G5F.V",
	"*1ARZ3NDEKTSV4RRFFQ69G5FAV",
	"01ARZ3NDEKTSV4RRFFQ69G5F\xc3\xa9",	/* 26 bytes, 25 characters */
	"8ZZZZZZZZZZZZZZZZZZZZZZZZZ",		/* over 128 bits */
	"90000000000000000000000000",
	"ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
};

/* Byte patterns that format and parse back to themselves. */
static const struct ulid round_trip[] = {
	{ { 0 } },
	{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
	{ { 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 } },
	{ { 0x01, 0x56, 0x3d, 0xf3, 0x64, 0xd3, 0xce, 0xc9,
	    0x78, 0x8c, 0x7d, 0xde, 0x4c, 0x85, 0xbe, 0xeb } },
	{ { 0xaa, 0x55, 0xaa, 0x55, 0xaa, 0x55, 0xaa, 0x55,
	    0xaa, 0x55, 0xaa, 0x55, 0xaa, 0x55, 0xaa, 0x55 } },
	{ { 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x7f, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
};

/* Strings in increasing order: ulid_cmp agrees with strcmp. */
static const char *const sorted[] = {
	"00000000000000000000000000",
	"00000000000000000000000001",
	"0000000000000000000000000Z",
	"0000000000ZZZZZZZZZZZZZZZZ",
	"00000000010000000000000000",	/* one ms later beats any random */
	"01ARYZ6S41TSV4RRFFQ69G5FAV",
	"01ARZ3NDEKTSV4RRFFQ69G5FAV",
	"01ARZ3NDEKTSV4RRFFQ69G5FAW",
	"7ZZZZZZZZZZZZZZZZZZZZZZZZY",
	"7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
};

#define NITEMS(a) (int)(sizeof (a) / sizeof (a)[0])

/* A valid string parses, has its time, and formats to its canonical form. */
START_TEST(test_valid)
{
	struct ulid id;
	char s[ULID_LEN + 1];

	ck_assert_msg(ulid_parse(valid[_i].in, &id) == 0, "%s", valid[_i].in);
	if (valid[_i].ms != NOTIME)
		ck_assert_int_eq(ulid_time_ms(&id), valid[_i].ms);
	ulid_format(&id, s);
	ck_assert_str_eq(s, valid[_i].out);
}
END_TEST

/* An invalid string is refused. */
START_TEST(test_invalid)
{
	struct ulid id;

	ck_assert_msg(ulid_parse(invalid[_i], &id) == -1, "'%s'",
	    invalid[_i]);
}
END_TEST

/* Format then parse gives back the same 128 bits, in 26 alphabet letters. */
START_TEST(test_round_trip)
{
	struct ulid back;
	char s[ULID_LEN + 1], again[ULID_LEN + 1];

	ulid_format(&round_trip[_i], s);
	ck_assert_uint_eq(strlen(s), ULID_LEN);
	ck_assert_uint_eq(strspn(s, crockford), ULID_LEN);
	ck_assert_msg(s[0] <= '7', "%s: two leading zero bits", s);
	ck_assert_int_eq(ulid_parse(s, &back), 0);
	ck_assert_int_eq(ulid_cmp(&round_trip[_i], &back), 0);
	ulid_format(&back, again);
	ck_assert_str_eq(again, s);
}
END_TEST

/* The same for a thousand generated patterns. */
START_TEST(test_round_trip_many)
{
	struct ulid a, b;
	char s[ULID_LEN + 1];
	int i, j;

	for (i = 0; i < 1000; i++) {
		for (j = 0; j < 16; j++)
			a.b[j] = (uint8_t)(i * 31 + j * 97 + (i >> 3) * j);
		ulid_format(&a, s);
		ck_assert_uint_eq(strspn(s, crockford), ULID_LEN);
		ck_assert_int_eq(ulid_parse(s, &b), 0);
		ck_assert_int_eq(ulid_cmp(&a, &b), 0);
	}
}
END_TEST

/* Every pair of the sorted table compares as the strings do. */
START_TEST(test_order)
{
	struct ulid a, b;
	int j, want, got;

	ck_assert_int_eq(ulid_parse(sorted[_i], &a), 0);
	for (j = 0; j < NITEMS(sorted); j++) {
		ck_assert_int_eq(ulid_parse(sorted[j], &b), 0);
		want = (j > _i) - (j < _i);
		got = ulid_cmp(&b, &a);
		got = (got > 0) - (got < 0);
		ck_assert_msg(got == want, "%s vs %s: %d", sorted[j],
		    sorted[_i], got);
		ck_assert_int_eq((strcmp(sorted[j], sorted[_i]) > 0) -
		    (strcmp(sorted[j], sorted[_i]) < 0), want);
	}
}
END_TEST

/* Time order is byte order: a later millisecond sorts after. */
START_TEST(test_time_is_prefix)
{
	struct ulid a, b;

	ck_assert_int_eq(ulid_parse(sorted[_i], &a), 0);
	ck_assert_int_eq(ulid_parse(sorted[_i + 1], &b), 0);
	ck_assert_int_le(ulid_time_ms(&a), ulid_time_ms(&b));
}
END_TEST

static Suite *
ulid_suite(void)
{
	Suite *s = suite_create("ulid");
	TCase *tc = tcase_create("text");

	tcase_add_loop_test(tc, test_valid, 0, NITEMS(valid));
	tcase_add_loop_test(tc, test_invalid, 0, NITEMS(invalid));
	tcase_add_loop_test(tc, test_round_trip, 0, NITEMS(round_trip));
	tcase_add_test(tc, test_round_trip_many);
	suite_add_tcase(s, tc);
	tc = tcase_create("order");
	tcase_add_loop_test(tc, test_order, 0, NITEMS(sorted));
	tcase_add_loop_test(tc, test_time_is_prefix, 0, NITEMS(sorted) - 1);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(ulid_suite)
