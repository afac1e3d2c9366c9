/* check_job.c -- jobs: checking a definition, and the argv template
 * grammar both ways (what the config accepts, what a task runs). */

#include "evtaskd.h"
#include "check_main.h"

#include <signal.h>
#include <string.h>

#define TASK_ID "01ARZ3NDEKTSV4RRFFQ69G5FAV"

/* A job definition and what checking it must say. */
struct check_job_def {
	const char	*def;		/* the JSON of one job */
	const char	*error;		/* a substring of the one error; NULL */
	int		 nerrors;	/* how many lines (0 with error NULL) */
};

/* Templates: what the config accepts and refuses. */
static const struct check_job_def check_job_templates[] = {
	{ "{\"argv\": [\"/bin/echo\", \"{x}\"], \"args\": {\"x\": "
	  "{\"pattern\": \"[a-z]+\"}}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/echo\", \"{task_id}\", \"--id={task_id}\"]}",
	  NULL, 0 },
	{ "{\"argv\": [\"/bin/echo\", \"{{literal}}\", \"}\", \"a}b\", "
	  "\"}}\"]}", NULL, 0 },
	{ "{\"argv\": [\"/bin/echo\", \"{{{x}}}\", \"-{x}-{task_id}-\"], "
	  "\"args\": {\"x\": {\"pattern\": \"x\"}}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/echo\", \"{y}\"], \"args\": {\"x\": "
	  "{\"pattern\": \"x\"}}}",
	  "1:30: j.argv[1]: {y} names no argument of this job", 1 },
	{ "{\"argv\": [\"/bin/echo\", \"{x\"]}",
	  "j.argv[1]: '{' without '}' (write {{ for a brace)", 1 },
	{ "{\"argv\": [\"/bin/echo\", \"{z} {x\"]}",	/* then it stops */
	  "j.argv[1]: {z} names no argument", 2 },
	{ "{\"argv\": [\"/bin/echo\", \"{}\"]}",
	  "j.argv[1]: {} names no argument", 1 },
	{ "{\"argv\": [\"/bin/echo\", \"{TASK_ID}\"]}",
	  "{TASK_ID} names no argument", 1 },
	{ "{\"argv\": [\"/bin/echo\", \"{{{y}\"]}", "{y} names no argument",
	  1 },
	{ "{\"argv\": [\"/bin/echo\", \"{a{b}\"]}", "{a{b} names no argument",
	  1 },
	{ "{\"argv\": [\"/bin/echo\", \"{a}{b}\"]}", "{b} names no argument",
	  2 },
	{ "{\"argv\": [\"bin/echo\"]}",
	  "1:17: j.argv[0]: argv[0] must be an absolute path", 1 },
	{ "{\"argv\": [\"{task_id}\"]}", "argv[0] must be an absolute path",
	  1 },
	{ "{\"argv\": [\"/bin/true\"], \"cleanup_argv\": [\"/bin/echo\", "
	  "\"{nope}\"]}", "j.cleanup_argv[1]: {nope} names no argument", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"cleanup_argv\": [\"clean\"]}",
	  "j.cleanup_argv[0]: argv[0] must be an absolute path", 1 },
	{ "{\"argv\": []}", "j.argv: must be a non-empty array", 1 },
	{ "{\"args\": {}}", "j: needs an \"argv\"", 1 },
};

/* Argument definitions: accepted or refused. */
static const struct check_job_def check_job_args[] = {
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": \"x\", "
	  "\"required\": true}, \"y_2\": {\"pattern\": \"y\"}}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": \"x\", "
	  "\"required\": \"yes\"}}}",
	  "j.args.x.required: must be true or false", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"required\": "
	  "false}}}", "j.args.x: needs a \"pattern\"", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": "
	  "\"(\"}}}", "j.args.x.pattern: bad regular expression", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"task_id\": {\"pattern\": "
	  "\"x\"}}}", "j.args.task_id: argument names use a-z, 0-9 and _ "
	  "(task_id is taken)", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"X\": {\"pattern\": "
	  "\"x\"}}}", "j.args.X: argument names use", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": \"[a-z]\"}}",
	  "j.args.x: must be an object", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": \"x\", "
	  "\"optional\": true}}}", "j.args.x.optional: unknown key", 1 },
};

