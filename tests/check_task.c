/* check_task.c -- the state table, names, and the JSON form of a task. */

#include "evtaskd.h"
#include "check_main.h"
#include "check_fixture.h"

#include <string.h>

#include <event2/event.h>

/* Is from -> to one of the seven allowed transitions? */
static int
allowed(int from, int to)
{
	static const int table[][2] = {
		{ TASK_SCHEDULED, TASK_RUNNING },
		{ TASK_SCHEDULED, TASK_CANCELLING },
		{ TASK_RUNNING, TASK_SUCCEEDED },
		{ TASK_RUNNING, TASK_FAILED },
		{ TASK_RUNNING, TASK_CANCELLING },
		{ TASK_CANCELLING, TASK_CANCELLED },
		{ TASK_CANCELLING, TASK_TIMED_OUT },
	};
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (table[i][0] == from && table[i][1] == to)
			return 1;
	}
	return 0;
}

/* Every pair of states: exactly the seven transitions are allowed. */
START_TEST(test_transitions)
{
	int from, to, n = 0;

	for (from = 0; from < TASK_NSTATES; from++) {
		for (to = 0; to < TASK_NSTATES; to++) {
			ck_assert_msg(task_transition_ok(from, to) ==
			    allowed(from, to), "%s -> %s",
			    task_state_name(from), task_state_name(to));
			n += task_transition_ok(from, to);
		}
	}
	ck_assert_int_eq(n, 7);
}
END_TEST

/* Nothing leaves a terminal state, nothing stays put. */
START_TEST(test_terminal_final)
{
	int from, to;

	for (from = TASK_SUCCEEDED; from < TASK_NSTATES; from++) {
		for (to = 0; to < TASK_NSTATES; to++)
			ck_assert(!task_transition_ok(from, to));
	}
	for (from = 0; from < TASK_NSTATES; from++)
		ck_assert(!task_transition_ok(from, from));
}
END_TEST

/* States out of range are refused on either side. */
START_TEST(test_transition_range)
{
	static const int bad[] = { TASK_NSTATES, TASK_NSTATES + 1, 31, 32, 1000,
	    -1 };
	size_t i;
	int s;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (s = 0; s < TASK_NSTATES; s++) {
			ck_assert_msg(!task_transition_ok(
			    (enum task_state)bad[i], s), "%d -> %d", bad[i], s);
			ck_assert_msg(!task_transition_ok(s,
			    (enum task_state)bad[i]), "%d -> %d", s, bad[i]);
		}
	}
}
END_TEST

/* Terminal exactly for succeeded, failed, cancelled and timed_out. */
START_TEST(test_terminal)
{
	ck_assert(!task_state_terminal(TASK_SCHEDULED));
	ck_assert(!task_state_terminal(TASK_RUNNING));
	ck_assert(!task_state_terminal(TASK_CANCELLING));
	ck_assert(task_state_terminal(TASK_SUCCEEDED));
	ck_assert(task_state_terminal(TASK_FAILED));
	ck_assert(task_state_terminal(TASK_CANCELLED));
	ck_assert(task_state_terminal(TASK_TIMED_OUT));
}
END_TEST

/* State names are the contract's and parse back; others are -1. */
START_TEST(test_state_names)
{
	static const char *names[TASK_NSTATES] = {
		"scheduled", "running", "cancelling", "succeeded", "failed",
		"cancelled", "timed_out",
	};
	int i;

	for (i = 0; i < TASK_NSTATES; i++) {
		ck_assert_str_eq(task_state_name(i), names[i]);
		ck_assert_int_eq(task_state_parse(names[i]), i);
	}
	ck_assert_int_eq(task_state_parse("nope"), -1);
	ck_assert_int_eq(task_state_parse(""), -1);
	ck_assert_int_eq(task_state_parse("Running"), -1);
	ck_assert_int_eq(task_state_parse("running "), -1);
}
END_TEST

/* Cancel reasons round trip; none has no name. */
START_TEST(test_reason_names)
{
	static const char *names[] = {
		NULL, "client", "timeout", "shutdown", "restart",
	};
	int i;

	ck_assert_ptr_null(task_reason_name(CANCEL_NONE));
	for (i = CANCEL_CLIENT; i <= CANCEL_RESTART; i++) {
		ck_assert_str_eq(task_reason_name(i), names[i]);
		ck_assert_int_eq(task_reason_parse(names[i]), i);
	}
	ck_assert_int_eq(task_reason_parse("nope"), -1);
	ck_assert_int_eq(task_reason_parse(""), -1);
}
END_TEST

/* Cleanup states round trip; none has no name. */
START_TEST(test_cleanup_names)
{
	static const char *names[] = {
		NULL, "running", "succeeded", "failed", "timed_out",
	};
	int i;

	ck_assert_ptr_null(task_cleanup_name(CLEANUP_NONE));
	for (i = CLEANUP_RUNNING; i <= CLEANUP_TIMED_OUT; i++) {
		ck_assert_str_eq(task_cleanup_name(i), names[i]);
		ck_assert_int_eq(task_cleanup_parse(names[i]), i);
	}
	ck_assert_int_eq(task_cleanup_parse("nope"), -1);
	ck_assert_int_eq(task_cleanup_parse("cancelled"), -1);
}
END_TEST

