/*
 * kind-command.c -- the command kind: runs a job named in the config with
 * validated args (each {placeholder} becomes exactly one argument, no
 * shell). Cancel sends the job's kill_signal to the process group, SIGKILL
 * after kill_grace_ms, then runs cleanup_argv bounded by
 * cleanup_timeout_ms. A job's max_concurrent queues extra tasks.
 */

#include "evtaskd.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMAND_CAPTURE	(64 * 1024)	/* output tail kept */
#define COMMAND_PATH	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
			"/usr/bin:/sbin:/bin"

struct command_data;
TAILQ_HEAD(command_queue, command_data);

/* The slots of one job (by name, so that they outlive reloads). */
struct command_slots {
	char			*name;
	unsigned int		 used;
	struct command_queue	 queue;		/* due, waiting, by id */
	LIST_ENTRY(command_slots) entry;
};

struct command_data {
	struct task		*task;
	struct job		*job;		/* NULL: no longer configured */
	char			*job_name;
	json_t			*args;
	struct proc		*proc;		/* the job's process */
	struct proc		*cleanup;	/* the cleanup's */
	pid_t			 pid;		/* shown in the task */
	int			 has_slot;
	int			 queued;
	int			 cleanup_timed_out;
	TAILQ_ENTRY(command_data) entry;	/* in its slots' queue */
};

#define CMD(t) ((struct command_data *)(void *)(t)->data)
#define CCMD(t) ((const struct command_data *)(const void *)(t)->data)

static const char *const command_fields[] = { "job", "args", NULL };
static LIST_HEAD(, command_slots) command_all =
    LIST_HEAD_INITIALIZER(command_all);

static void	command_main_exit_cb(struct proc *, void *);

/* The slots of a job name, made on first use. */
static struct command_slots *
command_slots(const char *name)
{
	struct command_slots *s;

	LIST_FOREACH(s, &command_all, entry) {
		if (strcmp(s->name, name) == 0)
			return s;
	}
	s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	TAILQ_INIT(&s->queue);
	LIST_INSERT_HEAD(&command_all, s, entry);
	return s;
}

/* Check one arg value against its definition. */
static void
command_check_arg(const struct job *j, const char *name, json_t *v,
    json_t *errors)
{
	size_t i;

	for (i = 0; i < j->nargs; i++) {
		if (strcmp(j->args[i].name, name) == 0)
			break;
	}
	if (i == j->nargs)
		spec_error(errors, "args", "job '%s' has no argument '%s'",
		    j->name, name);
	else if (!json_is_string(v) || strlen(json_string_value(v)) !=
	    json_string_length(v))
		spec_error(errors, "args", "'%s' must be a string", name);
	else if (!j->args[i].compiled || regexec(&j->args[i].re,
	    json_string_value(v), 0, NULL, 0) != 0)
		spec_error(errors, "args", "'%s' does not match %s", name,
		    j->args[i].pattern != NULL ? j->args[i].pattern : "");
}

/* Validate "args" against the job's definitions. */
static int
command_parse_args(const struct job *j, json_t *args, json_t *errors)
{
	size_t before = json_array_size(errors), i;
	const char *name;
	json_t *v;

	if (args != NULL && !json_is_object(args)) {
		spec_error(errors, "args", "must be an object");
		return -1;
	}
	json_object_foreach(args, name, v)
		command_check_arg(j, name, v, errors);
	for (i = 0; i < j->nargs; i++) {
		if (j->args[i].required &&
		    json_object_get(args, j->args[i].name) == NULL)
			spec_error(errors, "args", "'%s' is required",
			    j->args[i].name);
	}
	return json_array_size(errors) > before ? -1 : 0;
}

