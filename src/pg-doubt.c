/*
 * pg-doubt.c -- transactions whose outcome is unknown. When the write
 * connection breaks while a COMMIT is out, the transaction may have
 * committed or not; the store is told it failed, so the clients hear 503
 * and the tasks it created are withdrawn, never to be written again. Had
 * it committed, those tasks would be in the database all the same, and a
 * restart would run them (the bug 0.1 had). So their ids are kept here,
 * and the first thing sent on the next connection deletes them, with
 * their events and outbox rows, where they are and still this node's.
 * A withdrawn task's id is never written again, so deleting it is right
 * whatever the outcome was.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static char	(*pg_doubt_ids)[ULID_LEN + 1];
static size_t	 pg_ndoubt, pg_doubt_cap;
static size_t	 pg_doubt_sent;		/* the first ones, in a deletion out */
static long	 pg_doubt_found;	/* what it deleted */

/* The tasks a failed batch created: stored or not, nobody can tell. */
void
pg_doubt_note(const struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		if (!b->tasks[i]->st_new || b->tasks[i]->withdrawn)
			continue;
		if (pg_ndoubt == pg_doubt_cap) {
			pg_doubt_cap = pg_doubt_cap == 0 ? 64 : pg_doubt_cap * 2;
			pg_doubt_ids = xrealloc(pg_doubt_ids, pg_doubt_cap *
			    sizeof *pg_doubt_ids);
		}
		memcpy(pg_doubt_ids[pg_ndoubt++], b->rows[i].id, ULID_LEN + 1);
	}
}

/* The ids as an SQL array literal (ULIDs: letters and digits only). */
static char *
pg_doubt_array(size_t n)
{
	struct buf b = { 0 };
	size_t i;

	buf_adds(&b, "{");
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_adds(&b, ",");
		buf_adds(&b, pg_doubt_ids[i]);
	}
	buf_adds(&b, "}");
	return buf_steal(&b, NULL);
}

/* The deletion: tasks still ours, with their events and outbox rows. */
static int
pg_doubt_send_cb(struct pg_conn *conn, void *arg)
{
	char *ids = pg_doubt_array(pg_doubt_sent);
	const char *p[3] = { ids, pg_node_name(), pg_node_epoch() };
	int rc = PQsendQueryParams(conn, "WITH t AS (DELETE FROM tasks WHERE"
	    " id = ANY($1::text[]) AND node = $2 AND epoch = $3 RETURNING id),"
	    " e AS (DELETE FROM events WHERE task_id IN (SELECT id FROM t)),"
	    " o AS (DELETE FROM outbox WHERE task_id IN (SELECT id FROM t))"
	    " SELECT count(*) FROM t", 3, NULL, p, NULL, NULL, 0);

	free(ids);
	return rc == 1 ? 0 : -1;
}

/* How many there were. */
static void
pg_doubt_result_cb(void *arg, int i, struct pg_result *res)
{
	if (PQntuples(res) == 1)
		pg_doubt_found = strtol(PQgetvalue(res, 0, 0), NULL, 10);
}

/* Deleted: those ids are settled (a failure keeps them for next time). */
static void
pg_doubt_done_cb(void *arg, const char *error)
{
	size_t n = pg_doubt_sent;

	pg_doubt_sent = 0;
	if (error != NULL) {
		log_warn("store: cannot yet remove the %zu tasks whose commit "
		    "was in doubt: %s", n, error);
		return;
	}
	if (pg_doubt_found > 0)
		log_warn("store: %ld tasks whose creation was answered 503 "
		    "had been committed after all (the connection broke during "
		    "the commit): removed", pg_doubt_found);
	memmove(pg_doubt_ids, pg_doubt_ids + n, (pg_ndoubt - n) *
	    sizeof *pg_doubt_ids);
	pg_ndoubt -= n;
}

/* On a new connection, first: settle the tasks in doubt. */
void
pg_doubt_resolve(struct pgc *c)
{
	if (pg_ndoubt == 0 || pg_doubt_sent > 0)
		return;
	pg_doubt_sent = pg_ndoubt;
	pg_doubt_found = 0;
	if (pgc_send(c, pg_doubt_send_cb, pg_doubt_result_cb, pg_doubt_done_cb,
	    NULL) == NULL)
		pg_doubt_sent = 0;
}

/* At close: what is still in doubt stays so (said), and is forgotten. */
void
pg_doubt_free(void)
{
	char *ids;

	if (pg_ndoubt > 0) {
		ids = pg_doubt_array(pg_ndoubt);
		log_warn("store: %zu tasks answered 503 may be stored all the "
		    "same (the connection broke during their commit), and would "
		    "run after a restart: %s", pg_ndoubt, ids);
		free(ids);
	}
	free(pg_doubt_ids);
	pg_doubt_ids = NULL;
	pg_ndoubt = pg_doubt_cap = pg_doubt_sent = 0;
}
