/*
 * ctl-show.c -- a task in words: one summary line (for lists, --wait and
 * cancel) and the whole task for `show`, with the cancellation receipt
 * (why, who asked, how the processes were stopped) and the cleanup's
 * outcome told as sentences.
 */

#include "ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* What a terminal state means for the exit status (CONTRACT §10). */
static const struct {
	const char	*state;
	int		 exit;
} ctl_show_exits[] = {
	{ "succeeded", CTL_OK },
	{ "failed", CTL_FAILED },
	{ "cancelled", CTL_CANCELLED },
	{ "timed_out", CTL_TIMED_OUT },
};
#define CTL_SHOW_NEXITS (sizeof ctl_show_exits / sizeof ctl_show_exits[0])

/* Why a task was cancelled, in words; %s is the cancellation's message. */
static const struct {
	const char	*reason;
	const char	*words;
} ctl_show_reasons[] = {
	{ "client", "a client asked" },
	{ "timeout", "its timeout passed" },
	{ "shutdown", "the daemon was stopped while it ran" },
	{ "restart", "it was running when the daemon died and could not "
	    "be resumed" },
	{ "superseded", "a newer task replaced it" },
	{ "node_lost", "its node died" },
};

/* How a cleanup ended, in words. */
static const struct {
	const char	*state;
	const char	*words;
} ctl_show_cleanups[] = {
	{ "running", "running since" },
	{ "succeeded", "succeeded in" },
	{ "failed", "failed after" },
	{ "timed_out", "timed out after" },
};

/* A string member of o ("" when o or it is missing, or not a string). */
const char *
ctl_show_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Is the task in one of the four terminal states? */
int
ctl_show_terminal(const json_t *task)
{
	const char *state = ctl_show_str(task, "state");
	size_t i;

	for (i = 0; i < CTL_SHOW_NEXITS; i++)
		if (strcmp(ctl_show_exits[i].state, state) == 0)
			return 1;
	return 0;
}

/* The exit status a terminal task stands for (0 if not terminal). */
int
ctl_show_exit(const json_t *task)
{
	const char *state = ctl_show_str(task, "state");
	size_t i;

	for (i = 0; i < CTL_SHOW_NEXITS; i++)
		if (strcmp(ctl_show_exits[i].state, state) == 0)
			return ctl_show_exits[i].exit;
	return CTL_OK;
}

/* The ms between two RFC 3339 members of o (to now if b is null); -1. */
static int64_t
ctl_show_between(const json_t *o, const char *a, const char *b)
{
	int64_t ta, tb;

	if (clock_parse_rfc3339(ctl_show_str(o, a), &ta) != 0)
		return -1;
	if (clock_parse_rfc3339(ctl_show_str(o, b), &tb) != 0)
		tb = clock_now_ms();
	return tb - ta;
}

/* How long the task ran ("-" if it never started). */
void
ctl_show_ran(const json_t *task, char *buf, size_t len)
{
	int64_t ms = ctl_show_between(task, "started_at", "finished_at");

	if (ms < 0)
		snprintf(buf, len, "-");
	else
		duration_format(ms, buf, len);
}

/* What the task is: its name, else its job, else its kind. */
static const char *
ctl_show_what(const json_t *task)
{
	if (*ctl_show_str(task, "name") != '\0')
		return ctl_show_str(task, "name");
	if (*ctl_show_str(task, "job") != '\0')
		return ctl_show_str(task, "job");
	return ctl_show_str(task, "kind");
}

/* One line: "ID  state  what  (ran 5s)". */
void
ctl_show_line(FILE *f, const json_t *task)
{
	char ran[32];

	ctl_show_ran(task, ran, sizeof ran);
	fprintf(f, "%s  ", ctl_show_str(task, "id"));
	ctl_out_state(f, ctl_show_str(task, "state"));
	fprintf(f, "  %s  (ran %s)\n", ctl_show_what(task), ran);
}

