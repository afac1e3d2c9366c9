/*
 * store-writer.c -- the thread that writes the store. The loop hands it
 * batches (the tasks one loop pass changed, rendered); it writes every
 * batch waiting into one transaction, commits (the fsync happens here, off
 * the loop), and wakes the loop through an eventfd. It touches nothing but
 * its own SQLite connection and the queues below.
 */

#include "evtaskd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sqlite3.h>

#define WRITER_STR2(x)	#x
#define WRITER_STR(x)	WRITER_STR2(x)

enum {
	WSTMT_BEGIN,
	WSTMT_COMMIT,
	WSTMT_ROLLBACK,
	WSTMT_UPSERT,
	WSTMT_PURGE,
	WSTMT_PROBE,
	WSTMT_OUTBOX_ADD,
	WSTMT_OUTBOX_SET,
	WSTMT_OUTBOX_PURGE,
	WSTMT_SCHED_PUT,
	WSTMT_SCHED_DEL,
	WSTMT_COUNT
};

static const char *const writer_sql[WSTMT_COUNT] = {
	[WSTMT_BEGIN] = "BEGIN",
	[WSTMT_COMMIT] = "COMMIT",
	[WSTMT_ROLLBACK] = "ROLLBACK",
	[WSTMT_UPSERT] = "INSERT INTO tasks(id, kind, state, finished_at,"
	    " idem_key, idem_body, doc, schedule_id, due_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	    " ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
	    " finished_at = excluded.finished_at, doc = excluded.doc,"
	    " due_at = excluded.due_at",
	/* A task whose callback is still pending stays until it is not. */
	[WSTMT_PURGE] = "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks"
	    " WHERE finished_at < ?1 AND id NOT IN (SELECT task_id FROM outbox"
	    " WHERE state = 0) LIMIT ?2) RETURNING id",
	/* A retry writes a page even with no rows: it proves space. */
	[WSTMT_PROBE] = "PRAGMA user_version = " WRITER_STR(STORE_SCHEMA_VERSION),
	[WSTMT_OUTBOX_ADD] = "INSERT INTO outbox(id, task_id, callback, state,"
	    " attempts, next_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
	    " attempts = excluded.attempts, next_at = excluded.next_at",
	[WSTMT_OUTBOX_SET] = "UPDATE outbox SET state = ?2, attempts = ?3,"
	    " next_at = ?4 WHERE id = ?1",
	[WSTMT_OUTBOX_PURGE] = "DELETE FROM outbox WHERE task_id = ?1",
	[WSTMT_SCHED_PUT] = "INSERT INTO schedules(id, doc) VALUES (?1, ?2)"
	    " ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
	[WSTMT_SCHED_DEL] = "DELETE FROM schedules WHERE id = ?1",
};

static sqlite3			*writer_db;
static sqlite3_stmt		*writer_stmts[WSTMT_COUNT];
static pthread_t		 writer_thread;
static pthread_mutex_t		 writer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 writer_cond = PTHREAD_COND_INITIALIZER;
static STAILQ_HEAD(, store_batch) writer_todo =
    STAILQ_HEAD_INITIALIZER(writer_todo);
static STAILQ_HEAD(, store_batch) writer_done =
    STAILQ_HEAD_INITIALIZER(writer_done);
static int			 writer_stop;
static int			 writer_running;
static int			 writer_efd = -1;
static int			 writer_poisoned;	/* a commit failed */

