/*
 * task-json.c -- a task as JSON: the document the API shows and the store
 * keeps (every member of the contract, null where it does not apply), its
 * cached rendering, and the way back from a stored document (recovery).
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

/* Append key then "time" or null. */
static void
task_write_time(struct buf *b, const char *key, int64_t ms)
{
	char tmp[CLOCK_RFC3339_LEN + 3];

	buf_adds(b, key);
	if (ms == TASK_TIME_NONE) {
		buf_add(b, "null", 4);
		return;
	}
	tmp[0] = '"';
	clock_format_ms(ms, tmp + 1);
	tmp[CLOCK_RFC3339_LEN + 1] = '"';
	buf_add(b, tmp, CLOCK_RFC3339_LEN + 2);
}

/* Append the "cancellation" member's value. */
static void
task_write_cancellation(const struct task *t, struct buf *b)
{
	const struct task_extra *x = t->x;

	if (x == NULL || x->cancel_reason == CANCEL_NONE) {
		buf_add(b, "null", 4);
		return;
	}
	task_write_time(b, "{\"requested_at\":", x->cancel_requested_at);
	buf_adds(b, ",\"reason\":\"");
	buf_adds(b, task_reason_name(x->cancel_reason));
	buf_adds(b, "\",\"message\":");
	buf_add_jstr(b, x->cancel_message);
	buf_adds(b, ",\"requests\":");
	buf_add_int(b, x->cancel_requests);
	buf_adds(b, ",\"kill\":");
	if (task_kind(t)->write_kill != NULL)
		task_kind(t)->write_kill(t, b);
	else
		buf_add(b, "null", 4);
	buf_add(b, "}", 1);
}

/* Append the "cleanup" member's value, with the kind's facts inside. */
static void
task_write_cleanup(const struct task *t, struct buf *b)
{
	const struct task_extra *x = t->x;
	size_t mark;

	if (x == NULL || x->cleanup_state == CLEANUP_NONE) {
		buf_add(b, "null", 4);
		return;
	}
	buf_adds(b, "{\"state\":\"");
	buf_adds(b, task_cleanup_name(x->cleanup_state));
	buf_add(b, "\"", 1);
	task_write_time(b, ",\"started_at\":", x->cleanup_started_at);
	task_write_time(b, ",\"finished_at\":", x->cleanup_finished_at);
	buf_adds(b, ",\"detail\":");
	buf_add_jstr(b, x->cleanup_detail);
	if (x->cleanup_facts != NULL && json_object_size(x->cleanup_facts) > 0) {
		/* The facts' members join ours: drop their braces. */
		buf_add(b, ",", 1);
		mark = b->len;
		buf_add_json(b, x->cleanup_facts);
		memmove(b->data + mark, b->data + mark + 1, b->len - mark - 2);
		b->len -= 2;
		b->data[b->len] = '\0';
	}
	buf_add(b, "}", 1);
}

/* Append the "retry" member's value: the policy, or null. */
static void
task_write_retry(const struct task *t, struct buf *b)
{
	const struct retry_policy *r;

	if (TASK_POL(t) == NULL || TASK_POL(t)->retry.max_attempts == 0) {
		buf_add(b, "null", 4);
		return;
	}
	r = &TASK_POL(t)->retry;
	buf_adds(b, "{\"max_attempts\":");
	buf_add_int(b, r->max_attempts);
	buf_adds(b, ",\"backoff_ms\":");
	buf_add_int(b, r->backoff_ms);
	buf_adds(b, ",\"max_backoff_ms\":");
	buf_add_int(b, r->max_backoff_ms);
	buf_adds(b, r->jitter ? ",\"jitter\":true}" : ",\"jitter\":false}");
}

