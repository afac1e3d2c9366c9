/*
 * http.c -- libmicrohttpd driven from the libevent loop: listeners, request
 * bodies and their limits, replies, and requests parked until a loop
 * callback answers them.
 */

#include "evtaskd.h"

#include <ctype.h>
#include <errno.h>
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
#define HTTP_MAX_HEADERS	4

struct http_server {
	struct MHD_Daemon	*mhd;
	struct event		*io_ev;		/* MHD's epoll fd is readable */
	struct event		*timer_ev;	/* MHD_get_timeout() */
	int			 fd;
	int			 need_run;	/* a request was resumed */
	int			 quiesced;
	char			 url[128];
	char			*unix_path;	/* unlinked at exit */
	LIST_ENTRY(http_server)	 entry;
};

struct http_request {
	struct MHD_Connection	*conn;
	struct http_server	*server;
	const struct router_entry *route;
	const char		*method;	/* owned by MHD */
	const char		*path;		/* owned by MHD */
	char			*param;		/* the '*' of the route */
	char			*body;
	size_t			 body_len;
	size_t			 body_cap;
	int64_t			 start_us;
	unsigned		 status;
	size_t			 resp_bytes;
	struct MHD_Response	*pending;	/* answer not yet queued */
	unsigned		 pending_status;
	struct {
		const char	*name;
		char		*value;
	}			 headers[HTTP_MAX_HEADERS];
	int			 nheaders;
	struct event		*hup_ev;	/* client left while parked */
	http_gone_cb		*gone_cb;
	void			*gone_arg;
	void			*ctx;		/* the handler's state */
	void			(*ctx_free)(void *);
	unsigned		 dispatched:1;
	unsigned		 suspended:1;
	unsigned		 gone:1;
	unsigned		 streaming:1;
	LIST_ENTRY(http_request) entry;		/* parked requests */
};

static struct event_base		*http_base;
static const struct router_entry	*http_routes;
static size_t				 http_nroutes;
static struct http_limits		 http_limits;
static unsigned int			 http_timeout_at_start;	/* MHD's */
static LIST_HEAD(, http_server)		 http_servers =
    LIST_HEAD_INITIALIZER(http_servers);
static LIST_HEAD(, http_request)	 http_parked =
    LIST_HEAD_INITIALIZER(http_parked);
static struct http_stats		 http_stats;

static void	http_run(struct http_server *);

/* Remember the loop, the route table and the limits. */
void
http_init(struct event_base *base, const struct router_entry *routes,
    size_t nroutes, const struct http_limits *limits)
{
	http_base = base;
	http_routes = routes;
	http_nroutes = nroutes;
	http_limits = *limits;
	http_timeout_at_start = limits->connection_timeout_s;
}

/* Replace the limits that apply to new requests (a reload). */
void
http_set_limits(const struct http_limits *limits)
{
	http_limits = *limits;
}

/* Counters for /metrics. */
const struct http_stats *
http_get_stats(void)
{
	return &http_stats;
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

/* One access-log line for a finished request. */
static void
http_log_access(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;
	char peer[64], path[256], status[16];

	if (!log_enabled(LOG_INFO))
		return;
	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	listen_format_peer(ci != NULL ? ci->client_addr : NULL, peer,
	    sizeof peer);
	http_log_escape(req->path, path, sizeof path);
	if (req->status == 0)
		strcpy(status, "-");
	else
		snprintf(status, sizeof status, "%u", req->status);
	log_info("%s \"%s %s\" %s %zu %lldus", peer, req->method, path, status,
	    req->resp_bytes, (long long)(clock_mono_us() - req->start_us));
}

/* Stop watching a parked request's socket. */
static void
http_unpark(struct http_request *req)
{
	if (req->hup_ev != NULL) {
		event_free(req->hup_ev);
		req->hup_ev = NULL;
	}
	if (req->suspended) {
		LIST_REMOVE(req, entry);
		http_stats.parked--;
		req->suspended = 0;
		MHD_resume_connection(req->conn);
		req->server->need_run = 1;
	}
}

/* Tell the owner of a parked request that it will never be answered. */
static void
http_release(struct http_request *req)
{
	http_gone_cb *cb = req->gone_cb;

	req->gone_cb = NULL;
	if (cb != NULL)
		cb(req, req->gone_arg);
}

/* Free a request: stop its events, tell its owner, free its fields. */
static void
http_request_free(struct http_request *req)
{
	int i;

	if (req->hup_ev != NULL)
		event_free(req->hup_ev);
	if (req->suspended) {
		LIST_REMOVE(req, entry);
		http_stats.parked--;
	}
	http_release(req);
	if (req->ctx_free != NULL)
		req->ctx_free(req->ctx);
	if (req->pending != NULL)
		MHD_destroy_response(req->pending);
	for (i = 0; i < req->nheaders; i++)
		free(req->headers[i].value);
	free(req->param);
	free(req->body);
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
	http_log_access(req);
	http_request_free(req);
}

/* How many Content-Length and Transfer-Encoding headers came (one pass). */
struct http_framing {
	int	 ncl;
	int	 nte;
};

static enum MHD_Result
http_framing_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_framing *f = cls;

	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->ncl++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->nte++;
	return MHD_YES;
}

