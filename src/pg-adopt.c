/*
 * pg-adopt.c -- fail-over (CONTRACT §12): every min(lease_ms / 3, 1 s),
 * on the loop, this node looks for nodes whose lease ran out (some grace
 * ago: min(lease_ms / 4, 500 ms), so a node whose loop stalled a little
 * past its lease renews it and keeps its work) and takes their active
 * tasks and schedules, in one transaction fenced like every write
 * (death to adoption: at most lease_ms + grace + one look (<= 1 s) + a
 * round trip, within the contract's lease_ms + 2 s):
 *
 *   - the dead nodes' rows are locked (SKIP LOCKED: two adopters never
 *     wait for each other, and a node still writing is left for the next
 *     round), and their epoch goes one up, so a node that was only paused
 *     finds its lease gone at its next renewal and writes nothing more;
 *   - their active tasks (a command only if this node's config has its
 *     job; a sleep task always) get this node's name and epoch, SKIP
 *     LOCKED as well, at most PG_ADOPT_MAX a round;
 *   - their schedules likewise (a node runs only its own schedules, so
 *     each planned run is made by one node);
 *   - their finished tasks whose callback deliveries are still pending
 *     (the outbox follows its task's node), with those deliveries, which
 *     go on here where they were (attempts and back-off kept);
 *   - and the placement (CONTRACT §12): scheduled command tasks no node
 *     has claimed (created on a node without their job) whose job this
 *     node has, SKIP LOCKED, at most PG_ADOPT_MAX a round; the daemon
 *     applies the job to them (task_place). The first round runs as soon
 *     as the loop does (at start).
 *
 * A DELETE of an unclaimed task claims that one task the same way, job or
 * not, to cancel it here (pg_adopt_claim_one).
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
#define PG_ADOPT_GRACE_MAX_MS	500

/* One adopted task, until the COMMIT says it is ours. */
struct pg_adopted {
	char	*id;
	char	*doc;
	char	*from;		/* the dead node's name ("": claimed) */
	int	 what;		/* its statement: PG_ADOPT_R_TASKS... */
};

/* A claim of one unplaced task to cancel it (pg_adopt_claim_one). */
struct pg_claim {
	char		 id[ULID_LEN + 1];
	char		*doc;		/* the row, once claimed */
	store_unplaced_cb *done;
	void		*arg;
};

/* The statements' results, in the order pg_adopt_send_cb sends them. */
enum {
	PG_ADOPT_R_FENCE,
	PG_ADOPT_R_TASKS,
	PG_ADOPT_R_SCHEDULES,
	PG_ADOPT_R_DELIVERIES,
	PG_ADOPT_R_CLAIMS,		/* the placement's */
};

static struct pgc		*pg_adopt_conn;
static struct event		*pg_adopt_timer;
static pg_adopt_cb		*pg_adopt_fn;		/* for a task */
static pg_adopt_cb		*pg_adopt_sfn;		/* for a schedule */
static int			 pg_adopt_out;	/* a round is in flight */
static char			*pg_adopt_jobs;	/* this node's, a JSON array */
static char			 pg_adopt_grace[24];	/* ms, as text */
static pg_adopt_delivery_cb	*pg_adopt_dfn;		/* for a delivery */
static pg_adopt_cb		*pg_adopt_cfn;		/* a claimed task */
static struct pg_adopted	*pg_adopt_rows;
static size_t			 pg_adopt_n;
static struct store_delivery	*pg_adopt_dels;	/* pending deliveries */
static size_t			 pg_adopt_ndels;

/* The placement: unclaimed command tasks of this node's jobs. */
static const char pg_adopt_claim_sql[] =
	"WITH c AS (SELECT id FROM tasks WHERE node IS NULL AND state = $3"
	" AND kind = 'command' AND $4::jsonb ? ((doc::jsonb) ->> 'job')"
	" ORDER BY id LIMIT " PG_ADOPT_MAX " FOR UPDATE SKIP LOCKED)"
	" UPDATE tasks t SET node = $1, epoch = $2, updated_at = now()"
	" FROM c WHERE t.id = c.id RETURNING t.id, t.doc, ''";

/* One unclaimed task, to cancel it here (its job or not). */
static const char pg_adopt_claim_one_sql[] =
	"WITH c AS (SELECT id FROM tasks WHERE id = $3 AND node IS NULL"
	" AND state = $4 FOR UPDATE SKIP LOCKED)"
	" UPDATE tasks t SET node = $1, epoch = $2, updated_at = now()"
	" FROM c WHERE t.id = c.id RETURNING t.doc";

