/*
 * schedule-json.c -- a schedule's settings: read from a request (every bad
 * field reported, a task template checked as a create would be, with its
 * errors under /task) or from the store, and written back as JSON.
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

#define SCHEDULE_NAME_MAX	128
#define SCHEDULE_EVERY_MIN	1000
#define SCHEDULE_EVERY_MAX	((int64_t)366 * 86400 * 1000)

static const char *const schedule_overlaps[] = {
	[OVERLAP_SKIP] = "skip", [OVERLAP_QUEUE] = "queue",
	[OVERLAP_REPLACE] = "replace", [OVERLAP_ALLOW] = "allow", NULL
};
static const char *const schedule_misseds[] = {
	[MISSED_SKIP] = "skip", [MISSED_RUN_ONCE] = "run_once", NULL
};
static const char *const schedule_fields[] = {
	"name", "cron", "time_zone", "every_ms", "task", "overlap", "missed",
	"paused", NULL
};
/* Members of a task that each run sets itself. */
static const char *const schedule_task_own[] = {
	"delay_ms", "start_at", NULL
};

/* The index of name in a NULL-terminated list, or -1. */
static int
schedule_lookup(const char *const *list, const char *name)
{
	int i;

	for (i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], name) == 0)
			return i;
	}
	return -1;
}

/* The name of an overlap policy. */
const char *
schedule_overlap_name(int o)
{
	return schedule_overlaps[o];
}

/* The one place a schedule's settings are freed. */
void
schedule_conf_free(struct schedule_conf *c)
{
	free(c->name);
	free(c->cron_text);
	free(c->zone);
	json_decref(c->task);
	memset(c, 0, sizeof *c);
}

/* One enumerated member (absent: dflt); -1 with an error if bad. */
static int
schedule_enum(json_t *body, json_t *errors, const char *field,
    const char *const *list, int dflt, const char *why)
{
	json_t *v = json_object_get(body, field);
	int i;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (json_is_string(v) && (i = schedule_lookup(list,
	    json_string_value(v))) >= 0)
		return i;
	spec_error(errors, field, "must be %s", why);
	return -1;
}

/* name: optional, at most 128 characters. */
static void
schedule_name(json_t *body, json_t *errors, struct schedule_conf *c)
{
	json_t *v = json_object_get(body, "name");

	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_string(v) || json_string_length(v) > SCHEDULE_NAME_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		spec_error(errors, "name", "must be a string of at most %d "
		    "characters", SCHEDULE_NAME_MAX);
	else
		c->name = xstrdup(json_string_value(v));
}

/* time_zone: an IANA name (default UTC). */
static void
schedule_zone(json_t *body, json_t *errors, struct schedule_conf *c)
{
	json_t *v = json_object_get(body, "time_zone");

	if (v == NULL || json_is_null(v)) {
		c->zone = xstrdup("UTC");
		return;
	}
	if (!json_is_string(v))
		spec_error(errors, "time_zone", "must be an IANA time zone "
		    "name such as \"Europe/Berlin\"");
	else if (!cron_zone_ok(json_string_value(v)))
		spec_error(errors, "time_zone", "unknown time zone '%s'",
		    json_string_value(v));
	else
		c->zone = xstrdup(json_string_value(v));
}

/* cron: five fields or an @ form, and it must match some day. */
static void
schedule_cron(json_t *v, json_t *errors, struct schedule_conf *c)
{
	char *err = NULL;

	if (!json_is_string(v)) {
		spec_error(errors, "cron", "must be a string such as "
		    "\"30 2 * * *\"");
		return;
	}
	if (cron_parse(json_string_value(v), &c->cron, &err) != 0) {
		spec_error(errors, "cron", "%s", err);
		free(err);
		return;
	}
	if (cron_next(&c->cron, c->zone != NULL ? c->zone : "UTC",
	    clock_now_ms()) < 0) {
		spec_error(errors, "cron", "never matches a day");
		return;
	}
	c->cron_text = xstrdup(json_string_value(v));
}