/* Parse a Content-Length value strictly: digits only. */
static int
http_parse_length(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s) || v > UINT64_MAX / 10 - 1)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Is this a Content-Type whose body we read as JSON? */
int
http_content_type_ok(const char *ct)
{
	static const char *const ok[] = {
		"application/json", "application/x-www-form-urlencoded"
	};
	size_t i, n;

	if (ct == NULL)
		return 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (n == strlen(ok[i]) && strncasecmp(ct, ok[i], n) == 0)
			return 1;
	}
	return 0;
}

/* Does this route need the bearer token (when one is configured)? */
static int
http_auth_required(const struct router_entry *route)
{
	if (cfg->token == NULL)
		return 0;
	switch (route->auth) {
	case ROUTE_OPEN:
		return 0;
	case ROUTE_TOKEN_METRICS:
		return !cfg->metrics_public;
	case ROUTE_TOKEN:
		break;
	}
	return 1;
}

/* Compare in constant time (for equal lengths; the length is no secret). */
static int
http_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = la != lb;

	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Does the request carry "Authorization: Bearer <the token>"? */
static int
http_auth_ok(struct http_request *req)
{
	const char *h = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	return http_token_equal(h, cfg->token);
}

/*
 * Everything decided from the headers alone, before any body is read:
 * smuggling attempts, the route, the body's length and type. Answers at
 * once (the body is then never read) or returns 0 to go on.
 */
static int
http_check_headers(struct http_request *req)
{
	struct http_framing framing = { 0, 0 };
	struct router_match m;
	const char *cl, *ct;
	uint64_t len = 0;
	int ncl, nte;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_framing_cb,
	    &framing);
	ncl = framing.ncl;
	nte = framing.nte;
	if (ncl > 1 || (ncl == 1 && nte > 0)) {
		http_problem(req, 400, "bad-request", "a request may carry one "
		    "Content-Length and no Transfer-Encoding beside it");
		return -1;
	}
	cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && http_parse_length(cl, &len) != 0) {
		http_problem(req, 400, "bad-request", "bad Content-Length");
		return -1;
	}
	switch (router_lookup(http_routes, http_nroutes, req->method,
	    req->path, &m)) {
	case ROUTER_NOT_FOUND:
		http_problem(req, 404, "not-found", "no resource at this path");
		return -1;
	case ROUTER_BAD_METHOD:
		http_set_header(req, MHD_HTTP_HEADER_ALLOW, m.allow);
		http_problem(req, 405, "method-not-allowed", "this path allows "
		    "%s", m.allow);
		return -1;
	case ROUTER_FOUND:
		break;
	}
	req->route = m.entry;
	if (m.param != NULL)
		req->param = xstrndup(m.param, m.paramlen);
	if (http_auth_required(req->route) && !http_auth_ok(req)) {
		http_set_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"evtaskd\"");
		http_problem(req, 401, "unauthorized", "this needs "
		    "'Authorization: Bearer TOKEN'");
		return -1;
	}
	if (nte > 0) {
		http_problem(req, 411, "length-required", "request bodies need "
		    "a Content-Length; chunked uploads are not accepted");
		return -1;
	}
	if (len > http_limits.max_body_bytes) {
		http_problem(req, 413, "body-too-large", "the body is %llu "
		    "bytes; the limit is %zu", (unsigned long long)len,
		    http_limits.max_body_bytes);
		return -1;
	}
	ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (len > 0 && !http_content_type_ok(ct)) {
		http_problem(req, 415, "unsupported-media-type", "send the "
		    "body as application/json");
		return -1;
	}
	if (len > 0) {
		req->body_cap = (size_t)len;
		req->body = xmalloc(req->body_cap + 1);
	}
	return 0;
}

