/*
 * config-pos.c -- where the config's validation is and what it found
 * there: the key path, its place in the file's text (FILE:LINE:COLUMN),
 * the error lines, and the typed reads of members that report at that
 * place. config.c and job.c read the file through these.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_POS_DEPTH 8

/* Where the validation is: the key path, for messages and positions. */
struct config_pos {
	const char	*file;
	const char	*text;		/* the file, for positions; or NULL */
	size_t		 len;
	const char	*keys[CONFIG_POS_DEPTH];
	int		 index[CONFIG_POS_DEPTH];	/* -1: a key */
	int		 depth;
	char		**errors;
	size_t		 nerrors;
};

/* Start validating file, whose text (NULL: unreadable) pos borrows. */
struct config_pos *
config_pos_new(const char *file, const char *text, size_t len)
{
	struct config_pos *pos = xcalloc(1, sizeof *pos);

	pos->file = file;
	pos->text = text;
	pos->len = len;
	return pos;
}

/* Free pos; its errors, one per line (to free), or NULL if none. */
char *
config_pos_end(struct config_pos *pos)
{
	struct buf out = { NULL, 0, 0 };
	char *errors = NULL;
	size_t i;

	for (i = 0; i < pos->nerrors; i++) {
		buf_adds(&out, pos->errors[i]);
		buf_add(&out, "\n", 1);
		free(pos->errors[i]);
	}
	if (pos->nerrors > 0)
		errors = buf_steal(&out, NULL);
	free(pos->errors);
	free(pos);
	return errors;
}

/* --- positions: find a key path in the file's text ------------------------ */

/* Past the white space at p. */
static const char *
config_pos_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/* p at '"': the end of the string. */
static const char *
config_pos_skip_string(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\')
			p++;
	}
	return p < end ? p + 1 : end;
}

/* Past the object or array at p (the file parsed: it is well formed). */
static const char *
config_pos_skip_nested(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		if (*p == '"') {
			p = config_pos_skip_string(p, end);
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return p + 1;
		p++;
	}
	return end;
}

/* Skip one value (the file parsed, so it is well formed). */
static const char *
config_pos_skip_value(const char *p, const char *end)
{
	p = config_pos_skip_ws(p, end);
	if (p < end && *p == '"')
		return config_pos_skip_string(p, end);
	if (p < end && (*p == '{' || *p == '['))
		return config_pos_skip_nested(p, end);
	while (p < end && strchr(",}] \t\r\n", *p) == NULL)
		p++;
	return p;
}

/* Does the JSON string at p equal key (also when written with escapes)? */
static int
config_pos_key_is(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);
	const char *close;
	json_t *v;
	int eq;

	if (p + n + 2 <= end && p[0] == '"' && strncmp(p + 1, key, n) == 0 &&
	    p[n + 1] == '"')
		return 1;
	close = config_pos_skip_string(p, end);
	if (memchr(p, '\\', (size_t)(close - p)) == NULL)
		return 0;
	v = json_loadb(p, (size_t)(close - p), JSON_DECODE_ANY, NULL);
	eq = json_is_string(v) && strcmp(json_string_value(v), key) == 0;
	json_decref(v);
	return eq;
}

/* p just inside '[': element i of the array, or NULL. */
static const char *
config_pos_element(const char *p, const char *end, int i)
{
	for (p = config_pos_skip_ws(p, end); i > 0; i--) {
		p = config_pos_skip_ws(config_pos_skip_value(p, end), end);
		if (p >= end || *p != ',')
			return NULL;
		p = config_pos_skip_ws(p + 1, end);
	}
	return p;
}

/* p just inside '{': the member called key (at its key), or NULL. */
static const char *
config_pos_member(const char *p, const char *end, const char *key)
{
	for (p = config_pos_skip_ws(p, end);;) {
		if (p >= end || *p != '"')
			return NULL;
		if (config_pos_key_is(p, end, key))
			return p;
		p = config_pos_skip_ws(config_pos_skip_string(p, end), end);
		if (p >= end || *p != ':')
			return NULL;
		p = config_pos_skip_ws(config_pos_skip_value(p + 1, end), end);
		if (p >= end || *p != ',')
			return NULL;
		p = config_pos_skip_ws(p + 1, end);
	}
}

