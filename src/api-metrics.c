/* api-metrics.c -- GET /metrics: Prometheus text format 0.0.4. */

#include "evtaskd.h"

#include <string.h>

/* The exposition is made fresh for each scrape, with the HTTP figures. */
void
api_metrics_get(struct http_request *req)
{
	static const char *const none[] = { NULL };
	const struct http_stats *hs = http_get_stats();
	struct metrics_http mh;
	size_t len;
	char *text;

	if (api_query_only(req, none) != 0)
		return;
	memcpy(mh.by_class, hs->by_class, sizeof mh.by_class);
	mh.connections = http_connections();
	mh.parked = hs->parked;
	mh.subscribers = hub_subscribers();
	mh.timed_out = hs->timed_out;
	mh.evicted = hs->evicted;
	mh.accept_refused = hs->accept_refused;
	mh.outbox = callback_outbox_size();
	mh.callbacks_in_flight = callback_in_flight();
	text = metrics_render(&mh, &len);
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    len);
}
