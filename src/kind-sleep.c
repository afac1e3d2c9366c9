/*
 * kind-sleep.c -- the sleep kind: runs for duration_ms, then succeeds. Its
 * cleanup takes cleanup_ms on the loop, so that a slow cleanup and the
 * cancelling state can be seen and tested.
 */

#include "evtaskd.h"

struct sleep_data {
	int64_t		duration_ms;
	int64_t		cleanup_ms;
};

#define SLEEP(t) ((struct sleep_data *)(void *)(t)->data)
#define CSLEEP(t) ((const struct sleep_data *)(const void *)(t)->data)

static const char *const sleep_fields[] = {
	"duration_ms", "cleanup_ms", NULL
};

/* Validate duration_ms (required) and cleanup_ms. */
static int
sleep_parse(struct task *t, json_t *spec, json_t *errors)
{
	struct sleep_data *d = SLEEP(t);
	int rc = 0, got;

	got = spec_get_ms(spec, errors, "duration_ms", 0, cfg->max_duration_ms,
	    &d->duration_ms);
	if (got == 0) {
		spec_error(errors, "duration_ms", "required for a sleep task");
		rc = -1;
	} else if (got < 0)
		rc = -1;
	d->cleanup_ms = 0;
	if (spec_get_ms(spec, errors, "cleanup_ms", 0, cfg->max_duration_ms,
	    &d->cleanup_ms) < 0)
		rc = -1;
	return rc;
}

/* Its members in the task's JSON. */
static void
sleep_write_json(const struct task *t, struct buf *b)
{
	const struct sleep_data *d = CSLEEP(t);

	buf_adds(b, ",\"duration_ms\":");
	buf_add_int(b, d->duration_ms);
	buf_adds(b, ",\"cleanup_ms\":");
	buf_add_int(b, d->cleanup_ms);
	buf_adds(b, ",\"job\":null,\"args\":null");
}

/* Read back what sleep_write_json wrote (recovery). */
static int
sleep_from_json(struct task *t, json_t *doc)
{
	struct sleep_data *d = SLEEP(t);
	json_t *dur = json_object_get(doc, "duration_ms");
	json_t *cl = json_object_get(doc, "cleanup_ms");

	if (!json_is_integer(dur) || !json_is_integer(cl))
		return -1;
	d->duration_ms = json_integer_value(dur);
	d->cleanup_ms = json_integer_value(cl);
	return 0;
}

/* Sleep until started_at + duration_ms (also after a restart). */
static void
sleep_start(struct task *t)
{
	task_set_deadline(t, t->started_at + SLEEP(t)->duration_ms);
}

/* Cancelled while running: nothing to stop but the deadline. */
static void
sleep_stop(struct task *t)
{
	task_set_deadline(t, TASK_TIME_NONE);
	task_stopped(t);
}

/* The cleanup: cleanup_ms on the loop (0: done at once). */
static void
sleep_cleanup(struct task *t)
{
	int64_t ms = SLEEP(t)->cleanup_ms;

	if (ms == 0)
		task_cleanup_done(t, CLEANUP_SUCCEEDED, NULL, NULL);
	else
		task_set_deadline(t, clock_now_ms() + ms);
}

/* The deadline passed: the sleep is over, or its cleanup is. */
static void
sleep_timer(struct task *t)
{
	if (t->state == TASK_RUNNING)
		task_finish(t, TASK_SUCCEEDED, NULL);
	else if (t->state == TASK_CANCELLING)
		task_cleanup_done(t, CLEANUP_SUCCEEDED, NULL, NULL);
}

/* After a restart: keep the absolute deadline; if it passed, succeed now,
 * before the daemon answers anyone. */
static void
sleep_recover(struct task *t, enum cancel_reason why)
{
	if (t->started_at + SLEEP(t)->duration_ms <= clock_now_ms())
		task_finish(t, TASK_SUCCEEDED, NULL);
	else
		sleep_start(t);
}

const struct task_kind kind_sleep = {
	.name = "sleep",
	.data_size = sizeof(struct sleep_data),
	.fields = sleep_fields,
	.resumable = 1,
	.parse = sleep_parse,
	.write_json = sleep_write_json,
	.from_json = sleep_from_json,
	.start = sleep_start,
	.stop = sleep_stop,
	.cleanup = sleep_cleanup,
	.timer = sleep_timer,
	.recover = sleep_recover,
};
