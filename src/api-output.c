/*
 * api-output.c -- GET /v1/tasks/ID/output: a task's output (or its
 * cleanup's) from an offset, at once or followed as it grows.
 */

#include "evtaskd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A store output reader as a stream source: it ends cleanly, or is cut. */
static ssize_t
api_output_read(void *o, char *buf, size_t max)
{
	return store_output_read(o, buf, max);
}

static void
api_output_free(void *o)
{
	store_output_free(o);
}

static const struct api_source api_output_source = {
	api_output_read, api_output_free, 1
};

/* A request whose reader is opening (the store answers later). */
struct api_output {
	struct http_request	*req;
	struct api_stream	*s;
	struct store_output	*o;
};

/* ?offset=N: a byte offset, 0 by default; -1 (answered 400) if bad. */
static int
api_output_offset(struct http_request *req, uint64_t *offset)
{
	const char *v = http_query(req, "offset");
	char *end;

	*offset = 0;
	if (v == NULL)
		return 0;
	errno = 0;
	*offset = strtoull(v, &end, 10);
	if (*v >= '0' && *v <= '9' && *end == '\0' && errno == 0)
		return 0;
	http_problem(req, 400, "bad-query", "offset is a byte offset: an "
	    "integer from 0");
	return -1;
}

/* ?follow=true|false; -1 (answered 400) if neither. */
static int
api_output_follow(struct http_request *req, int *follow)
{
	const char *v = http_query(req, "follow");

	*follow = v != NULL && strcmp(v, "true") == 0;
	if (v == NULL || *follow || strcmp(v, "false") == 0)
		return 0;
	http_problem(req, 400, "bad-query", "follow is true or false");
	return -1;
}

/* ?stream=main|cleanup; -1 (answered 422) if another. */
static int
api_output_stream(struct http_request *req, enum output_stream *stream)
{
	const char *v = http_query(req, "stream");

	*stream = OUTPUT_MAIN;
	if (v == NULL || strcmp(v, "main") == 0)
		return 0;
	if (strcmp(v, "cleanup") == 0) {
		*stream = OUTPUT_CLEANUP;
		return 0;
	}
	http_problem_extra(req, 422, "invalid-query", json_pack(
	    "{s:[{s:s,s:s}]}", "errors", "pointer", "/stream", "detail",
	    "main or cleanup"), "unknown stream '%s': main or cleanup", v);
	return -1;
}

/*
 * The live output of a task still in memory and not over (NULL: read the
 * file it left).
 */
static struct output *
api_output_live(const struct ulid *id, enum output_stream stream)
{
	struct task *t = registry_find(id);

	if (t == NULL || task_state_terminal(t->state) ||
	    task_kind(t)->output == NULL)
		return NULL;
	return task_kind(t)->output(t, stream);
}

/* The reader is open: the answer starts (the stream takes the reader). */
static void
api_output_begin(struct api_output *c)
{
	char start[32];

	snprintf(start, sizeof start, "%" PRIu64, store_output_start(c->o));
	http_set_header(c->req, "Evtaskd-Output-Start", start);
	api_stream_start(c->s, c->o, &api_output_source,
	    "text/plain; charset=utf-8");
	free(c);
}

/* The store opened the reader (rc 0), or failed (500). */
static void
api_output_opened_cb(void *arg, int rc)
{
	struct api_output *c = arg;

	if (rc == 0) {
		api_output_begin(c);
		return;
	}
	store_output_free(c->o);
	api_store_failed(c->req);
	free(c);
}

/* The client left (or the daemon stops) while the reader was opening. */
static void
api_output_gone_cb(struct http_request *req, void *arg)
{
	struct api_output *c = arg;

	store_output_free(c->o);
	free(c);
}

/*
 * The task is known (in memory, or stored: perhaps answered later): stream
 * its output, from here or from the store. The query was checked already.
 */
static void
api_output_known(struct http_request *req, const struct ulid *id)
{
	struct store_output_want w = { .id = *id };
	struct api_output *c;
	char *err = NULL;

	api_output_offset(req, &w.offset);
	api_output_follow(req, &w.follow);
	api_output_stream(req, &w.stream);
	w.live = api_output_live(id, w.stream);
	w.here = registry_find(id) != NULL;
	c = xcalloc(1, sizeof *c);
	c->req = req;
	c->s = api_stream_new(req);
	c->o = store_output_open(&w, api_output_opened_cb, c, api_stream_ready,
	    c->s, &err);
	if (c->o == NULL) {
		log_error("task output: %s", err);
		free(err);
		free(c);
		api_store_failed(req);
	} else if (!store_output_opening(c->o))
		api_output_begin(c);
	else
		http_suspend(req, api_output_gone_cb, c);
}

/* GET /v1/tasks/ID/output[?offset=N][&follow=true][&stream=cleanup] */
void
api_output_get(struct http_request *req)
{
	static const char *const allowed[] = {
		"offset", "follow", "stream", NULL
	};
	enum output_stream stream;
	struct ulid id;
	uint64_t offset;
	int follow;

	if (api_task_id(req, &id) != 0 || api_query_only(req, allowed) != 0 ||
	    api_output_offset(req, &offset) != 0 ||
	    api_output_follow(req, &follow) != 0 ||
	    api_output_stream(req, &stream) != 0)
		return;
	api_task_known(req, &id, http_param(req), api_output_known);
}
