/*
 * config.c -- the configuration: defaults, the JSON file (read strictly:
 * every error names the file, line and column), flags over both, and the
 * jobs that command tasks run. A reload builds a new config and swaps it
 * in; running tasks keep a reference to the job they started with.
 */

#include "evtaskd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_DEPTH	8
#define CONFIG_NAME_MAX	64

/* Where the validation is: the key path, for messages and positions. */
struct config_ctx {
	const char	*file;
	char		*text;		/* the file, for positions */
	size_t		 len;
	const char	*keys[CONFIG_DEPTH];
	int		 index[CONFIG_DEPTH];	/* -1: keys[i] is an object key */
	int		 depth;
	char		**errors;
	size_t		 nerrors;
};

static struct config	 config_current_default;
const struct config	*cfg = &config_current_default;
static struct config	*config_current;

/* The defaults of CONTRACT §6. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->retention_s = 86400;
	c->shutdown_grace_ms = 10000;
	c->on_shutdown = ON_SHUTDOWN_KEEP;
	c->max_active_tasks = 1000000;
	c->max_duration_ms = 31536000000LL;
	c->max_metadata_bytes = 16384;
	c->http.max_body_bytes = 65536;
	c->http.max_connections = 10000;
	c->http.max_connections_per_ip = 1000;
	c->http.connection_timeout_s = 30;
}

/* Take a reference to a job (a task that runs it). */
struct job *
job_ref(struct job *j)
{
	j->refs++;
	return j;
}

/* Drop a reference; the last one frees the job. */
void
job_unref(struct job *j)
{
	size_t i;

	if (j == NULL || --j->refs > 0)
		return;
	for (i = 0; i < j->nargs; i++) {
		free(j->args[i].name);
		free(j->args[i].pattern);
		regfree(&j->args[i].re);
	}
	free(j->args);
	xstrv_free(j->argv);
	xstrv_free(j->cleanup_argv);
	xstrv_free(j->env);
	free(j->working_dir);
	free(j->name);
	free(j);
}

/* Free a config built by config_load (not the running one). */
void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->njobs; i++)
		job_unref(c->jobs[i]);
	free(c->jobs);
	xstrv_free(c->listen);
	free(c->state_dir);
	free(c->token_file);
	free(c->token);
	free(c);
}

/*
 * Make c (from config_load) the running configuration; frees the old one.
 * NULL frees it and leaves an empty configuration (at exit).
 */
void
config_set(struct config *c)
{
	struct config *old = config_current;

	config_current = c;
	cfg = c != NULL ? c : &config_current_default;
	config_free(old);
}

/* The job called name in the running configuration, or NULL. */
struct job *
config_job(const char *name)
{
	size_t i;

	for (i = 0; i < cfg->njobs; i++) {
		if (strcmp(cfg->jobs[i]->name, name) == 0)
			return cfg->jobs[i];
	}
	return NULL;
}

/* --- positions: find a key path in the file's text ------------------- */

static const char *
config_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/* p at '"': the end of the string. */
static const char *
config_skip_string(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\')
			p++;
	}
	return p < end ? p + 1 : end;
}

