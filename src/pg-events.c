/*
 * pg-events.c -- the cluster's live side on PostgreSQL (CONTRACT §12): a
 * connection of its own that LISTENs, tails the events table for the hub
 * (every node's events, the seq as the event id), takes the cancel
 * requests other nodes left for the tasks this node runs, and writes the
 * cancel requests for tasks other nodes run.
 *
 * The tail reads `seq > last` on a notification (every transaction that
 * writes events notifies at its commit: pg-schema.c's trigger), on every
 * (re)connection and every PG_EVENTS_POLL_MS, so a lost notification only
 * delays. Seqs commit in order (the trigger's lock), so the tail never
 * skips one committed late. At start it reads back the last
 * PG_EVENTS_WARM events, so a stream resumes on any node from there.
 *
 * Output followers (pg-output.c) hear of their task's output growing
 * (evtaskd_output) and of its events, and all of them at a reconnection.
 *
 * Cancel requests: a row in cancels (one per task, requests counted),
 * then a notification on evtaskd_cancel with the owner's name. The owner
 * takes its rows (DELETE ... RETURNING, for the tasks whose node it is)
 * on that notification, at (re)connection and every PG_EVENTS_POLL_MS,
 * and cancels them as a DELETE would. A dead owner's requests wait for
 * the node that adopts its tasks (tasks.node becomes the adopter's name),
 * which takes them the same way: adoption must leave the cancels rows
 * alone and the adopter cancels the tasks they name. A request taken for a
 * task not in memory here yet (the take ran between an adoption's commit
 * and the adopted tasks' arrival) goes back into the table, and the end
 * of an adoption takes again (pg_events_take), so none is dropped.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define PG_EVENTS_POLL_MS	2000	/* the fall-back, notifications lost */
#define PG_EVENTS_BATCH		"1000"	/* rows per tail read */
#define PG_EVENTS_WARM		4096	/* read back at start (the hub's ring) */

/* A taken cancel request whose task is not in memory here (yet). */
struct pg_cancel_back {
	char	 id[ULID_LEN + 1];
	char	 reason[16];	/* "": a client's (NULL in the table) */
	char	*message;
};

/* The requests of one take that go back into the table. */
struct pg_cancel_backs {
	struct pg_cancel_back	*rows;
	size_t			 n;
};

/* A cancel request on its way: who hears that it is durable. */
struct pg_cancel_req {
	char		 id[ULID_LEN + 1];
	char		*message;
	char		*owner;
	pg_events_done_cb *done;
	void		*arg;
};

static struct pgc		*pge_conn;
static struct event		*pge_poll;
static const struct pg_events_hooks *pge_hooks;
static uint64_t			 pge_last;	/* the last seq fed */
static int			 pge_reading;	/* a tail read is out */
static int			 pge_again;	/* read again after it */
static int			 pge_taking;	/* a cancels read is out */
static int			 pge_nrows;	/* the tail read's rows */

static void	pge_tail(void);
static void	pge_take(void);

/* The hooks: where the events and the cancels go (main.c's). */
void
pg_events_hooks(const struct pg_events_hooks *hooks)
{
	pge_hooks = hooks;
}

/*
 * A write transaction of this node's committed after event seq: a new
 * stream starts after it (what this node did before it is not news).
 */
void
pg_events_committed(uint64_t seq)
{
	if (pge_hooks != NULL)
		pge_hooks->committed(seq);
}

/* One row of the tail: to the hub. */
static void
pge_tail_row_cb(void *arg, int i, PGresult *res)
{
	int r;
	uint64_t seq;

	pge_nrows = PQntuples(res);
	for (r = 0; r < PQntuples(res); r++) {
		seq = strtoull(PQgetvalue(res, r, 0), NULL, 10);
		if (seq <= pge_last)
			continue;	/* never twice */
		pge_last = seq;
		if (pge_hooks != NULL)
			pge_hooks->event(seq, PQgetvalue(res, r, 1),
			    PQgetvalue(res, r, 2));
		pg_slots_event(PQgetvalue(res, r, 2));	/* a slot freed? */
		pg_output_wake(PQgetvalue(res, r, 1));
	}
}

