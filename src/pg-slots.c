/*
 * pg-slots.c -- max_concurrent and concurrency keys across a cluster
 * (CONTRACT §12). sched.c decides locally as on one node (FIFO, its own
 * counts) and, on a shared store, asks here before a task with a key or a
 * limited job starts: the database keeps a row per held slot (slots:
 * "key:K" or "job:J", the task, its node), taken by evtaskd_slot_take()
 * (pg-schema.c) under an advisory lock on the name, only while fewer than
 * the asker's max are held, fenced like every write.
 *
 * A refused take waits for news: every node's events reach every node
 * (pg-events.c), and an event of a task of the same key or job that left
 * running or cancelling sends the take again (a slow fall-back retries
 * too, so a wake-up lost with a release that wrote no event, such as a
 * withdrawn create's, only delays). A slot is
 * released in the write transaction that stores its task's leaving
 * (store-pg.c sends the releases with its batches); takes asked while a
 * release waits to go out are sent behind it, so a slot freed on this
 * node is taken again at the next commit. Slots of a dead node's tasks go
 * when those tasks end on the adopter (a take drops the rows of ended
 * tasks, and of never-stored tasks of dead nodes).
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define PGS_RELEASE_WAIT_MS	200	/* no batch came: releases go alone */
#define PGS_RETRY_MS		5000	/* the fall-back: a wake-up was lost */

enum pgs_state {
	PGS_WAIT,		/* to send (behind a release, or no connection) */
	PGS_OUT,		/* in flight */
	PGS_REFUSED,		/* waits for an event of its key or job */
};

/* A take asked by sched.c, until it is granted or dropped. */
struct store_slot {
	TAILQ_ENTRY(store_slot)	 entry;
	struct task		*task;
	char			 id[ULID_LEN + 1];
	char			*key;		/* NULL: none */
	char			*job;		/* NULL: no limit */
	char			*seen[2];	/* key and job as documents
						   write them (JSON-escaped) */
	char			 max[16];
	enum pgs_state		 state;
	int			 again;		/* news came while out */
	int			 granted;	/* the answer said yes */
	int			 dropped;	/* its task no longer asks */
	int			 told;		/* a refusal was told */
	store_slot_cb		*cb;
};

/* The tasks whose slots go with one write transaction. */
struct pg_slots_out {
	size_t			 n;
	char			(*ids)[ULID_LEN + 1];
};

static struct pgc		*pgs_conn;
static struct event		*pgs_timer;	/* releases left unsent */
static struct event		*pgs_retry;	/* refused takes, again */
static TAILQ_HEAD(, store_slot)	 pgs_takes = TAILQ_HEAD_INITIALIZER(pgs_takes);
static struct pg_slots_out	 pgs_todo;	/* releases not yet sent */
static struct pg_slots_out	*pgs_alone;	/* our own release, out */

static void	pgs_kick(void);
static char	*pgs_escaped(const char *);

/* The one place a take is freed (out of the list). */
static void
pgs_free(struct store_slot *s)
{
	TAILQ_REMOVE(&pgs_takes, s, entry);
	free(s->key);
	free(s->job);
	free(s->seen[0]);
	free(s->seen[1]);
	free(s);
}

/* The take's statement. */
static int
pgs_take_send_cb(PGconn *conn, void *arg)
{
	struct store_slot *s = arg;
	const char *p[6] = { pg_node_name(), pg_node_epoch(), s->id, s->key,
	    s->job, s->max };

	return PQsendQueryParams(conn, "SELECT evtaskd_slot_take($1, $2, $3,"
	    " $4, $5, $6)", 6, NULL, p, NULL, NULL, 0) == 1 ? 0 : -1;
}

/* The answer: true, the task holds its key and its slot. */
static void
pgs_take_result_cb(void *arg, int i, PGresult *res)
{
	struct store_slot *s = arg;

	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		s->granted = 1;
}

static void	pgs_take_done_cb(void *, const char *);

/* Send one take (unless the node may write nothing more). */
static void
pgs_send(struct store_slot *s)
{
	s->again = 0;
	s->granted = 0;
	s->state = PGS_WAIT;	/* the reconnection sends it */
	if (pgs_conn == NULL || pg_node_lost())
		return;
	if (pgc_send(pgs_conn, pgs_take_send_cb, pgs_take_result_cb,
	    pgs_take_done_cb, s) != NULL)
		s->state = PGS_OUT;
}

/*
 * A take came back: granted (its task starts), refused (it waits for
 * news; news that came meanwhile sends it again), or failed.
 */