/* A create request's job, args and timeout. */
static int
command_parse(struct task *t, json_t *spec, json_t *errors)
{
	struct command_data *d = CMD(t);
	json_t *jv = json_object_get(spec, "job");
	json_t *args = json_object_get(spec, "args");
	struct job *j;

	d->task = t;
	if (!json_is_string(jv)) {
		spec_error(errors, "job", jv == NULL ? "required for a command "
		    "task: the name of a job in the config" : "must be a "
		    "string");
		return -1;
	}
	if ((j = config_job(json_string_value(jv))) == NULL) {
		spec_error(errors, "job", "no job '%s' in the config",
		    json_string_value(jv));
		return -1;
	}
	if (command_parse_args(j, json_is_null(args) ? NULL : args, errors))
		return -1;
	if (j->timeout_ms != TASK_TIME_NONE) {
		if (task_timeout_ms(t) == TASK_TIME_NONE)
			task_set_timeout(t, j->timeout_ms);
		else if (task_timeout_ms(t) > j->timeout_ms) {
			spec_error(errors, "timeout_ms", "at most the job's "
			    "timeout_ms (%lld)", (long long)j->timeout_ms);
			return -1;
		}
	}
	d->job = job_ref(j);
	d->job_name = xstrdup(j->name);
	d->args = json_is_object(args) ? json_incref(args) : json_object();
	return 0;
}

/* Its members in the task's JSON. */
static void
command_write_json(const struct task *t, struct buf *b)
{
	const struct command_data *d = CCMD(t);

	buf_adds(b, ",\"duration_ms\":null,\"job\":");
	buf_add_jstr(b, d->job_name);
	buf_adds(b, ",\"args\":");
	buf_add_json(b, d->args);
	buf_adds(b, ",\"pid\":");
	if (d->pid > 0)
		buf_add_int(b, d->pid);
	else
		buf_add(b, "null", 4);
}

/*
 * A process group left from before a crash, if it is still ours: its
 * environment names this task. It cannot be reaped, so it is killed.
 */
static void
command_kill_orphan(const struct task *t, pid_t pid)
{
	char path[64], buf[65536], needle[64], id[ULID_LEN + 1];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	ulid_format(&t->id, id);
	snprintf(needle, sizeof needle, "EVTASKD_TASK_ID=%s", id);
	if (memmem(buf, (size_t)n, needle, strlen(needle)) == NULL)
		return;
	log_warn("task %s: its process group %d outlived the daemon; "
	    "killing it", id, (int)pid);
	kill(-pid, SIGKILL);
}

/* Read back what command_write_json wrote (recovery). */
static int
command_from_json(struct task *t, json_t *doc)
{
	struct command_data *d = CMD(t);
	json_t *jv = json_object_get(doc, "job");
	json_t *args = json_object_get(doc, "args");
	json_t *pid = json_object_get(doc, "pid");
	struct job *j;

	if (!json_is_string(jv) || !json_is_object(args))
		return -1;
	d->task = t;
	d->job_name = xstrdup(json_string_value(jv));
	d->args = json_incref(args);
	if ((j = config_job(d->job_name)) != NULL)
		d->job = job_ref(j);
	if (json_is_integer(pid))
		d->pid = (pid_t)json_integer_value(pid);
	if (d->pid > 0 && (t->state == TASK_RUNNING ||
	    t->state == TASK_CANCELLING))
		command_kill_orphan(t, d->pid);
	return 0;
}

/* May the task start now? Otherwise it waits, in id order, for a slot. */
static int
command_admit(struct task *t)
{
	struct command_data *d = CMD(t), *q;
	struct command_slots *s;

	if (d->job == NULL || d->job->max_concurrent == 0)
		return 1;
	s = command_slots(d->job_name);
	if (s->used < d->job->max_concurrent && TAILQ_EMPTY(&s->queue)) {
		s->used++;
		d->has_slot = 1;
		return 1;
	}
	/* Usually the newest: walk from the tail. */
	TAILQ_FOREACH_REVERSE(q, &s->queue, command_queue, entry) {
		if (ulid_cmp(&q->task->id, &t->id) < 0)
			break;
	}
	if (q == NULL)
		TAILQ_INSERT_HEAD(&s->queue, d, entry);
	else
		TAILQ_INSERT_AFTER(&s->queue, q, d, entry);
	d->queued = 1;
	return 0;
}

/* Leave the queue (cancelled while waiting). */
static void
command_unqueue(struct task *t)
{
	struct command_data *d = CMD(t);

	if (!d->queued)
		return;
	TAILQ_REMOVE(&command_slots(d->job_name)->queue, d, entry);
	d->queued = 0;
}

