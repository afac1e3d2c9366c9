/* check_spec.c -- create request bodies: a table of bodies and their
 * errors, then the valid tasks' fields and the configured limits. */

#include "evtaskd.h"
#include "check_main.h"
#include "check_fixture.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

/* Parse JSON text that the test itself wrote. */
static json_t *
load(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	ck_assert_msg(v != NULL, "%s: %s", text, e.text);
	return v;
}

/* Does errors hold a well-formed entry for pointer? */
static int
has_pointer(json_t *errors, const char *pointer)
{
	size_t i;
	json_t *e;
	const char *p, *detail;

	json_array_foreach(errors, i, e) {
		p = json_string_value(json_object_get(e, "pointer"));
		detail = json_string_value(json_object_get(e, "detail"));
		ck_assert_ptr_nonnull(p);
		ck_assert_msg(detail != NULL && *detail != '\0', "no detail");
		if (strcmp(p, pointer) == 0)
			return 1;
	}
	return 0;
}

/* Parse body (stolen): it must fail with an error at pointer. */
static void
expect_error(json_t *body, const char *pointer)
{
	json_t *errors = json_array();
	struct task *t = spec_parse(body, errors);
	char *text = json_dumps(body, JSON_ENCODE_ANY | JSON_COMPACT);
	char *list = json_dumps(errors, JSON_COMPACT);

	ck_assert_msg(t == NULL, "%.200s: accepted", text);
	ck_assert_msg(has_pointer(errors, pointer), "%.200s: no '%s' in %s",
	    text, pointer, list);
	free(list);
	free(text);
	json_decref(errors);
	json_decref(body);
}

/* Parse body (stolen): it must give a task (to free) and no errors. */
static struct task *
expect_task(json_t *body)
{
	json_t *errors = json_array();
	struct task *t = spec_parse(body, errors);
	char *list = json_dumps(errors, JSON_COMPACT);

	ck_assert_msg(t != NULL, "refused: %s", list);
	ck_assert_uint_eq(json_array_size(errors), 0);
	free(list);
	json_decref(errors);
	json_decref(body);
	return t;
}

/* A string of n copies of s. */
static char *
repeat(const char *s, size_t n)
{
	size_t len = strlen(s), i;
	char *out = xmalloc(len * n + 1);

	for (i = 0; i < n; i++)
		memcpy(out + i * len, s, len);
	out[len * n] = '\0';
	return out;
}

/* {"duration_ms": 1, field: a string of n copies of s}. */
static json_t *
body_with_string(const char *field, const char *s, size_t n)
{
	char *v = repeat(s, n);
	json_t *body = json_pack("{s:i,s:s}", "duration_ms", 1, field, v);

	free(v);
	return body;
}

/* {"duration_ms": 1, "start_at": now + ahead_ms as RFC 3339}. */
static json_t *
body_start_at(int64_t ahead_ms, int64_t *at)
{
	char buf[CLOCK_RFC3339_LEN + 1];

	*at = clock_now_ms() + ahead_ms;
	clock_format_ms(*at, buf);
	return json_pack("{s:i,s:s}", "duration_ms", 1, "start_at", buf);
}

/* An integer member of the task's JSON (the kind's ones too). */
static json_int_t
json_member(const struct task *t, const char *key)
{
	json_t *o = task_to_json(t);
	json_int_t v = json_integer_value(json_object_get(o, key));

	json_decref(o);
	return v;
}

/* The minimal body: a sleep task with defaults everywhere else. */
START_TEST(test_minimal)
{
	struct task *t = expect_task(load("{\"duration_ms\": 5000}"));

	ck_assert_ptr_eq(task_kind(t), &kind_sleep);
	ck_assert_str_eq(task_kind(t)->name, "sleep");
	ck_assert_int_eq(t->state, TASK_SCHEDULED);
	ck_assert_ptr_null(task_name(t));
	ck_assert_ptr_null(task_metadata(t));
	ck_assert(task_timeout_ms(t) == TASK_TIME_NONE);
	ck_assert_int_eq(t->start_at, t->created_at);
	ck_assert_int_eq(json_member(t, "duration_ms"), 5000);
	ck_assert_int_eq(json_member(t, "cleanup_ms"), 0);
	task_free(t);
}
END_TEST

