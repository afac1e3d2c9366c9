/*
 * pg-read.c -- the PostgreSQL store's reads, on a connection of their
 * own (pg-conn.c) so that a GET never waits behind a commit: a read is one
 * statement, answered from its result on the loop; a dropped read's
 * result is read and thrown away. The start-up loads (tasks, outbox,
 * schedules) are reads too, waited for.
 *
 * Reads see what is committed: a change is there once its answer went
 * out, as with SQLite.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define PG_READ_MAXP	3		/* before, limit, schedule */

struct store_read {
	struct pgc_req	*req;
	char		*sql;
	int		 nparams;
	char		*params[PG_READ_MAXP];
	void		(*rows)(struct store_read *, PGresult *);
	void		(*answer)(struct store_read *, int);
	store_got_cb	*got;
	store_idem_cb	*idem;
	store_row_cb	*row;
	store_listed_cb	*listed;
	store_endable_cb *endable;
	int		 can;		/* endable: a live node can end it */
	void		*arg;
	int		 limit;
	int		 rc;		/* 1, 0 as the rows say */
	char		*text;		/* the answer's, until taken */
	struct ulid	 id;
	const char	*what;		/* for the log: "a task" */
};

static struct pgc	*pg_read_conn;

/* The reads go to c from now on (NULL: the store is closing). */
void
pg_read_open(struct pgc *c)
{
	pg_read_conn = c;
	if (c != NULL)
		pgc_start(c);
}

/* The one place a read is freed. */
static void
pg_read_free(struct store_read *r)
{
	int i;

	for (i = 0; i < r->nparams; i++)
		free(r->params[i]);
	free(r->sql);
	free(r->text);
	free(r);
}

/* A new read of sql with its parameters (copied; NULL is SQL's NULL). */
static struct store_read *
pg_read_new(const char *what, char *sql, int n, const char *const *params)
{
	struct store_read *r = xcalloc(1, sizeof *r);
	int i;

	r->what = what;
	r->sql = sql;
	r->nparams = n;
	for (i = 0; i < n; i++)
		r->params[i] = params[i] != NULL ? xstrdup(params[i]) : NULL;
	return r;
}

/* The statement. */
static int
pg_read_send_cb(struct pg_conn *conn, void *arg)
{
	struct store_read *r = arg;

	return PQsendQueryParams(conn, r->sql, r->nparams, NULL,
	    (const char *const *)r->params, NULL, NULL, 0) == 1 ? 0 : -1;
}

/* Its rows. */
static void
pg_read_result_cb(void *arg, int i, struct pg_result *res)
{
	struct store_read *r = arg;

	r->rows(r, res);
}

/* Its end: the answer (-1 on an error, logged: a 500, never a 404). */
static void
pg_read_done_cb(void *arg, const char *error)
{
	struct store_read *r = arg;

	if (error != NULL)
		log_error("store: cannot read %s: %s", r->what, error);
	r->answer(r, error != NULL ? -1 : r->rc);
	pg_read_free(r);
}

/*
 * Send a read; NULL when it was answered already (the connection is down:
 * -1, a store error).
 */
static struct store_read *
pg_read_start(struct store_read *r)
{
	if (pg_read_conn != NULL)
		r->req = pgc_send(pg_read_conn, pg_read_send_cb,
		    pg_read_result_cb, pg_read_done_cb, r);
	if (r->req != NULL)
		return r;
	log_error("store: cannot read %s: %s", r->what, pg_read_conn != NULL ?
	    pgc_error(pg_read_conn) : "the store is closed");
	r->answer(r, -1);
	pg_read_free(r);
	return NULL;
}

/* Forget a read in flight: its callback never runs. */
void
pg_read_drop(struct store_read *r)
{
	pgc_drop(r->req);
	pg_read_free(r);
}

/* Block until *done (the loads at start only). */
static void
pg_read_wait(const int *done)
{
	while (!*done)
		pgc_wait(pg_read_conn);
}

/* A task's document. */
static void
pg_get_rows(struct store_read *r, PGresult *res)
{
	if (PQntuples(res) > 0) {
		r->text = xstrdup(PQgetvalue(res, 0, 0));
		r->rc = 1;
	}
}

/* The answer of a get. */
static void
pg_get_answer(struct store_read *r, int rc)
{
	char *doc = rc == 1 ? r->text : NULL;

	if (rc == 1)
		r->text = NULL;
	r->got(r->arg, rc, doc);
}

