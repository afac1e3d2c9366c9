/*
 * ctl-http.c -- evtaskctl's requests through libcurl's easy interface: the
 * daemon's address (tcp, or unix:/PATH through CURLOPT_UNIX_SOCKET_PATH),
 * the bearer token, answers gathered or streamed, Ctrl-C, and the daemon's
 * problem+json turned into one readable line per fact on stderr.
 */

#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <curl/curl.h>

static CURL			*ctl_http_curl;
static CURL			*ctl_http_inner;	/* a request within a stream */
static int			 ctl_http_depth;
static char			*ctl_http_base;	/* scheme://host:port */
static char			*ctl_http_shown;	/* the URL as given */
static char			*ctl_http_sock;	/* unix socket, or NULL */
static struct curl_slist	*ctl_http_headers;
static volatile sig_atomic_t	 ctl_http_sigint;

/* One transfer: where its body goes. */
struct ctl_http_xfer {
	CURL			*curl;
	struct ctl_reply	*reply;
	ctl_http_sink		*sink;	/* a 2xx body goes here, if set */
	void			*arg;
	int			 stopped;	/* the sink had enough */
};

/* Ctrl-C: stop the transfer (never the task); the caller says so. */
static void
ctl_http_sigint_cb(int sig)
{
	ctl_http_sigint = 1;
}

/* The token file's content without its trailing newline; 0 or exit code. */
static int
ctl_http_token(const char *path)
{
	char buf[4096], *hdr;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		ctl_err("cannot read the token file %s: %s", path,
		    strerror(errno));
		return CTL_USAGE;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	while (n > 0 && strchr("\r\n\t ", buf[n - 1]) != NULL)
		n--;
	buf[n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		ctl_err("the token file %s is empty or has a NUL byte", path);
		return CTL_USAGE;
	}
	hdr = xasprintf("Authorization: Bearer %s", buf);
	ctl_http_headers = curl_slist_append(ctl_http_headers, hdr);
	explicit_bzero(buf, sizeof buf);
	explicit_bzero(hdr, strlen(hdr));
	free(hdr);
	return 0;
}

/* Where requests go: URL (http://…, HOST:PORT, unix:/PATH); 0 or exit code. */
int
ctl_http_init(const char *url, const char *token_file)
{
	struct sigaction sa;
	size_t n;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (ctl_http_curl = curl_easy_init()) == NULL)
		xfatal("cannot initialise libcurl");
	ctl_http_shown = xstrdup(url);
	if (strncmp(url, "unix:", 5) == 0) {
		ctl_http_sock = xstrdup(url + 5);
		ctl_http_base = xstrdup("http://localhost");
	} else if (strstr(url, "://") != NULL)
		ctl_http_base = xstrdup(url);
	else
		ctl_http_base = xasprintf("http://%s", url);
	n = strlen(ctl_http_base);
	while (n > 0 && ctl_http_base[n - 1] == '/')
		ctl_http_base[--n] = '\0';
	ctl_http_headers = curl_slist_append(NULL, "Expect:");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_http_sigint_cb;
	sigaction(SIGINT, &sa, NULL);
	return token_file != NULL ? ctl_http_token(token_file) : 0;
}

/* The one place that frees what ctl_http_init made. */
void
ctl_http_free(void)
{
	curl_easy_cleanup(ctl_http_curl);
	if (ctl_http_inner != NULL)
		curl_easy_cleanup(ctl_http_inner);
	curl_slist_free_all(ctl_http_headers);
	free(ctl_http_base);
	free(ctl_http_shown);
	free(ctl_http_sock);
	curl_global_cleanup();
}

/* The daemon's URL as the user gave it (for messages). */
const char *
ctl_http_url(void)
{
	return ctl_http_shown;
}

