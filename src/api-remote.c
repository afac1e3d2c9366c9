/*
 * api-remote.c -- GET ?wait= and DELETE of a task another node runs (a
 * shared store, CONTRACT §12). The request waits on the hub for the
 * task's terminal event (the events tail brings every node's), and reads
 * the store: a task already ended answers at once. A cancel first stores
 * a request for the owner (pg-events.c), which cancels it as a DELETE on
 * it would; the answer comes with the terminal event, after the owner's
 * cleanup, as on one node.
 *
 * The waiter is on the hub before the read starts, so a task that ends
 * between the two is seen by one or the other.
 *
 * An unclaimed task (no node has its job, CONTRACT §12) has nobody to
 * take a request: this node claims it (fenced, SKIP LOCKED) and cancels
 * it as its own. A cancel that no live node can carry out (its owner is
 * dead and no live node has its job) does not wait for ever: every
 * API_REMOTE_CHECK_MS the store is asked, and then the answer is 202,
 * the request stored for the node that adopts the task.
 *
 * Also a create with on_conflict reject on a shared store: the cluster
 * claims its key first (race-free between nodes), 409 as on one node.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_REMOTE_CHECK_MS	2000	/* a cancel asks if it can end */
#define API_REMOTE_CLAIM_TRIES	50	/* an unclaimed task being claimed */

struct api_remote {
	struct http_request	*req;		/* NULL once answered or gone */
	struct ulid		 id;
	struct hub_waiter	*w;
	struct store_read	*rd;
	int			 cancel;	/* a DELETE */
	int			 wait;		/* DELETE ?wait= (default true) */
	int			 requesting;	/* the request or claim is out */
	int			 tries;		/* claims that found it taken */
	int			 requested;	/* the cancel request is stored */
	char			*message;
	char			*doc;		/* the task as read */
};

static void	api_remote_read(struct api_remote *, store_got_cb *);
static void	api_remote_got_cb(void *, int, char *);
static void	api_remote_wake_cb(void *, struct hub_wake *);

/* The one place a context is freed (nothing of it still out). */
static void
api_remote_free(struct api_remote *r)
{
	free(r->message);
	free(r->doc);
	free(r);
}

/* Stop waiting and reading; the context goes unless a request is out. */
static void
api_remote_end(struct api_remote *r)
{
	if (r->w != NULL)
		hub_waiter_cancel(r->w);
	r->w = NULL;
	if (r->rd != NULL)
		store_read_drop(r->rd);
	r->rd = NULL;
	r->req = NULL;
	if (!r->requesting)
		api_remote_free(r);
}

/* The client left (or the daemon stops). */
static void
api_remote_gone_cb(struct http_request *req, void *arg)
{
	api_remote_end(arg);
}

/* Is a task document's state terminal? Its state's name in *state. */
static int
api_remote_terminal(const char *doc, const char **state, json_t **v)
{
	json_t *s;
	int st;

	*v = json_loads(doc, 0, NULL);
	s = json_object_get(*v, "state");
	*state = json_is_string(s) ? json_string_value(s) : "?";
	st = task_state_parse(*state);
	return st >= 0 && task_state_terminal((enum task_state)st);
}

/* Answer with the task's JSON (taken) and end. */
static void
api_remote_answer(struct api_remote *r, unsigned status, char *doc)
{
	http_reply(r->req, status, "application/json", doc, strlen(doc));
	api_remote_end(r);
}

/* A terminal task: GET 200; DELETE 200 if it ended cancelled, else 409. */
static void
api_remote_ended(struct api_remote *r, char *doc)
{
	const char *state;
	json_t *v;

	if (!r->cancel) {
		api_remote_answer(r, 200, doc);
		return;
	}
	api_remote_terminal(doc, &state, &v);
	if (strcmp(state, "cancelled") == 0) {
		json_decref(v);
		metrics_cancel_latency(http_age_us(r->req));
		api_remote_answer(r, 200, doc);
		return;
	}
	free(doc);
	http_problem_extra(r->req, 409, "task-finished", json_pack("{s:o}",
	    "task", v), "the task already ended (%s); it cannot be cancelled",
	    state);
	api_remote_end(r);
}

