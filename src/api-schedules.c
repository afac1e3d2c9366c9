/*
 * api-schedules.c -- /v1/schedules: create, list, get, patch, delete. A
 * change is answered once it is committed (a hub waiter without a task);
 * a DELETE with cancel_running=true once the cancelled tasks' cleanups
 * have ended.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A DELETE waiting for the cleanups of its schedule's tasks. */
struct api_sched_wait {
	struct http_request	*req;
	char			*text;		/* the schedule as it was */
	struct hub_waiter	**w;		/* NULL once woken */
	size_t			 n, left;
	int			 failed;
};

/* The schedule in the path, or NULL (answered 404). */
static struct schedule *
api_schedule_of(struct http_request *req)
{
	const char *p = http_param(req);
	struct schedule *s = NULL;
	struct ulid id;

	if (ulid_parse(p, &id) == 0)
		s = schedule_find(&id);
	if (s == NULL)
		http_problem(req, 404, "schedule-not-found", "no schedule with "
		    "id '%s'", p);
	return s;
}

/* The request body as JSON, or NULL (answered 400). */
static json_t *
api_schedule_body(struct http_request *req)
{
	json_error_t err;
	size_t len;
	const char *body = http_body(req, &len);
	json_t *v = json_loadb(body != NULL ? body : "", body != NULL ? len :
	    0, JSON_REJECT_DUPLICATES, &err);

	if (v == NULL)
		http_problem_extra(req, 400, "bad-json", json_pack("{s:i,s:i}",
		    "line", err.line, "column", err.column), "invalid JSON at "
		    "line %d, column %d: %s", err.line, err.column, err.text);
	return v;
}

/* 422 with every bad field (errors stolen). */
static void
api_schedule_invalid(struct http_request *req, json_t *errors)
{
	size_t n = json_array_size(errors);

	http_problem_extra(req, 422, "invalid-schedule", json_pack("{s:o}",
	    "errors", errors), "%zu invalid field%s", n, n == 1 ? "" : "s");
}

/* Refuse changes while stopping or while the store cannot be written. */
static int
api_schedule_refuse(struct http_request *req)
{
	if (api_stopping) {
		http_set_header(req, "Retry-After", "5");
		http_problem(req, 503, "shutting-down", "the daemon is stopping");
		return -1;
	}
	return api_refuse_if_unwritable(req);
}

/* The client left while parked: its waiter goes. */
static void
api_schedule_gone_cb(struct http_request *req, void *arg)
{
	hub_waiter_cancel(arg);
}

/* The change is committed (or not): answer with the schedule. */
static void
api_schedule_wake_cb(void *arg, struct hub_wake *wk)
{
	struct http_request *req = arg;
	char id[ULID_LEN + 1], loc[64];

	if (wk->outcome == HUB_FAILED && wk->tag == 201)
		schedule_withdraw(&wk->id);
	if (wk->outcome != HUB_STORED) {
		http_set_header(req, "Retry-After", "5");
		http_problem(req, 503, wk->outcome == HUB_FAILED ?
		    "store-unavailable" : "shutting-down", "the change was not "
		    "stored; see the daemon's log");
		return;
	}
	if (wk->tag == 201) {
		ulid_format(&wk->id, id);
		snprintf(loc, sizeof loc, "/v1/schedules/%s", id);
		http_set_header(req, "Location", loc);
	}
	http_reply(req, wk->tag, "application/json", wk->text,
	    strlen(wk->text));
	wk->text = NULL;		/* MHD frees it */
}

/* Park req until this pass's changes are committed; then text (stolen). */
static void
api_schedule_wait(struct http_request *req, const struct schedule *s,
    char *text, unsigned status)
{
	struct hub_waiter *w = hub_wait_commit_text(schedule_id(s), text,
	    api_schedule_wake_cb, req, status);

	http_suspend_brief(req, api_schedule_gone_cb, w);
}

/* POST /v1/schedules */
void
api_schedules_create(struct http_request *req)
{
	static const char *const none[] = { NULL };
	struct schedule_conf c;
	struct schedule *s;
	json_t *body, *errors;

	if (api_query_only(req, none) != 0 || api_schedule_refuse(req) != 0 ||
	    (body = api_schedule_body(req)) == NULL)
		return;
	errors = json_array();
	if (schedule_conf_parse(body, errors, &c, 1) != 0)
		api_schedule_invalid(req, errors);
	else {
		json_decref(errors);
		s = schedule_create(&c);
		api_schedule_wait(req, s, schedule_text(s), 201);
	}
	json_decref(body);
}

/* One schedule into the listing. */
static void
api_schedules_list_cb(struct schedule *s, void *arg)
{
	struct buf *b = arg;
	char *text = schedule_text(s);

	if (b->data[b->len - 1] == '}')
		buf_add(b, ",", 1);
	buf_adds(b, text);
	free(text);
}

