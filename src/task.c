/*
 * task.c -- a task's life: the record (the one place that frees it), the
 * state table, the one function that announces every change to the
 * observers registered at start (store, hub, metrics), and the task's one
 * timer. The JSON form is task-json.c's.
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
	[CANCEL_SUPERSEDED] = "superseded",
	[CANCEL_NODE_LOST] = "node_lost",
};

static const char *const task_cleanup_names[] = {
	[CLEANUP_NONE] = NULL,
	[CLEANUP_RUNNING] = "running",
	[CLEANUP_SUCCEEDED] = "succeeded",
	[CLEANUP_FAILED] = "failed",
	[CLEANUP_TIMED_OUT] = "timed_out",
};

static const char *const task_callback_names[] = {
	[CALLBACK_PENDING] = "pending",
	[CALLBACK_DELIVERED] = "delivered",
	[CALLBACK_FAILED] = "failed",
};

/*
 * The allowed transitions: task_transitions[from] has bit (1 << to). Back
 * to scheduled: a failed attempt, or a timed-out one after its cleanup,
 * waits for its retry (CONTRACT §8).
 */
#define T(s) (1u << (s))
static const unsigned task_transitions[TASK_NSTATES] = {
	[TASK_SCHEDULED] = T(TASK_RUNNING) | T(TASK_CANCELLING),
	[TASK_RUNNING] = T(TASK_SUCCEEDED) | T(TASK_FAILED) |
	    T(TASK_CANCELLING) | T(TASK_SCHEDULED),
	[TASK_CANCELLING] = T(TASK_CANCELLED) | T(TASK_TIMED_OUT) |
	    T(TASK_SCHEDULED),
	[TASK_SUCCEEDED] = 0,
	[TASK_FAILED] = 0,
	[TASK_CANCELLED] = 0,
	[TASK_TIMED_OUT] = 0,
};
#undef T

#define TASK_OBSERVERS_MAX 8

static struct wheel	*task_wheel;	/* every task's one timer */
static int		 task_holding;	/* stopping: start nothing new */
static const struct task_observer *task_observers[TASK_OBSERVERS_MAX];
static size_t		 task_nobservers;

static void	task_timer_cb(struct wheel_node *);

static int	task_in_cluster;	/* task_cluster_set */

/* Put the task timers on a wheel driven by the loop. */
void
task_init(struct event_base *base)
{
	task_shutdown();
	task_wheel = wheel_new(clock_now_ms(), task_timer_cb);
	wheel_attach(task_wheel, base);
}

/* Free the wheel (before the loop); timers still on it never fire. */
void
task_shutdown(void)
{
	wheel_free(task_wheel);
	task_wheel = NULL;
}

/* Tell an observer of every change from now on (in registration order). */
void
task_observe(const struct task_observer *o)
{
	if (task_nobservers == TASK_OBSERVERS_MAX)
		fatalx("task_observe: more than %d observers", TASK_OBSERVERS_MAX);
	task_observers[task_nobservers++] = o;
}

/* Forget every observer (the daemon stops; tests start afresh). */
void
task_observe_clear(void)
{
	task_nobservers = 0;
}

/*
 * The one announcement: the cached JSON goes first, so that every observer
 * renders the task as it is now; then each observer hears of the change.
 * Observers never call back into the change path.
 */