/* A task's stored JSON, through fn. */
struct store_read *
pg_get(const struct ulid *id, store_got_cb *fn, void *arg)
{
	char buf[ULID_LEN + 1];
	const char *p[1] = { buf };
	struct store_read *r;

	ulid_format(id, buf);
	r = pg_read_new("a task", xstrdup("SELECT doc FROM tasks WHERE"
	    " id = $1"), 1, p);
	r->rows = pg_get_rows;
	r->answer = pg_get_answer;
	r->got = fn;
	r->arg = arg;
	return pg_read_start(r);
}

/* A task's document and whether a live node can end it. */
static void
pg_endable_rows(struct store_read *r, PGresult *res)
{
	if (PQntuples(res) > 0) {
		r->text = xstrdup(PQgetvalue(res, 0, 0));
		r->can = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		r->rc = 1;
	}
}

/* The answer of an endable. */
static void
pg_endable_answer(struct store_read *r, int rc)
{
	char *doc = rc == 1 ? r->text : NULL;

	if (rc == 1)
		r->text = NULL;
	r->endable(r->arg, rc, doc, r->can);
}

/*
 * A task's stored JSON, and whether a live node can end it: its owner is
 * alive, or a live node may adopt it (any for a sleep task, one with the
 * job for a command; an unclaimed task's claimer likewise).
 */
struct store_read *
pg_endable(const struct ulid *id, store_endable_cb *fn, void *arg)
{
	char buf[ULID_LEN + 1];
	const char *p[1] = { buf };
	struct store_read *r;

	ulid_format(id, buf);
	r = pg_read_new("a task", xstrdup("SELECT t.doc, EXISTS (SELECT 1"
	    " FROM nodes n WHERE n.lease_until > now() AND (n.name = t.node"
	    " OR t.kind <> 'command' OR n.jobs ? ((t.doc::jsonb) ->> 'job')))"
	    " FROM tasks t WHERE t.id = $1"), 1, p);
	r->rows = pg_endable_rows;
	r->answer = pg_endable_answer;
	r->endable = fn;
	r->arg = arg;
	return pg_read_start(r);
}

/* A key's task: its id and the body it was created from. */
static void
pg_idem_rows(struct store_read *r, PGresult *res)
{
	if (PQntuples(res) > 0 && ulid_parse(PQgetvalue(res, 0, 0), &r->id) ==
	    0) {
		r->text = xstrdup(PQgetvalue(res, 0, 1));
		r->rc = 1;
	}
}

/* The answer of a find_idem. */
static void
pg_idem_answer(struct store_read *r, int rc)
{
	char *body = rc == 1 ? r->text : NULL;

	if (rc == 1)
		r->text = NULL;
	r->idem(r->arg, rc, rc == 1 ? &r->id : NULL, body);
}

/* The stored task of an Idempotency-Key, through fn. */
struct store_read *
pg_find_idem(const char *key, store_idem_cb *fn, void *arg)
{
	const char *p[1] = { key };
	struct store_read *r = pg_read_new("an Idempotency-Key",
	    xstrdup("SELECT id, idem_body FROM tasks WHERE idem_key = $1"), 1,
	    p);

	r->rows = pg_idem_rows;
	r->answer = pg_idem_answer;
	r->idem = fn;
	r->arg = arg;
	return pg_read_start(r);
}

/* A page's rows: at most limit to fn; one more means more follow. */
static void
pg_list_rows(struct store_read *r, PGresult *res)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n && i < r->limit; i++)
		r->row(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), r->arg);
	r->rc = n > r->limit;
}

/* The end of a listing. */
static void
pg_list_answer(struct store_read *r, int rc)
{
	r->listed(r->arg, rc);
}

/* The states of a filter as an SQL array literal (digits only). */
static void
pg_list_states(const struct store_filter *f, struct buf *b)
{
	int s, n = 0;

	buf_adds(b, "'{");
	for (s = 0; s < TASK_NSTATES; s++) {
		if (!(f->states & (1u << s)))
			continue;
		if (n++ > 0)
			buf_adds(b, ",");
		buf_add_int(b, s);
	}
	buf_adds(b, "}'::int[]");
}

/* The kinds of a filter as an SQL array literal (our own names). */
static void
pg_list_kinds(const struct store_filter *f, struct buf *b)
{
	size_t k;
	int n = 0;

	buf_adds(b, "'{");
	for (k = 0; k < kind_count() && k < 8; k++) {
		if (!(f->kinds & (1u << k)))
			continue;
		if (n++ > 0)
			buf_adds(b, ",");
		buf_adds(b, kind_name(k));
	}
	buf_adds(b, "}'::text[]");
}

