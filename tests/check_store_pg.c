/* check_store_pg.c -- what of a PostgreSQL URI the log may show: never a
 * password, in the user part or as a parameter. A table. */

#include "evtaskd.h"
#include "check_main.h"

#include <stdlib.h>

static const struct {
	const char	*in;
	const char	*out;
} check_redact[] = {
	{ "postgresql://db/x", "postgresql://db/x" },
	{ "postgresql://u@db/x", "postgresql://u@db/x" },
	{ "postgresql://u:secret@db:5433/x", "postgresql://u@db:5433/x" },
	{ "postgres://u:p%40ss@db/x?sslmode=require",
	    "postgres://u@db/x?sslmode=require" },
	{ "postgresql:///x?host=/run/pg&password=pw", "postgresql:///x?host=/run/pg" },
	{ "postgresql:///x?password=pw&host=/run/pg", "postgresql:///x?host=/run/pg" },
	{ "postgresql:///x?password=pw", "postgresql:///x" },
	{ "postgresql://u:a@b@db/x", "postgresql://u@db/x" },	/* '@' unencoded */
	{ "postgresql://a@b:c@db/x", "postgresql://a@b@db/x" },	/* user a@b */
	{ "postgresql://db/x?a=1&password=p&b=2", "postgresql://db/x?a=1&b=2" },
	{ "postgresql://db/x?xpassword=p", "postgresql://db/x?xpassword=p" },
	{ "not a uri", "not a uri" },
};

START_TEST(test_redact)
{
	char *s = store_pg_redact(check_redact[_i].in);

	ck_assert_str_eq(s, check_redact[_i].out);
	free(s);
}
END_TEST

static Suite *
store_pg_suite(void)
{
	Suite *s = suite_create("store_pg");
	TCase *tc = tcase_create("redact");

	tcase_add_loop_test(tc, test_redact, 0,
	    (int)(sizeof check_redact / sizeof check_redact[0]));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(store_pg_suite)
