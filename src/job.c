/*
 * job.c -- jobs: what a command task runs. A job's life (shared by
 * reference between the config that defines it and the tasks running it),
 * checking its definition in the config, and the one grammar of its argv
 * templates, used to check them (config) and to fill them in at spawn
 * time (kind-command.c).
 *
 * The grammar of a template element: "{name}" is a placeholder for the
 * argument name, "{task_id}" for the task's id; "{{" and "}}" stand for
 * "{" and "}"; everything else is itself. Each element becomes exactly one
 * argument (no shell), except that an element that is only "{name}" is
 * left out when that (optional) argument is not given; a placeholder
 * inside other text is then empty.
 */

#include "evtaskd.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define JOB_NAME_MAX	64
#define JOB_NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789_.-"
#define JOB_ARG_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_"
#define JOB_DESCRIPTION_MAX	1024
#define JOB_OUTPUT_DEFAULT	(16 * 1024 * 1024)
#define JOB_MEMORY_MIN		(1024 * 1024)
#define JOB_PIDS_MAX		4194304		/* the kernel's PID_MAX_LIMIT */
#define JOB_CPU_WEIGHT_MAX	10000

/* What job_piece found. */
enum job_piece {
	JOB_PIECE_END,
	JOB_PIECE_TEXT,		/* literal text */
	JOB_PIECE_NAME,		/* a placeholder's name */
	JOB_PIECE_UNCLOSED,	/* a '{' without '}' (as text: itself) */
};

/* --- the template grammar ------------------------------------------------- */

/* The piece of a template element at *p (text or name in *s, *len). */
static enum job_piece
job_piece(const char **p, const char **s, size_t *len)
{
	const char *q = *p, *close;

	*s = q;
	*len = 1;
	*p = q + 1;
	if (*q == '\0') {
		*p = q;
		return JOB_PIECE_END;
	}
	if ((q[0] == '{' || q[0] == '}') && q[1] == q[0]) {
		*p = q + 2;		/* one brace for two */
		return JOB_PIECE_TEXT;
	}
	if (q[0] != '{') {
		*len += strcspn(q + 1, "{}");
		*p = q + *len;
		return JOB_PIECE_TEXT;
	}
	if ((close = strchr(q, '}')) == NULL)
		return JOB_PIECE_UNCLOSED;
	*s = q + 1;
	*len = (size_t)(close - q - 1);
	*p = close + 1;
	return JOB_PIECE_NAME;
}

/* Is name (len bytes) "task_id"? */
static int
job_is_task_id(const char *name, size_t len)
{
	return len == 7 && strncmp(name, "task_id", 7) == 0;
}

