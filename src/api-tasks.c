/* api-tasks.c -- /v1/tasks: create, get (and long-poll), list, cancel. */

#include "evtaskd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_WAIT_MAX_S		300
#define API_LIST_DEFAULT	100
#define API_LIST_MAX		1000
#define API_IDEM_KEY_MAX	255
#define API_MESSAGE_MAX		1024

/* Refuse query arguments other than those in allowed (typos never pass). */
struct api_query_check {
	const char *const	*allowed;
	const char		*bad;
};

static int
api_query_check_cb(const char *key, const char *value, void *arg)
{
	struct api_query_check *c = arg;
	const char *const *a;

	for (a = c->allowed; *a != NULL; a++) {
		if (strcmp(*a, key) == 0)
			return 0;
	}
	c->bad = key;
	return 1;
}

int
api_query_only(struct http_request *req, const char *const *allowed)
{
	struct api_query_check c = { allowed, NULL };

	if (http_query_each(req, api_query_check_cb, &c) == 0)
		return 0;
	http_problem(req, 400, "bad-query", "unknown query argument '%s'",
	    c.bad);
	return -1;
}

/* 404 for a task id nobody knows (as the client wrote it). */
void
api_task_not_found(struct http_request *req, const char *id)
{
	http_problem(req, 404, "task-not-found", "no task with id '%s'", id);
}

/* A request waiting for a stored task (its read may answer later). */
struct api_got {
	struct api_read	 ar;
	struct ulid	 id;
	const char	*as_written;	/* the request's: lives as long */
	unsigned	 status;
	api_known_cb	*then;
};

/* The one place a task read's context is freed. */
static void
api_got_free(void *arg)
{
	free(arg);
}

/* Read task id from the store for req; fn answers (now or later). */
static void
api_got_read(struct http_request *req, const struct ulid *id,
    store_got_cb *fn, struct api_got *c)
{
	c->ar.req = req;
	c->ar.forget = api_got_free;
	c->id = *id;
	api_read_park(&c->ar, store_get(id, fn, c));
}

/* The store answered api_task_known: go on, or 404, or 500. */
static void
api_known_got_cb(void *arg, int rc, char *doc)
{
	struct api_got *c = arg;

	free(doc);
	if (rc < 0)
		api_store_failed(c->ar.req);
	else if (rc == 0)
		api_task_not_found(c->ar.req, c->as_written);
	else
		c->then(c->ar.req, &c->id);
	api_read_done(&c->ar);
}

/*
 * Go on with then(req, id) once a task with this id is known, in memory
 * (at once) or in the store (perhaps later: the request is parked);
 * otherwise answer 404 with the id as the client wrote it (it lives as
 * long as the request), or 500 on a store error.
 */
void
api_task_known(struct http_request *req, const struct ulid *id,
    const char *as_written, api_known_cb *then)
{
	struct api_got *c;

	if (registry_find(id) != NULL) {
		then(req, id);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->as_written = as_written;
	c->then = then;
	api_got_read(req, id, api_known_got_cb, c);
}

/* The id in the path, or a 404 answer. */
int
api_task_id(struct http_request *req, struct ulid *id)
{
	if (ulid_parse(http_param(req), id) == 0)
		return 0;
	api_task_not_found(req, http_param(req));
	return -1;
}

/* Answer 200 with a task's JSON text (stolen). */
static void
api_reply_text(struct http_request *req, unsigned status, char *text)
{
	http_reply(req, status, "application/json", text, strlen(text));
}

/* 503 while the daemon stops. */
static int
api_refuse_if_stopping(struct http_request *req)
{
	if (!api_stopping)
		return 0;
	http_set_header(req, "Retry-After", "5");
	http_problem(req, 503, "shutting-down", "the daemon is stopping");
	return -1;
}

/* The request body as JSON, or a 400 answer with the place (an empty
 * body is bad JSON too: docs/API.md). */
static json_t *
api_parse_body(struct http_request *req)
{
	json_error_t err;
	const char *body;
	size_t len;
	json_t *v;

	body = http_body(req, &len);
	if (body == NULL)
		body = "";		/* jansson: "expected near end of file" */
	v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (v != NULL)
		return v;
	http_problem_extra(req, 400, "bad-json",
	    json_pack("{s:i,s:i}", "line", err.line, "column", err.column),
	    "invalid JSON at line %d, column %d: %s", err.line, err.column,
	    err.text);
	return NULL;
}

/* Idempotency-Key: 1-255 visible ASCII characters. */
static int
api_idem_key_ok(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > API_IDEM_KEY_MAX)
		return 0;
	for (; *key != '\0'; key++) {
		if (*key < 0x21 || *key > 0x7e)
			return 0;
	}
	return 1;
}

