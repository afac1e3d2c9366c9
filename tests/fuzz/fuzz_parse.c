/*
 * fuzz_parse.c -- libFuzzer: the small parsers of untrusted text. The input
 * is split at NUL bytes into strings: a method and a path for router_lookup,
 * a task id for ulid_parse, a date for clock_parse_rfc3339, a listen address
 * for listen_parse and a Content-Type for http_content_type_ok. The whole
 * input goes through utf8_sanitize, and its first bytes make a ULID and a
 * time in ms that must survive formatting and parsing. Each result is
 * checked against a plain reference or a round trip.
 */

#include "evtaskd.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NSTRINGS	6

/*
 * The times RFC 3339 text can hold that the parser accepts: from
 * 1970-01-01T00:00:00.000Z (it refuses earlier ones) to
 * 9999-12-31T23:59:59.999Z, in ms.
 */
#define FUZZ_MS_MIN	0LL
#define FUZZ_MS_MAX	253402300799999LL

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Dummy handlers: only their addresses matter. */
static void
fuzz_h_health(struct http_request *req)
{
}

static void
fuzz_h_metrics(struct http_request *req)
{
}

static void
fuzz_h_list(struct http_request *req)
{
}

static void
fuzz_h_create(struct http_request *req)
{
}

static void
fuzz_h_get(struct http_request *req)
{
}

static void
fuzz_h_cancel(struct http_request *req)
{
}

static void
fuzz_h_events(struct http_request *req)
{
}

/* The daemon's table (src/api.c), with handlers of our own. */
static const struct router_entry fuzz_routes[] = {
	{ "/healthz", "GET", fuzz_h_health, ROUTE_OPEN },
	{ "/metrics", "GET", fuzz_h_metrics, ROUTE_TOKEN_METRICS },
	{ "/v1/tasks", "GET", fuzz_h_list, ROUTE_TOKEN },
	{ "/v1/tasks", "POST", fuzz_h_create, ROUTE_TOKEN },
	{ "/v1/tasks/*", "GET", fuzz_h_get, ROUTE_TOKEN },
	{ "/v1/tasks/*", "DELETE", fuzz_h_cancel, ROUTE_TOKEN },
	{ "/v1/events", "GET", fuzz_h_events, ROUTE_TOKEN },
};
#define FUZZ_NROUTES (sizeof fuzz_routes / sizeof fuzz_routes[0])

/* Stop with the reason on stderr: libFuzzer saves the input. */
static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_parse: %s\n%s\n", what, detail != NULL ?
	    detail : "");
	abort();
}

/*
 * The reference matcher: a pattern is either a literal path or ends in a
 * slash and a star, which match one non-empty segment without '/'.
 */
static int
fuzz_ref_match(const char *pattern, const char *path, size_t *paramoff)
{
	size_t plen = strlen(pattern);
	const char *rest;

	if (plen == 0 || pattern[plen - 1] != '*')
		return strcmp(pattern, path) == 0;
	if (strncmp(pattern, path, plen - 1) != 0)
		return 0;
	rest = path + plen - 1;
	if (*rest == '\0' || strchr(rest, '/') != NULL)
		return 0;
	*paramoff = plen - 1;
	return 1;
}

/* router_lookup against the reference: result, entry, param, Allow. */
static void
fuzz_router(const char *method, const char *path)
{
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	const struct router_entry *found = NULL;
	struct router_match m;
	enum router_result r;
	char allow[256];
	size_t i, off = 0, paramoff = 0, foundoff = 0;
	int known = 0;

	allow[0] = '\0';
	for (i = 0; i < FUZZ_NROUTES; i++) {
		if (!fuzz_ref_match(fuzz_routes[i].pattern, path, &paramoff))
			continue;
		known = 1;
		if (found == NULL && strcmp(fuzz_routes[i].method, want) == 0) {
			found = &fuzz_routes[i];
			foundoff = paramoff;
		}
		off += (size_t)snprintf(allow + off, sizeof allow - off,
		    "%s%s", off > 0 ? ", " : "", fuzz_routes[i].method);
		if (strcmp(fuzz_routes[i].method, "GET") == 0)
			off += (size_t)snprintf(allow + off, sizeof allow - off,
			    ", HEAD");
	}
	r = router_lookup(fuzz_routes, FUZZ_NROUTES, method, path, &m);
	if (found != NULL) {
		if (r != ROUTER_FOUND || m.entry != found)
			fuzz_fail("router: not the route the reference found",
			    path);
		if (found->pattern[strlen(found->pattern) - 1] == '*') {
			if (m.param != path + foundoff ||
			    m.paramlen != strlen(path + foundoff))
				fuzz_fail("router: wrong '*' segment", path);
		} else if (m.param != NULL)
			fuzz_fail("router: a segment from a literal route",
			    path);
	} else if (known) {
		if (r != ROUTER_BAD_METHOD || m.entry != NULL ||
		    m.param != NULL)
			fuzz_fail("router: expected 405", path);
		if (strlen(m.allow) >= sizeof m.allow ||
		    strcmp(m.allow, allow) != 0)
			fuzz_fail("router: wrong Allow", m.allow);
	} else if (r != ROUTER_NOT_FOUND || m.entry != NULL)
		fuzz_fail("router: expected 404", path);
}