/* Append the policy members: attempt, attempts, retry, key, schedule. */
static void
task_write_policy(const struct task *t, struct buf *b)
{
	const struct task_policy *p = TASK_POL(t);
	char id[ULID_LEN + 1];

	buf_adds(b, ",\"attempt\":");
	buf_add_int(b, task_attempt(t));
	buf_adds(b, ",\"attempts\":");
	if (p != NULL && p->attempts != NULL)
		buf_add_json(b, p->attempts);
	else
		buf_add(b, "[]", 2);
	buf_adds(b, ",\"retry\":");
	task_write_retry(t, b);
	buf_adds(b, ",\"concurrency_key\":");
	buf_add_jstr(b, p != NULL ? p->key : NULL);
	buf_adds(b, ",\"schedule_id\":");
	if (p == NULL || !p->has_schedule) {
		buf_add(b, "null", 4);
		return;
	}
	ulid_format(&p->schedule_id, id);
	buf_add(b, "\"", 1);
	buf_add(b, id, ULID_LEN);
	buf_add(b, "\"", 1);
}

/*
 * One finished attempt as attempts[] shows it: its number, how it ended,
 * its times, result and cleanup (a new reference).
 */
json_t *
task_attempt_json(const struct task *t, enum task_state how)
{
	struct buf b = { NULL, 0, 0 };
	json_t *v;
	char *text;

	buf_adds(&b, "{\"attempt\":");
	buf_add_int(&b, task_attempt(t));
	buf_adds(&b, ",\"state\":\"");
	buf_adds(&b, task_state_name(how));
	buf_add(&b, "\"", 1);
	task_write_time(&b, ",\"started_at\":", t->started_at);
	task_write_time(&b, ",\"finished_at\":", t->finished_at);
	buf_adds(&b, ",\"result\":");
	buf_add_json(&b, t->x != NULL ? t->x->result : NULL);
	buf_adds(&b, ",\"cleanup\":");
	task_write_cleanup(t, &b);
	buf_add(&b, "}", 1);
	text = buf_steal(&b, NULL);
	v = json_loads(text, 0, NULL);
	free(text);
	if (v == NULL)
		fatalx("task_attempt_json: the attempt's JSON does not parse");
	return v;
}

/* Append the "callback" member's value. */
static void
task_write_callback(const struct task *t, struct buf *b)
{
	const struct task_callback *cb = task_callback(t);

	if (cb == NULL) {
		buf_add(b, "null", 4);
		return;
	}
	buf_adds(b, "{\"name\":");
	buf_add_jstr(b, cb->name);
	buf_adds(b, ",\"state\":\"");
	buf_adds(b, task_callback_state_name(cb->state));
	buf_adds(b, "\",\"attempts\":");
	buf_add_int(b, cb->attempts);
	buf_adds(b, ",\"last_status\":");
	if (cb->last_status == 0)
		buf_add(b, "null", 4);
	else
		buf_add_int(b, cb->last_status);
	buf_adds(b, ",\"last_error\":");
	buf_add_jstr(b, cb->last_error);
	task_write_time(b, ",\"delivered_at\":", cb->delivered_at);
	buf_add(b, "}", 1);
}

/*
 * Write the task as the API shows it: every member of the contract, null
 * where it does not apply, then the kind's members (duration_ms first).
 */
static void
task_write_json(const struct task *t, struct buf *b)
{
	char id[ULID_LEN + 1];

	ulid_format(&t->id, id);
	buf_adds(b, "{\"id\":\"");
	buf_add(b, id, ULID_LEN);
	buf_adds(b, "\",\"kind\":\"");
	buf_adds(b, task_kind(t)->name);
	buf_adds(b, "\",\"name\":");
	buf_add_jstr(b, task_name(t));
	buf_adds(b, ",\"state\":\"");
	buf_adds(b, task_state_name(t->state));
	buf_add(b, "\"", 1);
	task_write_time(b, ",\"created_at\":", t->created_at);
	task_write_time(b, ",\"start_at\":", t->start_at);
	task_write_time(b, ",\"started_at\":", t->started_at);
	task_write_time(b, ",\"finished_at\":", t->finished_at);
	task_kind(t)->write_json(t, b);	/* ,"duration_ms":... and its own */
	buf_adds(b, ",\"timeout_ms\":");
	if (task_timeout_ms(t) == TASK_TIME_NONE)
		buf_add(b, "null", 4);
	else
		buf_add_int(b, task_timeout_ms(t));
	buf_adds(b, ",\"metadata\":");
	buf_add_json(b, task_metadata(t));
	buf_adds(b, ",\"cancellation\":");
	task_write_cancellation(t, b);
	buf_adds(b, ",\"cleanup\":");
	task_write_cleanup(t, b);
	buf_adds(b, ",\"result\":");
	buf_add_json(b, t->x != NULL ? t->x->result : NULL);
	task_write_policy(t, b);
	buf_adds(b, ",\"callback\":");
	task_write_callback(t, b);
	buf_adds(b, ",\"node\":");	/* in memory: this node runs it */
	buf_add_jstr(b, t->unplaced ? NULL : config_node_name());
	buf_add(b, "}", 1);
}