/* Exactly one of cron and every_ms (at least 1000). */
static void
schedule_when(json_t *body, json_t *errors, struct schedule_conf *c)
{
	json_t *cr = json_object_get(body, "cron");
	json_t *ev = json_object_get(body, "every_ms");
	int has_cron = cr != NULL && !json_is_null(cr);
	int has_every = ev != NULL && !json_is_null(ev);

	if (has_cron == has_every) {
		spec_error(errors, has_cron ? "every_ms" : NULL, "give exactly "
		    "one of cron and every_ms");
		return;
	}
	if (has_cron)
		schedule_cron(cr, errors, c);
	else if (!json_is_integer(ev) || json_integer_value(ev) <
	    SCHEDULE_EVERY_MIN || json_integer_value(ev) > SCHEDULE_EVERY_MAX)
		spec_error(errors, "every_ms", "must be an integer from %d "
		    "to %lld", SCHEDULE_EVERY_MIN,
		    (long long)SCHEDULE_EVERY_MAX);
	else
		c->every_ms = json_integer_value(ev);
}

/* Move the errors of a template under /task. */
static void
schedule_task_errors(json_t *errors, json_t *inner)
{
	const char *p;
	size_t i;
	json_t *e;

	json_array_foreach(inner, i, e) {
		p = json_string_value(json_object_get(e, "pointer"));
		spec_error_at(errors, "", "%s", json_string_value(
		    json_object_get(e, "detail")));
		json_object_set_new(json_array_get(errors,
		    json_array_size(errors) - 1), "pointer", json_sprintf(
		    "/task%s", p != NULL ? p : ""));
	}
}

/* task: checked as a create would check it; kept as given. */
static void
schedule_task(json_t *body, json_t *errors, struct schedule_conf *c,
    int check)
{
	json_t *v = json_object_get(body, "task"), *inner;
	struct task *t;
	size_t i;

	if (!json_is_object(v)) {
		spec_error(errors, "task", "must be a task as POST /v1/tasks "
		    "takes it");
		return;
	}
	c->task = json_deep_copy(v);
	if (!check)
		return;
	for (i = 0; schedule_task_own[i] != NULL; i++) {
		if (json_object_get(v, schedule_task_own[i]) != NULL)
			spec_error_at(errors, i == 0 ? "/task/delay_ms" :
			    "/task/start_at", "each run sets its own start");
	}
	inner = json_array();
	if ((t = spec_parse(v, inner)) != NULL)
		task_free(t);
	schedule_task_errors(errors, inner);
	json_decref(inner);
}

/* Members that are none of a schedule's: rejected, as typos. */
static void
schedule_unknown(json_t *body, json_t *errors)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		if (schedule_lookup(schedule_fields, key) < 0)
			spec_error(errors, key, "unknown field");
	}
}

/*
 * A schedule's settings from a request body (or a merged patch, or the
 * store: check_task 0 takes the template as stored, whatever the config
 * says now): 0, or -1 with every problem in errors (c is freed then).
 */
int
schedule_conf_parse(json_t *body, json_t *errors, struct schedule_conf *c,
    int check_task)
{
	json_t *p;

	memset(c, 0, sizeof *c);
	if (!json_is_object(body)) {
		spec_error(errors, NULL, "the body must be a JSON object");
		return -1;
	}
	schedule_unknown(body, errors);
	schedule_name(body, errors, c);
	schedule_zone(body, errors, c);
	schedule_when(body, errors, c);
	schedule_task(body, errors, c, check_task);
	c->overlap = schedule_enum(body, errors, "overlap", schedule_overlaps,
	    OVERLAP_SKIP, "skip, queue, replace or allow");
	c->missed = schedule_enum(body, errors, "missed", schedule_misseds,
	    MISSED_SKIP, "skip or run_once");
	p = json_object_get(body, "paused");
	if (p != NULL && !json_is_null(p) && !json_is_boolean(p))
		spec_error(errors, "paused", "must be true or false");
	c->paused = json_is_true(p);
	if (json_array_size(errors) == 0)
		return 0;
	schedule_conf_free(c);
	return -1;
}

