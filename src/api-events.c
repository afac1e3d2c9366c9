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

/* Stream the events of one task (known to exist) or, id NULL, all. */
static void
api_events_start(struct http_request *req, const struct ulid *id)
{
	struct api_stream *s = api_stream_new(req);
	struct hub_sub *sub;

	sub = hub_subscribe(id, http_header(req, "Last-Event-ID"),
	    api_stream_ready, api_stream_drop, s);
	api_stream_start(s, sub, &api_events_source, "text/event-stream");
}

/* GET /v1/events[?task=ID] with an optional Last-Event-ID header. */
void
api_events_get(struct http_request *req)
{
	static const char *const allowed[] = { "task", NULL };
	const char *task = http_query(req, "task");
	struct ulid id;

	if (api_query_only(req, allowed) != 0)
		return;
	if (task == NULL) {
		api_events_start(req, NULL);
		return;
	}
	if (ulid_parse(task, &id) != 0) {
		http_problem(req, 400, "bad-query", "task is a task id");
		return;
	}
	api_task_known(req, &id, task, api_events_start);
}
