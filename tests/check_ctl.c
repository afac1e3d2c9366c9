/* check_ctl.c -- evtaskctl's pure functions: relative times, table layout,
 * text widths. Tables of cases. */

#include "ctl.h"
#include "check_main.h"

#include <string.h>

#define NITEMS(a) (int)(sizeof (a) / sizeof (a)[0])
#define NOW 1764400000000LL

/* A moment seen from NOW, in words. */
static const struct {
	int64_t		 then;
	const char	*words;
} ago[] = {
	{ NOW, "just now" },
	{ NOW - 999, "just now" },
	{ NOW + 999, "just now" },
	{ NOW - 1000, "1s ago" },
	{ NOW - 59999, "59s ago" },
	{ NOW - 60000, "60s ago" },
	{ NOW - 119999, "119s ago" },
	{ NOW - 120000, "2m ago" },
	{ NOW - 180000, "3m ago" },
	{ NOW - 7199999, "119m ago" },
	{ NOW - 7200000, "2h ago" },
	{ NOW - 172799999, "47h ago" },
	{ NOW - 172800000, "2d ago" },
	{ NOW - 40LL * 86400000, "40d ago" },
	{ NOW + 5000, "in 5s" },
	{ NOW + 7200000, "in 2h" },
	{ NOW + 3LL * 86400000, "in 3d" },
};

/* Columns to fit: natural and minimum widths, the width, what comes out. */
#define L(...) { __VA_ARGS__ }
static const struct {
	size_t		 n;
	size_t		 natural[4];
	size_t		 minw[4];
	size_t		 width;
	size_t		 want[4];
} layouts[] = {
	/* fits: unchanged (2 spaces between columns) */
	{ 3, L(26, 10, 9), L(26, 4, 9), 49, L(26, 10, 9) },
	{ 3, L(26, 10, 9), L(26, 4, 9), 200, L(26, 10, 9) },
	/* one column over: the only one that may shrink does */
	{ 3, L(26, 10, 9), L(26, 4, 9), 48, L(26, 9, 9) },
	{ 3, L(26, 10, 9), L(26, 4, 9), 43, L(26, 4, 9) },
	/* the widest shrinkable goes first, then they take turns */
	{ 4, L(10, 20, 12, 5), L(10, 4, 4, 5), 47, L(10, 14, 12, 5) },
	{ 4, L(10, 20, 12, 5), L(10, 4, 4, 5), 39, L(10, 9, 9, 5) },
	/* nothing left to shrink: hide columns from the right */
	{ 3, L(26, 10, 9), L(26, 4, 9), 42, L(26, 4, 0) },
	{ 3, L(26, 10, 9), L(26, 4, 9), 31, L(26, 0, 0) },
	/* the first column always stays */
	{ 3, L(26, 10, 9), L(26, 4, 9), 10, L(26, 0, 0) },
	{ 1, L(5), L(5), 3, L(5) },
};

/* Text and the columns it takes. */
static const struct {
	const char	*text;
	size_t		 width;
} widths[] = {
	{ "", 0 },
	{ "abc", 3 },
	{ "caf\xc3\xa9", 4 },
	{ "\xe2\x80\xa6", 1 },
	{ "\xf0\x9f\x98\x80x", 2 },
};

/* Relative times. */
START_TEST(test_ago)
{
	char buf[32];

	ctl_out_ago(ago[_i].then, NOW, buf, sizeof buf);
	ck_assert_str_eq(buf, ago[_i].words);
}
END_TEST

/* Table layout. */
START_TEST(test_layout)
{
	size_t out[4], i;

	ctl_out_layout(layouts[_i].n, layouts[_i].natural, layouts[_i].minw,
	    layouts[_i].width, out);
	for (i = 0; i < layouts[_i].n; i++)
		ck_assert_msg(out[i] == layouts[_i].want[i],
		    "case %d column %zu: %zu, want %zu", _i, i, out[i],
		    layouts[_i].want[i]);
}
END_TEST

/* Text widths in characters. */
START_TEST(test_width)
{
	ck_assert_uint_eq(ctl_out_textwidth(widths[_i].text), widths[_i].width);
}
END_TEST

/* A printed table: aligned, cut with an ellipsis, within the width. */
START_TEST(test_table_print)
{
	static const char *const heads[] = { "ID", "NAME", "STATE" };
	static const char *const row1[] = { "A1", "a long name here", "running" };
	static const char *const row2[] = { "B2", NULL, "failed" };
	static const size_t minw[] = { 2, 4, 6 };
	struct ctl_table *t = ctl_table_new(3, heads, minw);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ctl_table_add(t, row1);
	ctl_table_add(t, row2);
	ctl_table_print(t, f, 20);
	fclose(f);
	ck_assert_str_eq(text,
	    "ID  NAME     STATE\n"
	    "A1  a long\xe2\x80\xa6  running\n"
	    "B2  -        failed\n");
	free(text);
	ctl_table_free(t);
}
END_TEST

static Suite *
ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc = tcase_create("out");

	tcase_add_loop_test(tc, test_ago, 0, NITEMS(ago));
	tcase_add_loop_test(tc, test_layout, 0, NITEMS(layouts));
	tcase_add_loop_test(tc, test_width, 0, NITEMS(widths));
	tcase_add_test(tc, test_table_print);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(ctl_suite)
