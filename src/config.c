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

#define CONFIG_NAME_MAX	64

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
config_check_template(struct config_pos *pos, const struct job *j,
    char **argv, const char *key)
{
	const char *p, *close;
	size_t i;

	config_pos_push(pos, key, 0);
	for (i = 0; argv[i] != NULL; i++) {
		config_pos_push(pos, NULL, (int)i);
		if (i == 0 && argv[0][0] != '/')
			config_pos_error(pos, "argv[0] must be an absolute path");
		for (p = argv[i]; (p = strchr(p, '{')) != NULL; p = close + 1) {
			if (p[1] == '{') {
				close = p + 1;
				continue;
			}
			close = strchr(p, '}');
			if (close == NULL) {
				config_pos_error(pos, "'{' without '}' (write {{ "
				    "for a brace)");
				break;
			}
			if (!config_placeholder_ok(j, p + 1,
			    (size_t)(close - p - 1)))
				config_pos_error(pos, "{%.*s} names no argument "
				    "of this job", (int)(close - p - 1), p + 1);
		}
		config_pos_pop(pos);
	}
	config_pos_pop(pos);
}

/* One entry of a job's "args": {"pattern": "...", "required": true}. */
static void
config_job_arg(struct config_pos *pos, struct job_arg *a, const char *name,
    json_t *def)
{
	static const char *const keys[] = { "pattern", "required", NULL };
	char *anchored, err[128];
	int rc;

	a->name = xstrdup(name);
	config_pos_push(pos, name, 0);
	if (!json_is_object(def)) {
		config_pos_error(pos, "must be an object");
		config_pos_pop(pos);
		return;
	}
	config_pos_only(pos, def, keys);
	if (config_pos_str(pos, def, "pattern", &a->pattern) <= 0) {
		if (json_object_get(def, "pattern") == NULL)
			config_pos_error(pos, "needs a \"pattern\"");
	} else {
		/* The pattern must match the whole value. */
		anchored = xasprintf("^(%s)$", a->pattern);
		rc = regcomp(&a->re, anchored, REG_EXTENDED | REG_NOSUB);
		free(anchored);
		if (rc != 0) {
			regerror(rc, &a->re, err, sizeof err);
			config_pos_push(pos, "pattern", 0);
			config_pos_error(pos, "bad regular expression: %s", err);
			config_pos_pop(pos);
			free(a->pattern);
			a->pattern = NULL;
		} else
			a->compiled = 1;
	}
	a->required = config_pos_bool(pos, def, "required");
	config_pos_pop(pos);
}