/* The store answered api_reply_task: the task it found a moment ago. */
static void
api_reply_task_got_cb(void *arg, int rc, char *doc)
{
	struct api_got *c = arg;

	if (rc <= 0)			/* it was found a moment ago */
		api_store_failed(c->ar.req);
	else
		api_reply_text(c->ar.req, c->status, doc);
	api_read_done(&c->ar);
}

/*
 * Answer with a task wherever it lives: from memory once what it shows is
 * stored (it may still be in flight), or from the store.
 */
static void
api_reply_task(struct http_request *req, unsigned status, const struct ulid *id)
{
	struct task *t = registry_find(id);
	struct api_got *c;

	if (t != NULL) {
		api_wait_commit(req, t, status);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->status = status;
	api_got_read(req, id, api_reply_task_got_cb, c);
}

/*
 * A repeated create with the same Idempotency-Key (rc 1: its task's id and
 * the body it was created from): the same body gets the same task (200),
 * another body 422; -1 is a store error.
 */
static void
api_idempotent_replay(struct http_request *req, int rc, const struct ulid *id,
    const char *prev, const char *canonical)
{
	if (rc < 0)	/* a create that cannot check its key: not created */
		api_store_unavailable(req, "the store cannot be read to check "
		    "the Idempotency-Key; nothing was created");
	else if (strcmp(prev, canonical) == 0)
		api_reply_task(req, 200, id);
	else
		http_problem_extra(req, 422, "idempotency-key-reused",
		    json_pack("{s:[{s:s,s:s}]}", "errors", "pointer", "",
		    "detail", "this Idempotency-Key was used with another "
		    "body"), "Idempotency-Key '%s' was used with another body",
		    http_header(req, "Idempotency-Key"));
}

/*
 * on_conflict "reject": 409 with the task that holds the key (the new
 * task is dropped). 0 if the task may go on.
 */
int
api_refuse_conflict(struct http_request *req, struct task *t)
{
	struct task_policy *p = TASK_POL(t);
	struct task *holder;
	char id[ULID_LEN + 1];

	if (p == NULL || p->on_conflict != CONFLICT_REJECT ||
	    (holder = sched_conflict(t)) == NULL)
		return 0;
	ulid_format(&holder->id, id);
	http_problem_extra(req, 409, "concurrency-key-taken",
	    json_pack("{s:o}", "task", task_to_json(holder)), "concurrency "
	    "key '%s' is held by task %s", p->key, id);
	task_free(t);
	return -1;
}

/*
 * Create the task of a request whose Idempotency-Key (if any: canonical is
 * its body, taken) is new. Stopping and the store are asked again: the
 * key's read may have answered later.
 */
static void
api_create_new(struct http_request *req, json_t *spec, char *canonical)
{
	json_t *errors;
	struct task *t;

	if (api_refuse_if_stopping(req) != 0 ||
	    api_refuse_if_unwritable(req) != 0)
		goto out;
	errors = json_array();
	t = spec_parse(spec, errors);
	if (t == NULL) {
		http_problem_extra(req, 422, "invalid-task", json_pack("{s:o}",
		    "errors", errors), "%zu invalid field%s",
		    json_array_size(errors),
		    json_array_size(errors) == 1 ? "" : "s");
		goto out;
	}
	json_decref(errors);
	if (registry_active() >= cfg->max_active_tasks) {
		task_free(t);
		http_set_header(req, "Retry-After", "1");
		http_problem(req, 429, "too-many-tasks", "%llu tasks are "
		    "active, the limit (max_active_tasks)",
		    (unsigned long long)cfg->max_active_tasks);
		goto out;
	}
	if (api_refuse_conflict(req, t) != 0)
		goto out;
	if (store_shared() && TASK_POL(t) != NULL && TASK_POL(t)->key !=
	    NULL && TASK_POL(t)->on_conflict == CONFLICT_REJECT) {
		/* the cluster's word first */
		api_remote_reject(req, t, TASK_POL(t)->key, canonical);
		return;
	}
	api_create_submit(req, t, canonical);
	return;
out:
	free(canonical);
}

/*
 * A new task goes in (canonical: its Idempotency-Key's body, taken, or
 * NULL); the answer comes once its creation is stored.
 */
void
api_create_submit(struct http_request *req, struct task *t, char *canonical)
{
	const char *key = http_header(req, "Idempotency-Key");

	if (key != NULL && canonical != NULL) {
		store_note_key(t, xstrdup(key), canonical);
		canonical = NULL;
	}
	free(canonical);
	task_submit(t);
	api_wait_commit(req, t, 201);
}

/* A create waiting for its Idempotency-Key's read. */
struct api_create {
	struct api_read	 ar;
	json_t		*spec;
	char		*canonical;
};

/* The one place a create's context is freed (the spec, the key's body). */
static void
api_create_free(void *arg)
{
	struct api_create *c = arg;

	json_decref(c->spec);
	free(c->canonical);
	free(c);
}

/* The store answered the key: a new one creates, a known one replays. */
static void
api_create_idem_cb(void *arg, int rc, const struct ulid *id, char *prev)
{
	struct api_create *c = arg;

	if (rc == 0) {
		api_create_new(c->ar.req, c->spec, c->canonical);
		c->canonical = NULL;
	} else
		api_idempotent_replay(c->ar.req, rc, id, prev, c->canonical);
	free(prev);
	api_read_done(&c->ar);
}

/* POST /v1/tasks */
void
api_tasks_create(struct http_request *req)
{
	static const char *const none[] = { NULL };
	const char *key = http_header(req, "Idempotency-Key");
	struct api_create *c;
	json_t *spec;

	if (api_query_only(req, none) != 0 || api_refuse_if_stopping(req) != 0 ||
	    api_refuse_if_unwritable(req) != 0 ||
	    (spec = api_parse_body(req)) == NULL)
		return;
	if (key != NULL && !api_idem_key_ok(key)) {
		http_problem(req, 400, "bad-idempotency-key", "an "
		    "Idempotency-Key has 1 to %d visible ASCII characters",
		    API_IDEM_KEY_MAX);
		json_decref(spec);
		return;
	}
	if (key == NULL) {
		api_create_new(req, spec, NULL);
		json_decref(spec);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->ar.req = req;
	c->ar.forget = api_create_free;
	c->spec = spec;
	c->canonical = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY);
	api_read_park(&c->ar, store_find_idem(key, api_create_idem_cb, c));
}

/* ?wait=S: seconds 0-300, decimals allowed. -1 (answered 400) if bad. */
static int
api_wait_ms(struct http_request *req, int64_t *ms)
{
	const char *v = http_query(req, "wait");
	char *end;
	double s;

	*ms = 0;
	if (v == NULL)
		return 0;
	errno = 0;
	s = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(s) ||
	    s < 0 || s > API_WAIT_MAX_S) {
		http_problem(req, 400, "bad-query", "wait is a number of "
		    "seconds from 0 to %d", API_WAIT_MAX_S);
		return -1;
	}
	*ms = (int64_t)(s * 1000);
	return 0;
}

