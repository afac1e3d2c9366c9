/*
 * fuzz_spec.c -- libFuzzer: a create request's body (bytes, parsed as the
 * daemon parses it) through spec_parse, with a config that has command jobs.
 * A task that parses must render as JSON that reads back (task_from_json)
 * into the same text; a refusal must carry well-formed errors. Everything is
 * freed, so that leaks show.
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define FUZZ_CONFIG							\
"{\n"									\
"  \"jobs\": {\n"							\
"    \"j\": {\n"							\
"      \"argv\": [\"/bin/true\", \"{a}\"],\n"				\
"      \"args\": {\"a\": {\"pattern\": \"[a-z]{1,8}\"}}\n"		\
"    },\n"								\
"    \"k\": {\n"							\
"      \"argv\": [\"/bin/echo\", \"{task_id}\", \"n={n}\", \"{o}\"],\n"	\
"      \"args\": {\n"							\
"        \"n\": {\"pattern\": \"[0-9]+\", \"required\": true},\n"	\
"        \"o\": {\"pattern\": \"-v|-q\"}\n"				\
"      },\n"								\
"      \"timeout_ms\": 60000\n"						\
"    }\n"								\
"  }\n"									\
"}\n"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Write the config into a fresh directory, load it, remove the files. */
static void
fuzz_load_config(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200], *errors;
	struct config *c;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/fuzz_spec.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/evtaskd.json", dir);
	if ((f = fopen(path, "w")) == NULL || fputs(FUZZ_CONFIG, f) == EOF ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	c = config_load(path, &errors);
	unlink(path);
	rmdir(dir);
	if (c == NULL) {
		fprintf(stderr, "fuzz_spec: the built-in config fails:\n%s",
		    errors);
		exit(1);
	}
	config_set(c);
}

/* Once: the config and a loop for task_new (never run). */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct event_base *base;

	log_init(LOG_ERROR);
	fuzz_load_config();
	if ((base = event_base_new()) == NULL) {
		fprintf(stderr, "fuzz_spec: event_base_new failed\n");
		exit(1);
	}
	task_init(base);
	return 0;
}

/* Stop with the input's verdict on stderr: libFuzzer saves the input. */
static void
fuzz_fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_spec: %s\n%s\n", what, text != NULL ? text : "");
	abort();
}

/* Every error is {"pointer": "" or "/...", "detail": "non-empty"}. */
static void
fuzz_check_errors(json_t *errors)
{
	const char *pointer, *detail;
	size_t i;
	json_t *e;
	char *text;

	if (json_array_size(errors) == 0)
		fuzz_fail("spec_parse refused the body without an error", NULL);
	json_array_foreach(errors, i, e) {
		pointer = json_string_value(json_object_get(e, "pointer"));
		detail = json_string_value(json_object_get(e, "detail"));
		if (json_object_size(e) != 2 || pointer == NULL ||
		    (*pointer != '\0' && *pointer != '/') || detail == NULL ||
		    *detail == '\0') {
			text = json_dumps(errors, JSON_COMPACT);
			fuzz_fail("malformed error entry", text);
		}
	}
	/* What the daemon sends back must dump (valid UTF-8 throughout). */
	if ((text = json_dumps(errors, JSON_COMPACT)) == NULL)
		fuzz_fail("the errors do not dump as JSON", NULL);
	free(text);
}

/* A valid task's JSON reads back into the same task. */
static void
fuzz_check_task(struct task *t)
{
	char *text, *again;
	struct task *t2;
	json_t *doc;

	text = task_to_text(t);
	if ((doc = json_loads(text, 0, NULL)) == NULL)
		fuzz_fail("the task's JSON does not parse", text);
	if ((t2 = task_from_json(doc)) == NULL)
		fuzz_fail("task_from_json refuses the task's own JSON", text);
	json_decref(doc);
	again = task_to_text(t2);
	if (strcmp(text, again) != 0) {
		fprintf(stderr, "first:  %s\nsecond: %s\n", text, again);
		fuzz_fail("the task's JSON changes on a round trip", NULL);
	}
	if (task_name(t) != NULL) {
		if ((doc = json_string(task_name(t))) == NULL)
			fuzz_fail("the task's name is not UTF-8", text);
		json_decref(doc);
	}
	free(again);
	free(text);
	task_free(t2);
}

/* One input: the body of POST /v1/tasks. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *body, *errors;
	struct task *t;

	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (body == NULL)
		return 0;
	errors = json_array();
	t = spec_parse(body, errors);
	if (t == NULL)
		fuzz_check_errors(errors);
	else {
		if (json_array_size(errors) != 0)
			fuzz_fail("spec_parse gave a task and errors",
			    json_dumps(errors, JSON_COMPACT));
		fuzz_check_task(t);
		task_free(t);
	}
	json_decref(errors);
	json_decref(body);
	return 0;
}
