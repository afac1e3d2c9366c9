/*
 * ctl.c -- evtaskctl's command line (CONTRACT §10): the global flags, the
 * table of commands and their usage, and the shape of every error message.
 */

#include "ctl.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int ctl_json;

static const struct ctl_cmd ctl_cmds[] = {
	{ "sleep", ctl_task_sleep, "sleep DURATION [--name N] [--delay D] "
	    "[--timeout D] [--wait]" },
	{ "run", ctl_task_run, "run JOB [ARG=VALUE]... [--name N] [--delay D] "
	    "[--timeout D] [--key K]\n"
	    "          [--on-conflict queue|replace|reject] [--retry N] "
	    "[--wait] [--follow]" },
	{ "ls", ctl_ls, "ls [--state S,...] [--kind K] [--schedule ID] "
	    "[--limit N]" },
	{ "show", ctl_task_show, "show ID" },
	{ "wait", ctl_task_wait, "wait ID [--timeout D]" },
	{ "cancel", ctl_task_cancel, "cancel ID [--reason TEXT] [--no-wait]" },
	{ "logs", ctl_stream_logs, "logs ID [-f] [--cleanup]" },
	{ "events", ctl_stream_events, "events [--task ID]" },
	{ "jobs", ctl_jobs, "jobs" },
	{ "schedules", ctl_sched, "schedules ls | add NAME (--cron EXPR "
	    "[--tz ZONE] | --every D) -- sleep|run ... |\n"
	    "            show ID | pause ID | resume ID | rm ID "
	    "[--cancel-running]" },
};
#define CTL_NCMDS (sizeof ctl_cmds / sizeof ctl_cmds[0])

/* The whole usage text, on f. */
static void
ctl_usage_all(FILE *f)
{
	size_t i;

	fputs("usage: evtaskctl [--url URL] [--token-file FILE] [--json] "
	    "COMMAND ...\n", f);
	for (i = 0; i < CTL_NCMDS; i++)
		fprintf(f, "  %s\n", ctl_cmds[i].usage);
	fputs("URL defaults to $EVTASKD_URL, else http://127.0.0.1:8080 "
	    "(unix:/PATH too);\nthe token file to $EVTASKD_TOKEN_FILE. "
	    "Durations: 500ms, 5s, 2m, 1h30m.\n", f);
}

/* The command called name, or NULL. */
static const struct ctl_cmd *
ctl_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < CTL_NCMDS; i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

/* One error line on stderr, under the program's name. */
void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("evtaskctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error in command cmd (NULL: none yet): say what, show usage, 2. */
int
ctl_usage(const char *cmd, const char *fmt, ...)
{
	const struct ctl_cmd *c = ctl_find(cmd);
	va_list ap;

	fprintf(stderr, "evtaskctl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL)
		fprintf(stderr, "usage: evtaskctl %s\n", c->usage);
	else
		ctl_usage_all(stderr);
	return CTL_USAGE;
}

/*
 * getopt_long for a command (shortopts start with ':', after any '+'): the
 * next flag, or '?' once a bad one was told with the usage.
 */
int
ctl_getopt(int argc, char **argv, const char *shortopts,
    const struct option *longopts, const char *cmd)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == ':')
		ctl_usage(cmd, "flag %s needs a value", argv[optind - 1]);
	else if (c == '?' && optopt != 0)
		ctl_usage(cmd, "unknown flag -%c", optopt);
	else if (c == '?')
		ctl_usage(cmd, "unknown flag %s", argv[optind - 1]);
	return c == ':' ? '?' : c;
}

/* Parse a duration flag's value; 0, or a usage error (2) that names it. */
int
ctl_duration_arg(const char *cmd, const char *flag, const char *text,
    int64_t *ms)
{
	if (duration_parse(text, ms) == 0)
		return 0;
	return ctl_usage(cmd, "bad duration '%s' for %s (like 500ms, 5s, 2m, "
	    "1h30m)", text, flag);
}

/* The global flags before the command; the index of the command or -1. */
static int
ctl_global(int argc, char **argv, const char **url, const char **token)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token-file", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = ctl_getopt(argc, argv, "+:h", opts, NULL)) != -1) {
		if (c == 'u')
			*url = optarg;
		else if (c == 't')
			*token = optarg;
		else if (c == 'j')
			ctl_json = 1;
		else if (c == 'h') {
			ctl_usage_all(stdout);
			exit(CTL_OK);
		} else
			return -1;
	}
	return optind;
}

/* The value of an environment variable, NULL when unset or empty. */
static const char *
ctl_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Run evtaskctl: global flags, then one command from the table. */
int
ctl_main(int argc, char **argv)
{
	const char *url = ctl_env("EVTASKD_URL");
	const char *token = ctl_env("EVTASKD_TOKEN_FILE");
	const struct ctl_cmd *cmd;
	int i, rc;

	if ((i = ctl_global(argc, argv, &url, &token)) < 0)
		return CTL_USAGE;
	if (i >= argc)
		return ctl_usage(NULL, "no command given");
	if ((cmd = ctl_find(argv[i])) == NULL)
		return ctl_usage(NULL, "unknown command '%s'", argv[i]);
	optind = 0;
	rc = ctl_http_init(url ? url : "http://127.0.0.1:8080", token);
	if (rc == 0)
		rc = cmd->run(argc - i, argv + i);
	ctl_http_free();
	return rc;
}
