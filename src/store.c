/*
 * store.c -- the SQLite store, as the loop sees it. Tasks changed during
 * one loop pass go out as one batch at the end of the pass; the writer
 * thread (store-writer.c) commits every batch waiting in one transaction,
 * off the loop (group commit), and answers that report a change wait for
 * the commit that holds it. Terminal tasks leave memory once committed:
 * GET and listings read them here, on the loop's own read connection.
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
	STMT_GET,
	STMT_IDEM,
	STMT_LIST,
	STMT_LIST_KS,
	STMT_ACTIVE,
	STMT_MAX_ID,
	STMT_COUNT
};

static const char *const store_sql[STMT_COUNT] = {
	[STMT_GET] = "SELECT doc FROM tasks WHERE id = ?1",
	[STMT_IDEM] = "SELECT id, idem_body FROM tasks WHERE idem_key = ?1",
	[STMT_LIST] = "SELECT id, doc FROM tasks WHERE id < ?1"
	    " ORDER BY id DESC LIMIT ?2",
	[STMT_LIST_KS] = "SELECT id, doc FROM tasks WHERE kind = ?1 AND"
	    " state = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
	[STMT_ACTIVE] = "SELECT doc FROM tasks WHERE state IN (0, 1, 2)"
	    " ORDER BY id",
	[STMT_MAX_ID] = "SELECT max(id) FROM tasks",
};

static sqlite3		*store_db;		/* the loop's, for reading */
static sqlite3_stmt	*store_stmts[STMT_COUNT];
static sqlite3_stmt	**store_ks;		/* one LIST_KS per kind, state */
static char		*store_path;
static char		*store_tmpdir;		/* --memory: removed at close */
static int		 store_lock_fd = -1;
static int		 store_efd = -1;
static struct event	*store_efd_ev;
static struct event	*store_purge_ev;
static int		 store_purging;
static struct task	**store_dirty;		/* changed this pass */
static size_t		 store_ndirty, store_dirty_cap;
static struct task	**store_keyed;		/* Idempotency-Keys in flight */
static size_t		 store_nkeyed, store_keyed_cap;
static uint64_t		 store_submitted;	/* the newest batch sent */
static uint64_t		 store_done;		/* the newest batch back */

static void	store_done_cb(evutil_socket_t, short, void *);

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

/* Prepare the loop's statements once. */
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

/* One daemon per store: an exclusive lock on the database file. */
static int
store_lock(const char *path, char **err)
{
	store_lock_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (store_lock_fd < 0) {
		*err = xstrdup(strerror(errno));
		return -1;
	}
	if (flock(store_lock_fd, LOCK_EX | LOCK_NB) != 0) {
		*err = xstrdup(errno == EWOULDBLOCK ? "locked: another evtaskd "
		    "uses this store" : strerror(errno));
		return -1;
	}
	return 0;
}

/* --memory: a database in a private temporary directory. */
static char *
store_temp_path(char **err)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/evtaskd-memory-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

	if (mkdtemp(dir) == NULL) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	store_tmpdir = dir;
	return xasprintf("%s/evtaskd.db", dir);
}