/*
 * The adoption: the dead nodes (locked, their epoch bumped when a task of
 * theirs is taken), then their tasks this node may run.
 */
static const char pg_adopt_sql[] =
	"WITH d AS (SELECT name FROM nodes WHERE name <> $1"
	" AND lease_until <= now() - $5 * interval '1 millisecond'"
	" FOR UPDATE SKIP LOCKED),"
	" c AS (SELECT t.id, t.node FROM tasks t WHERE t.node IN"
	" (SELECT name FROM d) AND t.state < $3 AND (t.kind <> 'command'"
	" OR $4::jsonb ? ((t.doc::jsonb) ->> 'job')) ORDER BY t.id"
	" LIMIT " PG_ADOPT_MAX " FOR UPDATE OF t SKIP LOCKED),"
	" a AS (UPDATE tasks t SET node = $1, epoch = $2, updated_at = now()"
	" FROM c WHERE t.id = c.id RETURNING t.id, t.doc, c.node AS old),"
	" b AS (UPDATE nodes SET epoch = epoch + 1 WHERE name IN"
	" (SELECT old FROM a))"
	" SELECT id, doc, old FROM a ORDER BY id";

/* Then their schedules (every planned run is made by one node). */
static const char pg_adopt_schedules_sql[] =
	"WITH d AS (SELECT name FROM nodes WHERE name <> $1"
	" AND lease_until <= now() - $2 * interval '1 millisecond'"
	" FOR UPDATE SKIP LOCKED),"
	" c AS (SELECT id, node FROM schedules WHERE node IN"
	" (SELECT name FROM d) FOR UPDATE SKIP LOCKED),"
	" a AS (UPDATE schedules s SET node = $1 FROM c WHERE s.id = c.id"
	" RETURNING s.id, s.doc, c.node AS old),"
	" b AS (UPDATE nodes SET epoch = epoch + 1 WHERE name IN"
	" (SELECT old FROM a))"
	" SELECT id, doc, old FROM a ORDER BY id";

/*
 * Then their finished tasks with deliveries pending (the outbox follows
 * the task's node), and those deliveries.
 */
static const char pg_adopt_deliveries_sql[] =
	"WITH d AS (SELECT name FROM nodes WHERE name <> $1"
	" AND lease_until <= now() - $4 * interval '1 millisecond'"
	" FOR UPDATE SKIP LOCKED),"
	" c AS (SELECT t.id, t.node FROM tasks t WHERE t.node IN"
	" (SELECT name FROM d) AND t.state >= $3 AND EXISTS (SELECT 1 FROM"
	" outbox o WHERE o.task_id = t.id AND o.state = 0) ORDER BY t.id"
	" LIMIT " PG_ADOPT_MAX " FOR UPDATE OF t SKIP LOCKED),"
	" a AS (UPDATE tasks t SET node = $1, epoch = $2, updated_at = now()"
	" FROM c WHERE t.id = c.id RETURNING t.id, c.node AS old),"
	" b AS (UPDATE nodes SET epoch = epoch + 1 WHERE name IN"
	" (SELECT old FROM a))"
	" SELECT o.id, o.task_id, o.callback, o.attempts, o.next_at, o.body"
	" FROM outbox o JOIN a ON a.id = o.task_id WHERE o.state = 0"
	" ORDER BY o.id";

/* Who takes what is adopted (the daemon resumes it). */
void
pg_adopt_on(pg_adopt_cb *task, pg_adopt_cb *schedule,
    pg_adopt_delivery_cb *delivery)
{
	pg_adopt_fn = task;
	pg_adopt_sfn = schedule;
	pg_adopt_dfn = delivery;
}

/* Who takes the claimed tasks (the daemon applies the job, runs them). */
void
pg_adopt_on_claim(pg_adopt_cb *claimed)
{
	pg_adopt_cfn = claimed;
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
	for (i = 0; i < pg_adopt_ndels; i++) {
		free(pg_adopt_dels[i].callback);
		free(pg_adopt_dels[i].body);
	}
	free(pg_adopt_dels);
	pg_adopt_dels = NULL;
	pg_adopt_ndels = 0;
}

