/*
 * store.c -- the store as the loop sees it, whatever the backend. It is a
 * task observer: a changed task goes out with the batch of its loop pass
 * (group commit). The backend commits batches off the loop and hands them
 * back; then whoever waits for them is told (through the callback given to
 * store_open) and terminal tasks the store no longer holds leave memory.
 * Reads go to the backend and answer rows and errors through a callback,
 * at once or later (never blocking the loop), never JSON envelopes: those
 * are the API's.
 *
 * A failed commit puts the store in fault: nothing more is sent until a
 * retry (with back-off) succeeds; changes wait in memory; new changes are
 * refused by the API (503); the tasks a failed batch created are lost and
 * withdrawn, never written later. One log line per state change, and a
 * reminder while it lasts.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define STORE_PURGE_BATCH	1000
#define STORE_PURGE_INTERVAL_S	1
#define STORE_RETRY_FIRST_MS	100
#define STORE_RETRY_MAX_MS	5000
#define STORE_REMIND_S		60

/* An Idempotency-Key not yet stored: findable in memory until it is. */
struct store_key {
	struct task	*task;
	char		*key;
	char		*body;
};

/*
 * A key's read out at the backend: a key noted while it was out (another
 * create of the same key, answered meanwhile) wins over its "new".
 */
struct store_idem_wait {
	char			*key;
	store_idem_cb		*fn;
	void			*arg;
	struct store_read	*rd;		/* NULL: answering at once */
	LIST_ENTRY(store_idem_wait) entry;
};

static const struct store_ops	*store_ops;
static store_done_cb		*store_done_fn;
static void			*store_done_arg;
static store_purged_cb		*store_purged_fn;
static void			*store_purged_arg;
static struct event		*store_purge_ev;
static int			 store_purging;
static struct task		**store_dirty;		/* changed this pass */
static size_t			 store_ndirty, store_dirty_cap;
/* A shared store's: every state a task took this pass, in order. */
struct store_state {
	struct task	*task;		/* a reference */
	char		*doc;
	size_t		 i;		/* its place */
	int		 last;		/* the task's last: its row says it */
};
static struct store_state	*store_states;
static size_t			 store_nstates, store_states_cap;
static struct store_delivery	*store_outbox;		/* rows this pass */
static size_t			 store_noutbox, store_outbox_cap;
static size_t			 store_nrequeued;	/* first, older */
static store_outbox_cb		*store_outbox_fn;
static struct store_srow	*store_sdirty;		/* schedules changed */
static size_t			 store_nsdirty, store_sdirty_cap;
static struct store_key		*store_keys;		/* keys in flight */
static size_t			 store_nkeys, store_keys_cap;
static LIST_HEAD(, store_idem_wait) store_idem_waits =
    LIST_HEAD_INITIALIZER(store_idem_waits);
static uint64_t			 store_submitted;	/* newest batch sent */
static uint64_t			 store_done_upto;	/* newest batch back */
static struct event		*store_retry_ev;
static struct event		*store_remind_ev;
static int			 store_fault;		/* a commit failed */
static int			 store_retrying;	/* a retry is out */
static int64_t			 store_fault_ms;	/* since when */
static int64_t			 store_backoff_ms;
static char			*store_fault_error;

static void	store_changed(struct task *, enum task_change, enum task_state);
static void	store_idem_wait_free(struct store_idem_wait *);
static void	store_retry_cb(evutil_socket_t, short, void *);
static void	store_remind_cb(evutil_socket_t, short, void *);

const struct task_observer store_observer = { "store", store_changed };

/*
 * Open the store at path: a postgresql:// URI, a SQLite file, or NULL (a
 * private temporary SQLite file, for --memory).
 * done hears of every batch that comes back. 0, or -1 with *err.
 */
