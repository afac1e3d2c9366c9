/*
 * pg-output.c -- task output in the shared store (CONTRACT §12), so that
 * every node serves it. The node that runs a command keeps its file
 * (output.c) and copies every byte into the output table, in rows of at
 * most PGO_ROW bytes; the other nodes read those rows on the read
 * connection, and follow them.
 *
 * Writing: output.c's tee hands over what the processes wrote. The bytes
 * wait per stream and go out in one transaction, fenced like every write,
 * at the end of the loop pass or, while one is in flight, when it is back
 * (a fast writer makes a few big rows, never a row per pipe read). They
 * also go out before every store batch (store-pg.c calls
 * pg_output_flush): on the one write connection, a task's output is
 * committed before its terminal state, so a reader that sees the task
 * ended has every byte. Nothing waits for these commits: output is not
 * acknowledged data. What waits is kept as the file keeps it: a stream's
 * last cap bytes (in rows: the oldest row goes once the others hold the
 * cap), and PGO_WAIT_MAX bytes for all streams together; bytes past that
 * (PostgreSQL far behind) or that cannot be written (unreachable) are a
 * gap a remote reader skips, while the file keeps them, and the log says
 * so at most once a minute. Each transaction notifies evtaskd_output with
 * the ids of its tasks. A stream past its cap deletes its oldest rows
 * every PGO_TRIM bytes; a stream begun afresh (a new file: the task's
 * first run here, or a cleanup run again by the node that adopted the
 * task) first deletes what another run left. Rows go with their task
 * (store-pg.c's purge).
 *
 * Reading: a reader reads PGO_READ_ROWS rows at a time with the task's
 * state, in one statement (one snapshot: a task already terminal there
 * has all its rows there too), and reads again once it has given them
 * out, so a reader holds at most that much. A follower that has read
 * everything waits for news of its task: a notification on
 * evtaskd_output, or the task's event on the events tail (pg-events.c
 * calls pg_output_wake for both), and ends once the task is terminal and
 * everything was given.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define PGO_ROW		(64 * 1024)		/* bytes per row, at most */
#define PGO_ROW_S	"65536"
#define PGO_TRIM	(256 * 1024)		/* between deletes past the cap */
#define PGO_WAIT_MAX	((size_t)64 * 1024 * 1024)	/* all streams */
#define PGO_WARN_MS	60000		/* between two warnings of a gap */
#define PGO_READ_ROWS	4
#define PGO_READ_ROWS_S	"4"

/* A row's bytes, waiting to be sent. */
struct pgo_row {
	uint64_t		 off;
	char			*data;
	size_t			 len;
	size_t			 size;
	TAILQ_ENTRY(pgo_row)	 entry;
};

/* One live output's copy: its rows waiting, up to the next offset. */
struct pgo_tee {
	char			 id[ULID_LEN + 1];
	char			 stream[4];
	uint64_t		 keep;		/* the output's cap */
	uint64_t		 end;		/* the offset after the last byte */
	TAILQ_HEAD(pgo_rows, pgo_row) rows;
	size_t			 len;		/* bytes in rows */
	uint64_t		 trimmed;	/* rows ending before are gone */
	int			 reset;		/* first delete another run's */
	int			 dirty;		/* in pgo_dirty */
	int			 closed;	/* output.c let go: freed once sent */
	TAILQ_ENTRY(pgo_tee)	 entry;
};

/* A reader of the rows (a store_output's). */
struct pg_output_reader {
	char		 id[ULID_LEN + 1];
	char		 stream[4];
	uint64_t	 pos;		/* of buf[at]: the next byte to give */
	uint64_t	 start;		/* the first byte given */
	int		 follow;
	int		 opening;	/* the first read is out */
	int		 final;		/* the task had ended (or is gone) */
	int		 more;		/* rows past what the last read took */
	int		 waiting;	/* the stream waits: ready at news */
	int		 again;		/* news came while reading or giving */
	int		 failed;
	char		*buf;		/* bytes read, not yet given */
	size_t		 len;
	size_t		 at;
	struct pgc_req	*req;		/* a read out */
	store_output_cb	*opened;
	void		*opened_arg;
	output_ready_cb	*ready;
	void		*ready_arg;
	LIST_ENTRY(pg_output_reader) entry;
};