/* Skip one value (the file parsed, so it is well formed). */
static const char *
config_skip_value(const char *p, const char *end)
{
	int depth = 0;

	p = config_skip_ws(p, end);
	if (p < end && *p == '"')
		return config_skip_string(p, end);
	if (p < end && (*p == '{' || *p == '[')) {
		while (p < end) {
			if (*p == '"') {
				p = config_skip_string(p, end);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return end;
	}
	while (p < end && strchr(",}] \t\r\n", *p) == NULL)
		p++;
	return p;
}

/* Does the JSON string at p equal key (also when written with escapes)? */
static int
config_key_is(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);
	const char *close;
	json_t *v;
	int eq;

	if (p + n + 2 <= end && p[0] == '"' && strncmp(p + 1, key, n) == 0 &&
	    p[n + 1] == '"')
		return 1;
	close = config_skip_string(p, end);
	if (memchr(p, '\\', (size_t)(close - p)) == NULL)
		return 0;
	v = json_loadb(p, (size_t)(close - p), JSON_DECODE_ANY, NULL);
	eq = json_is_string(v) && strcmp(json_string_value(v), key) == 0;
	json_decref(v);
	return eq;
}

/*
 * The place of the current key path in the text: the key of the innermost
 * member (or the array element). NULL if it cannot be found.
 */
static const char *
config_locate(const struct config_ctx *ctx)
{
	const char *p = ctx->text, *end = ctx->text + ctx->len, *here = p;
	int d, i;

	p = config_skip_ws(p, end);
	for (d = 0; d < ctx->depth; d++) {
		if (p >= end || (*p != '{' && *p != '['))
			return NULL;
		if (*p == '[') {
			p = config_skip_ws(p + 1, end);
			for (i = 0; i < ctx->index[d]; i++) {
				p = config_skip_ws(config_skip_value(p, end),
				    end);
				if (p >= end || *p != ',')
					return NULL;
				p = config_skip_ws(p + 1, end);
			}
			here = p;
			continue;
		}
		p = config_skip_ws(p + 1, end);
		for (;;) {
			if (p >= end || *p != '"')
				return NULL;
			if (config_key_is(p, end, ctx->keys[d]))
				break;
			p = config_skip_string(p, end);
			p = config_skip_ws(p, end);
			if (p >= end || *p != ':')
				return NULL;
			p = config_skip_value(p + 1, end);
			p = config_skip_ws(p, end);
			if (p >= end || *p != ',')
				return NULL;
			p = config_skip_ws(p + 1, end);
		}
		here = p;
		p = config_skip_ws(config_skip_string(p, end), end);
		if (p >= end || *p != ':')
			return NULL;
		p = config_skip_ws(p + 1, end);
	}
	return here;
}

/* Keep an error line: one line, so control characters are escaped. */
static void
config_keep_error(struct config_ctx *ctx, char *line)
{
	struct buf b = { NULL, 0, 0 };
	char esc[8];
	const char *p;

	for (p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*p);
			buf_adds(&b, esc);
		} else
			buf_add(&b, p, 1);
	}
	free(line);
	ctx->errors = xrealloc(ctx->errors, (ctx->nerrors + 1) *
	    sizeof *ctx->errors);
	ctx->errors[ctx->nerrors++] = buf_steal(&b, NULL);
}

/* Record an error at the current key path: "file:line:col: path: msg". */
static void PRINTFLIKE(2, 3)
config_error(struct config_ctx *ctx, const char *fmt, ...)
{
	char path[256], *msg;
	const char *at = config_locate(ctx), *p;
	size_t o = 0;
	int line = 1, col = 1, d;
	va_list ap;

	path[0] = '\0';
	for (d = 0; d < ctx->depth && o < sizeof path - 1; d++) {
		if (ctx->index[d] >= 0)
			o += (size_t)snprintf(path + o, sizeof path - o, "[%d]",
			    ctx->index[d]);
		else
			o += (size_t)snprintf(path + o, sizeof path - o, "%s%s",
			    d > 0 ? "." : "", ctx->keys[d]);
	}	/* snprintf truncates a very long key path */
	for (p = ctx->text; at != NULL && p < at; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (at != NULL)
		config_keep_error(ctx, xasprintf("%s:%d:%d: %s%s%s", ctx->file,
		    line, col, path, *path != '\0' ? ": " : "", msg));
	else
		config_keep_error(ctx, xasprintf("%s: %s%s%s", ctx->file, path,
		    *path != '\0' ? ": " : "", msg));
	free(msg);
}

/* Enter a member (or an array element if key is NULL) for messages. */
static void
config_push(struct config_ctx *ctx, const char *key, int index)
{
	if (ctx->depth == CONFIG_DEPTH)
		fatalx("config nesting too deep");
	ctx->keys[ctx->depth] = key;
	ctx->index[ctx->depth] = key != NULL ? -1 : index;
	ctx->depth++;
}

static void
config_pop(struct config_ctx *ctx)
{
	ctx->depth--;
}

/* --- typed getters ------------------------------------------------- */

/* Every member of o must be in allowed; report the others. */
static void
config_only(struct config_ctx *ctx, json_t *o, const char *const *allowed)
{
	const char *key, *const *a;
	json_t *v;

	json_object_foreach(o, key, v) {
		for (a = allowed; *a != NULL; a++) {
			if (strcmp(*a, key) == 0)
				break;
		}
		if (*a != NULL)
			continue;
		config_push(ctx, key, 0);
		config_error(ctx, "unknown key");
		config_pop(ctx);
	}
}

/* An integer member in [min, max]; untouched if absent. */
static void
config_int(struct config_ctx *ctx, json_t *o, const char *key, int64_t min,
    int64_t max, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return;
	config_push(ctx, key, 0);
	if (!json_is_integer(v))
		config_error(ctx, "must be an integer");
	else if (json_integer_value(v) < min || json_integer_value(v) > max)
		config_error(ctx, "must be between %lld and %lld",
		    (long long)min, (long long)max);
	else
		*out = json_integer_value(v);
	config_pop(ctx);
}

/* A string member (copied into *out, old value freed); 0 if absent. */
static int
config_str(struct config_ctx *ctx, json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	config_push(ctx, key, 0);
	if (!json_is_string(v) || strlen(json_string_value(v)) !=
	    json_string_length(v)) {
		config_error(ctx, "must be a string");
		config_pop(ctx);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	config_pop(ctx);
	return 1;
}

/* A true/false member (false if absent). */
static int
config_bool(struct config_ctx *ctx, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v != NULL && !json_is_boolean(v)) {
		config_push(ctx, key, 0);
		config_error(ctx, "must be true or false");
		config_pop(ctx);
	}
	return json_is_true(v);
}

/* A string member that must be an absolute path; 1 if set. */
static int
config_path(struct config_ctx *ctx, json_t *o, const char *key, char **out)
{
	if (config_str(ctx, o, key, out) <= 0)
		return 0;
	if ((*out)[0] != '/') {
		config_push(ctx, key, 0);
		config_error(ctx, "must be an absolute path");
		config_pop(ctx);
	}
	return 1;
}

/* An object member, or NULL (with an error if it is something else). */
static json_t *
config_obj(struct config_ctx *ctx, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_object(v))
		return v;
	config_push(ctx, key, 0);
	config_error(ctx, "must be an object");
	config_pop(ctx);
	return NULL;
}

