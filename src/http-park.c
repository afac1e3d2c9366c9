/*
 * http-park.c -- requests parked (suspended in MHD) until a loop callback
 * answers them, streams paused until their producer has more, and the
 * watch for clients that leave meanwhile: MHD never notices them.
 */

#include "http-internal.h"

#include <errno.h>
#include <sys/socket.h>

#include <event2/event.h>

static struct event_base		*http_park_base;
static LIST_HEAD(, http_request)	 http_parked =
    LIST_HEAD_INITIALIZER(http_parked);
static uint64_t				 http_park_n;

/* Remember the loop that watches parked requests' sockets. */
void
http_park_init(struct event_base *base)
{
	http_park_base = base;
}

/* Requests parked right now (for /metrics). */
uint64_t
http_park_count(void)
{
	return http_park_n;
}

/* Stop watching a request's socket. */
static void
http_park_unwatch(struct http_request *req)
{
	if (req->hup_ev != NULL) {
		event_free(req->hup_ev);
		req->hup_ev = NULL;
	}
}

/* Take a request off the parked list. */
static void
http_park_leave(struct http_request *req)
{
	LIST_REMOVE(req, entry);
	http_park_n--;
	req->suspended = 0;
}

/* Give a parked request back to MHD, which runs at the end of the pass. */
void
http_park_resume(struct http_request *req)
{
	http_park_unwatch(req);
	if (req->suspended) {
		http_park_leave(req);
		MHD_resume_connection(req->conn);
		http_run_soon(req->server);
	}
}

/* Tell the owner of a parked request that it will never be answered. */
static void
http_park_release(struct http_request *req)
{
	http_gone_cb *cb = req->gone_cb;

	req->gone_cb = NULL;
	if (cb != NULL)
		cb(req, req->gone_arg);
}

/*
 * Forget a request MHD is done with: stop watching it, take it off the list
 * (no resume: its connection is gone) and tell its owner.
 */
void
http_park_drop(struct http_request *req)
{
	http_park_unwatch(req);
	if (req->suspended)
		http_park_leave(req);
	http_park_release(req);
}

/* The client left or the daemon stops: release the request and resume it. */
static void
http_park_abandon(struct http_request *req)
{
	req->gone = 1;
	http_park_release(req);
	http_park_resume(req);
}

/* Abandon every parked request: MHD must not stop with suspended ones. */
void
http_park_release_all(void)
{
	struct http_request *req;

	while ((req = LIST_FIRST(&http_parked)) != NULL)
		http_park_abandon(req);
}

/*
 * Did the client leave? A hang-up (FIN), a reset (which epoll reports as
 * HUP/ERR, seen here as EV_READ) or EOF means yes. Data is a pipelined
 * request: left for MHD (the event is edge-triggered, so it does not spin).
 */
static int
http_park_client_left(evutil_socket_t fd, short what)
{
	ssize_t n;
	char c;

	if (what & EV_CLOSED)
		return 1;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return !(n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)));
}

/* Something happened on a parked request's socket. */
static void
http_park_hup_cb(evutil_socket_t fd, short what, void *arg)
{
	if (http_park_client_left(fd, what))
		http_park_abandon(arg);
}

/* Watch a parked request's socket for the client leaving. */
static void
http_park_watch(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return;
	req->hup_ev = event_new(http_park_base, ci->connect_fd, EV_CLOSED |
	    EV_READ | EV_PERSIST | EV_ET, http_park_hup_cb, req);
	event_add(req->hup_ev, NULL);
}

/* Park a request: take it out of MHD's hands until it is resumed. */
static void
http_park(struct http_request *req, http_gone_cb *gone_cb, void *arg,
    int watch)
{
	req->gone_cb = gone_cb;
	req->gone_arg = arg;
	if (req->suspended)
		return;
	if (watch)
		http_park_watch(req);
	MHD_suspend_connection(req->conn);
	req->suspended = 1;
	LIST_INSERT_HEAD(&http_parked, req, entry);
	http_park_n++;
}

/*
 * Park a request until a loop callback answers it with http_reply*. gone_cb
 * (may be NULL) is called if the client leaves or the daemon stops first; the
 * owner must then forget the request. Call only from a handler.
 */
void
http_suspend(struct http_request *req, http_gone_cb *gone_cb, void *arg)
{
	http_park(req, gone_cb, arg, 1);
}

/*
 * The same for a wait that ends with this loop pass (the commit of the
 * pass): no need to watch the socket for the client leaving.
 */
void
http_suspend_brief(struct http_request *req, http_gone_cb *gone_cb, void *arg)
{
	http_park(req, gone_cb, arg, 0);
}

/* A stream's bytes pass here to be counted for the access log. */
static ssize_t
http_stream_reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_request *req = cls;
	ssize_t n = req->stream_reader(req->stream_cls, pos, buf, max);

	if (n > 0)
		req->resp_bytes += (size_t)n;
	return n;
}

/*
 * Streams (server-sent events): the reader callback parks the connection
 * with http_stream_pause when it has nothing to send, and the producer wakes
 * it with http_stream_wake.
 */
void
http_reply_stream(struct http_request *req, const char *type,
    MHD_ContentReaderCallback reader, void *cls)
{
	struct MHD_Response *resp;

	req->stream_reader = reader;
	req->stream_cls = cls;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
	    http_stream_reader_cb, req, NULL);
	if (resp == NULL)
		fatalx("MHD_create_response_from_callback failed");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	req->streaming = 1;
	MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
	http_reply_answer(req, 200, resp, 0);
}

/* Park a stream that has nothing to send (from its reader callback). */
void
http_stream_pause(struct http_request *req, http_gone_cb *gone_cb, void *arg)
{
	http_suspend(req, gone_cb, arg);
}

/*
 * End a stream whose client stopped reading: shut its socket down so MHD
 * closes the connection on its next run (it may be blocked writing, where
 * no reader call would come), and resume it if parked.
 */
void
http_stream_close(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		shutdown(ci->connect_fd, SHUT_RDWR);
	if (req->suspended)
		http_park_abandon(req);
	else
		http_run_soon(req->server);
}

/* A paused stream has something to send: resume it. */
void
http_stream_wake(struct http_request *req)
{
	http_park_resume(req);
}
