/* api-health.c -- GET /healthz: the daemon is up and its loop turns. */

#include "evtaskd.h"

#include <stdio.h>

/*
 * 200 while the loop runs; 503 once stopping, or while the store cannot
 * be written (load balancers send elsewhere); never needs auth.
 */
void
api_health_get(struct http_request *req)
{
	static const char *const none[] = { NULL };

	if (api_query_only(req, none) != 0)
		return;
	if (api_stopping)
		http_reply_static(req, 503, "application/json",
		    "{\"status\":\"stopping\"}");
	else if (!store_writable()) {
		api_retry_after(req);
		http_reply_static(req, 503, "application/json",
		    "{\"status\":\"store_unavailable\"}");
	} else
		http_reply_static(req, 200, "application/json",
		    "{\"status\":\"ok\"}");
}