/* The store answered a GET of a task no longer in memory: 200 or 404. */
static void
api_reply_stored_got_cb(void *arg, int rc, char *doc)
{
	struct api_got *c = arg;

	if (rc < 0)
		api_store_failed(c->ar.req);
	else if (rc == 0)
		api_task_not_found(c->ar.req, http_param(c->ar.req));
	else
		api_reply_text(c->ar.req, 200, doc);
	api_read_done(&c->ar);
}

/* GET /v1/tasks/ID[?wait=S] */
void
api_tasks_get(struct http_request *req)
{
	static const char *const allowed[] = { "wait", NULL };
	struct ulid id;
	struct task *t;
	int64_t wait_ms;

	if (api_task_id(req, &id) != 0 || api_query_only(req, allowed) != 0 ||
	    api_wait_ms(req, &wait_ms) != 0)
		return;
	t = registry_find(&id);
	if (t != NULL) {
		if (wait_ms > 0 && !task_state_terminal(t->state))
			api_wait_done(req, t, wait_ms);
		else if (wait_ms > 0 && store_done_seq() < store_next_seq())
			/* Ended, maybe not stored yet: as a waiter would be,
			 * answered once it is (a listing then shows it). */
			api_wait_commit(req, t, 200);
		else
			api_reply_text(req, 200, task_to_text(t));
		return;
	}
	if (wait_ms > 0 && store_shared()) {	/* another node's, perhaps */
		api_remote_wait(req, &id, wait_ms);
		return;
	}
	api_got_read(req, &id, api_reply_stored_got_cb,
	    xcalloc(1, sizeof(struct api_got)));
}

