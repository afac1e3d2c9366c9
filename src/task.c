/*
 * task.c -- the task record, its state table, and the one function that
 * changes a task's state. Also the task's timer and its JSON form.
 *
 *   scheduled --start--> running --work done--> succeeded | failed
 *       |                   |
 *       +--cancel/timeout---+--> cancelling --cleanup ends--> cancelled
 *                                                             | timed_out
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

static const char *const task_state_names[TASK_NSTATES] = {
	[TASK_SCHEDULED] = "scheduled",
	[TASK_RUNNING] = "running",
	[TASK_CANCELLING] = "cancelling",
	[TASK_SUCCEEDED] = "succeeded",
	[TASK_FAILED] = "failed",
	[TASK_CANCELLED] = "cancelled",
	[TASK_TIMED_OUT] = "timed_out",
};

static const char *const task_reason_names[] = {
	[CANCEL_NONE] = NULL,
	[CANCEL_CLIENT] = "client",
	[CANCEL_TIMEOUT] = "timeout",
	[CANCEL_SHUTDOWN] = "shutdown",
	[CANCEL_RESTART] = "restart",
};

static const char *const task_cleanup_names[] = {
	[CLEANUP_NONE] = NULL,
	[CLEANUP_RUNNING] = "running",
	[CLEANUP_SUCCEEDED] = "succeeded",
	[CLEANUP_FAILED] = "failed",
	[CLEANUP_TIMED_OUT] = "timed_out",
};

/* The allowed transitions: task_transitions[from] has bit (1 << to). */
#define T(s) (1u << (s))
static const unsigned task_transitions[TASK_NSTATES] = {
	[TASK_SCHEDULED] = T(TASK_RUNNING) | T(TASK_CANCELLING),
	[TASK_RUNNING] = T(TASK_SUCCEEDED) | T(TASK_FAILED) |
	    T(TASK_CANCELLING),
	[TASK_CANCELLING] = T(TASK_CANCELLED) | T(TASK_TIMED_OUT),
	[TASK_SUCCEEDED] = 0,
	[TASK_FAILED] = 0,
	[TASK_CANCELLED] = 0,
	[TASK_TIMED_OUT] = 0,
};
#undef T

static struct event_base *task_base;
static int		 task_holding;	/* stopping: start nothing new */

static void	task_timer_cb(evutil_socket_t, short, void *);

/* Remember the loop the task timers run on. */
void
task_init(struct event_base *base)
{
	task_base = base;
}

/* The name of a state, a cancel reason, a cleanup state. */
const char *
task_state_name(enum task_state s)
{
	return task_state_names[s];
}

const char *
task_reason_name(enum cancel_reason r)
{
	return task_reason_names[r];
}

const char *
task_cleanup_name(enum cleanup_state c)
{
	return task_cleanup_names[c];
}

