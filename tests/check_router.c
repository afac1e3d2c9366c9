/* check_router.c -- method and path matching, 404, 405 with Allow, auth. */

#include "evtaskd.h"
#include "check_main.h"

#include <string.h>

static void h_a(struct http_request *r) { (void)r; }
static void h_b(struct http_request *r) { (void)r; }
static void h_c(struct http_request *r) { (void)r; }
static void h_d(struct http_request *r) { (void)r; }
static void h_e(struct http_request *r) { (void)r; }

static const struct router_entry table[] = {
	{ "/healthz", "GET", h_a, ROUTE_OPEN },
	{ "/metrics", "GET", h_e, ROUTE_TOKEN_METRICS },
	{ "/v1/tasks", "GET", h_b, ROUTE_TOKEN },
	{ "/v1/tasks", "POST", h_c, ROUTE_TOKEN },
	{ "/v1/tasks/*", "GET", h_d, ROUTE_TOKEN },
	{ "/v1/tasks/*", "DELETE", h_a, ROUTE_TOKEN },
};
#define N (sizeof table / sizeof table[0])

/* A lookup and what it must find. */
struct router_case {
	const char		*method;
	const char		*path;
	enum router_result	 result;
	http_handler		*handler;	/* ROUTER_FOUND */
	enum router_auth	 auth;		/* ROUTER_FOUND */
	const char		*param;		/* ROUTER_FOUND; NULL: none */
	const char		*allow;		/* ROUTER_BAD_METHOD */
};

static const struct router_case cases[] = {
	{ "GET", "/healthz", ROUTER_FOUND, h_a, ROUTE_OPEN, NULL, NULL },
	{ "HEAD", "/healthz", ROUTER_FOUND, h_a, ROUTE_OPEN, NULL, NULL },
	{ "GET", "/metrics", ROUTER_FOUND, h_e, ROUTE_TOKEN_METRICS, NULL,
	    NULL },
	{ "HEAD", "/metrics", ROUTER_FOUND, h_e, ROUTE_TOKEN_METRICS, NULL,
	    NULL },
	{ "GET", "/v1/tasks", ROUTER_FOUND, h_b, ROUTE_TOKEN, NULL, NULL },
	{ "POST", "/v1/tasks", ROUTER_FOUND, h_c, ROUTE_TOKEN, NULL, NULL },
	{ "GET", "/v1/tasks/ABC", ROUTER_FOUND, h_d, ROUTE_TOKEN, "ABC",
	    NULL },
	{ "DELETE", "/v1/tasks/x", ROUTER_FOUND, h_a, ROUTE_TOKEN, "x", NULL },
	{ "PUT", "/v1/tasks", ROUTER_BAD_METHOD, NULL, 0, NULL,
	    "GET, HEAD, POST" },
	{ "POST", "/v1/tasks/X", ROUTER_BAD_METHOD, NULL, 0, NULL,
	    "GET, HEAD, DELETE" },
	{ "DELETE", "/healthz", ROUTER_BAD_METHOD, NULL, 0, NULL,
	    "GET, HEAD" },
	{ "POST", "/metrics", ROUTER_BAD_METHOD, NULL, 0, NULL, "GET, HEAD" },
	{ "GET", "/", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/healthz/", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/healthzz", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/metrics/", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/v1/tasks/", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/v1/tasks/a/b", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/v1", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/V1/tasks", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "/v1/tasks//", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
	{ "GET", "//healthz", ROUTER_NOT_FOUND, NULL, 0, NULL, NULL },
};
#define NCASES (sizeof cases / sizeof cases[0])

/* One row of cases: the result, then what the result carries. */
START_TEST(test_lookup)
{
	const struct router_case *c = &cases[_i];
	struct router_match m;

	ck_assert_msg(router_lookup(table, N, c->method, c->path, &m) ==
	    c->result, "%s %s", c->method, c->path);
	if (c->result != ROUTER_FOUND) {
		ck_assert_ptr_null(m.entry);
		ck_assert_str_eq(m.allow, c->allow != NULL ? c->allow : "");
		return;
	}
	ck_assert_ptr_eq(m.entry->handler, c->handler);
	ck_assert_int_eq(m.entry->auth, c->auth);
	if (c->param == NULL) {
		ck_assert_ptr_null(m.param);
		return;
	}
	ck_assert_uint_eq(m.paramlen, strlen(c->param));
	ck_assert_int_eq(memcmp(m.param, c->param, m.paramlen), 0);
}
END_TEST

/* The daemon's own table: who may call what (docs/SECURITY.md). */
START_TEST(test_api_auth)
{
	const struct router_entry *r = &api_routes[_i];
	enum router_auth want = ROUTE_OPEN;

	if (strncmp(r->pattern, "/v1/", 4) == 0)
		want = ROUTE_TOKEN;
	else if (strcmp(r->pattern, "/metrics") == 0)
		want = ROUTE_TOKEN_METRICS;
	ck_assert_msg(r->auth == want, "%s %s", r->method, r->pattern);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("lookup");

	tcase_add_loop_test(tc, test_lookup, 0, (int)NCASES);
	tcase_add_loop_test(tc, test_api_auth, 0, (int)api_nroutes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(router_suite)