/* A job's "args" object. */
static void
config_job_args(struct config_pos *pos, struct job *j, json_t *def)
{
	json_t *args = config_pos_obj(pos, def, "args"), *v;
	const char *name;

	if (args == NULL)
		return;
	config_pos_push(pos, "args", 0);
	j->args = xcalloc(json_object_size(args) + 1, sizeof *j->args);
	json_object_foreach(args, name, v) {
		if (strcmp(name, "task_id") == 0 || strspn(name,
		    "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
		    *name == '\0') {
			config_pos_push(pos, name, 0);
			config_pos_error(pos, "argument names use a-z, 0-9 and _ "
			    "(task_id is taken)");
			config_pos_pop(pos);
			continue;
		}
		config_job_arg(pos, &j->args[j->nargs++], name, v);
	}
	config_pos_pop(pos);
}

/* A job's "env": {"NAME": "value"} into "NAME=value" strings. */
static void
config_job_env(struct config_pos *pos, struct job *j, json_t *def)
{
	json_t *env = config_pos_obj(pos, def, "env"), *v;
	const char *name;
	size_t n = 0;

	if (env == NULL)
		return;
	config_pos_push(pos, "env", 0);
	j->env = xcalloc(json_object_size(env) + 1, sizeof *j->env);
	json_object_foreach(env, name, v) {
		config_pos_push(pos, name, 0);
		if (*name == '\0' || strchr(name, '=') != NULL)
			config_pos_error(pos, "not a variable name");
		else if (!json_is_string(v) || strlen(json_string_value(v)) !=
		    json_string_length(v))
			config_pos_error(pos, "must be a string");
		else
			j->env[n++] = xasprintf("%s=%s", name,
			    json_string_value(v));
		config_pos_pop(pos);
	}
	config_pos_pop(pos);
}

/* A job's kill_signal. */
static void
config_job_signal(struct config_pos *pos, struct job *j, json_t *def)
{
	char *name = NULL;

	if (config_pos_str(pos, def, "kill_signal", &name) <= 0)
		return;
	j->kill_signal = signame_parse(name);
	if (j->kill_signal < 0) {
		config_pos_push(pos, "kill_signal", 0);
		config_pos_error(pos, "unknown signal '%s' (TERM, INT, HUP, QUIT, "
		    "KILL, USR1, USR2, ALRM)", name);
		config_pos_pop(pos);
		j->kill_signal = SIGTERM;
	}
	free(name);
}

/* One job definition. */
static struct job *
config_job_parse(struct config_pos *pos, const char *name, json_t *def)
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
	config_pos_push(pos, name, 0);
	if (strlen(name) > CONFIG_NAME_MAX || *name == '\0' || strspn(name,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
	    != strlen(name))
		config_pos_error(pos, "job names are 1-64 of A-Z a-z 0-9 _ . -");
	if (!json_is_object(def)) {
		config_pos_error(pos, "must be an object");
		config_pos_pop(pos);
		return j;
	}
	config_pos_only(pos, def, keys);
	config_job_args(pos, j, def);
	j->argv = config_pos_strv(pos, def, "argv");
	if (j->argv == NULL && json_object_get(def, "argv") == NULL)
		config_pos_error(pos, "needs an \"argv\"");
	if (j->argv != NULL)
		config_check_template(pos, j, j->argv, "argv");
	j->cleanup_argv = config_pos_strv(pos, def, "cleanup_argv");
	if (j->cleanup_argv != NULL)
		config_check_template(pos, j, j->cleanup_argv, "cleanup_argv");
	config_pos_int(pos, def, "timeout_ms", 1, INT64_MAX / 2, &j->timeout_ms);
	config_pos_int(pos, def, "kill_grace_ms", 0, 3600000, &j->kill_grace_ms);
	config_pos_int(pos, def, "cleanup_timeout_ms", 1, 86400000,
	    &j->cleanup_timeout_ms);
	n = 0;
	config_pos_int(pos, def, "max_concurrent", 1, 1000000, &n);
	j->max_concurrent = (unsigned)n;
	config_job_signal(pos, j, def);
	config_pos_abspath(pos, def, "working_dir", &j->working_dir);
	config_job_env(pos, j, def);
	config_pos_pop(pos);
	return j;
}

/* The "jobs" object. */
static void
config_jobs(struct config_pos *pos, struct config *c, json_t *root)
{
	json_t *jobs = config_pos_obj(pos, root, "jobs"), *def;
	const char *name;

	if (jobs == NULL)
		return;
	config_pos_push(pos, "jobs", 0);
	c->jobs = xcalloc(json_object_size(jobs) + 1, sizeof *c->jobs);
	json_object_foreach(jobs, name, def)
		c->jobs[c->njobs++] = config_job_parse(pos, name, def);
	config_pos_pop(pos);
}

/* --- the rest of the file ---------------------------------------- */

/* "limits". */
static void
config_limits(struct config_pos *pos, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"max_active_tasks", "max_body_bytes", "max_connections",
		"max_connections_per_ip", "connection_timeout_s",
		"max_duration_ms", NULL
	};
	json_t *l = config_pos_obj(pos, root, "limits");
	int64_t v;

	if (l == NULL)
		return;
	config_pos_push(pos, "limits", 0);
	config_pos_only(pos, l, keys);
	v = (int64_t)c->max_active_tasks;
	config_pos_int(pos, l, "max_active_tasks", 1, INT64_MAX / 2, &v);
	c->max_active_tasks = (uint64_t)v;
	v = (int64_t)c->http.max_body_bytes;
	config_pos_int(pos, l, "max_body_bytes", 1024, 64 * 1024 * 1024, &v);
	c->http.max_body_bytes = (size_t)v;
	v = c->http.max_connections;
	config_pos_int(pos, l, "max_connections", 1, 1000000, &v);
	c->http.max_connections = (unsigned)v;
	v = c->http.max_connections_per_ip;
	config_pos_int(pos, l, "max_connections_per_ip", 1, 1000000, &v);
	c->http.max_connections_per_ip = (unsigned)v;
	v = c->http.connection_timeout_s;
	config_pos_int(pos, l, "connection_timeout_s", 1, 86400, &v);
	c->http.connection_timeout_s = (unsigned)v;
	config_pos_int(pos, l, "max_duration_ms", 1, INT64_MAX / 4,
	    &c->max_duration_ms);
	config_pos_pop(pos);
}