/* The index of name in names[first..last]; -1 if it is not there. */
static int
task_lookup(const char *const *names, int first, int last, const char *name)
{
	int i;

	for (i = first; i <= last; i++) {
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

/* Parse a state, cancel reason or cleanup state name; -1 if unknown. */
int
task_state_parse(const char *name)
{
	return task_lookup(task_state_names, 0, TASK_NSTATES - 1, name);
}

int
task_reason_parse(const char *name)
{
	return task_lookup(task_reason_names, CANCEL_CLIENT, CANCEL_RESTART,
	    name);
}

int
task_cleanup_parse(const char *name)
{
	return task_lookup(task_cleanup_names, CLEANUP_RUNNING,
	    CLEANUP_TIMED_OUT, name);
}

/* Is this a terminal state? */
int
task_state_terminal(enum task_state s)
{
	return s >= TASK_SUCCEEDED;
}

/* May a task go from one state to another? */
int
task_transition_ok(enum task_state from, enum task_state to)
{
	if ((unsigned)from >= TASK_NSTATES || (unsigned)to >= TASK_NSTATES)
		return 0;
	return (task_transitions[from] & (1u << to)) != 0;
}

/* A new task of a kind, scheduled, with a fresh id. Not yet submitted. */
struct task *
task_new(const struct task_kind *kind)
{
	struct task *t = xcalloc(1, sizeof *t + kind->data_size);

	registry_next_id(&t->id);
	t->kindi = (uint8_t)kind_index(kind);
	t->state = TASK_SCHEDULED;
	t->created_at = clock_now_ms();
	t->start_at = t->created_at;
	t->started_at = t->finished_at = TASK_TIME_NONE;
	t->deadline = TASK_TIME_NONE;
	event_assign(&t->timer, task_base, -1, 0, task_timer_cb, t);
	return t;
}

/* The lazily made part of a task: cancellation, cleanup, waiters. */
struct task_extra *
task_extra(struct task *t)
{
	if (t->x == NULL) {
		t->x = xcalloc(1, sizeof *t->x);
		TAILQ_INIT(&t->x->waiters);
	}
	return t->x;
}

/* The name, metadata and timeout part of a task, made on first use. */
struct task_info *
task_info(struct task *t)
{
	if (t->info == NULL) {
		t->info = xcalloc(1, sizeof *t->info);
		t->info->timeout_ms = TASK_TIME_NONE;
	}
	return t->info;
}

/* A task's name, metadata (borrowed) and timeout, or NULL / NONE. */
const char *
task_name(const struct task *t)
{
	return t->info != NULL ? t->info->name : NULL;
}

json_t *
task_metadata(const struct task *t)
{
	return t->info != NULL ? t->info->metadata : NULL;
}

int64_t
task_timeout_ms(const struct task *t)
{
	return t->info != NULL ? t->info->timeout_ms : TASK_TIME_NONE;
}

/* Free a task: stop its timer, let its kind go, free its fields. */
void
task_free(struct task *t)
{
	event_del(&t->timer);
	if (task_kind(t)->free != NULL)
		task_kind(t)->free(t);
	if (t->x != NULL) {
		free(t->x->cancel_message);
		free(t->x->cleanup_detail);
		json_decref(t->x->cleanup_facts);
		json_decref(t->x->result);
		free(t->x->idem_key);
		free(t->x->idem_body);
		free(t->x);
	}
	if (t->info != NULL) {
		json_decref(t->info->metadata);
		free(t->info->name);
		free(t->info);
	}
	free(t->text);
	free(t);
}

/* When the timeout of a running task passes, or TASK_TIME_NONE. */
static int64_t
task_timeout_at(const struct task *t)
{
	if (t->state != TASK_RUNNING || task_timeout_ms(t) == TASK_TIME_NONE)
		return TASK_TIME_NONE;
	return t->started_at + task_timeout_ms(t);
}

/* Set the one timer to the earliest thing this task waits for. */
static void
task_arm(struct task *t)
{
	int64_t at = TASK_TIME_NONE, to, delay;
	struct timeval tv;

	if (t->state == TASK_SCHEDULED && !t->queued)
		at = t->start_at;
	to = task_timeout_at(t);
	if (to != TASK_TIME_NONE && (at == TASK_TIME_NONE || to < at))
		at = to;
	if (t->deadline != TASK_TIME_NONE && (at == TASK_TIME_NONE ||
	    t->deadline < at))
		at = t->deadline;
	if (at == TASK_TIME_NONE) {
		event_del(&t->timer);
		return;
	}
	delay = at * 1000 - clock_now_us();
	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)(delay / 1000000);
	tv.tv_usec = (suseconds_t)(delay % 1000000);
	event_add(&t->timer, &tv);
}

/* Let the kind's work wake the task at a time (TASK_TIME_NONE: never). */
void
task_set_deadline(struct task *t, int64_t at)
{
	t->deadline = at;
	task_arm(t);
}

/*
 * The one function that changes a task's state: it checks the transition,
 * stamps the time, logs, queues the store write, wakes whoever waits, and
 * re-arms the timer. Returns -1 (and changes nothing) if not allowed.
 */
int
task_set_state(struct task *t, enum task_state to)
{
	enum task_state from = t->state;
	char id[ULID_LEN + 1];

	if (!task_transition_ok(from, to)) {
		ulid_format(&t->id, id);
		log_error("task %s: refused transition %s -> %s", id,
		    task_state_name(from), task_state_name(to));
		return -1;
	}
	t->state = to;
	if (to == TASK_RUNNING)
		t->started_at = clock_now_ms();
	if (task_state_terminal(to)) {
		t->finished_at = clock_now_ms();
		t->deadline = TASK_TIME_NONE;
	}
	if (t->registered)
		registry_count_move(from, to);
	if (log_enabled(LOG_DEBUG)) {
		ulid_format(&t->id, id);
		log_debug("task %s: %s -> %s", id, task_state_name(from),
		    task_state_name(to));
	}
	metrics_task_state(t, from, to);
	store_mark(t);
	events_task_changed(t);
	task_arm(t);
	return 0;
}

/* Start a task's work now (its start time came, or its kind admits it). */
void
task_start(struct task *t)
{
	t->queued = 0;
	if (task_set_state(t, TASK_RUNNING) != 0)
		return;
	task_kind(t)->start(t);
}

/*
 * The daemon is stopping: tasks whose start time comes stay scheduled (and
 * start after the restart); kinds start no queued task either.
 */
void
task_hold(void)
{
	task_holding = 1;
}

int
task_held(void)
{
	return task_holding;
}

/* The start time came: start, unless the kind queues the task. */
static void
task_due(struct task *t)
{
	if (task_holding)
		return;
	if (task_kind(t)->admit != NULL && !task_kind(t)->admit(t)) {
		t->queued = 1;	/* the kind calls task_start later */
		task_arm(t);
		return;
	}
	task_start(t);
}

/*
 * A new task enters the daemon: it is registered and stored, announced as
 * scheduled, and started at once if its start time has come.
 */
void
task_submit(struct task *t)
{
	registry_add(t);
	t->registered = 1;
	metrics_task_created(t);
	store_mark(t);
	events_task_changed(t);
	if (t->start_at <= clock_now_ms())
		task_due(t);
	else
		task_arm(t);
}

/* The kind's work ended by itself: succeeded or failed, with a result. */
void
task_finish(struct task *t, enum task_state to, json_t *result)
{
	if (t->state != TASK_RUNNING) {
		json_decref(result);
		return;
	}
	if (result != NULL) {
		json_decref(task_extra(t)->result);
		t->x->result = result;
	}
	task_set_state(t, to);
}

/*
 * Cancel a task (DELETE, timeout, shutdown, restart). A scheduled or running
 * task goes to cancelling: its kind stops the work, then the cleanup runs.
 * A second request joins the first; its reason and time stand.
 */
enum task_cancel_result
task_cancel(struct task *t, enum cancel_reason reason, const char *message)
{
	struct task_extra *x;
	enum task_state from = t->state;

	switch (from) {
	case TASK_SCHEDULED:
	case TASK_RUNNING:
		break;
	case TASK_CANCELLING:
		t->x->cancel_requests++;
		store_mark(t);
		return TASK_CANCEL_JOINED;
	case TASK_CANCELLED:
		return TASK_CANCEL_ALREADY;
	default:
		return TASK_CANCEL_TOO_LATE;
	}
	x = task_extra(t);
	x->cancel_requested_at = clock_now_ms();
	x->cancel_reason = reason;
	x->cancel_requests = 1;
	if (message != NULL)
		x->cancel_message = xstrdup(message);
	metrics_cancel(reason);
	if (from == TASK_SCHEDULED && t->queued && task_kind(t)->unqueue != NULL)
		task_kind(t)->unqueue(t);
	t->queued = 0;
	t->deadline = TASK_TIME_NONE;
	task_set_state(t, TASK_CANCELLING);
	if (from == TASK_RUNNING)
		task_kind(t)->stop(t);	/* calls task_stopped when done */
	else
		task_stopped(t);
	return TASK_CANCEL_STARTED;
}

/*
 * The work of a cancelled task has stopped (or never started): run the
 * cleanup, exactly once per cancellation.
 */
void
task_stopped(struct task *t)
{
	struct task_extra *x = task_extra(t);

	if (t->state != TASK_CANCELLING || x->cleanup_state == CLEANUP_RUNNING)
		return;
	x->cleanup_state = CLEANUP_RUNNING;
	x->cleanup_started_at = clock_now_ms();
	x->cleanup_finished_at = TASK_TIME_NONE;
	free(x->cleanup_detail);
	x->cleanup_detail = NULL;
	store_mark(t);
	task_kind(t)->cleanup(t);	/* calls task_cleanup_done when done */
}

/*
 * The cleanup ended (well or not): the task ends cancelled, or timed_out if
 * its timeout cancelled it. facts (stolen, may be NULL) adds kind details.
 */
void
task_cleanup_done(struct task *t, enum cleanup_state how, const char *detail,
    json_t *facts)
{
	struct task_extra *x = task_extra(t);

	if (t->state != TASK_CANCELLING || x->cleanup_state != CLEANUP_RUNNING) {
		json_decref(facts);
		return;
	}
	x->cleanup_state = how;
	x->cleanup_finished_at = clock_now_ms();
	if (detail != NULL)
		x->cleanup_detail = xstrdup(detail);
	json_decref(x->cleanup_facts);
	x->cleanup_facts = facts;
	metrics_cleanup(t, how);
	task_set_state(t, x->cancel_reason == CANCEL_TIMEOUT ? TASK_TIMED_OUT :
	    TASK_CANCELLED);
}

/* The task's one timer: start time, timeout, or the kind's deadline. */
static void
task_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct task *t = arg;
	int64_t now = clock_now_us(), at;

	if (t->state == TASK_SCHEDULED && !t->queued &&
	    now >= t->start_at * 1000) {
		task_due(t);
		return;
	}
	at = task_timeout_at(t);
	if (at != TASK_TIME_NONE && now >= at * 1000) {
		task_cancel(t, CANCEL_TIMEOUT, NULL);
		return;
	}
	if (t->deadline != TASK_TIME_NONE && now >= t->deadline * 1000) {
		metrics_timer_lateness(now - t->deadline * 1000);
		t->deadline = TASK_TIME_NONE;
		if (task_kind(t)->timer != NULL)
			task_kind(t)->timer(t);
		return;
	}
	task_arm(t);	/* woke a little early: sleep the rest */
}

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
 * (task_text_drop) or the pass ends.
 */