/* A schedule's tasks: one indexed range, state and kind in SQL. */
static char *
pg_list_schedule_sql(const struct store_filter *f)
{
	struct buf b = { 0 };

	buf_adds(&b, "SELECT id, doc FROM tasks WHERE schedule_id = $3"
	    " AND id < $1");
	if (f->states != 0) {
		buf_adds(&b, " AND state = ANY(");
		pg_list_states(f, &b);
		buf_adds(&b, ")");
	}
	if (f->kinds != 0) {
		buf_adds(&b, " AND kind = ANY(");
		pg_list_kinds(f, &b);
		buf_adds(&b, ")");
	}
	buf_adds(&b, " ORDER BY id DESC LIMIT $2");
	return buf_steal(&b, NULL);
}

/* One (kind, state) range of a listing, newest first. */
static void
pg_list_pair(struct buf *b, size_t k, int s, int first)
{
	if (!first)
		buf_adds(b, " UNION ALL ");
	buf_adds(b, "(SELECT id, doc FROM tasks WHERE kind = '");
	buf_adds(b, kind_name(k));
	buf_adds(b, "' AND state = ");
	buf_add_int(b, s);
	buf_adds(b, " AND id < $1 ORDER BY id DESC LIMIT $2)");
}

/*
 * By kind and state: one indexed range per (kind, state) pair, merged
 * newest first (PostgreSQL merges them in order: no filter scans the
 * table). Kind names are our own, never a client's text.
 */
static char *
pg_list_pairs_sql(const struct store_filter *f)
{
	struct buf b = { 0 };
	size_t k;
	int s, first = 1;

	buf_adds(&b, "SELECT id, doc FROM (");
	for (k = 0; k < kind_count() && k < 8; k++) {
		if (f->kinds != 0 && !(f->kinds & (1u << k)))
			continue;
		for (s = 0; s < TASK_NSTATES; s++) {
			if (f->states != 0 && !(f->states & (1u << s)))
				continue;
			pg_list_pair(&b, k, s, first);
			first = 0;
		}
	}
	buf_adds(&b, ") u ORDER BY id DESC LIMIT $2");
	return buf_steal(&b, NULL);
}

/* A page of tasks, newest first, through fn and then done. */
struct store_read *
pg_list(const struct store_filter *f, store_row_cb *fn,
    store_listed_cb *done, void *arg)
{
	char before[ULID_LEN + 1], limit[16], sched[ULID_LEN + 1];
	const char *p[3] = { before, limit, sched };
	struct store_read *r;
	char *sql;
	int n = 2;

	if (f->has_before)
		ulid_format(&f->before, before);
	else
		strcpy(before, "8");	/* above every ULID */
	snprintf(limit, sizeof limit, "%d", f->limit + 1);
	if (f->has_schedule) {
		ulid_format(&f->schedule, sched);
		sql = pg_list_schedule_sql(f);
		n = 3;
	} else if (f->states == 0 && f->kinds == 0)
		sql = xstrdup("SELECT id, doc FROM tasks WHERE id < $1"
		    " ORDER BY id DESC LIMIT $2");
	else
		sql = pg_list_pairs_sql(f);
	r = pg_read_new("the listing", sql, n, p);
	r->rows = pg_list_rows;
	r->answer = pg_list_answer;
	r->row = fn;
	r->listed = done;
	r->arg = arg;
	r->limit = f->limit;
	return pg_read_start(r);
}

/* A start-up load, waited for. */
struct pg_load {
	store_row_cb		*row;
	store_delivery_cb	*delivery;
	void			*arg;
	long			 n;
	int			 done;
	int			 rc;
	struct ulid		*max;
};

/* A load's rows: (id, doc) to its fn. */
static void
pg_load_rows(struct store_read *r, PGresult *res)
{
	struct pg_load *l = r->arg;
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++)
		l->row(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), l->arg);
	l->n += n;
}

/* A load ended. */
static void
pg_load_answer(struct store_read *r, int rc)
{
	struct pg_load *l = r->arg;

	l->done = 1;
	l->rc = rc;
}

/*
 * Run a load (blocking: start-up only): rows to the load's callback. The
 * number of rows, or -1 with *err.
 */
