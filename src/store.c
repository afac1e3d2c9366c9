/*
 * store.c -- the SQLite store. Tasks changed during one loop pass are
 * written in one transaction, committed at the end of the pass (group
 * commit); answers that report a change wait for that commit. Terminal
 * tasks leave memory once committed: GET and listings read them from here.
 *
 * --memory uses a private temporary database: the same code, nothing kept.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sqlite3.h>

#define STORE_SCHEMA_VERSION	1
#define STORE_PURGE_BATCH	1000
#define STORE_PURGE_INTERVAL_S	1

static const char store_schema[] =
	"CREATE TABLE IF NOT EXISTS tasks ("
	" id TEXT PRIMARY KEY,"		/* ULID: time-ordered */
	" kind TEXT NOT NULL,"
	" state INTEGER NOT NULL,"	/* enum task_state */
	" finished_at INTEGER,"		/* ms; set when terminal */
	" idem_key TEXT,"		/* Idempotency-Key */
	" idem_body TEXT,"		/* the canonical request it keyed */
	" doc TEXT NOT NULL);"		/* the task's JSON */
	"CREATE INDEX IF NOT EXISTS tasks_kind_state ON tasks(kind, state, id);"
	"CREATE UNIQUE INDEX IF NOT EXISTS tasks_idem ON tasks(idem_key)"
	" WHERE idem_key IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished_at)"
	" WHERE finished_at IS NOT NULL;";

enum {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_UPSERT,
	STMT_GET,
	STMT_IDEM,
	STMT_LIST,
	STMT_LIST_KS,
	STMT_ACTIVE,
	STMT_MAX_ID,
	STMT_PURGE,
	STMT_COUNT
};

static const char *const store_sql[STMT_COUNT] = {
	[STMT_BEGIN] = "BEGIN",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_UPSERT] = "INSERT INTO tasks(id, kind, state, finished_at,"
	    " idem_key, idem_body, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
	    " finished_at = excluded.finished_at, doc = excluded.doc",
	[STMT_GET] = "SELECT doc FROM tasks WHERE id = ?1",
	[STMT_IDEM] = "SELECT id, idem_body FROM tasks WHERE idem_key = ?1",
	[STMT_LIST] = "SELECT id, doc FROM tasks WHERE id < ?1"
	    " ORDER BY id DESC LIMIT ?2",
	[STMT_LIST_KS] = "SELECT id, doc FROM tasks WHERE kind = ?1 AND"
	    " state = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
	[STMT_ACTIVE] = "SELECT doc FROM tasks WHERE state IN (0, 1, 2)"
	    " ORDER BY id",
	[STMT_MAX_ID] = "SELECT max(id) FROM tasks",
	[STMT_PURGE] = "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks"
	    " WHERE finished_at < ?1 LIMIT ?2)",
};

static sqlite3		*store_db;
static sqlite3_stmt	*store_stmts[STMT_COUNT];
static sqlite3_stmt	**store_ks;		/* one LIST_KS per kind, state */
static int		 store_in_txn;
static struct task	**store_dirty;		/* to write this pass */
static size_t		 store_ndirty, store_dirty_cap;
static struct task	**store_written;	/* written, not committed */
static size_t		 store_nwritten, store_written_cap;
static struct store_stats store_stats_;
static struct event	*store_purge_ev;

/* Log SQLite's complaint about what we tried to do. */
static void
store_log_error(const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(store_db));
}

