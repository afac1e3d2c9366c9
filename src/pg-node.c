/*
 * pg-node.c -- this node's name and lease in the nodes table. At start the
 * name is claimed (refused while a live node holds it), with the epoch one
 * up; the lease is renewed every lease_ms / 3 on the loop; a clean stop
 * ends it at once. A renewal that finds the epoch changed means another
 * node took our name or adopted our tasks: said loudly, from then on
 * nothing more is written (every batch fails, the API answers 503), and
 * the daemon hears it (pg_node_on_lost) to drop the work it no longer
 * owns.
 *
 * A lease that ran out with the epoch unchanged (PostgreSQL was away for
 * longer than lease_ms, or the node was paused) is renewed like any other:
 * nobody adopted anything, since taking a name or adopting a node's tasks
 * bumps its epoch first (the cluster's adoption must keep that rule).
 * Until the renewal the fence refuses the node's writes.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>

#define PG_NODE_START_MS	10000

static char		*pg_node_name_;
static char		 pg_node_epoch_[24];	/* as text: a parameter */
static char		 pg_node_lease_ms[24];
static struct pgc	*pg_node_conn;
static struct event	*pg_node_timer;
static int		 pg_node_renewing;	/* a renewal is out */
static int		 pg_node_lost_;		/* the epoch moved on */
static pg_node_lost_cb	*pg_node_on_lost_;

/* The job names this node's config has, as a JSON array (to free). */
char *
pg_node_jobs(void)
{
	json_t *a = json_array();
	char *text;
	size_t i;

	for (i = 0; i < cfg->njobs; i++)
		json_array_append_new(a, json_string(cfg->jobs[i]->name));
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return text;
}

/*
 * Claim the name (blocking: start-up only): a new row, or the row of a
 * node whose lease has run out, with the epoch one up. The first lease
 * also covers the start-up (recovering many commands whose processes
 * outlived the last run takes a while, and the loop renews only after
 * it): PG_NODE_START_MS more, until the first renewal on the loop, which
 * comes as soon as the loop runs. 0, or -1 with *err (a live node has
 * the name).
 */
int
pg_node_claim(struct pgc *c, const char *name, int64_t lease_ms, char **err)
{
	char *jobs = pg_node_jobs();
	char first[24];
	const char *params[3] = { name, first, jobs };
	PGresult *res;

	snprintf(pg_node_lease_ms, sizeof pg_node_lease_ms, "%" PRId64,
	    lease_ms);
	snprintf(first, sizeof first, "%" PRId64, lease_ms +
	    PG_NODE_START_MS);
	res = pgc_exec(c, "INSERT INTO nodes(name, epoch, lease_until,"
	    " started_at, jobs) VALUES ($1, 1, now() + $2 * interval"
	    " '1 millisecond', now(), $3) ON CONFLICT (name) DO UPDATE SET"
	    " epoch = nodes.epoch + 1, lease_until = excluded.lease_until,"
	    " started_at = excluded.started_at, jobs = excluded.jobs"
	    " WHERE nodes.lease_until <= now() RETURNING epoch", 3, params,
	    err);
	free(jobs);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		*err = xasprintf("a live node has the name %s (its lease runs "
		    "for up to lease_ms more; give another --node, or wait)",
		    name);
		PQclear(res);
		return -1;
	}
	pg_node_name_ = xstrdup(name);
	snprintf(pg_node_epoch_, sizeof pg_node_epoch_, "%s",
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	log_info("store: node %s, epoch %s, lease %s ms", name,
	    pg_node_epoch_, pg_node_lease_ms);
	return 0;
}

/* This node's name. */
const char *
pg_node_name(void)
{
	return pg_node_name_;
}

/* This node's epoch, as text (a statement's parameter). */
const char *
pg_node_epoch(void)
{
	return pg_node_epoch_;
}

/* Has the lease gone to another epoch (nothing more may be written)? */
int
pg_node_lost(void)
{
	return pg_node_lost_;
}

