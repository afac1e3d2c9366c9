/*
 * spec.c -- a create request's body into a validated task. Every bad field
 * is reported (not just the first), as {"pointer","detail"} members of the
 * problem's "errors", so that a client fixes them all at once.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_NAME_MAX 128

#define SPEC_KEY_MAX 128

static int	spec_in(const char *const *, const char *);
#define SPEC_BACKOFF_DEFAULT	1000
#define SPEC_MAX_BACKOFF_DEFAULT	300000

static const char *const spec_common_fields[] = {
	"kind", "name", "delay_ms", "start_at", "timeout_ms", "metadata",
	"retry", "concurrency_key", "on_conflict", "callback", NULL
};

/*
 * The JSON Pointer (RFC 6901) of a top-level member: "/name", with "~" and
 * "/" escaped; "" (the whole body) for NULL.
 */
static char *
spec_pointer(const char *field)
{
	char *p, *out;

	if (field == NULL)
		return xstrdup("");
	out = p = xmalloc(strlen(field) * 2 + 2);
	*p++ = '/';
	for (; *field != '\0'; field++) {
		if (*field == '~' || *field == '/') {
			*p++ = '~';
			*p++ = *field == '~' ? '0' : '1';
		} else
			*p++ = *field;
	}
	*p = '\0';
	return out;
}

/* Add one error about field (a top-level member; NULL: the body). */
void
spec_error(json_t *errors, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *detail, *pointer = spec_pointer(field);

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(errors, json_pack("{s:s,s:s}", "pointer",
	    pointer, "detail", detail));
	free(pointer);
	free(detail);
}

/* Add one error at a JSON Pointer given whole ("/retry/max_attempts"). */
void
spec_error_at(json_t *errors, const char *pointer, const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(errors, json_pack("{s:s,s:s}", "pointer",
	    pointer, "detail", detail));
	free(detail);
}

/* One integer member of a retry object in [min, max]; -1 if bad. */
static int
spec_retry_int(json_t *o, json_t *errors, const char *at, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= min &&
	    json_integer_value(v) <= max) {
		*out = json_integer_value(v);
		return 0;
	}
	spec_error_at(errors, at, "%s must be an integer from %lld to %lld",
	    key, (long long)min, (long long)max);
	return -1;
}

/*
 * A retry policy (CONTRACT §8) at member field of o, errors under the
 * pointer at: 1 if given, 0 if absent or null, -1 if bad.
 */
int
spec_retry(json_t *o, json_t *errors, const char *at, struct retry_policy *r)
{
	static const char *const keys[] = {
		"max_attempts", "backoff_ms", "max_backoff_ms", "jitter", NULL
	};
	size_t before = json_array_size(errors);
	json_t *v = json_object_get(o, "retry"), *m;
	int64_t max = 0, b = SPEC_BACKOFF_DEFAULT;
	int64_t mb = SPEC_MAX_BACKOFF_DEFAULT;
	char *p;
	const char *key;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		spec_error_at(errors, at, "must be an object such as "
		    "{\"max_attempts\": 3}");
		return -1;
	}
	json_object_foreach(v, key, m) {
		if (!spec_in(keys, key)) {
			p = xasprintf("%s/%s", at, key);
			spec_error_at(errors, p, "unknown field");
			free(p);
		}
	}
	p = xasprintf("%s/max_attempts", at);
	if (json_object_get(v, "max_attempts") == NULL)
		spec_error_at(errors, p, "required: 1 to %d", RETRY_MAX_ATTEMPTS);
	spec_retry_int(v, errors, p, "max_attempts", 1, RETRY_MAX_ATTEMPTS,
	    &max);
	free(p);
	p = xasprintf("%s/backoff_ms", at);
	spec_retry_int(v, errors, p, "backoff_ms", 0, 86400000, &b);
	free(p);
	p = xasprintf("%s/max_backoff_ms", at);
	if (spec_retry_int(v, errors, p, "max_backoff_ms", 0, 86400000, &mb)
	    == 0 && mb < b)
		spec_error_at(errors, p, "must be at least backoff_ms (%lld)",
		    (long long)b);
	free(p);
	m = json_object_get(v, "jitter");
	if (m != NULL && !json_is_boolean(m)) {
		p = xasprintf("%s/jitter", at);
		spec_error_at(errors, p, "must be true or false");
		free(p);
	}
	if (json_array_size(errors) > before)
		return -1;
	r->max_attempts = (int)max;
	r->backoff_ms = b;
	r->max_backoff_ms = mb;
	r->jitter = m == NULL || json_is_true(m);
	return 1;
}

