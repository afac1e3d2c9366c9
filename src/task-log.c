/*
 * task-log.c -- one log entry per task outcome, an observer like metrics.c:
 * succeeded at info; failed, cancelled and timed out (whatever became of
 * the cleanup) at warn; work that could not start at all at error. Under
 * journald the entry carries TASK_ID=, KIND=, JOB=, STATE=, REASON= and
 * CLEANUP= fields (log.c, journal.c).
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* The level of each ending; a failed start is raised to error. */
static const enum log_level task_log_levels[TASK_NSTATES] = {
	[TASK_SUCCEEDED] = LOG_INFO,
	[TASK_FAILED] = LOG_WARN,
	[TASK_CANCELLED] = LOG_WARN,
	[TASK_TIMED_OUT] = LOG_WARN,
};

/* Why the work never started (the kind's result "error"), or NULL. */
static const char *
task_log_start_error(const struct task *t)
{
	if (t->x == NULL || t->state != TASK_FAILED)
		return NULL;
	return json_string_value(json_object_get(t->x->result, "error"));
}

/* " name=N" with the milliseconds from one time to another, if both are. */
static void
task_log_ms(struct buf *b, const char *name, int64_t from, int64_t to)
{
	if (from == TASK_TIME_NONE || to == TASK_TIME_NONE)
		return;
	buf_adds(b, name);
	buf_add_int(b, to - from);
}

/* " name=\"text\"" as a JSON string: client text cannot forge a line. */
static void
task_log_str(struct buf *b, const char *name, const char *text)
{
	if (text == NULL)
		return;
	buf_adds(b, name);
	buf_add_jstr(b, text);
}

/* What a cancellation adds: the reason, its message, the cleanup. */
static void
task_log_cancel(struct buf *b, const struct task *t)
{
	const struct task_extra *x = t->x;

	buf_adds(b, " reason=");
	buf_adds(b, task_reason_name(x->cancel_reason));
	task_log_str(b, " message=", x->cancel_message);
	buf_adds(b, " cleanup=");
	buf_adds(b, task_cleanup_name(x->cleanup_state));
	task_log_ms(b, " cleanup_ms=", x->cleanup_started_at,
	    x->cleanup_finished_at);
	task_log_str(b, " cleanup_detail=", x->cleanup_detail);
}

/* The entry's text: "task ID STATE: kind=K job=J ... run_ms=N total_ms=N". */
static char *
task_log_text(const struct task *t, const char *id, const char *job)
{
	struct buf b = { NULL, 0, 0 };

	buf_adds(&b, "task ");
	buf_adds(&b, id);
	buf_adds(&b, " ");
	buf_adds(&b, task_state_name(t->state));
	buf_adds(&b, ": kind=");
	buf_adds(&b, task_kind(t)->name);
	if (job != NULL) {
		buf_adds(&b, " job=");
		buf_adds(&b, job);
	}
	if (t->x != NULL && t->x->cancel_reason != CANCEL_NONE)
		task_log_cancel(&b, t);
	task_log_ms(&b, " run_ms=", t->started_at, t->finished_at);
	task_log_ms(&b, " total_ms=", t->created_at, t->finished_at);
	task_log_str(&b, " error=", task_log_start_error(t));
	return buf_steal(&b, NULL);
}

/* Log a task's end, with its fields for the journal. */
static void
task_log_outcome(const struct task *t)
{
	enum log_level level = task_log_levels[t->state];
	const char *job = task_kind(t)->job != NULL ? task_kind(t)->job(t) :
	    NULL;
	char id[ULID_LEN + 1], *text;
	int cancelled = t->x != NULL && t->x->cancel_reason != CANCEL_NONE;

	if (task_log_start_error(t) != NULL)
		level = LOG_ERROR;
	if (!log_enabled(level))
		return;
	ulid_format(&t->id, id);
	text = task_log_text(t, id, job);
	log_fields(level, (const struct log_field[]){
		{ "TASK_ID", id },
		{ "KIND", task_kind(t)->name },
		{ "JOB", job },
		{ "STATE", task_state_name(t->state) },
		{ "REASON", cancelled ? task_reason_name(t->x->cancel_reason) :
		    NULL },
		{ "CLEANUP", cancelled ? task_cleanup_name(t->x->cleanup_state) :
		    NULL },
	}, 6, "%s", text);
	free(text);
}

/* The observer: only endings are logged (the debug log has every move). */
static void
task_log_changed(struct task *t, enum task_change what, enum task_state from)
{
	if (what == TASK_MOVED && task_state_terminal(t->state))
		task_log_outcome(t);
}

const struct task_observer task_log_observer = { "task-log",
	task_log_changed };
