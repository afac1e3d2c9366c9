/* config.c -- the running configuration: defaults, then file and flags. */

#include "evtaskd.h"

#include <string.h>

static struct config	 config_current;
const struct config	*cfg = &config_current;

/* The defaults of CONTRACT §6. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->retention_s = 86400;
	c->shutdown_grace_ms = 10000;
	c->on_shutdown = ON_SHUTDOWN_KEEP;
	c->max_active_tasks = 1000000;
	c->max_duration_ms = 31536000000LL;
	c->max_metadata_bytes = 16384;
	c->http.max_body_bytes = 65536;
	c->http.max_connections = 10000;
	c->http.max_connections_per_ip = 1000;
	c->http.connection_timeout_s = 30;
}

/* Make c the running configuration. */
void
config_set(struct config *c)
{
	config_current = *c;
}