static void
pgs_take_done_cb(void *arg, const char *error)
{
	struct timeval tv = { PGS_RETRY_MS / 1000, 0 };
	struct store_slot *s = arg;
	store_slot_cb *cb = s->cb;
	struct task *t = s->task;

	if (s->dropped) {
		pgs_free(s);
		return;
	}
	if (error == NULL && s->granted) {
		pgs_free(s);
		cb(t, 1);
		return;
	}
	if (error != NULL && pgc_is_up(pgs_conn))
		log_warn("store: cannot take a slot for task %s: %s", s->id,
		    error);
	s->state = error != NULL && !pgc_is_up(pgs_conn) ? PGS_WAIT :
	    PGS_REFUSED;
	if (s->again && error == NULL)
		pgs_send(s);
	else if (s->state == PGS_REFUSED && pgs_retry != NULL &&
	    !evtimer_pending(pgs_retry, NULL))
		evtimer_add(pgs_retry, &tv);
	if (!s->told) {		/* the first answer: no (for now) */
		s->told = 1;
		cb(t, 0);
	}
}

/* The fall-back: every refused take goes again. */
static void
pgs_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_slot *s;

	TAILQ_FOREACH(s, &pgs_takes, entry) {
		if (s->state == PGS_REFUSED && !s->dropped)
			pgs_send(s);
	}
}

/*
 * Ask the cluster for a task's key and its job's slot (either may be
 * NULL; max: this node's max_concurrent). cb hears the grant, once; the
 * caller drops the take if its task stops asking first.
 */
struct store_slot *
pg_slots_take(struct task *t, const char *key, const char *job,
    unsigned int max, store_slot_cb *cb)
{
	struct store_slot *s = xcalloc(1, sizeof *s);

	s->task = t;
	ulid_format(&t->id, s->id);
	s->key = key != NULL ? xstrdup(key) : NULL;
	s->job = job != NULL ? xstrdup(job) : NULL;
	s->seen[0] = key != NULL ? pgs_escaped(key) : NULL;
	s->seen[1] = job != NULL ? pgs_escaped(job) : NULL;
	snprintf(s->max, sizeof s->max, "%u", max);
	s->cb = cb;
	s->state = PGS_WAIT;
	TAILQ_INSERT_TAIL(&pgs_takes, s, entry);
	if (pgs_todo.n == 0)
		pgs_send(s);	/* else behind the release: pgs_kick */
	return s;
}

/* The task no longer asks: its take goes (an answer out is ignored). */
void
pg_slots_drop(struct store_slot *s)
{
	if (s->state == PGS_OUT)
		s->dropped = 1;
	else
		pgs_free(s);
}

/* Releases wait to go out: they go alone if no write carries them soon. */
static void
pgs_arm(void)
{
	struct timeval tv = { 0, PGS_RELEASE_WAIT_MS * 1000 };

	if (pgs_timer != NULL && !evtimer_pending(pgs_timer, NULL))
		evtimer_add(pgs_timer, &tv);
}

/* Send the takes that wait, unless a release is still to go first. */
static void
pgs_kick(void)
{
	struct store_slot *s;

	if (pgs_todo.n > 0) {
		pgs_arm();
		return;
	}
	TAILQ_FOREACH(s, &pgs_takes, entry) {
		if (s->state == PGS_WAIT && !s->dropped)
			pgs_send(s);
	}
}

/* A task's slots go with the next write transaction. */
void
pg_slots_release(const struct ulid *id)
{
	struct pg_slots_out *o = &pgs_todo;

	o->ids = xrealloc(o->ids, (o->n + 1) * sizeof *o->ids);
	ulid_format(id, o->ids[o->n++]);
	pgs_arm();
}

/* The releases as one array literal: {id,id,...} (ULIDs need no quotes). */
static char *
pgs_array(const struct pg_slots_out *o)
{
	char *a = xmalloc(o->n * (ULID_LEN + 1) + 3), *p = a;
	size_t i;

	*p++ = '{';
	for (i = 0; i < o->n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, o->ids[i], ULID_LEN);
		p += ULID_LEN;
	}
	*p++ = '}';
	*p = '\0';
	return a;
}

/*
 * In a write transaction (store-pg.c's, after its fence): the releases
 * not yet sent, as one statement. The number of statements sent (0 or 1;
 * *out to hand back to pg_slots_written), or -1.
 */
int
pg_slots_send(PGconn *conn, struct pg_slots_out **out)
{
	const char *p[1];
	char *a;
	int rc;

	*out = NULL;
	if (pgs_todo.n == 0)
		return 0;
	*out = xmalloc(sizeof **out);
	**out = pgs_todo;
	pgs_todo.n = 0;
	pgs_todo.ids = NULL;
	a = pgs_array(*out);
	p[0] = a;
	rc = PQsendQueryParams(conn, "DELETE FROM slots WHERE task_id ="
	    " ANY($1::text[])", 1, NULL, p, NULL, NULL, 0) == 1 ? 1 : -1;
	free(a);
	return rc;
}