/* The statements: the fence, tasks, schedules, deliveries, claims. */
static int
pg_adopt_send_cb(struct pg_conn *conn, void *arg)
{
	char first[16], sched[16];
	const char *fence[2] = { pg_node_name(), pg_node_epoch() };
	const char *p[5] = { pg_node_name(), pg_node_epoch(), first,
	    pg_adopt_jobs, pg_adopt_grace };
	const char *sp[2] = { pg_node_name(), pg_adopt_grace };
	const char *dp[4] = { pg_node_name(), pg_node_epoch(), first,
	    pg_adopt_grace };
	const char *cp[4] = { pg_node_name(), pg_node_epoch(), sched,
	    pg_adopt_jobs };

	snprintf(first, sizeof first, "%d", TASK_SUCCEEDED);
	snprintf(sched, sizeof sched, "%d", TASK_SCHEDULED);
	if (PQsendQueryParams(conn, "SELECT evtaskd_fence($1, $2)", 2, NULL,
	    fence, NULL, NULL, 0) != 1)
		return -1;
	if (PQsendQueryParams(conn, pg_adopt_sql, 5, NULL, p, NULL, NULL, 0) !=
	    1)
		return -1;
	if (PQsendQueryParams(conn, pg_adopt_schedules_sql, 2, NULL, sp,
	    NULL, NULL, 0) != 1)
		return -1;
	if (PQsendQueryParams(conn, pg_adopt_deliveries_sql, 4, NULL, dp,
	    NULL, NULL, 0) != 1)
		return -1;
	return PQsendQueryParams(conn, pg_adopt_claim_sql, 4, NULL, cp, NULL,
	    NULL, 0) == 1 ? 0 : -1;
}

/* The adopted deliveries' rows, kept until the COMMIT. */
static void
pg_adopt_delivery_rows(PGresult *res)
{
	struct store_delivery *d;
	int r, n = PQntuples(res);

	pg_adopt_dels = xrealloc(pg_adopt_dels, (pg_adopt_ndels + (size_t)n) *
	    sizeof *pg_adopt_dels);
	for (r = 0; r < n; r++) {
		d = &pg_adopt_dels[pg_adopt_ndels++];
		memset(d, 0, sizeof *d);
		snprintf(d->id, sizeof d->id, "%s", PQgetvalue(res, r, 0));
		snprintf(d->task_id, sizeof d->task_id, "%s",
		    PQgetvalue(res, r, 1));
		d->callback = xstrdup(PQgetvalue(res, r, 2));
		d->attempts = atoi(PQgetvalue(res, r, 3));
		d->next_at = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		d->body = xstrdup(PQgetvalue(res, r, 5));
	}
}

/* The rows (tasks, schedules, claimed tasks), kept until the COMMIT. */
static void
pg_adopt_result_cb(void *arg, int i, struct pg_result *res)
{
	struct pg_adopted *a;
	int r, n = PQntuples(res);

	if (i == PG_ADOPT_R_FENCE || n <= 0)
		return;
	if (i == PG_ADOPT_R_DELIVERIES) {
		pg_adopt_delivery_rows(res);
		return;
	}
	pg_adopt_rows = xrealloc(pg_adopt_rows, (pg_adopt_n + (size_t)n) *
	    sizeof *pg_adopt_rows);
	for (r = 0; r < n; r++) {
		a = &pg_adopt_rows[pg_adopt_n++];
		a->id = xstrdup(PQgetvalue(res, r, 0));
		a->doc = xstrdup(PQgetvalue(res, r, 1));
		a->from = xstrdup(PQgetvalue(res, r, 2));
		a->what = i;
	}
}

/* One row of a committed round to the daemon. */
static void
pg_adopt_hand(const struct pg_adopted *a)
{
	pg_adopt_cb *fn = a->what == PG_ADOPT_R_SCHEDULES ? pg_adopt_sfn :
	    a->what == PG_ADOPT_R_CLAIMS ? pg_adopt_cfn : pg_adopt_fn;

	if (fn != NULL)
		fn(a->id, a->doc);
}

