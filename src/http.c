/*
 * http.c -- libmicrohttpd driven from the libevent loop: listeners, MHD's
 * epoll fd and timer, the access handler that takes a request from its
 * headers (checked by http-guard.c) through its body to its handler, the
 * access log. Replies are in http-reply.c, parked requests in http-park.c.
 */

#include "http-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <microhttpd.h>

/*
 * The per-connection pool holds the request line, the headers and the write
 * buffer, so its size is the header limit (larger headers get 431). MHD
 * zeroes it on every keep-alive request: 8 KiB instead of 16 KiB took GET
 * from 195k to 216k req/s (bench/run.sh); 4 KiB gains 2 % more but leaves
 * too little room for headers.
 */
#define HTTP_POOL_SIZE		8192
#define HTTP_ACCEPT_BATCH	64	/* accepts per wake-up, then others */
#define HTTP_ACCEPT_RETRY_MS	100	/* out of descriptors: retry after */
#define HTTP_ACCEPT_REMIND_S	60	/* and say so again after */

struct http_server {
	struct MHD_Daemon	*mhd;
	struct event		*io_ev;		/* MHD's epoll fd is readable */
	struct event		*timer_ev;	/* MHD_get_timeout() */
	struct event		*listen_ev;	/* we accept, MHD serves */
	int			 fd;
	int			 loopback;	/* bound to a loopback address */
	int			 need_run;	/* a request was resumed */
	int			 quiesced;
	char			 url[128];
	char			*unix_path;	/* unlinked at exit */
	LIST_ENTRY(http_server)	 entry;
};

static struct event_base		*http_base;
static const struct router_entry	*http_routes;
static size_t				 http_nroutes;
static struct http_limits		 http_limits;
static unsigned int			 http_timeout_at_start;	/* MHD's */
static LIST_HEAD(, http_server)		 http_servers =
    LIST_HEAD_INITIALIZER(http_servers);
static struct http_stats		 http_stats;
static struct event			*http_accept_retry;
static int				 http_accept_paused;
static uint64_t				 http_accept_refused;
static int64_t				 http_accept_said_ms;

static void	http_run(struct http_server *);

/* Remember the loop, the route table and the limits. */
void
http_init(struct event_base *base, const struct router_entry *routes,
    size_t nroutes, const struct http_limits *limits)
{
	http_base = base;
	http_park_init(base);
	http_routes = routes;
	http_nroutes = nroutes;
	http_limits = *limits;
	http_timeout_at_start = limits->connection_timeout_s;
	http_conn_init(base, limits->request_timeout_s);
}

/* Replace the limits that apply to new requests (a reload). */
void
http_set_limits(const struct http_limits *limits)
{
	http_limits = *limits;
	http_conn_set_timeout(limits->request_timeout_s);
}

/* Counters for /metrics. */
const struct http_stats *
http_get_stats(void)
{
	const struct http_conn_stats *cs = http_conn_get_stats();

	http_stats.parked = http_park_count();
	http_stats.timed_out = cs->timed_out;
	http_stats.evicted = cs->evicted;
	http_stats.accept_refused = http_accept_refused;
	return &http_stats;
}

/* Count an answer by its status class. */
void
http_count_status(unsigned status)
{
	http_stats.by_class[status / 100 < 6 ? status / 100 : 0]++;
}

/* MHD's own error messages go to our log at debug level. */
static void
http_mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t len;

	if (!log_enabled(LOG_DEBUG))
		return;
	vsnprintf(buf, sizeof buf, fmt, ap);
	len = strlen(buf);
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	log_debug("libmicrohttpd: %s", buf);
}

/* Follow MHD_get_timeout() with the server's loop timer. */
static void
http_arm_timer(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;
	struct timeval tv;

	if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
		evtimer_del(s->timer_ev);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->timer_ev, &tv);
}

/* Let MHD do its work, then re-arm the timer. Never from an MHD callback. */
static void
http_run(struct http_server *s)
{
	s->need_run = 0;
	MHD_run(s->mhd);
	http_arm_timer(s);
}

/* MHD's epoll fd became readable. */
static void
http_io_cb(evutil_socket_t fd, short what, void *arg)
{
	http_run(arg);
}

/* MHD asked to be run at a time (timeouts, buffered data). */
static void
http_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	http_run(arg);
}

/* A request on this server was resumed: run MHD at the end of the pass. */
void
http_run_soon(struct http_server *s)
{
	s->need_run = 1;
}

/*
 * Run MHD on every server that has resumed requests. Called at the end of
 * each loop pass; one run serves every resume of the pass. Returns whether
 * anything ran.
 */