/* The task as compact JSON text (to free). */
char *
task_to_text(const struct task *t)
{
	struct buf b = { NULL, 0, 0 };

	task_write_json(t, &b);
	return buf_steal(&b, NULL);
}

/* The task as a JSON value (a new reference), to embed in another. */
json_t *
task_to_json(const struct task *t)
{
	char *text = task_to_text(t);
	json_t *v = json_loads(text, 0, NULL);

	free(text);
	if (v == NULL)
		fatalx("task_to_json: the task's own JSON does not parse");
	return v;
}

/*
 * The task's JSON, rendered at most once per change: the store write, the
 * event and the answers of one pass share it. Valid until the task changes
 * (task.c drops it before telling the observers) or someone takes it.
 */
const char *
task_text(struct task *t)
{
	if (t->text == NULL)
		t->text = task_to_text(t);
	return t->text;
}

/* The rendered JSON, to keep (to free); the next task_text renders anew. */
char *
task_text_take(struct task *t)
{
	char *text = t->text != NULL ? t->text : task_to_text(t);

	t->text = NULL;
	return text;
}

/* Forget the cached JSON (the task changed). */
void
task_text_drop(struct task *t)
{
	free(t->text);
	t->text = NULL;
}

/* Read a time member back: RFC 3339 or null. -1 if neither. */
static int
task_json_get_time(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	*out = TASK_TIME_NONE;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	return clock_parse_rfc3339(json_string_value(v), out);
}

/* A string member, or NULL if absent or null. -1 if it is another type. */
static int
task_json_get_str(json_t *o, const char *key, const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* Read back the "cancellation" and "cleanup" members. */
static int
task_json_get_cancel(struct task *t, json_t *doc)
{
	json_t *c = json_object_get(doc, "cancellation");
	json_t *cl = json_object_get(doc, "cleanup");
	const char *reason, *state, *message = NULL, *detail = NULL;
	json_int_t requests;
	struct task_extra *x;
	int r, s;

	if (c == NULL || json_is_null(c))
		return 0;
	if (json_unpack(c, "{s:s,s:I}", "reason", &reason, "requests",
	    &requests) != 0 || (r = task_reason_parse(reason)) < 0 ||
	    task_json_get_str(c, "message", &message) != 0)
		return -1;
	x = task_extra(t);
	x->cancel_reason = (uint8_t)r;
	x->cancel_requests = (uint32_t)requests;
	if (message != NULL)
		x->cancel_message = xstrdup(message);
	if (task_json_get_time(c, "requested_at", &x->cancel_requested_at))
		return -1;
	if (cl == NULL || json_is_null(cl))
		return 0;
	if (json_unpack(cl, "{s:s}", "state", &state) != 0 ||
	    (s = task_cleanup_parse(state)) < 0 ||
	    task_json_get_str(cl, "detail", &detail) != 0)
		return -1;
	x->cleanup_state = (uint8_t)s;
	if (detail != NULL)
		x->cleanup_detail = xstrdup(detail);
	if (task_json_get_time(cl, "started_at", &x->cleanup_started_at) ||
	    task_json_get_time(cl, "finished_at", &x->cleanup_finished_at))
		return -1;
	return 0;
}

/* Read back a retry policy ("retry": null or the object). */
static int
task_json_get_retry(struct task *t, json_t *v)
{
	struct retry_policy *r;
	json_int_t max, b, mb;
	int jitter;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_unpack(v, "{s:I,s:I,s:I,s:b}", "max_attempts", &max,
	    "backoff_ms", &b, "max_backoff_ms", &mb, "jitter", &jitter) != 0)
		return -1;
	r = &task_policy(t)->retry;
	r->max_attempts = (int)max;
	r->backoff_ms = b;
	r->max_backoff_ms = mb;
	r->jitter = jitter;
	return 0;
}

