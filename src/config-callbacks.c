/*
 * config-callbacks.c -- the "callbacks" object of the config: the
 * receivers clients may name (CONTRACT §9). Read strictly, every error at
 * its FILE:LINE:COLUMN; each secret file is read at every load (start,
 * SIGHUP), so a reload picks up a rotated secret.
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

#define CALLBACK_TIMEOUT_DEFAULT_MS	10000
#define CALLBACK_TIMEOUT_MAX_MS		600000
#define CALLBACK_ATTEMPTS_DEFAULT	10
#define CALLBACK_ATTEMPTS_MAX		100

/* The schemes a receiver's URL may have. */
static const char *const config_callback_schemes[] = {
	"http://", "https://", NULL
};

/* Free the callbacks of a config (config_free's part). */
void
config_callbacks_free(struct config *c)
{
	struct callback_conf *cb;
	size_t i;

	for (i = 0; i < c->ncallbacks; i++) {
		cb = &c->callbacks[i];
		free(cb->name);
		free(cb->url);
		free(cb->secret_file);
		if (cb->secret != NULL)
			explicit_bzero(cb->secret, strlen(cb->secret));
		free(cb->secret);
	}
	free(c->callbacks);
	c->callbacks = NULL;
	c->ncallbacks = 0;
}

/* The callback called name in the running configuration, or NULL. */
const struct callback_conf *
config_callback(const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ncallbacks; i++) {
		if (strcmp(cfg->callbacks[i].name, name) == 0)
			return &cfg->callbacks[i];
	}
	return NULL;
}

/* Is url http(s)://HOST... with a host? */
static int
config_callback_url_ok(const char *url)
{
	const char *const *s;
	size_t n;

	for (s = config_callback_schemes; *s != NULL; s++) {
		n = strlen(*s);
		if (strncmp(url, *s, n) == 0)
			return url[n] != '\0' && url[n] != '/' &&
			    strpbrk(url, " \t\r\n") == NULL;
	}
	return 0;
}

/* "url": http:// or https://, checked at its place. */
static void
config_callback_url(struct config_pos *pos, json_t *o,
    struct callback_conf *cb)
{
	if (config_pos_str(pos, o, "url", &cb->url) == 0) {
		config_pos_error(pos, "needs a \"url\"");
		return;
	}
	if (cb->url == NULL || config_callback_url_ok(cb->url))
		return;
	config_pos_push(pos, "url", 0);
	config_pos_error(pos, "'%s' is not an http:// or https:// URL with a "
	    "host", cb->url);
	config_pos_pop(pos);
}

/* "secret_file": an absolute path to a readable, non-empty file. */
static void
config_callback_secret(struct config_pos *pos, json_t *o,
    struct callback_conf *cb)
{
	char *err = NULL;

	if (!config_pos_abspath(pos, o, "secret_file", &cb->secret_file)) {
		if (json_object_get(o, "secret_file") == NULL)
			config_pos_error(pos, "needs a \"secret_file\"");
		return;
	}
	if (cb->secret_file[0] != '/')
		return;			/* reported as relative */
	if (token_read(cb->secret_file, "callback secret file", &cb->secret,
	    &err) == 0)
		return;
	config_pos_push(pos, "secret_file", 0);
	config_pos_error(pos, "%s", err);
	config_pos_pop(pos);
	free(err);
}

/* "events": terminal states (default: all four), each checked. */
static void
config_callback_events(struct config_pos *pos, json_t *o,
    struct callback_conf *cb)
{
	char **v = config_pos_strv(pos, o, "events");
	size_t i;
	int s;

	cb->events = 0;
	for (s = TASK_SUCCEEDED; v == NULL && s < TASK_NSTATES; s++)
		cb->events |= 1u << s;
	for (i = 0; v != NULL && v[i] != NULL; i++) {
		s = task_state_parse(v[i]);
		if (s >= 0 && task_state_terminal((enum task_state)s)) {
			cb->events |= 1u << s;
			continue;
		}
		config_pos_push(pos, "events", 0);
		config_pos_push(pos, NULL, (int)i);
		config_pos_error(pos, "'%s' is not one of \"succeeded\", "
		    "\"failed\", \"cancelled\", \"timed_out\"", v[i]);
		config_pos_pop(pos);
		config_pos_pop(pos);
	}
	xstrv_free(v);
}

/* One callback definition. */
static void
config_callback_one(struct config_pos *pos, const char *name, json_t *o,
    struct callback_conf *cb)
{
	static const char *const keys[] = {
		"url", "secret_file", "events", "timeout_ms", "max_attempts",
		NULL
	};

	cb->name = xstrdup(name);
	cb->timeout_ms = CALLBACK_TIMEOUT_DEFAULT_MS;
	cb->max_attempts = CALLBACK_ATTEMPTS_DEFAULT;
	config_pos_push(pos, name, 0);
	if (!json_is_object(o)) {
		config_pos_error(pos, "must be an object");
		config_pos_pop(pos);
		return;
	}
	config_pos_only(pos, o, keys);
	config_callback_url(pos, o, cb);
	config_callback_secret(pos, o, cb);
	config_callback_events(pos, o, cb);
	config_pos_int(pos, o, "timeout_ms", 1, CALLBACK_TIMEOUT_MAX_MS,
	    &cb->timeout_ms);
	config_pos_int(pos, o, "max_attempts", 1, CALLBACK_ATTEMPTS_MAX,
	    &cb->max_attempts);
	config_pos_pop(pos);
}

/* The "callbacks" object: name -> receiver. */
void
config_callbacks(struct config_pos *pos, struct config *c, json_t *root)
{
	json_t *all = config_pos_obj(pos, root, "callbacks"), *def;
	const char *name;

	if (all == NULL)
		return;
	config_pos_push(pos, "callbacks", 0);
	c->callbacks = xcalloc(json_object_size(all) + 1,
	    sizeof *c->callbacks);
	json_object_foreach(all, name, def) {
		config_callback_one(pos, name, def,
		    &c->callbacks[c->ncallbacks++]);
	}
	config_pos_pop(pos);
}