/* Queue the answer a handler left, if any. */
static enum MHD_Result
http_queue_pending(struct http_request *req)
{
	enum MHD_Result rc;

	if (req->pending == NULL)
		return MHD_YES;
	rc = MHD_queue_response(req->conn, req->pending_status, req->pending);
	MHD_destroy_response(req->pending);
	req->pending = NULL;
	return rc;
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
		if (http_check_headers(req) != 0)
			return http_queue_pending(req);
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
		req->route->handler(req);
	}
	return http_queue_pending(req);
}

/* Close the listening sockets: no new connections from now on. */
void
http_quiesce(void)
{
	struct http_server *s;
	int fd;

	LIST_FOREACH(s, &http_servers, entry) {
		if (s->quiesced)
			continue;
		fd = MHD_quiesce_daemon(s->mhd);
		if (fd >= 0)
			close(fd);
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

	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ERROR_LOG;
	return MHD_start_daemon(flags, 0, NULL, NULL, http_access_cb, s,
	    MHD_OPTION_LISTEN_SOCKET, s->fd,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed_cb, s,
	    MHD_OPTION_CONNECTION_LIMIT, http_limits.max_connections,
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
	event_add(s->io_ev, NULL);
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
	struct http_request *req;
	struct http_server *s;

	while ((req = LIST_FIRST(&http_parked)) != NULL) {
		req->gone = 1;
		http_release(req);
		http_unpark(req);
	}
	http_quiesce();
	while ((s = LIST_FIRST(&http_servers)) != NULL) {
		LIST_REMOVE(s, entry);
		MHD_run(s->mhd);
		MHD_stop_daemon(s->mhd);
		event_free(s->io_ev);
		event_free(s->timer_ev);
		free(s->unix_path);
		free(s);
	}
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

/* Call fn for every query argument; stops early when fn returns nonzero. */
struct http_query_iter {
	int	(*fn)(const char *, const char *, void *);
	void	*arg;
	int	 rc;
};

static enum MHD_Result
http_query_iter_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_query_iter *it = cls;

	it->rc = it->fn(key, value, it->arg);
	return it->rc == 0 ? MHD_YES : MHD_NO;
}

int
http_query_each(struct http_request *req,
    int (*fn)(const char *, const char *, void *), void *arg)
{
	struct http_query_iter it = { fn, arg, 0 };

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
	    http_query_iter_cb, &it);
	return it.rc;
}

/* The route's '*' segment, the method and the body. */
const char *
http_param(struct http_request *req)
{
	return req->param;
}

const char *
http_method(struct http_request *req)
{
	return req->method;
}

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

/* Add a header to the answer that is about to be sent. */
void
http_set_header(struct http_request *req, const char *name, const char *value)
{
	if (req->nheaders == HTTP_MAX_HEADERS)
		fatalx("too many response headers");
	req->headers[req->nheaders].name = name;
	req->headers[req->nheaders].value = xstrdup(value);
	req->nheaders++;
}

/* Hand a finished response to the request: now, or on resume. */
static void
http_answer(struct http_request *req, unsigned status,
    struct MHD_Response *resp, size_t bytes)
{
	int i;

	for (i = 0; i < req->nheaders; i++)
		MHD_add_response_header(resp, req->headers[i].name,
		    req->headers[i].value);
	if (req->pending != NULL)
		MHD_destroy_response(req->pending);
	req->pending = resp;
	req->pending_status = status;
	req->status = status;
	req->resp_bytes = bytes;
	http_stats.by_class[status / 100 < 6 ? status / 100 : 0]++;
	req->gone_cb = NULL;
	http_unpark(req);
}

/* Answer with a body of the given type, which MHD frees, copies or keeps. */
static void
http_reply_mem(struct http_request *req, unsigned status, const char *type,
    const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    mode);
	if (resp == NULL)
		fatalx("MHD_create_response_from_buffer failed");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	http_answer(req, status, resp, len);
}

