/* check_router.c -- method and path matching, 404, 405 with Allow. */

#include "evtaskd.h"
#include "check_main.h"

static void h_a(struct http_request *r) { (void)r; }
static void h_b(struct http_request *r) { (void)r; }
static void h_c(struct http_request *r) { (void)r; }
static void h_d(struct http_request *r) { (void)r; }

static const struct router_entry table[] = {
	{ "/healthz", "GET", h_a },
	{ "/v1/tasks", "GET", h_b },
	{ "/v1/tasks", "POST", h_c },
	{ "/v1/tasks/*", "GET", h_d },
	{ "/v1/tasks/*", "DELETE", h_a },
};
#define N (sizeof table / sizeof table[0])

START_TEST(test_exact)
{
	struct router_match m;

	ck_assert_int_eq(router_lookup(table, N, "GET", "/healthz", &m),
	    ROUTER_FOUND);
	ck_assert_ptr_eq(m.entry->handler, h_a);
	ck_assert_ptr_null(m.param);
	ck_assert_int_eq(router_lookup(table, N, "POST", "/v1/tasks", &m),
	    ROUTER_FOUND);
	ck_assert_ptr_eq(m.entry->handler, h_c);
}
END_TEST

START_TEST(test_param)
{
	struct router_match m;

	ck_assert_int_eq(router_lookup(table, N, "GET", "/v1/tasks/ABC", &m),
	    ROUTER_FOUND);
	ck_assert_ptr_eq(m.entry->handler, h_d);
	ck_assert_uint_eq(m.paramlen, 3);
	ck_assert_int_eq(memcmp(m.param, "ABC", 3), 0);
}
END_TEST

START_TEST(test_not_found)
{
	struct router_match m;
	static const char *paths[] = {
		"/", "", "/healthz/", "/healthzz", "/v1/tasks/", "/v1/tasks/a/b",
		"/v1", "/V1/tasks", "/v1/tasks//", "//healthz",
	};
	size_t i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++)
		ck_assert_msg(router_lookup(table, N, "GET", paths[i], &m) ==
		    ROUTER_NOT_FOUND, "%s", paths[i]);
}
END_TEST

START_TEST(test_bad_method)
{
	struct router_match m;

	ck_assert_int_eq(router_lookup(table, N, "PUT", "/v1/tasks", &m),
	    ROUTER_BAD_METHOD);
	ck_assert_str_eq(m.allow, "GET, HEAD, POST");
	ck_assert_int_eq(router_lookup(table, N, "POST", "/v1/tasks/X", &m),
	    ROUTER_BAD_METHOD);
	ck_assert_str_eq(m.allow, "GET, HEAD, DELETE");
	ck_assert_int_eq(router_lookup(table, N, "DELETE", "/healthz", &m),
	    ROUTER_BAD_METHOD);
	ck_assert_str_eq(m.allow, "GET, HEAD");
}
END_TEST

START_TEST(test_head_is_get)
{
	struct router_match m;

	ck_assert_int_eq(router_lookup(table, N, "HEAD", "/healthz", &m),
	    ROUTER_FOUND);
	ck_assert_ptr_eq(m.entry->handler, h_a);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("lookup");

	tcase_add_test(tc, test_exact);
	tcase_add_test(tc, test_param);
	tcase_add_test(tc, test_not_found);
	tcase_add_test(tc, test_bad_method);
	tcase_add_test(tc, test_head_is_get);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(router_suite)