/* The renewal: the row of our epoch, its lease pushed on. */
static int
pg_node_send_cb(struct pg_conn *conn, void *arg)
{
	const char *params[3] = { pg_node_name_, pg_node_epoch_,
	    pg_node_lease_ms };

	return PQsendQueryParams(conn, "UPDATE nodes SET lease_until = now()"
	    " + $3 * interval '1 millisecond' WHERE name = $1 AND epoch = $2"
	    " RETURNING lease_until > now()", 3, NULL, params, NULL, NULL,
	    0) == 1 ? 0 : -1;
}

/* The renewal's answer: no row means our epoch is gone. */
static void
pg_node_result_cb(void *arg, int i, struct pg_result *res)
{
	if (PQntuples(res) == 1 || pg_node_lost_)
		return;
	pg_node_lost_ = 1;
	log_error("store: NODE %s LOST ITS LEASE: epoch %s is no longer ours "
	    "(another node took the name or adopted our tasks); nothing more "
	    "is written",
	    pg_node_name_, pg_node_epoch_);
	if (pg_node_on_lost_ != NULL)
		pg_node_on_lost_();
}

/* Who hears that the lease is lost (the daemon: it drops its work). */
void
pg_node_on_lost(pg_node_lost_cb *fn)
{
	pg_node_on_lost_ = fn;
}

/* The renewal ended; a failure is retried at the next tick. */
static void
pg_node_done_cb(void *arg, const char *error)
{
	pg_node_renewing = 0;
	if (error != NULL)
		log_warn("store: cannot renew the lease of node %s: %s",
		    pg_node_name_, error);
}

/* Renew the lease now (at every tick, and when the connection is back). */
void
pg_node_renew(void)
{
	if (pg_node_renewing || pg_node_lost_ || pg_node_conn == NULL)
		return;
	if (pgc_send(pg_node_conn, pg_node_send_cb, pg_node_result_cb,
	    pg_node_done_cb, NULL) != NULL)
		pg_node_renewing = 1;
}

/* Every lease_ms / 3. */
static void
pg_node_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	pg_node_renew();
}

/* Renew the lease from now on, on c (the write connection). */
void
pg_node_start(struct event_base *base, struct pgc *c)
{
	int64_t every = strtoll(pg_node_lease_ms, NULL, 10) / 3;
	struct timeval tv = { (time_t)(every / 1000),
	    (suseconds_t)(every % 1000) * 1000 };

	pg_node_conn = c;
	pg_node_timer = event_new(base, -1, EV_PERSIST, pg_node_tick_cb, NULL);
	event_add(pg_node_timer, &tv);
	/* The first renewal as soon as the loop runs: the lease of the claim
	 * is the start-up's, longer. */
	event_active(pg_node_timer, EV_TIMEOUT, 1);
}

/*
 * A clean stop: the lease ends now, so the name is free at once
 * (blocking: on a connection of its own, the loop is done).
 */
void
pg_node_release(struct pgc *c)
{
	const char *params[2] = { pg_node_name_, pg_node_epoch_ };
	PGresult *res;
	char *err = NULL;

	if (pg_node_timer != NULL)
		event_free(pg_node_timer);
	pg_node_timer = NULL;
	pg_node_conn = NULL;
	if (pg_node_name_ == NULL)
		return;
	if (c != NULL && !pg_node_lost_) {
		res = pgc_exec(c, "UPDATE nodes SET lease_until = now()"
		    " WHERE name = $1 AND epoch = $2", 2, params, &err);
		if (res == NULL) {
			log_warn("store: cannot end the lease of node %s (it "
			    "runs out by itself): %s", pg_node_name_, err);
			free(err);
		}
		PQclear(res);
	}
	free(pg_node_name_);
	pg_node_name_ = NULL;
	pg_node_renewing = pg_node_lost_ = 0;
}
