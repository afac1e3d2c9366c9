/*
 * api-jobs.c -- GET /v1/jobs: the isolation in use and every configured
 * job, sorted by name, with its args, limits, resources and how many of
 * its tasks run and wait for a slot (CONTRACT §7 "Jobs").
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

/* A string, or null for NULL (the config's strings are UTF-8). */
static json_t *
api_jobs_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* An integer, or null when it is the value meaning "not set". */
static json_t *
api_jobs_int(int64_t v, int64_t unset)
{
	return v != unset ? json_integer(v) : json_null();
}

/* {"ARG": {"pattern", "required", "description"}}. */
static json_t *
api_jobs_args(const struct job *j)
{
	json_t *args = json_object();
	const struct job_arg *a;
	size_t i;

	for (i = 0; i < j->nargs; i++) {
		a = &j->args[i];
		json_object_set_new(args, a->name, json_pack("{s:o,s:b,s:o}",
		    "pattern", api_jobs_str(a->pattern), "required",
		    a->required, "description", api_jobs_str(a->description)));
	}
	return args;
}

/* {"memory_max_bytes", "pids_max", "cpu_weight"}, null where not set. */
static json_t *
api_jobs_resources(const struct job_resources *r)
{
	return json_pack("{s:o,s:o,s:o}",
	    "memory_max_bytes", api_jobs_int(r->memory_max_bytes, 0),
	    "pids_max", api_jobs_int(r->pids_max, 0),
	    "cpu_weight", api_jobs_int(r->cpu_weight, 0));
}

/* One job as GET /v1/jobs shows it. */
static json_t *
api_jobs_one(const struct job *j)
{
	unsigned int running, queued;
	json_t *o = json_object();

	sched_job_counts(j->name, &running, &queued);
	json_object_set_new(o, "name", json_string(j->name));
	json_object_set_new(o, "description", api_jobs_str(j->description));
	json_object_set_new(o, "args", api_jobs_args(j));
	json_object_set_new(o, "timeout_ms",
	    api_jobs_int(j->timeout_ms, TASK_TIME_NONE));
	json_object_set_new(o, "max_concurrent",
	    api_jobs_int(j->max_concurrent, 0));
	json_object_set_new(o, "running", json_integer(running));
	json_object_set_new(o, "queued", json_integer(queued));
	json_object_set_new(o, "max_output_bytes",
	    json_integer((json_int_t)j->max_output_bytes));
	json_object_set_new(o, "resources", api_jobs_resources(&j->resources));
	return o;
}

/* qsort: jobs by name. */
static int
api_jobs_cmp(const void *a, const void *b)
{
	const struct job *const *ja = a, *const *jb = b;

	return strcmp((*ja)->name, (*jb)->name);
}

/* The jobs of the running configuration, sorted by name. */
static json_t *
api_jobs_list(void)
{
	const struct job **sorted;
	json_t *list = json_array();
	size_t i;

	sorted = xcalloc(cfg->njobs + 1, sizeof *sorted);
	for (i = 0; i < cfg->njobs; i++)
		sorted[i] = cfg->jobs[i];
	qsort(sorted, cfg->njobs, sizeof *sorted, api_jobs_cmp);
	for (i = 0; i < cfg->njobs; i++)
		json_array_append_new(list, api_jobs_one(sorted[i]));
	free(sorted);
	return list;
}

/* GET /v1/jobs: 200 {"isolation", "jobs"}; no query arguments. */
void
api_jobs_get(struct http_request *req)
{
	static const char *const allowed[] = { NULL };

	if (api_query_only(req, allowed) != 0)
		return;
	http_reply_json_type(req, 200, json_pack("{s:s,s:o}", "isolation",
	    cgroup_mode_name(), "jobs", api_jobs_list()), "application/json");
}
