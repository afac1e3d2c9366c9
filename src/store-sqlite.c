/*
 * store-sqlite.c -- the SQLite backend: WAL, synchronous=FULL, one file
 * locked by one daemon. Reads run here on the loop's own connection;
 * batches go to the writer thread (store-writer.c), which commits every
 * batch waiting in one transaction and wakes the loop through an eventfd.
 *
 * --memory uses the same code on a private temporary database.
 */

#include "evtaskd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#define SQLITE_MAX_CURSORS	(TASK_NSTATES * 8)

static const char sqlite_schema[] =
	"CREATE TABLE IF NOT EXISTS tasks ("
	" id TEXT PRIMARY KEY,"		/* ULID: time-ordered */
	" kind TEXT NOT NULL,"
	" state INTEGER NOT NULL,"	/* enum task_state */
	" finished_at INTEGER,"		/* ms; set when terminal */
	" idem_key TEXT,"		/* Idempotency-Key */
	" idem_body TEXT,"		/* the canonical request it keyed */
	" doc TEXT NOT NULL,"		/* the task's JSON */
	" schedule_id TEXT);"		/* the schedule that made it */
	"CREATE INDEX IF NOT EXISTS tasks_kind_state ON tasks(kind, state, id);"
	"CREATE UNIQUE INDEX IF NOT EXISTS tasks_idem ON tasks(idem_key)"
	" WHERE idem_key IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished_at)"
	" WHERE finished_at IS NOT NULL;"
	/*
	 * Callback deliveries (CONTRACT §9). A table added without a new
	 * schema version: a daemon that does not know it leaves it alone.
	 */
	"CREATE TABLE IF NOT EXISTS outbox ("
	" id TEXT PRIMARY KEY,"		/* the delivery's ULID */
	" task_id TEXT NOT NULL,"
	" callback TEXT NOT NULL,"	/* the receiver's name in the config */
	" state INTEGER NOT NULL,"	/* enum callback_state */
	" attempts INTEGER NOT NULL,"
	" next_at INTEGER NOT NULL,"	/* ms: the next attempt */
	" body TEXT NOT NULL);"		/* what every attempt POSTs */
	"CREATE INDEX IF NOT EXISTS outbox_task ON outbox(task_id);"
	"CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(task_id)"
	" WHERE state = 0;"
	"CREATE TABLE IF NOT EXISTS schedules ("
	" id TEXT PRIMARY KEY,"		/* ULID */
	" doc TEXT NOT NULL);"		/* the schedule's JSON, state included */
	"CREATE INDEX IF NOT EXISTS tasks_schedule ON tasks(schedule_id, id)"
	" WHERE schedule_id IS NOT NULL;";

/* What turns a store of version N into N + 1 (before the schema above). */
static const char *const sqlite_migrations[STORE_SCHEMA_VERSION] = {
	[1] = "ALTER TABLE tasks ADD COLUMN schedule_id TEXT;",
};

enum {
	STMT_GET,
	STMT_IDEM,
	STMT_LIST,
	STMT_LIST_KS,
	STMT_ACTIVE,
	STMT_MAX_ID,
	STMT_OUTBOX,
	STMT_LIST_SCHED,
	STMT_SCHEDULES,
	STMT_COUNT
};

static const char *const sqlite_sql[STMT_COUNT] = {
	[STMT_GET] = "SELECT doc FROM tasks WHERE id = ?1",
	[STMT_IDEM] = "SELECT id, idem_body FROM tasks WHERE idem_key = ?1",
	[STMT_LIST] = "SELECT id, doc FROM tasks WHERE id < ?1"
	    " ORDER BY id DESC LIMIT ?2",
	[STMT_LIST_KS] = "SELECT id, doc FROM tasks WHERE kind = ?1 AND"
	    " state = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
	/* ?1 is the first terminal state: the states below it are active. */
	[STMT_ACTIVE] = "SELECT id, doc FROM tasks WHERE state < ?1"
	    " ORDER BY id",
	[STMT_MAX_ID] = "SELECT max(id) FROM tasks",
	[STMT_OUTBOX] = "SELECT id, task_id, callback, attempts, next_at, body"
	    " FROM outbox WHERE state = 0 ORDER BY id",
	/* The tasks_schedule index: only the schedule's own rows are read. */
	[STMT_LIST_SCHED] = "SELECT id, doc FROM tasks WHERE schedule_id = ?1"
	    " AND id < ?2 AND (?3 = 0 OR ((1 << state) & ?3) != 0)"
	    " AND (?4 = '' OR instr(?4, ',' || kind || ',') > 0)"
	    " ORDER BY id DESC LIMIT ?5",
	[STMT_SCHEDULES] = "SELECT id, doc FROM schedules ORDER BY id",
};