/* Parse a comma-separated list of names into bits; -1 if one is unknown. */
static int
api_parse_set(const char *list, int (*lookup)(const char *), unsigned *bits)
{
	char *copy = xstrdup(list), *p = copy, *name;
	int i, rc = 0;

	*bits = 0;
	while ((name = strsep(&p, ",")) != NULL) {
		if ((i = lookup(name)) < 0) {
			rc = -1;
			break;
		}
		*bits |= 1u << i;
	}
	free(copy);
	return rc;
}

/* A kind's index by name, for api_parse_set. */
static int
api_kind_index(const char *name)
{
	size_t i;

	for (i = 0; i < kind_count(); i++) {
		if (strcmp(kind_name(i), name) == 0)
			return (int)i;
	}
	return -1;
}

/* Parse the listing's query into f; -1 (answered 400) if bad. */
static int
api_list_filter(struct http_request *req, struct store_filter *f)
{
	const char *state = http_query(req, "state");
	const char *kind = http_query(req, "kind");
	const char *limit = http_query(req, "limit");
	const char *token = http_query(req, "page_token");
	const char *sched = http_query(req, "schedule");
	char *end;
	long n;

	memset(f, 0, sizeof *f);
	f->limit = API_LIST_DEFAULT;
	if (state != NULL && api_parse_set(state, task_state_parse,
	    &f->states) != 0) {
		http_problem(req, 400, "bad-query", "state is a comma-separated "
		    "list of scheduled, running, cancelling, succeeded, "
		    "failed, cancelled, timed_out");
		return -1;
	}
	if (kind != NULL && api_parse_set(kind, api_kind_index, &f->kinds)
	    != 0) {
		http_problem(req, 400, "bad-query", "unknown kind in '%s'",
		    kind);
		return -1;
	}
	if (limit != NULL) {
		errno = 0;
		n = strtol(limit, &end, 10);
		if (*limit == '\0' || *end != '\0' || errno != 0 || n < 1 ||
		    n > API_LIST_MAX) {
			http_problem(req, 400, "bad-query", "limit is an "
			    "integer from 1 to %d", API_LIST_MAX);
			return -1;
		}
		f->limit = (int)n;
	}
	if (token != NULL) {
		if (ulid_parse(token, &f->before) != 0) {
			http_problem(req, 400, "bad-query", "page_token is not "
			    "one this daemon gave out");
			return -1;
		}
		f->has_before = 1;
	}
	if (sched != NULL) {
		if (ulid_parse(sched, &f->schedule) != 0) {
			http_problem(req, 400, "bad-query", "schedule is a "
			    "schedule's id");
			return -1;
		}
		f->has_schedule = 1;
	}
	return 0;
}

/* A listing being written: the envelope and the last id given. */
struct api_page {
	struct api_read	 ar;
	struct buf	 out;
	char		 last[ULID_LEN + 1];
	int		 n;
};

/* The one place a listing is freed (answered, or its client left). */
static void
api_page_free(void *arg)
{
	struct api_page *p = arg;

	free(buf_steal(&p->out, NULL));
	free(p);
}

/* One stored task into the page. */
static int
api_list_row_cb(const char *id, const char *doc, void *arg)
{
	struct api_page *p = arg;

	if (p->n++ > 0)
		buf_add(&p->out, ",", 1);
	buf_adds(&p->out, doc);
	snprintf(p->last, sizeof p->last, "%s", id);
	return 0;
}

/* The listing ended (more: a next page): answer it, or 500. */
static void
api_list_done_cb(void *arg, int more)
{
	struct api_page *p = arg;
	size_t len;
	char *text;

	if (more < 0)
		api_store_failed(p->ar.req);
	else {
		if (more) {
			buf_adds(&p->out, "],\"next_page_token\":\"");
			buf_adds(&p->out, p->last);
			buf_adds(&p->out, "\"}");
		} else
			buf_adds(&p->out, "],\"next_page_token\":null}");
		text = buf_steal(&p->out, &len);
		http_reply(p->ar.req, 200, "application/json", text, len);
	}
	api_read_done(&p->ar);
}

