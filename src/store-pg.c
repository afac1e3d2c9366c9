/*
 * store-pg.c -- the PostgreSQL backend (--store postgresql://...): the
 * store's operations and its batches. Two connections, both libpq on the
 * loop (pg-conn.c): one writes (batches and the lease, in order), one
 * reads (pg-read.c), so a GET never waits behind a commit.
 *
 * Batches go out as SQLite's writer sends them: while one transaction is
 * in flight the next batches wait, then all of them go in one transaction
 * (group commit). A transaction starts with the fence (the node's epoch
 * and lease, pg-schema.c) and writes every task change with its events
 * row; it is acknowledged only after its COMMIT. A failed transaction
 * fails the batches waiting behind it untried, until the store's retry
 * comes (a later batch must not store a change of a task whose creation
 * failed), exactly as store-writer.c does. Task output (pg-output.c)
 * goes out on the same connection just before each transaction.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define PG_CLOSE_WAIT_US	(5 * 1000000)	/* for a renewal out */

STAILQ_HEAD(pg_batches, store_batch);

static struct event_base	*pg_base;
static struct pgc		*pg_write;
static struct pgc		*pg_readc;
static struct pg_batches	 pg_todo = STAILQ_HEAD_INITIALIZER(pg_todo);
static struct pg_batches	 pg_inflight =
    STAILQ_HEAD_INITIALIZER(pg_inflight);
static struct pg_batches	 pg_failed = STAILQ_HEAD_INITIALIZER(pg_failed);
static struct event		*pg_failed_ev;
static int			 pg_poisoned;	/* a transaction failed */
static int64_t			 pg_sent_us;	/* the one in flight, since */
static int			 pg_nstmts;	/* statements sent in it */
static struct store_batch	*pg_purge;	/* a purge in it, */
static int			 pg_purge_at;	/* its statement's index */
static int			 pg_last_at;	/* PGS_LAST_EVENT's index */
static struct pg_slots_out	*pg_rel;	/* slots released in it */

static void	pg_kick(void);

/* The write statements, prepared on every (re)connection. */
enum {
	PGS_FENCE,
	PGS_UPSERT,
	PGS_OUTBOX_ADD,
	PGS_OUTBOX_SET,
	PGS_SCHED_PUT,
	PGS_SCHED_DEL,
	PGS_PURGE,
	PGS_PURGE_EVENTS,
	PGS_EVENT,
	PGS_LAST_EVENT,
	PGS_COUNT
};

static const struct {
	const char	*name;
	const char	*sql;
} pg_stmts[PGS_COUNT] = {
	[PGS_FENCE] = { "evtaskd_fence", "SELECT evtaskd_fence($1, $2)" },
	/* A task's row (no node while unplaced: $11), and its events row if
	 * its state changed. */
	[PGS_UPSERT] = { "evtaskd_upsert",
	    "WITH o AS (SELECT state FROM tasks WHERE id = $1),"
	    " t AS (INSERT INTO tasks(id, node, epoch, kind, state,"
	    " finished_at, idem_key, idem_body, schedule_id, doc)"
	    " VALUES ($1, CASE WHEN $11::boolean THEN NULL ELSE $2 END, $3, $4,"
	    " $5, $6, $7, $8, $9, $10)"
	    " ON CONFLICT (id) DO UPDATE SET node = excluded.node,"
	    " epoch = excluded.epoch, state = excluded.state,"
	    " finished_at = excluded.finished_at, doc = excluded.doc,"
	    " updated_at = now() RETURNING id)"
	    " INSERT INTO events(task_id, node, doc) SELECT id, $2, $10 FROM t"
	    " WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.state = $5)" },
	[PGS_OUTBOX_ADD] = { "evtaskd_outbox_add",
	    "INSERT INTO outbox(id, task_id, callback, state, attempts,"
	    " next_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	    " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
	    " attempts = excluded.attempts, next_at = excluded.next_at" },
	[PGS_OUTBOX_SET] = { "evtaskd_outbox_set",
	    "UPDATE outbox SET state = $2, attempts = $3, next_at = $4"
	    " WHERE id = $1" },
	[PGS_SCHED_PUT] = { "evtaskd_sched_put",
	    "INSERT INTO schedules(id, node, doc) VALUES ($1, $2, $3)"
	    " ON CONFLICT (id) DO UPDATE SET node = excluded.node,"
	    " doc = excluded.doc" },
	[PGS_SCHED_DEL] = { "evtaskd_sched_del",
	    "DELETE FROM schedules WHERE id = $1" },
	/* A task whose callback is still pending stays until it is not. */
	[PGS_PURGE] = { "evtaskd_purge",
	    "WITH p AS (DELETE FROM tasks WHERE id IN (SELECT id FROM tasks"
	    " WHERE finished_at < $1 AND id NOT IN (SELECT task_id FROM outbox"
	    " WHERE state = 0) LIMIT $2) RETURNING id),"
	    " o AS (DELETE FROM outbox WHERE task_id IN (SELECT id FROM p)),"
	    " x AS (DELETE FROM output WHERE task_id IN (SELECT id FROM p))"
	    " SELECT id FROM p" },
	/* Events are kept for retention_s, as finished tasks are. */
	[PGS_PURGE_EVENTS] = { "evtaskd_purge_events",
	    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE"
	    " at < to_timestamp($1 / 1000.0) LIMIT $2)" },
	/* A state a task passed before its row's, in the same pass. */
	[PGS_EVENT] = { "evtaskd_event",
	    "INSERT INTO events(task_id, node, doc) VALUES ($1, $2, $3)" },
	/* The last event committed with (or before) this transaction. */
	[PGS_LAST_EVENT] = { "evtaskd_last_event",
	    "SELECT coalesce(max(seq), 0) FROM events" },
};

