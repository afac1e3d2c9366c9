/* api-health.c -- GET /healthz: the daemon is up and its loop turns. */

#include "evtaskd.h"

/* Always 200 while the loop runs; never needs auth. */
void
api_health_get(struct http_request *req)
{
	http_reply_static(req, 200, "application/json", "{\"status\":\"ok\"}");
}
