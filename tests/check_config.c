/* check_config.c -- the config file: defaults, every key, jobs, and errors
 * with their file, line, column and key path. */

#include "evtaskd.h"
#include "check_main.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fixture: no running configuration before or after a test. */
static void
setup(void)
{
	config_set(NULL);
}

static void
teardown(void)
{
	config_set(NULL);
}

/* Write text into a new temporary file; its path (to free, to unlink). */
static char *
write_temp(const char *text)
{
	char *path = xstrdup("/tmp/evtaskd-check_config.XXXXXX");
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	while (off < len) {
		n = write(fd, text + off, len - off);
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
	ck_assert_int_eq(close(fd), 0);
	return path;
}

/* Load text: it must be accepted. Returns the config (to free). */
static struct config *
load_ok(const char *text)
{
	char *path = write_temp(text), *errors = NULL;
	struct config *c = config_load(path, &errors);

	unlink(path);
	free(path);
	ck_assert_msg(c != NULL, "refused:\n%s", errors);
	ck_assert_ptr_null(errors);
	return c;
}

/* How many lines of errors start with prefix? */
static int
count_prefix(const char *errors, const char *prefix)
{
	const char *p = errors;
	int n = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return n;
}

/* The number of lines in errors (each ends with a newline). */
static int
count_lines(const char *errors)
{
	int n = 0;

	for (; *errors != '\0'; errors++) {
		if (*errors == '\n')
			n++;
	}
	return n;
}

/*
 * Load text: it must be refused, with one line for each of the NULL-ended
 * list of "LINE:COL: key.path: " (after "FILE:") and nothing else. The
 * checks run after the cleanup, so that a failure leaks nothing.
 */
static void
expect_errors(const char *text, const char *const *where)
{
	static char fail[8192];
	char *path = write_temp(text), *errors = NULL, *want;
	struct config *c = config_load(path, &errors);
	int n = 0;

	fail[0] = '\0';
	unlink(path);
	if (c != NULL || errors == NULL)
		snprintf(fail, sizeof fail, "accepted:\n%s", text);
	for (; fail[0] == '\0' && *where != NULL; where++, n++) {
		want = xasprintf("%s:%s", path, *where);
		if (count_prefix(errors, want) != 1)
			snprintf(fail, sizeof fail, "want '%s' once in:\n%s",
			    want, errors);
		free(want);
	}
	if (fail[0] == '\0' && count_lines(errors) != n)
		snprintf(fail, sizeof fail, "%d lines wanted in:\n%s", n,
		    errors);
	if (fail[0] == '\0' && errors[strlen(errors) - 1] != '\n')
		snprintf(fail, sizeof fail, "no final newline:\n%s", errors);
	config_free(c);
	free(path);
	free(errors);
	ck_assert_msg(fail[0] == '\0', "%s", fail);
}

/* The same for one error. */
static void
expect_error(const char *text, const char *where)
{
	const char *list[] = { where, NULL };

	expect_errors(text, list);
}

/* Does the compiled pattern of job arg i match value? */
static int
arg_matches(const struct job *j, size_t i, const char *value)
{
	ck_assert(j->args[i].compiled);
	return regexec(&j->args[i].re, value, 0, NULL, 0) == 0;
}

/* The arg of a job called name, or NULL. */
static const struct job_arg *
find_arg(const struct job *j, const char *name)
{
	size_t i;

	for (i = 0; i < j->nargs; i++) {
		if (strcmp(j->args[i].name, name) == 0)
			return &j->args[i];
	}
	return NULL;
}

/* No file: the defaults of the contract, no error. */
START_TEST(test_defaults)
{
	static char untouched[] = "untouched";
	char *errors = untouched;
	struct config *c = config_load(NULL, &errors);

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(errors);
	ck_assert_ptr_null(c->listen);
	ck_assert_ptr_null(c->state_dir);
	ck_assert_int_eq(c->retention_s, 86400);
	ck_assert_ptr_null(c->store);
	ck_assert_ptr_null(c->node);
	ck_assert_int_eq(c->lease_ms, 10000);
	ck_assert_int_eq(c->shutdown_grace_ms, 10000);
	ck_assert_int_eq(c->on_shutdown, ON_SHUTDOWN_KEEP);
	ck_assert_ptr_null(c->token_file);
	ck_assert_ptr_null(c->token);
	ck_assert_int_eq(c->metrics_public, 0);
	ck_assert_uint_eq(c->max_active_tasks, 1000000);
	ck_assert_int_eq(c->max_duration_ms, 31536000000LL);
	ck_assert_uint_eq(c->max_metadata_bytes, 16384);
	ck_assert_uint_eq(c->http.max_body_bytes, 65536);
	ck_assert_uint_eq(c->http.max_connections, 10000);
	ck_assert_uint_eq(c->http.max_connections_per_ip, 1000);
	ck_assert_uint_eq(c->http.connection_timeout_s, 30);
	ck_assert_int_eq(c->isolation, ISOLATION_AUTO);
	ck_assert_uint_eq(c->max_output_bytes, 268435456);
	ck_assert_uint_eq(c->njobs, 0);
	config_free(c);
}
END_TEST

/* An empty object is the defaults too. */
START_TEST(test_empty_object)
{
	struct config *c = load_ok("{}\n");
	struct config d;

	config_defaults(&d);
	ck_assert_int_eq(c->retention_s, d.retention_s);
	ck_assert_uint_eq(c->max_active_tasks, d.max_active_tasks);
	ck_assert_uint_eq(c->http.max_body_bytes, d.http.max_body_bytes);
	ck_assert_uint_eq(c->njobs, 0);
	config_free(c);
}
END_TEST

/* Every top-level key and every limit is read. */
START_TEST(test_every_limit)
{
	struct config *c = load_ok(
	    "{\n"
	    "  \"listen\": [\"127.0.0.1:9000\", \"[::1]:9001\", "
	    "\"unix:/run/evtaskd.sock\"],\n"
	    "  \"state_dir\": \"/var/lib/x\",\n"
	    "  \"retention_s\": 0,\n"
	    "  \"shutdown_grace_ms\": 2500,\n"
	    "  \"on_shutdown\": \"cancel\",\n"
	    "  \"isolation\": \"process_group\",\n"
	    "  \"auth\": {\"token_file\": \"/etc/x/token\", "
	    "\"metrics_public\": true},\n"
	    "  \"limits\": {\"max_active_tasks\": 7, "
	    "\"max_body_bytes\": 2048,\n"
	    "             \"max_connections\": 11, "
	    "\"max_connections_per_ip\": 3,\n"
	    "             \"connection_timeout_s\": 9, "
	    "\"max_duration_ms\": 123456,\n"
	    "             \"max_output_bytes\": 4096}\n"
	    "}\n");

	ck_assert_ptr_nonnull(c->listen);
	ck_assert_str_eq(c->listen[0], "127.0.0.1:9000");
	ck_assert_str_eq(c->listen[1], "[::1]:9001");
	ck_assert_str_eq(c->listen[2], "unix:/run/evtaskd.sock");
	ck_assert_ptr_null(c->listen[3]);
	ck_assert_str_eq(c->state_dir, "/var/lib/x");
	ck_assert_int_eq(c->retention_s, 0);
	ck_assert_int_eq(c->shutdown_grace_ms, 2500);
	ck_assert_int_eq(c->on_shutdown, ON_SHUTDOWN_CANCEL);
	ck_assert_str_eq(c->token_file, "/etc/x/token");
	ck_assert_ptr_null(c->token);		/* read by token_read */
	ck_assert_int_eq(c->metrics_public, 1);
	ck_assert_uint_eq(c->max_active_tasks, 7);
	ck_assert_uint_eq(c->http.max_body_bytes, 2048);
	ck_assert_uint_eq(c->http.max_connections, 11);
	ck_assert_uint_eq(c->http.max_connections_per_ip, 3);
	ck_assert_uint_eq(c->http.connection_timeout_s, 9);
	ck_assert_int_eq(c->max_duration_ms, 123456);
	ck_assert_int_eq(c->isolation, ISOLATION_PROCESS_GROUP);
	ck_assert_uint_eq(c->max_output_bytes, 4096);
	ck_assert_uint_eq(c->njobs, 0);
	config_free(c);
}
END_TEST

/* on_shutdown "keep" is read too (not just left at the default). */
START_TEST(test_on_shutdown_keep)
{
	struct config *c = load_ok("{\"on_shutdown\": \"keep\"}");

	ck_assert_int_eq(c->on_shutdown, ON_SHUTDOWN_KEEP);
	config_free(c);
}
END_TEST

/* Each isolation mode is read, and named back. */
static const struct {
	const char	*name;
	enum isolation	 mode;
} check_config_isolations[] = {
	{ "auto", ISOLATION_AUTO },
	{ "cgroup", ISOLATION_CGROUP },
	{ "process_group", ISOLATION_PROCESS_GROUP },
};

START_TEST(test_isolation)
{
	const char *name = check_config_isolations[_i].name;
	char *text = xasprintf("{\"isolation\": \"%s\"}", name);
	struct config *c = load_ok(text);

	free(text);
	ck_assert_int_eq(c->isolation, check_config_isolations[_i].mode);
	ck_assert_str_eq(config_isolation_name(c->isolation), name);
	config_free(c);
}
END_TEST

/*
 * A job's max_output_bytes never exceeds limits.max_output_bytes, even
 * when the limits come after the jobs in the file: an explicit value is
 * clamped (with a warning), so is the default; a smaller one is kept.
 */
START_TEST(test_job_output_clamped)
{
	struct config *c = load_ok(
	    "{\"jobs\": {\n"
	    "  \"big\": {\"argv\": [\"/bin/true\"], "
	    "\"max_output_bytes\": 1048576},\n"
	    "  \"dflt\": {\"argv\": [\"/bin/true\"]},\n"
	    "  \"small\": {\"argv\": [\"/bin/true\"], "
	    "\"max_output_bytes\": 4096}},\n"
	    " \"limits\": {\"max_output_bytes\": 65536}}\n");

	ck_assert_uint_eq(c->max_output_bytes, 65536);
	ck_assert_uint_eq(c->jobs[0]->max_output_bytes, 65536);
	ck_assert_uint_eq(c->jobs[1]->max_output_bytes, 65536);
	ck_assert_uint_eq(c->jobs[2]->max_output_bytes, 4096);
	config_free(c);
	/* the default limit is above the default job cap: nothing clamped */
	c = load_ok("{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"]}, "
	    "\"b\": {\"argv\": [\"/bin/true\"], "
	    "\"max_output_bytes\": 268435456}}}");
	ck_assert_uint_eq(c->jobs[0]->max_output_bytes, 16777216);
	ck_assert_uint_eq(c->jobs[1]->max_output_bytes, 268435456);
	config_free(c);
}
END_TEST