/* The value of placeholder name, or NULL if it is not given. */
static const char *
job_value(const char *name, size_t len, const char *task_id, json_t *args)
{
	json_t *v;

	if (job_is_task_id(name, len))
		return task_id;
	v = json_object_getn(args, name, len);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* One template element with its placeholders filled; NULL: leave it out. */
static char *
job_expand(const char *tmpl, const char *task_id, json_t *args)
{
	struct buf b = { NULL, 0, 0 };
	const char *p = tmpl, *s, *v;
	enum job_piece k;
	size_t len;

	while ((k = job_piece(&p, &s, &len)) != JOB_PIECE_END) {
		if (k != JOB_PIECE_NAME)
			buf_add(&b, s, len);
		else if ((v = job_value(s, len, task_id, args)) != NULL)
			buf_adds(&b, v);
		else if (s == tmpl + 1 && *p == '\0') {
			free(b.data);	/* "{opt}" alone, opt not given */
			return NULL;
		}
	}
	return buf_steal(&b, NULL);
}

/*
 * The arguments of a template (a job's argv or cleanup_argv) for a task
 * and its args: NULL-terminated, to free with xstrv_free.
 */
char **
job_argv(char *const *tmpl, const char *task_id, json_t *args)
{
	char **argv;
	size_t i, n = 0;

	for (i = 0; tmpl[i] != NULL; i++)
		;
	argv = xcalloc(i + 1, sizeof *argv);
	for (i = 0; tmpl[i] != NULL; i++) {
		if ((argv[n] = job_expand(tmpl[i], task_id, args)) != NULL)
			n++;
	}
	return argv;
}

/* One template (a concurrency key) filled in for a task (to free). */
char *
job_fill(const char *tmpl, const char *task_id, json_t *args)
{
	char *v = job_expand(tmpl, task_id, args);

	return v != NULL ? v : xstrdup("");
}

static const char *const job_conflict_names[] = {
	[CONFLICT_QUEUE] = "queue",
	[CONFLICT_REPLACE] = "replace",
	[CONFLICT_REJECT] = "reject",
};

/* on_conflict by name (-1: unknown), and its name. */
int
job_conflict_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof job_conflict_names / sizeof *job_conflict_names;
	    i++) {
		if (strcmp(job_conflict_names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

const char *
job_conflict_name(int how)
{
	return job_conflict_names[how];
}

/* --- checking a definition ------------------------------------------------ */

/* Is name a placeholder this job can fill ({task_id} or one of its args)? */
static int
job_placeholder_ok(const struct job *j, const char *name, size_t len)
{
	size_t i;

	if (job_is_task_id(name, len))
		return 1;
	for (i = 0; i < j->nargs; i++) {
		if (strlen(j->args[i].name) == len &&
		    strncmp(j->args[i].name, name, len) == 0)
			return 1;
	}
	return 0;
}

/* Check element i of a template (pos is at it). */
static void
job_check_element(struct config_pos *pos, const struct job *j,
    const char *tmpl, size_t i)
{
	const char *p = tmpl, *s;
	enum job_piece k;
	size_t len;

	if (i == 0 && tmpl[0] != '/')
		config_pos_error(pos, "argv[0] must be an absolute path");
	while ((k = job_piece(&p, &s, &len)) != JOB_PIECE_END) {
		if (k == JOB_PIECE_UNCLOSED) {
			config_pos_error(pos, "'{' without '}' (write {{ for a "
			    "brace)");
			return;
		}
		if (k == JOB_PIECE_NAME && !job_placeholder_ok(j, s, len))
			config_pos_error(pos, "{%.*s} names no argument of "
			    "this job", (int)len, s);
	}
}

/* Check every element of the template in member key. */
static void
job_check_template(struct config_pos *pos, const struct job *j,
    char **tmpl, const char *key)
{
	size_t i;

	config_pos_push(pos, key, 0);
	for (i = 0; tmpl[i] != NULL; i++) {
		config_pos_push(pos, NULL, (int)i);
		job_check_element(pos, j, tmpl[i], i);
		config_pos_pop(pos);
	}
	config_pos_pop(pos);
}

/* A job's default retry policy (CONTRACT §8). */
static void
job_parse_retry(struct config_pos *pos, struct job *j, json_t *def)
{
	static const char *const keys[] = {
		"max_attempts", "backoff_ms", "max_backoff_ms", "jitter", NULL
	};
	json_t *r = config_pos_obj(pos, def, "retry");
	struct retry_policy *p = &j->retry;
	int64_t n = 0;

	if (r == NULL)
		return;
	config_pos_push(pos, "retry", 0);
	config_pos_only(pos, r, keys);
	if (json_object_get(r, "max_attempts") == NULL)
		config_pos_error(pos, "needs \"max_attempts\" (1-%d)",
		    RETRY_MAX_ATTEMPTS);
	config_pos_int(pos, r, "max_attempts", 1, RETRY_MAX_ATTEMPTS, &n);
	p->backoff_ms = 1000;
	p->max_backoff_ms = 300000;
	config_pos_int(pos, r, "backoff_ms", 0, 86400000, &p->backoff_ms);
	config_pos_int(pos, r, "max_backoff_ms", 0, 86400000,
	    &p->max_backoff_ms);
	if (p->max_backoff_ms < p->backoff_ms)
		config_pos_error(pos, "max_backoff_ms is below backoff_ms");
	p->jitter = json_object_get(r, "jitter") == NULL ||
	    config_pos_bool(pos, r, "jitter");
	p->max_attempts = (int)n;
	config_pos_pop(pos);
}

/* A job's concurrency key template and on_conflict. */
static void
job_parse_key(struct config_pos *pos, struct job *j, json_t *def)
{
	char *name = NULL;

	if (config_pos_str(pos, def, "concurrency_key", &j->concurrency_key)
	    > 0) {
		config_pos_push(pos, "concurrency_key", 0);
		job_check_element(pos, j, j->concurrency_key, 1);
		config_pos_pop(pos);
	}
	if (config_pos_str(pos, def, "on_conflict", &name) <= 0)
		return;
	if ((j->on_conflict = job_conflict_parse(name)) < 0) {
		config_pos_push(pos, "on_conflict", 0);
		config_pos_error(pos, "must be queue, replace or reject");
		config_pos_pop(pos);
	}
	free(name);
}

/* Compile an arg's pattern, anchored: it must match the whole value. */
static void
job_compile_arg(struct config_pos *pos, struct job_arg *a)
{
	char *anchored, err[128];
	int rc;

	anchored = xasprintf("^(%s)$", a->pattern);
	rc = regcomp(&a->re, anchored, REG_EXTENDED | REG_NOSUB);
	free(anchored);
	if (rc == 0) {
		a->compiled = 1;
		return;
	}
	regerror(rc, &a->re, err, sizeof err);
	config_pos_push(pos, "pattern", 0);
	config_pos_error(pos, "bad regular expression: %s", err);
	config_pos_pop(pos);
	free(a->pattern);
	a->pattern = NULL;
}

/*
 * A "description": a string of at most JOB_DESCRIPTION_MAX bytes (UTF-8,
 * since the file is JSON) into *out; left NULL if absent or refused.
 */
static void
job_parse_description(struct config_pos *pos, json_t *def, char **out)
{
	if (config_pos_str(pos, def, "description", out) <= 0 ||
	    strlen(*out) <= JOB_DESCRIPTION_MAX)
		return;
	config_pos_push(pos, "description", 0);
	config_pos_error(pos, "must be at most %d bytes", JOB_DESCRIPTION_MAX);
	config_pos_pop(pos);
	free(*out);
	*out = NULL;
}

/* One entry of a job's "args": {"pattern": "...", "required": true}. */
static void
job_parse_arg(struct config_pos *pos, struct job_arg *a, const char *name,
    json_t *def)
{
	static const char *const keys[] = {
		"pattern", "required", "description", NULL
	};

	a->name = xstrdup(name);
	config_pos_push(pos, name, 0);
	if (!json_is_object(def)) {
		config_pos_error(pos, "must be an object");
		config_pos_pop(pos);
		return;
	}
	config_pos_only(pos, def, keys);
	if (config_pos_str(pos, def, "pattern", &a->pattern) > 0)
		job_compile_arg(pos, a);
	else if (json_object_get(def, "pattern") == NULL)
		config_pos_error(pos, "needs a \"pattern\"");
	a->required = config_pos_bool(pos, def, "required");
	job_parse_description(pos, def, &a->description);
	config_pos_pop(pos);
}

/* Is name good for an argument (and not task_id)? */
static int
job_arg_name_ok(const char *name)
{
	return *name != '\0' && strcmp(name, "task_id") != 0 &&
	    strspn(name, JOB_ARG_CHARS) == strlen(name);
}

/* A job's "args" object. */
static void
job_parse_args(struct config_pos *pos, struct job *j, json_t *def)
{
	json_t *args = config_pos_obj(pos, def, "args"), *v;
	const char *name;

	if (args == NULL)
		return;
	config_pos_push(pos, "args", 0);
	j->args = xcalloc(json_object_size(args) + 1, sizeof *j->args);
	json_object_foreach(args, name, v) {
		if (job_arg_name_ok(name)) {
			job_parse_arg(pos, &j->args[j->nargs++], name, v);
			continue;
		}
		config_pos_push(pos, name, 0);
		config_pos_error(pos, "argument names use a-z, 0-9 and _ "
		    "(task_id is taken)");
		config_pos_pop(pos);
	}
	config_pos_pop(pos);
}

/* A job's "env": {"NAME": "value"} into "NAME=value" strings. */
static void
job_parse_env(struct config_pos *pos, struct job *j, json_t *def)
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
job_parse_signal(struct config_pos *pos, struct job *j, json_t *def)
{
	char *name = NULL;

	if (config_pos_str(pos, def, "kill_signal", &name) <= 0)
		return;
	j->kill_signal = signame_parse(name);
	if (j->kill_signal < 0) {
		config_pos_push(pos, "kill_signal", 0);
		config_pos_error(pos, "unknown signal '%s' (TERM, INT, HUP, "
		    "QUIT, KILL, USR1, USR2, ALRM)", name);
		config_pos_pop(pos);
		j->kill_signal = SIGTERM;
	}
	free(name);
}

/* A job's argv and cleanup_argv, each checked against the grammar. */
static void
job_parse_argvs(struct config_pos *pos, struct job *j, json_t *def)
{
	j->argv = config_pos_strv(pos, def, "argv");
	if (j->argv == NULL && json_object_get(def, "argv") == NULL)
		config_pos_error(pos, "needs an \"argv\"");
	if (j->argv != NULL)
		job_check_template(pos, j, j->argv, "argv");
	j->cleanup_argv = config_pos_strv(pos, def, "cleanup_argv");
	if (j->cleanup_argv != NULL)
		job_check_template(pos, j, j->cleanup_argv, "cleanup_argv");
}

/* A job's times and slots. */
static void
job_parse_limits(struct config_pos *pos, struct job *j, json_t *def)
{
	int64_t n = 0;

	config_pos_int(pos, def, "timeout_ms", 1, INT64_MAX / 2,
	    &j->timeout_ms);
	config_pos_int(pos, def, "kill_grace_ms", 0, 3600000,
	    &j->kill_grace_ms);
	config_pos_int(pos, def, "cleanup_timeout_ms", 1, 86400000,
	    &j->cleanup_timeout_ms);
	config_pos_int(pos, def, "max_concurrent", 1, 1000000, &n);
	j->max_concurrent = (unsigned)n;
	n = (int64_t)j->max_output_bytes;
	config_pos_int(pos, def, "max_output_bytes", CONFIG_OUTPUT_MIN,
	    CONFIG_OUTPUT_MAX, &n);
	j->max_output_bytes = (size_t)n;	/* clamped by config.c */
}

/* A job's "resources" (enforced through its task's cgroup). */
static void
job_parse_resources(struct config_pos *pos, struct job *j, json_t *def)
{
	static const char *const keys[] = {
		"memory_max_bytes", "pids_max", "cpu_weight", NULL
	};
	json_t *r = config_pos_obj(pos, def, "resources");
	struct job_resources *res = &j->resources;
	int64_t n = 0;

	if (r == NULL)
		return;
	config_pos_push(pos, "resources", 0);
	config_pos_only(pos, r, keys);
	config_pos_int(pos, r, "memory_max_bytes", JOB_MEMORY_MIN, INT64_MAX,
	    &res->memory_max_bytes);
	config_pos_int(pos, r, "pids_max", 1, JOB_PIDS_MAX, &res->pids_max);
	config_pos_int(pos, r, "cpu_weight", 1, JOB_CPU_WEIGHT_MAX, &n);
	res->cpu_weight = (int)n;
	config_pos_pop(pos);
}

/* A new job called name with the documented defaults, one reference. */
static struct job *
job_new(const char *name)
{
	struct job *j = xcalloc(1, sizeof *j);

	j->refs = 1;
	j->name = xstrdup(name);
	j->timeout_ms = TASK_TIME_NONE;
	j->kill_signal = SIGTERM;
	j->kill_grace_ms = 5000;
	j->cleanup_timeout_ms = 30000;
	j->working_dir = xstrdup("/");
	j->max_output_bytes = JOB_OUTPUT_DEFAULT;
	j->on_conflict = -1;
	return j;
}

/*
 * The job called name defined by def (pos is at the "jobs" object). Always
 * returns a job (one reference); its mistakes are recorded in pos.
 */
struct job *
job_parse(struct config_pos *pos, const char *name, json_t *def)
{
	static const char *const keys[] = {
		"argv", "args", "timeout_ms", "kill_signal", "kill_grace_ms",
		"cleanup_argv", "cleanup_timeout_ms", "max_concurrent",
		"working_dir", "env", "description", "max_output_bytes",
		"resources", "retry", "concurrency_key", "on_conflict", NULL
	};
	struct job *j = job_new(name);

	config_pos_push(pos, name, 0);
	if (strlen(name) > JOB_NAME_MAX || *name == '\0' ||
	    strspn(name, JOB_NAME_CHARS) != strlen(name))
		config_pos_error(pos, "job names are 1-64 of A-Z a-z 0-9 "
		    "_ . -");
	if (!json_is_object(def)) {
		config_pos_error(pos, "must be an object");
		config_pos_pop(pos);
		return j;
	}
	config_pos_only(pos, def, keys);
	job_parse_args(pos, j, def);
	job_parse_argvs(pos, j, def);
	job_parse_limits(pos, j, def);
	job_parse_signal(pos, j, def);
	config_pos_abspath(pos, def, "working_dir", &j->working_dir);
	job_parse_env(pos, j, def);
	job_parse_description(pos, def, &j->description);
	job_parse_resources(pos, j, def);
	job_parse_retry(pos, j, def);
	job_parse_key(pos, j, def);
	config_pos_pop(pos);
	return j;
}

/* --- life ----------------------------------------------------------------- */

/* Take a reference to a job (a task that runs it). */
struct job *
job_ref(struct job *j)
{
	j->refs++;
	return j;
}

/* Free a job: its args, templates, environment, then itself. */
static void
job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->nargs; i++) {
		free(j->args[i].name);
		free(j->args[i].pattern);
		free(j->args[i].description);
		regfree(&j->args[i].re);
	}
	free(j->args);
	xstrv_free(j->argv);
	xstrv_free(j->cleanup_argv);
	xstrv_free(j->env);
	free(j->working_dir);
	free(j->description);
	free(j->concurrency_key);
	free(j->name);
	free(j);
}

/* Drop a reference; the last one frees the job. */
void
job_unref(struct job *j)
{
	if (j != NULL && --j->refs <= 0)
		job_free(j);
}