static struct pgc		*pgo_write;	/* NULL: the store is closed */
static struct pgc		*pgo_read;
static struct event		*pgo_flush_ev;
static TAILQ_HEAD(, pgo_tee)	 pgo_dirty = TAILQ_HEAD_INITIALIZER(pgo_dirty);
static size_t			 pgo_waiting;	/* bytes waiting, all streams */
static int			 pgo_inflight;	/* transactions out */
static uint64_t			 pgo_skipped;	/* bytes never sent, */
static int64_t			 pgo_warned_ms;	/* said then */
static LIST_HEAD(, pg_output_reader) pgo_readers =
    LIST_HEAD_INITIALIZER(pgo_readers);

/* Bytes will never reach the table: say so, at most once a minute. */
static void
pgo_skip(uint64_t n, const char *why)
{
	int64_t now = clock_mono_us() / 1000;

	pgo_skipped += n;
	if (pgo_warned_ms != 0 && now - pgo_warned_ms < PGO_WARN_MS)
		return;
	pgo_warned_ms = now;
	log_warn("output: %" PRIu64 " bytes of output never reached the "
	    "shared store (%s): other nodes skip them, this node's files keep "
	    "them", pgo_skipped, why);
}

/* Forget the oldest waiting row (sent, or never to be). */
static void
pgo_row_drop(struct pgo_tee *t)
{
	struct pgo_row *r = TAILQ_FIRST(&t->rows);

	TAILQ_REMOVE(&t->rows, r, entry);
	t->len -= r->len;
	pgo_waiting -= r->len;
	free(r->data);
	free(r);
}

/* Forget every waiting row. */
static void
pgo_forget(struct pgo_tee *t)
{
	while (!TAILQ_EMPTY(&t->rows))
		pgo_row_drop(t);
}

/* The one place a tee is freed. */
static void
pgo_tee_free(struct pgo_tee *t)
{
	pgo_forget(t);
	free(t);
}

/* output.c opened an output: its copy (cap kept, bytes written before). */
static void *
pgo_tee_open(const struct ulid *id, enum output_stream stream, uint64_t cap,
    uint64_t total)
{
	struct pgo_tee *t = xcalloc(1, sizeof *t);

	ulid_format(id, t->id);
	snprintf(t->stream, sizeof t->stream, "%d", (int)stream);
	t->keep = cap;
	t->end = total;
	TAILQ_INIT(&t->rows);
	t->trimmed = total > cap ? total - cap : 0;
	t->reset = total == 0;
	return t;
}

/* Send what waits at the end of this loop pass (or after the one out). */
static void
pgo_mark(struct pgo_tee *t)
{
	if (t->dirty)
		return;
	t->dirty = 1;
	TAILQ_INSERT_TAIL(&pgo_dirty, t, entry);
	if (pgo_flush_ev != NULL && pgo_inflight == 0)
		event_active(pgo_flush_ev, EV_TIMEOUT, 0);
}

/* The row the next bytes go to (a new one when the last is full). */
static struct pgo_row *
pgo_row_last(struct pgo_tee *t)
{
	struct pgo_row *r = TAILQ_LAST(&t->rows, pgo_rows);

	if (r != NULL && r->len < PGO_ROW)
		return r;
	r = xcalloc(1, sizeof *r);
	r->off = t->end;
	TAILQ_INSERT_TAIL(&t->rows, r, entry);
	return r;
}

