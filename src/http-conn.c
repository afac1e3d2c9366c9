/*
 * http-conn.c -- every open connection, and the ones still waiting for a
 * whole request: since accept or since their last answer, oldest first.
 * A request must arrive whole (headers and body) within request_timeout_s,
 * or its connection is closed (a body cut short is answered 400 first);
 * at max_connections the connection that waited longest makes room for a
 * new client. A connection being answered (parked ones too) is never cut.
 * Every step is O(1): a list append or removal, one timer for all.
 */

#include "http-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#define HTTP_CONN_SPARE		1024	/* freed records kept for reuse */

/* One connection MHD holds, from its start to its close. */
struct http_conn {
	int			 fd;
	int64_t			 since_us;	/* waiting for a request since */
	struct http_request	*req;		/* headers in, body not yet */
	unsigned		 waiting:1;	/* on http_conn_waiting */
	unsigned		 closing:1;	/* we shut it down */
	TAILQ_ENTRY(http_conn)	 entry;
};
TAILQ_HEAD(http_conn_list, http_conn);

static struct event_base	*http_conn_base;
static struct event		*http_conn_timer;
static struct http_conn_list	 http_conn_waiting =
    TAILQ_HEAD_INITIALIZER(http_conn_waiting);
static struct http_conn_list	 http_conn_spare =
    TAILQ_HEAD_INITIALIZER(http_conn_spare);
static size_t			 http_conn_nspare;
static unsigned int		 http_conn_live;	/* open, not closing */
static unsigned int		 http_conn_closing;
static int64_t			 http_conn_timeout_us;
static struct http_conn_stats	 http_conn_stats;

static void	http_conn_timer_cb(evutil_socket_t, short, void *);

/* Remember the loop and the deadline. */
void
http_conn_init(struct event_base *base, unsigned int request_timeout_s)
{
	http_conn_base = base;
	http_conn_timer = evtimer_new(base, http_conn_timer_cb, NULL);
	http_conn_set_timeout(request_timeout_s);
}

/* A reload changed request_timeout_s: it applies from now on. */
void
http_conn_set_timeout(unsigned int request_timeout_s)
{
	http_conn_timeout_us = (int64_t)request_timeout_s * 1000000;
}

/* Counters for /metrics and the tests. */
const struct http_conn_stats *
http_conn_get_stats(void)
{
	http_conn_stats.open = http_conn_live;
	return &http_conn_stats;
}

/* Arm the timer for the oldest waiting connection, unless it is armed. */
static void
http_conn_arm(void)
{
	struct http_conn *c = TAILQ_FIRST(&http_conn_waiting);
	int64_t us;
	struct timeval tv;

	if (c == NULL || evtimer_pending(http_conn_timer, NULL))
		return;
	us = c->since_us + http_conn_timeout_us - clock_mono_us();
	if (us < 0)
		us = 0;
	us += 1000;		/* a little late rather than early */
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(http_conn_timer, &tv);
}

/* Put a connection at the end of the waiting list, from now. */
static void
http_conn_wait(struct http_conn *c, int64_t now)
{
	if (c->waiting || c->closing)
		return;
	c->since_us = now;
	c->waiting = 1;
	TAILQ_INSERT_TAIL(&http_conn_waiting, c, entry);
	http_conn_arm();
}

/* Take a connection off the waiting list. */
static void
http_conn_unwait(struct http_conn *c)
{
	if (!c->waiting)
		return;
	TAILQ_REMOVE(&http_conn_waiting, c, entry);
	c->waiting = 0;
}

/* MHD opened a connection: track it (socket_context holds it). */
void
http_conn_started(struct MHD_Connection *conn, void **socket_context)
{
	const union MHD_ConnectionInfo *ci;
	struct http_conn *c = TAILQ_FIRST(&http_conn_spare);

	if (c != NULL) {
		TAILQ_REMOVE(&http_conn_spare, c, entry);
		http_conn_nspare--;
		memset(c, 0, sizeof *c);
	} else
		c = xcalloc(1, sizeof *c);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c->fd = ci != NULL ? ci->connect_fd : -1;
	http_conn_live++;
	*socket_context = c;
	http_conn_wait(c, clock_mono_us());
}

