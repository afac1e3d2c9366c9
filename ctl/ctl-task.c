/*
 * ctl-task.c -- the commands about one task: sleep and run (create, and
 * with --wait or --follow see it through), show, wait and cancel. Waiting
 * is the daemon's long-poll (?wait=), never a sleep in the client.
 */

#include "ctl.h"

#include <stdlib.h>
#include <string.h>

#define CTL_TASK_POLL_MS 300000		/* the daemon's longest ?wait= */

/* Flags of sleep and run; run's extra ones come after. */
static const struct option ctl_task_sleep_opts[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "delay", required_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 't' },
	{ "wait", no_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};
static const struct option ctl_task_run_opts[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "delay", required_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 't' },
	{ "wait", no_argument, NULL, 'w' },
	{ "key", required_argument, NULL, 'k' },
	{ "on-conflict", required_argument, NULL, 'o' },
	{ "retry", required_argument, NULL, 'r' },
	{ "follow", no_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};

/* Flags that set a member of the create body: string or duration. */
static const struct {
	int		 flag;
	const char	*member;
	int		 duration;
} ctl_task_members[] = {
	{ 'n', "name", 0 },
	{ 'd', "delay_ms", 1 },
	{ 't', "timeout_ms", 1 },
	{ 'k', "concurrency_key", 0 },
	{ 'o', "on_conflict", 0 },
};

/* "/v1/tasks/ID" + suffix into buf, the id escaped; 0 or -1 if too long. */
int
ctl_task_path(char *buf, size_t len, const char *id, const char *suffix)
{
	char *e = ctl_http_escape(id);
	int n = snprintf(buf, len, "/v1/tasks/%s%s", e, suffix);

	free(e);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* --retry N: {"max_attempts": N}; 0 or a usage error. */
static int
ctl_task_retry(const char *cmd, const char *text, json_t *body)
{
	char *end;
	long n = strtol(text, &end, 10);

	if (*text == '\0' || *end != '\0' || n < 1 || n > 100)
		return ctl_usage(cmd, "--retry wants a number of attempts "
		    "from 1 to 100, not '%s'", text);
	json_object_set_new(body, "retry", json_pack("{s:I}",
	    "max_attempts", (json_int_t)n));
	return 0;
}

/* One flag of sleep or run into the body (or wait, follow); 0 or usage. */
static int
ctl_task_flag(const char *cmd, int c, json_t *body, int *wait, int *follow)
{
	static const char *const conflicts = " queue replace reject ";
	int64_t ms;
	size_t i;

	if ((c == 'w' || c == 'f') && wait == NULL)
		return ctl_usage(cmd, "--wait and --follow have no place in "
		    "a schedule's task");
	if (c == 'w' || c == 'f') {
		*wait = 1;
		*follow |= c == 'f';
		return 0;
	}
	if (c == 'r')
		return ctl_task_retry(cmd, optarg, body);
	if (c == 'o' && (strchr(optarg, ' ') != NULL || strstr(conflicts,
	    optarg) == NULL || *optarg == '\0'))
		return ctl_usage(cmd, "--on-conflict is queue, replace or "
		    "reject, not '%s'", optarg);
	for (i = 0; i < sizeof ctl_task_members / sizeof ctl_task_members[0];
	    i++) {
		if (ctl_task_members[i].flag != c)
			continue;
		if (!ctl_task_members[i].duration)
			return json_object_set_new(body,
			    ctl_task_members[i].member, json_string(optarg)), 0;
		if (ctl_duration_arg(cmd, ctl_task_members[i].member, optarg,
		    &ms) != 0)
			return CTL_USAGE;
		json_object_set_new(body, ctl_task_members[i].member,
		    json_integer(ms));
	}
	return 0;
}

/* run's ARG=VALUE words into {"args": {...}}; 0 or a usage error. */
static int
ctl_task_args(int argc, char **argv, json_t *body)
{
	json_t *args = json_object();
	const char *eq;
	char *name;
	int i;

	json_object_set_new(body, "args", args);
	for (i = 0; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL || eq == argv[i])
			return ctl_usage("run", "'%s' is not ARG=VALUE",
			    argv[i]);
		name = xstrndup(argv[i], (size_t)(eq - argv[i]));
		json_object_set_new(args, name, json_string(eq + 1));
		free(name);
	}
	return 0;
}