static long
pg_load_run(struct pg_load *l, const char *what, const char *sql, int n,
    const char *const *p, void (*rows)(struct store_read *, PGresult *),
    char **err)
{
	struct store_read *r = pg_read_new(what, xstrdup(sql), n, p);

	r->rows = rows;
	r->answer = pg_load_answer;
	r->arg = l;
	if (pg_read_start(r) != NULL)
		pg_read_wait(&l->done);
	if (l->rc >= 0)
		return l->n;
	*err = xasprintf("cannot read %s (see above)", what);
	return -1;
}

/* The highest id stored. */
static void
pg_max_rows(struct store_read *r, PGresult *res)
{
	struct pg_load *l = r->arg;

	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		ulid_parse(PQgetvalue(res, 0, 0), l->max);
}

/* Start-up: the highest id stored (new ids go above it). 0, or -1. */
int
pg_max_id(struct ulid *max)
{
	struct pg_load l = { .max = max };
	char *err = NULL;

	if (pg_load_run(&l, "the tasks", "SELECT max(id) FROM tasks", 0, NULL,
	    pg_max_rows, &err) < 0) {
		free(err);
		return -1;
	}
	return 0;
}

/*
 * Recovery: fn for every active task this node runs (or a sleep task that
 * no node has claimed; an unclaimed command task is claimed by pg-adopt.c
 * on a node with its job), oldest first, all in the first walk before
 * listening (a start-up read blocks, and PostgreSQL's round trips would
 * make a walk in chunks cost more than it saves); every later walk finds
 * nothing.
 */
long
pg_load(struct store_walk *w, int limit, store_row_cb *fn, void *arg,
    char **err)
{
	static int loaded;
	char first[16];
	const char *p[2] = { first, pg_node_name() };
	struct pg_load l = { .row = fn, .arg = arg };

	(void)w;
	(void)limit;
	if (loaded)
		return 0;
	loaded = 1;
	snprintf(first, sizeof first, "%d", TASK_SUCCEEDED);
	return pg_load_run(&l, "the tasks", "SELECT id, doc FROM tasks"
	    " WHERE state < $1 AND (node = $2 OR (node IS NULL AND"
	    " kind <> 'command')) ORDER BY id",
	    2, p, pg_load_rows, err);
}

/* A task asked for while loading: every one was loaded at once. */
int
pg_load_one(const struct ulid *id, store_row_cb *fn, void *arg)
{
	(void)id;
	(void)fn;
	(void)arg;
	return 0;
}

/* The pending deliveries' rows. */
static void
pg_outbox_rows(struct store_read *r, PGresult *res)
{
	struct pg_load *l = r->arg;
	struct store_delivery d;
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		memset(&d, 0, sizeof d);
		snprintf(d.id, sizeof d.id, "%s", PQgetvalue(res, i, 0));
		snprintf(d.task_id, sizeof d.task_id, "%s",
		    PQgetvalue(res, i, 1));
		d.callback = PQgetvalue(res, i, 2);
		d.state = CALLBACK_PENDING;
		d.attempts = atoi(PQgetvalue(res, i, 3));
		d.next_at = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		d.body = PQgetvalue(res, i, 5);
		l->delivery(&d, l->arg);
	}
	l->n += n;
}

/* Start-up: fn for every pending delivery of this node's tasks. */
long
pg_outbox(store_delivery_cb *fn, void *arg, char **err)
{
	const char *p[1] = { pg_node_name() };
	struct pg_load l = { .delivery = fn, .arg = arg };

	return pg_load_run(&l, "the callback outbox", "SELECT o.id,"
	    " o.task_id, o.callback, o.attempts, o.next_at, o.body FROM outbox o"
	    " JOIN tasks t ON t.id = o.task_id WHERE o.state = 0 AND"
	    " (t.node = $1 OR t.node IS NULL) ORDER BY o.id", 1, p,
	    pg_outbox_rows, err);
}

/* At start: fn for every schedule this node runs, in id order. */
long
pg_load_schedules(store_row_cb *fn, void *arg, char **err)
{
	struct pg_load l = { .row = fn, .arg = arg };
	const char *p[1] = { pg_node_name() };

	/* A node runs its own schedules; a dead node's are adopted. */
	return pg_load_run(&l, "the schedules", "SELECT id, doc FROM schedules"
	    " WHERE node = $1 OR node IS NULL ORDER BY id", 1, p,
	    pg_load_rows, err);
}