int
store_open(struct event_base *base, const char *path, store_done_cb *done,
    void *arg, char **err)
{
	const struct store_ops *ops = &store_sqlite;

	if (path != NULL && (strncmp(path, "postgresql://", 13) == 0 ||
	    strncmp(path, "postgres://", 11) == 0))
		ops = &store_pg;
	task_cluster_set(ops == &store_pg);	/* unplaced commands (§12) */
	return store_open_ops(base, ops, path, done, arg, err);
}

/* The same on a given backend. */
int
store_open_ops(struct event_base *base, const struct store_ops *ops,
    const char *path, store_done_cb *done, void *arg, char **err)
{
	store_ops = ops;
	store_done_fn = done;
	store_done_arg = arg;
	store_retry_ev = evtimer_new(base, store_retry_cb, NULL);
	store_remind_ev = event_new(base, -1, EV_PERSIST, store_remind_cb,
	    NULL);
	if (store_ops->open(base, path, err) != 0) {
		store_ops = NULL;
		return -1;
	}
	return 0;
}

/* Tell fn of every task the retention purge removes. */
void
store_on_purge(store_purged_cb *fn, void *arg)
{
	store_purged_fn = fn;
	store_purged_arg = arg;
}

/* Tell fn of every outbox row once it is stored (or dropped). */
void
store_on_outbox(store_outbox_cb *fn)
{
	store_outbox_fn = fn;
}

/* The one place an outbox row's fields are freed. */
static void
store_delivery_clear(struct store_delivery *d)
{
	free(d->callback);
	free(d->body);
}

/* Keep an outbox row (its strings are taken) for this pass's batch. */
static void
store_outbox_keep(const struct store_delivery *d)
{
	if (store_noutbox == store_outbox_cap) {
		store_outbox_cap = store_outbox_cap == 0 ? 64 :
		    store_outbox_cap * 2;
		store_outbox = xrealloc(store_outbox, store_outbox_cap *
		    sizeof *store_outbox);
	}
	store_outbox[store_noutbox++] = *d;
}

/*
 * A row of a failed batch waits for the retry: after those of earlier
 * failed batches, before this pass's newer rows of the same delivery.
 */
static void
store_outbox_requeue(const struct store_delivery *d)
{
	size_t at = store_nrequeued++;

	store_outbox_keep(d);
	memmove(&store_outbox[at + 1], &store_outbox[at],
	    (store_noutbox - 1 - at) * sizeof *store_outbox);
	store_outbox[at] = *d;
}

/*
 * A callback delivery is new or moved on: its outbox row (copied) goes
 * out in this pass's batch, in the same transaction as the task changes
 * of the pass (the state change that caused a new delivery among them).
 */
void
store_outbox_put(const struct store_delivery *d)
{
	struct store_delivery copy = *d;

	copy.callback = d->callback != NULL ? xstrdup(d->callback) : NULL;
	copy.body = d->body != NULL ? xstrdup(d->body) : NULL;
	store_outbox_keep(&copy);
}

/* Start-up: fn for every pending outbox row. The number, or -1. */
long
store_outbox_load(store_delivery_cb *fn, void *arg, char **err)
{
	return store_ops->outbox(fn, arg, err);
}

/* Close the store once everything sent is back. */
void
store_close(void)
{
	size_t i;

	if (store_ops == NULL)
		return;
	store_drain();
	store_ops->close();
	store_ops = NULL;
	while (!LIST_EMPTY(&store_idem_waits))	/* never to be answered */
		store_idem_wait_free(LIST_FIRST(&store_idem_waits));
	if (store_purge_ev != NULL)
		event_free(store_purge_ev);
	store_purge_ev = NULL;
	event_free(store_retry_ev);
	event_free(store_remind_ev);
	store_retry_ev = store_remind_ev = NULL;
	free(store_fault_error);
	store_fault_error = NULL;
	for (i = 0; i < store_nkeys; i++) {
		free(store_keys[i].key);
		free(store_keys[i].body);
	}
	for (i = 0; i < store_nsdirty; i++)
		free(store_sdirty[i].doc);
	free(store_sdirty);
	store_sdirty = NULL;
	store_nsdirty = store_sdirty_cap = 0;
	free(store_keys);
	free(store_dirty);
	while (store_nstates > 0)
		free(store_states[--store_nstates].doc);
	free(store_states);
	store_states = NULL;
	store_states_cap = 0;
	for (i = 0; i < store_noutbox; i++)
		store_delivery_clear(&store_outbox[i]);
	free(store_outbox);
	store_outbox = NULL;
	store_noutbox = store_outbox_cap = store_nrequeued = 0;
	store_keys = NULL;
	store_dirty = NULL;
	store_nkeys = store_keys_cap = store_ndirty = store_dirty_cap = 0;
}

