/*
 * http-guard.c -- what a request may do, decided from its headers before
 * any body is read: its framing (request smuggling), its route (404, 405),
 * cross-site requests and foreign Host names (403, 421), the token (401),
 * its body's length and type (411, 413, 415). Every check reads headers
 * found in one pass over them: no allocation, no second lookup.
 */

#include "http-internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* One request under the guard's eyes, and what its headers said. */
struct http_guard {
	struct http_request		*req;
	const struct router_entry	*routes;
	size_t				 nroutes;
	const struct http_limits	*limits;
	int				 ncl;	/* Content-Length headers */
	int				 nte;	/* Transfer-Encoding headers */
	uint64_t			 len;	/* the Content-Length */
	const char			*host;	/* owned by MHD, or NULL */
	const char			*origin;
	const char			*fetch_site;
};

/* A check: 0 to go on, or -1 once it has answered the request. */
typedef int http_guard_step(struct http_guard *);

/*
 * One pass over the headers: count Content-Length and Transfer-Encoding,
 * note Host, Origin and Sec-Fetch-Site. The first letter picks the one
 * comparison worth making.
 */
static enum MHD_Result
http_guard_framing_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_guard *g = cls;

	switch (key[0] | 0x20) {
	case 'c':
		g->ncl += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
		break;
	case 't':
		g->nte += strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)
		    == 0;
		break;
	case 'h':
		if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
			g->host = value;
		break;
	case 'o':
		if (strcasecmp(key, "Origin") == 0)
			g->origin = value;
		break;
	case 's':
		if (strcasecmp(key, "Sec-Fetch-Site") == 0)
			g->fetch_site = value;
		break;
	}
	return MHD_YES;
}

/*
 * Refuse two Content-Length headers, or one beside Transfer-Encoding: MHD
 * 0.9.75 lets both through (request smuggling, fixed upstream later).
 */
static int
http_guard_framing(struct http_guard *g)
{
	MHD_get_connection_values(g->req->conn, MHD_HEADER_KIND,
	    http_guard_framing_cb, g);
	if (g->ncl > 1 || (g->ncl == 1 && g->nte > 0)) {
		http_problem(g->req, 400, "bad-request", "a request may carry "
		    "one Content-Length and no Transfer-Encoding beside it");
		return -1;
	}
	return 0;
}

/* Parse a Content-Length value strictly: digits only. */
static int
http_guard_parse_length(const char *s, uint64_t *out)
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

/* Read the Content-Length, if any; refuse one that is not a number. */
static int
http_guard_length(struct http_guard *g)
{
	const char *cl;

	cl = http_header(g->req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && http_guard_parse_length(cl, &g->len) != 0) {
		http_problem(g->req, 400, "bad-request", "bad Content-Length");
		return -1;
	}
	return 0;
}