/* The tail read ended: again if more came or the page was full. */
static void
pge_tail_done_cb(void *arg, const char *error)
{
	pge_reading = 0;
	if (error != NULL) {
		log_warn("events: cannot read the events: %s", error);
		return;			/* the poll or the reconnection retries */
	}
	if (pge_again || pge_nrows >= atoi(PG_EVENTS_BATCH))
		pge_tail();
}

/* The tail's statement. */
static int
pge_tail_send_cb(PGconn *conn, void *arg)
{
	char last[24];
	const char *p[1] = { last };

	snprintf(last, sizeof last, "%" PRIu64, pge_last);
	return PQsendQueryParams(conn, "SELECT seq, task_id, doc FROM events"
	    " WHERE seq > $1 ORDER BY seq LIMIT " PG_EVENTS_BATCH, 1, NULL, p,
	    NULL, NULL, 0) == 1 ? 0 : -1;
}

/* Read the events after the last one fed (once at a time). */
static void
pge_tail(void)
{
	if (pge_reading) {
		pge_again = 1;
		return;
	}
	pge_again = 0;
	pge_nrows = 0;
	if (pgc_send(pge_conn, pge_tail_send_cb, pge_tail_row_cb,
	    pge_tail_done_cb, NULL) != NULL)
		pge_reading = 1;
}

/* The one place the requests to put back are freed. */
static void
pge_backs_free(struct pg_cancel_backs *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->rows[i].message);
	free(b->rows);
	free(b);
}

/* Keep a request whose task is not here for putting back. */
static void
pge_backs_add(struct pg_cancel_backs *b, const char *id, int reason,
    const char *message)
{
	struct pg_cancel_back *k;

	b->rows = xrealloc(b->rows, (b->n + 1) * sizeof *b->rows);
	k = &b->rows[b->n++];
	snprintf(k->id, sizeof k->id, "%s", id);
	k->reason[0] = '\0';
	if (reason > 0)
		snprintf(k->reason, sizeof k->reason, "%d", reason);
	k->message = message != NULL ? xstrdup(message) : NULL;
}

/* The put-back's rows, in one transaction (no notification). */
static int
pge_back_send_cb(PGconn *conn, void *arg)
{
	struct pg_cancel_backs *b = arg;
	const char *p[4];
	size_t i;

	for (i = 0; i < b->n; i++) {
		p[0] = b->rows[i].id;
		p[1] = b->rows[i].message;
		p[2] = pg_node_name();
		p[3] = b->rows[i].reason[0] != '\0' ? b->rows[i].reason : NULL;
		if (PQsendQueryParams(conn, "INSERT INTO cancels(task_id,"
		    " message, by_node, reason) VALUES ($1, $2, $3, $4) ON"
		    " CONFLICT (task_id) DO NOTHING", 4, NULL, p, NULL, NULL,
		    0) != 1)
			return -1;
	}
	return 0;
}

/* The put-back ended: if it failed, those requests are lost (said). */
static void
pge_back_done_cb(void *arg, const char *error)
{
	struct pg_cancel_backs *b = arg;

	if (error != NULL)
		log_warn("events: %zu cancel requests lost (cannot put them "
		    "back: %s); their callers may repeat them", b->n, error);
	pge_backs_free(b);
}

/*
 * The cancel requests for this node's tasks: each to the hook. One for an
 * active task not in memory here yet is kept to go back; one for a task
 * that has ended is done (its callers hear the end from the events).
 */