/* A parsed id formats back as the input, upper-cased. */
static void
fuzz_ulid(const char *s, const uint8_t *data, size_t size)
{
	char out[ULID_LEN + 1], up[ULID_LEN + 1];
	struct ulid id, id2;
	size_t i;

	if (ulid_parse(s, &id) == 0) {
		if (strlen(s) != ULID_LEN)
			fuzz_fail("ulid: parsed an id of the wrong length", s);
		for (i = 0; i < ULID_LEN; i++)
			up[i] = (char)toupper((unsigned char)s[i]);
		up[ULID_LEN] = '\0';
		ulid_format(&id, out);
		if (strcmp(out, up) != 0)
			fuzz_fail("ulid: the id does not format back", s);
	}
	/* Any 16 bytes: format, parse, the same bytes. */
	memset(&id, 0, sizeof id);
	memcpy(id.b, data, size < sizeof id.b ? size : sizeof id.b);
	ulid_format(&id, out);
	if (strlen(out) != ULID_LEN || ulid_parse(out, &id2) != 0 ||
	    ulid_cmp(&id, &id2) != 0)
		fuzz_fail("ulid: 16 bytes do not survive format and parse",
		    out);
}

/* A parsed date formats to a date that parses to the same instant. */
static void
fuzz_clock(const char *s, const uint8_t *data, size_t size)
{
	char out[CLOCK_RFC3339_LEN + 1], msg[256];
	int64_t ms, ms2;
	uint64_t raw = 0;

	if (clock_parse_rfc3339(s, &ms) == 0) {
		clock_format_ms(ms, out);
		if (clock_parse_rfc3339(out, &ms2) != 0 || ms2 != ms) {
			snprintf(msg, sizeof msg, "'%.80s' is %lld ms, "
			    "formatted '%s'", s, (long long)ms, out);
			fuzz_fail("clock: a parsed date does not survive "
			    "format and parse", msg);
		}
	}
	/* Any time in that range: format, parse, the same ms. */
	memcpy(&raw, data, size < sizeof raw ? size : sizeof raw);
	ms = FUZZ_MS_MIN + (int64_t)(raw % (uint64_t)(FUZZ_MS_MAX -
	    FUZZ_MS_MIN + 1));
	clock_format_ms(ms, out);
	if (strlen(out) != CLOCK_RFC3339_LEN ||
	    clock_parse_rfc3339(out, &ms2) != 0 || ms2 != ms) {
		snprintf(msg, sizeof msg, "%lld ms formatted '%s'",
		    (long long)ms, out);
		fuzz_fail("clock: a time does not survive format and parse",
		    msg);
	}
}

/* listen_parse: a parsed address is sane; a refusal says why. */
static void
fuzz_listen(const char *s)
{
	struct listen_addr addr;
	char *err = NULL;

	if (listen_parse(s, &addr, &err) != 0) {
		if (err == NULL || *err == '\0')
			fuzz_fail("listen: refused without a message", s);
		free(err);
		return;
	}
	if (err != NULL)
		fuzz_fail("listen: accepted with a message", err);
	if (addr.unix_socket) {
		if (addr.path[0] != '/' ||
		    strnlen(addr.path, sizeof addr.path) == sizeof addr.path)
			fuzz_fail("listen: bad unix path", s);
	} else if (addr.host[0] == '\0' ||
	    strnlen(addr.host, sizeof addr.host) == sizeof addr.host ||
	    addr.port < 0 || addr.port > 65535)
		fuzz_fail("listen: bad host or port", s);
}

/* The length of a well-formed UTF-8 sequence at s (Unicode table 3-7). */
static size_t
fuzz_ref_utf8(const uint8_t *s, size_t n)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0x01 && s[0] <= 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

/* utf8_sanitize against the reference; the result is a JSON string. */
static void
fuzz_utf8(const uint8_t *data, size_t size)
{
	char *out, *ref;
	size_t i = 0, o = 0, len;
	json_t *v;

	ref = xmalloc(size * 3 + 1);
	while (i < size) {
		if ((len = fuzz_ref_utf8(data + i, size - i)) == 0) {
			memcpy(ref + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(ref + o, data + i, len);
			o += len;
			i += len;
		}
	}
	ref[o] = '\0';
	out = utf8_sanitize((const char *)data, size);
	if (strlen(out) != o || memcmp(out, ref, o) != 0)
		fuzz_fail("utf8_sanitize differs from the reference", NULL);
	if ((v = json_string(out)) == NULL)
		fuzz_fail("utf8_sanitize made invalid UTF-8", NULL);
	json_decref(v);
	free(ref);
	free(out);
}

/* One input: NUL-separated strings, and the raw bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s[FUZZ_NSTRINGS];
	char *copy;
	size_t i, n = 0;

	copy = xmalloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	s[n++] = copy;
	for (i = 0; i < size && n < FUZZ_NSTRINGS; i++) {
		if (copy[i] == '\0')
			s[n++] = copy + i + 1;
	}
	while (n < FUZZ_NSTRINGS)
		s[n++] = "";
	fuzz_router(s[0], s[1]);
	fuzz_ulid(s[2], data, size);
	fuzz_clock(s[3], data, size);
	fuzz_listen(s[4]);
	http_content_type_ok(s[5]);
	http_content_type_ok(NULL);
	fuzz_utf8(data, size);
	free(copy);
	return 0;
}
