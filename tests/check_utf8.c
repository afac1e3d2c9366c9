/* check_utf8.c -- utf8_valid and utf8_sanitize over one table of bytes. */

#include "evtaskd.h"
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

#define R "\xef\xbf\xbd"		/* U+FFFD, what sanitize puts instead */
#define B(s) s, sizeof s - 1		/* bytes and their length, NULs too */

/* Bytes; are they valid UTF-8 (without NUL); what sanitize makes of them. */
static const struct {
	const char	*what;
	const char	*in;
	size_t		 len;
	int		 valid;
	const char	*out;
} cases[] = {
	{ "empty", B(""), 1, "" },
	{ "ASCII", B("plain text\n\t~"), 1, "plain text\n\t~" },
	/* the smallest and largest of each length */
	{ "U+0001", B("\x01"), 1, "\x01" },
	{ "U+007F", B("\x7f"), 1, "\x7f" },
	{ "U+0080", B("\xc2\x80"), 1, "\xc2\x80" },
	{ "U+07FF", B("\xdf\xbf"), 1, "\xdf\xbf" },
	{ "U+0800", B("\xe0\xa0\x80"), 1, "\xe0\xa0\x80" },
	{ "U+FFFF", B("\xef\xbf\xbf"), 1, "\xef\xbf\xbf" },
	{ "U+10000", B("\xf0\x90\x80\x80"), 1, "\xf0\x90\x80\x80" },
	{ "U+10FFFF", B("\xf4\x8f\xbf\xbf"), 1, "\xf4\x8f\xbf\xbf" },
	{ "mixed", B("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 1,
	  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	/* NUL is not kept: JSON strings in C stop there */
	{ "NUL", B("\0"), 0, R },
	{ "NUL inside", B("a\0b"), 0, "a" R "b" },
	/* overlong forms: every byte of them is replaced */
	{ "overlong NUL", B("\xc0\x80"), 0, R R },
	{ "overlong /", B("\xc0\xaf"), 0, R R },
	{ "overlong U+007F", B("\xc1\xbf"), 0, R R },
	{ "overlong 3 bytes", B("\xe0\x80\x80"), 0, R R R },
	{ "overlong U+07FF", B("\xe0\x9f\xbf"), 0, R R R },
	{ "overlong 4 bytes", B("\xf0\x80\x80\x80"), 0, R R R R },
	{ "overlong U+FFFF", B("\xf0\x8f\xbf\xbf"), 0, R R R R },
	/* surrogates, and their neighbours */
	{ "U+D7FF", B("\xed\x9f\xbf"), 1, "\xed\x9f\xbf" },
	{ "U+D800", B("\xed\xa0\x80"), 0, R R R },
	{ "U+DBFF", B("\xed\xaf\xbf"), 0, R R R },
	{ "U+DC00", B("\xed\xb0\x80"), 0, R R R },
	{ "U+DFFF", B("\xed\xbf\xbf"), 0, R R R },
	{ "surrogate pair", B("\xed\xa0\xbd\xed\xb8\x80"), 0, R R R R R R },
	{ "U+E000", B("\xee\x80\x80"), 1, "\xee\x80\x80" },
	/* beyond U+10FFFF, and bytes that never start anything */
	{ "U+110000", B("\xf4\x90\x80\x80"), 0, R R R R },
	{ "F5", B("\xf5\x80\x80\x80"), 0, R R R R },
	{ "FF", B("a\xff" "b"), 0, "a" R "b" },
	{ "FE", B("\xfe"), 0, R },
	{ "lone continuation", B("\x80"), 0, R },
	{ "continuations", B("a\x80\xbf" "b"), 0, "a" R R "b" },
	/* truncated sequences: at the end, and cut by another character */
	{ "2 of 2 cut", B("\xc3"), 0, R },
	{ "3 cut to 2", B("\xe2\x82"), 0, R R },
	{ "3 cut to 1", B("a\xe2"), 0, "a" R },
	{ "4 cut to 3", B("\xf0\x9f\x98"), 0, R R R },
	{ "cut by ASCII", B("\xe2\x82" "a"), 0, R R "a" },
	{ "cut by a lead", B("\xc3\xc3\xa9"), 0, R "\xc3\xa9" },
	{ "4 cut then valid", B("\xf0\x9f\xe2\x82\xac"), 0, R R "\xe2\x82\xac" },
};

#define NCASES (int)(sizeof cases / sizeof cases[0])

/* utf8_valid says what the table says. */
START_TEST(test_valid)
{
	ck_assert_msg(utf8_valid(cases[_i].in, cases[_i].len) ==
	    cases[_i].valid, "%s", cases[_i].what);
}
END_TEST

/* utf8_sanitize gives the table's output, which is itself valid. */
START_TEST(test_sanitize)
{
	char *out = utf8_sanitize(cases[_i].in, cases[_i].len);

	ck_assert_msg(strcmp(out, cases[_i].out) == 0, "%s", cases[_i].what);
	ck_assert_msg(utf8_valid(out, strlen(out)), "%s", cases[_i].what);
	free(out);
}
END_TEST

/* utf8_valid reads len bytes, not up to a NUL: a prefix can be cut. */
START_TEST(test_length_not_nul)
{
	const char *s = "caf\xc3\xa9";

	ck_assert(utf8_valid(s, 5));
	ck_assert(!utf8_valid(s, 4));		/* the é cut in two */
	ck_assert(utf8_valid(s, 3));
	ck_assert(utf8_valid(s, 0));
}
END_TEST

static Suite *
utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("table");

	tcase_add_loop_test(tc, test_valid, 0, NCASES);
	tcase_add_loop_test(tc, test_sanitize, 0, NCASES);
	tcase_add_test(tc, test_length_not_nul);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(utf8_suite)