static void
pge_take_row_cb(void *arg, int i, PGresult *res)
{
	struct pg_cancel_backs *b = arg;
	const char *message;
	struct ulid id;
	int r, reason;

	for (r = 0; r < PQntuples(res); r++) {
		if (ulid_parse(PQgetvalue(res, r, 0), &id) != 0 ||
		    pge_hooks == NULL)
			continue;
		message = PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1);
		reason = PQgetisnull(res, r, 2) ? 0 : atoi(PQgetvalue(res, r,
		    2));
		if (pge_hooks->cancel(&id, reason, message) != 0 &&
		    atoi(PQgetvalue(res, r, 3)) < TASK_SUCCEEDED)
			pge_backs_add(b, PQgetvalue(res, r, 0), reason,
			    message);
	}
}

/*
 * The cancels read ended: the requests for tasks not in memory here yet
 * go back into the table, for the next take.
 */
static void
pge_take_done_cb(void *arg, const char *error)
{
	struct pg_cancel_backs *b = arg;

	pge_taking = 0;
	if (error != NULL)
		log_warn("events: cannot take the cancel requests: %s", error);
	if (b->n == 0) {
		pge_backs_free(b);
		return;
	}
	log_debug("events: %zu cancel requests for tasks not loaded here yet "
	    "go back to the table", b->n);
	if (pgc_send(pge_conn, pge_back_send_cb, NULL, pge_back_done_cb,
	    b) == NULL)
		pge_back_done_cb(b, "the connection is down");
}

/* Take (delete and return) the requests for the tasks this node runs. */
static int
pge_take_send_cb(PGconn *conn, void *arg)
{
	const char *p[1] = { pg_node_name() };

	return PQsendQueryParams(conn, "DELETE FROM cancels c USING tasks t"
	    " WHERE t.id = c.task_id AND t.node = $1 RETURNING c.task_id,"
	    " c.message, c.reason, t.state", 1, NULL, p, NULL, NULL, 0) == 1 ?
	    0 : -1;
}

/* Take the cancel requests left for this node (once at a time). */
static void
pge_take(void)
{
	struct pg_cancel_backs *b;

	if (pge_taking || pge_conn == NULL)
		return;
	b = xcalloc(1, sizeof *b);
	if (pgc_send(pge_conn, pge_take_send_cb, pge_take_row_cb,
	    pge_take_done_cb, b) != NULL)
		pge_taking = 1;
	else
		pge_backs_free(b);
}

/* Adopted tasks are in memory now: take the requests waiting for them. */
void
pg_events_take(void)
{
	pge_take();
}

/* A notification: events committed, or a cancel request for a node. */
static void
pge_notify_cb(void *arg, const char *channel, const char *payload)
{
	if (strcmp(channel, "evtaskd_events") == 0)
		pge_tail();
	else if (strcmp(channel, "evtaskd_cancel") == 0 &&
	    pg_node_name() != NULL && strcmp(payload, pg_node_name()) == 0)
		pge_take();
	else if (strcmp(channel, "evtaskd_output") == 0)
		pg_output_wake(payload);
}

/* LISTEN on the three channels. */
static int
pge_listen_send_cb(PGconn *conn, void *arg)
{
	return PQsendQueryParams(conn, "LISTEN evtaskd_events", 0, NULL, NULL,
	    NULL, NULL, 0) == 1 && PQsendQueryParams(conn,
	    "LISTEN evtaskd_cancel", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
	    PQsendQueryParams(conn, "LISTEN evtaskd_output", 0, NULL, NULL,
	    NULL, NULL, 0) == 1 ? 0 : -1;
}

/* LISTEN is on, or not (then the poll still tails). */
static void
pge_listen_done_cb(void *arg, const char *error)
{
	if (error != NULL)
		log_warn("events: cannot LISTEN: %s", error);
}

/* (Re)connected: listen, then catch up on what was missed meanwhile. */
static void
pge_up_cb(void *arg)
{
	pge_reading = pge_taking = 0;
	pgc_send(pge_conn, pge_listen_send_cb, NULL, pge_listen_done_cb, NULL);
	pge_tail();
	pge_take();
	pg_output_wake(NULL);		/* output news may have been missed */
}

/* The fall-back poll. */
static void
pge_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	pge_tail();
	pge_take();
}

