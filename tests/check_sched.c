/*
 * check_sched.c -- the back-off of retries: the doubling sequence up to
 * max_backoff_ms, without jitter and with it (50-100 % of the step).
 */

#include "evtaskd.h"
#include "check_main.h"

/* The sequence without jitter, and where it stops doubling. */
START_TEST(test_backoff_plain)
{
	static const struct {
		int64_t	 backoff, max;
		int	 attempt;
		int64_t	 want;
	} rows[] = {
		{ 1000, 300000, 1, 1000 },
		{ 1000, 300000, 2, 2000 },
		{ 1000, 300000, 3, 4000 },
		{ 1000, 300000, 9, 256000 },
		{ 1000, 300000, 10, 300000 },
		{ 1000, 300000, 99, 300000 },
		{ 200, 300, 1, 200 },
		{ 200, 300, 2, 300 },
		{ 0, 0, 5, 0 },
		{ 5000, 5000, 1, 5000 },
		{ 86400000, 86400000, 100, 86400000 },
	};
	struct retry_policy r = { 3, 0, 0, 0 };
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r.backoff_ms = rows[i].backoff;
		r.max_backoff_ms = rows[i].max;
		ck_assert_msg(sched_backoff_ms(&r, rows[i].attempt, 0.7) ==
		    rows[i].want, "row %zu", i);
	}
}
END_TEST

/* With jitter: half the step at 0, nearly all of it close to 1. */
START_TEST(test_backoff_jitter)
{
	static const struct {
		int	 attempt;
		double	 rnd;
		int64_t	 want;
	} rows[] = {
		{ 1, 0.0, 500 },
		{ 1, 0.5, 750 },
		{ 1, 0.999, 999 },
		{ 2, 0.0, 1000 },
		{ 3, 0.25, 2500 },
		{ 20, 0.0, 5000 },
		{ 20, 0.999999, 9999 },
	};
	struct retry_policy r = { 3, 1000, 10000, 1 };
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
		ck_assert_msg(sched_backoff_ms(&r, rows[i].attempt,
		    rows[i].rnd) == rows[i].want, "row %zu: %lld", i,
		    (long long)sched_backoff_ms(&r, rows[i].attempt,
		    rows[i].rnd));
}
END_TEST

static Suite *
sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("backoff");

	tcase_add_test(tc, test_backoff_plain);
	tcase_add_test(tc, test_backoff_jitter);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(sched_suite)