/* "auth". */
static void
config_auth(struct config_pos *pos, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"token_file", "metrics_public", NULL
	};
	json_t *a = config_pos_obj(pos, root, "auth");

	if (a == NULL)
		return;
	config_pos_push(pos, "auth", 0);
	config_pos_only(pos, a, keys);
	config_pos_abspath(pos, a, "token_file", &c->token_file);
	c->metrics_public = config_pos_bool(pos, a, "metrics_public");
	config_pos_pop(pos);
}

/* "listen", "on_shutdown" and the other top-level scalars. */
static void
config_top(struct config_pos *pos, struct config *c, json_t *root)
{
	struct listen_addr addr;
	char *s = NULL, *err;
	size_t i;

	c->listen = config_pos_strv(pos, root, "listen");
	for (i = 0; c->listen != NULL && c->listen[i] != NULL; i++) {
		if (listen_parse(c->listen[i], &addr, &err) == 0)
			continue;
		config_pos_push(pos, "listen", 0);
		config_pos_push(pos, NULL, (int)i);
		config_pos_error(pos, "%s", err);
		config_pos_pop(pos);
		config_pos_pop(pos);
		free(err);
	}
	config_pos_str(pos, root, "state_dir", &c->state_dir);
	config_pos_int(pos, root, "retention_s", 0, INT64_MAX / 2000,
	    &c->retention_s);
	config_pos_int(pos, root, "shutdown_grace_ms", 0, 3600000,
	    &c->shutdown_grace_ms);
	if (config_pos_str(pos, root, "on_shutdown", &s) > 0) {
		if (strcmp(s, "keep") == 0)
			c->on_shutdown = ON_SHUTDOWN_KEEP;
		else if (strcmp(s, "cancel") == 0)
			c->on_shutdown = ON_SHUTDOWN_CANCEL;
		else {
			config_pos_push(pos, "on_shutdown", 0);
			config_pos_error(pos, "must be \"keep\" or \"cancel\"");
			config_pos_pop(pos);
		}
	}
	free(s);
}

/* The whole file, NUL-terminated (to free); NULL with errno set. */
static char *
config_read(const char *file, size_t *len)
{
	FILE *f = fopen(file, "r");
	char *text = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	*len = 0;
	do {
		text = xrealloc(text, *len + 65536 + 1);
		n = fread(text + *len, 1, 65536, f);
		*len += n;
	} while (n > 0);
	text[*len] = '\0';
	fclose(f);
	return text;
}

/* Check the parsed file and read it into c. */
static void
config_root(struct config_pos *pos, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"listen", "state_dir", "retention_s", "shutdown_grace_ms",
		"on_shutdown", "auth", "limits", "jobs", NULL
	};

	if (!json_is_object(root)) {
		config_pos_error(pos, "the file must hold a JSON object");
		return;
	}
	config_pos_only(pos, root, keys);
	config_top(pos, c, root);
	config_limits(pos, c, root);
	config_auth(pos, c, root);
	config_jobs(pos, c, root);
}

/* Parse and check file's text into c; its errors (to free) or NULL. */
static char *
config_parse(const char *file, struct config *c)
{
	struct config_pos *pos;
	json_error_t jerr;
	json_t *root;
	size_t len = 0;
	char *text = config_read(file, &len), *errors;
	int read_errno = errno;

	pos = config_pos_new(file, text, len);
	if (text == NULL)
		config_pos_error(pos, "%s", strerror(read_errno));
	else if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL)
		config_pos_json_error(pos, &jerr);
	else {
		config_root(pos, c, root);
		json_decref(root);
	}
	errors = config_pos_end(pos);
	free(text);
	return errors;
}

/*
 * Read and check a config file (NULL: defaults only). Returns the new
 * config, or NULL with every problem, one per line, in *errors (to free).
 */
struct config *
config_load(const char *file, char **errors)
{
	struct config *c = xcalloc(1, sizeof *c);

	config_defaults(c);
	*errors = NULL;
	if (file == NULL || (*errors = config_parse(file, c)) == NULL)
		return c;
	config_free(c);
	return NULL;
}