/* Keep n new bytes to send; the oldest rows go past the cap. */
static void
pgo_keep(struct pgo_tee *t, const char *data, size_t n)
{
	struct pgo_row *r;
	size_t k;

	while (n > 0) {
		r = pgo_row_last(t);
		k = PGO_ROW - r->len < n ? PGO_ROW - r->len : n;
		if (r->len + k > r->size) {	/* doubling, up to a row */
			r->size = r->size * 2 > r->len + k ? r->size * 2 :
			    r->len + k;
			r->size = r->size < PGO_ROW ? r->size : PGO_ROW;
			r->data = xrealloc(r->data, r->size);
		}
		memcpy(r->data + r->len, data, k);
		r->len += k;
		t->len += k;
		t->end += k;
		pgo_waiting += k;
		data += k;
		n -= k;
	}
	while (t->len - TAILQ_FIRST(&t->rows)->len >= t->keep)
		pgo_row_drop(t);
}

/* Bytes the processes wrote at offset at: to send soon. */
static void
pgo_tee_append(void *arg, uint64_t at, const char *data, size_t n)
{
	struct pgo_tee *t = arg;

	if (pgo_write == NULL || n == 0)
		return;
	if (pgo_waiting + n > PGO_WAIT_MAX) {
		pgo_skip(n, "too many bytes wait for PostgreSQL");
		return;			/* a gap: the next bytes start anew */
	}
	if (at != t->end) {		/* a gap: what waits is before it */
		pgo_forget(t);
		t->end = at;
	}
	pgo_keep(t, data, n);
	pgo_mark(t);
}

/* output.c let go of the output: the copy goes once its bytes are sent. */
static void
pgo_tee_close(void *arg)
{
	struct pgo_tee *t = arg;

	if (t->dirty)
		t->closed = 1;
	else
		pgo_tee_free(t);
}

static const struct output_tee pgo_tee = {
	pgo_tee_open, pgo_tee_append, pgo_tee_close
};

/* Send one statement of the transaction; 0 or -1. */
static int
pgo_send_one(PGconn *conn, const char *sql, int n, const char *const *p,
    const int *lengths, const int *formats)
{
	return PQsendQueryParams(conn, sql, n, NULL, p, lengths, formats,
	    0) == 1 ? 0 : -1;
}

/* A stream's waiting rows. */
static int
pgo_send_rows(PGconn *conn, const struct pgo_tee *t)
{
	char off[24], keep[24];
	const char *p[5] = { t->id, t->stream, off, keep, NULL };
	int lengths[5] = { 0, 0, 0, 0, 0 }, formats[5] = { 0, 0, 0, 0, 1 };
	struct pgo_row *r;

	snprintf(keep, sizeof keep, "%" PRIu64, t->keep);
	TAILQ_FOREACH(r, &t->rows, entry) {
		snprintf(off, sizeof off, "%" PRIu64, r->off);
		p[4] = r->data;
		lengths[4] = (int)r->len;
		if (pgo_send_one(conn, "INSERT INTO output(task_id, stream, off,"
		    " keep, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT"
		    " (task_id, stream, off) DO UPDATE SET keep = excluded.keep,"
		    " data = excluded.data", 5, p, lengths, formats) != 0)
			return -1;
	}
	return 0;
}

/* Past the cap: delete the rows before the first byte kept, now and then. */
static int
pgo_send_trim(PGconn *conn, struct pgo_tee *t)
{
	uint64_t first = t->end > t->keep ? t->end - t->keep : 0;
	char below[24];
	const char *p[3] = { t->id, t->stream, below };

	if (first < t->trimmed + PGO_TRIM)
		return 0;
	t->trimmed = first;
	snprintf(below, sizeof below, "%" PRIu64, first);
	return pgo_send_one(conn, "DELETE FROM output WHERE task_id = $1 AND"
	    " stream = $2 AND off < $3 AND off + length(data) <= $3", 3, p,
	    NULL, NULL);
}