/* Run a statement that returns no rows; 0 or -1. */
static int
store_exec(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Check the schema version: create, accept, or refuse a newer one. */
static int
store_check_schema(char **err)
{
	sqlite3_stmt *st;
	int version;

	if (sqlite3_prepare_v2(store_db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		*err = xasprintf("cannot read the database: %s",
		    sqlite3_errmsg(store_db));
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
	if (sqlite3_exec(store_db, store_schema, NULL, NULL, NULL) !=
	    SQLITE_OK || sqlite3_exec(store_db, "PRAGMA user_version = 1",
	    NULL, NULL, NULL) != SQLITE_OK) {
		*err = xasprintf("cannot create the schema: %s",
		    sqlite3_errmsg(store_db));
		return -1;
	}
	return 0;
}

/* Prepare every statement once. */
static int
store_prepare(char **err)
{
	size_t i, n = kind_count() * TASK_NSTATES;

	for (i = 0; i < STMT_COUNT; i++) {
		if (sqlite3_prepare_v3(store_db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &store_stmts[i], NULL) !=
		    SQLITE_OK)
			goto fail;
	}
	store_ks = xcalloc(n, sizeof *store_ks);
	for (i = 0; i < n; i++) {
		if (sqlite3_prepare_v3(store_db, store_sql[STMT_LIST_KS], -1,
		    SQLITE_PREPARE_PERSISTENT, &store_ks[i], NULL) != SQLITE_OK)
			goto fail;
	}
	return 0;
fail:
	*err = xasprintf("cannot prepare statements: %s",
	    sqlite3_errmsg(store_db));
	return -1;
}

/*
 * Open the store at path (NULL: a private temporary database for
 * --memory). Returns 0, or -1 with a message in *err.
 */
int
store_open(const char *path, char **err)
{
	const char *pragmas;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX;

	if (sqlite3_open_v2(path != NULL ? path : "", &store_db, flags, NULL)
	    != SQLITE_OK) {
		*err = xasprintf("%s: %s", path != NULL ? path : "(temporary)",
		    store_db != NULL ? sqlite3_errmsg(store_db) :
		    "out of memory");
		store_close();
		return -1;
	}
	sqlite3_extended_result_codes(store_db, 1);
	/* One daemon per store: the exclusive lock keeps a second one out. */
	pragmas = path != NULL ?
	    "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;"
	    " PRAGMA synchronous = FULL;" :
	    "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;";
	if (sqlite3_exec(store_db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, sqlite3_errmsg(store_db));
		store_close();
		return -1;
	}
	if (store_check_schema(err) != 0 || store_prepare(err) != 0) {
		store_close();
		return -1;
	}
	return 0;
}

/* Close the store (everything must be committed). */
void
store_close(void)
{
	size_t i;

	if (store_purge_ev != NULL) {
		event_free(store_purge_ev);
		store_purge_ev = NULL;
	}
	for (i = 0; i < STMT_COUNT; i++) {
		sqlite3_finalize(store_stmts[i]);
		store_stmts[i] = NULL;
	}
	if (store_ks != NULL) {
		for (i = 0; i < kind_count() * TASK_NSTATES; i++)
			sqlite3_finalize(store_ks[i]);
		free(store_ks);
		store_ks = NULL;
	}
	sqlite3_close(store_db);
	store_db = NULL;
	free(store_dirty);
	free(store_written);
	store_dirty = store_written = NULL;
	store_ndirty = store_dirty_cap = store_nwritten = store_written_cap = 0;
}

/* Append to a growable array of tasks. */
static void
store_push(struct task ***arr, size_t *n, size_t *cap, struct task *t)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 256 : *cap * 2;
		*arr = xrealloc(*arr, *cap * sizeof **arr);
	}
	(*arr)[(*n)++] = t;
}

/* A task changed: write it before the end of this pass. */
void
store_mark(struct task *t)
{
	task_text_drop(t);
	if (t->dirty)
		return;
	t->dirty = 1;
	store_push(&store_dirty, &store_ndirty, &store_dirty_cap, t);
}

/* Is there anything to commit? */
int
store_pending(void)
{
	return store_ndirty > 0 || store_in_txn;
}

/* Open this pass's transaction if it is not open yet. */
static int
store_begin(void)
{
	if (store_in_txn)
		return 0;
	if (store_exec(store_stmts[STMT_BEGIN]) != 0) {
		store_log_error("begin");
		return -1;
	}
	store_in_txn = 1;
	return 0;
}

/* Write one task into the open transaction. */
static int
store_write(struct task *t)
{
	sqlite3_stmt *st = store_stmts[STMT_UPSERT];
	char id[ULID_LEN + 1];
	const char *doc = task_text(t);
	struct task_extra *x = t->x;
	int rc;

	ulid_format(&t->id, id);
	sqlite3_bind_text(st, 1, id, ULID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->kind->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, t->state);
	if (t->finished_at != TASK_TIME_NONE)
		sqlite3_bind_int64(st, 4, t->finished_at);
	else
		sqlite3_bind_null(st, 4);
	if (x != NULL && x->idem_key != NULL) {
		sqlite3_bind_text(st, 5, x->idem_key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, x->idem_body, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 5);
		sqlite3_bind_null(st, 6);
	}
	sqlite3_bind_text(st, 7, doc, -1, SQLITE_STATIC);
	rc = store_exec(st);
	sqlite3_clear_bindings(st);
	if (rc != 0)
		store_log_error("write");
	return rc;
}

/*
 * Write every task changed so far into the open transaction (opening it if
 * needed), so that reads see them. The commit comes at the end of the pass.
 */
int
store_sync(void)
{
	struct task *t;
	size_t i;
	int rc = 0;

	if (store_ndirty == 0)
		return 0;
	if (store_begin() != 0)
		return -1;
	for (i = 0; i < store_ndirty; i++) {
		t = store_dirty[i];
		t->dirty = 0;
		if (store_write(t) != 0)
			rc = -1;
		if (!t->written) {
			t->written = 1;
			store_push(&store_written, &store_nwritten,
			    &store_written_cap, t);
		}
	}
	store_ndirty = 0;
	return rc;
}

/* After a commit: forget the keys, drop terminal tasks from memory. */
static void
store_release_written(void)
{
	struct task *t;
	size_t i;

	for (i = 0; i < store_nwritten; i++) {
		t = store_written[i];
		t->written = 0;
		task_text_drop(t);
		if (t->x != NULL && t->x->idem_key != NULL) {
			free(t->x->idem_key);
			free(t->x->idem_body);
			t->x->idem_key = t->x->idem_body = NULL;
		}
		if (task_state_terminal(t->state) && !t->dirty) {
			registry_remove(t);
			task_free(t);
		}
	}
	store_nwritten = 0;
}

/* A failed commit: roll back, and write the same tasks again next time. */
static void
store_retry_written(void)
{
	size_t i;

	if (store_exec(store_stmts[STMT_ROLLBACK]) != 0)
		store_log_error("rollback");
	for (i = 0; i < store_nwritten; i++) {
		store_written[i]->written = 0;
		store_mark(store_written[i]);
	}
	store_nwritten = 0;
}

/*
 * The end of a loop pass: commit what the pass changed (one fsync for all
 * of it), then answer those who waited for it. Returns 0 or -1.
 */
int
store_commit(void)
{
	int64_t t0;
	int rc;

	rc = store_sync();
	if (store_in_txn) {
		t0 = clock_mono_us();
		if (rc == 0 && store_exec(store_stmts[STMT_COMMIT]) != 0) {
			store_log_error("commit");
			rc = -1;
		}
		store_in_txn = 0;
		store_stats_.commits++;
		store_stats_.last_batch = store_nwritten;
		metrics_commit(clock_mono_us() - t0, store_nwritten);
	}
	if (rc != 0) {
		log_error("store: the changes of this pass were NOT stored; "
		    "their requests get 500, and they are retried");
		store_retry_written();
		events_committed(-1);
		return -1;
	}
	events_committed(0);
	store_release_written();
	return 0;
}

/* The stored JSON of a task (to free), or NULL if unknown. */
char *
store_get(const struct ulid *id)
{
	sqlite3_stmt *st = store_stmts[STMT_GET];
	char buf[ULID_LEN + 1], *doc = NULL;

	if (store_sync() != 0)
		return NULL;
	ulid_format(id, buf);
	sqlite3_bind_text(st, 1, buf, ULID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return doc;
}

/*
 * The task created with an Idempotency-Key: 1 with its id and the body it
 * was created from (to free), 0 if the key is new, -1 on error.
 */
int
store_find_idem(const char *key, struct ulid *id, char **body)
{
	sqlite3_stmt *st = store_stmts[STMT_IDEM];
	int rc = 0;

	if (store_sync() != 0)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    ulid_parse((const char *)sqlite3_column_text(st, 0), id) == 0) {
		*body = xstrdup((const char *)sqlite3_column_text(st, 1));
		rc = 1;
	}
	sqlite3_reset(st);
	return rc;
}

/* One cursor of a listing: a statement and its current row. */
struct store_cursor {
	sqlite3_stmt	*st;
	int		 has_row;
};

/* Bind a listing statement and step to its first row. */
static void
store_cursor_open(struct store_cursor *c, sqlite3_stmt *st, const char *kind,
    int state, const char *before, int limit)
{
	int i = 1;

	c->st = st;
	if (kind != NULL) {
		sqlite3_bind_text(st, i++, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, i++, state);
	}
	sqlite3_bind_text(st, i++, before, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, i, limit);
	c->has_row = sqlite3_step(st) == SQLITE_ROW;
}

/*
 * A page of tasks, newest first, as the JSON text of the listing answer
 * (to free). Filters by kind and state run one indexed cursor per (kind,
 * state) pair and merge them, so no filter scans the table.
 */
char *
store_list(const struct store_filter *f, size_t *lenp)
{
	struct store_cursor cur[TASK_NSTATES * 8];
	char before[ULID_LEN + 1], last[ULID_LEN + 1];
	const char *id, *best_id;
	size_t k, ncur = 0, i, best;
	int s, n = 0;
	char *out = NULL;
	FILE *fp;

	if (store_sync() != 0)
		return NULL;
	if (f->has_before)
		ulid_format(&f->before, before);
	else
		strcpy(before, "8");	/* above every ULID */
	if (f->states == 0 && f->kinds == 0)
		store_cursor_open(&cur[ncur++], store_stmts[STMT_LIST], NULL, 0,
		    before, f->limit + 1);
	else {
		for (k = 0; k < kind_count(); k++) {
			if (f->kinds != 0 && !(f->kinds & (1u << k)))
				continue;
			for (s = 0; s < TASK_NSTATES; s++) {
				if (f->states != 0 && !(f->states & (1u << s)))
					continue;
				store_cursor_open(&cur[ncur++],
				    store_ks[k * TASK_NSTATES + (size_t)s],
				    kind_name(k), s, before, f->limit + 1);
			}
		}
	}
	fp = open_memstream(&out, lenp);
	if (fp == NULL)
		fatalx("open_memstream failed");
	fputs("{\"tasks\":[", fp);
	for (;;) {
		best_id = NULL;
		best = 0;
		for (i = 0; i < ncur; i++) {
			if (!cur[i].has_row)
				continue;
			id = (const char *)sqlite3_column_text(cur[i].st, 0);
			if (best_id == NULL || strcmp(id, best_id) > 0) {
				best_id = id;
				best = i;
			}
		}
		if (best_id == NULL || n == f->limit)
			break;
		if (n++ > 0)
			fputc(',', fp);
		fputs((const char *)sqlite3_column_text(cur[best].st, 1), fp);
		memcpy(last, best_id, sizeof last);
		cur[best].has_row = sqlite3_step(cur[best].st) == SQLITE_ROW;
	}
	if (best_id != NULL)
		fprintf(fp, "],\"next_page_token\":\"%s\"}", last);
	else
		fputs("],\"next_page_token\":null}", fp);
	fclose(fp);
	for (i = 0; i < ncur; i++) {
		sqlite3_reset(cur[i].st);
		sqlite3_clear_bindings(cur[i].st);
	}
	return out;
}

/*
 * Recovery: call fn for every task that had not ended, oldest first, and
 * keep new ids above every stored one. Returns the number of tasks read,
 * or -1 (with *err) if a stored task cannot be understood.
 */
long
store_load(void (*fn)(json_t *, void *), void *arg, char **err)
{
	sqlite3_stmt *st = store_stmts[STMT_MAX_ID];
	struct ulid max;
	const char *text;
	json_error_t jerr;
	json_t *doc;
	long n = 0;
	int rc;

	if (sqlite3_step(st) == SQLITE_ROW &&
	    (text = (const char *)sqlite3_column_text(st, 0)) != NULL &&
	    ulid_parse(text, &max) == 0)
		registry_seed(&max);
	sqlite3_reset(st);
	st = store_stmts[STMT_ACTIVE];
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		text = (const char *)sqlite3_column_text(st, 0);
		doc = json_loads(text, 0, &jerr);
		if (doc == NULL) {
			*err = xasprintf("a stored task is not JSON: %s",
			    jerr.text);
			sqlite3_reset(st);
			return -1;
		}
		fn(doc, arg);
		json_decref(doc);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		*err = xasprintf("cannot read the tasks: %s",
		    sqlite3_errmsg(store_db));
		return -1;
	}
	return n;
}