/* A name for every mode, and for a value out of range. */
START_TEST(test_isolation_names)
{
	ck_assert_str_eq(config_isolation_name(ISOLATION_AUTO), "auto");
	ck_assert_str_eq(config_isolation_name(ISOLATION_CGROUP), "cgroup");
	ck_assert_str_eq(config_isolation_name(ISOLATION_PROCESS_GROUP),
	    "process_group");
	ck_assert_str_eq(config_isolation_name((enum isolation)99), "auto");
}
END_TEST

/* A full job: argv, args, signal, times, cleanup, slots, dir, env. */
START_TEST(test_job_full)
{
	struct config *c = load_ok(
	    "{\"jobs\": {\"backup\": {\n"
	    "  \"argv\": [\"/usr/bin/backup\", \"--target\", \"{target}\", "
	    "\"{level}\"],\n"
	    "  \"args\": {\"target\": {\"pattern\": \"[a-z0-9-]{1,8}\", "
	    "\"required\": true},\n"
	    "           \"level\": {\"pattern\": \"^[0-9]$\", "
	    "\"required\": false}},\n"
	    "  \"timeout_ms\": 600000, \"kill_signal\": \"TERM\", "
	    "\"kill_grace_ms\": 250,\n"
	    "  \"cleanup_argv\": [\"/usr/bin/backup-cleanup\", "
	    "\"{task_id}\"],\n"
	    "  \"cleanup_timeout_ms\": 3000, \"max_concurrent\": 2,\n"
	    "  \"working_dir\": \"/srv\", \"env\": {\"LANG\": \"C.UTF-8\", "
	    "\"X\": \"a=b c\"}\n"
	    "}}}\n");
	const struct job *j;
	const struct job_arg *a;

	ck_assert_uint_eq(c->njobs, 1);
	j = c->jobs[0];
	ck_assert_str_eq(j->name, "backup");
	ck_assert_int_eq(j->refs, 1);
	ck_assert_str_eq(j->argv[0], "/usr/bin/backup");
	ck_assert_str_eq(j->argv[1], "--target");
	ck_assert_str_eq(j->argv[2], "{target}");
	ck_assert_str_eq(j->argv[3], "{level}");
	ck_assert_ptr_null(j->argv[4]);
	ck_assert_uint_eq(j->nargs, 2);
	a = find_arg(j, "target");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->required, 1);
	ck_assert_str_eq(a->pattern, "[a-z0-9-]{1,8}");
	a = find_arg(j, "level");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->required, 0);
	ck_assert_int_eq(j->timeout_ms, 600000);
	ck_assert_int_eq(j->kill_signal, SIGTERM);
	ck_assert_int_eq(j->kill_grace_ms, 250);
	ck_assert_str_eq(j->cleanup_argv[0], "/usr/bin/backup-cleanup");
	ck_assert_str_eq(j->cleanup_argv[1], "{task_id}");
	ck_assert_ptr_null(j->cleanup_argv[2]);
	ck_assert_int_eq(j->cleanup_timeout_ms, 3000);
	ck_assert_uint_eq(j->max_concurrent, 2);
	ck_assert_str_eq(j->working_dir, "/srv");
	ck_assert_str_eq(j->env[0], "LANG=C.UTF-8");
	ck_assert_str_eq(j->env[1], "X=a=b c");
	ck_assert_ptr_null(j->env[2]);
	config_free(c);
}
END_TEST