/*
 * The place of the current key path in the text: the key of the innermost
 * member (or the array element). NULL if it cannot be found.
 */
static const char *
config_pos_locate(const struct config_pos *pos)
{
	const char *p = pos->text, *end, *here = p;
	int d;

	if (p == NULL)
		return NULL;	/* the file could not be read */
	end = p + pos->len;
	p = config_pos_skip_ws(p, end);
	for (d = 0; d < pos->depth; d++) {
		if (p >= end || (*p != '{' && *p != '['))
			return NULL;
		if (*p == '[') {
			if ((p = config_pos_element(p + 1, end,
			    pos->index[d])) == NULL)
				return NULL;
			here = p;
			continue;
		}
		here = config_pos_member(p + 1, end, pos->keys[d]);
		if (here == NULL)
			return NULL;
		p = config_pos_skip_ws(config_pos_skip_string(here, end), end);
		if (p >= end || *p != ':')
			return NULL;
		p = config_pos_skip_ws(p + 1, end);
	}
	return here;
}

/* Line and column of at in the text. */
static void
config_pos_line_col(const struct config_pos *pos, const char *at, int *line,
    int *col)
{
	const char *p;

	*line = *col = 1;
	for (p = pos->text; p < at; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else
			(*col)++;
	}
}

/* The current key path ("jobs.a.argv[1]") into path. */
static void
config_pos_keypath(const struct config_pos *pos, char *path, size_t size)
{
	size_t o = 0;
	int d;

	path[0] = '\0';
	for (d = 0; d < pos->depth && o < size - 1; d++) {
		if (pos->index[d] >= 0)
			o += (size_t)snprintf(path + o, size - o, "[%d]",
			    pos->index[d]);
		else
			o += (size_t)snprintf(path + o, size - o, "%s%s",
			    d > 0 ? "." : "", pos->keys[d]);
	}	/* snprintf truncates a very long key path */
}

/* --- errors --------------------------------------------------------------- */

/* Keep an error line: one line, so control characters are escaped. */
static void
config_pos_keep(struct config_pos *pos, char *line)
{
	struct buf b = { NULL, 0, 0 };
	char esc[8];
	const char *p;

	for (p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)*p);
			buf_adds(&b, esc);
		} else
			buf_add(&b, p, 1);
	}
	free(line);
	pos->errors = xrealloc(pos->errors, (pos->nerrors + 1) *
	    sizeof *pos->errors);
	pos->errors[pos->nerrors++] = buf_steal(&b, NULL);
}

/* "file:line:col: path: msg" for the current key path (to free). */
static char *
config_pos_line(const struct config_pos *pos, const char *msg)
{
	char path[256];
	const char *at = config_pos_locate(pos), *sep;
	int line, col;

	config_pos_keypath(pos, path, sizeof path);
	sep = *path != '\0' ? ": " : "";
	if (at == NULL)
		return xasprintf("%s: %s%s%s", pos->file, path, sep, msg);
	config_pos_line_col(pos, at, &line, &col);
	return xasprintf("%s:%d:%d: %s%s%s", pos->file, line, col, path, sep,
	    msg);
}

/* Record an error at the current key path: "file:line:col: path: msg". */
void
config_pos_error(struct config_pos *pos, const char *fmt, ...)
{
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	config_pos_keep(pos, config_pos_line(pos, msg));
	free(msg);
}

/* Log a warning at the current key path (the config is still good). */
void
config_pos_warn(struct config_pos *pos, const char *fmt, ...)
{
	char *msg, *line;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	line = config_pos_line(pos, msg);
	log_warn("%s", line);
	free(line);
	free(msg);
}

/* Record jansson's error, at jansson's line and column. */
void
config_pos_json_error(struct config_pos *pos, const json_error_t *jerr)
{
	config_pos_keep(pos, xasprintf("%s:%d:%d: %s", pos->file, jerr->line,
	    jerr->column, jerr->text));
}

