/*
 * api-wait.c -- answers that wait: a request is parked, and a hub waiter
 * answers it when the task's change is committed or the task ends, or a
 * store read answers it when the store does (PostgreSQL: later).
 */

#include "evtaskd.h"

#include <stdio.h>
#include <string.h>

/* 500 for a store that failed a read or a write. */
void
api_store_failed(struct http_request *req)
{
	http_problem(req, 500, "store-failed", "the store failed; see the "
	    "daemon's log");
}

/* The store's Retry-After (when it tries to write again) on req. */
void
api_retry_after(struct http_request *req)
{
	char ra[16];

	snprintf(ra, sizeof ra, "%d", store_retry_after_s());
	http_set_header(req, "Retry-After", ra);
}

/* 503 for a store that cannot be written or read now: try again later. */
void
api_store_unavailable(struct http_request *req, const char *detail)
{
	api_retry_after(req);
	http_problem(req, 503, "store-unavailable", "%s", detail);
}

/* The client left while parked: its waiter goes. */
static void
api_wait_gone_cb(struct http_request *req, void *arg)
{
	hub_waiter_cancel(arg);
}

/* Answer with the task as stored (its text is taken). */
static void
api_wait_answer(struct http_request *req, struct hub_wake *wk)
{
	char id[ULID_LEN + 1], loc[64];
	char *text = wk->text;

	if (wk->tag == 201) {
		ulid_format(&wk->id, id);
		snprintf(loc, sizeof loc, "/v1/tasks/%s", id);
		http_set_header(req, "Location", loc);
		snprintf(loc, sizeof loc, "created=%s", id);
		http_log_note(req, loc);
	}
	if (strcmp(http_method(req), "DELETE") == 0)
		metrics_cancel_latency(http_age_us(req));
	wk->text = NULL;		/* MHD frees it */
	http_reply(req, wk->tag, "application/json", text, strlen(text));
}

/*
 * The commit of the request's change failed: 503. A create did not happen
 * (the task is withdrawn); a cancel did, in memory: it goes on and ends
 * the task cancelled, stored once the store can be written.
 */
static void
api_wait_failed(struct http_request *req, struct hub_wake *wk)
{
	json_t *task = wk->text != NULL ? json_loads(wk->text, 0, NULL) : NULL;

	if (strcmp(http_method(req), "POST") == 0 || task == NULL) {
		json_decref(task);
		api_store_unavailable(req, "the store cannot be written; "
		    "nothing was created or changed");
		return;
	}
	api_retry_after(req);
	http_problem_extra(req, 503, "store-unavailable", json_pack("{s:o}",
	    "task", task), "the store cannot be written; the cancel is "
	    "underway and the task still ends cancelled, stored once the "
	    "store can be written again");
}

/* While the store cannot be written, new changes are refused: 503. */
int
api_refuse_if_unwritable(struct http_request *req)
{
	if (store_writable())
		return 0;
	api_store_unavailable(req, "the store cannot be written (see the "
	    "daemon's log); reads still work");
	return -1;
}

/* The hub woke a parked request: answer it. */
static void
api_wait_wake_cb(void *arg, struct hub_wake *wk)
{
	struct http_request *req = arg;

	switch (wk->outcome) {
	case HUB_STORED:
	case HUB_NOW:
		api_wait_answer(req, wk);
		break;
	case HUB_FAILED:
		if (strcmp(http_method(req), "GET") == 0)
			api_wait_answer(req, wk);  /* a read: as it is */
		else
			api_wait_failed(req, wk);
		break;
	case HUB_STOPPING:
		http_problem(req, 503, "shutting-down", "the daemon is "
		    "stopping; the task stays stored and goes on after a "
		    "restart");
		break;
	}
}

/*
 * Answer req with status and the task once the changes of this pass are
 * committed (create: 201, cancel with wait=false: 202).
 */
void
api_wait_commit(struct http_request *req, struct task *t, unsigned status)
{
	struct hub_waiter *w = hub_wait_commit(t, api_wait_wake_cb, req,
	    status);

	http_suspend_brief(req, api_wait_gone_cb, w);
}

/*
 * Answer req with 200 and the task once it is terminal and stored, or after
 * limit_ms (-1: no limit) with the task as it is then.
 */
void
api_wait_done(struct http_request *req, struct task *t, int64_t limit_ms)
{
	struct hub_waiter *w = hub_wait_done(t, limit_ms, api_wait_wake_cb,
	    req, 200);

	http_suspend(req, api_wait_gone_cb, w);
}

/* The client left (or the daemon stops) before the read answered. */
static void
api_read_gone_cb(struct http_request *req, void *arg)
{
	struct api_read *ar = arg;

	store_read_drop(ar->rd);	/* its callback never runs */
	ar->forget(ar);
}

/*
 * After starting a read with ar (first in its context) as the callback's
 * argument: rd NULL, it has answered, and the context goes now; else the
 * request is parked until the read's callback answers and calls
 * api_read_done, or the client leaves and the read is dropped.
 */
void
api_read_park(struct api_read *ar, struct store_read *rd)
{
	if (rd == NULL) {
		ar->forget(ar);
		return;
	}
	ar->rd = rd;
	ar->parked = 1;
	http_suspend(ar->req, api_read_gone_cb, ar);
}

/*
 * The end of a read's callback (the request answered or handed on): a
 * parked request's context goes; an unparked one's goes in api_read_park.
 */
void
api_read_done(struct api_read *ar)
{
	if (ar->parked)
		ar->forget(ar);
}
