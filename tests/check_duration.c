/* check_duration.c -- durations as people write and read them. Tables. */

#include "evtask.h"
#include "check_main.h"

#define NITEMS(a) (int)(sizeof (a) / sizeof (a)[0])

/* Text that parses, and its milliseconds. */
static const struct {
	const char	*in;
	int64_t		 ms;
} valid[] = {
	{ "0s", 0 },
	{ "0ms", 0 },
	{ "500ms", 500 },
	{ "5s", 5000 },
	{ "2m", 120000 },
	{ "1h", 3600000 },
	{ "1h30m", 5400000 },
	{ "1m30s", 90000 },
	{ "1s500ms", 1500 },
	{ "2d", 172800000 },
	{ "1d2h3m4s5ms", 93784005 },
	{ "90s", 90000 },		/* a unit may exceed the next one up */
	{ "007s", 7000 },
	{ "9007199254740992ms", (int64_t)1 << 53 },
};

/* Text that does not: no unit, wrong order, repeats, junk, overflow. */
static const char *const invalid[] = {
	"", "5", "s", "ms", "-5s", "+5s", "5 s", " 5s", "5s ", "1.5s", "5S",
	"5sec", "5x", "30m1h", "1s1s", "1m1m", "500ms1s", "1h30", "h1",
	"5s,", "9007199254740993ms", "99999999999999999999s", "104249991375d",
};

/* Milliseconds and how people read them. */
static const struct {
	int64_t		 ms;
	const char	*out;
} shown[] = {
	{ 0, "0ms" },
	{ 999, "999ms" },
	{ 1000, "1s" },
	{ 1500, "1.5s" },
	{ 1099, "1s" },
	{ 59900, "59.9s" },
	{ 60000, "1m" },
	{ 123000, "2m3s" },
	{ 3600000, "1h" },
	{ 5400000, "1h30m" },
	{ 86400000, "1d" },
	{ 187200000, "2d4h" },
	{ -1500, "-1.5s" },
};

/* A valid duration parses to its milliseconds. */
START_TEST(test_valid)
{
	int64_t ms = -1;

	ck_assert_msg(duration_parse(valid[_i].in, &ms) == 0, "%s",
	    valid[_i].in);
	ck_assert_int_eq(ms, valid[_i].ms);
}
END_TEST

/* An invalid one is refused and leaves the output alone. */
START_TEST(test_invalid)
{
	int64_t ms = 42;

	ck_assert_msg(duration_parse(invalid[_i], &ms) == -1, "'%s'",
	    invalid[_i]);
	ck_assert_int_eq(ms, 42);
}
END_TEST

/* Formatting for people. */
START_TEST(test_format)
{
	char buf[32];

	duration_format(shown[_i].ms, buf, sizeof buf);
	ck_assert_str_eq(buf, shown[_i].out);
}
END_TEST

static Suite *
duration_suite(void)
{
	Suite *s = suite_create("duration");
	TCase *tc = tcase_create("text");

	tcase_add_loop_test(tc, test_valid, 0, NITEMS(valid));
	tcase_add_loop_test(tc, test_invalid, 0, NITEMS(invalid));
	tcase_add_loop_test(tc, test_format, 0, NITEMS(shown));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(duration_suite)
