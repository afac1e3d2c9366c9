/*
 * ctl.h -- evtaskctl's one internal header, a section per file. The shared
 * library (lib/evtask.h) gives it durations, RFC 3339 and allocation; it
 * never includes the daemon's header.
 */

#ifndef CTL_H
#define CTL_H

#include "evtask.h"

#include <getopt.h>
#include <stdio.h>

/* ctl.c: exit codes (CONTRACT §10), global flags, the command table */
enum ctl_exit {
	CTL_OK = 0,
	CTL_FAILED = 1,
	CTL_USAGE = 2,
	CTL_CANCELLED = 3,
	CTL_TIMED_OUT = 4,
	CTL_ERROR = 5,
	CTL_WAIT_TIMEOUT = 124,
	CTL_INTERRUPTED = 130,
};
struct ctl_cmd {
	const char	*name;
	int		(*run)(int, char **);
	const char	*usage;
};
extern int ctl_json;
int	 ctl_usage(const char *, const char *, ...) PRINTFLIKE(2, 3);
int	 ctl_getopt(int, char **, const char *, const struct option *,
	    const char *);
int	 ctl_main(int, char **);
int	 ctl_duration_arg(const char *, const char *, const char *, int64_t *);
void	 ctl_err(const char *, ...) PRINTFLIKE(1, 2);

/* ctl-http.c: requests to the daemon through libcurl */
struct ctl_reply {
	long		 status;
	struct buf	 body;
};
typedef int ctl_http_sink(const char *, size_t, void *);
int	 ctl_http_init(const char *, const char *);
void	 ctl_http_free(void);
const char *ctl_http_url(void);
int	 ctl_http_call(const char *, const char *, const char *, const json_t *,
	    struct ctl_reply *);
int	 ctl_http_stream(const char *, ctl_http_sink *, void *,
	    struct ctl_reply *);
int	 ctl_http_json(const char *, const char *, const char *, const json_t *,
	    struct ctl_reply *, json_t **);
void	 ctl_http_print(const struct ctl_reply *);
int	 ctl_http_problem(const char *, const struct ctl_reply *);
void	 ctl_http_reply_free(struct ctl_reply *);
char	*ctl_http_escape(const char *);

/* ctl-out.c: terminal width, colours, tables, relative times */
#define CTL_TABLE_MAXCOLS 8
struct ctl_table;
int	 ctl_out_width(void);
int	 ctl_out_colour(void);
const char *ctl_out_state_colour(const char *);
void	 ctl_out_state(FILE *, const char *);
void	 ctl_out_ago(int64_t, int64_t, char *, size_t);
void	 ctl_out_time_ago(const char *, char *, size_t);
size_t	 ctl_out_textwidth(const char *);
void	 ctl_out_layout(size_t, const size_t *, const size_t *, size_t,
	    size_t *);
struct ctl_table *ctl_table_new(size_t, const char *const *,
	    const size_t *);
void	 ctl_table_add(struct ctl_table *, const char *const *);
void	 ctl_table_print(struct ctl_table *, FILE *, size_t);
void	 ctl_table_free(struct ctl_table *);

/* ctl-show.c: a task in words */
const char *ctl_show_str(const json_t *, const char *);
int	 ctl_show_exit(const json_t *);
int	 ctl_show_terminal(const json_t *);
void	 ctl_show_line(FILE *, const json_t *);
void	 ctl_show_task(FILE *, const json_t *);
void	 ctl_show_receipt(FILE *, const json_t *);
void	 ctl_show_ran(const json_t *, char *, size_t);

/* ctl-task.c: sleep, run, show, wait, cancel */
int	 ctl_task_spec(int, char **, json_t **, int *, int *);
int	 ctl_task_path(char *, size_t, const char *, const char *);
int	 ctl_task_sleep(int, char **);
int	 ctl_task_run(int, char **);
int	 ctl_task_show(int, char **);
int	 ctl_task_wait(int, char **);
int	 ctl_task_cancel(int, char **);

/* ctl-ls.c: the task table */
int	 ctl_ls(int, char **);

/* ctl-stream.c: events and logs */
int	 ctl_stream_events(int, char **);
int	 ctl_stream_logs(int, char **);
int	 ctl_stream_output(const char *, int, int, FILE *);

/* ctl-jobs.c: the configured jobs */
int	 ctl_jobs(int, char **);

/* ctl-sched.c: recurring schedules */
int	 ctl_sched(int, char **);

#endif
