/*
 * ctl-sched.c -- `evtaskctl schedules …`: recurring schedules (0.2, CONTRACT
 * §8): list, add (a cron expression or an interval, and a task written as
 * for sleep or run after `--`), show, pause, resume and remove.
 */

#include "ctl.h"

#include <stdlib.h>
#include <string.h>

/* A schedule's path, the id escaped; 0 or a usage error. */
static int
ctl_sched_path(char *buf, size_t len, const char *id, const char *suffix)
{
	char *e = ctl_http_escape(id);
	int n = snprintf(buf, len, "/v1/schedules/%s%s", e, suffix);

	free(e);
	if (n < 0 || (size_t)n >= len)
		return ctl_usage("schedules", "that schedule id is too long");
	return 0;
}

/* When it runs: "30 2 * * * Europe/Berlin" or "every 5m" (to free). */
static char *
ctl_sched_when(const json_t *s)
{
	json_t *every = json_object_get(s, "every_ms");
	const char *tz = ctl_show_str(s, "time_zone");
	char d[32];

	if (json_is_integer(every)) {
		duration_format(json_integer_value(every), d, sizeof d);
		return xasprintf("every %s", d);
	}
	return xasprintf("%s%s%s", ctl_show_str(s, "cron"), *tz &&
	    strcmp(tz, "UTC") != 0 ? " " : "", strcmp(tz, "UTC") ? tz : "");
}

/* One schedule as a row. */
static void
ctl_sched_row(struct ctl_table *t, const json_t *s)
{
	char next[32], last[32], runs[32], *when = ctl_sched_when(s);
	const char *row[7];

	ctl_out_time_ago(json_string_value(json_object_get(s, "next_run_at")),
	    next, sizeof next);
	ctl_out_time_ago(json_string_value(json_object_get(s, "last_run_at")),
	    last, sizeof last);
	snprintf(runs, sizeof runs, "%lld", (long long)json_integer_value(
	    json_object_get(s, "runs")));
	row[0] = ctl_show_str(s, "id");
	row[1] = ctl_show_str(s, "name");
	row[2] = when;
	row[3] = json_is_true(json_object_get(s, "paused")) ? "paused" :
	    next;
	row[4] = last;
	row[5] = runs;
	row[6] = json_is_true(json_object_get(s, "paused")) ? "paused" :
	    "active";
	ctl_table_add(t, row);
	free(when);
}

/* schedules ls */
static int
ctl_sched_ls(int argc, char **argv)
{
	static const char *const heads[] = { "ID", "NAME", "WHEN", "NEXT",
	    "LAST", "RUNS", "STATE" };
	static const size_t minw[] = { 26, 4, 4, 6, 6, 4, 6 };
	struct ctl_table *t;
	struct ctl_reply r;
	json_t *doc = NULL, *s;
	size_t i;
	int rc;

	if (argc != 1)
		return ctl_usage("schedules", "ls takes no arguments");
	rc = ctl_http_json("GET", "/v1/schedules", NULL, NULL, &r, &doc);
	if (rc == 0 && ctl_json)
		ctl_http_print(&r);
	else if (rc == 0) {
		t = ctl_table_new(7, heads, minw);
		json_array_foreach(json_object_get(doc, "schedules"), i, s)
			ctl_sched_row(t, s);
		ctl_table_print(t, stdout, (size_t)ctl_out_width());
		ctl_table_free(t);
	}
	json_decref(doc);
	ctl_http_reply_free(&r);
	return rc;
}