/* A task changed: it goes out with this pass's batch, held until back. */
static void
store_mark(struct task *t)
{
	if (t->st_dirty)
		return;
	t->st_dirty = 1;
	task_ref(t);
	if (store_ndirty == store_dirty_cap) {
		store_dirty_cap = store_dirty_cap == 0 ? 256 :
		    store_dirty_cap * 2;
		store_dirty = xrealloc(store_dirty, store_dirty_cap *
		    sizeof *store_dirty);
	}
	store_dirty[store_ndirty++] = t;
}

/*
 * A shared store's events are one per state (as the hub's on one node):
 * the states a task passes within one pass are kept, and all but the
 * last (its row's) go out as events rows before the rows.
 */
static void
store_note_state(struct task *t)
{
	struct store_state *st;

	if (!store_shared())
		return;
	if (store_nstates == store_states_cap) {
		store_states_cap = store_states_cap == 0 ? 256 :
		    store_states_cap * 2;
		store_states = xrealloc(store_states, store_states_cap *
		    sizeof *store_states);
	}
	st = &store_states[store_nstates];
	st->task = t;
	task_ref(t);
	st->doc = xstrdup(task_text(t));
	st->i = store_nstates++;
	st->last = 0;
}

/* The observer: every change of a task is stored. */
static void
store_changed(struct task *t, enum task_change what, enum task_state from)
{
	if (what == TASK_WITHDRAWN || t->withdrawn)
		return;
	if (what == TASK_CREATED)
		t->st_new = 1;
	if (what != TASK_TOUCHED)
		store_note_state(t);
	store_mark(t);
}