/* Every field given, all valid: the task carries them. */
START_TEST(test_full)
{
	json_t *meta = load("{\"owner\": \"ops\", \"n\": [1, 2]}");
	struct task *t;

	t = expect_task(json_pack("{s:s,s:s,s:i,s:i,s:O,s:i,s:i}", "kind",
	    "sleep", "name", "nightly-report", "delay_ms", 1500, "timeout_ms",
	    60000, "metadata", meta, "duration_ms", 5000, "cleanup_ms", 250));
	ck_assert_ptr_eq(task_kind(t), &kind_sleep);
	ck_assert_str_eq(task_name(t), "nightly-report");
	ck_assert_int_eq(task_timeout_ms(t), 60000);
	ck_assert_int_eq(t->start_at - t->created_at, 1500);
	ck_assert(json_equal(task_metadata(t), meta));
	ck_assert_int_eq(json_member(t, "duration_ms"), 5000);
	ck_assert_int_eq(json_member(t, "cleanup_ms"), 250);
	json_decref(meta);
	task_free(t);
}
END_TEST

/* start_at in the future is kept; in the past it clamps to created_at. */
START_TEST(test_start_at)
{
	struct task *t;
	int64_t at;

	t = expect_task(body_start_at(60000, &at));
	ck_assert_int_eq(t->start_at, at);
	task_free(t);
	t = expect_task(load("{\"duration_ms\": 1, "
	    "\"start_at\": \"2000-01-01T00:00:00.000Z\"}"));
	ck_assert_int_eq(t->start_at, t->created_at);
	task_free(t);
	t = expect_task(load("{\"duration_ms\": 1, "
	    "\"start_at\": \"2000-01-01T01:00:00+01:00\"}"));
	ck_assert_int_eq(t->start_at, t->created_at);
	task_free(t);
}
END_TEST

/* The limits themselves are accepted. */
START_TEST(test_limits_ok)
{
	struct task *t;
	int64_t max = cfg->max_duration_ms;

	t = expect_task(json_pack("{s:I,s:I,s:I,s:I}", "duration_ms",
	    (json_int_t)max, "delay_ms", (json_int_t)max, "timeout_ms",
	    (json_int_t)max, "cleanup_ms", (json_int_t)max));
	ck_assert_int_eq(t->start_at - t->created_at, max);
	ck_assert_int_eq(task_timeout_ms(t), max);
	task_free(t);
	t = expect_task(load("{\"duration_ms\": 0, \"delay_ms\": 0, "
	    "\"timeout_ms\": 1, \"cleanup_ms\": 0}"));
	ck_assert_int_eq(task_timeout_ms(t), 1);
	task_free(t);
}
END_TEST

/*
 * Bodies and what spec_parse makes of them: the JSON Pointers that must be
 * among its errors, or none: a task. Cases that need computed values (the
 * configured limits, the clock) are the tests after it.
 */
