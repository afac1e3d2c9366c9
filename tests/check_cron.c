/*
 * check_cron.c -- cron expressions as tables: every field form, names,
 * steps, the @ forms, the both-day-fields rule, leap years, daylight
 * saving gaps and repeated hours in Europe/Berlin and America/New_York,
 * and bad expressions with their error text.
 */

#include "evtaskd.h"
#include "check_main.h"

#include <stdlib.h>
#include <string.h>

/* RFC 3339 (UTC, ms) to ms since the epoch. */
static int64_t
at(const char *s)
{
	int64_t ms;

	ck_assert_msg(clock_parse_rfc3339(s, &ms) == 0, "%s", s);
	return ms;
}

/* What a field parses to. */
START_TEST(test_fields)
{
	static const struct {
		const char	*expr;
		uint64_t	 minutes;
		uint32_t	 hours;
		uint16_t	 months;
		uint8_t		 wdays;
	} rows[] = {
		{ "0 0 * * *", 1, 1, 0x1ffe, 0x7f },
		{ "*/15 * * * *", 1 | 1 << 15 | 1ULL << 30 | 1ULL << 45,
		    0xffffff, 0x1ffe, 0x7f },
		{ "5,10-12 1-3/2 * * *", 1 << 5 | 1 << 10 | 1 << 11 | 1 << 12,
		    1 << 1 | 1 << 3, 0x1ffe, 0x7f },
		{ "0 0 * jan,DEC *", 1, 1, 1 << 1 | 1 << 12, 0x7f },
		{ "0 0 * Mar-may *", 1, 1, 1 << 3 | 1 << 4 | 1 << 5, 0x7f },
		{ "0 0 * * mon-fri", 1, 1, 0x1ffe, 0x3e },
		{ "0 0 * * 7", 1, 1, 0x1ffe, 0x01 },
		{ "0 0 * * 5-7", 1, 1, 0x1ffe, 0x61 },
		{ "0 0 * * sun,sat", 1, 1, 0x1ffe, 0x41 },
		{ "50/5 0 * * *", 1ULL << 50 | 1ULL << 55, 1, 0x1ffe, 0x7f },
		{ "@hourly", 1, 0xffffff, 0x1ffe, 0x7f },
		{ "@daily", 1, 1, 0x1ffe, 0x7f },
		{ "@weekly", 1, 1, 0x1ffe, 0x01 },
		{ "@monthly", 1, 1, 0x1ffe, 0x7f },
		{ "@yearly", 1, 1, 1 << 1, 0x7f },
		{ "  0   0  *  *  * ", 1, 1, 0x1ffe, 0x7f },
	};
	struct cron c;
	char *err = NULL;
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		ck_assert_msg(cron_parse(rows[i].expr, &c, &err) == 0, "%s: %s",
		    rows[i].expr, err);
		ck_assert_msg(c.minutes == rows[i].minutes, "%s minutes",
		    rows[i].expr);
		ck_assert_msg(c.hours == rows[i].hours, "%s hours",
		    rows[i].expr);
		ck_assert_msg(c.months == rows[i].months, "%s months",
		    rows[i].expr);
		ck_assert_msg(c.wdays == rows[i].wdays, "%s wdays %x",
		    rows[i].expr, c.wdays);
	}
}
END_TEST

/* Bad expressions say which field and why (the text begins so). */
START_TEST(test_errors)
{
	static const struct {
		const char	*expr;
		const char	*err;
	} rows[] = {
		{ "", "0 fields; cron has five" },
		{ "* * * *", "4 fields; cron has five" },
		{ "* * * * * *", "more than five fields" },
		{ "60 * * * *", "minute: '60' is out of range 0-59" },
		{ "* 24 * * *", "hour: '24' is out of range 0-23" },
		{ "* * 0 * *", "day of month: '0' is out of range 1-31" },
		{ "* * 32 * *", "day of month: '32' is out of range 1-31" },
		{ "* * * 13 *", "month: '13' is out of range 1-12" },
		{ "* * * * 8", "day of week: '8' is out of range 0-7" },
		{ "* * * foo *", "month: cannot read 'foo' (a number, or a "
		    "three-letter English name)" },
		{ "x * * * *", "minute: cannot read 'x'" },
		{ "*/0 * * * *", "minute: bad step in '*/0' (1 to 59)" },
		{ "5-1 * * * *", "minute: range '5-1' goes backwards" },
		{ "1,,2 * * * *", "minute: empty element in a list" },
		{ "@often", "unknown '@often' (@hourly, @daily, @weekly, "
		    "@monthly, @yearly)" },
		{ "*-5 * * * *", "minute: cannot read '*-5'" },
	};
	struct cron c;
	char *err;
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		err = NULL;
		ck_assert_msg(cron_parse(rows[i].expr, &c, &err) == -1, "%s",
		    rows[i].expr);
		ck_assert_msg(strncmp(err, rows[i].err, strlen(rows[i].err))
		    == 0, "%s: %s", rows[i].expr, err);
		free(err);
	}
}
END_TEST