int
http_flush(void)
{
	struct http_server *s;
	int ran = 0;

	LIST_FOREACH(s, &http_servers, entry) {
		if (s->need_run) {
			http_run(s);
			ran = 1;
		}
	}
	return ran;
}

/* Write the path into buf for the log, escaping what is not printable. */
static void
http_log_escape(const char *in, char *buf, size_t len)
{
	size_t o = 0;
	unsigned char c;

	for (; *in != '\0' && o + 5 < len; in++) {
		c = (unsigned char)*in;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
}

/* One query argument, escaped, onto the access line's target. */
static enum MHD_Result
http_log_arg_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct buf *b = cls;
	char esc[256];

	buf_adds(b, b->len == 0 ? "?" : "&");
	http_log_escape(key, esc, sizeof esc);
	buf_adds(b, esc);
	if (value != NULL) {
		http_log_escape(value, esc, sizeof esc);
		buf_adds(b, "=");
		buf_adds(b, esc);
	}
	return MHD_YES;
}

/* The query string as the log shows it: decoded, escaped; "" if none. */
static char *
http_log_query(struct http_request *req)
{
	struct buf b = { NULL, 0, 0 };

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
	    http_log_arg_cb, &b);
	buf_add(&b, "", 0);
	return buf_steal(&b, NULL);
}

/*
 * One access-log line for a finished request: peer, request line with its
 * query, status, bytes sent (a stream's too), time, and what the handler
 * noted (the id of a created task).
 */
static void
http_log_access(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;
	char peer[64], path[256], status[16], *query;

	if (!log_enabled(LOG_INFO))
		return;
	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	listen_format_peer(ci != NULL ? ci->client_addr : NULL, peer,
	    sizeof peer);
	http_log_escape(req->path, path, sizeof path);
	query = http_log_query(req);
	if (req->status == 0)
		strcpy(status, "-");
	else
		snprintf(status, sizeof status, "%u", req->status);
	log_info("%s \"%s %s%s\" %s %zu %lldus%s%s", peer, req->method, path,
	    query, status, req->resp_bytes,
	    (long long)(clock_mono_us() - req->start_us),
	    req->log_note != NULL ? " " : "",
	    req->log_note != NULL ? req->log_note : "");
	free(query);
}

/* What the access line of this request adds at its end ("created=ID"). */
void
http_log_note(struct http_request *req, const char *note)
{
	free(req->log_note);
	req->log_note = xstrdup(note);
}

/* Free a request: stop its events, tell its owner, free its fields. */
static void
http_request_free(struct http_request *req)
{
	http_park_drop(req);
	if (req->ctx_free != NULL)
		req->ctx_free(req->ctx);
	http_reply_free(req);
	free(req->param);
	free(req->body);
	free(req->log_note);
	free(req);
}

/* MHD finished with a request (answered, timed out or the client left). */
static void
http_completed_cb(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *req_cls;

	if (req == NULL)
		return;
	*req_cls = NULL;
	http_conn_done(req);
	http_log_access(req);
	http_request_free(req);
}

/* Make room for the body the checked headers announced, if any. */
static void
http_body_reserve(struct http_request *req)
{
	if (req->body_cap > 0)
		req->body = xmalloc(req->body_cap + 1);
}

/* Add a body chunk; MHD holds the client to its Content-Length. */
static void
http_body_append(struct http_request *req, const char *data, size_t len)
{
	if (len > req->body_cap - req->body_len)
		len = req->body_cap - req->body_len;
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

/* A new request: headers are in, no body yet. */
static struct http_request *
http_request_new(struct http_server *s, struct MHD_Connection *conn,
    const char *url, const char *method)
{
	struct http_request *req = xcalloc(1, sizeof *req);

	req->conn = conn;
	req->server = s;
	req->path = url;
	req->method = method;
	req->start_us = clock_mono_us();
	req->loopback = s->loopback;
	http_stats.requests++;
	/* A reload changed the idle timeout: MHD has the old one. */
	if (http_limits.connection_timeout_s != http_timeout_at_start)
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
		    http_limits.connection_timeout_s);
	return req;
}

/* MHD's access handler: headers, then body chunks, then the answer. */
static enum MHD_Result
http_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct http_request *req = *req_cls;

	if (req == NULL) {
		req = http_request_new(cls, conn, url, method);
		*req_cls = req;
		http_conn_request(req);
		if (http_guard_check(req, http_routes, http_nroutes,
		    &http_limits) != 0) {
			http_conn_answering(req);
			return http_reply_queue(req);
		}
		http_body_reserve(req);
		return MHD_YES;
	}
	if (req->gone)
		return MHD_NO;
	if (*upload_data_size != 0) {
		http_body_append(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!req->dispatched) {
		req->dispatched = 1;
		http_conn_answering(req);
		req->route->handler(req);
	}
	return http_reply_queue(req);
}