/* The task is done with its slot: the next waiting task may start. */
static void
command_release(struct command_data *d)
{
	struct command_slots *s;
	struct command_data *next;
	unsigned int max;

	if (!d->has_slot)
		return;
	d->has_slot = 0;
	s = command_slots(d->job_name);
	s->used--;
	while (!task_held() && (next = TAILQ_FIRST(&s->queue)) != NULL) {
		max = next->job != NULL ? next->job->max_concurrent : 0;
		if (max != 0 && s->used >= max)
			break;
		TAILQ_REMOVE(&s->queue, next, entry);
		next->queued = 0;
		s->used++;
		next->has_slot = 1;
		task_start(next->task);
	}
}

/* The child's environment: PATH, the job's env, and who it is. */
static char **
command_envp(const struct command_data *d, const char *task_id,
    const char *extra1, const char *extra2)
{
	char **envp;
	size_t i, n = 0, njob = 0;

	while (d->job->env != NULL && d->job->env[njob] != NULL)
		njob++;
	envp = xcalloc(njob + 6, sizeof *envp);
	envp[n++] = xstrdup(COMMAND_PATH);
	for (i = 0; i < njob; i++)
		envp[n++] = xstrdup(d->job->env[i]);
	envp[n++] = xasprintf("EVTASKD_TASK_ID=%s", task_id);
	envp[n++] = xasprintf("EVTASKD_JOB=%s", d->job_name);
	if (extra1 != NULL)
		envp[n++] = xstrdup(extra1);
	if (extra2 != NULL)
		envp[n++] = xstrdup(extra2);
	return envp;
}

/* Spawn argv_tmpl for the task; NULL with *err if it could not start. */
static struct proc *
command_spawn(struct command_data *d, char **tmpl, const char *extra1,
    const char *extra2, proc_exit_cb *cb, char **err)
{
	char id[ULID_LEN + 1], **argv, **envp;
	struct proc *p;

	ulid_format(&d->task->id, id);
	argv = job_argv(tmpl, id, d->args);
	envp = command_envp(d, id, extra1, extra2);
	p = proc_spawn(argv, envp, d->job->working_dir, COMMAND_CAPTURE, cb,
	    d->task, err);
	xstrv_free(argv);
	xstrv_free(envp);
	return p;
}

/* Start the job's process. */
static void
command_start(struct task *t)
{
	struct command_data *d = CMD(t);
	char *err = NULL;

	if (d->job == NULL)
		err = xasprintf("job '%s' is no longer in the config",
		    d->job_name);
	else
		d->proc = command_spawn(d, d->job->argv, NULL, NULL,
		    command_main_exit_cb, &err);
	if (d->proc == NULL) {
		task_finish(t, TASK_FAILED, json_pack("{s:n,s:n,s:s,s:s}",
		    "exit_code", "signal", "output", "", "error", err));
		free(err);
		command_release(d);
		return;
	}
	d->pid = proc_pid(d->proc);
	task_touch(t);		/* the pid is part of the task */
}

/* Wake the task in ms (kill grace, cleanup limit): command_timer. */
static void
command_wake_in(struct task *t, int64_t ms)
{
	task_set_deadline(t, clock_now_ms() + ms);
}

/* The job's process ended: by itself, or because we stopped it. */
static void
command_main_exit_cb(struct proc *p, void *arg)
{
	struct task *t = arg;
	struct command_data *d = CMD(t);
	json_t *facts = proc_facts(p);
	int ok = proc_succeeded(p);

	task_set_deadline(t, TASK_TIME_NONE);
	proc_free(p);
	d->proc = NULL;
	if (t->state == TASK_RUNNING) {
		task_finish(t, ok ? TASK_SUCCEEDED : TASK_FAILED, facts);
		command_release(d);
		return;
	}
	task_set_result(t, facts);
	task_stopped(t);	/* cancelling: now the cleanup */
}

/*
 * The task's deadline passed while cancelling: kill_grace_ms with the
 * process group still there (SIGKILL it), or cleanup_timeout_ms with the
 * cleanup still running (kill that).
 */
static void
command_timer(struct task *t)
{
	struct command_data *d = CMD(t);

	if (d->proc != NULL)
		proc_kill(d->proc, SIGKILL);
	else if (d->cleanup != NULL) {
		d->cleanup_timed_out = 1;
		proc_kill(d->cleanup, SIGKILL);
	}
}