/* The patterns match whole values only. */
START_TEST(test_job_patterns_anchored)
{
	struct config *c = load_ok(
	    "{\"jobs\": {\"j\": {\"argv\": [\"/bin/true\"], \"args\": {\n"
	    "  \"a\": {\"pattern\": \"[a-z]+\"},\n"
	    "  \"b\": {\"pattern\": \"x|y\"},\n"
	    "  \"c\": {\"pattern\": \"^[0-9]{1,3}$\"}}}}}\n");
	const struct job *j = c->jobs[0];
	size_t a = (size_t)(find_arg(j, "a") - j->args);
	size_t b = (size_t)(find_arg(j, "b") - j->args);
	size_t n = (size_t)(find_arg(j, "c") - j->args);

	ck_assert(arg_matches(j, a, "abc"));
	ck_assert(!arg_matches(j, a, "abc1"));
	ck_assert(!arg_matches(j, a, "1abc"));
	ck_assert(!arg_matches(j, a, "ab c"));
	ck_assert(!arg_matches(j, a, ""));
	ck_assert(arg_matches(j, b, "x"));
	ck_assert(arg_matches(j, b, "y"));
	ck_assert(!arg_matches(j, b, "xy"));
	ck_assert(!arg_matches(j, b, "ax"));
	ck_assert(!arg_matches(j, b, "ya"));
	ck_assert(arg_matches(j, n, "123"));
	ck_assert(!arg_matches(j, n, "1234"));
	ck_assert(!arg_matches(j, n, "12\n3"));
	config_free(c);
}
END_TEST

