/*
 * pg-conn.c -- one connection to PostgreSQL on the loop: libpq's
 * asynchronous API in pipeline mode, its socket a libevent event. A
 * request is a few statements and a sync point (one implicit transaction
 * on the server); requests go out back to back and their results come
 * back in order, each statement's to the request's result callback, then
 * the request's end with its first error, if any.
 *
 * A connection that breaks fails every request in flight and comes back
 * by itself: PQconnectStart/PQconnectPoll on the loop, with back-off.
 * Nothing here blocks the loop but pgc_wait and pgc_exec (start and stop).
 */

#include "evtaskd.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#define PGC_BACKOFF_FIRST_MS	100
#define PGC_BACKOFF_MAX_MS	5000

enum pgc_state {
	PGC_DOWN,		/* waiting for the back-off timer */
	PGC_CONNECTING,		/* PQconnectPoll in progress */
	PGC_UP,			/* in pipeline mode, requests go out */
};

/* One request in flight: its statements' results and its end. */
struct pgc_req {
	TAILQ_ENTRY(pgc_req)	 entry;
	pgc_result_cb		*result;
	pgc_done_cb		*done;
	int			 dropped;	/* no callback runs */
	void			*arg;
	int			 index;		/* the next statement's */
	char			*error;		/* the first */
};

struct pgc {
	struct event_base	*base;
	char			*conninfo;
	char			*name;		/* "write", "read": for the log */
	PGconn			*conn;
	enum pgc_state		 state;
	struct event		*ev;		/* the socket */
	short			 ev_what;	/* what ev waits for */
	struct event		*timer;		/* reconnect back-off */
	int64_t			 backoff_ms;
	pgc_up_cb		*up;
	void			*up_arg;
	pgc_notify_cb		*notify;	/* LISTEN's (pg-events.c) */
	char			*last_error;
	TAILQ_HEAD(, pgc_req)	 reqs;		/* in flight, in order */
	TAILQ_HEAD(, pgc_req)	 failed;	/* their ends to tell */
	struct event		*fail_ev;
};

/*
 * What every connection asks for unless the URI says otherwise (the URI
 * comes last and wins): a dead peer is noticed in seconds, not hours,
 * and the server's views name us.
 */
static const char *const pgc_keys[] = {
	"connect_timeout", "keepalives_idle", "keepalives_interval",
	"keepalives_count", "tcp_user_timeout", "application_name", "dbname",
	NULL
};
static const char *const pgc_values[] = {
	"10", "5", "2", "3", "10000", "evtaskd", NULL, NULL
};
#define PGC_URI	6	/* the index of dbname: the URI, expanded */

static void	pgc_socket_cb(evutil_socket_t, short, void *);
static void	pgc_poll_connect(struct pgc *);
static void	pgc_fail_cb(evutil_socket_t, short, void *);

/* libpq's notices (CREATE ... IF NOT EXISTS skipping) are for debugging. */
static void
pgc_notice_cb(void *arg, const char *message)
{
	log_debug("store: postgresql: %.*s", (int)strcspn(message, "\n"),
	    message);
}

/* libpq's error text on one line: its newlines and tabs one space. */
static char *
pgc_message(const char *m)
{
	char *s = xstrdup(m != NULL && *m != '\0' ? m : "unknown error");
	size_t i, n = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
			s[i] = ' ';
		if (s[i] != ' ' || (n > 0 && s[n - 1] != ' '))
			s[n++] = s[i];
	}
	while (n > 0 && s[n - 1] == ' ')
		n--;
	s[n] = '\0';
	return s;
}

/* Remember why the connection failed (for the next refusal). */
static void
pgc_set_error(struct pgc *c, const char *m)
{
	free(c->last_error);
	c->last_error = pgc_message(m);
}

/* A new connection, not yet connected: up hears of every (re)connect. */
struct pgc *
pgc_new(struct event_base *base, const char *conninfo, const char *name,
    pgc_up_cb *up, void *arg)
{
	struct pgc *c = xcalloc(1, sizeof *c);

	c->base = base;
	c->conninfo = xstrdup(conninfo);
	c->name = xstrdup(name);
	c->up = up;
	c->up_arg = arg;
	c->backoff_ms = PGC_BACKOFF_FIRST_MS;
	c->timer = evtimer_new(base, pgc_socket_cb, c);
	c->fail_ev = evtimer_new(base, pgc_fail_cb, c);
	TAILQ_INIT(&c->reqs);
	TAILQ_INIT(&c->failed);
	return c;
}