/* Find the route: 404 for an unknown path, 405 with Allow for its methods. */
static int
http_guard_route(struct http_guard *g)
{
	struct http_request *req = g->req;
	struct router_match m;

	switch (router_lookup(g->routes, g->nroutes, req->method, req->path,
	    &m)) {
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
	return 0;
}

/* Is name (n bytes) in the list, compared without case? */
static int
http_guard_listed(char *const *list, const char *name, size_t n)
{
	for (; list != NULL && *list != NULL; list++) {
		if (strlen(*list) == n && strncasecmp(*list, name, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * On a loopback listener the Host must name loopback (or be listed): a
 * page whose name was rebound to 127.0.0.1 still says its own name.
 */
static int
http_guard_host_ok(struct http_guard *g)
{
	size_t n;

	if (!g->req->loopback || g->host == NULL)
		return 1;
	n = listen_host_len(g->host, strlen(g->host));
	return listen_host_loopback(g->host, n) ||
	    http_guard_listed(cfg->allowed_hosts, g->host, n);
}

/* Is the Origin the request's own (http://HOST as the Host says)? */
static int
http_guard_same_origin(struct http_guard *g)
{
	return g->host != NULL && strncasecmp(g->origin, "http://", 7) == 0 &&
	    strcasecmp(g->origin + 7, g->host) == 0;
}

/* A method that changes something (a browser sends it without asking). */
static int
http_guard_unsafe(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    strcmp(method, "OPTIONS") != 0;
}

/*
 * Cross-site requests on /v1/ and /ui/: a foreign Host (421), an Origin
 * neither ours nor listed (403), or a browser saying "cross-site" on a
 * change (403). Requests without these headers (curl) pass.
 */
static int
http_guard_site(struct http_guard *g)
{
	const char *path = g->req->path;
	int listed;

	if (strncmp(path, "/v1/", 4) != 0 && strncmp(path, "/ui/", 4) != 0)
		return 0;
	if (!http_guard_host_ok(g)) {
		http_problem(g->req, 421, "misdirected-request", "this daemon "
		    "answers to loopback names only; list other names in "
		    "allowed_hosts");
		return -1;
	}
	listed = g->origin != NULL && http_guard_listed(cfg->allowed_origins,
	    g->origin, strlen(g->origin));
	if (g->origin != NULL && !listed && !http_guard_same_origin(g)) {
		http_problem(g->req, 403, "cross-origin", "requests from "
		    "origin '%.200s' are refused; list it in allowed_origins",
		    g->origin);
		return -1;
	}
	if (!listed && g->fetch_site != NULL && strcasecmp(g->fetch_site,
	    "cross-site") == 0 && http_guard_unsafe(g->req->method)) {
		http_problem(g->req, 403, "cross-site", "a cross-site request "
		    "may not change anything");
		return -1;
	}
	return 0;
}

/* Does this route need the bearer token (when one is configured)? */
static int
http_guard_token_required(const struct router_entry *route)
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
http_guard_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = la != lb;

	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Does the request carry "Authorization: Bearer <the token>"? */
static int
http_guard_token_ok(struct http_request *req)
{
	const char *h = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	return http_guard_token_equal(h, cfg->token);
}

/* Ask for the token where the route wants it. */
static int
http_guard_token(struct http_guard *g)
{
	if (!http_guard_token_required(g->req->route) ||
	    http_guard_token_ok(g->req))
		return 0;
	http_set_header(g->req, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	    "Bearer realm=\"evtaskd\"");
	http_problem(g->req, 401, "unauthorized", "this needs "
	    "'Authorization: Bearer TOKEN'");
	return -1;
}

/*
 * Refuse chunked bodies: MHD fails to queue an answer in the middle of a
 * chunked upload, so the body must be read whole before answering.
 */
static int
http_guard_chunked(struct http_guard *g)
{
	if (g->nte == 0)
		return 0;
	http_problem(g->req, 411, "length-required", "request bodies need "
	    "a Content-Length; chunked uploads are not accepted");
	return -1;
}

/* Refuse a body over the limit before reading a byte of it. */
static int
http_guard_size(struct http_guard *g)
{
	if (g->len <= g->limits->max_body_bytes)
		return 0;
	http_problem(g->req, 413, "body-too-large", "the body is %llu "
	    "bytes; the limit is %zu", (unsigned long long)g->len,
	    g->limits->max_body_bytes);
	return -1;
}

/* Is this a Content-Type whose body we read as JSON? */
int
http_content_type_ok(const char *ct)
{
	static const char *const ok[] = {
		"application/json", "application/x-www-form-urlencoded",
		"application/merge-patch+json"
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

/* Refuse a body we would not read as JSON. */
static int
http_guard_type(struct http_guard *g)
{
	const char *ct;

	ct = http_header(g->req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (g->len == 0 || http_content_type_ok(ct))
		return 0;
	http_problem(g->req, 415, "unsupported-media-type", "send the body "
	    "as application/json");
	return -1;
}

/* The checks, in the order clients see their answers. */
static http_guard_step *const http_guard_steps[] = {
	http_guard_framing,
	http_guard_length,
	http_guard_route,
	http_guard_site,
	http_guard_token,
	http_guard_chunked,
	http_guard_size,
	http_guard_type,
};

/*
 * Run every check on a request whose headers are in. Answers at once (the
 * body is then never read) or returns 0 with req->route set and
 * req->body_cap the length of the body to read.
 */
int
http_guard_check(struct http_request *req, const struct router_entry *routes,
    size_t nroutes, const struct http_limits *limits)
{
	struct http_guard g = { req, routes, nroutes, limits, 0, 0, 0, NULL,
	    NULL, NULL };
	size_t i;

	for (i = 0; i < sizeof http_guard_steps / sizeof http_guard_steps[0];
	    i++) {
		if (http_guard_steps[i](&g) != 0)
			return -1;
	}
	req->body_cap = (size_t)g.len;
	return 0;
}