/* Order the states by task, then place. */
static int
store_state_cmp(const void *a, const void *b)
{
	const struct store_state *x = a, *y = b;

	if (x->task != y->task)
		return (uintptr_t)x->task < (uintptr_t)y->task ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Order the states by place. */
static int
store_state_place(const void *a, const void *b)
{
	const struct store_state *x = a, *y = b;

	return x->i < y->i ? -1 : x->i > y->i;
}

/* The pass's states, but each task's last one, into b's events. */
static void
store_send_states(struct store_batch *b)
{
	struct store_state *st;
	size_t i;

	if (store_nstates > 0) {	/* qsort of NULL is undefined */
		qsort(store_states, store_nstates, sizeof *store_states,
		    store_state_cmp);
		for (i = 0; i < store_nstates; i++)
			store_states[i].last = i + 1 == store_nstates ||
			    store_states[i + 1].task != store_states[i].task;
		qsort(store_states, store_nstates, sizeof *store_states,
		    store_state_place);
	}
	b->events = xcalloc(store_nstates + 1, sizeof *b->events);
	for (i = 0; i < store_nstates; i++) {
		st = &store_states[i];
		if (!st->last && !st->task->withdrawn) {
			ulid_format(&st->task->id, b->events[b->nevents].id);
			b->events[b->nevents++].doc = st->doc;
		} else
			free(st->doc);
		task_unref(st->task);
	}
	store_nstates = 0;
}

/*
 * A task about to be created has an Idempotency-Key: key and body (the
 * canonical request; both stolen) are findable before the task is stored.
 */
void
store_note_key(struct task *t, char *key, char *body)
{
	if (store_nkeys == store_keys_cap) {
		store_keys_cap = store_keys_cap == 0 ? 64 : store_keys_cap * 2;
		store_keys = xrealloc(store_keys, store_keys_cap *
		    sizeof *store_keys);
	}
	store_keys[store_nkeys].task = t;
	store_keys[store_nkeys].key = key;
	store_keys[store_nkeys].body = body;
	store_nkeys++;
	t->st_keyed = 1;
}

/* The in-flight key of a task (it has st_keyed), by its index. */
static size_t
store_key_of(const struct task *t)
{
	size_t i;

	for (i = 0; i < store_nkeys; i++) {
		if (store_keys[i].task == t)
			return i;
	}
	fatalx("store: a keyed task has no key in flight");
}

/* The task's key is stored: forget it in memory. */
static void
store_forget_key(struct task *t)
{
	size_t i = store_key_of(t);

	free(store_keys[i].key);
	free(store_keys[i].body);
	store_keys[i] = store_keys[--store_nkeys];
	t->st_keyed = 0;
}

/* The pending row of a schedule, or NULL. */
static struct store_srow *
store_srow_find(const char *id)
{
	size_t i;

	for (i = 0; i < store_nsdirty; i++) {
		if (strcmp(store_sdirty[i].id, id) == 0)
			return &store_sdirty[i];
	}
	return NULL;
}

/* A schedule row waits for the batch (keep: an older one never wins). */
static void
store_srow_add(const char *id, char *doc, int keep)
{
	struct store_srow *r = store_srow_find(id);

	if (r != NULL && keep) {
		free(doc);
		return;
	}
	if (r == NULL) {
		if (store_nsdirty == store_sdirty_cap) {
			store_sdirty_cap = store_sdirty_cap == 0 ? 16 :
			    store_sdirty_cap * 2;
			store_sdirty = xrealloc(store_sdirty, store_sdirty_cap *
			    sizeof *store_sdirty);
		}
		r = &store_sdirty[store_nsdirty++];
		snprintf(r->id, sizeof r->id, "%s", id);
	} else
		free(r->doc);
	r->doc = doc;
}

/*
 * A schedule changed: its JSON (stolen; NULL: it is deleted) goes out with
 * this pass's batch, beside the task its run created.
 */
void
store_schedule_put(const struct ulid *id, char *doc)
{
	char buf[ULID_LEN + 1];

	ulid_format(id, buf);
	store_srow_add(buf, doc, 0);
}

/* Are there changes of this pass not yet sent? */
static int
store_dirty_any(void)
{
	return store_ndirty > 0 || store_nsdirty > 0 || store_noutbox > 0;
}

/* The batch that will hold this pass's changes (or the newest sent). */
uint64_t
store_next_seq(void)
{
	return store_submitted + store_dirty_any();
}

/* Every batch up to this one is back. */
uint64_t
store_done_seq(void)
{
	return store_done_upto;
}

/* Has this pass changed anything yet to be sent (now: not in a fault)? */
int
store_pending(void)
{
	return store_dirty_any() && !store_fault;
}

/*
 * When a task next wakes, for recovery's order: a scheduled task at its
 * start, a running one at its kind's deadline or its timeout. 0: one that
 * waits for nothing timed (cancelling, a running command) or holds what
 * others wait for (a slot, a key), read back before READY; 1: a queued
 * one, read back first after READY.
 */
static int64_t
store_due(const struct task *t)
{
	const struct task_policy *p = TASK_POL(t);
	int64_t at = TASK_TIME_NONE, to = task_timeout_ms(t);

	if (task_state_terminal(t->state))
		return TASK_TIME_NONE;
	if (t->state == TASK_SCHEDULED)
		return t->queued ? 1 : t->start_at;
	/* What holds a job slot or a concurrency key is back before READY. */
	if (p != NULL && (p->key != NULL || p->has_slot || p->counted))
		return 0;
	if (t->state == TASK_RUNNING)
		at = t->deadline;
	if (at != TASK_TIME_NONE && to != TASK_TIME_NONE &&
	    t->started_at + to < at)
		at = t->started_at + to;
	return at != TASK_TIME_NONE ? at : 0;
}

/* One row of a batch from a task; the task's rendered JSON moves in. */
static void
store_fill_row(struct store_row *r, struct task *t)
{
	const struct task_policy *p = TASK_POL(t);
	size_t k;

	ulid_format(&t->id, r->id);
	r->kind = task_kind(t)->name;
	r->state = t->state;
	r->finished_at = t->finished_at;
	r->due_at = store_due(t);
	r->unplaced = t->unplaced;
	r->doc = task_text_take(t);
	if (p != NULL && p->has_schedule)
		ulid_format(&p->schedule_id, r->schedule_id);
	if (t->st_keyed) {
		k = store_key_of(t);
		r->idem_key = xstrdup(store_keys[k].key);
		r->idem_body = xstrdup(store_keys[k].body);
	}
}

/* Send the dirty tasks (withdrawn ones are dropped) as one batch. */
static void
store_send(int retry)
{
	struct store_batch *b = xcalloc(1, sizeof *b);
	struct task *t;
	size_t i;

	b->rows = xcalloc(store_ndirty + 1, sizeof *b->rows);
	b->tasks = xcalloc(store_ndirty + 1, sizeof *b->tasks);
	for (i = 0; i < store_ndirty; i++) {
		t = store_dirty[i];
		t->st_dirty = 0;
		if (t->withdrawn) {
			task_unref(t);
			continue;
		}
		store_fill_row(&b->rows[b->nrows], t);
		b->tasks[b->nrows++] = t;  /* the reference moves to the batch */
	}
	store_ndirty = 0;
	b->deliveries = store_outbox;	/* the pass's outbox rows move in */
	b->ndeliveries = store_noutbox;
	store_outbox = NULL;
	store_noutbox = store_outbox_cap = store_nrequeued = 0;
	b->srows = store_sdirty;
	b->nsrows = store_nsdirty;
	store_sdirty = NULL;
	store_nsdirty = store_sdirty_cap = 0;
	store_send_states(b);
	b->retry = retry;
	b->seq = ++store_submitted;
	store_ops->submit(b);
}

/*
 * The end of a loop pass: send what the pass changed to the backend as
 * one batch (seq store_next_seq() gave out). In a fault the changes wait
 * for the next retry.
 */
void
store_flush(void)
{
	if (!store_dirty_any() || store_fault)
		return;
	store_send(0);
}

/* May new changes be accepted (is the store writable, as far as known)? */
int
store_writable(void)
{
	return !store_fault;
}

/* When a client refused in a fault should come back, in seconds. */
int
store_retry_after_s(void)
{
	return (int)(store_backoff_ms + 999) / 1000 + 1;
}

/* Time for a retry: send what waits, as the batch that lifts the fault. */
static void
store_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!store_fault || store_retrying)
		return;
	store_retrying = 1;
	store_send(1);
}