/* Wait on the socket for what (EV_READ, EV_WRITE) or nothing (0). */
static void
pgc_watch(struct pgc *c, short what)
{
	if (c->ev != NULL && c->ev_what == what &&
	    event_get_fd(c->ev) == PQsocket(c->conn))
		return;
	if (c->ev != NULL)
		event_free(c->ev);
	c->ev = NULL;
	c->ev_what = what;
	if (what == 0 || c->conn == NULL || PQsocket(c->conn) < 0)
		return;
	c->ev = event_new(c->base, PQsocket(c->conn), what | EV_PERSIST,
	    pgc_socket_cb, c);
	event_add(c->ev, NULL);
}

/* The one place a request is freed: fields, itself (out of its list). */
static void
pgc_req_free(struct pgc_req *r)
{
	free(r->error);
	free(r);
}

/* A request ended: its end (unless dropped) with its first error. */
static void
pgc_req_end(struct pgc_req *r)
{
	pgc_done_cb *done = r->dropped ? NULL : r->done;
	void *arg = r->arg;
	char *error = r->error;

	r->error = NULL;
	pgc_req_free(r);
	if (done != NULL)
		done(arg, error);
	free(error);
}

/* Tell the ends of the failed requests (later than the failure). */
static void
pgc_tell_failed(struct pgc *c)
{
	struct pgc_req *r;

	while ((r = TAILQ_FIRST(&c->failed)) != NULL) {
		TAILQ_REMOVE(&c->failed, r, entry);
		if (r->error == NULL)
			r->error = xstrdup(pgc_error(c));
		pgc_req_end(r);
	}
}

/* The failed requests' ends, told from the loop (never from a send). */
static void
pgc_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	pgc_tell_failed(arg);
}

/* Fail every request in flight, telling them on the next loop turn. */
static void
pgc_fail_all(struct pgc *c)
{
	TAILQ_CONCAT(&c->failed, &c->reqs, entry);
	if (!TAILQ_EMPTY(&c->failed))
		event_active(c->fail_ev, EV_TIMEOUT, 0);
}