/*
 * The transaction that carried releases ended (or was never sent): done,
 * or they wait for the next one. The takes behind them go now.
 */
void
pg_slots_written(struct pg_slots_out *o, const char *error)
{
	struct pg_slots_out *t = &pgs_todo;

	if (o != NULL && error != NULL) {
		t->ids = xrealloc(t->ids, (t->n + o->n) * sizeof *t->ids);
		memcpy(t->ids + t->n, o->ids, o->n * sizeof *t->ids);
		t->n += o->n;
	}
	if (o != NULL) {
		free(o->ids);
		free(o);
	}
	pgs_kick();
}

/* The releases' own transaction: the fence, then them. */
static int
pgs_alone_send_cb(PGconn *conn, void *arg)
{
	const char *p[2] = { pg_node_name(), pg_node_epoch() };

	if (PQsendQueryParams(conn, "SELECT evtaskd_fence($1, $2)", 2, NULL, p,
	    NULL, NULL, 0) != 1)
		return -1;
	return pg_slots_send(conn, &pgs_alone) < 0 ? -1 : 0;
}

/* Our own release transaction ended. */
static void
pgs_alone_done_cb(void *arg, const char *error)
{
	struct pg_slots_out *o = pgs_alone;

	pgs_alone = NULL;
	pg_slots_written(o, error);
}

/* No write carried the releases in time: they go in their own. */
static void
pgs_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	if (pgs_todo.n > 0 && pgs_alone == NULL && !pg_node_lost() &&
	    pgc_send(pgs_conn, pgs_alone_send_cb, NULL, pgs_alone_done_cb,
	    NULL) == NULL && pgs_alone != NULL)
		pgs_alone_done_cb(NULL, "not sent");	/* they wait again */
	pgs_kick();
}

/* Does a take wait for news of this key or job? */
static int
pgs_matches(const struct store_slot *s, const char *key, const char *job)
{
	return (s->key != NULL && key != NULL && strcmp(s->key, key) == 0) ||
	    (s->job != NULL && job != NULL && strcmp(s->job, job) == 0);
}

/* Does a document name a key or a job a take waits for? (A quick look.) */
static int
pgs_mentioned(const char *doc)
{
	struct store_slot *s;

	TAILQ_FOREACH(s, &pgs_takes, entry) {
		if (s->state == PGS_WAIT || s->dropped)
			continue;
		if ((s->seen[0] != NULL && strstr(doc, s->seen[0]) != NULL) ||
		    (s->seen[1] != NULL && strstr(doc, s->seen[1]) != NULL))
			return 1;
	}
	return 0;
}

/*
 * An event of any node (pg-events.c): a task that left running or
 * cancelling may have freed what refused takes wait for: they go again.
 * Nothing is read while no take waits.
 */
void
pg_slots_event(const char *doc)
{
	const char *state, *key, *job;
	struct store_slot *s;
	json_t *v;

	if (!pgs_mentioned(doc) || (v = json_loads(doc, 0, NULL)) == NULL)
		return;
	state = json_string_value(json_object_get(v, "state"));
	key = json_string_value(json_object_get(v, "concurrency_key"));
	job = json_string_value(json_object_get(v, "job"));
	if (state != NULL && strcmp(state, "running") != 0 &&
	    strcmp(state, "cancelling") != 0) {
		TAILQ_FOREACH(s, &pgs_takes, entry) {
			if (s->dropped || !pgs_matches(s, key, job))
				continue;
			if (s->state == PGS_OUT)
				s->again = 1;
			else if (s->state == PGS_REFUSED)
				pgs_send(s);
		}
	}
	json_decref(v);
}

/* The write connection is (again) up: every take not out goes again. */
void
pg_slots_up(void)
{
	struct store_slot *s;

	TAILQ_FOREACH(s, &pgs_takes, entry) {
		if (s->state == PGS_REFUSED)
			s->state = PGS_WAIT;
	}
	pgs_kick();
}

/* A create's question on its key (on_conflict reject), or a supersede. */
struct store_claim {
	char			 id[ULID_LEN + 1];
	char			*key;
	char			*ekey;		/* as documents write it */
	char			 reason[16];	/* a supersede's */
	char			*holder;	/* the answer: in the way */
	int			 dropped;
	store_claim_cb		*cb;		/* NULL: a supersede */
	void			*arg;
};

/* The one place a claim is freed. */
static void
pgs_claim_free(struct store_claim *c)
{
	free(c->key);
	free(c->ekey);
	free(c->holder);
	free(c);
}

/* The key as a task's document writes it (JSON-escaped, no quotes). */
static char *
pgs_escaped(const char *key)
{
	struct buf b = { NULL, 0, 0 };
	char *s;
	size_t n;

	buf_add_jstr(&b, key);
	s = buf_steal(&b, &n);
	memmove(s, s + 1, n - 2);
	s[n - 2] = '\0';
	return s;
}