/* MHD opened or closed a connection. */
static void
http_notify_conn_cb(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		http_conn_started(conn, socket_context);
		return;
	}
	http_conn_closed(*socket_context);
	*socket_context = NULL;
	if (http_accept_paused)
		event_active(http_accept_retry, EV_TIMEOUT, 0);
}

/* Watch (or stop watching) every listener that is still open. */
static void
http_accept_enable(int on)
{
	struct http_server *s;

	LIST_FOREACH(s, &http_servers, entry) {
		if (s->quiesced)
			continue;
		if (on) {
			event_add(s->listen_ev, NULL);
			/* Try at once: an empty queue (EAGAIN) ends a shortage. */
			event_active(s->listen_ev, EV_READ, 0);
		} else
			event_del(s->listen_ev);
	}
}

/*
 * accept() found no descriptor (EMFILE, ENFILE) or no memory: the client
 * waits in the listen queue. Stop watching the listeners (they would wake
 * the loop at once, forever) and try again soon, or when a connection
 * closes. Said once, and again every HTTP_ACCEPT_REMIND_S while it lasts.
 */
static void
http_accept_starved(int err)
{
	struct timeval tv = { 0, HTTP_ACCEPT_RETRY_MS * 1000 };
	int64_t now = clock_now_ms();

	http_accept_refused++;
	if (!http_accept_paused && (http_accept_said_ms == 0 ||
	    now - http_accept_said_ms >= HTTP_ACCEPT_REMIND_S * 1000)) {
		log_error("cannot accept connections: %s (%u open); new "
		    "clients wait until descriptors free up", strerror(err),
		    http_connections());
		http_accept_said_ms = now;
	}
	http_accept_paused = 1;
	http_accept_enable(0);
	evtimer_add(http_accept_retry, &tv);
}

/* Try accepting again (a retry timer, or a connection closed). */
static void
http_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!http_accept_paused)
		return;
	http_accept_paused = 0;
	http_accept_enable(1);
}

/* The listen queue is empty again: say so once after a shortage. */
static void
http_accept_recovered(void)
{
	if (http_accept_said_ms == 0)
		return;
	log_warn("accepting connections again (%llu attempts found no "
	    "descriptor)", (unsigned long long)http_accept_refused);
	http_accept_said_ms = 0;
}

/* Hand one accepted socket to MHD, making room at the limit first. */
static void
http_accept_one(struct http_server *s, int fd, struct sockaddr_storage *ss,
    socklen_t sl)
{
	if (http_conn_make_room(http_limits.max_connections) != 0) {
		close(fd);
		return;
	}
	/* On failure (the per-IP limit, memory) MHD closes the socket. */
	MHD_add_connection(s->mhd, fd, (struct sockaddr *)ss, sl);
}

/* A listener is readable: accept what waits (a batch), then run MHD. */
static void
http_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct http_server *s = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int i, fd;

	for (i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		sl = sizeof ss;
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				http_accept_starved(errno);
			else if (errno == EAGAIN || errno == EWOULDBLOCK)
				http_accept_recovered();	/* queue empty */
			else if (errno != EINTR && errno != ECONNABORTED)
				log_error("accept on %s: %s", s->url,
				    strerror(errno));
			break;
		}
		http_accept_one(s, fd, &ss, sl);
	}
	/* After a shortage only an empty queue (EAGAIN) says it is over. */
	if (i == HTTP_ACCEPT_BATCH && http_accept_said_ms != 0)
		event_active(s->listen_ev, EV_READ, 0);
	http_run(s);
}

/* Close the listening sockets: no new connections from now on. */
void
http_quiesce(void)
{
	struct http_server *s;

	LIST_FOREACH(s, &http_servers, entry) {
		if (s->quiesced)
			continue;
		event_del(s->listen_ev);
		close(s->fd);
		s->quiesced = 1;
		if (s->unix_path != NULL)
			unlink(s->unix_path);
	}
}

/* Start MHD on the server's listening socket, driven by our loop. */
static struct MHD_Daemon *
http_start_mhd(struct http_server *s)
{
	unsigned int flags;

	/* We accept (to make room at the limit and survive EMFILE); the
	 * slack is for connections we closed that MHD has not yet seen go. */
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
	return MHD_start_daemon(flags, 0, NULL, NULL, http_access_cb, s,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed_cb, s,
	    MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn_cb, s,
	    MHD_OPTION_CONNECTION_LIMIT, http_limits.max_connections +
	    HTTP_CONN_SLACK,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    http_limits.max_connections_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, http_limits.connection_timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_POOL_SIZE,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log_cb, NULL,
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
	    MHD_OPTION_END);
}