/* Send one prepared statement of the transaction; 0 or -1. */
static int
pg_send(PGconn *conn, int stmt, int n, const char *const *params)
{
	pg_nstmts++;
	return PQsendQueryPrepared(conn, pg_stmts[stmt].name, n, params, NULL,
	    NULL, 0) == 1 ? 0 : -1;
}

/* Prepare the statements on a new connection. */
static int
pg_prepare_cb(PGconn *conn, void *arg)
{
	int i;

	for (i = 0; i < PGS_COUNT; i++) {
		if (PQsendPrepare(conn, pg_stmts[i].name, pg_stmts[i].sql, 0,
		    NULL) != 1)
			return -1;
	}
	return 0;
}

/* Prepared, or not (then every batch fails and says why). */
static void
pg_prepared_cb(void *arg, const char *error)
{
	if (error != NULL)
		log_error("store: cannot prepare the statements: %s", error);
}

/* A task's row, and its events row, in one statement. */
static int
pg_send_row(PGconn *conn, const struct store_row *r)
{
	char state[16], fin[24];
	const char *p[11] = { r->id, pg_node_name(), pg_node_epoch(),
	    r->kind, state, NULL, r->idem_key, r->idem_body, NULL, r->doc,
	    r->unplaced ? "true" : "false" };

	snprintf(state, sizeof state, "%d", r->state);
	if (r->finished_at != TASK_TIME_NONE) {
		snprintf(fin, sizeof fin, "%" PRId64, r->finished_at);
		p[5] = fin;
	}
	if (r->idem_key == NULL)
		p[7] = NULL;
	if (r->schedule_id[0] != '\0')
		p[8] = r->schedule_id;
	return pg_send(conn, PGS_UPSERT, 11, p);
}

/* One outbox row: a new delivery, or how an old one stands. */
static int
pg_send_delivery(PGconn *conn, const struct store_delivery *d)
{
	char state[16], attempts[16], next[24];
	const char *add[7] = { d->id, d->task_id, d->callback, state,
	    attempts, next, d->body };
	const char *set[4] = { d->id, state, attempts, next };

	snprintf(state, sizeof state, "%d", d->state);
	snprintf(attempts, sizeof attempts, "%d", d->attempts);
	snprintf(next, sizeof next, "%" PRId64, d->next_at);
	return d->body != NULL ? pg_send(conn, PGS_OUTBOX_ADD, 7, add) :
	    pg_send(conn, PGS_OUTBOX_SET, 4, set);
}