/* libcurl's body callback: a 2xx body to the sink, anything else kept. */
static size_t
ctl_http_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct ctl_http_xfer *x = arg;

	n *= size;
	if (x->reply->status == 0)
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE,
		    &x->reply->status);
	if (x->sink == NULL || x->reply->status / 100 != 2) {
		buf_add(&x->reply->body, data, n);
		return n;
	}
	if (x->sink(data, n, x->arg) != 0) {
		x->stopped = 1;
		return 0;	/* ends the transfer */
	}
	return n;
}

/* libcurl's progress callback: non-zero (stop) once Ctrl-C was pressed. */
static int
ctl_http_progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	return ctl_http_sigint != 0;
}

/* Set up one request on the easy handle. */
static void
ctl_http_setup(const char *method, const char *url, const char *body,
    struct curl_slist *headers, struct ctl_http_xfer *x, char *errbuf)
{
	CURL *c = x->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (ctl_http_sock != NULL)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ctl_http_sock);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_http_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, ctl_http_progress_cb);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "evtaskctl/" PACKAGE_VERSION);
}

/* What a failed transfer means for the user: a message and an exit code. */
static int
ctl_http_failed(CURLcode rc, const char *errbuf)
{
	const char *why = *errbuf != '\0' && ctl_http_sock == NULL ? errbuf :
	    curl_easy_strerror(rc);

	if (rc == CURLE_ABORTED_BY_CALLBACK && ctl_http_sigint)
		return CTL_INTERRUPTED;
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
		ctl_err("cannot reach evtaskd at %s: %s", ctl_http_shown, why);
		ctl_err("hint: is it running there? Point --url or "
		    "EVTASKD_URL at where it listens");
		return CTL_ERROR;
	}
	ctl_err("request to %s failed: %s", ctl_http_shown, why);
	return CTL_ERROR;
}

/* The easy handle for a request: a second one for a request made while a
 * stream is open (from its sink). */
static CURL *
ctl_http_handle(void)
{
	if (ctl_http_depth++ == 0)
		return ctl_http_curl;
	if (ctl_http_depth > 2)
		xfatal("ctl_http: requests nested too deep");
	if (ctl_http_inner == NULL && (ctl_http_inner = curl_easy_init()) ==
	    NULL)
		xfatal("cannot initialise libcurl");
	return ctl_http_inner;
}

/* Send one request, the body to sink (2xx) or r; 0 or an exit code. */
static int
ctl_http_perform(const char *method, const char *path, const char *ctype,
    const char *body, ctl_http_sink *sink, void *arg, struct ctl_reply *r)
{
	struct ctl_http_xfer x = { NULL, r, sink, arg, 0 };
	struct curl_slist *headers = NULL, *h;
	char errbuf[CURL_ERROR_SIZE] = "", *url, *ct = NULL;
	CURLcode rc;

	memset(r, 0, sizeof *r);
	for (h = ctl_http_headers; h != NULL; h = h->next)
		headers = curl_slist_append(headers, h->data);
	if (ctype != NULL) {
		ct = xasprintf("Content-Type: %s", ctype);
		headers = curl_slist_append(headers, ct);
	}
	url = xasprintf("%s%s", ctl_http_base, path);
	x.curl = ctl_http_handle();
	ctl_http_setup(method, url, body, headers, &x, errbuf);
	rc = curl_easy_perform(x.curl);
	ctl_http_depth--;
	curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	free(url);
	free(ct);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x.stopped))
		return 0;
	return ctl_http_failed(rc, errbuf);
}

/* One request with an optional JSON body; 0 once any answer came. */
int
ctl_http_call(const char *method, const char *path, const char *ctype,
    const json_t *body, struct ctl_reply *r)
{
	char *text = NULL;
	int rc;

	if (body != NULL)
		text = json_dumps(body, JSON_COMPACT);
	rc = ctl_http_perform(method, path, body ? (ctype ? ctype :
	    "application/json") : NULL, text, NULL, NULL, r);
	free(text);
	return rc;
}

