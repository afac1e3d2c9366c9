/* api-events.c -- GET /v1/events: the server-sent event stream. */

#include "evtaskd.h"

#include <stdlib.h>

/* GET /v1/events[?task=ID] with an optional Last-Event-ID header. */
void
api_events_get(struct http_request *req)
{
	static const char *const allowed[] = { "task", NULL };
	const char *task = http_query(req, "task");
	struct ulid id;
	char *doc;

	if (api_query_only(req, allowed) != 0)
		return;
	if (task != NULL) {
		if (ulid_parse(task, &id) != 0) {
			http_problem(req, 400, "bad-query", "task is a task id");
			return;
		}
		if (registry_find(&id) == NULL) {
			if ((doc = store_get(&id)) == NULL) {
				api_task_not_found(req, task);
				return;
			}
			free(doc);
		}
	}
	events_subscribe(req, task != NULL ? &id : NULL,
	    http_header(req, "Last-Event-ID"));
}
