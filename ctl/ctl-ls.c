/*
 * ctl-ls.c -- `evtaskctl ls`: the task list as a table that fits the
 * terminal (id, name, kind or job, state, age, how long it ran), newest
 * first as the daemon sends it; --json prints the daemon's page as it is.
 */

#include "ctl.h"

#include <stdlib.h>
#include <string.h>

/* The query arguments, by flag. */
static const struct {
	int		 flag;
	const char	*arg;
} ctl_ls_args[] = {
	{ 's', "state" },
	{ 'k', "kind" },
	{ 'S', "schedule" },
	{ 'l', "limit" },
};
#define CTL_LS_NARGS (sizeof ctl_ls_args / sizeof ctl_ls_args[0])

/* Add "&arg=value" (escaped) for one flag to the query. */
static void
ctl_ls_query(struct buf *q, int flag, const char *value)
{
	char *e = ctl_http_escape(value);
	size_t i;

	for (i = 0; i < CTL_LS_NARGS; i++)
		if (ctl_ls_args[i].flag == flag) {
			buf_adds(q, q->len ? "&" : "?");
			buf_adds(q, ctl_ls_args[i].arg);
			buf_adds(q, "=");
			buf_adds(q, e);
		}
	free(e);
}

/* One task as a row of the table. */
static void
ctl_ls_row(struct ctl_table *t, const json_t *task)
{
	char ago[32], ran[32], *kind;
	const char *job = ctl_show_str(task, "job");
	const char *row[6];

	kind = *job ? xasprintf("%s/%s", ctl_show_str(task, "kind"), job) :
	    xstrdup(ctl_show_str(task, "kind"));
	ctl_out_time_ago(json_string_value(json_object_get(task,
	    "created_at")), ago, sizeof ago);
	ctl_show_ran(task, ran, sizeof ran);
	row[0] = ctl_show_str(task, "id");
	row[1] = *ctl_show_str(task, "name") ? ctl_show_str(task, "name") :
	    "-";
	row[2] = kind;
	row[3] = ctl_show_str(task, "state");
	row[4] = ago;
	row[5] = ran;
	ctl_table_add(t, row);
	free(kind);
}

/* The table of a page of tasks. */
static void
ctl_ls_table(const json_t *page)
{
	static const char *const heads[] = { "ID", "NAME", "KIND", "STATE",
	    "CREATED", "RAN" };
	static const size_t minw[] = { 26, 4, 4, 10, 8, 5 };
	struct ctl_table *t = ctl_table_new(6, heads, minw);
	const json_t *task;
	size_t i;

	json_array_foreach(json_object_get(page, "tasks"), i, task)
		ctl_ls_row(t, task);
	ctl_table_print(t, stdout, (size_t)ctl_out_width());
	ctl_table_free(t);
	if (json_is_string(json_object_get(page, "next_page_token")))
		printf("(more: raise --limit to see them)\n");
}

/* evtaskctl ls [--state S,...] [--kind K] [--schedule ID] [--limit N] */
int
ctl_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "kind", required_argument, NULL, 'k' },
		{ "schedule", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct buf q = { NULL, 0, 0 };
	struct ctl_reply r;
	json_t *page = NULL;
	char *path;
	int c, rc;

	while ((c = ctl_getopt(argc, argv, ":", opts, "ls")) != -1) {
		if (c == '?') {
			free(q.data);
			return CTL_USAGE;
		}
		ctl_ls_query(&q, c, optarg);
	}
	if (optind != argc) {
		free(q.data);
		return ctl_usage("ls", "unexpected '%s'", argv[optind]);
	}
	path = xasprintf("/v1/tasks%s", q.len ? q.data : "");
	free(q.data);
	if ((rc = ctl_http_json("GET", path, NULL, NULL, &r, &page)) == 0 &&
	    ctl_json)
		ctl_http_print(&r);
	else if (rc == 0)
		ctl_ls_table(page);
	json_decref(page);
	ctl_http_reply_free(&r);
	free(path);
	return rc;
}