/* While the fault lasts, say so now and then. */
static void
store_remind_cb(evutil_socket_t fd, short what, void *arg)
{
	log_error("store: still cannot write after %llds (%s); %zu tasks' "
	    "changes wait, new changes get 503",
	    (long long)(clock_now_ms() - store_fault_ms) / 1000,
	    store_fault_error, store_ndirty);
}

/* A commit failed: enter the fault, or back off further. */
static void
store_failed(const struct store_batch *b)
{
	struct timeval tv;

	store_retrying = 0;
	if (!store_fault) {
		store_fault = 1;
		store_fault_ms = clock_now_ms();
		store_backoff_ms = STORE_RETRY_FIRST_MS;
		free(store_fault_error);
		store_fault_error = xstrdup(b->error != NULL ? b->error : "?");
		log_error("store: cannot write (%s); new changes get 503 and "
		    "waiting ones are retried with back-off until it can",
		    store_fault_error);
		tv.tv_sec = STORE_REMIND_S;
		tv.tv_usec = 0;
		event_add(store_remind_ev, &tv);
	} else if (b->retry && store_backoff_ms < STORE_RETRY_MAX_MS)
		store_backoff_ms *= 2;
	if (store_backoff_ms > STORE_RETRY_MAX_MS)
		store_backoff_ms = STORE_RETRY_MAX_MS;
	tv.tv_sec = (time_t)(store_backoff_ms / 1000);
	tv.tv_usec = (suseconds_t)(store_backoff_ms % 1000) * 1000;
	evtimer_add(store_retry_ev, &tv);
}