/*
 * Read an integer number of milliseconds in [min, max]. Returns 1 if set,
 * 0 if absent or null, -1 (with an error) if invalid.
 */
int
spec_get_ms(json_t *spec, json_t *errors, const char *field, int64_t min,
    int64_t max, int64_t *out)
{
	json_t *v = json_object_get(spec, field);
	json_int_t n;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		spec_error(errors, field, "must be an integer number of "
		    "milliseconds");
		return -1;
	}
	n = json_integer_value(v);
	if (n < min || n > max) {
		spec_error(errors, field, "must be between %lld and %lld",
		    (long long)min, (long long)max);
		return -1;
	}
	*out = n;
	return 1;
}

/* Is field one of list? */
static int
spec_in(const char *const *list, const char *field)
{
	for (; list != NULL && *list != NULL; list++) {
		if (strcmp(*list, field) == 0)
			return 1;
	}
	return 0;
}

/* Characters (code points) in a valid UTF-8 string. */
static size_t
spec_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* The kind named in the spec (default sleep), or NULL with an error. */
static const struct task_kind *
spec_kind(json_t *spec, json_t *errors)
{
	json_t *v = json_object_get(spec, "kind");
	const struct task_kind *kind;

	if (v == NULL || json_is_null(v))
		return &kind_sleep;
	if (!json_is_string(v)) {
		spec_error(errors, "kind", "must be a string");
		return NULL;
	}
	kind = kind_find(json_string_value(v));
	if (kind == NULL)
		spec_error(errors, "kind", "unknown kind '%s'",
		    json_string_value(v));
	return kind;
}

/*
 * Every member must be a common field or one of the kind's. With an
 * unknown kind, only members that no kind knows are reported.
 */
static void
spec_unknown_fields(json_t *spec, const struct task_kind *kind, json_t *errors)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(spec, key, v) {
		if (spec_in(spec_common_fields, key))
			continue;
		if (kind != NULL && spec_in(kind->fields, key))
			continue;
		for (i = 0; kind == NULL && i < kind_count(); i++) {
			if (spec_in(kind_find(kind_name(i))->fields, key))
				break;
		}
		if (kind == NULL && i < kind_count())
			continue;
		spec_error(errors, key, "unknown field");
	}
}

/* name: a string of at most 128 characters. */
static void
spec_name(json_t *spec, struct task *t, json_t *errors)
{
	json_t *v = json_object_get(spec, "name");

	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_string(v))
		spec_error(errors, "name", "must be a string");
	else if (spec_utf8_len(json_string_value(v)) > SPEC_NAME_MAX)
		spec_error(errors, "name", "at most %d characters",
		    SPEC_NAME_MAX);
	else if (memchr(json_string_value(v), '\0', json_string_length(v)))
		spec_error(errors, "name", "must not contain NUL");
	else
		task_set_name(t, json_string_value(v));
}

/* delay_ms or start_at (not both): when the task starts. */
static void
spec_start(json_t *spec, struct task *t, json_t *errors)
{
	json_t *v = json_object_get(spec, "start_at");
	int64_t delay, at;
	int got;

	got = spec_get_ms(spec, errors, "delay_ms", 0, cfg->max_duration_ms,
	    &delay);
	if (got > 0)
		task_set_start(t, t->created_at + delay);
	if (v == NULL || json_is_null(v))
		return;
	if (got != 0) {
		spec_error(errors, "start_at", "give delay_ms or start_at, "
		    "not both");
		return;
	}
	if (!json_is_string(v) ||
	    clock_parse_rfc3339(json_string_value(v), &at) != 0) {
		spec_error(errors, "start_at", "must be an RFC 3339 date-time "
		    "such as 2026-11-24T21:40:00.000Z");
		return;
	}
	if (at - t->created_at > cfg->max_duration_ms) {
		spec_error(errors, "start_at", "more than max_duration_ms "
		    "(%lld) ahead", (long long)cfg->max_duration_ms);
		return;
	}
	task_set_start(t, at > t->created_at ? at : t->created_at);
}

