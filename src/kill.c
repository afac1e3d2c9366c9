/*
 * kill.c -- the kill receipt: how a cancel stopped a command's processes
 * (CONTRACT §7): the method, the signal, when it was sent, whether SIGKILL
 * was needed, when the last process was gone, and how many were still
 * alive when the cleanup started (0: verified none). Shown as
 * cancellation.kill, and read back after a restart.
 */

#include "evtaskd.h"

#include <string.h>

static const char *const kill_methods[] = {
	[KILL_CGROUP] = "cgroup",
	[KILL_PROCESS_GROUP] = "process_group",
};

/* The processes are being signalled now. */
void
kill_begin(struct kill_receipt *k, enum kill_method method, int sig)
{
	memset(k, 0, sizeof *k);
	k->sent = 1;
	k->method = (uint8_t)method;
	k->signal = sig;
	k->signalled_at = clock_now_ms();
	k->ended_at = TASK_TIME_NONE;
	k->survivors = -1;
}

/* kill_grace_ms passed: SIGKILL was needed. */
void
kill_escalate(struct kill_receipt *k)
{
	k->escalated = 1;
}

/* No process is left (survivors 0), or we stop waiting with some. */
void
kill_end(struct kill_receipt *k, int survivors)
{
	k->ended_at = clock_now_ms();
	k->survivors = survivors;
}

/* Append key then an RFC 3339 time or null. */
static void
kill_write_time(struct buf *b, const char *key, int64_t ms)
{
	char tmp[CLOCK_RFC3339_LEN + 1];

	buf_adds(b, key);
	if (ms == TASK_TIME_NONE) {
		buf_adds(b, "null");
		return;
	}
	clock_format_ms(ms, tmp);
	buf_add(b, "\"", 1);
	buf_add(b, tmp, CLOCK_RFC3339_LEN);
	buf_add(b, "\"", 1);
}

/* The receipt as the value of cancellation.kill (null: nothing sent). */
void
kill_write_json(const struct kill_receipt *k, struct buf *b)
{
	if (!k->sent) {
		buf_adds(b, "null");
		return;
	}
	buf_adds(b, "{\"method\":\"");
	buf_adds(b, kill_methods[k->method]);
	buf_adds(b, "\",\"signal\":");
	buf_add_jstr(b, signame_of(k->signal));
	kill_write_time(b, ",\"signalled_at\":", k->signalled_at);
	buf_adds(b, k->escalated ? ",\"escalated\":true" :
	    ",\"escalated\":false");
	kill_write_time(b, ",\"ended_at\":", k->ended_at);
	buf_adds(b, ",\"survivors\":");
	if (k->survivors < 0)
		buf_adds(b, "null");
	else
		buf_add_int(b, k->survivors);
	buf_add(b, "}", 1);
}

/* A time member back: RFC 3339 or null; -1 if neither. */
static int
kill_get_time(json_t *o, const char *key, int64_t *ms)
{
	json_t *v = json_object_get(o, key);

	*ms = TASK_TIME_NONE;
	if (v == NULL || json_is_null(v))
		return 0;
	return json_is_string(v) ? clock_parse_rfc3339(json_string_value(v),
	    ms) : -1;
}

/* Read back what kill_write_json wrote (recovery); 0 or -1. */
int
kill_from_json(struct kill_receipt *k, json_t *v)
{
	const char *method, *sig;
	json_t *surv;
	int esc = 0;

	memset(k, 0, sizeof *k);
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_unpack(v, "{s:s,s:s,s?b,s?o}", "method", &method, "signal",
	    &sig, "escalated", &esc, "survivors", &surv) != 0)
		return -1;
	k->sent = 1;
	k->method = strcmp(method, "cgroup") == 0 ? KILL_CGROUP :
	    KILL_PROCESS_GROUP;
	k->signal = signame_parse(sig);
	k->escalated = esc != 0;
	k->survivors = json_is_integer(surv) ?
	    (int)json_integer_value(surv) : -1;
	return kill_get_time(v, "signalled_at", &k->signalled_at) != 0 ||
	    kill_get_time(v, "ended_at", &k->ended_at) != 0 ? -1 : 0;
}