/* MHD's epoll fd, for the loop to watch; -1 (logged) if MHD gives none. */
static int
http_epoll_fd(struct http_server *s)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		log_error("libmicrohttpd on fd %d: MHD_get_daemon_info gave "
		    "no epoll fd", s->fd);
		return -1;
	}
	return info->epoll_fd;
}

/*
 * Start serving on a listening socket (ours or inherited). The socket
 * belongs to MHD from now on.
 */
int
http_listen_fd(int fd, const char *unix_path)
{
	struct http_server *s = xcalloc(1, sizeof *s);
	int efd;

	s->fd = fd;
	/* Our accept loop runs until EAGAIN. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
		log_warn("fd %d: cannot make it non-blocking: %s", fd,
		    strerror(errno));
	if ((s->mhd = http_start_mhd(s)) == NULL) {
		log_error("libmicrohttpd could not start on fd %d", fd);
		free(s);
		return -1;
	}
	if ((efd = http_epoll_fd(s)) < 0) {
		MHD_stop_daemon(s->mhd);
		free(s);
		return -1;
	}
	s->io_ev = event_new(http_base, efd, EV_READ | EV_PERSIST, http_io_cb,
	    s);
	s->timer_ev = evtimer_new(http_base, http_timer_cb, s);
	s->listen_ev = event_new(http_base, fd, EV_READ | EV_PERSIST,
	    http_accept_cb, s);
	s->loopback = listen_is_loopback(fd);
	if (http_accept_retry == NULL)
		http_accept_retry = evtimer_new(http_base,
		    http_accept_retry_cb, NULL);
	event_add(s->io_ev, NULL);
	if (!http_accept_paused)
		event_add(s->listen_ev, NULL);
	if (unix_path != NULL)
		s->unix_path = xstrdup(unix_path);
	if (listen_describe(fd, s->url, sizeof s->url) != 0)
		snprintf(s->url, sizeof s->url, "fd:%d", fd);
	log_always(LOG_INFO, "listening on %s", s->url);
	LIST_INSERT_HEAD(&http_servers, s, entry);
	return 0;
}

/*
 * Stop every server: parked requests are released first (MHD must not be
 * stopped with suspended connections), then MHD closes what is left.
 */
void
http_stop(void)
{
	struct http_server *s;

	http_park_release_all();
	http_quiesce();
	while ((s = LIST_FIRST(&http_servers)) != NULL) {
		LIST_REMOVE(s, entry);
		MHD_run(s->mhd);
		MHD_stop_daemon(s->mhd);
		event_free(s->io_ev);
		event_free(s->timer_ev);
		event_free(s->listen_ev);
		free(s->unix_path);
		free(s);
	}
	if (http_accept_retry != NULL)
		event_free(http_accept_retry);
	http_accept_retry = NULL;
	http_conn_shutdown();
}

/* The value of a request header, or NULL. */
const char *
http_header(struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* The value of a query argument, or NULL. */
const char *
http_query(struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

/* A walk over the query arguments: the caller's function and its result. */
struct http_query_iter {
	int	(*fn)(const char *, const char *, void *);
	void	*arg;
	int	 rc;
};

/* One query argument: hand it to the caller's function. */
static enum MHD_Result
http_query_iter_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_query_iter *it = cls;

	it->rc = it->fn(key, value, it->arg);
	return it->rc == 0 ? MHD_YES : MHD_NO;
}

/* Call fn for every query argument; stops early when fn returns nonzero. */
int
http_query_each(struct http_request *req,
    int (*fn)(const char *, const char *, void *), void *arg)
{
	struct http_query_iter it = { fn, arg, 0 };

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
	    http_query_iter_cb, &it);
	return it.rc;
}

/* The route's '*' segment, or NULL. */
const char *
http_param(struct http_request *req)
{
	return req->param;
}

/* The request's method. */
const char *
http_method(struct http_request *req)
{
	return req->method;
}

/* The request's body (NUL-terminated; NULL if none) and its length. */
const char *
http_body(struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

/* Attach the handler's state, freed with the request. */
void
http_set_ctx(struct http_request *req, void *ctx, void (*ctx_free)(void *))
{
	req->ctx = ctx;
	req->ctx_free = ctx_free;
}

/* Open connections on every listener. */
unsigned int
http_connections(void)
{
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	unsigned int n = 0;

	LIST_FOREACH(s, &http_servers, entry) {
		info = MHD_get_daemon_info(s->mhd,
		    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (info != NULL)
			n += info->num_connections;
	}
	return n;
}

/* Microseconds since the request's headers arrived. */
int64_t
http_age_us(struct http_request *req)
{
	return clock_mono_us() - req->start_us;
}
