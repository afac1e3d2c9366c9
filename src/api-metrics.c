/* api-metrics.c -- GET /metrics: Prometheus text format 0.0.4. */

#include "evtaskd.h"

/* The exposition is made fresh for each scrape. */
void
api_metrics_get(struct http_request *req)
{
	size_t len;
	char *text = metrics_render(&len);

	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    len);
}