/* add's flags into the body; 0 or a usage error. */
static int
ctl_sched_add_flags(int argc, char **argv, json_t *body)
{
	static const struct option opts[] = {
		{ "cron", required_argument, NULL, 'c' },
		{ "tz", required_argument, NULL, 'z' },
		{ "every", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const members[] = { "cron", "time_zone" };
	int64_t ms;
	int c;

	while ((c = ctl_getopt(argc, argv, ":", opts, "schedules")) != -1) {
		if (c == '?')
			return CTL_USAGE;
		if (c == 'e' && ctl_duration_arg("schedules", "--every",
		    optarg, &ms) != 0)
			return CTL_USAGE;
		if (c == 'e')
			json_object_set_new(body, "every_ms", json_integer(ms));
		else
			json_object_set_new(body, members[c == 'z'],
			    json_string(optarg));
	}
	if (argc - optind != 1)
		return ctl_usage("schedules", "add wants one NAME");
	json_object_set_new(body, "name", json_string(argv[optind]));
	if ((json_object_get(body, "cron") != NULL) ==
	    (json_object_get(body, "every_ms") != NULL))
		return ctl_usage("schedules", "add wants --cron or --every");
	if (json_object_get(body, "time_zone") && !json_object_get(body,
	    "cron"))
		return ctl_usage("schedules", "--tz goes with --cron");
	return 0;
}

/* The index of the first "--" in argv, or argc. */
static int
ctl_sched_dashes(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		;
	return i;
}

/* schedules add NAME (--cron EXPR [--tz ZONE] | --every D) -- TASK... */
static int
ctl_sched_add(int argc, char **argv)
{
	int dashes = ctl_sched_dashes(argc, argv), rc;
	json_t *body = json_object(), *task = NULL, *s = NULL;
	struct ctl_reply r;

	memset(&r, 0, sizeof r);
	rc = ctl_sched_add_flags(dashes, argv, body);
	if (rc == 0 && dashes + 1 >= argc)
		rc = ctl_usage("schedules", "add wants its task after --: "
		    "-- sleep 5s, or -- run JOB ARG=VALUE");
	if (rc == 0)
		rc = ctl_task_spec(argc - dashes - 1, argv + dashes + 1, &task,
		    NULL, NULL);
	if (rc == 0) {
		json_object_set_new(body, "task", task);
		rc = ctl_http_json("POST", "/v1/schedules", NULL, body, &r, &s);
	}
	if (rc == 0)
		ctl_json ? ctl_http_print(&r) : (void)printf("%s\n",
		    ctl_show_str(s, "id"));
	json_decref(s);
	json_decref(body);
	ctl_http_reply_free(&r);
	return rc;
}

/* "label     text" lines of one schedule. */
static void
ctl_sched_print(const json_t *s)
{
	char next[32], last[32], *when = ctl_sched_when(s);
	char *task = json_dumps(json_object_get(s, "task"), JSON_COMPACT);

	ctl_out_time_ago(json_string_value(json_object_get(s, "next_run_at")),
	    next, sizeof next);
	ctl_out_time_ago(json_string_value(json_object_get(s, "last_run_at")),
	    last, sizeof last);
	printf("%-10s %s\n%-10s %s\n%-10s %s\n", "id", ctl_show_str(s, "id"),
	    "name", ctl_show_str(s, "name"), "when", when);
	printf("%-10s %s\n%-10s %s\n", "task", task ? task : "-", "state",
	    json_is_true(json_object_get(s, "paused")) ? "paused" : "active");
	printf("%-10s %s\n%-10s %s (task %s)\n", "next run", next,
	    "last run", last, *ctl_show_str(s, "last_task_id") ?
	    ctl_show_str(s, "last_task_id") : "-");
	printf("%-10s %lld (%lld skipped); overlap %s, missed %s\n", "runs",
	    (long long)json_integer_value(json_object_get(s, "runs")),
	    (long long)json_integer_value(json_object_get(s, "skipped_runs")),
	    ctl_show_str(s, "overlap"), ctl_show_str(s, "missed"));
	free(task);
	free(when);
}

/* The sub-commands that name one schedule: method, body, query, verb. */
static const struct {
	const char	*name;
	const char	*method;
	const char	*patch;		/* a merge patch, or NULL */
	const char	*done;		/* what to say, or NULL: show it */
} ctl_sched_one[] = {
	{ "show", "GET", NULL, NULL },
	{ "pause", "PATCH", "{\"paused\": true}", "paused" },
	{ "resume", "PATCH", "{\"paused\": false}", "resumed" },
	{ "rm", "DELETE", NULL, "removed" },
};

/* show, pause, resume, rm ID [--cancel-running] (index i of the table). */
static int
ctl_sched_id(size_t i, int argc, char **argv)
{
	int cancel = argc == 3 && strcmp(argv[2], "--cancel-running") == 0 &&
	    strcmp(argv[0], "rm") == 0;
	json_t *patch = NULL, *s = NULL;
	struct ctl_reply r;
	char path[512];
	int rc;

	if (argc != 2 + cancel || argv[1][0] == '-')
		return ctl_usage("schedules", "%s wants one schedule ID%s",
		    argv[0], i == 3 ? " [--cancel-running]" : "");
	if (ctl_sched_path(path, sizeof path, argv[1], cancel ?
	    "?cancel_running=true" : "") != 0)
		return CTL_USAGE;
	if (ctl_sched_one[i].patch != NULL)
		patch = json_loads(ctl_sched_one[i].patch, 0, NULL);
	rc = ctl_http_json(ctl_sched_one[i].method, path,
	    patch ? "application/merge-patch+json" : NULL, patch, &r, &s);
	if (rc == 0 && ctl_json)
		ctl_http_print(&r);
	else if (rc == 0 && ctl_sched_one[i].done == NULL)
		ctl_sched_print(s);
	else if (rc == 0)
		printf("%s %s (%s)\n", ctl_sched_one[i].done,
		    ctl_show_str(s, "id"), ctl_show_str(s, "name"));
	json_decref(patch);
	json_decref(s);
	ctl_http_reply_free(&r);
	return rc;
}

/* evtaskctl schedules SUBCOMMAND ... */
int
ctl_sched(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return ctl_usage("schedules", "which: ls, add, show, pause, "
		    "resume or rm?");
	if (strcmp(argv[1], "ls") == 0)
		return ctl_sched_ls(argc - 1, argv + 1);
	if (strcmp(argv[1], "add") == 0)
		return ctl_sched_add(argc - 1, argv + 1);
	for (i = 0; i < sizeof ctl_sched_one / sizeof ctl_sched_one[0]; i++)
		if (strcmp(argv[1], ctl_sched_one[i].name) == 0)
			return ctl_sched_id(i, argc - 1, argv + 1);
	return ctl_usage("schedules", "unknown sub-command '%s'", argv[1]);
}