/* A job with only argv gets the documented defaults. */
START_TEST(test_job_defaults)
{
	struct config *c = load_ok(
	    "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"]}, "
	    "\"b.c-D_9\": {\"argv\": [\"/bin/false\"], "
	    "\"kill_signal\": \"SIGKILL\"}}}");
	const struct job *j;

	ck_assert_uint_eq(c->njobs, 2);
	j = c->jobs[0];
	ck_assert_str_eq(j->name, "a");
	ck_assert_uint_eq(j->nargs, 0);
	ck_assert(j->timeout_ms == TASK_TIME_NONE);
	ck_assert_int_eq(j->kill_signal, SIGTERM);
	ck_assert_int_eq(j->kill_grace_ms, 5000);
	ck_assert_ptr_null(j->cleanup_argv);
	ck_assert_int_eq(j->cleanup_timeout_ms, 30000);
	ck_assert_uint_eq(j->max_concurrent, 0);
	ck_assert_str_eq(j->working_dir, "/");
	ck_assert(j->env == NULL || j->env[0] == NULL);
	j = c->jobs[1];
	ck_assert_str_eq(j->name, "b.c-D_9");
	ck_assert_int_eq(j->kill_signal, SIGKILL);
	config_free(c);
}
END_TEST

/* A signal's name (with or without SIG) and its number; -1: unknown. */
static const struct {
	const char	*name;
	int		 sig;
} check_config_signals[] = {
	{ "TERM", SIGTERM }, { "SIGTERM", SIGTERM }, { "KILL", SIGKILL },
	{ "SIGKILL", SIGKILL }, { "INT", SIGINT }, { "HUP", SIGHUP },
	{ "QUIT", SIGQUIT }, { "USR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 },
	{ "ALRM", SIGALRM }, { "TERMINATE", -1 }, { "term", -1 },
	{ "SIG", -1 }, { "", -1 }, { "15", -1 }, { "SIGSIGTERM", -1 },
	{ "SEGV", -1 },
};

/* Signal names with and without SIG, and back. */
START_TEST(test_signals)
{
	const char *name = check_config_signals[_i].name;
	int sig = check_config_signals[_i].sig;

	ck_assert_int_eq(signame_parse(name), sig);
	if (sig > 0)
		ck_assert_str_eq(signame_of(sig), name + (strncmp(name, "SIG",
		    3) == 0 ? 3 : 0));
}
END_TEST

/* Numbers without a name. */
START_TEST(test_signals_unnamed)
{
	ck_assert_ptr_null(signame_of(SIGSEGV));
	ck_assert_ptr_null(signame_of(0));
	ck_assert_ptr_null(signame_of(-1));
}
END_TEST

/* config_set makes a config the running one; config_job finds its jobs. */
START_TEST(test_config_set_and_job_lookup)
{
	struct config *c = load_ok(
	    "{\"retention_s\": 5, "
	    "\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"]},"
	    " \"b\": {\"argv\": [\"/bin/false\"]}}}");
	struct config *c2;

	ck_assert_ptr_null(config_job("a"));
	ck_assert_uint_eq(cfg->njobs, 0);
	config_set(c);
	ck_assert_ptr_eq(cfg, c);
	ck_assert_int_eq(cfg->retention_s, 5);
	ck_assert_ptr_eq(config_job("a"), c->jobs[0]);
	ck_assert_ptr_eq(config_job("b"), c->jobs[1]);
	ck_assert_str_eq(config_job("b")->argv[0], "/bin/false");
	ck_assert_ptr_null(config_job("c"));
	ck_assert_ptr_null(config_job("A"));
	ck_assert_ptr_null(config_job(""));
	/* a reload: the new one replaces (and frees) the old one */
	c2 = load_ok("{\"jobs\": {\"c\": {\"argv\": [\"/bin/true\"]}}}");
	config_set(c2);
	ck_assert_ptr_eq(cfg, c2);
	ck_assert_ptr_null(config_job("a"));
	ck_assert_ptr_nonnull(config_job("c"));
	ck_assert_int_eq(cfg->retention_s, 86400);
	config_set(NULL);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(cfg->njobs, 0);
	ck_assert_ptr_null(config_job("c"));
}
END_TEST