/* Read back attempt, attempts, retry, concurrency_key and schedule_id. */
static int
task_json_get_policy(struct task *t, json_t *doc)
{
	json_t *attempt = json_object_get(doc, "attempt");
	json_t *attempts = json_object_get(doc, "attempts");
	const char *key, *sched;

	if (task_json_get_retry(t, json_object_get(doc, "retry")) != 0 ||
	    task_json_get_str(doc, "concurrency_key", &key) != 0 ||
	    task_json_get_str(doc, "schedule_id", &sched) != 0)
		return -1;
	if (key != NULL)
		task_policy(t)->key = xstrdup(key);
	if (sched != NULL && ulid_parse(sched,
	    &task_policy(t)->schedule_id) == 0)
		task_policy(t)->has_schedule = 1;
	if (json_is_integer(attempt) && json_integer_value(attempt) > 1)
		task_policy(t)->attempt = (int)json_integer_value(attempt);
	if (json_is_array(attempts) && json_array_size(attempts) > 0)
		task_policy(t)->attempts = json_incref(attempts);
	return 0;
}

/* Read back the "callback" member. */
static int
task_json_get_callback(struct task *t, json_t *doc)
{
	json_t *c = json_object_get(doc, "callback");
	const char *name, *state, *error = NULL;
	struct task_callback *cb;
	json_int_t attempts;
	int s;

	if (c == NULL || json_is_null(c))
		return 0;
	if (json_unpack(c, "{s:s,s:s,s:I}", "name", &name, "state", &state,
	    "attempts", &attempts) != 0 ||
	    (s = task_callback_state_parse(state)) < 0 ||
	    task_json_get_str(c, "last_error", &error) != 0)
		return -1;
	task_set_callback(t, name);
	cb = t->info->callback;
	cb->state = (uint8_t)s;
	cb->attempts = (uint32_t)attempts;
	cb->last_status = (int)json_integer_value(json_object_get(c,
	    "last_status"));
	if (error != NULL)
		cb->last_error = xstrdup(error);
	return task_json_get_time(c, "delivered_at", &cb->delivered_at);
}

/*
 * Rebuild a task from its stored JSON (recovery). NULL if the document is
 * not one this daemon wrote.
 */
struct task *
task_from_json(json_t *doc)
{
	const struct task_kind *kind;
	const char *id, *kname, *state, *name = NULL;
	json_t *meta = NULL, *timeout = NULL, *result = NULL;
	struct task *t;
	int s;

	if (json_unpack(doc, "{s:s,s:s,s:s,s?o,s?o,s?o}", "id", &id,
	    "kind", &kname, "state", &state, "metadata", &meta,
	    "timeout_ms", &timeout, "result", &result) != 0 ||
	    task_json_get_str(doc, "name", &name) != 0 ||
	    (kind = kind_find(kname)) == NULL || (s = task_state_parse(state))
	    < 0)
		return NULL;
	t = task_alloc(kind);
	t->state = (uint8_t)s;
	if (json_is_integer(timeout))
		task_set_timeout(t, json_integer_value(timeout));
	if (name != NULL)
		task_info(t)->name = xstrdup(name);
	if (json_is_object(meta))
		task_info(t)->metadata = json_incref(meta);
	if (result != NULL && !json_is_null(result))
		task_extra(t)->result = json_incref(result);
	if (ulid_parse(id, &t->id) != 0 ||
	    task_json_get_time(doc, "created_at", &t->created_at) ||
	    task_json_get_time(doc, "start_at", &t->start_at) ||
	    task_json_get_time(doc, "started_at", &t->started_at) ||
	    task_json_get_time(doc, "finished_at", &t->finished_at) ||
	    task_json_get_cancel(t, doc) != 0 ||
	    task_json_get_policy(t, doc) != 0 ||
	    task_json_get_callback(t, doc) != 0 ||
	    kind->from_json(t, doc) != 0) {
		task_free(t);
		return NULL;
	}
	return t;
}