/* "label     text" (the label padded so the texts line up). */
static void PRINTFLIKE(3, 4)
ctl_show_kv(FILE *f, const char *label, const char *fmt, ...)
{
	va_list ap;

	fprintf(f, "%-10s ", label);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

/* A time member as "2026-…Z (3m ago)", or nothing when null. */
static void
ctl_show_time(FILE *f, const char *label, const json_t *o, const char *key)
{
	const char *t = json_string_value(json_object_get(o, key));
	char ago[32];

	if (t == NULL)
		return;
	ctl_out_time_ago(t, ago, sizeof ago);
	ctl_show_kv(f, label, "%s (%s)", t, ago);
}

/* A millisecond member as a duration, or nothing when null. */
static void
ctl_show_ms(FILE *f, const char *label, const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char d[32];

	if (!json_is_integer(v))
		return;
	duration_format(json_integer_value(v), d, sizeof d);
	ctl_show_kv(f, label, "%s", d);
}

/* A JSON member printed compactly, or nothing when null or empty. */
static void
ctl_show_json(FILE *f, const char *label, const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *s;

	if (v == NULL || json_is_null(v) || (json_is_object(v) &&
	    json_object_size(v) == 0))
		return;
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	ctl_show_kv(f, label, "%s", s);
	free(s);
}

/* How a process ended: "exit code 0" or "killed by signal TERM". */
static void
ctl_show_exit_facts(FILE *f, const char *label, const json_t *o)
{
	json_t *code = json_object_get(o, "exit_code");
	const char *sig = json_string_value(json_object_get(o, "signal"));

	if (json_is_integer(code))
		ctl_show_kv(f, label, "exit code %lld%s",
		    (long long)json_integer_value(code),
		    json_is_true(json_object_get(o, "oom_killed")) ?
		    " (killed by the OOM killer)" : "");
	else if (sig != NULL)
		ctl_show_kv(f, label, "killed by signal %s%s", sig,
		    json_is_true(json_object_get(o, "oom_killed")) ?
		    " (the OOM killer)" : "");
}

/* Why the task was cancelled, in words. */
static const char *
ctl_show_reason(const char *reason)
{
	size_t i;

	for (i = 0; i < sizeof ctl_show_reasons / sizeof ctl_show_reasons[0];
	    i++)
		if (strcmp(ctl_show_reasons[i].reason, reason) == 0)
			return ctl_show_reasons[i].words;
	return reason;
}

/* The cancellation: when, why, the message, how many asked. */
static void
ctl_show_cancellation(FILE *f, const json_t *c)
{
	const char *msg = ctl_show_str(c, "message");
	json_int_t n = json_integer_value(json_object_get(c, "requests"));
	char ago[32];

	ctl_out_time_ago(json_string_value(json_object_get(c,
	    "requested_at")), ago, sizeof ago);
	ctl_show_kv(f, "cancelled", "%s, because %s%s%s%s (%lld request%s)",
	    ago, ctl_show_reason(ctl_show_str(c, "reason")),
	    *msg ? ": \"" : "", msg, *msg ? "\"" : "", (long long)n,
	    n == 1 ? "" : "s");
}

/* The kill receipt (0.2): method, signal, escalation, survivors. */
static void
ctl_show_kill(FILE *f, const json_t *task, const json_t *k)
{
	json_int_t survivors;
	char took[32];

	if (!json_is_object(k)) {
		if (strcmp(ctl_show_str(task, "kind"), "command") == 0 &&
		    json_is_null(k))
			ctl_show_kv(f, "stopped", "nothing to stop: the "
			    "process had already ended");
		return;
	}
	survivors = json_integer_value(json_object_get(k, "survivors"));
	duration_format(ctl_show_between(k, "signalled_at", "ended_at"), took,
	    sizeof took);
	ctl_show_kv(f, "stopped", "SIG%s to the %s, %s; every process gone "
	    "%s later", ctl_show_str(k, "signal"),
	    strcmp(ctl_show_str(k, "method"), "cgroup") == 0 ? "cgroup" :
	    "process group", json_is_true(json_object_get(k, "escalated")) ?
	    "escalated to SIGKILL" : "no SIGKILL needed", took);
	ctl_show_kv(f, "", "%s", survivors == 0 ? "no process survived "
	    "(verified)" : "SOME PROCESSES SURVIVED");
	if (survivors != 0)
		ctl_show_kv(f, "", "%lld still alive when the cleanup started",
		    (long long)survivors);
}

/* How the cleanup went, in words, with its duration and facts. */
static void
ctl_show_cleanup(FILE *f, const json_t *c)
{
	const char *state = ctl_show_str(c, "state"), *words = state;
	const char *detail = ctl_show_str(c, "detail");
	char took[32];
	size_t i;

	for (i = 0; i < sizeof ctl_show_cleanups / sizeof ctl_show_cleanups[0];
	    i++)
		if (strcmp(ctl_show_cleanups[i].state, state) == 0)
			words = ctl_show_cleanups[i].words;
	duration_format(ctl_show_between(c, "started_at", "finished_at"),
	    took, sizeof took);
	ctl_show_kv(f, "cleanup", "%s %s%s%s", words, took, *detail ? ": " :
	    "", detail);
	ctl_show_exit_facts(f, "", c);
}

/* The last ten lines of the captured output, indented. */
static void
ctl_show_output(FILE *f, const json_t *result)
{
	const char *out = ctl_show_str(result, "output"), *p, *nl;
	int lines = 0;

	p = out + strlen(out);
	if (p == out)
		return;
	if (p[-1] == '\n')
		p--;
	while (p > out && lines < 10)
		lines += *--p == '\n';
	if (*p == '\n')
		p++;
	fprintf(f, "output%s\n", p > out ? " (its end)" : "");
	for (; *p != '\0'; p = *nl ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		fprintf(f, "  %.*s\n", (int)(nl - p), p);
	}
}

/* The cancellation receipt and the cleanup, if there are any. */
void
ctl_show_receipt(FILE *f, const json_t *task)
{
	const json_t *c = json_object_get(task, "cancellation");

	if (json_is_object(c)) {
		ctl_show_cancellation(f, c);
		ctl_show_kill(f, task, json_object_get(c, "kill"));
	}
	if (json_is_object(json_object_get(task, "cleanup")))
		ctl_show_cleanup(f, json_object_get(task, "cleanup"));
}

/* Everything about one task, for people. */
void
ctl_show_task(FILE *f, const json_t *task)
{
	char ran[32];

	ctl_show_kv(f, "id", "%s", ctl_show_str(task, "id"));
	if (*ctl_show_str(task, "name") != '\0')
		ctl_show_kv(f, "name", "%s", ctl_show_str(task, "name"));
	ctl_show_kv(f, "kind", "%s", ctl_show_str(task, "kind"));
	if (*ctl_show_str(task, "job") != '\0')
		ctl_show_kv(f, "job", "%s", ctl_show_str(task, "job"));
	ctl_show_json(f, "args", task, "args");
	fprintf(f, "%-10s ", "state");
	ctl_out_state(f, ctl_show_str(task, "state"));
	fputc('\n', f);
	ctl_show_time(f, "created", task, "created_at");
	ctl_show_time(f, "starts", task, "start_at");
	ctl_show_time(f, "started", task, "started_at");
	ctl_show_time(f, "finished", task, "finished_at");
	ctl_show_ran(task, ran, sizeof ran);
	ctl_show_kv(f, "ran", "%s", ran);
	ctl_show_ms(f, "sleeps", task, "duration_ms");
	ctl_show_ms(f, "timeout", task, "timeout_ms");
	ctl_show_json(f, "metadata", task, "metadata");
	ctl_show_exit_facts(f, "result", json_object_get(task, "result"));
	ctl_show_receipt(f, task);
	ctl_show_output(f, json_object_get(task, "result"));
}