/* The connection broke: drop it, fail what was in flight, retry later. */
static void
pgc_broken(struct pgc *c, const char *why)
{
	struct timeval tv;

	pgc_set_error(c, why);
	if (c->state == PGC_UP)
		log_error("store: postgresql (%s connection): %s; "
		    "reconnecting", c->name, c->last_error);
	pgc_watch(c, 0);
	PQfinish(c->conn);
	c->conn = NULL;
	c->state = PGC_DOWN;
	pgc_fail_all(c);
	tv.tv_sec = (time_t)(c->backoff_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->backoff_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	c->backoff_ms = c->backoff_ms * 2 > PGC_BACKOFF_MAX_MS ?
	    PGC_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Connected: non-blocking, pipeline mode, and the owner hears of it. */
static int
pgc_ready(struct pgc *c)
{
	if (PQsetnonblocking(c->conn, 1) != 0 ||
	    PQenterPipelineMode(c->conn) != 1) {
		pgc_broken(c, PQerrorMessage(c->conn));
		return -1;
	}
	PQsetNoticeProcessor(c->conn, pgc_notice_cb, NULL);
	if (c->state == PGC_CONNECTING)
		log_warn("store: postgresql (%s connection): connected again",
		    c->name);
	c->state = PGC_UP;
	c->backoff_ms = PGC_BACKOFF_FIRST_MS;
	pgc_watch(c, EV_READ);
	if (c->up != NULL)
		c->up(c->up_arg);
	return 0;
}

/*
 * Connect now, blocking (start-up only): 0, or -1 with *err. The
 * connection is not yet on the loop: pgc_exec works, then pgc_start.
 */
int
pgc_connect_now(struct pgc *c, char **err)
{
	const char *values[sizeof pgc_values / sizeof pgc_values[0]];

	memcpy(values, pgc_values, sizeof values);
	values[PGC_URI] = c->conninfo;
	c->conn = PQconnectdbParams(pgc_keys, values, 1);
	if (PQstatus(c->conn) != CONNECTION_OK) {
		*err = pgc_message(PQerrorMessage(c->conn));
		PQfinish(c->conn);
		c->conn = NULL;
		return -1;
	}
	PQsetNoticeProcessor(c->conn, pgc_notice_cb, NULL);
	return 0;
}

/* The connection is on the loop from now on. */
int
pgc_start(struct pgc *c)
{
	return pgc_ready(c);
}

/*
 * Run one statement now, blocking (start-up and shutdown only, before
 * pgc_start): the result (to PQclear), or NULL with *err. Without params,
 * sql may hold several statements (the last one's result).
 */
struct pg_result *
pgc_exec(struct pgc *c, const char *sql, int n, const char *const *params,
    char **err)
{
	PGresult *res = params == NULL ? PQexec(c->conn, sql) :
	    PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	*err = pgc_message(res != NULL ? PQresultErrorMessage(res) :
	    PQerrorMessage(c->conn));
	PQclear(res);
	return NULL;
}

/* The back-off passed: start connecting again, without blocking. */
static void
pgc_reconnect(struct pgc *c)
{
	const char *values[sizeof pgc_values / sizeof pgc_values[0]];

	memcpy(values, pgc_values, sizeof values);
	values[PGC_URI] = c->conninfo;
	c->conn = PQconnectStartParams(pgc_keys, values, 1);
	if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD) {
		c->state = PGC_CONNECTING;
		pgc_broken(c, c->conn != NULL ? PQerrorMessage(c->conn) :
		    "out of memory");
		return;
	}
	c->state = PGC_CONNECTING;
	pgc_poll_connect(c);
}

/* One step of a connection attempt; wait for what it asks. */
static void
pgc_poll_connect(struct pgc *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		pgc_watch(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		pgc_watch(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		pgc_ready(c);
		break;
	default:
		pgc_broken(c, PQerrorMessage(c->conn));
		break;
	}
}

/* Send what libpq holds; wait for writability while it cannot. */
static void
pgc_flush(struct pgc *c)
{
	int rc = PQflush(c->conn);

	if (rc < 0)
		pgc_broken(c, PQerrorMessage(c->conn));
	else
		pgc_watch(c, rc == 1 ? EV_READ | EV_WRITE : EV_READ);
}

/* One result of the head request: to its callback, or its error kept. */
static void
pgc_result(struct pgc *c, PGresult *res)
{
	struct pgc_req *r = TAILQ_FIRST(&c->reqs);
	ExecStatusType st = PQresultStatus(res);

	if (r == NULL) {
		PQclear(res);
		return;
	}
	if (st == PGRES_PIPELINE_SYNC) {
		PQclear(res);
		TAILQ_REMOVE(&c->reqs, r, entry);
		pgc_req_end(r);
		return;
	}
	if (st == PGRES_FATAL_ERROR && r->error == NULL)
		r->error = pgc_message(PQresultErrorMessage(res));
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		if (r->result != NULL && !r->dropped)
			r->result(r->arg, r->index, res);
	}
	if (st != PGRES_PIPELINE_SYNC)
		r->index++;
	PQclear(res);
}

/* Hand out the notifications that arrived (LISTEN), if anyone hears. */
static void
pgc_notifies(struct pgc *c)
{
	PGnotify *n;

	while (c->notify != NULL && (n = PQnotifies(c->conn)) != NULL) {
		c->notify(c->up_arg, n->relname, n->extra);
		PQfreemem(n);
	}
}

/* Notifications (LISTEN) on c go to notify, with the up callback's arg. */
void
pgc_on_notify(struct pgc *c, pgc_notify_cb *notify)
{
	c->notify = notify;
}

/* Read what arrived and hand out every complete result. */
static void
pgc_read(struct pgc *c)
{
	PGresult *res;
	int nulls = 0;

	if (PQconsumeInput(c->conn) != 1) {
		pgc_broken(c, PQerrorMessage(c->conn));
		return;
	}
	pgc_notifies(c);
	while (c->state == PGC_UP && !TAILQ_EMPTY(&c->reqs) &&
	    !PQisBusy(c->conn) && nulls < 2) {
		res = PQgetResult(c->conn);
		if (res == NULL) {
			nulls++;	/* between two statements' results */
			continue;
		}
		nulls = 0;
		pgc_result(c, res);
	}
	if (c->state == PGC_UP && PQstatus(c->conn) == CONNECTION_BAD)
		pgc_broken(c, PQerrorMessage(c->conn));
}

/* The socket (or the back-off timer) is ready. */
static void
pgc_socket_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;

	if (c->state == PGC_DOWN) {
		pgc_reconnect(c);
		return;
	}
	if (c->state == PGC_CONNECTING) {
		pgc_poll_connect(c);
		return;
	}
	if (what & EV_WRITE)
		pgc_flush(c);
	if (c->state == PGC_UP && (what & EV_READ))
		pgc_read(c);
}