/* A non-empty array of strings into a NULL-terminated vector. */
static char **
config_strv(struct config_ctx *ctx, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key), *e;
	char **out;
	size_t i;

	if (v == NULL)
		return NULL;
	config_push(ctx, key, 0);
	if (!json_is_array(v) || json_array_size(v) == 0) {
		config_error(ctx, "must be a non-empty array of strings");
		config_pop(ctx);
		return NULL;
	}
	out = xcalloc(json_array_size(v) + 1, sizeof *out);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || strlen(json_string_value(e)) !=
		    json_string_length(e)) {
			config_push(ctx, NULL, (int)i);
			config_error(ctx, "must be a string");
			config_pop(ctx);
			out[i] = xstrdup("");
		} else
			out[i] = xstrdup(json_string_value(e));
	}
	config_pop(ctx);
	return out;
}

/* --- jobs ------------------------------------------------------------ */

/* Is name a placeholder this job can fill ({task_id} or one of its args)? */
static int
config_placeholder_ok(const struct job *j, const char *name, size_t len)
{
	size_t i;

	if (len == 7 && strncmp(name, "task_id", 7) == 0)
		return 1;
	for (i = 0; i < j->nargs; i++) {
		if (strlen(j->args[i].name) == len &&
		    strncmp(j->args[i].name, name, len) == 0)
			return 1;
	}
	return 0;
}

/* Check every {placeholder} of an argv template. */
static void
config_check_template(struct config_ctx *ctx, const struct job *j,
    char **argv, const char *key)
{
	const char *p, *close;
	size_t i;

	config_push(ctx, key, 0);
	for (i = 0; argv[i] != NULL; i++) {
		config_push(ctx, NULL, (int)i);
		if (i == 0 && argv[0][0] != '/')
			config_error(ctx, "argv[0] must be an absolute path");
		for (p = argv[i]; (p = strchr(p, '{')) != NULL; p = close + 1) {
			if (p[1] == '{') {
				close = p + 1;
				continue;
			}
			close = strchr(p, '}');
			if (close == NULL) {
				config_error(ctx, "'{' without '}' (write {{ "
				    "for a brace)");
				break;
			}
			if (!config_placeholder_ok(j, p + 1,
			    (size_t)(close - p - 1)))
				config_error(ctx, "{%.*s} names no argument "
				    "of this job", (int)(close - p - 1), p + 1);
		}
		config_pop(ctx);
	}
	config_pop(ctx);
}