/* Where the tail starts: PG_EVENTS_WARM events back (blocking: start). */
static int
pge_start_at(char **err)
{
	PGresult *res = pgc_exec(pge_conn, "SELECT coalesce(max(seq), 0)"
	    " FROM events", 0, NULL, err);
	uint64_t max;

	if (res == NULL)
		return -1;
	max = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	pge_last = max > PG_EVENTS_WARM ? max - PG_EVENTS_WARM : 0;
	if (pge_hooks != NULL)
		pge_hooks->start(pge_last);
	return 0;
}

/* Open the connection (blocking: start-up) and put it on the loop. */
int
pg_events_open(struct event_base *base, const char *url, char **err)
{
	struct timeval tv = { PG_EVENTS_POLL_MS / 1000,
	    (PG_EVENTS_POLL_MS % 1000) * 1000 };

	pge_conn = pgc_new(base, url, "events", pge_up_cb, NULL);
	pgc_on_notify(pge_conn, pge_notify_cb);
	if (pgc_connect_now(pge_conn, err) != 0 || pge_start_at(err) != 0) {
		pgc_free(pge_conn);
		pge_conn = NULL;
		return -1;
	}
	pge_poll = event_new(base, -1, EV_PERSIST, pge_poll_cb, NULL);
	event_add(pge_poll, &tv);
	pgc_start(pge_conn);
	return 0;
}

/* Close (requests in flight are told they failed). */
void
pg_events_close(void)
{
	if (pge_poll != NULL)
		event_free(pge_poll);
	pge_poll = NULL;
	pgc_free(pge_conn);
	pge_conn = NULL;
}

/* The one place a cancel request is freed. */
static void
pge_cancel_free(struct pg_cancel_req *c)
{
	free(c->message);
	free(c->owner);
	free(c);
}

/* The request row and the owner's notification, in one transaction. */
static int
pge_cancel_send_cb(PGconn *conn, void *arg)
{
	struct pg_cancel_req *c = arg;
	const char *p[3] = { c->id, c->message, pg_node_name() };
	const char *n[1] = { c->owner };

	return PQsendQueryParams(conn, "INSERT INTO cancels(task_id, message,"
	    " by_node) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO UPDATE"
	    " SET requests = cancels.requests + 1", 3, NULL, p, NULL, NULL,
	    0) == 1 && PQsendQueryParams(conn, "SELECT pg_notify("
	    "'evtaskd_cancel', $1)", 1, NULL, n, NULL, NULL, 0) == 1 ? 0 : -1;
}

/* The request is stored (error NULL), or not. */
static void
pge_cancel_done_cb(void *arg, const char *error)
{
	struct pg_cancel_req *c = arg;

	if (error != NULL)
		log_warn("events: cannot store a cancel request for %s: %s",
		    c->id, error);
	c->done(c->arg, error == NULL ? 0 : -1);
	pge_cancel_free(c);
}

/*
 * Ask owner (the node that runs task id) to cancel it: done hears 0 once
 * the request is committed, -1 if it is not. -1 now if it cannot go out.
 */
int
pg_events_cancel(const struct ulid *id, const char *message,
    const char *owner, pg_events_done_cb *done, void *arg)
{
	struct pg_cancel_req *c = xcalloc(1, sizeof *c);

	ulid_format(id, c->id);
	c->message = message != NULL ? xstrdup(message) : NULL;
	c->owner = xstrdup(owner);
	c->done = done;
	c->arg = arg;
	if (pge_conn == NULL || pgc_send(pge_conn, pge_cancel_send_cb, NULL,
	    pge_cancel_done_cb, c) == NULL) {
		pge_cancel_free(c);
		return -1;
	}
	return 0;
}