/* The one place a connection record goes: back to the spares, or freed. */
void
http_conn_closed(void *socket_context)
{
	struct http_conn *c = socket_context;

	if (c == NULL)
		return;
	http_conn_unwait(c);
	if (c->closing)
		http_conn_closing--;
	else
		http_conn_live--;
	if (http_conn_nspare < HTTP_CONN_SPARE) {
		TAILQ_INSERT_HEAD(&http_conn_spare, c, entry);
		http_conn_nspare++;
	} else
		free(c);
}

/* The record of a request's connection (NULL if MHD has none). */
static struct http_conn *
http_conn_of(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* A request's headers are in; its body (if any) is still to come. */
void
http_conn_request(struct http_request *req)
{
	struct http_conn *c = http_conn_of(req);

	req->hconn = c;
	if (c != NULL)
		c->req = req;
}

/* The request is whole and being answered: no deadline from now on. */
void
http_conn_answering(struct http_request *req)
{
	struct http_conn *c = req->hconn;

	if (c == NULL)
		return;
	c->req = NULL;
	http_conn_unwait(c);
}

/* The request is done: the connection waits for the next one. */
void
http_conn_done(struct http_request *req)
{
	struct http_conn *c = req->hconn;

	req->hconn = NULL;
	if (c == NULL)
		return;
	c->req = NULL;
	http_conn_wait(c, clock_mono_us());
}

/* Tell a client whose body stopped short why it is cut off (best effort). */
static void
http_conn_short_body(struct http_conn *c)
{
	static const char body[] = "{\"type\":\"urn:evtaskd:problem:"
	    "body-incomplete\",\"title\":\"Bad Request\",\"status\":400,"
	    "\"detail\":\"the body did not arrive whole within "
	    "request_timeout_s\"}";
	char head[256];
	int n;

	n = snprintf(head, sizeof head, "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: application/problem+json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", sizeof body - 1);
	if (send(c->fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT |
	    MSG_MORE) == n)
		send(c->fd, body, sizeof body - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	c->req->status = 400;
	http_count_status(400);
}

/*
 * Close a connection that waits for a request: shut its socket down, and
 * MHD, seeing the end of it, closes it on its next run (MHD 0.9.75 has no
 * call to close a connection from outside).
 */
static void
http_conn_cut(struct http_conn *c)
{
	http_conn_unwait(c);
	if (c->req != NULL)
		http_conn_short_body(c);
	c->closing = 1;
	http_conn_live--;
	http_conn_closing++;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

/* Close every connection past its deadline; re-arm for the next one. */
static void
http_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = clock_mono_us();
	struct http_conn *c;

	while ((c = TAILQ_FIRST(&http_conn_waiting)) != NULL &&
	    c->since_us + http_conn_timeout_us <= now) {
		http_conn_stats.timed_out++;
		http_conn_cut(c);
	}
	http_conn_arm();
}

/*
 * A client is at the door: if max connections are open, close the one that
 * waited longest for a request. 0 if there is room, -1 if every connection
 * is being answered (the new one is refused) or too many are still closing.
 */
int
http_conn_make_room(unsigned int max)
{
	struct http_conn *c;

	if (http_conn_live < max)
		return 0;
	if (http_conn_closing >= HTTP_CONN_SLACK ||
	    (c = TAILQ_FIRST(&http_conn_waiting)) == NULL)
		return -1;
	http_conn_stats.evicted++;
	http_conn_cut(c);
	return 0;
}

/* Stop the timer and free the spare records (at exit). */
void
http_conn_shutdown(void)
{
	struct http_conn *c;

	if (http_conn_timer != NULL)
		event_free(http_conn_timer);
	http_conn_timer = NULL;
	while ((c = TAILQ_FIRST(&http_conn_spare)) != NULL) {
		TAILQ_REMOVE(&http_conn_spare, c, entry);
		free(c);
	}
	http_conn_nspare = 0;
}