/* One entry of a job's "args": {"pattern": "...", "required": true}. */
static void
config_job_arg(struct config_ctx *ctx, struct job_arg *a, const char *name,
    json_t *def)
{
	static const char *const keys[] = { "pattern", "required", NULL };
	char *anchored, err[128];
	int rc;

	a->name = xstrdup(name);
	config_push(ctx, name, 0);
	if (!json_is_object(def)) {
		config_error(ctx, "must be an object");
		config_pop(ctx);
		return;
	}
	config_only(ctx, def, keys);
	if (config_str(ctx, def, "pattern", &a->pattern) <= 0) {
		if (json_object_get(def, "pattern") == NULL)
			config_error(ctx, "needs a \"pattern\"");
	} else {
		/* The pattern must match the whole value. */
		anchored = xasprintf("^(%s)$", a->pattern);
		rc = regcomp(&a->re, anchored, REG_EXTENDED | REG_NOSUB);
		free(anchored);
		if (rc != 0) {
			regerror(rc, &a->re, err, sizeof err);
			config_push(ctx, "pattern", 0);
			config_error(ctx, "bad regular expression: %s", err);
			config_pop(ctx);
			free(a->pattern);
			a->pattern = NULL;
		} else
			a->compiled = 1;
	}
	a->required = config_bool(ctx, def, "required");
	config_pop(ctx);
}