/* A retry committed: the fault is over. */
static void
store_recovered(void)
{
	store_retrying = 0;
	if (!store_fault)
		return;
	store_fault = 0;
	evtimer_del(store_retry_ev);
	event_del(store_remind_ev);
	log_warn("store: writable again after %llds",
	    (long long)(clock_now_ms() - store_fault_ms) / 1000);
}

/* The one place a batch is freed. */
static void
store_batch_free(struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		free(b->rows[i].doc);
		free(b->rows[i].idem_key);
		free(b->rows[i].idem_body);
	}
	for (i = 0; i < b->ndeliveries; i++)
		store_delivery_clear(&b->deliveries[i]);
	free(b->deliveries);
	for (i = 0; i < b->nsrows; i++)
		free(b->srows[i].doc);
	free(b->srows);
	for (i = 0; i < b->nevents; i++)
		free(b->events[i].doc);
	free(b->events);
	free(b->rows);
	free(b->tasks);
	free(b->purged_ids);
	free(b->error);
	free(b);
}

static void	store_purged(int);

/*
 * The tasks of a failed batch that were never stored: their creation
 * failed and their clients hear so, so they must never be written (the
 * 0.1 store retried them, and a create answered 500 ran later). Collected
 * into lost (b->nrows long); their keys are forgotten. The number.
 */
static size_t
store_lost(struct store_batch *b, struct task **lost)
{
	struct task *t;
	size_t i, n = 0;

	for (i = 0; i < b->nrows; i++) {
		t = b->tasks[i];
		if (!t->st_new || t->withdrawn)
			continue;
		if (t->st_keyed)
			store_forget_key(t);
		lost[n++] = t;
	}
	return n;
}

/* Was the task of this id lost with a failed batch? */
static int
store_is_lost(const char *id, struct task *const *lost, size_t nlost)
{
	char lid[ULID_LEN + 1];
	size_t i;

	for (i = 0; i < nlost; i++) {
		ulid_format(&lost[i]->id, lid);
		if (strcmp(lid, id) == 0)
			return 1;
	}
	return 0;
}

/*
 * The outbox rows of a batch that is back: stored, their owner hears so;
 * failed, they wait for the retry with the task changes, unless their
 * task was lost (never to be written: dropped, and the owner hears that).
 */
static void
store_outbox_back(struct store_batch *b, struct task *const *lost,
    size_t nlost)
{
	struct store_delivery *d;
	size_t i;

	for (i = 0; i < b->ndeliveries; i++) {
		d = &b->deliveries[i];
		if (b->rc != 0 && !store_is_lost(d->task_id, lost, nlost)) {
			store_outbox_requeue(d);	/* moves back */
			memset(d, 0, sizeof *d);
			continue;
		}
		if (store_outbox_fn != NULL && d->owner != NULL)
			store_outbox_fn(d->owner, b->rc == 0 ? 0 : -1);
	}
}

/*
 * A batch is back from the backend, committed or failed: tell who waits
 * (and which tasks were lost), keep a failed change of a stored task for
 * the retry, and let go of the tasks.
 */