/*
 * Delete up to batch tasks that ended before cutoff (ms), inside this
 * pass's transaction. Returns how many went, or -1.
 */
int
store_purge(int64_t cutoff, int batch)
{
	sqlite3_stmt *st = store_stmts[STMT_PURGE];

	if (store_begin() != 0)
		return -1;
	sqlite3_bind_int64(st, 1, cutoff);
	sqlite3_bind_int(st, 2, batch);
	if (store_exec(st) != 0) {
		store_log_error("purge");
		return -1;
	}
	return sqlite3_changes(store_db);
}

/* Purge a batch of expired tasks; come back soon if there are more. */
static void
store_purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { STORE_PURGE_INTERVAL_S, 0 };
	int n;

	n = store_purge(clock_now_ms() - cfg->retention_s * 1000,
	    STORE_PURGE_BATCH);
	if (n > 0)
		log_debug("store: purged %d tasks older than retention_s", n);
	if (n == STORE_PURGE_BATCH) {
		tv.tv_sec = 0;
		tv.tv_usec = 10000;	/* more to do: let requests in first */
	}
	evtimer_add(store_purge_ev, &tv);
}

/* Purge expired tasks in small batches, off the request path. */
void
store_start_purge(struct event_base *base)
{
	struct timeval tv = { 0, 0 };

	store_purge_ev = evtimer_new(base, store_purge_cb, NULL);
	evtimer_add(store_purge_ev, &tv);
}

/* Counters for /metrics. */
const struct store_stats *
store_get_stats(void)
{
	return &store_stats_;
}