/* A job's "args" object. */
static void
config_job_args(struct config_ctx *ctx, struct job *j, json_t *def)
{
	json_t *args = config_obj(ctx, def, "args"), *v;
	const char *name;

	if (args == NULL)
		return;
	config_push(ctx, "args", 0);
	j->args = xcalloc(json_object_size(args) + 1, sizeof *j->args);
	json_object_foreach(args, name, v) {
		if (strcmp(name, "task_id") == 0 || strspn(name,
		    "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
		    *name == '\0') {
			config_push(ctx, name, 0);
			config_error(ctx, "argument names use a-z, 0-9 and _ "
			    "(task_id is taken)");
			config_pop(ctx);
			continue;
		}
		config_job_arg(ctx, &j->args[j->nargs++], name, v);
	}
	config_pop(ctx);
}

/* A job's "env": {"NAME": "value"} into "NAME=value" strings. */
static void
config_job_env(struct config_ctx *ctx, struct job *j, json_t *def)
{
	json_t *env = config_obj(ctx, def, "env"), *v;
	const char *name;
	size_t n = 0;

	if (env == NULL)
		return;
	config_push(ctx, "env", 0);
	j->env = xcalloc(json_object_size(env) + 1, sizeof *j->env);
	json_object_foreach(env, name, v) {
		config_push(ctx, name, 0);
		if (*name == '\0' || strchr(name, '=') != NULL)
			config_error(ctx, "not a variable name");
		else if (!json_is_string(v) || strlen(json_string_value(v)) !=
		    json_string_length(v))
			config_error(ctx, "must be a string");
		else
			j->env[n++] = xasprintf("%s=%s", name,
			    json_string_value(v));
		config_pop(ctx);
	}
	config_pop(ctx);
}

/* A job's kill_signal. */
static void
config_job_signal(struct config_ctx *ctx, struct job *j, json_t *def)
{
	char *name = NULL;

	if (config_str(ctx, def, "kill_signal", &name) <= 0)
		return;
	j->kill_signal = signame_parse(name);
	if (j->kill_signal < 0) {
		config_push(ctx, "kill_signal", 0);
		config_error(ctx, "unknown signal '%s' (TERM, INT, HUP, QUIT, "
		    "KILL, USR1, USR2, ALRM)", name);
		config_pop(ctx);
		j->kill_signal = SIGTERM;
	}
	free(name);
}

/* One job definition. */
static struct job *
config_job_parse(struct config_ctx *ctx, const char *name, json_t *def)
{
	static const char *const keys[] = {
		"argv", "args", "timeout_ms", "kill_signal", "kill_grace_ms",
		"cleanup_argv", "cleanup_timeout_ms", "max_concurrent",
		"working_dir", "env", NULL
	};
	struct job *j = xcalloc(1, sizeof *j);
	int64_t n;

	j->refs = 1;
	j->name = xstrdup(name);
	j->timeout_ms = TASK_TIME_NONE;
	j->kill_signal = SIGTERM;
	j->kill_grace_ms = 5000;
	j->cleanup_timeout_ms = 30000;
	j->working_dir = xstrdup("/");
	config_push(ctx, name, 0);
	if (strlen(name) > CONFIG_NAME_MAX || *name == '\0' || strspn(name,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
	    != strlen(name))
		config_error(ctx, "job names are 1-64 of A-Z a-z 0-9 _ . -");
	if (!json_is_object(def)) {
		config_error(ctx, "must be an object");
		config_pop(ctx);
		return j;
	}
	config_only(ctx, def, keys);
	config_job_args(ctx, j, def);
	j->argv = config_strv(ctx, def, "argv");
	if (j->argv == NULL && json_object_get(def, "argv") == NULL)
		config_error(ctx, "needs an \"argv\"");
	if (j->argv != NULL)
		config_check_template(ctx, j, j->argv, "argv");
	j->cleanup_argv = config_strv(ctx, def, "cleanup_argv");
	if (j->cleanup_argv != NULL)
		config_check_template(ctx, j, j->cleanup_argv, "cleanup_argv");
	config_int(ctx, def, "timeout_ms", 1, INT64_MAX / 2, &j->timeout_ms);
	config_int(ctx, def, "kill_grace_ms", 0, 3600000, &j->kill_grace_ms);
	config_int(ctx, def, "cleanup_timeout_ms", 1, 86400000,
	    &j->cleanup_timeout_ms);
	n = 0;
	config_int(ctx, def, "max_concurrent", 1, 1000000, &n);
	j->max_concurrent = (unsigned)n;
	config_job_signal(ctx, j, def);
	config_path(ctx, def, "working_dir", &j->working_dir);
	config_job_env(ctx, j, def);
	config_pop(ctx);
	return j;
}

/* The "jobs" object. */
static void
config_jobs(struct config_ctx *ctx, struct config *c, json_t *root)
{
	json_t *jobs = config_obj(ctx, root, "jobs"), *def;
	const char *name;

	if (jobs == NULL)
		return;
	config_push(ctx, "jobs", 0);
	c->jobs = xcalloc(json_object_size(jobs) + 1, sizeof *c->jobs);
	json_object_foreach(jobs, name, def)
		c->jobs[c->njobs++] = config_job_parse(ctx, name, def);
	config_pop(ctx);
}

/* --- the rest of the file ---------------------------------------- */

/* "limits". */
static void
config_limits(struct config_ctx *ctx, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"max_active_tasks", "max_body_bytes", "max_connections",
		"max_connections_per_ip", "connection_timeout_s",
		"max_duration_ms", NULL
	};
	json_t *l = config_obj(ctx, root, "limits");
	int64_t v;

	if (l == NULL)
		return;
	config_push(ctx, "limits", 0);
	config_only(ctx, l, keys);
	v = (int64_t)c->max_active_tasks;
	config_int(ctx, l, "max_active_tasks", 1, INT64_MAX / 2, &v);
	c->max_active_tasks = (uint64_t)v;
	v = (int64_t)c->http.max_body_bytes;
	config_int(ctx, l, "max_body_bytes", 1024, 64 * 1024 * 1024, &v);
	c->http.max_body_bytes = (size_t)v;
	v = c->http.max_connections;
	config_int(ctx, l, "max_connections", 1, 1000000, &v);
	c->http.max_connections = (unsigned)v;
	v = c->http.max_connections_per_ip;
	config_int(ctx, l, "max_connections_per_ip", 1, 1000000, &v);
	c->http.max_connections_per_ip = (unsigned)v;
	v = c->http.connection_timeout_s;
	config_int(ctx, l, "connection_timeout_s", 1, 86400, &v);
	c->http.connection_timeout_s = (unsigned)v;
	config_int(ctx, l, "max_duration_ms", 1, INT64_MAX / 4,
	    &c->max_duration_ms);
	config_pop(ctx);
}

/* "auth". */
static void
config_auth(struct config_ctx *ctx, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"token_file", "metrics_public", NULL
	};
	json_t *a = config_obj(ctx, root, "auth");

	if (a == NULL)
		return;
	config_push(ctx, "auth", 0);
	config_only(ctx, a, keys);
	config_path(ctx, a, "token_file", &c->token_file);
	c->metrics_public = config_bool(ctx, a, "metrics_public");
	config_pop(ctx);
}