/* metadata: an object of at most max_metadata_bytes as compact JSON. */
static void
spec_metadata(json_t *spec, struct task *t, json_t *errors)
{
	json_t *v = json_object_get(spec, "metadata");
	size_t len;

	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_object(v)) {
		spec_error(errors, "metadata", "must be an object");
		return;
	}
	len = json_dumpb(v, NULL, 0, JSON_COMPACT);
	if (len > cfg->max_metadata_bytes) {
		spec_error(errors, "metadata", "%zu bytes as JSON; the limit "
		    "is %zu", len, cfg->max_metadata_bytes);
		return;
	}
	task_set_metadata(t, json_incref(v));
}

/* concurrency_key (at most 128 characters) and on_conflict. */
static void
spec_key(json_t *spec, struct task *t, json_t *errors)
{
	json_t *k = json_object_get(spec, "concurrency_key");
	json_t *c = json_object_get(spec, "on_conflict");
	int how = -1;

	if (c != NULL && !json_is_null(c) && (!json_is_string(c) ||
	    (how = job_conflict_parse(json_string_value(c))) < 0))
		spec_error(errors, "on_conflict", "must be queue, replace or "
		    "reject");
	else if (how >= 0)
		task_policy(t)->on_conflict = how;
	if (k == NULL || json_is_null(k))
		return;
	if (!json_is_string(k) || json_string_length(k) == 0 ||
	    strlen(json_string_value(k)) != json_string_length(k))
		spec_error(errors, "concurrency_key", "must be a non-empty "
		    "string");
	else if (spec_utf8_len(json_string_value(k)) > SPEC_KEY_MAX)
		spec_error(errors, "concurrency_key", "at most %d characters",
		    SPEC_KEY_MAX);
	else
		task_policy(t)->key = xstrdup(json_string_value(k));
}

/* callback: the name of a receiver in the config (CONTRACT §9). */
static void
spec_callback(json_t *spec, struct task *t, json_t *errors)
{
	json_t *v = json_object_get(spec, "callback");

	if (v == NULL || json_is_null(v))
		return;
	if (!json_is_string(v))
		spec_error(errors, "callback", "must be a string");
	else if (config_callback(json_string_value(v)) == NULL)
		spec_error(errors, "callback", "unknown callback '%s': the "
		    "config's \"callbacks\" name the receivers",
		    json_string_value(v));
	else
		task_set_callback(t, json_string_value(v));
}

/*
 * Validate a create request body and build the task it asks for (not yet
 * submitted). On any error returns NULL with every problem in errors.
 */
struct task *
spec_parse(json_t *spec, json_t *errors)
{
	const struct task_kind *kind;
	struct retry_policy retry;
	struct task *t;
	int64_t timeout;

	if (!json_is_object(spec)) {
		spec_error(errors, NULL, "the body must be a JSON object");
		return NULL;
	}
	kind = spec_kind(spec, errors);
	spec_unknown_fields(spec, kind, errors);
	t = task_new(kind != NULL ? kind : &kind_sleep);
	spec_name(spec, t, errors);
	spec_start(spec, t, errors);
	if (spec_get_ms(spec, errors, "timeout_ms", 1, cfg->max_duration_ms,
	    &timeout) > 0)
		task_set_timeout(t, timeout);
	spec_metadata(spec, t, errors);
	if (spec_retry(spec, errors, "/retry", &retry) > 0)
		task_policy(t)->retry = retry;
	spec_key(spec, t, errors);
	spec_callback(spec, t, errors);
	if (kind != NULL)
		kind->parse(t, spec, errors);
	if (json_array_size(errors) > 0) {
		task_free(t);
		return NULL;
	}
	return t;
}
