/*
 * check_task.c -- the state table, names, the JSON form of a task, and the
 * state machine itself: every transition, every cancel row, cleanup
 * exactly once, joins, timeouts, lifetime.
 */

#include "evtaskd.h"
#include "check_main.h"
#include "check_fixture.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

/* Is from -> to one of the nine allowed transitions? */
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
		{ TASK_RUNNING, TASK_SCHEDULED },	/* a failed attempt */
		{ TASK_CANCELLING, TASK_SCHEDULED },	/* a timed-out one */
	};
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (table[i][0] == from && table[i][1] == to)
			return 1;
	}
	return 0;
}

/* Every pair of states: exactly the nine transitions are allowed. */
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
	ck_assert_int_eq(n, 9);
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
		NULL, "client", "timeout", "shutdown", "restart", "superseded",
		"node_lost",
	};
	int i;

	ck_assert_int_eq(CANCEL_NREASONS, sizeof names / sizeof names[0]);
	ck_assert_ptr_null(task_reason_name(CANCEL_NONE));
	for (i = CANCEL_CLIENT; i < CANCEL_NREASONS; i++) {
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


/*
 * The state machine, driven as the daemon drives it: real sleep tasks made
 * by spec_parse, an observer that records every announcement, and the loop
 * for timers. The store and the hub are not there: nothing holds a task,
 * so the fixture frees what the registry keeps.
 */

/* What the observer saw of the one task a test makes. */
static struct {
	int		created;
	int		moved[TASK_NSTATES];
	int		nmoved;
	int		touched;
	int		cleanups;	/* cleanup starts */
	uint32_t	requests;	/* cancel requests last seen */
	int		text_cached;	/* an observer saw stale JSON */
	int		withdrawn;
} seen;

/* The test observer: count, and check the announcement's promises. */
static void
seen_changed(struct task *t, enum task_change what, enum task_state from)
{
	seen.text_cached |= t->text != NULL;
	switch (what) {
	case TASK_CREATED:
		seen.created++;
		break;
	case TASK_MOVED:
		ck_assert_msg(task_transition_ok(from, t->state), "%s -> %s",
		    task_state_name(from), task_state_name(t->state));
		seen.moved[t->state]++;
		seen.nmoved++;
		break;
	case TASK_TOUCHED:
		seen.touched++;
		if (t->x->cleanup_state == CLEANUP_RUNNING &&
		    t->x->cancel_requests == seen.requests)
			seen.cleanups++;
		break;
	case TASK_WITHDRAWN:
		seen.withdrawn++;
		break;
	}
	if (t->x != NULL)
		seen.requests = t->x->cancel_requests;
}

static const struct task_observer seen_observer = { "test", seen_changed };

static void
machine_setup(void)
{
	setup();
	memset(&seen, 0, sizeof seen);
	task_observe(&seen_observer);
}

/* Free what the registry still holds: nothing else would. */
static void
machine_free_cb(struct task *t, void *arg)
{
	task_free(t);
}

static void
machine_teardown(void)
{
	registry_each(machine_free_cb, NULL);
	task_observe_clear();
	teardown();
}

/* A task from a create request's JSON, as the API makes it. */
static struct task *
machine_make(const char *spec)
{
	json_t *j = json_loads(spec, 0, NULL), *errors = json_array();
	struct task *t;

	ck_assert_ptr_nonnull(j);
	t = spec_parse(j, errors);
	ck_assert_msg(t != NULL, "%s refused", spec);
	json_decref(j);
	json_decref(errors);
	return t;
}

/* Run the loop until the task is in state s (bounded). */
static void
machine_run_until(struct task *t, enum task_state s)
{
	int i;

	for (i = 0; i < 2000 && t->state != s; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_str_eq(task_state_name(t->state), task_state_name(s));
}

/* How to bring a fresh task into a state before the step under test. */
enum machine_setup {
	AT_SCHEDULED,		/* start time ahead */
	AT_RUNNING,
	AT_CANCELLING,		/* its cleanup takes 20 ms of the loop */
	AT_SUCCEEDED,
	AT_FAILED,
	AT_CANCELLED,
	AT_TIMED_OUT,
};

static const char *const machine_specs[] = {
	[AT_SCHEDULED] = "{\"kind\":\"sleep\",\"duration_ms\":60000,"
	    "\"delay_ms\":60000}",
	[AT_RUNNING] = "{\"kind\":\"sleep\",\"duration_ms\":60000}",
	[AT_CANCELLING] = "{\"kind\":\"sleep\",\"duration_ms\":60000,"
	    "\"cleanup_ms\":20}",
	[AT_SUCCEEDED] = "{\"kind\":\"sleep\",\"duration_ms\":60000}",
	[AT_FAILED] = "{\"kind\":\"sleep\",\"duration_ms\":60000}",
	[AT_CANCELLED] = "{\"kind\":\"sleep\",\"duration_ms\":60000}",
	[AT_TIMED_OUT] = "{\"kind\":\"sleep\",\"duration_ms\":60000}",
};

/* A submitted task brought into a state the way the daemon brings it. */
static struct task *
machine_at(enum machine_setup at)
{
	struct task *t = machine_make(machine_specs[at]);

	task_submit(t);
	switch (at) {
	case AT_SCHEDULED:
	case AT_RUNNING:
		break;
	case AT_CANCELLING:
	case AT_CANCELLED:
		task_cancel(t, CANCEL_CLIENT, "first");
		break;
	case AT_SUCCEEDED:
		task_finish(t, TASK_SUCCEEDED, NULL);
		break;
	case AT_FAILED:
		task_finish(t, TASK_FAILED, json_pack("{s:i}", "exit_code", 3));
		break;
	case AT_TIMED_OUT:
		task_cancel(t, CANCEL_TIMEOUT, NULL);
		break;
	}
	return t;
}

/* Every row of the cancel table (docs/API.md, "Cancel"), from every state. */
START_TEST(test_cancel_table)
{
	static const struct {
		enum machine_setup	 at;
		enum task_cancel_result	 result;
		enum task_state		 after;
		uint32_t		 requests;
		int			 cleanups;
		const char		*message;	/* the one that stands */
	} rows[] = {
		{ AT_SCHEDULED, TASK_CANCEL_STARTED, TASK_CANCELLED, 1, 1,
		    "second" },
		{ AT_RUNNING, TASK_CANCEL_STARTED, TASK_CANCELLED, 1, 1,
		    "second" },
		{ AT_CANCELLING, TASK_CANCEL_JOINED, TASK_CANCELLING, 2, 1,
		    "first" },
		{ AT_CANCELLED, TASK_CANCEL_ALREADY, TASK_CANCELLED, 1, 1,
		    "first" },
		{ AT_SUCCEEDED, TASK_CANCEL_TOO_LATE, TASK_SUCCEEDED, 0, 0,
		    NULL },
		{ AT_FAILED, TASK_CANCEL_TOO_LATE, TASK_FAILED, 0, 0, NULL },
		{ AT_TIMED_OUT, TASK_CANCEL_TOO_LATE, TASK_TIMED_OUT, 1, 1,
		    NULL },
	};
	struct task *t;
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(&seen, 0, sizeof seen);
		t = machine_at(rows[i].at);
		ck_assert_int_eq(task_cancel(t, CANCEL_CLIENT, "second"),
		    rows[i].result);
		ck_assert_msg(t->state == rows[i].after, "row %zu: %s", i,
		    task_state_name(t->state));
		ck_assert_uint_eq(t->x != NULL ? t->x->cancel_requests : 0,
		    rows[i].requests);
		ck_assert_int_eq(seen.cleanups, rows[i].cleanups);
		if (rows[i].message != NULL)
			ck_assert_str_eq(t->x->cancel_message,
			    rows[i].message);
		ck_assert_int_eq(seen.created, 1);
		ck_assert(!seen.text_cached);
	}
}
END_TEST

/* task_set_state: the table decides; a refused move changes nothing. */
START_TEST(test_set_state_table)
{
	struct task *t;
	int from, to, rc;

	for (from = 0; from < TASK_NSTATES; from++) {
		for (to = 0; to < TASK_NSTATES; to++) {
			memset(&seen, 0, sizeof seen);
			t = machine_make(machine_specs[AT_RUNNING]);
			t->state = (uint8_t)from;
			rc = task_set_state(t, to);
			ck_assert_int_eq(rc == 0, task_transition_ok(from, to));
			ck_assert_int_eq(t->state, rc == 0 ? to : from);
			ck_assert_int_eq(seen.nmoved, rc == 0);
			ck_assert_int_eq(t->started_at != TASK_TIME_NONE,
			    rc == 0 && to == TASK_RUNNING);
			ck_assert_int_eq(t->finished_at != TASK_TIME_NONE,
			    rc == 0 && task_state_terminal(to));
			task_free(t);
		}
	}
}
END_TEST

/* Cleanup runs exactly once however often the kind reports. */
START_TEST(test_cleanup_once)
{
	struct task *t = machine_at(AT_CANCELLING);

	ck_assert_int_eq(seen.cleanups, 1);
	task_stopped(t);			/* a kind that reports twice */
	task_stopped(t);
	ck_assert_int_eq(seen.cleanups, 1);
	task_cleanup_done(t, CLEANUP_FAILED, "boom", NULL);
	task_cleanup_done(t, CLEANUP_SUCCEEDED, NULL, NULL);
	task_stopped(t);
	ck_assert_int_eq(t->state, TASK_CANCELLED);
	ck_assert_int_eq(t->x->cleanup_state, CLEANUP_FAILED);
	ck_assert_str_eq(t->x->cleanup_detail, "boom");
	ck_assert_int_eq(seen.cleanups, 1);
	ck_assert_int_eq(seen.moved[TASK_CANCELLED], 1);
}
END_TEST

/* Cancelled before it started: cleanup runs, it never starts. */
START_TEST(test_cancel_before_start)
{
	struct task *t = machine_at(AT_SCHEDULED);

	ck_assert_int_eq(t->state, TASK_SCHEDULED);
	ck_assert_int_eq(task_cancel(t, CANCEL_CLIENT, NULL),
	    TASK_CANCEL_STARTED);
	ck_assert_int_eq(t->state, TASK_CANCELLED);
	ck_assert(t->started_at == TASK_TIME_NONE);
	ck_assert_int_eq(seen.moved[TASK_RUNNING], 0);
	ck_assert_int_eq(seen.cleanups, 1);
	ck_assert_int_eq(t->x->cleanup_state, CLEANUP_SUCCEEDED);
	ck_assert_ptr_null(t->x->cancel_message);
}
END_TEST

/* Joins count, keep the first reason and time, start no second cleanup. */
START_TEST(test_joins)
{
	struct task *t = machine_at(AT_CANCELLING);
	int64_t at = t->x->cancel_requested_at;
	int i;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(task_cancel(t, CANCEL_SHUTDOWN, "later"),
		    TASK_CANCEL_JOINED);
	ck_assert_uint_eq(t->x->cancel_requests, 6);
	ck_assert_int_eq(t->x->cancel_reason, CANCEL_CLIENT);
	ck_assert_str_eq(t->x->cancel_message, "first");
	ck_assert_int_eq(t->x->cancel_requested_at, at);
	ck_assert_int_eq(seen.cleanups, 1);
	ck_assert_int_eq(seen.touched, 1 + 5);	/* cleanup start, joins */
	machine_run_until(t, TASK_CANCELLED);	/* cleanup_ms passes */
	ck_assert_int_eq(seen.cleanups, 1);
}
END_TEST

/* A timeout cancels with reason timeout, runs the cleanup, ends timed_out. */
START_TEST(test_timeout)
{
	struct task *t = machine_make("{\"kind\":\"sleep\",\"duration_ms\":"
	    "60000,\"cleanup_ms\":5,\"timeout_ms\":5}");

	task_submit(t);
	ck_assert_int_eq(t->state, TASK_RUNNING);
	machine_run_until(t, TASK_TIMED_OUT);
	ck_assert_int_eq(t->x->cancel_reason, CANCEL_TIMEOUT);
	ck_assert_int_eq(t->x->cleanup_state, CLEANUP_SUCCEEDED);
	ck_assert_int_eq(seen.cleanups, 1);
	ck_assert_int_eq(seen.moved[TASK_CANCELLING], 1);
	ck_assert_int_eq(seen.moved[TASK_TIMED_OUT], 1);
	ck_assert_int_ge(t->finished_at - t->started_at, 10);
}
END_TEST

/* A delayed task starts when its time comes, then succeeds. */
START_TEST(test_delayed_start)
{
	struct task *t = machine_make("{\"kind\":\"sleep\",\"duration_ms\":"
	    "5,\"delay_ms\":5}");

	task_submit(t);
	ck_assert_int_eq(t->state, TASK_SCHEDULED);
	machine_run_until(t, TASK_SUCCEEDED);
	ck_assert_int_ge(t->started_at, t->start_at);
	ck_assert_int_eq(seen.moved[TASK_RUNNING], 1);
	ck_assert_int_eq(seen.moved[TASK_SUCCEEDED], 1);
	ck_assert_int_eq(seen.cleanups, 0);
	ck_assert_ptr_null(t->x);		/* nothing extra was needed */
}
END_TEST

/* task_finish only ends running work; the result is kept. */
START_TEST(test_finish)
{
	struct task *t = machine_at(AT_SCHEDULED);

	task_finish(t, TASK_SUCCEEDED, json_pack("{s:i}", "n", 1));
	ck_assert_int_eq(t->state, TASK_SCHEDULED);
	ck_assert_int_eq(seen.nmoved, 0);
	task_free(t);
	t = machine_at(AT_FAILED);
	ck_assert_int_eq(json_integer_value(json_object_get(t->x->result,
	    "exit_code")), 3);
	task_finish(t, TASK_SUCCEEDED, NULL);
	ck_assert_int_eq(t->state, TASK_FAILED);
}
END_TEST

/* A terminal task leaves memory when its last holder lets go. */
START_TEST(test_lifetime)
{
	struct task *t = machine_at(AT_RUNNING);
	struct ulid id = t->id;

	task_ref(t);
	task_unref(t);			/* running: stays */
	ck_assert_ptr_eq(registry_find(&id), t);
	task_ref(t);
	task_finish(t, TASK_SUCCEEDED, NULL);
	ck_assert_ptr_eq(registry_find(&id), t);
	task_unref(t);			/* terminal, nobody holds it: freed */
	ck_assert_ptr_null(registry_find(&id));
}
END_TEST

/* A cancelling task read back after a restart runs its cleanup again. */
START_TEST(test_recover_cancelling)
{
	struct task *t = machine_at(AT_CANCELLING);
	json_t *doc = task_to_json(t);
	struct task *back;

	task_free(t);
	back = task_from_json(doc);
	json_decref(doc);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(back->state, TASK_CANCELLING);
	memset(&seen, 0, sizeof seen);
	seen.requests = back->x->cancel_requests;
	task_recover(back);
	ck_assert_int_eq(seen.cleanups, 1);
	ck_assert_int_eq(back->x->cleanup_state, CLEANUP_RUNNING);
	ck_assert_str_eq(back->x->cancel_message, "first");
}
END_TEST

/* Retries: a timeout goes back to scheduled until the last attempt. */
START_TEST(test_retry_timeouts)
{
	static const struct {
		int	 max_attempts;
		int	 rescheduled;
	} rows[] = { { 1, 0 }, { 2, 1 }, { 3, 2 } };
	char spec[256];
	struct task *t;
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		memset(&seen, 0, sizeof seen);
		snprintf(spec, sizeof spec, "{\"duration_ms\":60000,"
		    "\"timeout_ms\":5,\"retry\":{\"max_attempts\":%d,"
		    "\"backoff_ms\":1,\"jitter\":false}}",
		    rows[i].max_attempts);
		t = machine_make(spec);
		task_submit(t);
		machine_run_until(t, TASK_TIMED_OUT);
		ck_assert_int_eq(task_attempt(t), rows[i].max_attempts);
		ck_assert_uint_eq(json_array_size(task_policy(t)->attempts),
		    (size_t)rows[i].max_attempts);
		ck_assert_int_eq(seen.moved[TASK_SCHEDULED],
		    rows[i].rescheduled);
		ck_assert_int_eq(seen.moved[TASK_RUNNING],
		    rows[i].max_attempts);
		ck_assert_int_eq(seen.moved[TASK_TIMED_OUT], 1);
	}
}
END_TEST