/* The positional words of sleep (DURATION) or run (JOB ARG=VALUE...). */
static int
ctl_task_words(const char *cmd, int argc, char **argv, json_t *body)
{
	int64_t ms;

	if (strcmp(cmd, "sleep") == 0) {
		if (argc != 1)
			return ctl_usage(cmd, argc ? "one DURATION, please" :
			    "a DURATION is needed");
		if (ctl_duration_arg(cmd, "DURATION", argv[0], &ms) != 0)
			return CTL_USAGE;
		json_object_set_new(body, "kind", json_string("sleep"));
		json_object_set_new(body, "duration_ms", json_integer(ms));
		return 0;
	}
	if (argc < 1)
		return ctl_usage(cmd, "a JOB is needed");
	json_object_set_new(body, "kind", json_string("command"));
	json_object_set_new(body, "job", json_string(argv[0]));
	return ctl_task_args(argc - 1, argv + 1, body);
}

/*
 * Parse "sleep ..." or "run ..." (argv[0]) into a create body (*out, to
 * decref); wait and follow are NULL where they are not allowed. 0 or 2.
 */
int
ctl_task_spec(int argc, char **argv, json_t **out, int *wait, int *follow)
{
	const char *cmd = argv[0];
	const struct option *opts = strcmp(cmd, "run") == 0 ?
	    ctl_task_run_opts : ctl_task_sleep_opts;
	json_t *body = json_object();
	int c, rc = 0;

	if (strcmp(cmd, "sleep") != 0 && strcmp(cmd, "run") != 0) {
		json_decref(body);
		return ctl_usage("schedules", "the task is sleep or run, "
		    "not '%s'", cmd);
	}
	optind = 0;
	while (rc == 0 && (c = ctl_getopt(argc, argv, ":", opts, cmd)) != -1)
		rc = c == '?' ? CTL_USAGE : ctl_task_flag(cmd, c, body, wait,
		    follow);
	if (rc == 0)
		rc = ctl_task_words(cmd, argc - optind, argv + optind, body);
	if (rc != 0)
		json_decref(body);
	else
		*out = body;
	return rc;
}

/* Ctrl-C while waiting: the task goes on; say so. */
static int
ctl_task_interrupted(const char *id)
{
	ctl_err("stopped waiting; task %s goes on (evtaskctl cancel %s "
	    "stops it)", id, id);
	return CTL_INTERRUPTED;
}

/*
 * Long-poll until the task is terminal, or timeout_ms passed (-1: no
 * limit: CTL_WAIT_TIMEOUT then); the last answer in r, the task in *task.
 */
static int
ctl_task_await(const char *id, int64_t timeout_ms, struct ctl_reply *r,
    json_t **task)
{
	int64_t deadline = clock_mono_us() / 1000 + timeout_ms, left;
	char path[512], q[64];
	int rc;

	memset(r, 0, sizeof *r);
	for (;;) {
		left = timeout_ms < 0 ? CTL_TASK_POLL_MS : deadline -
		    clock_mono_us() / 1000;
		left = left < 0 ? 0 : left > CTL_TASK_POLL_MS ?
		    CTL_TASK_POLL_MS : left;
		snprintf(q, sizeof q, "?wait=%lld.%03lld", (long long)(left /
		    1000), (long long)(left % 1000));
		if (ctl_task_path(path, sizeof path, id, q) != 0)
			return ctl_usage(NULL, "that task id is too long");
		if ((rc = ctl_http_json("GET", path, NULL, NULL, r, task)) != 0)
			return rc == CTL_INTERRUPTED ? ctl_task_interrupted(id) :
			    rc;
		if (ctl_show_terminal(*task))
			return 0;
		if (timeout_ms >= 0 && left == 0)
			return CTL_WAIT_TIMEOUT;
		json_decref(*task);
		*task = NULL;
		ctl_http_reply_free(r);
	}
}

/* Print a task: the daemon's JSON with --json, else line or whole. */
static void
ctl_task_print(const struct ctl_reply *r, const json_t *task, int whole)
{
	if (ctl_json)
		ctl_http_print(r);
	else if (whole)
		ctl_show_task(stdout, task);
	else
		ctl_show_line(stdout, task);
}

/* Wait for id and tell how it ended; the exit status its state stands for. */
static int
ctl_task_finish(const char *id, int64_t timeout_ms)
{
	struct ctl_reply r;
	json_t *task = NULL;
	int rc = ctl_task_await(id, timeout_ms, &r, &task);

	if (rc == CTL_WAIT_TIMEOUT) {
		ctl_err("gave up waiting: task %s is still %s", id,
		    ctl_show_str(task, "state"));
	} else if (rc == 0) {
		ctl_task_print(&r, task, 0);
		rc = ctl_show_exit(task);
	}
	json_decref(task);
	ctl_http_reply_free(&r);
	return rc;
}