/* A reference keeps a job alive after its config is gone. */
START_TEST(test_job_ref_outlives_config)
{
	struct config *c = load_ok(
	    "{\"jobs\": {\"a\": {\"argv\": [\"/bin/echo\", \"{x}\"], "
	    "\"args\": {\"x\": {\"pattern\": \"[a-z]+\"}}, "
	    "\"cleanup_argv\": [\"/bin/true\"], \"env\": {\"A\": \"b\"}}}}");
	struct job *j;

	config_set(c);
	j = job_ref(config_job("a"));
	ck_assert_int_eq(j->refs, 2);
	ck_assert_ptr_eq(job_ref(j), j);
	ck_assert_int_eq(j->refs, 3);
	job_unref(j);
	config_set(NULL);
	ck_assert_ptr_null(config_job("a"));
	ck_assert_int_eq(j->refs, 1);
	ck_assert_str_eq(j->name, "a");
	ck_assert_str_eq(j->argv[1], "{x}");
	ck_assert_str_eq(j->cleanup_argv[0], "/bin/true");
	ck_assert_str_eq(j->env[0], "A=b");
	ck_assert(arg_matches(j, 0, "abc"));
	job_unref(j);		/* the last one: freed (valgrind checks) */
	job_unref(NULL);	/* harmless */
}
END_TEST

/* Every kind of mistake at once: all reported, each at its place. */
START_TEST(test_many_errors_with_places)
{
	static const char *const where[] = {
		"3:3: retension_s: unknown key",
		"4:3: retention_s: must be an integer",
		"7:29: jobs.backup.argv[1]: {target} names no argument",
		"8:25: jobs.backup.args.name.pattern: bad regular expression",
		"9:7: jobs.backup.kill_signal: unknown signal 'TERMINATE'",
		"10:7: jobs.backup.timeot_ms: unknown key",
		"12:22: jobs.rel.argv[0]: argv[0] must be an absolute path",
		NULL
	};

	expect_errors(
	    "{\n"
	    "  \"listen\": [\"127.0.0.1:0\"],\n"
	    "  \"retension_s\": 10,\n"
	    "  \"retention_s\": \"60\",\n"
	    "  \"jobs\": {\n"
	    "    \"backup\": {\n"
	    "      \"argv\": [\"/bin/echo\", \"{target}\"],\n"
	    "      \"args\": {\"name\": {\"pattern\": \"a(b\"}},\n"
	    "      \"kill_signal\": \"TERMINATE\",\n"
	    "      \"timeot_ms\": 5\n"
	    "    },\n"
	    "    \"rel\": {\"argv\": [\"bin/echo\"]}\n"
	    "  }\n"
	    "}\n", where);
}
END_TEST

/*
 * A config text and the one error it must give ("LINE:COL: key.path: "
 * and the start of the message, after "FILE:"), or NULL: accepted.
 */
struct check_config_row {
	const char	*text;
	const char	*where;
};