static const struct {
	const char	*body;
	const char	*errors[5];	/* NULL-terminated; empty: accepted */
} cases[] = {
	/* accepted */
	{ "{\"duration_ms\": 5000}", { NULL } },
	{ "{\"kind\": \"sleep\", \"duration_ms\": 1}", { NULL } },
	{ "{\"duration_ms\": 0, \"delay_ms\": 0, \"timeout_ms\": 1, "
	  "\"cleanup_ms\": 0}", { NULL } },
	{ "{\"duration_ms\": 1, \"start_at\": \"2000-01-01T00:00:00.000Z\"}",
	  { NULL } },
	/* not an object: reported at the root, pointer "" */
	{ "[]", { "" } },
	{ "[{\"duration_ms\": 1}]", { "" } },
	{ "\"duration_ms\"", { "" } },
	{ "5000", { "" } },
	{ "null", { "" } },
	/* unknown fields, also another kind's */
	{ "{\"durration_ms\": 5000}", { "/durration_ms" } },
	{ "{\"duration_ms\": 1, \"Name\": \"x\"}", { "/Name" } },
	{ "{\"duration_ms\": 1, \"job\": \"backup\"}", { "/job" } },
	{ "{\"duration_ms\": 1, \"\": 1}", { "/" } },
	/* kind: a string naming a known kind */
	{ "{\"duration_ms\": 1, \"kind\": 5}", { "/kind" } },
	{ "{\"duration_ms\": 1, \"kind\": [\"sleep\"]}", { "/kind" } },
	{ "{\"duration_ms\": 1, \"kind\": \"nope\"}", { "/kind" } },
	{ "{\"duration_ms\": 1, \"kind\": \"Sleep\"}", { "/kind" } },
	/* name: a string without NUL */
	{ "{\"duration_ms\": 1, \"name\": 5}", { "/name" } },
	{ "{\"duration_ms\": 1, \"name\": true}", { "/name" } },
	{ "{\"duration_ms\": 1, \"name\": {}}", { "/name" } },
	{ "{\"duration_ms\": 1, \"name\": \"a\\u0000b\"}", { "/name" } },
	/* delay_ms: a non-negative integer; not with start_at */
	{ "{\"duration_ms\": 1, \"delay_ms\": -1}", { "/delay_ms" } },
	{ "{\"duration_ms\": 1, \"delay_ms\": 5.5}", { "/delay_ms" } },
	{ "{\"duration_ms\": 1, \"delay_ms\": 5.0}", { "/delay_ms" } },
	{ "{\"duration_ms\": 1, \"delay_ms\": \"5\"}", { "/delay_ms" } },
	{ "{\"duration_ms\": 1, \"delay_ms\": 10, "
	  "\"start_at\": \"2030-01-01T00:00:00.000Z\"}", { "/start_at" } },
	/* start_at: an RFC 3339 string */
	{ "{\"duration_ms\": 1, \"start_at\": \"tomorrow\"}", { "/start_at" } },
	{ "{\"duration_ms\": 1, \"start_at\": 1800000000000}", { "/start_at" } },
	{ "{\"duration_ms\": 1, \"start_at\": \"2030-02-30T00:00:00Z\"}",
	  { "/start_at" } },
	{ "{\"duration_ms\": 1, \"start_at\": \"2030-01-01 00:00:00Z\"}",
	  { "/start_at" } },
	/* timeout_ms: an integer from 1 */
	{ "{\"duration_ms\": 1, \"timeout_ms\": 0}", { "/timeout_ms" } },
	{ "{\"duration_ms\": 1, \"timeout_ms\": -5}", { "/timeout_ms" } },
	{ "{\"duration_ms\": 1, \"timeout_ms\": 1.5}", { "/timeout_ms" } },
	/* metadata: an object */
	{ "{\"duration_ms\": 1, \"metadata\": [1]}", { "/metadata" } },
	{ "{\"duration_ms\": 1, \"metadata\": \"x\"}", { "/metadata" } },
	{ "{\"duration_ms\": 1, \"metadata\": 3}", { "/metadata" } },
	/* duration_ms: required, a non-negative integer */
	{ "{}", { "/duration_ms" } },
	{ "{\"name\": \"x\"}", { "/duration_ms" } },
	{ "{\"duration_ms\": null}", { "/duration_ms" } },
	{ "{\"duration_ms\": -1}", { "/duration_ms" } },
	{ "{\"duration_ms\": 2.5}", { "/duration_ms" } },
	{ "{\"duration_ms\": \"5000\"}", { "/duration_ms" } },
	/* cleanup_ms: a non-negative integer */
	{ "{\"duration_ms\": 1, \"cleanup_ms\": -1}", { "/cleanup_ms" } },
	{ "{\"duration_ms\": 1, \"cleanup_ms\": \"10\"}", { "/cleanup_ms" } },
	/* every bad field at once, not just the first */
	{ "{\"durration_ms\": 1, \"timeout_ms\": -1, \"name\": 5}",
	  { "/durration_ms", "/timeout_ms", "/name", "/duration_ms" } },
};

#define NCASES (int)(sizeof cases / sizeof cases[0])

