/*
 * api-ui.c -- GET /ui/ and its assets: the web dashboard, embedded in the
 * binary at build time (ui-assets.c, made by src/ui-embed.sh from ui/),
 * served with a strong ETag and a strict Content-Security-Policy; GET /
 * redirects there. The page holds no data: it reads /v1/ like any client,
 * with the token when one is configured.
 */

#include "evtaskd.h"

#include <string.h>

/* Headers every asset answer carries, 304 included. */
static const struct {
	const char	*name;
	const char	*value;
} api_ui_headers[] = {
	{ "Cache-Control", "no-cache" },
	{ "Content-Security-Policy", "default-src 'self'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
};

/* The asset of this name, or NULL. */
static const struct ui_asset *
api_ui_find(const char *name)
{
	size_t i;

	for (i = 0; i < ui_nassets; i++) {
		if (strcmp(ui_assets[i].path, name) == 0)
			return &ui_assets[i];
	}
	return NULL;
}

/*
 * Does an If-None-Match value name etag? "*" does; otherwise a list of
 * entity tags, compared weakly (RFC 9110 13.1.2: a W/ prefix is ignored).
 */
static int
api_ui_etag_match(const char *list, const char *etag)
{
	size_t elen = strlen(etag);
	const char *end;

	for (;;) {
		list += strspn(list, " \t,");
		if (*list == '\0')
			return 0;
		if (*list == '*')
			return 1;
		if (strncmp(list, "W/", 2) == 0)
			list += 2;
		if (*list != '"' || (end = strchr(list + 1, '"')) == NULL)
			return 0;
		if ((size_t)(end + 1 - list) == elen &&
		    strncmp(list, etag, elen) == 0)
			return 1;
		list = end + 1;
	}
}

/* Set the headers of an asset's answer. */
static void
api_ui_set_headers(struct http_request *req, const struct ui_asset *a)
{
	size_t i;

	http_set_header(req, "ETag", a->etag);
	for (i = 0; i < sizeof api_ui_headers / sizeof api_ui_headers[0]; i++)
		http_set_header(req, api_ui_headers[i].name,
		    api_ui_headers[i].value);
}

/* GET /ui/ (the page) and /ui/NAME: an asset, or 304 if the client has it. */
void
api_ui_get(struct http_request *req)
{
	static const char *const none[] = { NULL };
	const char *name = http_param(req), *inm;
	const struct ui_asset *a;

	if (api_query_only(req, none) != 0)
		return;
	if ((a = api_ui_find(name != NULL ? name : "index.html")) == NULL) {
		http_problem(req, 404, "not-found", "the dashboard has no "
		    "file '%.200s'", name);
		return;
	}
	api_ui_set_headers(req, a);
	inm = http_header(req, "If-None-Match");
	if (inm != NULL && api_ui_etag_match(inm, a->etag))
		http_reply_persistent(req, 304, NULL, "", 0);
	else
		http_reply_persistent(req, 200, a->type,
		    (const char *)a->data, a->len);
}

/* GET / and /ui: the dashboard lives at /ui/. */
void
api_ui_redirect(struct http_request *req)
{
	static const char *const none[] = { NULL };

	if (api_query_only(req, none) != 0)
		return;
	http_set_header(req, "Location", "/ui/");
	http_reply_static(req, 302, "text/plain; charset=utf-8",
	    "the dashboard is at /ui/\n");
}