/* A fresh task: scheduled, a new id, the times of now, nothing else. */
START_TEST(test_new)
{
	int64_t before = clock_now_ms(), after;
	struct task *t = task_new(&kind_sleep), *u = task_new(&kind_sleep);

	after = clock_now_ms();
	ck_assert_ptr_eq(task_kind(t), &kind_sleep);
	ck_assert_int_eq(t->state, TASK_SCHEDULED);
	ck_assert_int_ge(t->created_at, before);
	ck_assert_int_le(t->created_at, after);
	ck_assert_int_eq(t->start_at, t->created_at);
	ck_assert(t->started_at == TASK_TIME_NONE);
	ck_assert(t->finished_at == TASK_TIME_NONE);
	ck_assert(task_timeout_ms(t) == TASK_TIME_NONE);
	ck_assert_ptr_null(task_name(t));
	ck_assert_ptr_null(task_metadata(t));
	ck_assert_ptr_null(t->x);
	ck_assert_int_gt(ulid_cmp(&u->id, &t->id), 0);
	task_free(u);
	task_free(t);
}
END_TEST

/* Check that member key is an RFC 3339 time (ms, Z) equal to ms. */
static void
check_time(json_t *o, const char *key, int64_t ms)
{
	const char *s = json_string_value(json_object_get(o, key));
	int64_t parsed;

	ck_assert_msg(s != NULL, "%s not a string", key);
	ck_assert_uint_eq(strlen(s), CLOCK_RFC3339_LEN);
	ck_assert_int_eq(s[4], '-');
	ck_assert_int_eq(s[10], 'T');
	ck_assert_int_eq(s[19], '.');
	ck_assert_int_eq(s[23], 'Z');
	ck_assert_int_eq(clock_parse_rfc3339(s, &parsed), 0);
	ck_assert_int_eq(parsed, ms);
}

/* The JSON of a fresh task has every member of the contract's resource. */
START_TEST(test_json_fresh)
{
	static const char *members[] = {
		"id", "kind", "name", "state", "created_at", "start_at",
		"started_at", "finished_at", "duration_ms", "timeout_ms",
		"metadata", "cancellation", "cleanup", "result",
	};
	static const char *nulls[] = {
		"name", "started_at", "finished_at", "timeout_ms", "metadata",
		"cancellation", "cleanup", "result",
	};
	struct task *t = task_new(&kind_sleep);
	json_t *o = task_to_json(t);
	char id[ULID_LEN + 1];
	size_t i;

	ck_assert(json_is_object(o));
	for (i = 0; i < sizeof members / sizeof members[0]; i++)
		ck_assert_msg(json_object_get(o, members[i]) != NULL,
		    "no %s", members[i]);
	for (i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
		ck_assert_msg(json_is_null(json_object_get(o, nulls[i])),
		    "%s not null", nulls[i]);
	ulid_format(&t->id, id);
	ck_assert_uint_eq(json_string_length(json_object_get(o, "id")),
	    ULID_LEN);
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), id);
	ck_assert_str_eq(json_string_value(json_object_get(o, "kind")),
	    "sleep");
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")),
	    "scheduled");
	check_time(o, "created_at", t->created_at);
	check_time(o, "start_at", t->start_at);
	ck_assert(json_is_integer(json_object_get(o, "duration_ms")));
	json_decref(o);
	task_free(t);
}
END_TEST

/* Name, timeout, metadata and a later start show as set. */
START_TEST(test_json_fields)
{
	struct task *t = task_new(&kind_sleep);
	json_t *o;
	char *text;

	task_info(t)->name = xstrdup("nightly-report");
	task_info(t)->timeout_ms = 2500;
	t->start_at = t->created_at + 1000;
	task_info(t)->metadata = json_pack("{s:s}", "owner", "ops");
	o = task_to_json(t);
	ck_assert_str_eq(json_string_value(json_object_get(o, "name")),
	    "nightly-report");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "timeout_ms")),
	    2500);
	ck_assert(json_equal(json_object_get(o, "metadata"), task_metadata(t)));
	check_time(o, "start_at", t->created_at + 1000);
	json_decref(o);
	text = task_to_text(t);
	ck_assert_ptr_nonnull(strstr(text, "\"name\":\"nightly-report\""));
	free(text);
	task_free(t);
}
END_TEST

/* Cancellation and cleanup members once the extra part says so. */
START_TEST(test_json_cancellation)
{
	struct task *t = task_new(&kind_sleep);
	struct task_extra *x = task_extra(t);
	json_t *o, *c;

	x->cancel_reason = CANCEL_CLIENT;
	x->cancel_requested_at = t->created_at;
	x->cancel_requests = 2;
	x->cancel_message = xstrdup("no longer needed");
	x->cleanup_state = CLEANUP_RUNNING;
	x->cleanup_started_at = t->created_at;
	x->cleanup_finished_at = TASK_TIME_NONE;
	o = task_to_json(t);
	c = json_object_get(o, "cancellation");
	ck_assert_str_eq(json_string_value(json_object_get(c, "reason")),
	    "client");
	ck_assert_str_eq(json_string_value(json_object_get(c, "message")),
	    "no longer needed");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "requests")), 2);
	check_time(c, "requested_at", t->created_at);
	c = json_object_get(o, "cleanup");
	ck_assert_str_eq(json_string_value(json_object_get(c, "state")),
	    "running");
	ck_assert(json_is_null(json_object_get(c, "finished_at")));
	json_decref(o);
	task_free(t);
}
END_TEST

static Suite *
task_suite(void)
{
	Suite *s = suite_create("task");
	TCase *tc = tcase_create("states");

	tcase_add_test(tc, test_transitions);
	tcase_add_test(tc, test_terminal_final);
	tcase_add_test(tc, test_transition_range);
	tcase_add_test(tc, test_terminal);
	tcase_add_test(tc, test_state_names);
	tcase_add_test(tc, test_reason_names);
	tcase_add_test(tc, test_cleanup_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("json");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new);
	tcase_add_test(tc, test_json_fresh);
	tcase_add_test(tc, test_json_fields);
	tcase_add_test(tc, test_json_cancellation);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(task_suite)
