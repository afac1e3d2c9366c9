/*
 * pg-adopt.c -- fail-over (CONTRACT §12): every min(lease_ms / 3, 1 s),
 * on the loop, this node looks for nodes whose lease ran out and takes
 * their active tasks, in one transaction fenced like every write:
 *
 *   - the dead nodes' rows are locked (SKIP LOCKED: two adopters never
 *     wait for each other, and a node still writing is left for the next
 *     round), and their epoch goes one up, so a node that was only paused
 *     finds its lease gone at its next renewal and writes nothing more;
 *   - their active tasks (a command only if this node's config has its
 *     job; a sleep task always) get this node's name and epoch, SKIP
 *     LOCKED as well, at most PG_ADOPT_MAX a round.
 *
 * Only after the COMMIT are the tasks handed to the daemon (pg_adopt_on),
 * which resumes them as recovery does: scheduled and sleep tasks keep
 * their absolute times, running commands end cancelled (node_lost) and
 * their cleanup runs here, a cancelling task's cleanup runs again.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define PG_ADOPT_MAX		"500"	/* tasks a round */
#define PG_ADOPT_EVERY_MAX_MS	1000

/* One adopted task, until the COMMIT says it is ours. */
struct pg_adopted {
	char	*id;
	char	*doc;
	char	*from;		/* the dead node's name */
};

static struct pgc		*pg_adopt_conn;
static struct event		*pg_adopt_timer;
static pg_adopt_cb		*pg_adopt_fn;
static int			 pg_adopt_out;	/* a round is in flight */
static char			*pg_adopt_jobs;	/* this node's, a JSON array */
static struct pg_adopted	*pg_adopt_rows;
static size_t			 pg_adopt_n;

/*
 * The adoption: the dead nodes (locked, their epoch bumped when a task of
 * theirs is taken), then their tasks this node may run.
 */
static const char pg_adopt_sql[] =
	"WITH d AS (SELECT name FROM nodes WHERE name <> $1"
	" AND lease_until <= now() FOR UPDATE SKIP LOCKED),"
	" c AS (SELECT t.id, t.node FROM tasks t WHERE t.node IN"
	" (SELECT name FROM d) AND t.state < $3 AND (t.kind <> 'command'"
	" OR $4::jsonb ? ((t.doc::jsonb) ->> 'job')) ORDER BY t.id"
	" LIMIT " PG_ADOPT_MAX " FOR UPDATE OF t SKIP LOCKED),"
	" a AS (UPDATE tasks t SET node = $1, epoch = $2, updated_at = now()"
	" FROM c WHERE t.id = c.id RETURNING t.id, t.doc, c.node AS old),"
	" b AS (UPDATE nodes SET epoch = epoch + 1 WHERE name IN"
	" (SELECT old FROM a))"
	" SELECT id, doc, old FROM a ORDER BY id";

/* Who takes the adopted tasks (the daemon: it resumes them). */
void
pg_adopt_on(pg_adopt_cb *fn)
{
	pg_adopt_fn = fn;
}

/* Forget the rows of a round. */
static void
pg_adopt_clear(void)
{
	size_t i;

	for (i = 0; i < pg_adopt_n; i++) {
		free(pg_adopt_rows[i].id);
		free(pg_adopt_rows[i].doc);
		free(pg_adopt_rows[i].from);
	}
	free(pg_adopt_rows);
	pg_adopt_rows = NULL;
	pg_adopt_n = 0;
}

/* The round's statements: the fence, then the adoption. */
static int
pg_adopt_send_cb(struct pg_conn *conn, void *arg)
{
	char first[16];
	const char *fence[2] = { pg_node_name(), pg_node_epoch() };
	const char *p[4] = { pg_node_name(), pg_node_epoch(), first,
	    pg_adopt_jobs };

	snprintf(first, sizeof first, "%d", TASK_SUCCEEDED);
	if (PQsendQueryParams(conn, "SELECT evtaskd_fence($1, $2)", 2, NULL,
	    fence, NULL, NULL, 0) != 1)
		return -1;
	return PQsendQueryParams(conn, pg_adopt_sql, 4, NULL, p, NULL, NULL,
	    0) == 1 ? 0 : -1;
}

/* The adoption's rows, kept until the COMMIT. */
static void
pg_adopt_result_cb(void *arg, int i, struct pg_result *res)
{
	int r, n = PQntuples(res);

	if (i != 1 || n <= 0)
		return;
	pg_adopt_rows = xcalloc((size_t)n, sizeof *pg_adopt_rows);
	for (r = 0; r < n; r++) {
		pg_adopt_rows[r].id = xstrdup(PQgetvalue(res, r, 0));
		pg_adopt_rows[r].doc = xstrdup(PQgetvalue(res, r, 1));
		pg_adopt_rows[r].from = xstrdup(PQgetvalue(res, r, 2));
	}
	pg_adopt_n = (size_t)n;
}

/* Committed: the tasks are ours, the daemon resumes them. */
static void
pg_adopt_done_cb(void *arg, const char *error)
{
	size_t i;

	pg_adopt_out = 0;
	if (error != NULL) {
		if (!pg_node_lost())
			log_debug("store: adoption round failed: %s", error);
		pg_adopt_clear();
		return;
	}
	for (i = 0; i < pg_adopt_n; i++) {
		if (i == 0 || strcmp(pg_adopt_rows[i].from,
		    pg_adopt_rows[i - 1].from) != 0)
			log_warn("store: node %s lost its lease: adopting its "
			    "tasks", pg_adopt_rows[i].from);
		if (pg_adopt_fn != NULL)
			pg_adopt_fn(pg_adopt_rows[i].id, pg_adopt_rows[i].doc);
	}
	if (pg_adopt_n > 0)
		log_info("store: adopted %zu tasks", pg_adopt_n);
	pg_adopt_clear();
}

/* A round, unless one is out or the connection is down. */
static void
pg_adopt_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (pg_adopt_out || pg_node_lost() || !pgc_is_up(pg_adopt_conn))
		return;
	if (pgc_send(pg_adopt_conn, pg_adopt_send_cb, pg_adopt_result_cb,
	    pg_adopt_done_cb, NULL) != NULL)
		pg_adopt_out = 1;
}

/* Look for dead nodes from now on, on c (the write connection). */
void
pg_adopt_start(struct event_base *base, struct pgc *c, int64_t lease_ms)
{
	int64_t every = lease_ms / 3;
	struct timeval tv;

	if (every > PG_ADOPT_EVERY_MAX_MS)
		every = PG_ADOPT_EVERY_MAX_MS;
	tv.tv_sec = (time_t)(every / 1000);
	tv.tv_usec = (suseconds_t)(every % 1000) * 1000;
	pg_adopt_conn = c;
	pg_adopt_jobs = pg_node_jobs();
	pg_adopt_timer = event_new(base, -1, EV_PERSIST, pg_adopt_tick_cb,
	    NULL);
	event_add(pg_adopt_timer, &tv);
}

/*
 * Stop looking (the store closes): a round still out hands nothing over;
 * what it took stays with this node's lease, which ends now, so the next
 * round of another node takes it.
 */
void
pg_adopt_stop(void)
{
	pg_adopt_fn = NULL;
	if (pg_adopt_timer != NULL)
		event_free(pg_adopt_timer);
	pg_adopt_timer = NULL;
	pg_adopt_conn = NULL;
	free(pg_adopt_jobs);
	pg_adopt_jobs = NULL;
	pg_adopt_clear();
}