/* Open the read connection and make sure the schema is there. */
static int
store_open_db(int memory, char **err)
{
	if (sqlite3_open_v2(store_path, &store_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*err = xstrdup(store_db != NULL ? sqlite3_errmsg(store_db) :
		    "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(store_db, 1);
	sqlite3_busy_timeout(store_db, 5000);
	if (sqlite3_exec(store_db, memory ? "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = OFF;" : "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = FULL;", NULL, NULL, NULL) != SQLITE_OK) {
		*err = xstrdup(sqlite3_errmsg(store_db));
		return -1;
	}
	return store_check_schema(err) != 0 || store_prepare(err) != 0 ? -1 : 0;
}

/*
 * Open the store at path (NULL: a private temporary database for --memory)
 * and start its writer thread. Returns 0, or -1 with a message in *err.
 */
int
store_open(struct event_base *base, const char *path, char **err)
{
	char *why = NULL;
	int memory = path == NULL;

	store_path = memory ? store_temp_path(err) : xstrdup(path);
	if (store_path == NULL)
		return -1;
	if ((!memory && store_lock(store_path, &why) != 0) ||
	    store_open_db(memory, &why) != 0)
		goto fail;
	store_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (store_efd < 0) {
		why = xstrdup(strerror(errno));
		goto fail;
	}
	if (writer_start(store_path, memory, store_efd, err) != 0) {
		store_close();
		return -1;
	}
	store_efd_ev = event_new(base, store_efd, EV_READ | EV_PERSIST,
	    store_done_cb, NULL);
	event_add(store_efd_ev, NULL);
	return 0;
fail:
	*err = xasprintf("%s: %s", memory ? "(temporary)" : path, why);
	free(why);
	store_close();
	return -1;
}

/* Close the store: wait for the writer, close, clean up --memory's files. */
void
store_close(void)
{
	char *p;
	size_t i;

	store_drain();
	writer_close();
	if (store_purge_ev != NULL)
		event_free(store_purge_ev);
	if (store_efd_ev != NULL)
		event_free(store_efd_ev);
	store_purge_ev = store_efd_ev = NULL;
	for (i = 0; i < STMT_COUNT; i++) {
		sqlite3_finalize(store_stmts[i]);
		store_stmts[i] = NULL;
	}
	for (i = 0; store_ks != NULL && i < kind_count() * TASK_NSTATES; i++)
		sqlite3_finalize(store_ks[i]);
	free(store_ks);
	store_ks = NULL;
	sqlite3_close(store_db);
	store_db = NULL;
	if (store_efd >= 0)
		close(store_efd);
	if (store_lock_fd >= 0)
		close(store_lock_fd);
	store_efd = store_lock_fd = -1;
	if (store_tmpdir != NULL) {
		static const char *const files[] = { "", "-wal", "-shm" };
		for (i = 0; i < 3; i++) {
			p = xasprintf("%s%s", store_path, files[i]);
			unlink(p);
			free(p);
		}
		rmdir(store_tmpdir);
		free(store_tmpdir);
		store_tmpdir = NULL;
	}
	free(store_path);
	free(store_dirty);
	free(store_keyed);
	store_path = NULL;
	store_dirty = store_keyed = NULL;
	store_ndirty = store_dirty_cap = store_nkeyed = store_keyed_cap = 0;
}

/* A task changed: it goes out with this pass's batch. */
void
store_mark(struct task *t)
{
	task_text_drop(t);
	if (t->dirty)
		return;
	t->dirty = 1;
	store_push(&store_dirty, &store_ndirty, &store_dirty_cap, t);
}

/*
 * The newest batch sent: what a task that is not dirty now shows is stored
 * once that batch is back.
 */
uint64_t
store_sent(void)
{
	return store_submitted;
}

/* Has this pass changed anything yet to be sent? */
int
store_pending(void)
{
	return store_ndirty > 0;
}

/* A created task has an Idempotency-Key: findable before it is stored. */
void
store_note_key(struct task *t)
{
	store_push(&store_keyed, &store_nkeyed, &store_keyed_cap, t);
}

/* The task's key is stored: forget it in memory. */
static void
store_forget_key(struct task *t)
{
	size_t i;

	for (i = 0; i < store_nkeyed; i++) {
		if (store_keyed[i] == t) {
			store_keyed[i] = store_keyed[--store_nkeyed];
			break;
		}
	}
	free(t->x->idem_key);
	free(t->x->idem_body);
	t->x->idem_key = t->x->idem_body = NULL;
}

/* One row of a batch from a task; the task's rendered JSON moves in. */
static void
store_fill_row(struct store_row *r, struct task *t)
{
	ulid_format(&t->id, r->id);
	r->kind = task_kind(t)->name;
	r->state = t->state;
	r->finished_at = t->finished_at;
	task_text(t);
	r->doc = t->text;		/* the row owns it now */
	t->text = NULL;
	if (t->x != NULL && t->x->idem_key != NULL) {
		r->idem_key = xstrdup(t->x->idem_key);
		r->idem_body = xstrdup(t->x->idem_body);
	}
}

/* Free a batch the writer gave back. */
static void
store_batch_free(struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		free(b->rows[i].doc);
		free(b->rows[i].idem_key);
		free(b->rows[i].idem_body);
	}
	free(b->rows);
	free(b->tasks);
	free(b->error);
	free(b);
}

/*
 * The end of a loop pass: send what the pass changed to the writer as one
 * batch; whoever waits for this pass's changes is answered once the batch
 * is committed (events_seal).
 */
int
store_commit(void)
{
	struct store_batch *b;
	struct task *t;
	size_t i;

	events_seal(store_submitted + (store_ndirty > 0), store_done);
	if (store_ndirty == 0)
		return 0;
	b = xcalloc(1, sizeof *b);
	b->rows = xcalloc(store_ndirty, sizeof *b->rows);
	b->tasks = xcalloc(store_ndirty, sizeof *b->tasks);
	for (i = 0; i < store_ndirty; i++) {
		t = store_dirty[i];
		t->dirty = 0;
		t->inflight++;
		store_fill_row(&b->rows[i], t);
		b->tasks[i] = t;
	}
	b->nrows = store_ndirty;
	store_ndirty = 0;
	b->seq = ++store_submitted;
	writer_submit(b);
	return 0;
}

/* Drop a terminal task from memory once nothing of it is in flight. */
static void
store_evict(struct task *t)
{
	if (task_state_terminal(t->state) && !t->dirty && t->inflight == 0) {
		registry_remove(t);
		task_free(t);
	}
}

/* A batch came back committed, or failed. */
static void
store_finish(struct store_batch *b)
{
	struct task *t;
	size_t i;

	if (b->nrows > 0)
		metrics_commit(b->commit_us, b->nrows);
	if (b->rc != 0)
		log_error("store: a commit failed (%s); the changes of %zu "
		    "tasks were NOT stored: their requests get 500, and they "
		    "are retried", b->error, b->nrows);
	if (b->seq > store_done)
		store_done = b->seq;
	events_committed(b->seq, b->rc);
	for (i = 0; i < b->nrows; i++) {
		t = b->tasks[i];
		t->inflight--;
		if (b->rc != 0)
			store_mark(t);
		else if (t->x != NULL && t->x->idem_key != NULL &&
		    b->rows[i].idem_key != NULL)
			store_forget_key(t);
		store_evict(t);
	}
	if (b->purge_batch > 0)
		store_purged(b->purged);
	store_batch_free(b);
}

/* The writer woke us: finish what it has committed. */
static void
store_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_batch *b;
	uint64_t n;

	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_error("store: eventfd: %s", strerror(errno));
	while ((b = writer_take_done()) != NULL)
		store_finish(b);
}

/*
 * Wait until everything sent to the writer is committed (start-up and
 * shutdown only: this blocks the loop).
 */
void
store_drain(void)
{
	struct store_batch *b;
	struct pollfd pfd;
	uint64_t n;

	if (store_efd < 0)
		return;
	store_commit();
	while (store_done < store_submitted) {
		while ((b = writer_take_done()) != NULL)
			store_finish(b);
		if (store_done < store_submitted) {
			pfd.fd = store_efd;
			pfd.events = POLLIN;
			poll(&pfd, 1, -1);
			if (read(store_efd, &n, sizeof n) < 0 && errno != EAGAIN)
				break;
		}
		store_commit();		/* a failed batch is sent again */
	}
}

/* The stored JSON of a task (to free), or NULL if unknown. */
char *
store_get(const struct ulid *id)
{
	sqlite3_stmt *st = store_stmts[STMT_GET];
	char buf[ULID_LEN + 1], *doc = NULL;

	ulid_format(id, buf);
	sqlite3_bind_text(st, 1, buf, ULID_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		doc = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return doc;
}

/*
 * The task created with an Idempotency-Key: 1 with its id and the body it
 * was created from (to free), 0 if the key is new, -1 on error. Keys not
 * yet committed are found in memory.
 */
int
store_find_idem(const char *key, struct ulid *id, char **body)
{
	sqlite3_stmt *st = store_stmts[STMT_IDEM];
	size_t i;
	int rc = 0;

	for (i = 0; i < store_nkeyed; i++) {
		if (strcmp(store_keyed[i]->x->idem_key, key) == 0) {
			*id = store_keyed[i]->id;
			*body = xstrdup(store_keyed[i]->x->idem_body);
			return 1;
		}
	}
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
 * state) pair and merge them, so no filter scans the table. The listing
 * shows what is committed: a change is there once its answer went out.
 */
char *
store_list(const struct store_filter *f, size_t *lenp)
{
	struct store_cursor cur[TASK_NSTATES * 8];
	char before[ULID_LEN + 1], last[ULID_LEN + 1];
	const char *id, *best_id;
	size_t k, ncur = 0, i, best;
	int s, n = 0;
	struct buf out = { NULL, 0, 0 };

	if (f->has_before)
		ulid_format(&f->before, before);
	else
		strcpy(before, "8");	/* above every ULID */
	if (f->states == 0 && f->kinds == 0)
		store_cursor_open(&cur[ncur++], store_stmts[STMT_LIST], NULL, 0,
		    before, f->limit + 1);
	else {
		for (k = 0; k < kind_count() && k < 8; k++) {
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
	buf_adds(&out, "{\"tasks\":[");
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
			buf_add(&out, ",", 1);
		buf_adds(&out, (const char *)sqlite3_column_text(cur[best].st, 1));
		memcpy(last, best_id, sizeof last);
		cur[best].has_row = sqlite3_step(cur[best].st) == SQLITE_ROW;
	}
	if (best_id != NULL) {
		buf_adds(&out, "],\"next_page_token\":\"");
		buf_adds(&out, last);
		buf_adds(&out, "\"}");
	} else
		buf_adds(&out, "],\"next_page_token\":null}");
	for (i = 0; i < ncur; i++) {
		sqlite3_reset(cur[i].st);
		sqlite3_clear_bindings(cur[i].st);
	}
	return buf_steal(&out, lenp);
}

/*
 * Recovery: call fn for every task that had not ended, oldest first, and
 * keep new ids above every stored one. Returns the number of tasks read,
 * or -1 (with *err) if the tasks cannot be read.
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

/* Ask the writer to purge a batch of tasks older than retention_s. */
static void
store_purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_batch *b;

	if (store_purging)
		return;
	b = xcalloc(1, sizeof *b);
	b->purge_cutoff = clock_now_ms() - cfg->retention_s * 1000;
	b->purge_batch = STORE_PURGE_BATCH;
	b->seq = ++store_submitted;
	store_purging = 1;
	writer_submit(b);
}

/* A purge came back: come back soon if there is more to do. */
void
store_purged(int n)
{
	struct timeval tv = { STORE_PURGE_INTERVAL_S, 0 };

	store_purging = 0;
	if (n > 0)
		log_debug("store: purged %d tasks older than retention_s", n);
	if (n == STORE_PURGE_BATCH) {
		tv.tv_sec = 0;
		tv.tv_usec = 10000;	/* more to do: let requests in first */
	}
	if (store_purge_ev != NULL)
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