/* GET /v1/schedules */
void
api_schedules_list(struct http_request *req)
{
	static const char *const none[] = { NULL };
	struct buf b = { NULL, 0, 0 };
	size_t len;
	char *text;

	if (api_query_only(req, none) != 0)
		return;
	buf_adds(&b, "{\"schedules\":[");
	schedule_each(api_schedules_list_cb, &b);
	buf_adds(&b, "]}");
	text = buf_steal(&b, &len);
	http_reply(req, 200, "application/json", text, len);
}

/* GET /v1/schedules/ID */
void
api_schedules_get(struct http_request *req)
{
	static const char *const none[] = { NULL };
	struct schedule *s;
	char *text;

	if (api_query_only(req, none) != 0 || (s = api_schedule_of(req)) ==
	    NULL)
		return;
	text = schedule_text(s);
	http_reply(req, 200, "application/json", text, strlen(text));
}

/* PATCH /v1/schedules/ID (a JSON merge patch) */
void
api_schedules_patch(struct http_request *req)
{
	static const char *const none[] = { NULL };
	struct schedule *s;
	json_t *patch, *errors;

	if (api_query_only(req, none) != 0 || (s = api_schedule_of(req)) ==
	    NULL || api_schedule_refuse(req) != 0 ||
	    (patch = api_schedule_body(req)) == NULL)
		return;
	errors = json_array();
	if (schedule_patch(s, patch, errors) != 0)
		api_schedule_invalid(req, errors);
	else {
		json_decref(errors);
		api_schedule_wait(req, s, schedule_text(s), 200);
	}
	json_decref(patch);
}

/* The one place a DELETE's wait is freed (its waiters gone or woken). */
static void
api_sched_wait_free(struct api_sched_wait *aw)
{
	size_t i;

	for (i = 0; i < aw->n; i++) {
		if (aw->w[i] != NULL)
			hub_waiter_cancel(aw->w[i]);
	}
	free(aw->w);
	free(aw->text);
	free(aw);
}

/* The client left: stop waiting for the cleanups. */
static void
api_sched_wait_gone_cb(struct http_request *req, void *arg)
{
	api_sched_wait_free(arg);
}

/* One cancelled task is terminal and stored: answer after the last. */
static void
api_sched_wait_cb(void *arg, struct hub_wake *wk)
{
	struct api_sched_wait *aw = arg;
	char *text;

	aw->w[wk->tag] = NULL;
	if (wk->outcome != HUB_STORED)
		aw->failed = 1;
	if (--aw->left > 0)
		return;
	if (aw->failed) {
		http_problem(aw->req, 503, "shutting-down", "the schedule is "
		    "deleted; its tasks' cleanups were not seen to the end");
	} else {
		text = aw->text;
		aw->text = NULL;
		http_reply(aw->req, 200, "application/json", text,
		    strlen(text));
	}
	api_sched_wait_free(aw);
}

/* Cancel the tasks (reason client); answer once every one has ended. */
static void
api_sched_cancel_all(struct http_request *req, struct task **t, size_t n,
    char *text)
{
	struct api_sched_wait *aw = xcalloc(1, sizeof *aw);
	size_t i;

	aw->req = req;
	aw->text = text;
	aw->n = aw->left = n;
	aw->w = xcalloc(n, sizeof *aw->w);
	for (i = 0; i < n; i++) {
		task_cancel(t[i], CANCEL_CLIENT, NULL);
		aw->w[i] = task_state_terminal(t[i]->state) ?
		    hub_wait_commit(t[i], api_sched_wait_cb, aw, (unsigned)i) :
		    hub_wait_done(t[i], -1, api_sched_wait_cb, aw, (unsigned)i);
	}
	http_suspend(req, api_sched_wait_gone_cb, aw);
}

/* ?cancel_running=true|false; -1 (answered 400) if bad. */
static int
api_schedule_cancel_arg(struct http_request *req, int *cancel)
{
	static const char *const allowed[] = { "cancel_running", NULL };
	const char *v = http_query(req, "cancel_running");

	*cancel = v != NULL && strcmp(v, "true") == 0;
	if (api_query_only(req, allowed) != 0)
		return -1;
	if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		return 0;
	http_problem(req, 400, "bad-query", "cancel_running is true or false");
	return -1;
}

/* DELETE /v1/schedules/ID[?cancel_running=true] */
void
api_schedules_delete(struct http_request *req)
{
	struct schedule *s;
	struct task **tasks = NULL;
	struct ulid id;
	size_t n = 0;
	char *text;
	int cancel;

	if (api_schedule_cancel_arg(req, &cancel) != 0 ||
	    (s = api_schedule_of(req)) == NULL || api_schedule_refuse(req) != 0)
		return;
	if (cancel && (n = schedule_tasks(s, NULL, 0)) > 0) {
		tasks = xcalloc(n, sizeof *tasks);
		n = schedule_tasks(s, tasks, n);
	}
	text = schedule_text(s);
	id = *schedule_id(s);
	schedule_delete(s);
	if (n > 0)
		api_sched_cancel_all(req, tasks, n, text);
	else
		http_suspend_brief(req, api_schedule_gone_cb,
		    hub_wait_commit_text(&id, text, api_schedule_wake_cb, req,
		    200));
	free(tasks);
}