/* Answer with a body (stolen, freed by MHD) of the given type. */
void
http_reply(struct http_request *req, unsigned status, const char *type,
    char *body, size_t len)
{
	http_reply_mem(req, status, type, body, len, MHD_RESPMEM_MUST_FREE);
}

/* Answer with a JSON value (the reference is stolen) of the given type. */
void
http_reply_json_type(struct http_request *req, unsigned status, json_t *v,
    const char *type)
{
	char *s;

	s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (s == NULL)
		fatalx("json_dumps failed");
	http_reply(req, status, type, s, strlen(s));
}

/*
 * Answer with RFC 9457 problem+json. slug names the problem type; extra
 * (stolen, may be NULL) adds members such as "errors" or "task".
 */
void
http_problem_extra(struct http_request *req, unsigned status,
    const char *slug, json_t *extra, const char *fmt, ...)
{
	const char *title;
	json_t *p;
	va_list ap;
	char *detail, *raw;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	detail = utf8_sanitize(raw, strlen(raw));	/* may quote the client */
	free(raw);
	title = MHD_get_reason_phrase_for(status);
	p = json_pack("{s:s+,s:s,s:i,s:s}", "type", "urn:evtaskd:problem:",
	    slug, "title", title != NULL && *title != '\0' ? title : "Error",
	    "status", (int)status, "detail", detail);
	free(detail);
	if (extra != NULL)
		json_object_update_new(p, extra);
	http_reply_json_type(req, status, p, "application/problem+json");
}

/* Answer with a body that lives for ever (e.g. /healthz's). */
void
http_reply_static(struct http_request *req, unsigned status, const char *type,
    const char *body)
{
	http_reply_mem(req, status, type, body, strlen(body),
	    MHD_RESPMEM_PERSISTENT);
}

/*
 * Something happened on a parked request's socket. A hang-up (FIN), a
 * reset (which epoll reports as HUP/ERR, seen here as EV_READ) or EOF means
 * the client left: release the request and close. Data is a pipelined
 * request: left for MHD (the event is edge-triggered, so it does not spin).
 */
static void
http_hup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_request *req = arg;
	ssize_t n;
	char c;

	if (!(what & EV_CLOSED)) {
		n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
			return;
	}
	req->gone = 1;
	http_release(req);
	http_unpark(req);
}

/* Park a request: take it out of MHD's hands until it is resumed. */
static void
http_park(struct http_request *req, http_gone_cb *gone_cb, void *arg,
    int watch)
{
	const union MHD_ConnectionInfo *ci;

	req->gone_cb = gone_cb;
	req->gone_arg = arg;
	if (req->suspended)
		return;
	if (watch && (ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL) {
		req->hup_ev = event_new(http_base, ci->connect_fd, EV_CLOSED |
		    EV_READ | EV_PERSIST | EV_ET, http_hup_cb, req);
		event_add(req->hup_ev, NULL);
	}
	MHD_suspend_connection(req->conn);
	req->suspended = 1;
	LIST_INSERT_HEAD(&http_parked, req, entry);
	http_stats.parked++;
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

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
	    reader, cls, NULL);
	if (resp == NULL)
		fatalx("MHD_create_response_from_callback failed");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	req->streaming = 1;
	MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
	http_answer(req, 200, resp, 0);
}

void
http_stream_pause(struct http_request *req, http_gone_cb *gone_cb, void *arg)
{
	http_suspend(req, gone_cb, arg);
}

void
http_stream_wake(struct http_request *req)
{
	http_unpark(req);
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