static const struct check_config_row check_config_rows[] = {
	/* Accepted. */
	{ "{}\n", NULL },
	{ "{\"jobs\": {}, \"listen\": [\"unix:/run/x.sock\"]}", NULL },
	{ "{\"retention\\u005fs\": 5}", NULL },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/echo\", \"{{literal}}\", "
	    "\"{task_id}\", \"}\"]}}}", NULL },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/echo\", \"--n={n}\"], "
	    "\"args\": {\"n\": {\"pattern\": \"[0-9]+\", \"required\": "
	    "false}}}}}", NULL },
	/* The PostgreSQL store (CONTRACT §12). */
	{ "{\"store\": \"postgresql://u@db/x\", \"node\": \"n-1\","
	    " \"lease_ms\": 1000}", NULL },
	{ "{\"store\": \"postgres://db/x\", \"lease_ms\": 600000}", NULL },
	{ "{\n\"store\": \"sqlite:///x\"}",
	    "2:1: store: must be a postgresql:// URI" },
	{ "{\"store\": 5}", "1:2: store: must be a string" },
	{ "{\"node\": \"\"}", "1:2: node: must be 1 to 63 characters" },
	{ "{\"node\": \"a b\"}",
	    "1:2: node: must be printable ASCII without spaces" },
	{ "{\"lease_ms\": 999}", "1:2: lease_ms: must be between 1000 and 600000" },
	{ "{\"lease_ms\": 600001}",
	    "1:2: lease_ms: must be between 1000 and 600000" },
	/* A misspelled top-level key, on the first line and after others. */
	{ "{\"jobz\": {}}",
	    "1:2: jobz: unknown key" },
	{ "{\n\t\"retention_s\": 1,\n\t\"Listen\": []\n}",
	    "3:2: Listen: unknown key" },
	{ "{\"auth\": {\"token\": \"x\"}}",
	    "1:11: auth.token: unknown key" },
	{ "{\"limits\": {\n  \"max_body\": 2048\n}}",
	    "2:3: limits.max_body: unknown key" },
	/* Unknown keys inside a job and inside an arg definition. */
	{ "{\"jobs\": {\n"
	    "  \"a\": {\"argv\": [\"/bin/true\"], \"cwd\": \"/\"}\n"
	    "}}\n",
	    "2:32: jobs.a.cwd: unknown key" },
	{ "{\"jobs\": {\n"
	    "  \"a\": {\"argv\": [\"/bin/true\", \"{x}\"],\n"
	    "        \"args\": {\"x\": {\"pattern\": \"y\", "
	    "\"optional\": 1}}}\n"
	    "}}\n",
	    "3:40: jobs.a.args.x.optional: unknown key" },
	/* {placeholder} with no arg: the place of that argv element. */
	{ "{\"jobs\": {\"a\": {\n"
	    "  \"argv\": [\"/bin/echo\", \"--x={x}\", \"{task_id}\", "
	    "\"{{literal}}\"],\n"
	    "  \"args\": {\"y\": {\"pattern\": \"y\"}}\n"
	    "}}}\n",
	    "2:25: jobs.a.argv[1]: {x} names no argument" },
	{ "{\"jobs\": {\"a\": {\n"
	    "  \"argv\": [\"/bin/true\"],\n"
	    "  \"cleanup_argv\": [\"/bin/echo\",\n"
	    "                   \"{task}\"]\n"
	    "}}}\n",
	    "4:20: jobs.a.cleanup_argv[1]: {task} names no argument" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/echo\", \"{x\"]}}}",
	    "1:39: jobs.a.argv[1]: '{' without '}'" },
	/* A bad kill_signal, at the key. */
	{ "{\"jobs\": {\"a\": {\n"
	    "  \"argv\": [\"/bin/true\"],\n"
	    "  \"kill_signal\": \"SIGSEGV\"\n"
	    "}}}\n",
	    "3:3: jobs.a.kill_signal: unknown signal 'SIGSEGV'" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"kill_signal\": 15}}}",
	    "1:40: jobs.a.kill_signal: must be a string" },
	/* argv[0] must be absolute, in argv and in cleanup_argv. */
	{ "{\"jobs\": {\"a\": {\n"
	    "  \"argv\": [ \"true\" ]\n"
	    "}}}\n",
	    "2:13: jobs.a.argv[0]: argv[0] must be an absolute path" },
	{ "{\"jobs\": {\"a\": {\n"
	    "  \"argv\": [\"/bin/true\"], \"cleanup_argv\": [\"./clean\"]\n"
	    "}}}\n",
	    "2:43: jobs.a.cleanup_argv[0]: argv[0] must be an absolute path" },
	/* A pattern that does not compile, at its "pattern" key. */
	{ "{\"jobs\": {\"a\": {\n"
	    "  \"argv\": [\"/bin/echo\", \"{x}\"],\n"
	    "  \"args\": {\n"
	    "    \"x\": {\n"
	    "      \"required\": true,\n"
	    "      \"pattern\": \"[a-z\"\n"
	    "    }\n"
	    "  }\n"
	    "}}}\n",
	    "6:7: jobs.a.args.x.pattern: bad regular expression" },
	/* A value of the wrong type, at its key. */
	{ "{\n  \"retention_s\": \"60\"\n}\n",
	    "2:3: retention_s: must be an integer" },
	{ "{\"retention_s\": 1.5}",
	    "1:2: retention_s: must be an "
	    "integer" },
	{ "{\"retention_s\": -1}",
	    "1:2: retention_s: must be "
	    "between" },
	{ "{\"state_dir\": 5}",
	    "1:2: state_dir: must be a string" },
	{ "{\"listen\": \"127.0.0.1:0\"}",
	    "1:2: listen: must be a "
	    "non-empty array" },
	{ "{\"listen\": [\"127.0.0.1:0\", \"nope\"]}",
	    "1:28: listen[1]: " },
	{ "{\"limits\": 5}",
	    "1:2: limits: must be an object" },
	{ "{\"limits\": {\"max_body_bytes\": 1023}}",
	    "1:13: limits.max_body_bytes: must be between 1024" },
	{ "{\"auth\": {\"metrics_public\": \"yes\"}}",
	    "1:11: auth.metrics_public: must be true or false" },
	{ "{\"on_shutdown\": \"stop\"}",
	    "1:2: on_shutdown: must be \"keep\" or \"cancel\"" },
	{ "{\"on_shutdown\": 1}",
	    "1:2: on_shutdown: must be a string" },
	/* isolation: one of three names. */
	{ "{\"isolation\": \"process_group\", \"jobs\": {}}", NULL },
	{ "{\n  \"isolation\": \"cgroups\"\n}",
	    "2:3: isolation: must be \"auto\", \"cgroup\" or "
	    "\"process_group\"\n" },
	{ "{\"isolation\": \"AUTO\"}",
	    "1:2: isolation: must be \"auto\", \"cgroup\" or " },
	{ "{\"isolation\": \"\"}",
	    "1:2: isolation: must be \"auto\"" },
	{ "{\"isolation\": true}",
	    "1:2: isolation: must be a string" },
	{ "{\"isolation\": null}",
	    "1:2: isolation: must be a string" },
	/* limits.max_output_bytes: at least 4096. */
	{ "{\"limits\": {\"max_output_bytes\": 4096}}", NULL },
	{ "{\"limits\": {\n  \"max_output_bytes\": 4095\n}}",
	    "2:3: limits.max_output_bytes: must be between 4096 and "
	    "1099511627776\n" },
	{ "{\"limits\": {\"max_output_bytes\": 1099511627777}}",
	    "1:13: limits.max_output_bytes: must be between 4096" },
	{ "{\"limits\": {\"max_output_bytes\": \"1G\"}}",
	    "1:13: limits.max_output_bytes: must be an integer" },
	/* The new job keys, at their place in a whole file. */
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"],\n"
	    "  \"description\": \"Backs up.\", \"max_output_bytes\": 4096,\n"
	    "  \"args\": {\"x\": {\"pattern\": \"x\", \"description\": \"X.\"}},\n"
	    "  \"resources\": {\"memory_max_bytes\": 1048576, "
	    "\"pids_max\": 10, \"cpu_weight\": 100}}}}", NULL },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"],\n"
	    "  \"resources\": {\"pids_max\": 0}}}}",
	    "2:17: jobs.a.resources.pids_max: must be between 1 and 4194304" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"],\n"
	    "  \"resources\": {\"memory\": 1}}}}",
	    "2:17: jobs.a.resources.memory: unknown key" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"],\n"
	    "  \"max_output_bytes\": 0}}}",
	    "2:3: jobs.a.max_output_bytes: must be between 4096" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"],\n"
	    "  \"description\": [\"x\"]}}}",
	    "2:3: jobs.a.description: must be a string" },
	{ "{\"jobs\": []}",
	    "1:2: jobs: must be an object" },
	{ "{\"jobs\": {\"a\": 5}}",
	    "1:11: jobs.a: must be an object" },
	{ "{\"jobs\": {\"a\": {}}}",
	    "1:11: jobs.a: needs an "
	    "\"argv\"" },
	{ "{\"jobs\": {\"a\": {\"argv\": []}}}",
	    "1:17: jobs.a.argv: must be a non-empty array" },
	{ "{\"jobs\": {\"a b\": {\"argv\": [\"/bin/true\"]}}}",
	    "1:11: jobs.a b: " },
	/* More wrong types inside a job. */
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"timeout_ms\": \"1s\"}}}",
	    "1:40: jobs.a.timeout_ms: must be an "
	    "integer" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"max_concurrent\": 0}}}",
	    "1:40: jobs.a.max_concurrent: must be "
	    "between 1" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"working_dir\": \"srv\"}}}",
	    "1:40: jobs.a.working_dir: must be "
	    "an absolute path" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"env\": {\"A\": 1}}}}",
	    "1:48: jobs.a.env.A: must be a string" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\", 7]}}}",
	    "1:39: jobs.a.argv[1]: must be a string" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"args\": {\"x\": {\"required\": true}}}}}",
	    "1:49: jobs.a.args.x: needs a \"pattern\"" },
	{ "{\"jobs\": {\"a\": {\"argv\": [\"/bin/true\"], "
	    "\"args\": {\"task_id\": {\"pattern\": \"x\"}}}}}",
	    "1:49: jobs.a.args.task_id: " },
	/* Invalid JSON: jansson's own line and column, one error. */
	{ "{\n  \"listen\": [\"127.0.0.1:0\"]\n"
	    "  \"retention_s\": 5\n}\n",
	    "3:15: '}' expected" },
	{ "{\n  \"retention_s\": 5,\n}\n",
	    "3:1: " },
	{ "",
	    "1:0: " },
	/* The file must hold an object. */
	{ "[\"jobs\"]\n",
	    "1:1: " },
	{ "\n  42\n",
	    "2:" },
	/* Duplicate keys are refused, at jansson's place (the second key). */
	{ "{\n  \"retention_s\": 5,\n  \"jobs\": {},\n"
	    "  \"retention_s\": 6\n}\n",
	    "4:15: duplicate object key" },
	{ "{\"jobs\": {\n"
	    "  \"a\": {\"argv\": [\"/bin/true\"],\n"
	    "        \"argv\": [\"/bin/false\"]}\n}}\n",
	    "3:14: duplicate object key" },
	/* A key written with escapes is found in the file all the same. */
	{ "{\n  \"retention_s\": 1,\n"
	    "  \"retention\\u005fs2\": 5\n}\n",
	    "3:3: retention_s2: unknown key" },
	{ "{\"jobs\": {\"a\\/b\": {\"argv\": [\"/bin/true\"]}}}",
	    "1:11: jobs.a/b: job names" },
	/* Callbacks (CONTRACT §9): accepted, and each error at its place. */
	{ "{\"callbacks\": {\"ci\": {\"url\": \"https://ci.example.org/h\", "
	    "\"secret_file\": \"/etc/passwd\", \"events\": [\"failed\"], "
	    "\"timeout_ms\": 500, \"max_attempts\": 3}}}", NULL },
	{ "{\"callbacks\": {\n"
	    "  \"ci\": {\"url\": \"http://h/\", \"secret_file\": "
	    "\"/etc/passwd\", \"retry\": 1}\n}}",
	    "2:60: callbacks.ci.retry: unknown key" },
	{ "{\"callbacks\": {\n"
	    "  \"ci\": {\"url\": \"http://h/\", \"secret_file\": \"s\"}\n}}",
	    "2:30: callbacks.ci.secret_file: must be an absolute path" },
	{ "{\"callbacks\": {\n"
	    "  \"ci\": {\"url\": \"http://h/\", \"secret_file\": \"/nonexistent/s\"}"
	    "\n}}",
	    "2:30: callbacks.ci.secret_file: /nonexistent/s: No such file" },
	{ "{\"callbacks\": {\n"
	    "  \"ci\": {\"url\": \"file:///etc/x\", \"secret_file\": "
	    "\"/etc/passwd\"}\n}}",
	    "2:10: callbacks.ci.url: 'file:///etc/x' is not an http://" },
	{ "{\"callbacks\": {\n"
	    "  \"ci\": {\"url\": \"http://h/\", \"secret_file\": "
	    "\"/etc/passwd\",\n         \"events\": [\"failed\", \"running\"]}\n}}",
	    "3:31: callbacks.ci.events[1]: 'running' is not one of" },
	{ "{\"callbacks\": {\n  \"ci\": {\"secret_file\": \"/etc/passwd\"}\n}}",
	    "2:3: callbacks.ci: needs a \"url\"" },
	{ "{\"callbacks\": {\n  \"ci\": {\"url\": \"http://h/\", "
	    "\"timeout_ms\": 0,\n  \"secret_file\": \"/etc/passwd\"}}}",
	    "2:30: callbacks.ci.timeout_ms: must be between 1 and 600000" },
	{ "{\"callbacks\": [1]}",
	    "1:2: callbacks: must be an object" },
};