/* The claim's (or the supersede's) statement. */
static int
pgs_claim_send_cb(PGconn *conn, void *arg)
{
	struct store_claim *c = arg;
	const char *p[6] = { pg_node_name(), pg_node_epoch(), c->id, c->key,
	    c->ekey, c->reason };

	if (c->cb == NULL)
		return PQsendQueryParams(conn, "SELECT evtaskd_supersede($1, $2,"
		    " $3, $4, $5, $6)", 6, NULL, p, NULL, NULL, 0) == 1 ? 0 : -1;
	return PQsendQueryParams(conn, "SELECT evtaskd_key_claim($1, $2, $3,"
	    " $4, $5)", 5, NULL, p, NULL, NULL, 0) == 1 ? 0 : -1;
}

/* The answer: the task in the way, if any. */
static void
pgs_claim_result_cb(void *arg, int i, PGresult *res)
{
	struct store_claim *c = arg;

	if (c->cb != NULL && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		c->holder = xstrdup(PQgetvalue(res, 0, 0));
	else if (c->cb == NULL && PQntuples(res) == 1 &&
	    atoi(PQgetvalue(res, 0, 0)) > 0)
		log_info("task %s supersedes %s task%s on other nodes", c->id,
		    PQgetvalue(res, 0, 0), atoi(PQgetvalue(res, 0, 0)) == 1 ?
		    "" : "s");
}

/* The claim came back: its caller hears how it went. */
static void
pgs_claim_done_cb(void *arg, const char *error)
{
	struct store_claim *c = arg;

	if (error != NULL)
		log_warn("store: cannot %s key '%s' for task %s: %s",
		    c->cb != NULL ? "claim the" : "supersede the tasks of",
		    c->key, c->id, error);
	if (!c->dropped && c->cb != NULL)
		c->cb(c->arg, error != NULL ? -1 : c->holder != NULL ? 1 : 0,
		    c->holder);
	pgs_claim_free(c);
}

/* A claim or a supersede on its way; NULL if it cannot go out. */
static struct store_claim *
pgs_claim_send(const struct ulid *id, const char *key, store_claim_cb *cb,
    void *arg)
{
	struct store_claim *c = xcalloc(1, sizeof *c);

	ulid_format(id, c->id);
	c->key = xstrdup(key);
	c->ekey = pgs_escaped(key);
	snprintf(c->reason, sizeof c->reason, "%d", CANCEL_SUPERSEDED);
	c->cb = cb;
	c->arg = arg;
	if (pgs_conn == NULL || pg_node_lost() || pgc_send(pgs_conn,
	    pgs_claim_send_cb, pgs_claim_result_cb, pgs_claim_done_cb, c) ==
	    NULL) {
		pgs_claim_free(c);
		return NULL;
	}
	return c;
}

/*
 * A new task with on_conflict reject asks for its key (race-free across
 * nodes: under the key's lock): cb hears 0 (it holds the key), 1 and the
 * id of the task in its way, or -1 (the store failed). NULL: not sent.
 */
struct store_claim *
pg_slots_claim(const struct ulid *id, const char *key, store_claim_cb *cb,
    void *arg)
{
	return pgs_claim_send(id, key, cb, arg);
}

/* The claim's caller left: its answer is ignored. */
void
pg_slots_claim_drop(struct store_claim *c)
{
	c->dropped = 1;
}

/*
 * A new task with on_conflict replace: the live tasks with its key on
 * other nodes are cancelled by their owners (reason superseded).
 */
void
pg_slots_supersede(const struct ulid *id, const char *key)
{
	if (pgs_claim_send(id, key, NULL, NULL) == NULL)
		log_warn("store: cannot supersede the tasks of key '%s' on "
		    "other nodes: %s", key, pgs_conn != NULL ?
		    pgc_error(pgs_conn) : "closed");
}

/* Takes go on c (the write connection); NULL: closing. */
void
pg_slots_open(struct event_base *base, struct pgc *c)
{
	pgs_conn = c;
	if (base != NULL && pgs_timer == NULL) {
		pgs_timer = evtimer_new(base, pgs_timer_cb, NULL);
		pgs_retry = evtimer_new(base, pgs_retry_cb, NULL);
	}
}

/*
 * Let go of the timer and the releases (the connection was freed first).
 * The takes stay until their tasks, freed later, drop them.
 */
void
pg_slots_close(void)
{
	if (pgs_timer != NULL) {
		event_free(pgs_timer);
		event_free(pgs_retry);
	}
	pgs_timer = pgs_retry = NULL;
	pgs_conn = NULL;
	free(pgs_todo.ids);
	pgs_todo.ids = NULL;
	pgs_todo.n = 0;
}