/* 1024 bytes, the longest description. */
#define D16	"0123456789abcdef"
#define D256	D16 D16 D16 D16 D16 D16 D16 D16 D16 D16 D16 D16 D16 D16 D16 D16
#define D1024	D256 D256 D256 D256

/* Descriptions, the output cap and resources: accepted or refused. */
static const struct check_job_def check_job_keys[] = {
	{ "{\"argv\": [\"/bin/true\"], \"description\": \"Backs up.\"}",
	  NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"description\": \"\"}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"description\": \"" D1024 "\"}",
	  NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"description\": \"" D1024 "x\"}",
	  "t.json:1:31: j.description: must be at most 1024 bytes", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"description\": 5}",
	  "t.json:1:31: j.description: must be a string", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": \"x\", "
	  "\"description\": \"A word.\"}}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": \"x\", "
	  "\"description\": \"" D1024 "x\"}}}",
	  "t.json:1:62: j.args.x.description: must be at most 1024 bytes",
	  1 },
	{ "{\"argv\": [\"/bin/true\"], \"args\": {\"x\": {\"pattern\": \"x\", "
	  "\"description\": null}}}",
	  "t.json:1:62: j.args.x.description: must be a string", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"max_output_bytes\": 4096}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"max_output_bytes\": 1099511627776}",
	  NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"max_output_bytes\": 4095}",
	  "t.json:1:31: j.max_output_bytes: must be between 4096 and "
	  "1099511627776", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"max_output_bytes\": \"16M\"}",
	  "t.json:1:31: j.max_output_bytes: must be an integer", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"memory_max_bytes\": "
	  "1048576, \"pids_max\": 1, \"cpu_weight\": 10000}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"cpu_weight\": 1, "
	  "\"pids_max\": 4194304}}", NULL, 0 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"memory_max_bytes\": "
	  "1048575}}", "t.json:1:45: j.resources.memory_max_bytes: must be "
	  "between 1048576 and 9223372036854775807", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"pids_max\": 0}}",
	  "t.json:1:45: j.resources.pids_max: must be between 1 and 4194304",
	  1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"cpu_weight\": 0}}",
	  "t.json:1:45: j.resources.cpu_weight: must be between 1 and 10000",
	  1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"cpu_weight\": "
	  "10001}}", "t.json:1:45: j.resources.cpu_weight: must be between 1 "
	  "and 10000", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"cpu_weight\": 1.5}}",
	  "t.json:1:45: j.resources.cpu_weight: must be an integer", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": {\"cpu\": 5}}",
	  "t.json:1:45: j.resources.cpu: unknown key", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"resources\": 5}",
	  "t.json:1:31: j.resources: must be an object", 1 },
	{ "{\"argv\": [\"/bin/true\"], \"descripton\": \"typo\"}",
	  "t.json:1:31: j.descripton: unknown key", 1 },
};

/* A template, the args of a task, and the argv that must come out. */
struct check_job_expand {
	const char	*tmpl[4];	/* after "/bin/echo"; NULL-ended */
	const char	*args;		/* JSON; NULL: no args at all */
	const char	*want;		/* the argv after argv[0], '|' between */
};

/* Expansion at spawn time, as the grammar defines it. */
static const struct check_job_expand check_job_expansions[] = {
	{ { "{x}" }, "{\"x\": \"hi\"}", "hi" },
	{ { "--x={x}", "{x}{x}" }, "{\"x\": \"v\"}", "--x=v|vv" },
	{ { "{task_id}" }, "{}", TASK_ID },
	{ { "{task_id}" }, NULL, TASK_ID },
	{ { "--id={task_id}.log" }, "{}", "--id=" TASK_ID ".log" },
	{ { "{task_id}" }, "{\"task_id\": \"x\"}", TASK_ID },
	/* an optional arg not given: left out alone, empty in text */
	{ { "a", "{opt}", "b" }, "{}", "a|b" },
	{ { "a{opt}b", "{opt}x", "x{opt}" }, "{}", "ab|x|x" },
	{ { "{opt}" }, NULL, "" },
	{ { "{x}", "end" }, "{\"x\": \"\"}", "|end" },	/* given, empty */
	{ { "{x}", "end" }, "{\"x\": 5}", "end" },	/* not a string */
	{ { "{unknown}", "-{unknown}-" }, "{\"x\": \"v\"}", "--" },
	/* escaping: two braces for one, single '}' is itself */
	{ { "{{x}}", "{{{x}}}" }, "{\"x\": \"v\"}", "{x}|{v}" },
	{ { "}", "}}", "a}b}}c", "{{" }, "{}", "}|}|a}b}c|{" },
	{ { "}{{x}" }, "{\"x\": \"v\"}", "}{x}" },
	/* values are not expanded again, and keep their spaces */
	{ { "{x}" }, "{\"x\": \"{task_id} {{y}}\"}", "{task_id} {{y}}" },
	{ { "{x}" }, "{\"x\": \"a b; rm -rf /\"}", "a b; rm -rf /" },
	/* a '{' without '}' (refused by the config) stays text */
	{ { "{x", "a{{b" }, "{\"x\": \"v\"}", "{x|a{b" },
	{ { "{a{b}" }, "{\"a{b\": \"v\"}", "v" },
};