/* The owner has the cancel request (stored), or it could not be stored. */
static void
api_remote_requested_cb(void *arg, int rc)
{
	struct api_remote *r = arg;
	char *doc;

	r->requesting = 0;
	if (r->req == NULL) {
		api_remote_free(r);
		return;
	}
	if (rc != 0) {
		api_store_unavailable(r->req, "the store cannot be written; "
		    "the cancel was not requested");
		api_remote_end(r);
		return;
	}
	r->requested = 1;
	if (!r->wait) {
		doc = r->doc;		/* the reply takes it */
		r->doc = NULL;
		api_remote_answer(r, 202, doc);
	}
}

/* The task's owner in its document ("node"), or NULL (none claimed it). */
static char *
api_remote_owner(const char *doc)
{
	json_t *v = json_loads(doc, 0, NULL);
	json_t *n = json_object_get(v, "node");
	char *owner = json_is_string(n) ? xstrdup(json_string_value(n)) :
	    NULL;

	json_decref(v);
	return owner;
}

/* Is a task document unclaimed and scheduled (CONTRACT §12)? */
static int
api_remote_unclaimed(const char *doc)
{
	json_t *v = json_loads(doc, 0, NULL);
	json_t *n = json_object_get(v, "node");
	json_t *s = json_object_get(v, "state");
	int yes = json_is_null(n) && json_is_string(s) &&
	    strcmp(json_string_value(s), "scheduled") == 0;

	json_decref(v);
	return yes;
}

/* A running task, to cancel: ask its owner, then wait for its end. */
static void
api_remote_request(struct api_remote *r)
{
	char *owner = api_remote_owner(r->doc);

	r->requesting = 1;
	if (store_cancel_remote(&r->id, r->message, owner != NULL ? owner :
	    "", api_remote_requested_cb, r) != 0) {
		r->requesting = 0;
		api_remote_requested_cb(r, -1);
	}
	free(owner);
}

/* The claimed task's document into memory: NULL if it cannot be read. */
static struct task *
api_remote_load(const struct ulid *id, const char *doc)
{
	json_t *v = json_loads(doc, 0, NULL);
	struct task *t = v != NULL ? task_from_json(v) : NULL;
	char buf[ULID_LEN + 1];

	json_decref(v);
	if (t == NULL) {
		ulid_format(id, buf);
		log_error("store: task %s cannot be read back; it stays in "
		    "the store, claimed by this node", buf);
	}
	return t;
}

/*
 * The claimed task is ours: cancelled now (also if the client left: its
 * DELETE came), and the request goes on as a DELETE of a task in memory.
 */
static void
api_remote_take(struct api_remote *r, const char *doc)
{
	struct http_request *req = r->req;
	struct task *t = registry_find(&r->id);
	enum task_cancel_result how;
	int wait;

	if (t == NULL && (t = api_remote_load(&r->id, doc)) == NULL) {
		if (req != NULL)
			api_store_failed(req);
		api_remote_end(r);
		return;
	}
	how = registry_has(&r->id) != NULL ? task_cancel(t, CANCEL_CLIENT,
	    r->message) : task_claim_cancel(t, r->message);
	wait = r->wait;
	r->req = NULL;		/* the request is the local cancel's now */
	api_remote_end(r);
	if (req != NULL)
		api_cancel_answer(req, t, how, wait);
}

/*
 * The claim ended: the task is ours (rc 1), or it was not to be had (0:
 * claimed or being claimed meanwhile: read it again and go on as it is
 * then), or the store failed (-1: 503).
 */
static void
api_remote_claimed_cb(void *arg, int rc, const char *doc)
{
	struct api_remote *r = arg;

	r->requesting = 0;
	if (rc == 1) {
		api_remote_take(r, doc);
		return;
	}
	if (r->req == NULL) {
		api_remote_free(r);
		return;
	}
	if (rc == 0) {
		r->tries++;
		api_remote_read(r, api_remote_got_cb);
		return;
	}
	api_store_unavailable(r->req, "the store cannot be written; the task "
	    "was not cancelled");
	api_remote_end(r);
}

/* An unclaimed task, to cancel: claim it, then cancel it here. */
static void
api_remote_claim(struct api_remote *r)
{
	r->requesting = 1;
	if (store_claim_unplaced(&r->id, api_remote_claimed_cb, r) != 0) {
		r->requesting = 0;
		api_remote_claimed_cb(r, -1, NULL);
	}
}

/* A read found no task (404) or failed (500): answered and ended, 1. */
static int
api_remote_missing(struct api_remote *r, int rc, char *doc)
{
	if (rc > 0)
		return 0;
	free(doc);
	if (rc < 0)
		api_store_failed(r->req);
	else
		api_task_not_found(r->req, http_param(r->req));
	api_remote_end(r);
	return 1;
}