/* Run a statement that returns no rows; 0 or -1. */
static int
writer_exec(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Write one row. */
static int
writer_row(const struct store_row *r)
{
	sqlite3_stmt *st = writer_stmts[WSTMT_UPSERT];
	int rc;

	sqlite3_bind_text(st, 1, r->id, ULID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, r->state);
	if (r->finished_at != TASK_TIME_NONE)
		sqlite3_bind_int64(st, 4, r->finished_at);
	else
		sqlite3_bind_null(st, 4);
	if (r->idem_key != NULL) {
		sqlite3_bind_text(st, 5, r->idem_key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, r->idem_body, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 5);
		sqlite3_bind_null(st, 6);
	}
	sqlite3_bind_text(st, 7, r->doc, -1, SQLITE_STATIC);
	if (r->schedule_id[0] != '\0')
		sqlite3_bind_text(st, 8, r->schedule_id, ULID_LEN,
		    SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	if (r->due_at != TASK_TIME_NONE)
		sqlite3_bind_int64(st, 9, r->due_at);
	else
		sqlite3_bind_null(st, 9);
	rc = writer_exec(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Write or delete one schedule's row. */
static int
writer_srow(const struct store_srow *r)
{
	sqlite3_stmt *st = writer_stmts[r->doc != NULL ? WSTMT_SCHED_PUT :
	    WSTMT_SCHED_DEL];
	int rc;

	sqlite3_bind_text(st, 1, r->id, ULID_LEN, SQLITE_STATIC);
	if (r->doc != NULL)
		sqlite3_bind_text(st, 2, r->doc, -1, SQLITE_STATIC);
	rc = writer_exec(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Write one outbox row: a new delivery, or how an old one stands. */
static int
writer_delivery(const struct store_delivery *d)
{
	sqlite3_stmt *st = writer_stmts[d->body != NULL ? WSTMT_OUTBOX_ADD :
	    WSTMT_OUTBOX_SET];
	int rc;

	sqlite3_bind_text(st, 1, d->id, ULID_LEN, SQLITE_STATIC);
	if (d->body != NULL) {
		sqlite3_bind_text(st, 2, d->task_id, ULID_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, d->callback, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, d->state);
		sqlite3_bind_int(st, 5, d->attempts);
		sqlite3_bind_int64(st, 6, d->next_at);
		sqlite3_bind_text(st, 7, d->body, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int(st, 2, d->state);
		sqlite3_bind_int(st, 3, d->attempts);
		sqlite3_bind_int64(st, 4, d->next_at);
	}
	rc = writer_exec(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* The outbox rows of the purged tasks go with them. */
static int
writer_purge_outbox(const struct store_batch *b)
{
	sqlite3_stmt *st = writer_stmts[WSTMT_OUTBOX_PURGE];
	int i;

	for (i = 0; i < b->purged; i++) {
		sqlite3_bind_text(st, 1, b->purged_ids[i], ULID_LEN,
		    SQLITE_STATIC);
		if (writer_exec(st) != 0)
			return -1;
	}
	return 0;
}

/* Delete a batch of expired tasks, keeping their ids (their outputs go). */
static int
writer_purge(struct store_batch *b)
{
	sqlite3_stmt *st = writer_stmts[WSTMT_PURGE];
	int rc;

	sqlite3_bind_int64(st, 1, b->purge_cutoff);
	sqlite3_bind_int(st, 2, b->purge_batch);
	b->purged_ids = xcalloc((size_t)b->purge_batch,
	    sizeof *b->purged_ids);
	b->purged = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    b->purged < b->purge_batch)
		snprintf(b->purged_ids[b->purged++], ULID_LEN + 1, "%s",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return -1;
	return writer_purge_outbox(b);
}

/* Write one batch (rows, or a purge) into the open transaction. */
static int
writer_batch(struct store_batch *b)
{
	size_t i;

	for (i = 0; i < b->nrows; i++) {
		if (writer_row(&b->rows[i]) != 0)
			return -1;
	}
	for (i = 0; i < b->ndeliveries; i++) {
		if (writer_delivery(&b->deliveries[i]) != 0)
			return -1;
	}
	for (i = 0; i < b->nsrows; i++) {
		if (writer_srow(&b->srows[i]) != 0)
			return -1;
	}
	if (b->retry && writer_exec(writer_stmts[WSTMT_PROBE]) != 0)
		return -1;
	if (b->purge_batch > 0)
		return writer_purge(b);
	return 0;
}

/*
 * Commit every batch of the list in one transaction: one fsync for all.
 * On failure every batch carries the error; nothing of them is stored.
 */
static int
writer_commit(struct store_batch *first)
{
	struct store_batch *b;
	int64_t t0 = clock_mono_us();
	int rc = writer_exec(writer_stmts[WSTMT_BEGIN]);

	for (b = first; rc == 0 && b != NULL; b = STAILQ_NEXT(b, entry))
		rc = writer_batch(b);
	if (rc == 0)
		rc = writer_exec(writer_stmts[WSTMT_COMMIT]);
	if (rc != 0) {
		for (b = first; b != NULL; b = STAILQ_NEXT(b, entry)) {
			free(b->error);
			b->error = xstrdup(sqlite3_errmsg(writer_db));
		}
		writer_exec(writer_stmts[WSTMT_ROLLBACK]);
	}
	for (b = first; b != NULL; b = STAILQ_NEXT(b, entry)) {
		b->rc = rc;
		b->commit_us = clock_mono_us() - t0;
	}
	return rc;
}

/*
 * After a failed commit every batch is failed untried until the loop's
 * retry comes: a later batch must not store the change of a task whose
 * creation failed (the loop withdraws it first). The first batch to try.
 */
static struct store_batch *
writer_skip_poisoned(struct store_batch *b)
{
	for (; b != NULL && writer_poisoned && !b->retry;
	    b = STAILQ_NEXT(b, entry)) {
		b->rc = -1;
		b->error = xstrdup("not tried: an earlier commit failed");
	}
	if (b != NULL)
		writer_poisoned = 0;
	return b;
}

/* The thread: wait for batches, commit them, hand them back. */
static void *
writer_main(void *arg)
{
	STAILQ_HEAD(, store_batch) work;
	struct store_batch *first;
	uint64_t one = 1;

	pthread_mutex_lock(&writer_lock);
	for (;;) {
		while (STAILQ_EMPTY(&writer_todo) && !writer_stop)
			pthread_cond_wait(&writer_cond, &writer_lock);
		if (STAILQ_EMPTY(&writer_todo) && writer_stop)
			break;
		STAILQ_INIT(&work);
		STAILQ_CONCAT(&work, &writer_todo);
		pthread_mutex_unlock(&writer_lock);
		first = writer_skip_poisoned(STAILQ_FIRST(&work));
		if (first != NULL && writer_commit(first) != 0)
			writer_poisoned = 1;
		pthread_mutex_lock(&writer_lock);
		STAILQ_CONCAT(&writer_done, &work);
		if (write(writer_efd, &one, sizeof one) < 0 && errno != EAGAIN)
			abort();
	}
	pthread_mutex_unlock(&writer_lock);
	return NULL;
}

/*
 * Start the writer on its own connection to path; efd is the eventfd it
 * wakes the loop with. 0, or -1 with *err.
 */
int
writer_start(const char *path, int memory, int efd, char **err)
{
	const char *pragmas = memory ?
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;" :
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
	int i;

	if (sqlite3_open_v2(path, &writer_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, STORE_SQLITE_VFS) != SQLITE_OK ||
	    sqlite3_exec(writer_db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(writer_db, 5000);
	for (i = 0; i < WSTMT_COUNT; i++) {
		if (sqlite3_prepare_v3(writer_db, writer_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &writer_stmts[i], NULL) !=
		    SQLITE_OK)
			goto fail;
	}
	writer_efd = efd;
	writer_stop = 0;
	writer_poisoned = 0;
	if (pthread_create(&writer_thread, NULL, writer_main, NULL) != 0) {
		*err = xstrdup("cannot start the store's writer thread");
		writer_close();
		return -1;
	}
	writer_running = 1;
	return 0;
fail:
	*err = xasprintf("%s: %s", path, writer_db != NULL ?
	    sqlite3_errmsg(writer_db) : "out of memory");
	writer_close();
	return -1;
}

/* Hand a batch to the writer. */
void
writer_submit(struct store_batch *b)
{
	pthread_mutex_lock(&writer_lock);
	STAILQ_INSERT_TAIL(&writer_todo, b, entry);
	pthread_cond_signal(&writer_cond);
	pthread_mutex_unlock(&writer_lock);
}

/* Take the batches the writer has finished, oldest first (NULL: none). */
struct store_batch *
writer_take_done(void)
{
	struct store_batch *b;

	pthread_mutex_lock(&writer_lock);
	if ((b = STAILQ_FIRST(&writer_done)) != NULL)
		STAILQ_REMOVE_HEAD(&writer_done, entry);
	pthread_mutex_unlock(&writer_lock);
	return b;
}

/* Stop the thread (after the batches it has) and close its connection. */
void
writer_close(void)
{
	int i;

	if (writer_running) {
		pthread_mutex_lock(&writer_lock);
		writer_stop = 1;
		pthread_cond_signal(&writer_cond);
		pthread_mutex_unlock(&writer_lock);
		pthread_join(writer_thread, NULL);
		writer_running = 0;
	}
	for (i = 0; i < WSTMT_COUNT; i++) {
		sqlite3_finalize(writer_stmts[i]);
		writer_stmts[i] = NULL;
	}
	sqlite3_close(writer_db);
	writer_db = NULL;
}