/* Is the connection up (requests can go out)? */
int
pgc_is_up(const struct pgc *c)
{
	return c->state == PGC_UP;
}

/* Why it is not (or why it last failed). */
const char *
pgc_error(const struct pgc *c)
{
	return c->last_error != NULL ? c->last_error : "not connected";
}

/*
 * Send a request: send issues its statements (PQsendQueryParams on the
 * connection given; 0, or -1), then a sync point closes it. result hears
 * every statement's result, done the end. NULL when it cannot go out
 * (the connection is down or broke: pgc_error says why); then neither
 * callback runs.
 */
struct pgc_req *
pgc_send(struct pgc *c, pgc_send_cb *send, pgc_result_cb *result,
    pgc_done_cb *done, void *arg)
{
	struct pgc_req *r;

	if (c->state != PGC_UP)
		return NULL;
	if (send(c->conn, arg) != 0 || PQpipelineSync(c->conn) != 1) {
		pgc_broken(c, PQerrorMessage(c->conn));
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->result = result;
	r->done = done;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&c->reqs, r, entry);
	pgc_flush(c);
	return r;	/* still in the list: pgc_flush fails it later */
}

/* Forget a request's caller: its results are read and thrown away. */
void
pgc_drop(struct pgc_req *r)
{
	r->dropped = 1;
	r->arg = NULL;
}

/*
 * Block until the socket has news (at most 100 ms) and handle it: start
 * and stop only, and the synchronous reads the API still makes.
 */
void
pgc_wait(struct pgc *c)
{
	struct pollfd pfd;

	if (!TAILQ_EMPTY(&c->failed)) {
		pgc_tell_failed(c);
		return;
	}
	if (c->state != PGC_UP) {
		poll(NULL, 0, 100);
		if (c->state == PGC_DOWN)
			pgc_reconnect(c);
		else if (c->state == PGC_CONNECTING)
			pgc_poll_connect(c);
		return;
	}
	pfd.fd = PQsocket(c->conn);
	pfd.events = POLLIN | (c->ev_what & EV_WRITE ? POLLOUT : 0);
	pfd.revents = 0;
	if (poll(&pfd, 1, 100) <= 0)
		return;
	if (pfd.revents & POLLOUT)
		pgc_flush(c);
	if (c->state == PGC_UP && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		pgc_read(c);
}

/*
 * Take the connection off the loop (stop only, nothing in flight): out of
 * pipeline mode and blocking again, for pgc_exec. 0, or -1 when it is down.
 */
int
pgc_stop(struct pgc *c)
{
	pgc_watch(c, 0);
	evtimer_del(c->timer);
	if (c->state != PGC_UP || PQexitPipelineMode(c->conn) != 1 ||
	    PQsetnonblocking(c->conn, 0) != 0)
		return -1;
	c->state = PGC_DOWN;	/* no reconnect: nothing watches it */
	return 0;
}

/* Has the connection no request in flight? */
int
pgc_idle(const struct pgc *c)
{
	return TAILQ_EMPTY(&c->reqs) && TAILQ_EMPTY(&c->failed);
}

/* Close: requests in flight fail (their callers are told). */
void
pgc_free(struct pgc *c)
{
	if (c == NULL)
		return;
	pgc_watch(c, 0);
	if (c->last_error == NULL)
		c->last_error = xstrdup("the store is closing");
	c->state = PGC_DOWN;
	TAILQ_CONCAT(&c->failed, &c->reqs, entry);
	pgc_tell_failed(c);
	event_free(c->timer);
	event_free(c->fail_ev);
	PQfinish(c->conn);
	free(c->conninfo);
	free(c->name);
	free(c->last_error);
	free(c);
}