static sqlite3		*sqlite_db;		/* the loop's, for reading */
static sqlite3_stmt	*sqlite_stmts[STMT_COUNT];
static sqlite3_stmt	**sqlite_ks;		/* one LIST_KS per kind, state */
static char		*sqlite_path;
static char		*sqlite_tmpdir;		/* --memory: removed at close */
static int		 sqlite_lock_fd = -1;
static int		 sqlite_efd = -1;
static struct event	*sqlite_efd_ev;

static void	sqlite_close(void);

/*
 * Bring a store of an older version up to date, in the transaction that
 * sets the new version (a new store, version 0, has nothing to migrate).
 */
static int
sqlite_migrate(int version)
{
	int v;

	for (v = version > 0 ? version : STORE_SCHEMA_VERSION;
	    v < STORE_SCHEMA_VERSION; v++) {
		if (sqlite_migrations[v] != NULL && sqlite3_exec(sqlite_db,
		    sqlite_migrations[v], NULL, NULL, NULL) != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* Check the schema version: create, migrate, or refuse a newer one. */
static int
sqlite_check_schema(char **err)
{
	sqlite3_stmt *st;
	char set[64];
	int version;

	if (sqlite3_prepare_v2(sqlite_db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		*err = xasprintf("cannot read the database: %s",
		    sqlite3_errmsg(sqlite_db));
		sqlite3_finalize(st);
		return -1;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > STORE_SCHEMA_VERSION) {
		*err = xasprintf("the database has schema version %d; this "
		    "evtaskd knows %d at most (was it written by a newer "
		    "evtaskd?)", version, STORE_SCHEMA_VERSION);
		return -1;
	}
	snprintf(set, sizeof set, "PRAGMA user_version = %d",
	    STORE_SCHEMA_VERSION);
	if (sqlite3_exec(sqlite_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite_migrate(version) != 0 ||
	    sqlite3_exec(sqlite_db, sqlite_schema, NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite3_exec(sqlite_db, set, NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite3_exec(sqlite_db, "COMMIT", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		*err = xasprintf("cannot create the schema: %s",
		    sqlite3_errmsg(sqlite_db));
		sqlite3_exec(sqlite_db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (version > 0 && version < STORE_SCHEMA_VERSION)
		log_info("store: schema version %d upgraded to %d", version,
		    STORE_SCHEMA_VERSION);
	return 0;
}

/* Prepare one persistent statement; 0 or -1. */
static int
sqlite_prepare_one(const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(sqlite_db, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK ? 0 : -1;
}

/* Prepare the loop's statements once. */
static int
sqlite_prepare(char **err)
{
	size_t i, n = kind_count() * TASK_NSTATES;

	for (i = 0; i < STMT_COUNT; i++) {
		if (sqlite_prepare_one(sqlite_sql[i], &sqlite_stmts[i]) != 0)
			goto fail;
	}
	sqlite_ks = xcalloc(n, sizeof *sqlite_ks);
	for (i = 0; i < n; i++) {
		if (sqlite_prepare_one(sqlite_sql[STMT_LIST_KS],
		    &sqlite_ks[i]) != 0)
			goto fail;
	}
	return 0;
fail:
	*err = xasprintf("cannot prepare statements: %s",
	    sqlite3_errmsg(sqlite_db));
	return -1;
}

/* One daemon per store: an exclusive lock on the database file. */
static int
sqlite_lock(const char *path, char **err)
{
	sqlite_lock_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (sqlite_lock_fd < 0) {
		*err = xstrdup(strerror(errno));
		return -1;
	}
	if (flock(sqlite_lock_fd, LOCK_EX | LOCK_NB) != 0) {
		*err = xstrdup(errno == EWOULDBLOCK ? "locked: another evtaskd "
		    "uses this store" : strerror(errno));
		return -1;
	}
	return 0;
}

static void	sqlite_remove_temp(void);

/* At exit, whatever the path (a failed listen exits 1): no --memory
 * directory is left behind. A clean close has removed it already. */
static void
sqlite_remove_temp_atexit(void)
{
	if (sqlite_tmpdir != NULL)
		sqlite_remove_temp();
}

/* --memory: a database in a private temporary directory. */
static char *
sqlite_temp_path(char **err)
{
	static int registered;

	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/evtaskd-memory-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

	if (mkdtemp(dir) == NULL) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	sqlite_tmpdir = dir;
	if (!registered++)
		atexit(sqlite_remove_temp_atexit);
	return xasprintf("%s/evtaskd.db", dir);
}

/* Open the read connection and make sure the schema is there. */
static int
sqlite_open_db(int memory, char **err)
{
	if (sqlite3_open_v2(sqlite_path, &sqlite_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, STORE_SQLITE_VFS) !=
	    SQLITE_OK) {
		*err = xstrdup(sqlite_db != NULL ? sqlite3_errmsg(sqlite_db) :
		    "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(sqlite_db, 1);
	sqlite3_busy_timeout(sqlite_db, 5000);
	if (sqlite3_exec(sqlite_db, memory ? "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = OFF;" : "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = FULL;", NULL, NULL, NULL) != SQLITE_OK) {
		*err = xstrdup(sqlite3_errmsg(sqlite_db));
		return -1;
	}
	return sqlite_check_schema(err) != 0 || sqlite_prepare(err) != 0 ?
	    -1 : 0;
}

/* Hand every batch the writer has finished back to the store. */
static void
sqlite_take_done(void)
{
	struct store_batch *b;

	while ((b = writer_take_done()) != NULL)
		store_done(b);
}

/* The writer woke us: its batches are back. */
static void
sqlite_done_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_error("store: eventfd: %s", strerror(errno));
	sqlite_take_done();
}

/*
 * Open the database at path (NULL: a private temporary one) and start the
 * writer thread. 0, or -1 with a message in *err.
 */
static int
sqlite_open(struct event_base *base, const char *path, char **err)
{
	char *why = NULL;
	int memory = path == NULL;

	sqlite_path = memory ? sqlite_temp_path(err) : xstrdup(path);
	if (sqlite_path == NULL)
		return -1;
	if ((!memory && sqlite_lock(sqlite_path, &why) != 0) ||
	    sqlite_open_db(memory, &why) != 0)
		goto fail;
	sqlite_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sqlite_efd < 0) {
		why = xstrdup(strerror(errno));
		goto fail;
	}
	if (writer_start(sqlite_path, memory, sqlite_efd, err) != 0) {
		sqlite_close();
		return -1;
	}
	sqlite_efd_ev = event_new(base, sqlite_efd, EV_READ | EV_PERSIST,
	    sqlite_done_cb, NULL);
	event_add(sqlite_efd_ev, NULL);
	return 0;
fail:
	*err = xasprintf("%s: %s", memory ? "(temporary)" : path, why);
	free(why);
	sqlite_close();
	return -1;
}

/* --memory: remove the temporary database and its directory. */
static void
sqlite_remove_temp(void)
{
	static const char *const files[] = { "", "-wal", "-shm" };
	char *p;
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		p = xasprintf("%s%s", sqlite_path, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(sqlite_tmpdir);
	free(sqlite_tmpdir);
	sqlite_tmpdir = NULL;
}

/* Stop the writer, close the connection, clean up --memory's files. */
static void
sqlite_close(void)
{
	size_t i;

	writer_close();
	if (sqlite_efd_ev != NULL)
		event_free(sqlite_efd_ev);
	sqlite_efd_ev = NULL;
	for (i = 0; i < STMT_COUNT; i++) {
		sqlite3_finalize(sqlite_stmts[i]);
		sqlite_stmts[i] = NULL;
	}
	for (i = 0; sqlite_ks != NULL && i < kind_count() * TASK_NSTATES; i++)
		sqlite3_finalize(sqlite_ks[i]);
	free(sqlite_ks);
	sqlite_ks = NULL;
	sqlite3_close(sqlite_db);
	sqlite_db = NULL;
	if (sqlite_efd >= 0)
		close(sqlite_efd);
	if (sqlite_lock_fd >= 0)
		close(sqlite_lock_fd);
	sqlite_efd = sqlite_lock_fd = -1;
	if (sqlite_tmpdir != NULL)
		sqlite_remove_temp();
	free(sqlite_path);
	sqlite_path = NULL;
}

/* Block until the writer hands something back (start-up, shutdown). */
static void
sqlite_wait(void)
{
	struct pollfd pfd = { sqlite_efd, POLLIN, 0 };
	uint64_t n;

	/* A bounded wait: a wake-up read elsewhere cannot be missed. */
	if (poll(&pfd, 1, 100) > 0 && read(sqlite_efd, &n, sizeof n) < 0 &&
	    errno != EAGAIN)
		log_error("store: eventfd: %s", strerror(errno));
	sqlite_take_done();
}

/* A read failed: log what and why (the caller answers 500). */
static int
sqlite_read_error(const char *what)
{
	log_error("store: cannot read %s: %s", what, sqlite3_errmsg(sqlite_db));
	return -1;
}

/*
 * The stored JSON of a task, answered at once (a local read on the loop is
 * fast): 1 with the document (taken), 0, or -1.
 */
static struct store_read *
sqlite_get(const struct ulid *id, store_got_cb *fn, void *arg)
{
	sqlite3_stmt *st = sqlite_stmts[STMT_GET];
	char buf[ULID_LEN + 1], *doc = NULL;
	int rc;

	ulid_format(id, buf);
	sqlite3_bind_text(st, 1, buf, ULID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		doc = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = sqlite_read_error("a task");
	fn(arg, rc < 0 ? -1 : rc == SQLITE_ROW, doc);
	return NULL;
}

/* The stored task of an Idempotency-Key, at once: 1 with id and body. */
static struct store_read *
sqlite_find_idem(const char *key, store_idem_cb *fn, void *arg)
{
	sqlite3_stmt *st = sqlite_stmts[STMT_IDEM];
	struct ulid id;
	char *body = NULL;
	int rc, found = 0;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && ulid_parse((const char *)
	    sqlite3_column_text(st, 0), &id) == 0) {
		body = xstrdup((const char *)sqlite3_column_text(st, 1));
		found = 1;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		found = sqlite_read_error("an Idempotency-Key");
	fn(arg, found, found > 0 ? &id : NULL, body);
	return NULL;
}

/* One cursor of a listing: a statement and whether it has a row. */
struct sqlite_cursor {
	sqlite3_stmt	*st;
	int		 rc;		/* of the last step */
};

/* Bind a listing statement and step to its first row. */
static void
sqlite_cursor_open(struct sqlite_cursor *c, sqlite3_stmt *st,
    const char *kind, int state, const char *before, int limit)
{
	int i = 1;

	c->st = st;
	if (kind != NULL) {
		sqlite3_bind_text(st, i++, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, i++, state);
	}
	sqlite3_bind_text(st, i++, before, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, i, limit);
	c->rc = sqlite3_step(st);
}

/* The one cursor of a schedule's tasks, with state and kind in SQL. */
static void
sqlite_cursor_schedule(struct sqlite_cursor *c, const struct store_filter *f,
    const char *before)
{
	sqlite3_stmt *st = sqlite_stmts[STMT_LIST_SCHED];
	char id[ULID_LEN + 1], kinds[128] = ",";
	size_t k;

	ulid_format(&f->schedule, id);
	for (k = 0; k < kind_count() && k < 8; k++) {
		if (f->kinds & (1u << k))
			snprintf(kinds + strlen(kinds), sizeof kinds -
			    strlen(kinds), "%s,", kind_name(k));
	}
	c->st = st;
	sqlite3_bind_text(st, 1, id, ULID_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, before, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, (int)f->states);
	sqlite3_bind_text(st, 4, f->kinds != 0 ? kinds : "", -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 5, f->limit + 1);
	c->rc = sqlite3_step(st);
}

/* Open the cursors a filter needs: one per (kind, state) pair, or one. */
static size_t
sqlite_cursors(const struct store_filter *f, struct sqlite_cursor *cur,
    const char *before)
{
	size_t k, n = 0;
	int s;

	if (f->has_schedule) {
		sqlite_cursor_schedule(&cur[n++], f, before);
		return n;
	}
	if (f->states == 0 && f->kinds == 0) {
		sqlite_cursor_open(&cur[n++], sqlite_stmts[STMT_LIST], NULL, 0,
		    before, f->limit + 1);
		return n;
	}
	for (k = 0; k < kind_count() && k < 8; k++) {
		if (f->kinds != 0 && !(f->kinds & (1u << k)))
			continue;
		for (s = 0; s < TASK_NSTATES; s++) {
			if (f->states != 0 && !(f->states & (1u << s)))
				continue;
			sqlite_cursor_open(&cur[n++],
			    sqlite_ks[k * TASK_NSTATES + (size_t)s],
			    kind_name(k), s, before, f->limit + 1);
		}
	}
	return n;
}

/* The cursor with the highest id (-1: none has a row, -2: an error). */
static int
sqlite_cursor_best(const struct sqlite_cursor *cur, size_t n)
{
	const char *id, *best_id = NULL;
	size_t i;
	int best = -1;

	for (i = 0; i < n; i++) {
		if (cur[i].rc != SQLITE_ROW && cur[i].rc != SQLITE_DONE)
			return -2;
		if (cur[i].rc != SQLITE_ROW)
			continue;
		id = (const char *)sqlite3_column_text(cur[i].st, 0);
		if (best_id == NULL || strcmp(id, best_id) > 0) {
			best_id = id;
			best = (int)i;
		}
	}
	return best;
}

/*
 * A page, newest first: filters by kind and state run one indexed cursor
 * per (kind, state) pair and merge them, so no filter scans the table.
 */
static struct store_read *
sqlite_list(const struct store_filter *f, store_row_cb *fn,
    store_listed_cb *done, void *arg)
{
	struct sqlite_cursor cur[SQLITE_MAX_CURSORS];
	char before[ULID_LEN + 1];
	size_t ncur, i;
	int n = 0, best, rc;

	if (f->has_before)
		ulid_format(&f->before, before);
	else
		strcpy(before, "8");	/* above every ULID */
	ncur = sqlite_cursors(f, cur, before);
	while ((best = sqlite_cursor_best(cur, ncur)) >= 0 && n < f->limit) {
		n++;
		fn((const char *)sqlite3_column_text(cur[best].st, 0),
		    (const char *)sqlite3_column_text(cur[best].st, 1), arg);
		cur[best].rc = sqlite3_step(cur[best].st);
	}
	rc = best == -2 ? sqlite_read_error("the listing") : best >= 0;
	for (i = 0; i < ncur; i++) {
		sqlite3_reset(cur[i].st);
		sqlite3_clear_bindings(cur[i].st);
	}
	done(arg, rc);
	return NULL;
}

/* Every read answers at once: there is never one in flight to drop. */
static void
sqlite_read_drop(struct store_read *rd)
{
	fatalx("store: sqlite has no read in flight to drop");
}

/* The highest id stored, into *max (left alone if none). */
static int
sqlite_max_id(struct ulid *max)
{
	sqlite3_stmt *st = sqlite_stmts[STMT_MAX_ID];
	const char *text;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW && (text = (const char *)sqlite3_column_text(st,
	    0)) != NULL)
		ulid_parse(text, max);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * fn for every (id, doc) row a bound statement gives; the number, or -1
 * with *err naming what could not be read.
 */
static long
sqlite_rows(sqlite3_stmt *st, store_row_cb *fn, void *arg, const char *what,
    char **err)
{
	long n = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fn((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), arg);
		n++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return n;
	*err = xasprintf("cannot read the %s: %s", what,
	    sqlite3_errmsg(sqlite_db));
	return -1;
}

/* Recovery: fn for every active task, oldest first. */
static long
sqlite_load(store_row_cb *fn, void *arg, struct ulid *max, char **err)
{
	sqlite3_stmt *st = sqlite_stmts[STMT_ACTIVE];

	if (sqlite_max_id(max) != 0) {
		*err = xasprintf("cannot read the tasks: %s",
		    sqlite3_errmsg(sqlite_db));
		return -1;
	}
	sqlite3_bind_int(st, 1, TASK_SUCCEEDED);
	return sqlite_rows(st, fn, arg, "tasks", err);
}

/* Start-up: fn for every pending delivery, oldest first. */
static long
sqlite_outbox(store_delivery_cb *fn, void *arg, char **err)
{
	sqlite3_stmt *st = sqlite_stmts[STMT_OUTBOX];
	struct store_delivery d;
	long n = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&d, 0, sizeof d);
		snprintf(d.id, sizeof d.id, "%s", sqlite3_column_text(st, 0));
		snprintf(d.task_id, sizeof d.task_id, "%s",
		    sqlite3_column_text(st, 1));
		d.callback = xstrdup((const char *)sqlite3_column_text(st, 2));
		d.state = CALLBACK_PENDING;
		d.attempts = sqlite3_column_int(st, 3);
		d.next_at = sqlite3_column_int64(st, 4);
		d.body = xstrdup((const char *)sqlite3_column_text(st, 5));
		fn(&d, arg);
		free(d.callback);
		free(d.body);
		n++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return n;
	*err = xasprintf("cannot read the callback outbox: %s",
	    sqlite3_errmsg(sqlite_db));
	return -1;
}

/* At start: fn for every stored schedule, in id order. */
static long
sqlite_load_schedules(store_row_cb *fn, void *arg, char **err)
{
	return sqlite_rows(sqlite_stmts[STMT_SCHEDULES], fn, arg, "schedules",
	    err);
}

const struct store_ops store_sqlite = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.submit = writer_submit,
	.wait = sqlite_wait,
	.get = sqlite_get,
	.find_idem = sqlite_find_idem,
	.list = sqlite_list,
	.read_drop = sqlite_read_drop,
	.load = sqlite_load,
	.outbox = sqlite_outbox,
	.load_schedules = sqlite_load_schedules,
};