static void
task_announce(struct task *t, enum task_change what, enum task_state from)
{
	size_t i;

	task_text_drop(t);
	for (i = 0; i < task_nobservers; i++)
		task_observers[i]->changed(t, what, from);
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

/* The name of a callback delivery's state, and back (-1 if unknown). */
const char *
task_callback_state_name(enum callback_state s)
{
	return task_callback_names[s];
}

int
task_callback_state_parse(const char *name)
{
	return task_lookup(task_callback_names, CALLBACK_PENDING,
	    CALLBACK_FAILED, name);
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
	return task_lookup(task_reason_names, CANCEL_CLIENT,
	    CANCEL_NREASONS - 1, name);
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

/* An empty task record of a kind, with its timer (no id, no times). */
struct task *
task_alloc(const struct task_kind *kind)
{
	struct task *t = xcalloc(1, sizeof *t + kind->data_size);

	t->kindi = (uint8_t)kind_index(kind);
	t->state = TASK_SCHEDULED;
	t->created_at = t->start_at = TASK_TIME_NONE;
	t->started_at = t->finished_at = TASK_TIME_NONE;
	t->deadline = TASK_TIME_NONE;
	return t;
}

/* A new task of a kind, scheduled, with a fresh id. Not yet submitted. */
struct task *
task_new(const struct task_kind *kind)
{
	struct task *t = task_alloc(kind);

	registry_next_id(&t->id);
	t->created_at = clock_now_ms();
	t->start_at = t->created_at;
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

/* The scheduling policies of a task, made on first use. */
struct task_policy *
task_policy(struct task *t)
{
	struct task_info *i = task_info(t);

	if (i->pol == NULL) {
		i->pol = xcalloc(1, sizeof *i->pol);
		i->pol->attempt = 1;
		i->pol->on_conflict = CONFLICT_QUEUE;
		i->pol->task = t;
	}
	return i->pol;
}

/* The current attempt (1 on every task without retries). */
int
task_attempt(const struct task *t)
{
	return TASK_POL(t) != NULL ? TASK_POL(t)->attempt : 1;
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

/* A task being made: its name, metadata (stolen), start time. */
void
task_set_name(struct task *t, const char *name)
{
	free(task_info(t)->name);
	t->info->name = xstrdup(name);
}

void
task_set_metadata(struct task *t, json_t *metadata)
{
	json_decref(task_info(t)->metadata);
	t->info->metadata = metadata;
}

void
task_set_start(struct task *t, int64_t at)
{
	t->start_at = at;
}

/* Set the timeout (creation, recovery, a job's default). */
void
task_set_timeout(struct task *t, int64_t ms)
{
	task_info(t)->timeout_ms = ms;
}

/* The task's callback member (NULL: it names none). */
const struct task_callback *
task_callback(const struct task *t)
{
	return t->info != NULL ? t->info->callback : NULL;
}

/* The one place a callback member is freed. */
static void
task_callback_free(struct task_callback *cb)
{
	if (cb == NULL)
		return;
	free(cb->name);
	free(cb->last_error);
	free(cb);
}

/* A task being made (or read back) names a callback: pending, no tries. */
void
task_set_callback(struct task *t, const char *name)
{
	struct task_callback *cb = xcalloc(1, sizeof *cb);

	cb->name = xstrdup(name);
	cb->state = CALLBACK_PENDING;
	cb->delivered_at = TASK_TIME_NONE;
	task_callback_free(task_info(t)->callback);
	t->info->callback = cb;
}

/* The delivery moved on (an attempt, its end): shown and stored. */
void
task_callback_update(struct task *t, const struct task_callback *now)
{
	struct task_callback *cb = t->info->callback;

	cb->state = now->state;
	cb->attempts = now->attempts;
	cb->last_status = now->last_status;
	free(cb->last_error);
	cb->last_error = now->last_error != NULL ?
	    xstrdup(now->last_error) : NULL;
	cb->delivered_at = now->delivered_at;
	task_touch(t);
}

/* Nothing will be sent (the task ended in no event of its callback). */
void
task_callback_drop(struct task *t)
{
	if (task_callback(t) == NULL)
		return;
	task_callback_free(t->info->callback);
	t->info->callback = NULL;
	task_touch(t);
}

/* Someone (the store, until its write is back) keeps the task in memory. */
void
task_ref(struct task *t)
{
	t->refs++;
}

/* Let go: a terminal task nobody holds leaves memory. */
void
task_unref(struct task *t)
{
	if (--t->refs == 0 && (task_state_terminal(t->state) || t->withdrawn))
		task_free(t);
}

/*
 * The one place a task is freed, always in this order: stop its timer,
 * leave the registry and the scheduler, let its kind go, free its fields.
 */
void
task_free(struct task *t)
{
	wheel_del(task_wheel, &t->timer);
	if (t->registered)
		registry_remove(t);
	t->registered = 0;
	sched_forget(t);
	if (task_kind(t)->free != NULL)
		task_kind(t)->free(t);
	if (TASK_POL(t) != NULL) {
		json_decref(t->info->pol->attempts);
		free(t->info->pol->key);
		free(t->info->pol);
	}
	if (t->x != NULL) {
		free(t->x->cancel_message);
		free(t->x->cleanup_detail);
		json_decref(t->x->cleanup_facts);
		json_decref(t->x->result);
		free(t->x);
	}
	if (t->info != NULL) {
		json_decref(t->info->metadata);
		task_callback_free(t->info->callback);
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
	int64_t at = TASK_TIME_NONE, to;

	if (t->state == TASK_SCHEDULED && !t->queued)
		at = t->start_at;
	to = task_timeout_at(t);
	if (to != TASK_TIME_NONE && (at == TASK_TIME_NONE || to < at))
		at = to;
	if (t->deadline != TASK_TIME_NONE && (at == TASK_TIME_NONE ||
	    t->deadline < at))
		at = t->deadline;
	if (at == TASK_TIME_NONE || task_wheel == NULL)
		wheel_del(task_wheel, &t->timer);
	else
		wheel_add(task_wheel, &t->timer, at);
}

/* Let the kind's work wake the task at a time (TASK_TIME_NONE: never). */
void
task_set_deadline(struct task *t, int64_t at)
{
	t->deadline = at;
	task_arm(t);
}

/* The attempt that ends (in state to) joins the task's attempts[]. */
static void
task_add_attempt(struct task *t, enum task_state to)
{
	struct task_policy *p = task_policy(t);

	if (p->attempts == NULL)
		p->attempts = json_array();
	json_array_append_new(p->attempts, task_attempt_json(t, to));
}

/* Running or cancelling: what holds a job slot and a concurrency key. */
static int
task_state_active(enum task_state s)
{
	return s == TASK_RUNNING || s == TASK_CANCELLING;
}

/* Tell the scheduler what a move means: it runs, lets go, or ended. */
static void
task_tell_sched(struct task *t, enum task_state from, enum task_state to)
{
	if (to == TASK_RUNNING)
		sched_started(t);
	if (task_state_terminal(to))
		sched_ended(t);
	else if (task_state_active(from) && !task_state_active(to))
		sched_release(t);
}

/*
 * A task with retries that reaches its terminal state after running: its
 * last attempt joins attempts[] (a cancel during the back-off ran none).
 */
static void
task_close_attempt(struct task *t, enum task_state to)
{
	if (!task_state_terminal(to) || TASK_POL(t) == NULL ||
	    TASK_POL(t)->retry.max_attempts == 0 || t->started_at == TASK_TIME_NONE)
		return;
	task_add_attempt(t, to);
}

/*
 * The one function that changes a task's state: it checks the transition,
 * stamps the time, logs, announces the change (store write, waiters,
 * events, metrics) and re-arms the timer. Returns -1 (and changes nothing)
 * if not allowed.
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
	task_close_attempt(t, to);
	task_announce(t, TASK_MOVED, from);
	task_arm(t);
	task_tell_sched(t, from, to);
	return 0;
}

/* Something the task shows changed, not its state: store it. */
void
task_touch(struct task *t)
{
	task_announce(t, TASK_TOUCHED, t->state);
}

/* The kind's facts about its work (stolen): shown as "result". */
void
task_set_result(struct task *t, json_t *result)
{
	json_decref(task_extra(t)->result);
	t->x->result = result;
	task_touch(t);
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

/* The start time came: start, unless sched.c queues the task. */
static void
task_due(struct task *t)
{
	if (task_holding)
		return;
	if (!sched_due(t)) {
		task_arm(t);	/* queued: sched.c starts it later */
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
	task_announce(t, TASK_CREATED, t->state);
	if (t->unplaced)	/* stored for a node with its job to claim */
		return;
	sched_submit(t);
	if (t->state != TASK_SCHEDULED)
		return;
	if (t->start_at <= clock_now_ms())
		task_due(t);
	else
		task_arm(t);
}

/* Does the task have another attempt after this one? */
static int
task_retry_left(const struct task *t)
{
	return TASK_POL(t) != NULL && TASK_POL(t)->attempt < TASK_POL(t)->retry.max_attempts &&
	    !task_holding;
}

/* Forget what the ended attempt showed: the next one starts clean. */
static void
task_attempt_reset(struct task *t)
{
	struct task_extra *x = t->x;

	t->started_at = TASK_TIME_NONE;
	t->deadline = TASK_TIME_NONE;
	if (task_kind(t)->again != NULL)
		task_kind(t)->again(t);
	if (x == NULL)
		return;
	json_decref(x->result);
	json_decref(x->cleanup_facts);
	free(x->cancel_message);
	free(x->cleanup_detail);
	x->result = x->cleanup_facts = NULL;
	x->cancel_message = x->cleanup_detail = NULL;
	x->cancel_reason = CANCEL_NONE;
	x->cancel_requests = 0;
	x->cleanup_state = CLEANUP_NONE;
	x->cancel_requested_at = x->cleanup_started_at = TASK_TIME_NONE;
	x->cleanup_finished_at = TASK_TIME_NONE;
}

/*
 * An attempt ended failed or timed_out (after its cleanup): if attempts
 * are left, it joins attempts[] and the task waits scheduled for its
 * back-off (1: retried), else the caller ends the task (0).
 */
static int
task_retry(struct task *t, enum task_state how)
{
	struct task_policy *p = TASK_POL(t);
	int64_t wait;

	if (!task_retry_left(t))
		return 0;
	t->finished_at = clock_now_ms();
	task_add_attempt(t, how);
	wait = sched_backoff_ms(&p->retry, p->attempt, drand48());
	p->attempt++;
	task_attempt_reset(t);
	t->finished_at = TASK_TIME_NONE;
	t->start_at = clock_now_ms() + wait;
	task_set_state(t, TASK_SCHEDULED);
	return 1;
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
	if (to == TASK_FAILED && task_retry(t, to))
		return;
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
		task_touch(t);
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
	if (from == TASK_SCHEDULED && t->queued)
		sched_unqueue(t);
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
	task_touch(t);
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
	if (x->cancel_reason == CANCEL_TIMEOUT && task_retry(t,
	    TASK_TIMED_OUT))
		return;
	task_set_state(t, x->cancel_reason == CANCEL_TIMEOUT ? TASK_TIMED_OUT :
	    TASK_CANCELLED);
}

/* The task's one timer: start time, timeout, or the kind's deadline. */
static void
task_timer_cb(struct wheel_node *n)
{
	struct task *t = (struct task *)(void *)((char *)n -
	    offsetof(struct task, timer));
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

/*
 * The store could not write the task's creation, and its client was told
 * so: it must not exist later. Its work stops with it (no cleanup: it never
 * was), observers hear, it leaves the registry, and the last holder frees
 * it (task_free kills a command's process group).
 */
void
task_withdraw(struct task *t)
{
	if (t->withdrawn)
		return;
	t->withdrawn = 1;
	wheel_del(task_wheel, &t->timer);
	task_announce(t, TASK_WITHDRAWN, t->state);
	if (t->registered)
		registry_remove(t);
	t->registered = 0;
	sched_forget(t);
}

/*
 * An unplaced task (a cluster's command task whose job this node lacks,
 * CONTRACT §12) is stored: it leaves this node's memory without a word
 * (nothing more is written for it here; the node that claims it runs it).
 */
void
task_let_go(struct task *t)
{
	wheel_del(task_wheel, &t->timer);
	if (t->registered)
		registry_remove(t);
	t->registered = 0;
	t->withdrawn = 1;
	sched_forget(t);
}

/* On a cluster's store (PostgreSQL), command tasks may wait unplaced. */
void
task_cluster_set(int on)
{
	task_in_cluster = on;
}

/* Is this node one of a cluster (PostgreSQL)? */
int
task_cluster(void)
{
	return task_in_cluster;
}

/*
 * Resume a task read back from the store: a scheduled one keeps its start
 * time, a running one is its kind's to resume (or cancel, for why), a
 * cancelling one runs its cleanup again.
 */
static void
task_resume(struct task *t, enum cancel_reason why)
{
	registry_add(t);
	t->registered = 1;
	sched_recover(t);
	switch (t->state) {
	case TASK_SCHEDULED:
		if (t->start_at <= clock_now_ms())
			task_due(t);
		else
			task_arm(t);
		break;
	case TASK_RUNNING:
		task_kind(t)->recover(t, why);
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

/* A task read back after a restart (a running command: reason restart). */
void
task_recover(struct task *t)
{
	task_resume(t, CANCEL_RESTART);
}

/*
 * A task adopted from a dead node of the cluster (CONTRACT §12): as after
 * a restart, but a running command ends with reason node_lost. A cancel
 * request still pending for it (the cluster's durable cancel requests) is
 * to be honoured here, once resumed: that table is not in yet.
 */
void
task_adopt(struct task *t)
{
	task_resume(t, CANCEL_NODE_LOST);
}

/*
 * A cluster's unplaced command task this node claimed (CONTRACT §12): its
 * kind applies the job here (checks, defaults). One the job refuses ends
 * failed at once, result.error saying why (no retry: it would be refused
 * again; it passes running for an instant, as a job that cannot start);
 * another is resumed as an adopted one (its start time kept) and stored
 * again, with this node's name and what the job added.
 */
void
task_place(struct task *t)
{
	json_t *refusal = task_kind(t)->place != NULL ?
	    task_kind(t)->place(t) : NULL;

	if (refusal == NULL) {
		task_resume(t, CANCEL_NODE_LOST);
		task_touch(t);
		return;
	}
	registry_add(t);
	t->registered = 1;
	if (task_set_state(t, TASK_RUNNING) != 0) {
		json_decref(refusal);
		return;
	}
	json_decref(task_extra(t)->result);
	t->x->result = refusal;
	task_set_state(t, TASK_FAILED);
}

/*
 * A cluster's unplaced task this node claimed to cancel it (a DELETE
 * here, §12): it joins memory and is cancelled at once (reason client);
 * its cleanup runs here: the job's, or a failed one if this node lacks
 * the job (as on one node for a job gone from the config).
 */
enum task_cancel_result
task_claim_cancel(struct task *t, const char *message)
{
	registry_add(t);
	t->registered = 1;
	sched_recover(t);
	return task_cancel(t, CANCEL_CLIENT, message);
}
