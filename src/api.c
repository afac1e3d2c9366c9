/* api.c -- the route table: every endpoint of the HTTP API. */

#include "evtaskd.h"

int api_stopping;	/* new work gets 503 */

const struct router_entry api_routes[] = {
	{ "/healthz", "GET", api_health_get, ROUTE_OPEN },
	{ "/metrics", "GET", api_metrics_get, ROUTE_TOKEN_METRICS },
	{ "/v1/tasks", "GET", api_tasks_list, ROUTE_TOKEN },
	{ "/v1/tasks", "POST", api_tasks_create, ROUTE_TOKEN },
	{ "/v1/tasks/*", "GET", api_tasks_get, ROUTE_TOKEN },
	{ "/v1/tasks/*", "DELETE", api_tasks_cancel, ROUTE_TOKEN },
	{ "/v1/tasks/*/output", "GET", api_output_get, ROUTE_TOKEN },
	{ "/v1/events", "GET", api_events_get, ROUTE_TOKEN },
	{ "/v1/jobs", "GET", api_jobs_get, ROUTE_TOKEN },
	{ "/", "GET", api_ui_redirect, ROUTE_OPEN },
	{ "/ui", "GET", api_ui_redirect, ROUTE_OPEN },
	{ "/ui/", "GET", api_ui_get, ROUTE_OPEN },
	{ "/ui/*", "GET", api_ui_get, ROUTE_OPEN },
	{ "/v1/schedules", "GET", api_schedules_list, ROUTE_TOKEN },
	{ "/v1/schedules", "POST", api_schedules_create, ROUTE_TOKEN },
	{ "/v1/schedules/*", "GET", api_schedules_get, ROUTE_TOKEN },
	{ "/v1/schedules/*", "PATCH", api_schedules_patch, ROUTE_TOKEN },
	{ "/v1/schedules/*", "DELETE", api_schedules_delete, ROUTE_TOKEN },
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