/* A GET whose 2xx body streams into sink as it comes; 0 or an exit code. */
int
ctl_http_stream(const char *path, ctl_http_sink *sink, void *arg,
    struct ctl_reply *r)
{
	int rc = ctl_http_perform("GET", path, NULL, NULL, sink, arg, r);

	if (rc == 0 && r->status / 100 != 2)
		rc = ctl_http_problem(path, r);
	return rc;
}

/* A request whose 2xx answer is JSON (*out, if asked, to decref); r keeps
 * the text as sent. 0, or an exit code once the error was told. */
int
ctl_http_json(const char *method, const char *path, const char *ctype,
    const json_t *body, struct ctl_reply *r, json_t **out)
{
	json_error_t e;
	int rc = ctl_http_call(method, path, ctype, body, r);

	if (rc != 0)
		return rc;
	if (r->status / 100 != 2)
		return ctl_http_problem(path, r);
	if (out != NULL && (*out = json_loadb(r->body.data, r->body.len, 0,
	    &e)) == NULL) {
		ctl_err("%s answered %s with bad JSON: %s", ctl_http_shown,
		    path, e.text);
		return CTL_ERROR;
	}
	return 0;
}

/* Print the daemon's JSON as it came, one document per line. */
void
ctl_http_print(const struct ctl_reply *r)
{
	fwrite(r->body.data, 1, r->body.len, stdout);
	if (r->body.len == 0 || r->body.data[r->body.len - 1] != '\n')
		putchar('\n');
}

/* The endpoint of path for messages: no query, the id as "ID". */
static char *
ctl_http_endpoint(const char *path)
{
	char *s = xstrndup(path, strcspn(path, "?")), *p = s, *end;
	int i;

	for (i = 0; i < 2 && p != NULL; i++)
		p = strchr(p + 1, '/');
	if (p == NULL || p[1] == '\0')
		return s;
	end = strchr(p + 1, '/');
	p = xasprintf("%.*s/ID%s", (int)(p - s), s, end ? end : "");
	free(s);
	return p;
}

/* Each errors[] member as "  /pointer: detail". */
static void
ctl_http_problem_errors(const json_t *errors)
{
	const json_t *e;
	size_t i;

	json_array_foreach(errors, i, e)
		ctl_err("  %s: %s", ctl_show_str(e, "pointer"),
		    ctl_show_str(e, "detail"));
}

/* Tell the user why the daemon said no, one line per fact; exit code 5. */
int
ctl_http_problem(const char *path, const struct ctl_reply *r)
{
	json_t *p = json_loadb(r->body.data, r->body.len, 0, NULL);
	const char *detail = ctl_show_str(p, "detail");
	char *ep = ctl_http_endpoint(path);

	if (r->status == 404 && strcmp(ctl_show_str(p, "type"),
	    "urn:evtaskd:problem:not-found") == 0)
		ctl_err("this daemon has no %s (older than 0.2?)", ep);
	else if (*detail != '\0')
		ctl_err("%s (HTTP %ld)", detail, r->status);
	else
		ctl_err("%s answered %s with HTTP %ld", ctl_http_shown, ep,
		    r->status);
	ctl_http_problem_errors(json_object_get(p, "errors"));
	if (r->status == 401)
		ctl_err("hint: the daemon wants its token: pass the token "
		    "file with --token-file FILE or EVTASKD_TOKEN_FILE");
	free(ep);
	json_decref(p);
	return CTL_ERROR;
}

/* The one place a reply's text is freed. */
void
ctl_http_reply_free(struct ctl_reply *r)
{
	free(r->body.data);
	memset(r, 0, sizeof *r);
}

/* text escaped for a URL's path or query (to free). */
char *
ctl_http_escape(const char *text)
{
	char *e = curl_easy_escape(NULL, text, 0), *s;

	if (e == NULL)
		xfatal("curl_easy_escape failed");
	s = xstrdup(e);
	curl_free(e);
	return s;
}