const char *
task_text(struct task *t)
{
	if (t->text == NULL)
		t->text = task_to_text(t);
	return t->text;
}

/* Forget the cached JSON (the task changed, or the pass ended). */
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
	t = xcalloc(1, sizeof *t + kind->data_size);
	t->kindi = (uint8_t)kind_index(kind);
	t->state = (uint8_t)s;
	t->deadline = TASK_TIME_NONE;
	if (json_is_integer(timeout))
		task_info(t)->timeout_ms = json_integer_value(timeout);
	event_assign(&t->timer, task_base, -1, 0, task_timer_cb, t);
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
	    task_json_get_cancel(t, doc) != 0 || kind->from_json(t, doc) != 0) {
		task_free(t);
		return NULL;
	}
	return t;
}

/*
 * Resume a task read back from the store after a restart: a scheduled one
 * keeps its start time, a running one is its kind's to resume (or cancel),
 * a cancelling one runs its cleanup again.
 */
void
task_recover(struct task *t)
{
	registry_add(t);
	t->registered = 1;
	switch (t->state) {
	case TASK_SCHEDULED:
		if (t->start_at <= clock_now_ms())
			task_due(t);
		else
			task_arm(t);
		break;
	case TASK_RUNNING:
		task_kind(t)->recover(t);
		task_arm(t);
		break;
	case TASK_CANCELLING:
		task_extra(t)->cleanup_state = CLEANUP_NONE;
		task_stopped(t);
		break;
	default:
		break;
	}
}