/* One schedule's row, written or deleted. */
static int
pg_send_srow(PGconn *conn, const struct store_srow *r)
{
	const char *p[3] = { r->id, pg_node_name(), r->doc };

	if (r->doc == NULL)
		return pg_send(conn, PGS_SCHED_DEL, 1, p);
	return pg_send(conn, PGS_SCHED_PUT, 3, p);
}

/* A purge: expired tasks (their ids come back) and old events. */
static int
pg_send_purge(PGconn *conn, struct store_batch *b)
{
	char cutoff[24], limit[16];
	const char *p[2] = { cutoff, limit };

	snprintf(cutoff, sizeof cutoff, "%" PRId64, b->purge_cutoff);
	snprintf(limit, sizeof limit, "%d", b->purge_batch);
	b->purged_ids = xcalloc((size_t)b->purge_batch, sizeof *b->purged_ids);
	b->purged = 0;
	pg_purge = b;
	pg_purge_at = pg_nstmts;
	return pg_send(conn, PGS_PURGE, 2, p) != 0 ||
	    pg_send(conn, PGS_PURGE_EVENTS, 2, p) != 0 ? -1 : 0;
}

/* One batch's statements. */
static int
pg_send_batch(PGconn *conn, struct store_batch *b)
{
	const char *p[3] = { NULL, pg_node_name(), NULL };
	size_t i;

	for (i = 0; i < b->nevents; i++) {
		p[0] = b->events[i].id;
		p[2] = b->events[i].doc;
		if (pg_send(conn, PGS_EVENT, 3, p) != 0)
			return -1;
	}
	for (i = 0; i < b->nrows; i++) {
		if (pg_send_row(conn, &b->rows[i]) != 0)
			return -1;
	}
	for (i = 0; i < b->ndeliveries; i++) {
		if (pg_send_delivery(conn, &b->deliveries[i]) != 0)
			return -1;
	}
	for (i = 0; i < b->nsrows; i++) {
		if (pg_send_srow(conn, &b->srows[i]) != 0)
			return -1;
	}
	return b->purge_batch > 0 ? pg_send_purge(conn, b) : 0;
}

/* The transaction: the fence, then every batch in flight. */
static int
pg_send_cb(PGconn *conn, void *arg)
{
	const char *p[2] = { pg_node_name(), pg_node_epoch() };
	struct store_batch *b;
	int n;

	pg_nstmts = 0;
	pg_purge = NULL;
	if (pg_send(conn, PGS_FENCE, 2, p) != 0 ||
	    (n = pg_slots_send(conn, &pg_rel)) < 0)
		return -1;
	pg_nstmts += n;		/* the slots released (pg-slots.c) */
	STAILQ_FOREACH(b, &pg_inflight, entry) {
		if (pg_send_batch(conn, b) != 0)
			return -1;
	}
	pg_last_at = pg_nstmts;
	return pg_send(conn, PGS_LAST_EVENT, 0, NULL);
}

/* A statement's result: the purge's ids are kept for the store. */
static void
pg_result_cb(void *arg, int i, PGresult *res)
{
	struct store_batch *b = pg_purge;
	int r;

	if (i == pg_last_at && PQntuples(res) == 1)
		pg_events_committed(strtoull(PQgetvalue(res, 0, 0), NULL, 10));
	if (b == NULL || i != pg_purge_at)
		return;
	for (r = 0; r < PQntuples(res) && b->purged < b->purge_batch; r++)
		snprintf(b->purged_ids[b->purged++], ULID_LEN + 1, "%s",
		    PQgetvalue(res, r, 0));
}

/* Hand every batch of a list back to the store, oldest first. */
static void
pg_hand_back(struct pg_batches *list)
{
	struct store_batch *b;

	while ((b = STAILQ_FIRST(list)) != NULL) {
		STAILQ_REMOVE_HEAD(list, entry);
		store_done(b);
	}
}

/* Mark the batches of a list failed with error. */
static void
pg_fail(struct pg_batches *list, const char *error)
{
	struct store_batch *b;

	STAILQ_FOREACH(b, list, entry) {
		b->rc = -1;
		if (b->error == NULL)
			b->error = xstrdup(error);
		if (b->purge_batch > 0)
			b->purged = 0;
	}
	pg_poisoned = 1;
}