/* One row of the table. */
START_TEST(test_table)
{
	const struct check_config_row *row = &check_config_rows[_i];

	if (row->where != NULL)
		expect_error(row->text, row->where);
	else
		config_free(load_ok(row->text));
}
END_TEST

/* A callback's fields and defaults; config_callback finds it by name. */
START_TEST(test_callbacks)
{
	struct config *c = load_ok("{\"callbacks\": {"
	    "\"ci\": {\"url\": \"http://127.0.0.1:9/h\", "
	    "\"secret_file\": \"/etc/passwd\"},"
	    "\"chat\": {\"url\": \"https://chat.example/h\", "
	    "\"secret_file\": \"/etc/passwd\", "
	    "\"events\": [\"failed\", \"timed_out\"], \"timeout_ms\": 250, "
	    "\"max_attempts\": 1}}}");

	ck_assert_uint_eq(c->ncallbacks, 2);
	ck_assert_str_eq(c->callbacks[0].name, "ci");
	ck_assert_int_eq(c->callbacks[0].timeout_ms, 10000);
	ck_assert_int_eq(c->callbacks[0].max_attempts, 10);
	ck_assert_uint_eq(c->callbacks[0].events, (1u << TASK_SUCCEEDED) |
	    (1u << TASK_FAILED) | (1u << TASK_CANCELLED) |
	    (1u << TASK_TIMED_OUT));
	ck_assert_str_eq(c->callbacks[0].secret_file, "/etc/passwd");
	ck_assert_ptr_nonnull(c->callbacks[0].secret);
	ck_assert_uint_eq(c->callbacks[1].events, (1u << TASK_FAILED) |
	    (1u << TASK_TIMED_OUT));
	ck_assert_int_eq(c->callbacks[1].timeout_ms, 250);
	ck_assert_int_eq(c->callbacks[1].max_attempts, 1);
	config_set(c);
	ck_assert_ptr_eq(config_callback("chat"), &cfg->callbacks[1]);
	ck_assert_ptr_null(config_callback("nope"));
}
END_TEST