/* A stream's statements: reset, rows, trim, and the notification. */
static int
pgo_send_tee(PGconn *conn, struct pgo_tee *t)
{
	const char *p[2] = { t->id, t->stream };

	if (t->reset && pgo_send_one(conn, "DELETE FROM output WHERE"
	    " task_id = $1 AND stream = $2", 2, p, NULL, NULL) != 0)
		return -1;
	t->reset = 0;
	return pgo_send_rows(conn, t) != 0 || pgo_send_trim(conn, t) != 0 ||
	    pgo_send_one(conn, "SELECT pg_notify('evtaskd_output', $1)", 1, p,
	    NULL, NULL) != 0 ? -1 : 0;
}

/* The transaction: the fence, then every stream with bytes waiting. */
static int
pgo_send_cb(PGconn *conn, void *arg)
{
	const char *p[2] = { pg_node_name(), pg_node_epoch() };
	struct pgo_tee *t;

	if (pgo_send_one(conn, "SELECT evtaskd_fence($1, $2)", 2, p, NULL,
	    NULL) != 0)
		return -1;
	TAILQ_FOREACH(t, &pgo_dirty, entry) {
		if (pgo_send_tee(conn, t) != 0)
			return -1;
	}
	return 0;
}

/* The waiting bytes left our hands (sent, or dropped): the tees empty. */
static void
pgo_clear(void)
{
	struct pgo_tee *t;

	while ((t = TAILQ_FIRST(&pgo_dirty)) != NULL) {
		TAILQ_REMOVE(&pgo_dirty, t, entry);
		t->dirty = 0;
		if (t->closed)
			pgo_tee_free(t);
		else
			pgo_forget(t);
	}
}

static void	pgo_send(void);

/* A transaction ended: what waited meanwhile goes now. */
static void
pgo_done_cb(void *arg, const char *error)
{
	pgo_inflight--;
	if (error != NULL)
		pgo_skip((uintptr_t)arg, error);
	if (pgo_inflight == 0)
		pgo_send();
}

/* The bytes of every waiting row, all streams. */
static size_t
pgo_dirty_bytes(void)
{
	struct pgo_tee *t;
	size_t n = 0;

	TAILQ_FOREACH(t, &pgo_dirty, entry)
		n += t->len;
	return n;
}

/* Send every waiting byte in one transaction (or drop it: cannot). */
static void
pgo_send(void)
{
	size_t n;

	if (TAILQ_EMPTY(&pgo_dirty))
		return;
	n = pgo_dirty_bytes();		/* told to the end, if it fails */
	if (pgo_write == NULL || pg_node_lost())
		pgo_skip(n, "this node cannot write");
	else if (pgc_send(pgo_write, pgo_send_cb, NULL, pgo_done_cb,
	    (void *)(uintptr_t)n) == NULL)
		pgo_skip(n, pgc_error(pgo_write));
	else
		pgo_inflight++;
	pgo_clear();	/* libpq copied every byte it took */
}

/* The end of the loop pass: send unless a transaction is out. */
static void
pgo_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	if (pgo_inflight == 0)
		pgo_send();
}

/*
 * A store batch goes out next: every byte written before goes first (a
 * terminal state never commits before the output that led to it).
 */
void
pg_output_flush(void)
{
	pgo_send();
}

/* Start: bytes go out on write, readers read on read. */
void
pg_output_open(struct event_base *base, struct pgc *write, struct pgc *read)
{
	pgo_write = write;
	pgo_read = read;
	pgo_flush_ev = event_new(base, -1, 0, pgo_flush_cb, NULL);
	output_tee(&pgo_tee);
}

/* Stop (after a last flush): outputs opened later are not copied. */
void
pg_output_close(void)
{
	pgo_send();
	output_tee(NULL);
	pgo_write = pgo_read = NULL;
	if (pgo_flush_ev != NULL)
		event_free(pgo_flush_ev);
	pgo_flush_ev = NULL;
}

