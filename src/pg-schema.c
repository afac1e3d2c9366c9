/*
 * pg-schema.c -- the PostgreSQL store's tables, created or migrated at
 * start under an advisory lock (several nodes may start at once); a
 * database of a newer version is refused. The shape is the cluster's
 * (CONTRACT §12): tasks carry the node that runs them and that node's
 * lease epoch, every change of a task leaves a row in events (one
 * cluster-wide sequence), and every write is fenced by evtaskd_fence().
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* pg_advisory_lock's key: "evtskd" in ASCII, the same for every node. */
#define PG_SCHEMA_LOCK	"111546203136868"
/* The events' commit order lock: "evtsev" in ASCII. */
#define PG_EVENTS_LOCK	"111559434265974"

static const char pg_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS nodes ("
	" name text PRIMARY KEY,"
	" epoch bigint NOT NULL,"		/* +1 at every claim */
	" lease_until timestamptz NOT NULL,"
	" started_at timestamptz NOT NULL,"
	" jobs jsonb NOT NULL DEFAULT '[]');"	/* the job names it has */
	"CREATE TABLE IF NOT EXISTS tasks ("
	" id text COLLATE \"C\" PRIMARY KEY,"	/* ULID: time-ordered */
	" node text,"				/* who runs it; NULL: nobody */
	" epoch bigint,"			/* its lease when it wrote */
	" kind text NOT NULL,"
	" state integer NOT NULL,"		/* enum task_state */
	" finished_at bigint,"			/* ms; set when terminal */
	" idem_key text,"			/* Idempotency-Key */
	" idem_body text,"			/* the request it keyed */
	" schedule_id text COLLATE \"C\","	/* the schedule that made it */
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" updated_at timestamptz NOT NULL DEFAULT now(),"
	" doc text NOT NULL);"			/* the task's JSON */
	/*
	 * The concurrency key of a live task as its document writes it
	 * (JSON-escaped), for keys across the cluster (pg-slots.c): the last
	 * "concurrency_key":"..." at the document's own level (user data
	 * comes before it; inside strings every quote is escaped). Only a
	 * document that has one is searched.
	 */
	"ALTER TABLE tasks ADD COLUMN IF NOT EXISTS ckey text GENERATED ALWAYS"
	" AS (CASE WHEN state < 3 AND strpos(doc, '\"concurrency_key\":\"')"
	" > 0 THEN substring(doc from"
	" '.*\"concurrency_key\":\"((?:[^\"\\\\]|\\\\.)*)\"') END)"
	" STORED;"
	"CREATE INDEX IF NOT EXISTS tasks_ckey ON tasks(ckey, id)"
	" WHERE ckey IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS tasks_kind_state ON tasks(kind, state, id);"
	"CREATE INDEX IF NOT EXISTS tasks_node_state ON tasks(node, state);"
	"CREATE UNIQUE INDEX IF NOT EXISTS tasks_idem ON tasks(idem_key)"
	" WHERE idem_key IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished_at)"
	" WHERE finished_at IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS tasks_schedule ON tasks(schedule_id, id)"
	" WHERE schedule_id IS NOT NULL;"
	/* Every change of a task, in commit transactions: the event id. */
	"CREATE TABLE IF NOT EXISTS events ("
	" seq bigserial PRIMARY KEY,"
	" task_id text NOT NULL,"
	" node text NOT NULL,"
	" at timestamptz NOT NULL DEFAULT now(),"
	" doc text NOT NULL);"
	"CREATE INDEX IF NOT EXISTS events_at ON events(at);"
	/*
	 * The events tail (pg-events.c): a transaction that writes events
	 * takes one lock first, held to its commit, so seqs commit in order
	 * (a tail that read seq 11 never misses a 10 committed later), and
	 * wakes every node's LISTEN at its commit (empty payload: one
	 * notification per transaction, the tail reads from where it was).
	 */
	"CREATE OR REPLACE FUNCTION evtaskd_events_tail() RETURNS trigger"
	" LANGUAGE plpgsql AS $f$ BEGIN"
	" PERFORM pg_advisory_xact_lock(" PG_EVENTS_LOCK ");"
	" PERFORM pg_notify('evtaskd_events', '');"
	" RETURN NULL; END $f$;"
	"CREATE OR REPLACE TRIGGER events_tail BEFORE INSERT ON events"
	" FOR EACH STATEMENT EXECUTE FUNCTION evtaskd_events_tail();"
	/*
	 * Cancel requests for a task another node runs (pg-events.c): the
	 * owner (tasks.node) takes them and cancels; a dead owner's wait for
	 * the node that adopts its tasks, which takes them the same way.
	 */
	"CREATE TABLE IF NOT EXISTS cancels ("
	" task_id text COLLATE \"C\" PRIMARY KEY,"
	" message text,"			/* the DELETE's ?reason= */
	" requests integer NOT NULL DEFAULT 1,"
	" by_node text NOT NULL,"
	" requested_at timestamptz NOT NULL DEFAULT now());"
	/* Why (enum cancel_reason; NULL: a client's DELETE). */
	"ALTER TABLE cancels ADD COLUMN IF NOT EXISTS reason integer;"
	/* Callback deliveries (CONTRACT §9), as in the SQLite store. */
	"CREATE TABLE IF NOT EXISTS outbox ("
	" id text COLLATE \"C\" PRIMARY KEY,"
	" task_id text NOT NULL,"
	" callback text NOT NULL,"
	" state integer NOT NULL,"		/* enum callback_state */
	" attempts integer NOT NULL,"
	" next_at bigint NOT NULL,"		/* ms: the next attempt */
	" body text NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_task ON outbox(task_id);"
	"CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(task_id)"
	" WHERE state = 0;"
	"CREATE TABLE IF NOT EXISTS schedules ("
	" id text COLLATE \"C\" PRIMARY KEY,"
	" node text,"				/* who wrote it last */
	" doc text NOT NULL);"
	/*
	 * max_concurrent and concurrency keys across the cluster
	 * (pg-slots.c): a row per held slot, name "job:J" or "key:K".
	 */
	"CREATE TABLE IF NOT EXISTS slots ("
	" name text NOT NULL,"
	" task_id text COLLATE \"C\" NOT NULL,"
	" node text NOT NULL,"			/* who took it */
	" epoch bigint NOT NULL,"		/* with which lease */
	" taken_at timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (name, task_id));"
	"CREATE INDEX IF NOT EXISTS slots_task ON slots(task_id);"
	/*
	 * Take a slot of name s for task t (1 if held already) while fewer
	 * than mx are held, under a lock on the name; first go the rows of
	 * ended tasks (state 3 and up: terminal), and those taken under a
	 * lease that is gone for a task that is not running or cancelling
	 * (never stored, or scheduled: its adopter asks again), so a dead
	 * node's slots free themselves.
	 */
	"CREATE OR REPLACE FUNCTION evtaskd_slot_one(n text, e bigint, t text,"
	" s text, mx integer) RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN"
	" PERFORM pg_advisory_xact_lock(hashtextextended(s, 0));"
	" PERFORM 1 FROM slots WHERE name = s AND task_id = t;"
	" IF FOUND THEN RETURN true; END IF;"
	" DELETE FROM slots l WHERE l.name = s AND (EXISTS (SELECT 1 FROM"
	" tasks k WHERE k.id = l.task_id AND k.state >= 3) OR (NOT EXISTS"
	" (SELECT 1 FROM tasks k WHERE k.id = l.task_id AND k.state > 0)"
	" AND NOT EXISTS (SELECT 1 FROM nodes d WHERE d.name = l.node"
	" AND d.epoch = l.epoch AND d.lease_until > now())));"
	" IF (SELECT count(*) FROM slots WHERE name = s) >= mx THEN"
	" RETURN false; END IF;"
	" INSERT INTO slots(name, task_id, node, epoch) VALUES (s, t, n, e);"
	" RETURN true; END $f$;"
	/* A task's key (k) then its job's slot (j, mx): both or refused. */
	"CREATE OR REPLACE FUNCTION evtaskd_slot_take(n text, e bigint, t text,"
	" k text, j text, mx integer) RETURNS boolean LANGUAGE plpgsql AS $f$"
	" BEGIN PERFORM evtaskd_fence(n, e);"
	" IF k IS NOT NULL AND NOT evtaskd_slot_one(n, e, t, 'key:' || k, 1)"
	" THEN RETURN false; END IF;"
	" IF j IS NULL THEN RETURN true; END IF;"
	" RETURN evtaskd_slot_one(n, e, t, 'job:' || j, mx);"
	" END $f$;"
	/*
	 * A create with on_conflict reject (k its key, ek as documents write
	 * it): NULL, and t holds the key; else the task in its way (the
	 * key's holder, else its oldest live task).
	 */
	"CREATE OR REPLACE FUNCTION evtaskd_key_claim(n text, e bigint, t text,"
	" k text, ek text) RETURNS text LANGUAGE plpgsql AS $f$"
	" DECLARE h text; BEGIN PERFORM evtaskd_fence(n, e);"
	" IF NOT evtaskd_slot_one(n, e, t, 'key:' || k, 1) THEN"
	" SELECT task_id INTO h FROM slots WHERE name = 'key:' || k"
	" ORDER BY taken_at LIMIT 1; RETURN h; END IF;"
	" SELECT id INTO h FROM tasks WHERE ckey = ek AND id <> t"
	" ORDER BY id LIMIT 1;"
	" IF h IS NOT NULL THEN DELETE FROM slots WHERE name = 'key:' || k"
	" AND task_id = t; END IF;"
	" RETURN h; END $f$;"
	/*
	 * A create with on_conflict replace: every other live task with the
	 * key on another node (node n cancels its own) gets a cancel request
	 * (reason r, message t) for its owner, as pg-events.c's.
	 */
	"CREATE OR REPLACE FUNCTION evtaskd_supersede(n text, e bigint, t text,"
	" k text, ek text, r integer) RETURNS integer LANGUAGE plpgsql AS $f$"
	" DECLARE x record; c integer := 0; BEGIN PERFORM evtaskd_fence(n, e);"
	" FOR x IN SELECT DISTINCT id, node FROM (SELECT id, node FROM tasks"
	" WHERE ckey = ek AND id <> t UNION SELECT s.task_id,"
	" coalesce(o.node, s.node) FROM slots s LEFT JOIN tasks o"
	" ON o.id = s.task_id WHERE s.name = 'key:' || k AND s.task_id <> t"
	" AND (o.state IS NULL OR o.state < 3)) l"
	" WHERE node IS DISTINCT FROM n LOOP"
	" INSERT INTO cancels(task_id, message, by_node, reason)"
	" VALUES (x.id, t, n, r) ON CONFLICT (task_id) DO UPDATE"
	" SET requests = cancels.requests + 1;"
	" PERFORM pg_notify('evtaskd_cancel', coalesce(x.node, ''));"
	" c := c + 1; END LOOP; RETURN c; END $f$;"
	/*
	 * Task output (pg-output.c): what a command wrote, copied by the
	 * node that runs it in rows of 64 KiB at most, so every node can
	 * serve it; purged with the task.
	 */
	"CREATE TABLE IF NOT EXISTS output ("
	" task_id text COLLATE \"C\" NOT NULL,"
	" stream smallint NOT NULL,"		/* enum output_stream */
	" off bigint NOT NULL,"			/* of data's first byte */
	" keep bigint NOT NULL,"		/* the output's cap */
	" data bytea NOT NULL,"
	" PRIMARY KEY (task_id, stream, off));"
	/* Uncompressed: compressing every row cost more than it saved. */
	"ALTER TABLE output ALTER COLUMN data SET STORAGE EXTERNAL;"
	/*
	 * The fence, first in every write transaction: the writer's row in
	 * nodes must still carry its epoch and a lease; locked until the
	 * commit, so an adoption (which bumps the epoch) waits for it or
	 * makes it fail. Failing raises, and the whole transaction goes.
	 */
	"CREATE OR REPLACE FUNCTION evtaskd_fence(n text, e bigint)"
	" RETURNS void LANGUAGE plpgsql AS $f$ BEGIN"
	" PERFORM 1 FROM nodes WHERE name = n AND epoch = e"
	" AND lease_until > now() FOR UPDATE;"
	" IF NOT FOUND THEN RAISE EXCEPTION"
	" 'node % (epoch %) holds no lease: its writes are fenced off', n, e"
	" USING ERRCODE = 'EV001'; END IF; END $f$;";

/* What turns a database of version N into N + 1 (before the above). */
static const char *const pg_migrations[PG_SCHEMA_VERSION] = {
	[0] = NULL,
	[1] = NULL,	/* 2: the events tail's trigger, cancels */
	[2] = NULL,	/* 3: slots (pg-slots.c) */
	[3] = NULL,	/* 4: output */
};

/* Run sql (no parameters); 0, or -1 with *err. */
static int
pg_schema_exec(struct pgc *c, const char *sql, char **err)
{
	PGresult *res = pgc_exec(c, sql, 0, NULL, err);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

/* The stored version: 0 for a new database; -1 with *err. */
static int
pg_schema_version(struct pgc *c, char **err)
{
	PGresult *res;
	int v = 0;

	if (pg_schema_exec(c, "CREATE TABLE IF NOT EXISTS meta ("
	    " key text PRIMARY KEY, value text NOT NULL)", err) != 0)
		return -1;
	res = pgc_exec(c, "SELECT value FROM meta WHERE key ="
	    " 'schema_version'", 0, NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0)
		v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* Create or migrate, in one transaction, to PG_SCHEMA_VERSION. */
static int
pg_schema_update(struct pgc *c, int version, char **err)
{
	char set[160], *why = NULL;
	int v;

	if (pg_schema_exec(c, "BEGIN", err) != 0)
		return -1;
	for (v = version > 0 ? version : PG_SCHEMA_VERSION;
	    v < PG_SCHEMA_VERSION; v++) {
		if (pg_migrations[v] != NULL &&
		    pg_schema_exec(c, pg_migrations[v], err) != 0)
			goto fail;
	}
	snprintf(set, sizeof set, "INSERT INTO meta(key, value) VALUES"
	    " ('schema_version', '%d') ON CONFLICT (key) DO UPDATE"
	    " SET value = excluded.value", PG_SCHEMA_VERSION);
	if (pg_schema_exec(c, pg_schema_sql, err) != 0 ||
	    pg_schema_exec(c, set, err) != 0 ||
	    pg_schema_exec(c, "COMMIT", err) != 0)
		goto fail;
	if (version > 0 && version < PG_SCHEMA_VERSION)
		log_info("store: schema version %d upgraded to %d", version,
		    PG_SCHEMA_VERSION);
	return 0;
fail:
	if (pg_schema_exec(c, "ROLLBACK", &why) != 0)
		free(why);
	return -1;
}

/*
 * Make sure the schema is there and current (blocking: start-up only).
 * 0, or -1 with *err (a newer schema is refused).
 */
int
pg_schema(struct pgc *c, char **err)
{
	char *e2 = NULL;
	int v, rc = -1;

	if (pg_schema_exec(c, "SELECT pg_advisory_lock(" PG_SCHEMA_LOCK ")",
	    err) != 0)
		return -1;
	v = pg_schema_version(c, err);
	if (v > PG_SCHEMA_VERSION)
		*err = xasprintf("the database has schema version %d; this "
		    "evtaskd knows %d at most (was it written by a newer "
		    "evtaskd?)", v, PG_SCHEMA_VERSION);
	else if (v >= 0)
		rc = v == PG_SCHEMA_VERSION ? 0 : pg_schema_update(c, v, err);
	if (pg_schema_exec(c, "SELECT pg_advisory_unlock(" PG_SCHEMA_LOCK ")",
	    &e2) != 0)
		free(e2);
	return rc;
}