/* Enter a member (or an array element if key is NULL) for messages. */
void
config_pos_push(struct config_pos *pos, const char *key, int index)
{
	if (pos->depth == CONFIG_POS_DEPTH)
		fatalx("config nesting too deep");
	pos->keys[pos->depth] = key;
	pos->index[pos->depth] = key != NULL ? -1 : index;
	pos->depth++;
}

/* Leave what config_pos_push entered. */
void
config_pos_pop(struct config_pos *pos)
{
	pos->depth--;
}

/* An error at member key of the current place. */
static void PRINTFLIKE(3, 4)
config_pos_error_in(struct config_pos *pos, const char *key,
    const char *fmt, ...)
{
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	config_pos_push(pos, key, 0);
	config_pos_error(pos, "%s", msg);
	config_pos_pop(pos);
	free(msg);
}

/* --- typed reads ---------------------------------------------------------- */

/* Every member of o must be in allowed; report the others. */
void
config_pos_only(struct config_pos *pos, json_t *o, const char *const *allowed)
{
	const char *key, *const *a;
	json_t *v;

	json_object_foreach(o, key, v) {
		for (a = allowed; *a != NULL; a++) {
			if (strcmp(*a, key) == 0)
				break;
		}
		if (*a == NULL)
			config_pos_error_in(pos, key, "unknown key");
	}
}

/* An integer member in [min, max]; untouched if absent. */
void
config_pos_int(struct config_pos *pos, json_t *o, const char *key,
    int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return;
	if (!json_is_integer(v))
		config_pos_error_in(pos, key, "must be an integer");
	else if (json_integer_value(v) < min || json_integer_value(v) > max)
		config_pos_error_in(pos, key, "must be between %lld and %lld",
		    (long long)min, (long long)max);
	else
		*out = json_integer_value(v);
}

/* Is v a string without NUL bytes? */
static int
config_pos_is_string(json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) ==
	    json_string_length(v);
}

/* A string member (copied into *out, old value freed); 0 if absent. */
int
config_pos_str(struct config_pos *pos, json_t *o, const char *key,
    char **out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!config_pos_is_string(v)) {
		config_pos_error_in(pos, key, "must be a string");
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 1;
}

/* A true/false member (false if absent). */
int
config_pos_bool(struct config_pos *pos, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v != NULL && !json_is_boolean(v))
		config_pos_error_in(pos, key, "must be true or false");
	return json_is_true(v);
}

/* A string member that must be an absolute path; 1 if set. */
int
config_pos_abspath(struct config_pos *pos, json_t *o, const char *key,
    char **out)
{
	if (config_pos_str(pos, o, key, out) <= 0)
		return 0;
	if ((*out)[0] != '/')
		config_pos_error_in(pos, key, "must be an absolute path");
	return 1;
}

/* An object member, or NULL (with an error if it is something else). */
json_t *
config_pos_obj(struct config_pos *pos, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_object(v))
		return v;
	config_pos_error_in(pos, key, "must be an object");
	return NULL;
}

/* A non-empty array of strings into a NULL-terminated vector. */
char **
config_pos_strv(struct config_pos *pos, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key), *e;
	char **out;
	size_t i;

	if (v == NULL)
		return NULL;
	if (!json_is_array(v) || json_array_size(v) == 0) {
		config_pos_error_in(pos, key,
		    "must be a non-empty array of strings");
		return NULL;
	}
	out = xcalloc(json_array_size(v) + 1, sizeof *out);
	config_pos_push(pos, key, 0);
	json_array_foreach(v, i, e) {
		if (!config_pos_is_string(e)) {
			config_pos_push(pos, NULL, (int)i);
			config_pos_error(pos, "must be a string");
			config_pos_pop(pos);
			out[i] = xstrdup("");
		} else
			out[i] = xstrdup(json_string_value(e));
	}
	config_pos_pop(pos);
	return out;
}