/* Read a big-endian integer (a binary int4 or int8 column). */
static uint64_t
pgo_int(const PGresult *res, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(res, row,
	    col);
	uint64_t v = 0;
	int i;

	for (i = 0; i < PQgetlength(res, row, col) && i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Take one row's bytes that follow what the reader has (1: a gap). */
static int
pgo_take(struct pg_output_reader *r, uint64_t off, const char *data,
    size_t n)
{
	uint64_t end = r->pos + r->len;
	size_t skip;

	if (off + n <= end)
		return 0;
	if (off > end) {
		if (r->len > 0)
			return 1;	/* the bytes past a gap: next read */
		r->pos = off;		/* never copied: skipped */
		end = off;
	}
	skip = (size_t)(end - off);
	r->buf = xrealloc(r->buf, r->len + n - skip);
	memcpy(r->buf + r->len, data + skip, n - skip);
	r->len += n - skip;
	return 0;
}

/*
 * A read's rows: the task's state and kind, where its kept bytes start,
 * and the next rows from the reader's offset.
 */
static void
pgo_rows_cb(void *arg, int i, struct pg_result *res)
{
	struct pg_output_reader *r = arg;
	const struct task_kind *k;
	uint64_t fin, keep;
	int row, n = PQntuples(res), rows = 0;

	r->more = 0;
	r->final = 1;			/* no row: the task is gone */
	if (n == 0)
		return;
	k = kind_find(PQgetvalue(res, 0, 1));
	r->final = task_state_terminal((enum task_state)pgo_int(res, 0, 0)) ||
	    k == NULL || k->output == NULL;
	if (!PQgetisnull(res, 0, 2)) {
		fin = pgo_int(res, 0, 2);
		keep = pgo_int(res, 0, 3);
		if (fin > keep && r->pos < fin - keep)
			r->pos = fin - keep;	/* dropped past the cap */
	}
	for (row = 0; row < n; row++) {
		if (PQgetisnull(res, row, 4))
			continue;
		rows++;
		if (pgo_take(r, pgo_int(res, row, 4), PQgetvalue(res, row, 5),
		    (size_t)PQgetlength(res, row, 5))) {
			r->more = 1;
			return;
		}
	}
	r->more = rows >= PGO_READ_ROWS;
}

/*
 * The read: binary results (the bytes as they are). Rows hold at most
 * PGO_ROW bytes, so those that reach past $3 start after $3 - PGO_ROW
 * (an index range).
 */
static int
pgo_read_send_cb(PGconn *conn, void *arg)
{
	struct pg_output_reader *r = arg;
	char pos[24];
	const char *p[3] = { r->id, r->stream, pos };

	snprintf(pos, sizeof pos, "%" PRIu64, r->pos);
	return PQsendQueryParams(conn, "SELECT t.state, t.kind, l.fin, l.keep,"
	    " o.off, o.data FROM tasks t"
	    " LEFT JOIN LATERAL (SELECT off + length(data) AS fin, keep"
	    " FROM output WHERE task_id = $1 AND stream = $2::smallint"
	    " ORDER BY off DESC LIMIT 1) l ON true"
	    " LEFT JOIN LATERAL (SELECT off, data FROM output WHERE"
	    " task_id = $1 AND stream = $2::smallint"
	    " AND off > greatest($3::bigint, l.fin - l.keep) - " PGO_ROW_S
	    " AND off + length(data) > greatest($3::bigint, l.fin - l.keep)"
	    " ORDER BY off LIMIT " PGO_READ_ROWS_S ") o ON true"
	    " WHERE t.id = $1 ORDER BY o.off", 3, NULL, p, NULL, NULL, 1) ==
	    1 ? 0 : -1;
}

/* Has the reader given everything there will be? */
static int
pgo_over(const struct pg_output_reader *r)
{
	return r->at == r->len && !r->more && (r->final || !r->follow);
}

static void	pgo_read_done_cb(void *, const char *);

/* Read the next rows (the buffer was given out); 0, or -1 (failed). */
static int
pgo_fetch(struct pg_output_reader *r)
{
	r->again = 0;
	free(r->buf);
	r->buf = NULL;
	r->len = r->at = 0;
	if (pgo_read != NULL)
		r->req = pgc_send(pgo_read, pgo_read_send_cb, pgo_rows_cb,
		    pgo_read_done_cb, r);
	if (r->req != NULL)
		return 0;
	log_error("store: cannot read the output of %s: %s", r->id,
	    pgo_read != NULL ? pgc_error(pgo_read) : "the store is closed");
	r->failed = 1;
	return -1;
}

/* The stream waits and there is news (bytes, the end, a failure). */
static void
pgo_tell(struct pg_output_reader *r)
{
	if (!r->waiting)
		return;
	r->waiting = 0;
	r->ready(r->ready_arg);
}

/* A read ended: open the reader, or give its bytes, or wait for news. */
static void
pgo_read_done_cb(void *arg, const char *error)
{
	struct pg_output_reader *r = arg;

	r->req = NULL;
	if (error != NULL) {
		log_error("store: cannot read the output of %s: %s", r->id,
		    error);
		r->failed = 1;
	}
	if (r->opening) {
		r->opening = 0;
		r->start = r->pos;
		r->opened(r->opened_arg, r->failed ? -1 : 0);
		return;			/* r may be gone */
	}
	if (r->len > 0 || r->failed || pgo_over(r))
		pgo_tell(r);
	else if ((r->again || r->more) && pgo_fetch(r) != 0)
		pgo_tell(r);
}

/*
 * News of a task (its output grew, or it changed): its followers that
 * have given everything read again. NULL: every follower (notifications
 * may have been missed).
 */
void
pg_output_wake(const char *id)
{
	struct pg_output_reader *r;

	LIST_FOREACH(r, &pgo_readers, entry) {
		if (id != NULL && strcmp(r->id, id) != 0)
			continue;
		if (r->req != NULL || r->at < r->len || !r->waiting)
			r->again = 1;
		else if (pgo_fetch(r) != 0)
			pgo_tell(r);
	}
}

/*
 * A reader of the rows of w's task and stream; opened hears when its
 * first read is back, ready when a waiting reader has news. NULL if it
 * cannot read (logged).
 */
struct pg_output_reader *
pg_output_reader_new(const struct store_output_want *w,
    store_output_cb *opened, void *oarg, output_ready_cb *ready, void *rarg)
{
	struct pg_output_reader *r = xcalloc(1, sizeof *r);

	ulid_format(&w->id, r->id);
	snprintf(r->stream, sizeof r->stream, "%d", (int)w->stream);
	r->pos = w->offset;
	r->follow = w->follow;
	r->opening = 1;
	r->opened = opened;
	r->opened_arg = oarg;
	r->ready = ready;
	r->ready_arg = rarg;
	if (pgo_fetch(r) != 0) {
		free(r);
		return NULL;
	}
	LIST_INSERT_HEAD(&pgo_readers, r, entry);
	return r;
}

/* The offset of the first byte it gives. */
uint64_t
pg_output_reader_start(const struct pg_output_reader *r)
{
	return r->start;
}

/*
 * The next bytes: how many; 0 if none now (ready is called when there
 * is news); -1 at the end; -2 when the store failed.
 */
ssize_t
pg_output_reader_read(struct pg_output_reader *r, char *buf, size_t max)
{
	size_t n = r->len - r->at;

	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(buf, r->buf + r->at, n);
		r->at += n;
		r->pos += n;
		if (r->at == r->len && r->req == NULL && (r->more ||
		    r->again))
			pgo_fetch(r);	/* the next rows, while these go */
		return (ssize_t)n;
	}
	if (r->failed)
		return -2;
	if (pgo_over(r))
		return -1;
	if (r->req == NULL && (r->more || r->again) && pgo_fetch(r) != 0)
		return -2;
	r->waiting = 1;
	return 0;
}

/* The one place a reader is freed: a read out is dropped. */
void
pg_output_reader_free(struct pg_output_reader *r)
{
	if (r->req != NULL)
		pgc_drop(r->req);
	LIST_REMOVE(r, entry);
	free(r->buf);
	free(r);
}