/* Cancelled while running: kill_signal to the group, SIGKILL later. */
static void
command_stop(struct task *t)
{
	struct command_data *d = CMD(t);

	if (d->proc == NULL) {		/* recovered: nothing of ours runs */
		task_stopped(t);
		return;
	}
	proc_kill(d->proc, d->job->kill_signal);
	command_wake_in(t, d->job->kill_grace_ms);
}

/* The cleanup process ended. */
static void
command_cleanup_exit_cb(struct proc *p, void *arg)
{
	struct task *t = arg;
	struct command_data *d = CMD(t);
	json_t *facts = proc_facts(p);
	char *how = proc_describe(p), *detail = NULL;
	enum cleanup_state st = CLEANUP_SUCCEEDED;

	task_set_deadline(t, TASK_TIME_NONE);
	if (d->cleanup_timed_out) {
		st = CLEANUP_TIMED_OUT;
		detail = xasprintf("killed after cleanup_timeout_ms (%lld)",
		    (long long)d->job->cleanup_timeout_ms);
	} else if (!proc_succeeded(p)) {
		st = CLEANUP_FAILED;
		detail = xasprintf("the cleanup %s", how);
	}
	proc_free(p);
	d->cleanup = NULL;
	task_cleanup_done(t, st, detail, facts);
	command_release(d);
	free(how);
	free(detail);
}

/* The cleanup: cleanup_argv with the reason in its environment. */
static void
command_cleanup(struct task *t)
{
	struct command_data *d = CMD(t);
	char reason[64], started[32], *err = NULL;

	if (d->job == NULL) {
		task_cleanup_done(t, CLEANUP_FAILED, "the job is no longer in "
		    "the config: its cleanup cannot run", NULL);
		command_release(d);
		return;
	}
	if (d->job->cleanup_argv == NULL) {
		task_cleanup_done(t, CLEANUP_SUCCEEDED, NULL, NULL);
		command_release(d);
		return;
	}
	snprintf(reason, sizeof reason, "EVTASKD_CANCEL_REASON=%s",
	    task_reason_name(t->x->cancel_reason));
	snprintf(started, sizeof started, "EVTASKD_TASK_STARTED=%s",
	    t->started_at != TASK_TIME_NONE ? "true" : "false");
	d->cleanup_timed_out = 0;
	d->cleanup = command_spawn(d, d->job->cleanup_argv, reason, started,
	    command_cleanup_exit_cb, &err);
	if (d->cleanup == NULL) {
		task_cleanup_done(t, CLEANUP_FAILED, err, NULL);
		free(err);
		command_release(d);
		return;
	}
	command_wake_in(t, d->job->cleanup_timeout_ms);
}

/* After a restart a running command's process is gone: cancel it. */
static void
command_recover(struct task *t)
{
	task_cancel(t, CANCEL_RESTART, NULL);
}

/* Free the kind's part of a task. */
static void
command_free(struct task *t)
{
	struct command_data *d = CMD(t);

	if (d->task == NULL)
		return;		/* never parsed */
	proc_free(d->proc);
	proc_free(d->cleanup);
	command_unqueue(t);
	if (d->has_slot) {
		command_slots(d->job_name)->used--;
		d->has_slot = 0;
	}
	job_unref(d->job);
	json_decref(d->args);
	free(d->job_name);
}

static void
command_init(struct event_base *base)
{
	proc_init(base);
}

static void
command_shutdown(void)
{
	struct command_slots *s;

	while ((s = LIST_FIRST(&command_all)) != NULL) {
		LIST_REMOVE(s, entry);
		free(s->name);
		free(s);
	}
	proc_shutdown();
}

/* The job a task runs, for the log of its outcome. */
static const char *
command_job_name(const struct task *t)
{
	const struct command_data *d = (const void *)t->data;

	return d->job_name;
}

const struct task_kind kind_command = {
	.name = "command",
	.data_size = sizeof(struct command_data),
	.fields = command_fields,
	.resumable = 0,
	.parse = command_parse,
	.write_json = command_write_json,
	.from_json = command_from_json,
	.admit = command_admit,
	.unqueue = command_unqueue,
	.start = command_start,
	.stop = command_stop,
	.cleanup = command_cleanup,
	.timer = command_timer,
	.recover = command_recover,
	.free = command_free,
	.init = command_init,
	.shutdown = command_shutdown,
	.job = command_job_name,
};