/* The store answered: an ended task answers now; a running one waits. */
static void
api_remote_got_cb(void *arg, int rc, char *doc)
{
	struct api_remote *r = arg;
	const char *state;
	json_t *v;
	int ended;

	r->rd = NULL;
	if (api_remote_missing(r, rc, doc))
		return;
	ended = api_remote_terminal(doc, &state, &v);
	json_decref(v);
	if (ended) {
		api_remote_ended(r, doc);
		return;
	}
	free(r->doc);
	r->doc = doc;
	if (r->cancel && api_remote_unclaimed(doc) &&
	    r->tries < API_REMOTE_CLAIM_TRIES)
		api_remote_claim(r);
	else if (r->cancel)
		api_remote_request(r);
}

/* The long-poll's limit: the task as the store has it now. */
static void
api_remote_now_cb(void *arg, int rc, char *doc)
{
	struct api_remote *r = arg;

	r->rd = NULL;
	if (api_remote_missing(r, rc, doc))
		return;
	api_remote_answer(r, 200, doc);
}

/* Read the task; cb answers, perhaps before this returns (r gone). */
static void
api_remote_read(struct api_remote *r, store_got_cb *cb)
{
	struct store_read *rd = store_get(&r->id, cb, r);

	if (rd != NULL)
		r->rd = rd;
}

/*
 * A cancel's look at the store: the task ended (answered as when its end
 * came), or no live node can end it (202: the request stays stored for
 * the node that adopts it), or it goes on waiting.
 */
static void
api_remote_endable_cb(void *arg, int rc, char *doc, int can)
{
	struct api_remote *r = arg;
	const char *state;
	json_t *v;
	int ended;

	r->rd = NULL;
	if (rc < 0) {
		free(doc);
		return;			/* the next look asks again */
	}
	if (api_remote_missing(r, rc, doc))
		return;
	ended = api_remote_terminal(doc, &state, &v);
	json_decref(v);
	if (ended)
		api_remote_ended(r, doc);
	else if (!can)
		api_remote_answer(r, 202, doc);
	else
		free(doc);
}

/* A waiting cancel's limit came: wait on, and look at the store. */
static void
api_remote_look(struct api_remote *r)
{
	struct store_read *rd;

	r->w = hub_wait_remote(&r->id, API_REMOTE_CHECK_MS,
	    api_remote_wake_cb, r, 200);
	if (!r->requested || r->requesting || r->rd != NULL)
		return;
	if ((rd = store_endable(&r->id, api_remote_endable_cb, r)) != NULL)
		r->rd = rd;
}

/* The hub woke the waiter: the task ended, or the limit, or a stop. */
static void
api_remote_wake_cb(void *arg, struct hub_wake *wk)
{
	struct api_remote *r = arg;

	r->w = NULL;
	if (wk->outcome == HUB_NOW && r->cancel) {
		api_remote_look(r);
		return;
	}
	if (r->rd != NULL)
		store_read_drop(r->rd);
	r->rd = NULL;
	switch (wk->outcome) {
	case HUB_STORED:
		api_remote_ended(r, wk->text);
		wk->text = NULL;
		break;
	case HUB_NOW:
		api_remote_read(r, api_remote_now_cb);
		break;
	default:
		http_problem(r->req, 503, "shutting-down", "the daemon is "
		    "stopping; the task goes on on its node");
		api_remote_end(r);
		break;
	}
}

/* Wait for task id's end (limit_ms, -1: none) and read it. */
static struct api_remote *
api_remote_start(struct http_request *req, const struct ulid *id,
    int64_t limit_ms)
{
	struct api_remote *r = xcalloc(1, sizeof *r);

	r->req = req;
	r->id = *id;
	r->w = hub_wait_remote(id, limit_ms, api_remote_wake_cb, r, 200);
	http_suspend(req, api_remote_gone_cb, r);
	return r;
}

/* GET /v1/tasks/ID?wait=S of a task this node does not run. */
void
api_remote_wait(struct http_request *req, const struct ulid *id,
    int64_t limit_ms)
{
	api_remote_read(api_remote_start(req, id, limit_ms),
	    api_remote_got_cb);
}