/* The transaction ended: every batch in it is back, stored or not. */
static void
pg_done_cb(void *arg, const char *error)
{
	struct pg_batches done = STAILQ_HEAD_INITIALIZER(done);
	struct store_batch *b;
	int64_t us = clock_mono_us() - pg_sent_us;

	STAILQ_CONCAT(&done, &pg_inflight);
	pg_purge = NULL;
	pg_slots_written(pg_rel, error);
	pg_rel = NULL;
	if (error != NULL)
		pg_fail(&done, error);
	/* The connection broke with the COMMIT out: it may have happened. */
	STAILQ_FOREACH(b, &done, entry) {
		if (error != NULL && !pgc_is_up(pg_write))
			pg_doubt_note(b);
	}
	STAILQ_FOREACH(b, &done, entry) {
		if (error == NULL)
			b->rc = 0;
		b->commit_us = us;
	}
	pg_hand_back(&done);
	pg_kick();
}

/* Failed batches go back from the loop, never from inside submit. */
static void
pg_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	pg_hand_back(&pg_failed);
}

/* Fail every waiting batch without trying it; handed back soon. */
static void
pg_fail_todo(const char *error)
{
	pg_fail(&pg_todo, error);
	STAILQ_CONCAT(&pg_failed, &pg_todo);
	event_active(pg_failed_ev, EV_TIMEOUT, 0);
}

/*
 * After a failure, the batches that waited behind it fail untried until
 * the store's retry (the first after the failure) comes.
 */
static void
pg_skip_poisoned(void)
{
	struct store_batch *b;

	while (pg_poisoned && (b = STAILQ_FIRST(&pg_todo)) != NULL &&
	    !b->retry) {
		STAILQ_REMOVE_HEAD(&pg_todo, entry);
		b->rc = -1;
		b->error = xstrdup("not tried: an earlier commit failed");
		STAILQ_INSERT_TAIL(&pg_failed, b, entry);
		event_active(pg_failed_ev, EV_TIMEOUT, 0);
	}
	if (!STAILQ_EMPTY(&pg_todo))
		pg_poisoned = 0;
}

/* Send the waiting batches as one transaction, unless one is out. */
static void
pg_kick(void)
{
	char *why;

	if (!STAILQ_EMPTY(&pg_inflight))
		return;
	pg_skip_poisoned();
	if (STAILQ_EMPTY(&pg_todo))
		return;
	if (pg_node_lost()) {
		why = xasprintf("node %s lost its lease (epoch %s): nothing "
		    "more is written", pg_node_name(), pg_node_epoch());
		pg_fail_todo(why);
		free(why);
		return;
	}
	pg_output_flush();	/* the output before the states it led to */
	STAILQ_CONCAT(&pg_inflight, &pg_todo);
	pg_sent_us = clock_mono_us();
	if (pgc_send(pg_write, pg_send_cb, pg_result_cb, pg_done_cb, NULL) ==
	    NULL) {
		STAILQ_CONCAT(&pg_todo, &pg_inflight);
		pg_slots_written(pg_rel, "not sent");	/* they wait again */
		pg_rel = NULL;
		pg_fail_todo(pgc_error(pg_write));
		return;
	}
	pg_slots_written(NULL, NULL);	/* the takes behind the releases go */
}

/* Hand a batch to PostgreSQL. */
static void
pg_submit(struct store_batch *b)
{
	STAILQ_INSERT_TAIL(&pg_todo, b, entry);
	pg_kick();
}

/*
 * The write connection is (again) up: its statements prepared, the tasks
 * of a commit in doubt settled (pg-doubt.c), the lease renewed, then the
 * batches.
 */
static void
pg_up_cb(void *arg)
{
	pgc_send(pg_write, pg_prepare_cb, NULL, pg_prepared_cb, NULL);
	pg_doubt_resolve(pg_write);
	pg_node_renew();
	pg_kick();
	pg_slots_up();
}

/* Block until something comes back (start-up, shutdown). */
static void
pg_wait(void)
{
	if (!STAILQ_EMPTY(&pg_failed)) {
		pg_hand_back(&pg_failed);
		return;
	}
	pgc_wait(pg_write);
}

/*
 * The URI as the log may show it: without a password (in the user part
 * or as a parameter). To free.
 */