/* Create the task; print it, or see it through (and stream its output). */
static int
ctl_task_create(json_t *body, int wait, int follow)
{
	struct ctl_reply r;
	json_t *task = NULL;
	char *id;
	int rc = ctl_http_json("POST", "/v1/tasks", NULL, body, &r, &task);

	if (rc == 0 && !wait) {
		if (ctl_json)
			ctl_http_print(&r);
		else
			printf("%s\n", ctl_show_str(task, "id"));
	}
	ctl_http_reply_free(&r);
	if (rc == CTL_INTERRUPTED)
		ctl_err("interrupted before the daemon answered: the task may "
		    "have been created (see evtaskctl ls)");
	if (rc != 0 || !wait) {
		json_decref(task);
		return rc;
	}
	id = xstrdup(ctl_show_str(task, "id"));
	json_decref(task);
	if (follow)
		rc = ctl_stream_output(id, 1, 0, ctl_json ? stderr : stdout);
	rc = rc == CTL_INTERRUPTED ? ctl_task_interrupted(id) :
	    ctl_task_finish(id, -1);
	free(id);
	return rc;
}

/* sleep and run: parse, create, maybe wait. */
static int
ctl_task_new(int argc, char **argv)
{
	json_t *body = NULL;
	int wait = 0, follow = 0;
	int rc = ctl_task_spec(argc, argv, &body, &wait, &follow);

	if (rc == 0)
		rc = ctl_task_create(body, wait, follow);
	json_decref(body);
	return rc;
}

/* evtaskctl sleep DURATION ... */
int
ctl_task_sleep(int argc, char **argv)
{
	return ctl_task_new(argc, argv);
}

/* evtaskctl run JOB [ARG=VALUE]... */
int
ctl_task_run(int argc, char **argv)
{
	return ctl_task_new(argc, argv);
}

/* The one ID word of a command, after its flags; NULL after a usage error. */
static const char *
ctl_task_id(const char *cmd, int argc, char **argv)
{
	if (argc - optind != 1) {
		ctl_usage(cmd, argc - optind ? "one task ID, please" :
		    "a task ID is needed");
		return NULL;
	}
	return argv[optind];
}

/* evtaskctl show ID */
int
ctl_task_show(int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	struct ctl_reply r;
	json_t *task = NULL;
	const char *id;
	char path[512];
	int rc;

	if (ctl_getopt(argc, argv, ":", opts, "show") != -1 ||
	    (id = ctl_task_id("show", argc, argv)) == NULL)
		return CTL_USAGE;
	if (ctl_task_path(path, sizeof path, id, "") != 0)
		return ctl_usage("show", "that task id is too long");
	if ((rc = ctl_http_json("GET", path, NULL, NULL, &r, &task)) == 0)
		ctl_task_print(&r, task, 1);
	json_decref(task);
	ctl_http_reply_free(&r);
	return rc;
}

/* evtaskctl wait ID [--timeout D] */
int
ctl_task_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t timeout_ms = -1;
	const char *id;
	int c;

	while ((c = ctl_getopt(argc, argv, ":", opts, "wait")) != -1)
		if (c == '?' || ctl_duration_arg("wait", "--timeout", optarg,
		    &timeout_ms) != 0)
			return CTL_USAGE;
	if ((id = ctl_task_id("wait", argc, argv)) == NULL)
		return CTL_USAGE;
	return ctl_task_finish(id, timeout_ms);
}

/* The DELETE path: the id, ?reason= escaped, &wait=false. */
static int
ctl_task_cancel_path(char *path, size_t len, const char *id,
    const char *reason, int nowait)
{
	char *e = reason ? ctl_http_escape(reason) : NULL;
	char *q = xasprintf("%s%s%s%s", e || nowait ? "?" : "",
	    e ? "reason=" : "", e ? e : "", nowait ? (e ? "&wait=false" :
	    "wait=false") : "");
	int rc = ctl_task_path(path, len, id, q);

	free(q);
	free(e);
	return rc;
}

/* evtaskctl cancel ID [--reason TEXT] [--no-wait] */
int
ctl_task_cancel(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *id, *reason = NULL;
	struct ctl_reply r;
	json_t *task = NULL;
	int c, nowait = 0, rc;
	char path[2048];

	while ((c = ctl_getopt(argc, argv, ":", opts, "cancel")) != -1) {
		if (c == '?')
			return CTL_USAGE;
		if (c == 'r')
			reason = optarg;
		nowait |= c == 'n';
	}
	if ((id = ctl_task_id("cancel", argc, argv)) == NULL)
		return CTL_USAGE;
	if (ctl_task_cancel_path(path, sizeof path, id, reason, nowait) != 0)
		return ctl_usage("cancel", "that id or reason is too long");
	rc = ctl_http_json("DELETE", path, NULL, NULL, &r, &task);
	if (rc == 0) {
		ctl_task_print(&r, task, 0);
		if (!ctl_json)
			ctl_show_receipt(stdout, task);
	}
	json_decref(task);
	ctl_http_reply_free(&r);
	return rc;
}
