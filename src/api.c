/* api.c -- the route table: every endpoint of the HTTP API. */

#include "evtaskd.h"

const struct router_entry api_routes[] = {
	{ "/healthz", "GET", api_health_get },
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
