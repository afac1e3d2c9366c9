/*
 * http-reply.c -- answers: a body from memory or JSON, RFC 9457 problems,
 * extra headers. A handler's answer waits on the request until MHD asks for
 * it: at once, or when a parked request is resumed.
 */

#include "http-internal.h"

#include <stdlib.h>
#include <string.h>

static char	*http_reply_detail(const char *, va_list) PRINTFLIKE(1, 0);

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
void
http_reply_answer(struct http_request *req, unsigned status,
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
	http_count_status(status);
	req->gone_cb = NULL;
	http_park_resume(req);
}

/* Queue the answer a handler left, if any. */
enum MHD_Result
http_reply_queue(struct http_request *req)
{
	enum MHD_Result rc;

	if (req->pending == NULL)
		return MHD_YES;
	rc = MHD_queue_response(req->conn, req->pending_status, req->pending);
	MHD_destroy_response(req->pending);
	req->pending = NULL;
	return rc;
}

/* Free what a request holds for its answer. */
void
http_reply_free(struct http_request *req)
{
	int i;

	if (req->pending != NULL)
		MHD_destroy_response(req->pending);
	for (i = 0; i < req->nheaders; i++)
		free(req->headers[i].value);
}

/*
 * Answer with a body of the given type (NULL: none, as on a 304), which
 * MHD frees, copies or keeps.
 */
static void
http_reply_mem(struct http_request *req, unsigned status, const char *type,
    const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    mode);
	if (resp == NULL)
		fatalx("MHD_create_response_from_buffer failed");
	if (type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    type);
	http_reply_answer(req, status, resp, len);
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

/* A problem's detail text, made valid UTF-8: it may quote the client. */
static char *
http_reply_detail(const char *fmt, va_list ap)
{
	char *raw, *detail;

	raw = xvasprintf(fmt, ap);
	detail = utf8_sanitize(raw, strlen(raw));
	free(raw);
	return detail;
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
	char *detail;

	va_start(ap, fmt);
	detail = http_reply_detail(fmt, ap);
	va_end(ap);
	title = MHD_get_reason_phrase_for(status);
	p = json_pack("{s:s+,s:s,s:i,s:s}", "type", "urn:evtaskd:problem:",
	    slug, "title", title != NULL && *title != '\0' ? title : "Error",
	    "status", (int)status, "detail", detail);
	free(detail);
	if (extra != NULL)
		json_object_update_new(p, extra);
	http_reply_json_type(req, status, p, "application/problem+json");
}

/* Answer with len bytes that live for ever (the dashboard's files). */
void
http_reply_persistent(struct http_request *req, unsigned status,
    const char *type, const char *body, size_t len)
{
	http_reply_mem(req, status, type, body, len, MHD_RESPMEM_PERSISTENT);
}

/* Answer with a string that lives for ever (e.g. /healthz's). */
void
http_reply_static(struct http_request *req, unsigned status, const char *type,
    const char *body)
{
	http_reply_persistent(req, status, type, body, strlen(body));
}
