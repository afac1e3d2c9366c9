/*
 * api-events.c -- GET /v1/events: the server-sent event stream, the HTTP
 * side of a hub subscriber.
 */

#include "evtaskd.h"

#include <stdlib.h>

/* One open stream: the parked request and what the hub queues for it. */
struct api_stream {
	struct http_request	*req;
	struct hub_sub		*sub;
};

/* The client of a paused stream left: the stream ends when resumed. */
static void
api_events_gone_cb(struct http_request *req, void *arg)
{
	struct api_stream *s = arg;

	hub_sub_end(s->sub);
}

/* MHD wants bytes: give what the hub queued, or pause until there is. */
static ssize_t
api_events_reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_stream *s = cls;
	ssize_t n = hub_sub_read(s->sub, buf, max);

	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0)
		http_stream_pause(s->req, api_events_gone_cb, s);
	return n;
}

/* The hub has bytes for a paused stream. */
static void
api_events_ready_cb(void *arg)
{
	struct api_stream *s = arg;

	http_stream_wake(s->req);
}

/* The hub dropped a stream that fell behind: close its connection now. */
static void
api_events_dropped_cb(void *arg)
{
	struct api_stream *s = arg;

	http_stream_close(s->req);
}

/* The stream ended (client left, or the daemon stops). */
static void
api_events_free(void *arg)
{
	struct api_stream *s = arg;

	hub_sub_free(s->sub);
	free(s);
}

/* Does the task of ?task= exist? 0, or -1 when answered (404, 500). */
static int
api_events_task_known(struct http_request *req, const char *task,
    const struct ulid *id)
{
	char *doc;
	int rc;

	if (registry_find(id) != NULL)
		return 0;
	rc = store_get(id, &doc);
	free(doc);
	if (rc < 0)
		api_store_failed(req);
	else if (rc == 0)
		api_task_not_found(req, task);
	return rc > 0 ? 0 : -1;
}

/* GET /v1/events[?task=ID] with an optional Last-Event-ID header. */
void
api_events_get(struct http_request *req)
{
	static const char *const allowed[] = { "task", NULL };
	const char *task = http_query(req, "task");
	struct api_stream *s;
	struct ulid id;

	if (api_query_only(req, allowed) != 0)
		return;
	if (task != NULL) {
		if (ulid_parse(task, &id) != 0) {
			http_problem(req, 400, "bad-query", "task is a task id");
			return;
		}
		if (api_events_task_known(req, task, &id) != 0)
			return;
	}
	s = xcalloc(1, sizeof *s);
	s->req = req;
	s->sub = hub_subscribe(task != NULL ? &id : NULL,
	    http_header(req, "Last-Event-ID"), api_events_ready_cb,
	    api_events_dropped_cb, s);
	http_set_ctx(req, s, api_events_free);
	http_reply_stream(req, "text/event-stream", api_events_reader_cb, s);
}
