/*
 * ctl-stream.c -- what evtaskctl reads as it comes: the event stream
 * (`events`, one line per change, or the daemon's JSON one document per
 * line) and a task's output (`logs [-f]`, `run --follow`).
 */

#include "ctl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An event stream being read: the message so far, and what ends it. */
struct ctl_stream_sse {
	struct buf	 line;		/* a line not yet complete */
	struct buf	 data;		/* the message's data lines */
	char		*event;		/* its event: field */
	const char	*task;		/* --task: stop once it is terminal */
	int		 opened;	/* the first bytes came */
	int		 done;
};

/* One change as a line: "12:04:05  ID  state  what". */
static void
ctl_stream_print(const json_t *task, const char *raw)
{
	char stamp[16];
	struct tm tm;
	time_t now = time(NULL);

	if (ctl_json) {
		printf("%s\n", raw);
	} else {
		localtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
		printf("%s  ", stamp);
		ctl_show_line(stdout, task);
	}
	fflush(stdout);
}

/* Is this the --task task, terminal? Then the stream has told all. */
static int
ctl_stream_ends(struct ctl_stream_sse *s, const json_t *task)
{
	return s->task != NULL && strcmp(ctl_show_str(task, "id"),
	    s->task) == 0 && ctl_show_terminal(task);
}

/* A whole message: print a task event; say so when events were lost. */
static void
ctl_stream_message(struct ctl_stream_sse *s)
{
	json_t *task;

	if (s->event != NULL && strcmp(s->event, "reset") == 0)
		ctl_err("the event stream was reset: some changes were missed");
	if (s->event != NULL && strcmp(s->event, "task") == 0 &&
	    (task = json_loadb(s->data.data, s->data.len, 0, NULL)) != NULL) {
		ctl_stream_print(task, s->data.data);
		s->done = ctl_stream_ends(s, task);
		json_decref(task);
	}
	free(s->event);
	s->event = NULL;
	s->data.len = 0;
}

/* One line of the stream (without its end of line). */
static void
ctl_stream_line(struct ctl_stream_sse *s, char *line)
{
	char *v = strchr(line, ':');

	if (*line == '\0') {
		ctl_stream_message(s);
		return;
	}
	if (v == NULL || v == line)
		return;		/* a comment, or a field without value */
	*v++ = '\0';
	v += *v == ' ';
	if (strcmp(line, "event") == 0) {
		free(s->event);
		s->event = xstrdup(v);
	} else if (strcmp(line, "data") == 0) {
		if (s->data.len)
			buf_add(&s->data, "\n", 1);
		buf_adds(&s->data, v);
	}
}

/* With --task, once the stream is open: where the task is now (it may
 * have ended before, when no event will come). */
static void
ctl_stream_check(struct ctl_stream_sse *s)
{
	struct ctl_reply r;
	json_t *task = NULL;
	char path[512];

	if (s->task == NULL || ctl_task_path(path, sizeof path, s->task,
	    "") != 0)
		return;
	if (ctl_http_json("GET", path, NULL, NULL, &r, &task) == 0) {
		ctl_stream_print(task, r.body.data);
		s->done = ctl_stream_ends(s, task);
	}
	json_decref(task);
	ctl_http_reply_free(&r);
}

/* The stream's bytes: split into lines, lines into messages. */
static int
ctl_stream_sse_cb(const char *data, size_t n, void *arg)
{
	struct ctl_stream_sse *s = arg;
	char *line, *nl;

	if (!s->opened) {
		s->opened = 1;
		ctl_stream_check(s);
	}
	buf_add(&s->line, data, n);
	line = s->line.data;
	while (!s->done && (nl = memchr(line, '\n', s->line.len -
	    (size_t)(line - s->line.data))) != NULL) {
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		ctl_stream_line(s, line);
		line = nl + 1;
	}
	s->line.len -= (size_t)(line - s->line.data);
	memmove(s->line.data, line, s->line.len);
	return s->done;
}

/* evtaskctl events [--task ID]: until Ctrl-C, or until the task ended. */
int
ctl_stream_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "task", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_stream_sse s;
	struct ctl_reply r;
	char path[512] = "/v1/events";
	char *e;
	int c, rc;

	memset(&s, 0, sizeof s);
	while ((c = ctl_getopt(argc, argv, ":", opts, "events")) != -1) {
		if (c == '?')
			return CTL_USAGE;
		s.task = optarg;
	}
	if (optind != argc)
		return ctl_usage("events", "unexpected '%s'", argv[optind]);
	if (s.task != NULL) {
		e = ctl_http_escape(s.task);
		snprintf(path, sizeof path, "/v1/events?task=%.400s", e);
		free(e);
	}
	rc = ctl_http_stream(path, ctl_stream_sse_cb, &s, &r);
	if (rc == 0 && !s.done) {
		ctl_err("the daemon at %s closed the event stream",
		    ctl_http_url());
		rc = CTL_ERROR;
	}
	free(s.line.data);
	free(s.data.data);
	free(s.event);
	ctl_http_reply_free(&r);
	return rc == CTL_INTERRUPTED ? CTL_OK : rc;
}

/* Output bytes as they come, unchanged. */
static int
ctl_stream_bytes_cb(const char *data, size_t n, void *arg)
{
	fwrite(data, 1, n, arg);
	fflush(arg);
	return 0;
}

/* A task's output (or its cleanup's) to f, following it if asked. */
int
ctl_stream_output(const char *id, int follow, int cleanup, FILE *f)
{
	struct ctl_reply r;
	char path[512];
	const char *q = follow ? (cleanup ? "/output?follow=true&stream="
	    "cleanup" : "/output?follow=true") : (cleanup ?
	    "/output?stream=cleanup" : "/output");
	int rc;

	if (ctl_task_path(path, sizeof path, id, q) != 0)
		return ctl_usage("logs", "that task id is too long");
	rc = ctl_http_stream(path, ctl_stream_bytes_cb, f, &r);
	ctl_http_reply_free(&r);
	return rc;
}

/* evtaskctl logs ID [-f] [--cleanup] */
int
ctl_stream_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "cleanup", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	int c, follow = 0, cleanup = 0, rc;

	while ((c = ctl_getopt(argc, argv, ":f", opts, "logs")) != -1) {
		if (c == '?')
			return CTL_USAGE;
		follow |= c == 'f';
		cleanup |= c == 'c';
	}
	if (argc - optind != 1)
		return ctl_usage("logs", "one task ID, please");
	rc = ctl_stream_output(argv[optind], follow, cleanup, stdout);
	if (rc == CTL_INTERRUPTED)
		ctl_err("stopped following; task %s goes on", argv[optind]);
	return rc;
}
