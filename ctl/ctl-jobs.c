/*
 * ctl-jobs.c -- `evtaskctl jobs`: the jobs the daemon's config allows
 * (GET /v1/jobs, 0.2), as a table: how busy each is, its arguments.
 */

#include "ctl.h"

#include <stdlib.h>
#include <string.h>

/* "target* host" (required ones starred) for the ARGS column (to free). */
static char *
ctl_jobs_args(json_t *args)
{
	struct buf b = { NULL, 0, 0 };
	const char *name;
	json_t *a;

	json_object_foreach(args, name, a) {
		if (b.len)
			buf_adds(&b, " ");
		buf_adds(&b, name);
		if (json_is_true(json_object_get(a, "required")))
			buf_adds(&b, "*");
	}
	return buf_steal(&b, NULL);
}

/* A count member as text ("-" when null). */
static void
ctl_jobs_int(const json_t *job, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(job, key);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "-");
}

/* One job as a row. */
static void
ctl_jobs_row(struct ctl_table *t, const json_t *job)
{
	char running[16], queued[16], max[16], timeout[32];
	char *args = ctl_jobs_args(json_object_get(job, "args"));
	json_t *to = json_object_get(job, "timeout_ms");
	const char *row[7];

	ctl_jobs_int(job, "running", running, sizeof running);
	ctl_jobs_int(job, "queued", queued, sizeof queued);
	ctl_jobs_int(job, "max_concurrent", max, sizeof max);
	if (json_is_integer(to))
		duration_format(json_integer_value(to), timeout, sizeof timeout);
	else
		snprintf(timeout, sizeof timeout, "-");
	row[0] = ctl_show_str(job, "name");
	row[1] = running;
	row[2] = queued;
	row[3] = max;
	row[4] = timeout;
	row[5] = *args ? args : "-";
	row[6] = *ctl_show_str(job, "description") ? ctl_show_str(job,
	    "description") : "-";
	ctl_table_add(t, row);
	free(args);
}

/* The jobs table, then how tasks are isolated. */
static void
ctl_jobs_table(const json_t *doc)
{
	static const char *const heads[] = { "NAME", "RUNNING", "QUEUED",
	    "MAX", "TIMEOUT", "ARGS", "DESCRIPTION" };
	static const size_t minw[] = { 8, 7, 6, 3, 7, 4, 11 };
	struct ctl_table *t = ctl_table_new(7, heads, minw);
	const json_t *job;
	size_t i;

	json_array_foreach(json_object_get(doc, "jobs"), i, job)
		ctl_jobs_row(t, job);
	ctl_table_print(t, stdout, (size_t)ctl_out_width());
	ctl_table_free(t);
	if (*ctl_show_str(doc, "isolation") != '\0')
		printf("(isolation: %s; * marks required args)\n",
		    ctl_show_str(doc, "isolation"));
}

/* evtaskctl jobs */
int
ctl_jobs(int argc, char **argv)
{
	static const struct option opts[] = { { NULL, 0, NULL, 0 } };
	struct ctl_reply r;
	json_t *doc = NULL;
	int rc;

	if (ctl_getopt(argc, argv, ":", opts, "jobs") != -1)
		return CTL_USAGE;
	if (optind != argc)
		return ctl_usage("jobs", "unexpected '%s'", argv[optind]);
	if ((rc = ctl_http_json("GET", "/v1/jobs", NULL, NULL, &r, &doc)) == 0)
		ctl_json ? ctl_http_print(&r) : ctl_jobs_table(doc);
	json_decref(doc);
	ctl_http_reply_free(&r);
	return rc;
}
