/* check_clock.c -- RFC 3339 formatting and parsing. */

#include "evtaskd.h"
#include "check_main.h"

START_TEST(test_format)
{
	char buf[CLOCK_RFC3339_LEN + 1];

	clock_format_ms(0, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	clock_format_ms(1795902000123LL, buf);
	ck_assert_str_eq(buf, "2026-11-28T21:40:00.123Z");
	clock_format_ms(1795902000999LL, buf);
	ck_assert_str_eq(buf, "2026-11-28T21:40:00.999Z");
	clock_format_ms(1795902001000LL, buf);
	ck_assert_str_eq(buf, "2026-11-28T21:40:01.000Z");
}
END_TEST

START_TEST(test_parse)
{
	int64_t ms;

	ck_assert_int_eq(clock_parse_rfc3339("2026-11-28T21:40:00.123Z", &ms),
	    0);
	ck_assert_int_eq(ms, 1795902000123LL);
	ck_assert_int_eq(clock_parse_rfc3339("2026-11-28T21:40:00Z", &ms), 0);
	ck_assert_int_eq(ms, 1795902000000LL);
	ck_assert_int_eq(clock_parse_rfc3339("2026-11-28T22:40:00.5+01:00",
	    &ms), 0);
	ck_assert_int_eq(ms, 1795902000500LL);
	ck_assert_int_eq(clock_parse_rfc3339("2026-11-28t21:40:00.123456z",
	    &ms), 0);
	ck_assert_int_eq(ms, 1795902000123LL);
	/* A leap second is the last moment of its minute. */
	ck_assert_int_eq(clock_parse_rfc3339("2016-12-31T23:59:60Z", &ms), 0);
	ck_assert_int_eq(ms, 1483228799999LL);
	ck_assert_int_eq(clock_parse_rfc3339("2016-12-31T23:59:60.5Z", &ms),
	    0);
	ck_assert_int_eq(ms, 1483228799999LL);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const char *bad[] = {
		"", "2026", "2026-11-28", "2026-11-28T21:40:00",
		"2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
		"2026-11-28T24:00:00Z", "2026-11-28T21:40:00.Z",
		"2026-11-28T21:40:00+0100", "2026-11-28T21:40:00Zjunk",
		"26-11-28T21:40:00Z", "2026-11-28T21:4:00Z",
		"1969-12-31T23:59:59Z", "0000-01-01T00:00:00+00:01",
		"9999-12-31T23:59:59-00:01", "2026-11-28T21:40:61Z",
	};
	int64_t ms;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(clock_parse_rfc3339(bad[i], &ms) == -1, "'%s'",
		    bad[i]);
}
END_TEST

START_TEST(test_roundtrip)
{
	char buf[CLOCK_RFC3339_LEN + 1];
	int64_t ms, t;

	for (t = 1700000000000LL; t < 1700000000000LL + 100000; t += 777) {
		clock_format_ms(t, buf);
		ck_assert_int_eq(clock_parse_rfc3339(buf, &ms), 0);
		ck_assert_int_eq(ms, t);
	}
}
END_TEST

static Suite *
clock_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("rfc3339");

	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(clock_suite)