/* The next run after a time, in a zone. */
START_TEST(test_next)
{
	static const struct {
		const char	*expr, *zone, *after, *want;
	} rows[] = {
		{ "* * * * *", "UTC", "2026-01-01T00:00:00.000Z",
		    "2026-01-01T00:01:00.000Z" },
		{ "* * * * *", "UTC", "2026-01-01T00:00:59.999Z",
		    "2026-01-01T00:01:00.000Z" },
		{ "30 2 * * *", "UTC", "2026-01-01T02:30:00.000Z",
		    "2026-01-02T02:30:00.000Z" },
		{ "30 2 * * *", "Europe/Berlin", "2026-11-30T10:00:00.000Z",
		    "2026-12-01T01:30:00.000Z" },
		{ "0 0 1 1 *", "UTC", "2026-06-01T00:00:00.000Z",
		    "2027-01-01T00:00:00.000Z" },
		{ "@monthly", "UTC", "2026-01-31T12:00:00.000Z",
		    "2026-02-01T00:00:00.000Z" },
		{ "0 12 31 * *", "UTC", "2026-04-01T00:00:00.000Z",
		    "2026-05-31T12:00:00.000Z" },
		/* leap years: 29 February */
		{ "0 0 29 2 *", "UTC", "2025-03-01T00:00:00.000Z",
		    "2028-02-29T00:00:00.000Z" },
		{ "0 0 29 2 *", "UTC", "2096-03-01T00:00:00.000Z",
		    "2104-02-29T00:00:00.000Z" },
		/* both day fields restricted: either matches */
		{ "0 0 13 * fri", "UTC", "2026-02-01T00:00:00.000Z",
		    "2026-02-06T00:00:00.000Z" },
		{ "0 0 13 * fri", "UTC", "2026-02-07T00:00:00.000Z",
		    "2026-02-13T00:00:00.000Z" },
		/* one restricted, the other '*' : only the restricted one */
		{ "0 0 13 * *", "UTC", "2026-02-01T00:00:00.000Z",
		    "2026-02-13T00:00:00.000Z" },
		{ "0 0 * * fri", "UTC", "2026-02-07T00:00:00.000Z",
		    "2026-02-13T00:00:00.000Z" },
		{ "0 0 1 * */2", "UTC", "2026-02-02T00:00:00.000Z",
		    "2026-03-01T00:00:00.000Z" },
		{ "0 9 * * mon-fri", "America/New_York",
		    "2026-01-09T15:00:00.000Z", "2026-01-12T14:00:00.000Z" },
		/* Berlin spring forward 2026-03-29: 02:00-03:00 is missing */
		{ "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00.000Z",
		    "2026-03-29T01:00:00.000Z" },
		{ "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00.000Z",
		    "2026-03-30T00:30:00.000Z" },
		{ "0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00.000Z",
		    "2026-03-29T01:00:00.000Z" },
		/* Berlin fall back 2026-10-25: 02:00-03:00 twice; once */
		{ "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00.000Z",
		    "2026-10-25T00:30:00.000Z" },
		{ "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00.000Z",
		    "2026-10-26T01:30:00.000Z" },
		{ "30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00.000Z",
		    "2026-10-25T02:30:00.000Z" },
		/* New York spring forward 2026-03-08 02:00 -> 03:00 */
		{ "15 2 * * *", "America/New_York", "2026-03-07T12:00:00.000Z",
		    "2026-03-08T07:00:00.000Z" },
		{ "15 2 * * *", "America/New_York", "2026-03-08T07:00:00.000Z",
		    "2026-03-09T06:15:00.000Z" },
		/* New York fall back 2026-11-01: 01:00-02:00 twice; once */
		{ "30 1 * * *", "America/New_York", "2026-10-31T12:00:00.000Z",
		    "2026-11-01T05:30:00.000Z" },
		{ "30 1 * * *", "America/New_York", "2026-11-01T05:30:00.000Z",
		    "2026-11-02T06:30:00.000Z" },
	};
	struct cron c;
	char *err = NULL, got[CLOCK_RFC3339_LEN + 1];
	size_t i;
	int64_t n;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		ck_assert_msg(cron_parse(rows[i].expr, &c, &err) == 0, "%s",
		    rows[i].expr);
		n = cron_next(&c, rows[i].zone, at(rows[i].after));
		clock_format_ms(n, got);
		ck_assert_msg(n == at(rows[i].want), "%s in %s after %s: %s, "
		    "not %s", rows[i].expr, rows[i].zone, rows[i].after, got,
		    rows[i].want);
	}
}
END_TEST

/* An expression that never matches has no next run. */
START_TEST(test_never)
{
	struct cron c;
	char *err = NULL;

	ck_assert_int_eq(cron_parse("0 0 30 2 *", &c, &err), 0);
	ck_assert(cron_next(&c, "UTC", at("2026-01-01T00:00:00.000Z")) == -1);
	ck_assert_int_eq(cron_parse("0 0 31 4 *", &c, &err), 0);
	ck_assert(cron_next(&c, "UTC", at("2026-01-01T00:00:00.000Z")) == -1);
}
END_TEST

/* Zones: IANA names of the system's database; nothing else. */
START_TEST(test_zones)
{
	static const char *const good[] = {
		"UTC", "Europe/Berlin", "America/New_York", "Etc/GMT+5",
	};
	static const char *const bad[] = {
		"", "Mars/Olympus", "../../etc/passwd", "/etc/localtime",
		"Europe", "europe berlin", "Europe/Berlin\n",
	};
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(cron_zone_ok(good[i]), "%s", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!cron_zone_ok(bad[i]), "%s", bad[i]);
}
END_TEST

static Suite *
cron_suite(void)
{
	Suite *s = suite_create("cron");
	TCase *tc = tcase_create("cron");

	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_next);
	tcase_add_test(tc, test_never);
	tcase_add_test(tc, test_zones);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(cron_suite)