/* Check def as job "j"; the error lines (to free) or NULL. */
static char *
check_job_parse(const char *def, struct job **jp)
{
	char *text = xasprintf("{\"j\": %s}", def);
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	struct config_pos *pos;
	char *errors;

	ck_assert_msg(root != NULL, "bad JSON in the table: %s", text);
	pos = config_pos_new("t.json", text, strlen(text));
	*jp = job_parse(pos, "j", json_object_get(root, "j"));
	errors = config_pos_end(pos);
	json_decref(root);
	free(text);
	return errors;
}

/* The number of lines in s. */
static int
check_job_lines(const char *s)
{
	int n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Check a row: its error (once, among nerrors lines), or none. */
static void
check_job_def_row(const struct check_job_def *row)
{
	struct job *j;
	char *errors = check_job_parse(row->def, &j);
	int ok = row->error == NULL ? errors == NULL : errors != NULL &&
	    strstr(errors, row->error) != NULL &&
	    check_job_lines(errors) == row->nerrors;
	static char fail[2048];

	snprintf(fail, sizeof fail, "%s\nwant %d: %s\ngot:\n%s", row->def,
	    row->nerrors, row->error != NULL ? row->error : "(ok)",
	    errors != NULL ? errors : "(ok)\n");
	ck_assert_int_eq(j->refs, 1);
	job_unref(j);
	free(errors);
	ck_assert_msg(ok, "%s", fail);
}

START_TEST(test_template_check)
{
	check_job_def_row(&check_job_templates[_i]);
}
END_TEST

START_TEST(test_arg_definitions)
{
	check_job_def_row(&check_job_args[_i]);
}
END_TEST

START_TEST(test_new_keys)
{
	check_job_def_row(&check_job_keys[_i]);
}
END_TEST

/* argv of a row: "/bin/echo" then its templates. */
static char **
check_job_tmpl(const struct check_job_expand *row)
{
	static char *tmpl[6];
	size_t i;

	tmpl[0] = (char *)(uintptr_t)"/bin/echo";
	for (i = 0; i < 4 && row->tmpl[i] != NULL; i++)
		tmpl[i + 1] = (char *)(uintptr_t)row->tmpl[i];
	tmpl[i + 1] = NULL;
	return tmpl;
}

/* "a|b|c" from argv after argv[0] (to free). */
static char *
check_job_join(char **argv)
{
	struct buf b = { NULL, 0, 0 };
	size_t i;

	for (i = 1; argv[i] != NULL; i++) {
		if (i > 1)
			buf_add(&b, "|", 1);
		buf_adds(&b, argv[i]);
	}
	return buf_steal(&b, NULL);
}

START_TEST(test_expand)
{
	const struct check_job_expand *row = &check_job_expansions[_i];
	json_t *args = row->args != NULL ? json_loads(row->args, 0, NULL) :
	    NULL;
	char **argv = job_argv(check_job_tmpl(row), TASK_ID, args);
	char *got = check_job_join(argv);
	int ok = strcmp(argv[0], "/bin/echo") == 0 &&
	    strcmp(got, row->want) == 0;
	static char fail[1024];

	snprintf(fail, sizeof fail, "%s ...: want '%s', got '%s'",
	    row->tmpl[0], row->want, got);
	free(got);
	xstrv_free(argv);
	json_decref(args);
	ck_assert_msg(ok, "%s", fail);
}
END_TEST

/* A placeholder name is read whole, however long. */
START_TEST(test_expand_long_name)
{
	char name[300], *tmpl[3], **argv;
	json_t *args;

	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	args = json_pack("{s:s}", name, "v");
	tmpl[0] = xstrdup("/bin/echo");
	tmpl[1] = xasprintf("{%s}", name);
	tmpl[2] = NULL;
	argv = job_argv(tmpl, TASK_ID, args);
	ck_assert_str_eq(argv[1], "v");
	ck_assert_ptr_null(argv[2]);
	xstrv_free(argv);
	free(tmpl[0]);
	free(tmpl[1]);
	json_decref(args);
}
END_TEST

/* The parsed job: defaults, args' required flags, references. */
START_TEST(test_parsed_job)
{
	struct job *j;
	char *errors = check_job_parse(check_job_args[0].def, &j);

	ck_assert_ptr_null(errors);
	ck_assert_str_eq(j->name, "j");
	ck_assert_uint_eq(j->nargs, 2);
	ck_assert_str_eq(j->args[0].name, "x");
	ck_assert_int_eq(j->args[0].required, 1);
	ck_assert_int_eq(j->args[0].compiled, 1);
	ck_assert_str_eq(j->args[1].name, "y_2");
	ck_assert_int_eq(j->args[1].required, 0);
	ck_assert(j->timeout_ms == TASK_TIME_NONE);
	ck_assert_int_eq(j->kill_signal, SIGTERM);
	ck_assert_int_eq(j->kill_grace_ms, 5000);
	ck_assert_int_eq(j->cleanup_timeout_ms, 30000);
	ck_assert_str_eq(j->working_dir, "/");
	ck_assert_ptr_null(j->description);
	ck_assert_ptr_null(j->args[0].description);
	ck_assert_uint_eq(j->max_output_bytes, 16777216);
	ck_assert_int_eq(j->resources.memory_max_bytes, 0);
	ck_assert_int_eq(j->resources.pids_max, 0);
	ck_assert_int_eq(j->resources.cpu_weight, 0);
	ck_assert_ptr_eq(job_ref(j), j);
	ck_assert_int_eq(j->refs, 2);
	job_unref(j);
	ck_assert_int_eq(j->refs, 1);
	job_unref(j);		/* the last one: freed (valgrind checks) */
	job_unref(NULL);	/* harmless */
}
END_TEST

/* Descriptions, the output cap and resources as read. */
START_TEST(test_parsed_new_keys)
{
	struct job *j;
	char *errors = check_job_parse("{\"argv\": [\"/bin/true\"], "
	    "\"description\": \"Copies \\u00e9t\\u00e9.\", "
	    "\"args\": {\"x\": {\"pattern\": \"x\", \"description\": \"X.\"}, "
	    "\"y\": {\"pattern\": \"y\"}}, \"max_output_bytes\": 65536, "
	    "\"resources\": {\"memory_max_bytes\": 268435456, "
	    "\"pids_max\": 64, \"cpu_weight\": 200}}", &j);

	ck_assert_ptr_null(errors);
	ck_assert_str_eq(j->description, "Copies \xc3\xa9t\xc3\xa9.");
	ck_assert_str_eq(j->args[0].description, "X.");
	ck_assert_ptr_null(j->args[1].description);
	ck_assert_uint_eq(j->max_output_bytes, 65536);
	ck_assert_int_eq(j->resources.memory_max_bytes, 268435456);
	ck_assert_int_eq(j->resources.pids_max, 64);
	ck_assert_int_eq(j->resources.cpu_weight, 200);
	job_unref(j);		/* every string freed (valgrind checks) */
}
END_TEST

#define CHECK_JOB_N(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
job_suite(void)
{
	Suite *s = suite_create("job");
	TCase *tc = tcase_create("check");

	tcase_add_loop_test(tc, test_template_check, 0,
	    CHECK_JOB_N(check_job_templates));
	tcase_add_loop_test(tc, test_arg_definitions, 0,
	    CHECK_JOB_N(check_job_args));
	tcase_add_loop_test(tc, test_new_keys, 0,
	    CHECK_JOB_N(check_job_keys));
	tcase_add_test(tc, test_parsed_job);
	tcase_add_test(tc, test_parsed_new_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("expand");
	tcase_add_loop_test(tc, test_expand, 0,
	    CHECK_JOB_N(check_job_expansions));
	tcase_add_test(tc, test_expand_long_name);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(job_suite)