void
store_done(struct store_batch *b)
{
	struct task **lost = xcalloc(b->nrows + 1, sizeof *lost), *t;
	size_t i, nlost = 0;

	if (b->nrows > 0 && b->rc == 0)
		metrics_commit(b->commit_us, b->nrows);
	if (b->rc != 0) {
		store_failed(b);
		nlost = store_lost(b, lost);
	} else if (b->retry)
		store_recovered();
	if (b->seq > store_done_upto)
		store_done_upto = b->seq;
	log_debug("store: batch %llu back: rc %d, %zu rows, %zu lost%s",
	    (unsigned long long)b->seq, b->rc, b->nrows, nlost,
	    b->retry ? " (retry)" : "");
	store_outbox_back(b, lost, nlost);
	store_done_fn(b->seq, b->rc, lost, nlost, store_done_arg);
	for (i = 0; i < b->nrows; i++) {
		t = b->tasks[i];
		if (b->rc != 0 && !t->withdrawn)
			store_mark(t);
		else if (b->rc == 0 && b->rows[i].idem_key != NULL &&
		    t->st_keyed)
			store_forget_key(t);
		if (b->rc == 0)
			t->st_new = 0;
		if (b->rc == 0 && t->unplaced && !t->withdrawn)
			task_let_go(t);	/* stored; a node with its job claims it */
		task_unref(t);
	}
	for (i = 0; b->rc != 0 && i < b->nsrows; i++) {
		store_srow_add(b->srows[i].id, b->srows[i].doc, 1);
		b->srows[i].doc = NULL;
	}
	for (i = 0; b->rc == 0 && store_purged_fn != NULL &&
	    i < (size_t)b->purged; i++)
		store_purged_fn(b->purged_ids[i], store_purged_arg);
	if (b->purge_batch > 0)
		store_purged(b->rc == 0 ? b->purged : 0);
	free(lost);
	store_batch_free(b);
}

/*
 * Wait until everything sent is back (start-up and shutdown only: this
 * blocks the loop). In a fault, one more try; if that fails too the
 * changes stay unstored: -1 (logged), 0 when all is stored.
 */
int
store_drain(void)
{
	if (store_ops == NULL)
		return 0;
	if (store_fault && store_dirty_any() && !store_retrying) {
		store_retrying = 1;
		store_send(1);
	}
	store_flush();
	while (store_done_upto < store_submitted) {
		store_ops->wait();
		store_flush();
	}
	if (!store_fault)
		return 0;
	log_error("store: cannot write (%s): the changes of %zu tasks are "
	    "not stored", store_fault_error, store_ndirty);
	return -1;
}

/* Is the store shared by several nodes (PostgreSQL)? */
int
store_shared(void)
{
	return store_ops == &store_pg;
}

/*
 * The stored JSON of a task, through fn: at once (NULL) or later (the read,
 * to drop if its caller goes first).
 */
struct store_read *
store_get(const struct ulid *id, store_got_cb *fn, void *arg)
{
	return store_ops->get(id, fn, arg);
}