/* Committed: the tasks and schedules are ours, the daemon resumes them. */
static void
pg_adopt_done_cb(void *arg, const char *error)
{
	struct pg_adopted *a;
	size_t i;

	pg_adopt_out = 0;
	if (error != NULL) {
		if (!pg_node_lost())
			log_debug("store: adoption round failed: %s", error);
		pg_adopt_clear();
		return;
	}
	for (i = 0; i < pg_adopt_n; i++) {
		a = &pg_adopt_rows[i];
		if (a->what == PG_ADOPT_R_CLAIMS)
			log_info("store: claimed task %s (its job is here)",
			    a->id);
		else if (i == 0 || strcmp(a->from, pg_adopt_rows[i - 1].from)
		    != 0)
			log_warn("store: node %s lost its lease: adopting its "
			    "work", a->from);
		pg_adopt_hand(a);
	}
	for (i = 0; i < pg_adopt_ndels && pg_adopt_dfn != NULL; i++)
		pg_adopt_dfn(&pg_adopt_dels[i]);
	if (pg_adopt_n > 0) {
		log_info("store: adopted or claimed %zu tasks and schedules",
		    pg_adopt_n);
		pg_events_take();	/* cancel requests waiting for them */
	}
	if (pg_adopt_ndels > 0)
		log_info("store: adopted %zu pending callback deliveries",
		    pg_adopt_ndels);
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
	snprintf(pg_adopt_grace, sizeof pg_adopt_grace, "%" PRId64,
	    lease_ms / 4 < PG_ADOPT_GRACE_MAX_MS ? lease_ms / 4 :
	    (int64_t)PG_ADOPT_GRACE_MAX_MS);
	pg_adopt_timer = event_new(base, -1, EV_PERSIST, pg_adopt_tick_cb,
	    NULL);
	event_add(pg_adopt_timer, &tv);
	event_active(pg_adopt_timer, EV_TIMEOUT, 0);	/* claim at start */
}

/*
 * Stop looking (the store closes): a round still out hands nothing over;
 * what it took stays with this node's lease, which ends now, so the next
 * round of another node takes it.
 */
void
pg_adopt_stop(void)
{
	pg_adopt_fn = pg_adopt_sfn = pg_adopt_cfn = NULL;
	if (pg_adopt_timer != NULL)
		event_free(pg_adopt_timer);
	pg_adopt_timer = NULL;
	pg_adopt_conn = NULL;
	free(pg_adopt_jobs);
	pg_adopt_jobs = NULL;
	pg_adopt_clear();
}

/* The claim's statements: the fence, the task. */
static int
pg_claim_send_cb(struct pg_conn *conn, void *arg)
{
	struct pg_claim *c = arg;
	char sched[16];
	const char *fence[2] = { pg_node_name(), pg_node_epoch() };
	const char *p[4] = { pg_node_name(), pg_node_epoch(), c->id, sched };

	snprintf(sched, sizeof sched, "%d", TASK_SCHEDULED);
	if (PQsendQueryParams(conn, "SELECT evtaskd_fence($1, $2)", 2, NULL,
	    fence, NULL, NULL, 0) != 1)
		return -1;
	return PQsendQueryParams(conn, pg_adopt_claim_one_sql, 4, NULL, p,
	    NULL, NULL, 0) == 1 ? 0 : -1;
}

/* The claimed row, kept until the COMMIT. */
static void
pg_claim_result_cb(void *arg, int i, struct pg_result *res)
{
	struct pg_claim *c = arg;

	if (i == 1 && PQntuples(res) > 0 && c->doc == NULL)
		c->doc = xstrdup(PQgetvalue(res, 0, 0));
}

/* Committed (the task is ours if a row came), or failed. */
static void
pg_claim_done_cb(void *arg, const char *error)
{
	struct pg_claim *c = arg;

	if (error != NULL)
		log_warn("store: cannot claim task %s: %s", c->id, error);
	else if (c->doc != NULL)
		log_info("store: claimed task %s to cancel it", c->id);
	c->done(c->arg, error != NULL ? -1 : c->doc != NULL, error != NULL ?
	    NULL : c->doc);
	free(c->doc);
	free(c);
}

/*
 * Claim task id, unclaimed and scheduled (CONTRACT §12), to cancel it on
 * this node: in a transaction fenced like every write, SKIP LOCKED (a
 * node claiming it for its job at the same time wins, or loses, cleanly).
 * done hears 1 with its document once committed ours, 0 if it was not
 * to be had (claimed, ended, or being claimed), -1 on a failure. -1 now
 * if it cannot be sent.
 */
int
pg_adopt_claim_one(const struct ulid *id, store_unplaced_cb *done,
    void *arg)
{
	struct pg_claim *c;

	if (pg_adopt_conn == NULL || pg_node_lost() ||
	    !pgc_is_up(pg_adopt_conn))
		return -1;
	c = xcalloc(1, sizeof *c);
	ulid_format(id, c->id);
	c->done = done;
	c->arg = arg;
	if (pgc_send(pg_adopt_conn, pg_claim_send_cb, pg_claim_result_cb,
	    pg_claim_done_cb, c) == NULL) {
		free(c);
		return -1;
	}
	return 0;
}