/* DELETE /v1/tasks/ID of a task this node does not run. */
void
api_remote_cancel(struct http_request *req, const struct ulid *id,
    const char *message, int wait)
{
	struct api_remote *r = api_remote_start(req, id, API_REMOTE_CHECK_MS);

	r->cancel = 1;
	r->wait = wait;
	r->message = message != NULL ? xstrdup(message) : NULL;
	api_remote_read(r, api_remote_got_cb);
}

/*
 * A create with on_conflict reject on a shared store: the cluster says
 * whether its key is free (race-free between nodes: pg-slots.c) before
 * the task goes in; 409 with the task in its way, as on one node.
 */
struct api_reject {
	struct http_request	*req;
	struct task		*t;		/* not yet submitted */
	char			*canonical;	/* the Idempotency-Key's body */
	char			*key;		/* its concurrency key */
	struct store_claim	*claim;		/* out */
	struct store_read	*rd;		/* the holder's read */
	char			*holder;
};

/* The one place a reject's context is freed (with its unsubmitted task). */
static void
api_reject_free(struct api_reject *j)
{
	if (j->t != NULL)
		task_free(j->t);
	free(j->canonical);
	free(j->key);
	free(j->holder);
	free(j);
}

/* The client left (or the daemon stops): a claim made goes too. */
static void
api_reject_gone_cb(struct http_request *req, void *arg)
{
	struct api_reject *j = arg;

	if (j->claim != NULL) {
		store_key_claim_drop(j->claim);
		store_slot_release(&j->t->id);	/* if it was held */
	}
	if (j->rd != NULL)
		store_read_drop(j->rd);
	api_reject_free(j);
}

/* 409 with the task in the way (its document, taken; NULL: its id only). */
static void
api_reject_conflict(struct api_reject *j, char *doc)
{
	json_t *v = doc != NULL ? json_loads(doc, 0, NULL) : NULL;

	if (v == NULL)
		v = json_pack("{s:s}", "id", j->holder);
	http_problem_extra(j->req, 409, "concurrency-key-taken",
	    json_pack("{s:o}", "task", v), "concurrency key '%s' is held by "
	    "task %s", j->key, j->holder);
	free(doc);
	api_reject_free(j);
}

/* The holder as the store has it. */
static void
api_reject_got_cb(void *arg, int rc, char *doc)
{
	struct api_reject *j = arg;

	j->rd = NULL;
	if (rc <= 0) {
		free(doc);
		doc = NULL;
	}
	api_reject_conflict(j, doc);
}

/* The key is taken by holder: its document, from memory or the store. */
static void
api_reject_held(struct api_reject *j, const char *holder)
{
	struct store_read *rd;
	struct task *h;
	struct ulid id;

	j->holder = xstrdup(holder);
	if (ulid_parse(holder, &id) != 0) {
		api_reject_conflict(j, NULL);
		return;
	}
	if ((h = registry_find(&id)) != NULL) {
		api_reject_conflict(j, task_to_text(h));
		return;
	}
	rd = store_get(&id, api_reject_got_cb, j);
	if (rd != NULL)
		j->rd = rd;
}

/* The cluster answered: the task goes in, or 409, or 503. */
static void
api_reject_claimed_cb(void *arg, int rc, const char *holder)
{
	struct api_reject *j = arg;
	struct task *t = j->t;

	j->claim = NULL;
	if (rc < 0) {
		api_store_unavailable(j->req, "the store cannot check the "
		    "concurrency key; nothing was created");
		api_reject_free(j);
		return;
	}
	if (rc > 0) {
		api_reject_held(j, holder);
		return;
	}
	if (api_refuse_conflict(j->req, t) != 0) {	/* one came here */
		store_slot_release(&t->id);
		j->t = NULL;		/* freed by the refusal */
		api_reject_free(j);
		return;
	}
	sched_claimed(t);
	j->t = NULL;
	api_create_submit(j->req, t, j->canonical);
	j->canonical = NULL;
	api_reject_free(j);
}

/* POST /v1/tasks of a task with on_conflict reject, on a shared store. */
void
api_remote_reject(struct http_request *req, struct task *t, const char *key,
    char *canonical)
{
	struct api_reject *j = xcalloc(1, sizeof *j);

	j->req = req;
	j->t = t;
	j->key = xstrdup(key);
	j->canonical = canonical;
	j->claim = store_key_claim(&t->id, key, api_reject_claimed_cb, j);
	if (j->claim == NULL) {
		api_reject_claimed_cb(j, -1, NULL);
		return;
	}
	http_suspend(req, api_reject_gone_cb, j);
}