/* The in-flight key of this name, by its index, or -1. */
static ssize_t
store_key_find(const char *key)
{
	size_t i;

	for (i = 0; i < store_nkeys; i++) {
		if (strcmp(store_keys[i].key, key) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* The one place a key's wait is freed (out of the list if it was in). */
static void
store_idem_wait_free(struct store_idem_wait *w)
{
	if (w->rd != NULL)
		LIST_REMOVE(w, entry);
	free(w->key);
	free(w);
}

/* The backend answered a key: "new" is checked against keys in flight. */
static void
store_idem_back_cb(void *arg, int rc, const struct ulid *id, char *body)
{
	struct store_idem_wait *w = arg;
	store_idem_cb *fn = w->fn;
	void *fn_arg = w->arg;
	ssize_t k = rc == 0 ? store_key_find(w->key) : -1;

	store_idem_wait_free(w);
	if (k >= 0)
		fn(fn_arg, 1, &store_keys[k].task->id,
		    xstrdup(store_keys[k].body));
	else
		fn(fn_arg, rc, id, body);
}

/*
 * The task created with an Idempotency-Key, through fn: its id and the body
 * it was created from, or 0 if the key is new. Keys not yet committed are
 * found in memory, at once, and again when the backend answers later (a
 * create of the same key may have come first).
 */
struct store_read *
store_find_idem(const char *key, store_idem_cb *fn, void *arg)
{
	struct store_idem_wait *w;
	struct store_read *rd;
	ssize_t k = store_key_find(key);

	if (k >= 0) {
		fn(arg, 1, &store_keys[k].task->id,
		    xstrdup(store_keys[k].body));
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	w->key = xstrdup(key);
	w->fn = fn;
	w->arg = arg;
	if ((rd = store_ops->find_idem(key, store_idem_back_cb, w)) == NULL)
		return NULL;		/* answered (w is gone) */
	w->rd = rd;
	LIST_INSERT_HEAD(&store_idem_waits, w, entry);
	return rd;
}

/*
 * A page of stored tasks, newest first: row for each of at most f->limit
 * rows, then done (1 if more follow, 0 if not, -1 on error). The backend
 * reads f at once (the caller's copy may go). The listing shows what is
 * committed: a change is there once its answer went out.
 */
struct store_read *
store_list(const struct store_filter *f, store_row_cb *row,
    store_listed_cb *done, void *arg)
{
	return store_ops->list(f, row, done, arg);
}

/* A read not yet answered is of no more use: its callback never runs. */
void
store_read_drop(struct store_read *rd)
{
	struct store_idem_wait *w;

	if (rd == NULL)
		return;
	LIST_FOREACH(w, &store_idem_waits, entry) {
		if (w->rd == rd) {
			store_idem_wait_free(w);
			break;
		}
	}
	store_ops->read_drop(rd);
}

/* The highest task id stored into *max (zero if none); 0 or -1. */
int
store_max_id(struct ulid *max)
{
	memset(max, 0, sizeof *max);
	return store_ops->max_id(max);
}

/*
 * Recovery, a chunk at a time: fn for at most limit tasks that had not
 * ended, after *w (start with due_at TASK_TIME_NONE), earliest wake-up
 * first, until fn returns non-zero. The number read (0: all are), or -1
 * with *err.
 */
long
store_load(struct store_walk *w, int limit, store_row_cb *fn, void *arg,
    char **err)
{
	return store_ops->load(w, limit, fn, arg, err);
}

/* One task that had not ended, by id: fn for it and 1, 0 if none, -1. */
int
store_load_one(const struct ulid *id, store_row_cb *fn, void *arg)
{
	return store_ops->load_one(id, fn, arg);
}

/* At start: fn for every stored schedule, in id order; -1 with *err. */
long
store_load_schedules(store_row_cb *fn, void *arg, char **err)
{
	return store_ops->load_schedules(fn, arg, err);
}

/* Ask the backend to purge a batch of tasks older than retention_s. */
static void
store_purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_batch *b;

	struct timeval tv = { STORE_PURGE_INTERVAL_S, 0 };

	if (store_purging)
		return;
	if (store_fault) {		/* purge later */
		evtimer_add(store_purge_ev, &tv);
		return;
	}
	b = xcalloc(1, sizeof *b);
	b->purge_cutoff = clock_now_ms() - cfg->retention_s * 1000;
	b->purge_batch = STORE_PURGE_BATCH;
	b->seq = ++store_submitted;
	store_purging = 1;
	store_ops->submit(b);
}

/* A purge came back: come back soon if there is more to do. */
static void
store_purged(int n)
{
	struct timeval tv = { STORE_PURGE_INTERVAL_S, 0 };

	store_purging = 0;
	if (n > 0)
		log_debug("store: purged %d tasks older than retention_s", n);
	if (n == STORE_PURGE_BATCH) {
		tv.tv_sec = 0;
		tv.tv_usec = 10000;	/* more to do: let requests in first */
	}
	if (store_purge_ev != NULL)
		evtimer_add(store_purge_ev, &tv);
}

/* Purge expired tasks in small batches, off the request path. */
void
store_start_purge(struct event_base *base)
{
	struct timeval tv = { 0, 0 };

	store_purge_ev = evtimer_new(base, store_purge_cb, NULL);
	evtimer_add(store_purge_ev, &tv);
}