/* The settings as a request would give them (what a patch merges into). */
json_t *
schedule_conf_json(const struct schedule_conf *c)
{
	return json_pack("{s:s?,s:s?,s:s,s:o,s:O,s:s,s:s,s:b}",
	    "name", c->name, "cron", c->cron_text, "time_zone", c->zone,
	    "every_ms", c->every_ms > 0 ? json_integer(c->every_ms) :
	    json_null(), "task", c->task,
	    "overlap", schedule_overlaps[c->overlap],
	    "missed", schedule_misseds[c->missed], "paused", c->paused);
}

/* A time, or null. */
static json_t *
schedule_time_json(int64_t ms)
{
	char buf[CLOCK_RFC3339_LEN + 1];

	if (ms == TASK_TIME_NONE)
		return json_null();
	clock_format_ms(ms, buf);
	return json_string(buf);
}

/* An id, or null. */
static json_t *
schedule_id_json(const struct ulid *id, int has)
{
	char buf[ULID_LEN + 1];

	if (!has)
		return json_null();
	ulid_format(id, buf);
	return json_string(buf);
}

/* The whole schedule as CONTRACT §8 shows it (and as it is stored). */
json_t *
schedule_state_json(const struct ulid *id, const struct schedule_conf *c,
    const struct schedule_state *st)
{
	return json_pack("{s:o,s:s?,s:s?,s:s,s:o,s:O,s:s,s:s,s:b,s:o,s:o,"
	    "s:o,s:I,s:I,s:o}",
	    "id", schedule_id_json(id, 1), "name", c->name,
	    "cron", c->cron_text, "time_zone", c->zone,
	    "every_ms", c->every_ms > 0 ? json_integer(c->every_ms) :
	    json_null(), "task", c->task,
	    "overlap", schedule_overlaps[c->overlap],
	    "missed", schedule_misseds[c->missed], "paused", c->paused,
	    "next_run_at", schedule_time_json(st->next_run_at),
	    "last_run_at", schedule_time_json(st->last_run_at),
	    "last_task_id", schedule_id_json(&st->last_task, st->has_last),
	    "runs", (json_int_t)st->runs, "skipped_runs",
	    (json_int_t)st->skipped, "created_at",
	    schedule_time_json(st->created_at));
}

/* A stored time member (null: TASK_TIME_NONE); -1 if malformed. */
static int
schedule_get_time(json_t *doc, const char *key, int64_t *ms)
{
	json_t *v = json_object_get(doc, key);

	*ms = TASK_TIME_NONE;
	if (v == NULL || json_is_null(v))
		return 0;
	return json_is_string(v) ? clock_parse_rfc3339(json_string_value(v),
	    ms) : -1;
}

/* A stored schedule's counters and times; -1 if malformed. */
int
schedule_state_parse(json_t *doc, struct schedule_state *st)
{
	json_t *last = json_object_get(doc, "last_task_id");

	memset(st, 0, sizeof *st);
	if (schedule_get_time(doc, "next_run_at", &st->next_run_at) != 0 ||
	    schedule_get_time(doc, "last_run_at", &st->last_run_at) != 0 ||
	    schedule_get_time(doc, "created_at", &st->created_at) != 0)
		return -1;
	if (json_is_string(last)) {
		if (ulid_parse(json_string_value(last), &st->last_task) != 0)
			return -1;
		st->has_last = 1;
	}
	st->runs = (uint64_t)json_integer_value(json_object_get(doc, "runs"));
	st->skipped = (uint64_t)json_integer_value(json_object_get(doc,
	    "skipped_runs"));
	return 0;
}

/* RFC 7396: merge patch into target (both JSON; target changed). */
void
schedule_merge_patch(json_t *target, json_t *patch)
{
	const char *key;
	json_t *v, *cur;

	json_object_foreach(patch, key, v) {
		cur = json_object_get(target, key);
		if (json_is_null(v))
			json_object_del(target, key);
		else if (json_is_object(v) && json_is_object(cur))
			schedule_merge_patch(cur, v);
		else
			json_object_set(target, key, v);
	}
}