/* A file that cannot be read: its name and why, one line. */
START_TEST(test_missing_file)
{
	char *errors = NULL;
	struct config *c;

	c = config_load("/nonexistent/evtaskd.json", &errors);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(errors);
	ck_assert_str_eq(errors, "/nonexistent/evtaskd.json: No such file or "
	    "directory\n");
	free(errors);
	c = config_load("/", &errors);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(errors);
	ck_assert(strncmp(errors, "/:", 2) == 0);
	free(errors);
}
END_TEST

#define CHECK_CONFIG_N(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("valid");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_object);
	tcase_add_test(tc, test_every_limit);
	tcase_add_test(tc, test_on_shutdown_keep);
	tcase_add_loop_test(tc, test_isolation, 0,
	    CHECK_CONFIG_N(check_config_isolations));
	tcase_add_test(tc, test_isolation_names);
	tcase_add_test(tc, test_job_output_clamped);
	tcase_add_test(tc, test_job_full);
	tcase_add_test(tc, test_job_patterns_anchored);
	tcase_add_test(tc, test_job_defaults);
	tcase_add_loop_test(tc, test_signals, 0,
	    CHECK_CONFIG_N(check_config_signals));
	tcase_add_test(tc, test_signals_unnamed);
	tcase_add_test(tc, test_config_set_and_job_lookup);
	tcase_add_test(tc, test_job_ref_outlives_config);
	tcase_add_test(tc, test_callbacks);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_many_errors_with_places);
	tcase_add_loop_test(tc, test_table, 0,
	    CHECK_CONFIG_N(check_config_rows));
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(config_suite)