char *
store_pg_redact(const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *colon, *end;
	char *s, *p, *q;

	if (scheme == NULL)
		return xstrdup(url);
	scheme += 3;
	end = scheme + strcspn(scheme, "/?");
	for (at = end; at > scheme && at[-1] != '@'; at--)
		;		/* the last '@': a password may hold one */
	at = at > scheme ? at - 1 : NULL;
	colon = at != NULL ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
	s = colon != NULL ? xasprintf("%.*s%s", (int)(colon - url), url, at) :
	    xstrdup(url);
	while ((p = strstr(s, "password=")) != NULL && p > s &&
	    (p[-1] == '?' || p[-1] == '&')) {
		q = p + strcspn(p, "&");
		if (*q == '&')		/* "password=x&" goes */
			memmove(p, q + 1, strlen(q + 1) + 1);
		else			/* "?password=x" or "&password=x" goes */
			p[-1] = '\0';
	}
	return s;
}

/* This node's name: --node, the config's, or the host name. */
static char *
pg_node_default(void)
{
	char host[256];

	if (cfg->node != NULL)
		return xstrdup(cfg->node);
	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		return xstrdup("evtaskd");
	host[sizeof host - 1] = '\0';
	return xstrdup(host);
}

/* A start that failed half way: both connections and the timer go; -1. */
static int
pg_open_undo(void)
{
	pgc_free(pg_write);
	pgc_free(pg_readc);
	event_free(pg_failed_ev);
	pg_write = pg_readc = NULL;
	pg_failed_ev = NULL;
	return -1;
}

/*
 * Connect (blocking: start-up only), create or migrate the schema, claim
 * the node's name, and put both connections on the loop. 0, or -1 with
 * *err.
 */
static int
pg_open(struct event_base *base, const char *url, char **err)
{
	char *node = pg_node_default();
	int rc;

	pg_base = base;
	pg_write = pgc_new(base, url, "write", pg_up_cb, NULL);
	pg_readc = pgc_new(base, url, "read", NULL, NULL);
	pg_failed_ev = evtimer_new(base, pg_failed_cb, NULL);
	rc = pgc_connect_now(pg_write, err) != 0 ||
	    pgc_connect_now(pg_readc, err) != 0 || pg_schema(pg_write, err) !=
	    0 || pg_node_claim(pg_write, node, cfg->lease_ms, err) != 0 ? -1 :
	    0;
	free(node);
	if (rc != 0)
		return pg_open_undo();
	if (pg_events_open(base, url, err) != 0) {
		pg_node_release(pg_write);
		return pg_open_undo();
	}
	pg_read_open(pg_readc);
	pg_slots_open(base, pg_write);
	pg_output_open(base, pg_write, pg_readc);
	pgc_start(pg_write);
	pg_node_start(base, pg_write);
	pg_adopt_start(base, pg_write, cfg->lease_ms);
	return 0;
}

/* Close: the lease ends now (the name is free at once), then both go. */
static void
pg_close(void)
{
	int64_t until = clock_mono_us() + PG_CLOSE_WAIT_US;

	if (pg_write == NULL)
		return;
	pg_adopt_stop();	/* a round out adopts for the next node */
	pg_output_close();	/* the output waiting goes out first */
	/* A renewal may still be out: its answer first, then the release. */
	while (!pgc_idle(pg_write) && pgc_is_up(pg_write) &&
	    clock_mono_us() < until)
		pgc_wait(pg_write);
	pg_node_release(pgc_stop(pg_write) == 0 ? pg_write : NULL);
	pg_events_close();
	pg_read_open(NULL);
	pgc_free(pg_write);
	pgc_free(pg_readc);
	pg_write = pg_readc = NULL;
	pg_slots_close();
	pg_hand_back(&pg_failed);
	event_free(pg_failed_ev);
	pg_failed_ev = NULL;
	pg_doubt_free();
}

const struct store_ops store_pg = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.submit = pg_submit,
	.wait = pg_wait,
	.get = pg_get,
	.find_idem = pg_find_idem,
	.list = pg_list,
	.read_drop = pg_read_drop,
	.max_id = pg_max_id,
	.load = pg_load,
	.load_one = pg_load_one,
	.outbox = pg_outbox,
	.load_schedules = pg_load_schedules,
};