/* One row of the table. */
START_TEST(test_case)
{
	const char *body = cases[_i].body, *const *want = cases[_i].errors;
	json_t *v = load(body), *errors = json_array();
	struct task *t = spec_parse(v, errors);
	char *list = json_dumps(errors, JSON_COMPACT);
	size_t i;

	if (want[0] == NULL) {
		ck_assert_msg(t != NULL, "%s: refused: %s", body, list);
		ck_assert_msg(json_array_size(errors) == 0, "%s: %s", body,
		    list);
		task_free(t);
	} else {
		ck_assert_msg(t == NULL, "%s: accepted", body);
		for (i = 0; want[i] != NULL; i++)
			ck_assert_msg(has_pointer(errors, want[i]),
			    "%s: no '%s' in %s", body, want[i], list);
	}
	free(list);
	json_decref(errors);
	json_decref(v);
}
END_TEST

/* Integer fields one over max_duration_ms are refused, at their place. */
START_TEST(test_over_max_duration)
{
	static const char *const fields[] = {
		"duration_ms", "delay_ms", "timeout_ms",
	};
	char pointer[32];
	json_t *body;
	size_t i;

	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		body = json_pack("{s:i}", "duration_ms", 1);
		json_object_set_new(body, fields[i],
		    json_integer((json_int_t)cfg->max_duration_ms + 1));
		snprintf(pointer, sizeof pointer, "/%s", fields[i]);
		expect_error(body, pointer);
	}
}
END_TEST

/* start_at beyond max_duration_ms from now is refused. */
START_TEST(test_start_at_too_far)
{
	int64_t at;

	expect_error(body_start_at(cfg->max_duration_ms + 60000, &at),
	    "/start_at");
}
END_TEST

/* name: 128 characters (also two-byte ones) pass, 129 do not. */
START_TEST(test_name_length)
{
	struct task *t;

	t = expect_task(body_with_string("name", "a", 128));
	ck_assert_uint_eq(strlen(task_name(t)), 128);
	task_free(t);
	t = expect_task(body_with_string("name", "\xc3\xa9", 128));
	ck_assert_uint_eq(strlen(task_name(t)), 256);
	task_free(t);
	expect_error(body_with_string("name", "a", 129), "/name");
	expect_error(body_with_string("name", "\xc3\xa9", 129), "/name");
}
END_TEST

/* metadata: 16384 bytes as compact JSON pass, one more does not. */
START_TEST(test_metadata_size)
{
	/* {"k":"..."} is 8 bytes around the string. */
	size_t n = cfg->max_metadata_bytes - 8;
	char *v = repeat("x", n + 1);
	json_t *body;
	struct task *t;

	v[n] = '\0';
	body = json_pack("{s:i,s:{s:s}}", "duration_ms", 1, "metadata", "k", v);
	t = expect_task(body);
	ck_assert_uint_eq(json_dumpb(task_metadata(t), NULL, 0, JSON_COMPACT),
	    cfg->max_metadata_bytes);
	task_free(t);
	v[n] = 'x';
	body = json_pack("{s:i,s:{s:s}}", "duration_ms", 1, "metadata", "k", v);
	expect_error(body, "/metadata");
	free(v);
}
END_TEST

/* Explicit nulls for optional fields mean absent. */
START_TEST(test_nulls)
{
	struct task *t = expect_task(load("{\"duration_ms\": 1, "
	    "\"name\": null, \"timeout_ms\": null, \"metadata\": null, "
	    "\"kind\": null, \"delay_ms\": null, \"start_at\": null, "
	    "\"cleanup_ms\": null}"));

	ck_assert_ptr_eq(task_kind(t), &kind_sleep);
	ck_assert_ptr_null(task_name(t));
	ck_assert(task_timeout_ms(t) == TASK_TIME_NONE);
	ck_assert_ptr_null(task_metadata(t));
	ck_assert_int_eq(t->start_at, t->created_at);
	ck_assert_int_eq(json_member(t, "cleanup_ms"), 0);
	task_free(t);
}
END_TEST

static Suite *
spec_suite(void)
{
	Suite *s = suite_create("spec");
	TCase *tc = tcase_create("valid");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_minimal);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_start_at);
	tcase_add_test(tc, test_limits_ok);
	tcase_add_test(tc, test_nulls);
	suite_add_tcase(s, tc);
	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_case, 0, NCASES);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_name_length);
	tcase_add_test(tc, test_metadata_size);
	tcase_add_test(tc, test_over_max_duration);
	tcase_add_test(tc, test_start_at_too_far);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(spec_suite)