/* A replace supersedes the key's holder; the new task starts after. */
START_TEST(test_supersede)
{
	struct task *old = machine_make("{\"duration_ms\":60000,"
	    "\"cleanup_ms\":10,\"concurrency_key\":\"k\"}");
	struct task *new = machine_make("{\"duration_ms\":60000,"
	    "\"concurrency_key\":\"k\",\"on_conflict\":\"replace\"}");

	task_submit(old);
	ck_assert_int_eq(old->state, TASK_RUNNING);
	task_submit(new);
	ck_assert_int_eq(old->state, TASK_CANCELLING);
	ck_assert_int_eq(old->x->cancel_reason, CANCEL_SUPERSEDED);
	ck_assert_int_eq(new->state, TASK_SCHEDULED);
	ck_assert_ptr_eq(sched_conflict(new), old);
	machine_run_until(new, TASK_RUNNING);
	ck_assert_int_eq(old->state, TASK_CANCELLED);
	ck_assert_int_le(old->x->cleanup_finished_at, new->started_at);
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
	tc = tcase_create("machine");
	tcase_add_checked_fixture(tc, machine_setup, machine_teardown);
	tcase_add_test(tc, test_cancel_table);
	tcase_add_test(tc, test_set_state_table);
	tcase_add_test(tc, test_cleanup_once);
	tcase_add_test(tc, test_cancel_before_start);
	tcase_add_test(tc, test_joins);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_delayed_start);
	tcase_add_test(tc, test_finish);
	tcase_add_test(tc, test_lifetime);
	tcase_add_test(tc, test_recover_cancelling);
	tcase_add_test(tc, test_retry_timeouts);
	tcase_add_test(tc, test_supersede);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(task_suite)
