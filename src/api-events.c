/*
 * api-events.c -- GET /v1/events: the server-sent event stream, the HTTP
 * side of a hub subscriber.
 */

#include "evtaskd.h"

#include <stdlib.h>

/* The hub's subscriber as a stream source. */
static ssize_t
api_events_read(void *sub, char *buf, size_t max)
{
	return hub_sub_read(sub, buf, max);
}

static void
api_events_free(void *sub)
{
	hub_sub_free(sub);
}

static const struct api_source api_events_source = {
	api_events_read, api_events_free, 0
};

/* GET /v1/events[?task=ID] with an optional Last-Event-ID header. */
void
api_events_get(struct http_request *req)
{
	static const char *const allowed[] = { "task", NULL };
	const char *task = http_query(req, "task");
	struct api_stream *s;
	struct hub_sub *sub;
	struct ulid id;

	if (api_query_only(req, allowed) != 0)
		return;
	if (task != NULL) {
		if (ulid_parse(task, &id) != 0) {
			http_problem(req, 400, "bad-query", "task is a task id");
			return;
		}
		if (api_task_known(req, &id, task) != 0)
			return;
	}
	s = api_stream_new(req);
	sub = hub_subscribe(task != NULL ? &id : NULL,
	    http_header(req, "Last-Event-ID"), api_stream_ready,
	    api_stream_drop, s);
	api_stream_start(s, sub, &api_events_source, "text/event-stream");
}