/* GET /v1/tasks?state=A,B&kind=K&schedule=ID&limit=N&page_token=T */
void
api_tasks_list(struct http_request *req)
{
	static const char *const allowed[] = {
		"state", "kind", "limit", "page_token", "schedule", NULL
	};
	struct store_filter f;
	struct api_page *p;

	if (api_query_only(req, allowed) != 0 ||
	    api_list_filter(req, &f) != 0)
		return;
	p = xcalloc(1, sizeof *p);
	p->ar.req = req;
	p->ar.forget = api_page_free;
	buf_adds(&p->out, "{\"tasks\":[");
	api_read_park(&p->ar, store_list(&f, api_list_row_cb,
	    api_list_done_cb, p));
}

/*
 * DELETE of a task no longer in memory: it is terminal, in the store. A
 * cancelled one answers 200 (the cancel was done), another 409.
 */
static void
api_cancel_stored(struct http_request *req, int rc, char *doc)
{
	json_t *v, *state;

	if (rc <= 0) {
		if (rc < 0)
			api_store_failed(req);
		else
			api_task_not_found(req, http_param(req));
		return;
	}
	v = json_loads(doc, 0, NULL);
	state = json_object_get(v, "state");
	if (json_is_string(state) &&
	    strcmp(json_string_value(state), "cancelled") == 0) {
		json_decref(v);
		api_reply_text(req, 200, doc);
		return;
	}
	free(doc);
	http_problem_extra(req, 409, "task-finished", json_pack("{s:o}",
	    "task", v), "the task already ended (%s); it cannot be cancelled",
	    json_is_string(state) ? json_string_value(state) : "?");
}

/* The store answered a DELETE of a task no longer in memory. */
static void
api_cancel_stored_got_cb(void *arg, int rc, char *doc)
{
	struct api_got *c = arg;

	api_cancel_stored(c->ar.req, rc, doc);
	api_read_done(&c->ar);
}

/* ?wait=true|false on DELETE (default true). */
static int
api_cancel_wait(struct http_request *req, int *wait)
{
	const char *v = http_query(req, "wait");

	*wait = 1;
	if (v == NULL || strcmp(v, "true") == 0)
		return 0;
	if (strcmp(v, "false") == 0) {
		*wait = 0;
		return 0;
	}
	http_problem(req, 400, "bad-query", "wait is true or false");
	return -1;
}

/* DELETE /v1/tasks/ID[?reason=TEXT][&wait=false] */
void
api_tasks_cancel(struct http_request *req)
{
	static const char *const allowed[] = { "reason", "wait", NULL };
	const char *message = http_query(req, "reason");
	struct ulid id;
	struct task *t;
	int wait;

	if (api_task_id(req, &id) != 0 || api_query_only(req, allowed) != 0 ||
	    api_cancel_wait(req, &wait) != 0 ||
	    api_refuse_if_stopping(req) != 0 ||
	    api_refuse_if_unwritable(req) != 0)
		return;
	if (message != NULL && (strlen(message) > API_MESSAGE_MAX ||
	    !utf8_valid(message, strlen(message)))) {
		http_problem(req, 400, "bad-query", "reason is UTF-8 text of at "
		    "most %d bytes", API_MESSAGE_MAX);
		return;
	}
	if ((t = registry_find(&id)) == NULL && store_shared()) {
		api_remote_cancel(req, &id, message, wait);
		return;
	}
	if (t == NULL) {
		api_got_read(req, &id, api_cancel_stored_got_cb,
		    xcalloc(1, sizeof(struct api_got)));
		return;
	}
	api_cancel_answer(req, t, task_cancel(t, CANCEL_CLIENT, message),
	    wait);
}

/*
 * The answer to a DELETE of a task in memory, as its cancel went: once
 * its cleanup ended (200), or at once (wait false: 202), or 409.
 */
void
api_cancel_answer(struct http_request *req, struct task *t,
    enum task_cancel_result how, int wait)
{
	switch (how) {
	case TASK_CANCEL_STARTED:
	case TASK_CANCEL_JOINED:
		if (!wait)
			api_wait_commit(req, t, 202);
		else if (task_state_terminal(t->state))
			api_wait_commit(req, t, 200);
		else
			api_wait_done(req, t, -1);
		break;
	case TASK_CANCEL_ALREADY:
		api_wait_commit(req, t, 200);	/* once it is stored */
		break;
	case TASK_CANCEL_TOO_LATE:
		http_problem_extra(req, 409, "task-finished",
		    json_pack("{s:o}", "task", task_to_json(t)),
		    "the task already ended (%s); it cannot be cancelled",
		    task_state_name(t->state));
		break;
	}
}