/* "listen", "on_shutdown" and the other top-level scalars. */
static void
config_top(struct config_ctx *ctx, struct config *c, json_t *root)
{
	struct listen_addr addr;
	char *s = NULL, *err;
	size_t i;

	c->listen = config_strv(ctx, root, "listen");
	for (i = 0; c->listen != NULL && c->listen[i] != NULL; i++) {
		if (listen_parse(c->listen[i], &addr, &err) == 0)
			continue;
		config_push(ctx, "listen", 0);
		config_push(ctx, NULL, (int)i);
		config_error(ctx, "%s", err);
		config_pop(ctx);
		config_pop(ctx);
		free(err);
	}
	config_str(ctx, root, "state_dir", &c->state_dir);
	config_int(ctx, root, "retention_s", 0, INT64_MAX / 2000,
	    &c->retention_s);
	config_int(ctx, root, "shutdown_grace_ms", 0, 3600000,
	    &c->shutdown_grace_ms);
	if (config_str(ctx, root, "on_shutdown", &s) > 0) {
		if (strcmp(s, "keep") == 0)
			c->on_shutdown = ON_SHUTDOWN_KEEP;
		else if (strcmp(s, "cancel") == 0)
			c->on_shutdown = ON_SHUTDOWN_CANCEL;
		else {
			config_push(ctx, "on_shutdown", 0);
			config_error(ctx, "must be \"keep\" or \"cancel\"");
			config_pop(ctx);
		}
	}
	free(s);
}

/* Read the whole file into ctx->text. */
static int
config_read(struct config_ctx *ctx)
{
	FILE *f = fopen(ctx->file, "r");
	size_t n;

	if (f == NULL) {
		config_keep_error(ctx, xasprintf("%s: %s", ctx->file,
		    strerror(errno)));
		return -1;
	}
	ctx->text = NULL;
	ctx->len = 0;
	do {
		ctx->text = xrealloc(ctx->text, ctx->len + 65536 + 1);
		n = fread(ctx->text + ctx->len, 1, 65536, f);
		ctx->len += n;
	} while (n > 0);
	ctx->text[ctx->len] = '\0';
	fclose(f);
	return 0;
}

/*
 * Read and check a config file (NULL: defaults only). Returns the new
 * config, or NULL with every problem, one per line, in *errors (to free).
 */
struct config *
config_load(const char *file, char **errors)
{
	static const char *const keys[] = {
		"listen", "state_dir", "retention_s", "shutdown_grace_ms",
		"on_shutdown", "auth", "limits", "jobs", NULL
	};
	struct config_ctx ctx;
	struct config *c = xcalloc(1, sizeof *c);
	struct buf out = { NULL, 0, 0 };
	json_error_t jerr;
	json_t *root = NULL;
	size_t i;

	config_defaults(c);
	*errors = NULL;
	if (file == NULL)
		return c;
	memset(&ctx, 0, sizeof ctx);
	ctx.file = file;
	if (config_read(&ctx) == 0) {
		root = json_loadb(ctx.text, ctx.len, JSON_REJECT_DUPLICATES,
		    &jerr);
		if (root == NULL)
			config_keep_error(&ctx, xasprintf("%s:%d:%d: %s", file,
			    jerr.line, jerr.column, jerr.text));
		else if (!json_is_object(root))
			config_error(&ctx, "the file must hold a JSON object");
		else {
			config_only(&ctx, root, keys);
			config_top(&ctx, c, root);
			config_limits(&ctx, c, root);
			config_auth(&ctx, c, root);
			config_jobs(&ctx, c, root);
		}
	}
	json_decref(root);
	free(ctx.text);
	if (ctx.nerrors == 0)
		return c;
	for (i = 0; i < ctx.nerrors; i++) {
		buf_adds(&out, ctx.errors[i]);
		buf_add(&out, "\n", 1);
		free(ctx.errors[i]);
	}
	free(ctx.errors);
	*errors = buf_steal(&out, NULL);
	config_free(c);
	return NULL;
}
