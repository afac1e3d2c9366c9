/*
 * kind-command.c -- the command kind: runs a job named in the config with
 * validated args (each {placeholder} becomes exactly one argument, no
 * shell), in a cgroup of its own where the daemon can make one, else in a
 * process group. Its output and its cleanup's go to the task's output
 * (output.c). Cancel sends the job's kill_signal to every process, SIGKILL
 * after kill_grace_ms, waits until none is left (the receipt, kill.c
 * says how that went), then runs cleanup_argv bounded by
 * cleanup_timeout_ms. When a task may start (a job's max_concurrent, its
 * concurrency key) is sched.c's to decide.
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

struct command_data {
	struct task		*task;
	struct job		*job;		/* NULL: no longer configured */
	char			*job_name;
	json_t			*args;
	struct proc		*proc;		/* the job's process */
	struct proc		*cleanup;	/* the cleanup's */
	struct cgroup		*cg;		/* the running process's cgroup */
	struct output		*out[OUTPUT_NSTREAMS];
	json_t			*facts;		/* how the process ended */
	struct kill_receipt	 kill;
	pid_t			 pid;		/* shown in the task */
	int			 cleanup_timed_out;
	int			 empty;		/* its cgroup has no process */
};

#define CMD(t) ((struct command_data *)(void *)(t)->data)
#define CCMD(t) ((const struct command_data *)(const void *)(t)->data)

static const char *const command_fields[] = { "job", "args", NULL };

static void	command_main_exit_cb(struct proc *, void *);

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

/*
 * The job's defaults for the task's policies: its retry (a task may not
 * ask for more attempts than the job allows), its concurrency key
 * template and on_conflict.
 */
static int
command_policy(struct task *t, const struct job *j, json_t *oc,
    json_t *errors)
{
	struct task_policy *p = TASK_POL(t);
	char id[ULID_LEN + 1];

	if (j->retry.max_attempts > 0 && (p == NULL ||
	    p->retry.max_attempts == 0))
		task_policy(t)->retry = j->retry;
	else if (j->retry.max_attempts > 0 && p->retry.max_attempts >
	    j->retry.max_attempts) {
		spec_error_at(errors, "/retry/max_attempts", "at most the job's "
		    "retry.max_attempts (%d)", j->retry.max_attempts);
		return -1;
	}
	if (j->on_conflict >= 0 && (oc == NULL || json_is_null(oc)))
		task_policy(t)->on_conflict = j->on_conflict;
	if (j->concurrency_key != NULL && (p == NULL || p->key == NULL)) {
		ulid_format(&t->id, id);
		task_policy(t)->key = job_fill(j->concurrency_key, id, CMD(t)->args);
	}
	return 0;
}

/*
 * A cluster's command task whose job this node's config lacks (CONTRACT
 * §12): it is stored unplaced for a node with the job to claim. Only what
 * needs no job definition is checked here (args an object of strings);
 * the job's own checks and defaults are the claiming node's config's
 * (command_place). An on_conflict other than queue cannot be honoured
 * there (this answer has gone out by then), so it is refused here.
 */
static int
command_parse_unplaced(struct task *t, json_t *spec, json_t *jv,
    json_t *args, json_t *errors)
{
	struct command_data *d = CMD(t);
	size_t before = json_array_size(errors);
	json_t *v, *oc = json_object_get(spec, "on_conflict");
	const char *name;

	if (args != NULL && !json_is_null(args) && !json_is_object(args)) {
		spec_error(errors, "args", "must be an object");
		return -1;
	}
	if (json_is_string(oc) && (strcmp(json_string_value(oc), "replace") ==
	    0 || strcmp(json_string_value(oc), "reject") == 0))
		spec_error(errors, "on_conflict", "no job '%s' on this node: "
		    "only queue can wait for a node with the job (create the "
		    "task on such a node)", json_string_value(jv));
	json_object_foreach(json_is_object(args) ? args : NULL, name, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) !=
		    json_string_length(v))
			spec_error(errors, "args", "'%s' must be a string",
			    name);
	}
	if (json_array_size(errors) > before)
		return -1;
	d->job_name = xstrdup(json_string_value(jv));
	d->args = json_is_object(args) ? json_incref(args) : json_object();
	t->unplaced = 1;
	return 0;
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
	if ((j = config_job(json_string_value(jv))) == NULL && task_cluster())
		return command_parse_unplaced(t, spec, jv, args, errors);
	if (j == NULL) {
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
	return command_policy(t, j, json_object_get(spec, "on_conflict"),
	    errors);
}

/* The job's timeout: its default, or a refusal of a longer one. */
static void
command_place_timeout(struct task *t, const struct job *j, json_t *errors)
{
	if (j->timeout_ms == TASK_TIME_NONE)
		return;
	if (task_timeout_ms(t) == TASK_TIME_NONE)
		task_set_timeout(t, j->timeout_ms);
	else if (task_timeout_ms(t) > j->timeout_ms)
		spec_error(errors, "timeout_ms", "at most the job's timeout_ms "
		    "(%lld)", (long long)j->timeout_ms);
}

/* The refusal's result: as a job that cannot start, with every error. */
static json_t *
command_refusal(const char *job, json_t *errors)
{
	json_t *e = json_array_get(errors, 0);
	const char *at = json_string_value(json_object_get(e, "pointer"));
	const char *first = json_string_value(json_object_get(e, "detail"));
	char *msg = xasprintf("job '%s' on this node refuses the task: %s: "
	    "%s%s", job, at != NULL ? at : "?", first != NULL ? first : "?",
	    json_array_size(errors) > 1 ? " (and more: errors)" : "");
	json_t *r = json_pack("{s:n,s:n,s:s,s:s,s:O}", "exit_code", "signal",
	    "output", "", "error", msg, "errors", errors);

	free(msg);
	return r;
}

/*
 * A cluster's unplaced task, claimed by this node (its job is here,
 * CONTRACT §12): the job's checks and defaults as at a create here (args,
 * timeout_ms, retry, the concurrency key template; not on_conflict, whose
 * answer went out on the creating node: a placed task queues). NULL if it
 * passes, else the failed result to end it with.
 */
static json_t *
command_place(struct task *t)
{
	struct command_data *d = CMD(t);
	struct job *j = config_job(d->job_name);
	json_t *errors = json_array(), *queue = json_string("queue");
	json_t *r = NULL;

	if (j == NULL)
		spec_error(errors, "job", "no job '%s' in the config",
		    d->job_name);
	else if (command_parse_args(j, d->args, errors) == 0) {
		command_place_timeout(t, j, errors);
		command_policy(t, j, queue, errors);
	}
	json_decref(queue);
	if (json_array_size(errors) > 0)
		r = command_refusal(d->job_name, errors);
	else if (d->job == NULL)
		d->job = job_ref(j);
	json_decref(errors);
	return r;
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

/* The kill receipt, as cancellation.kill. */
static void
command_write_kill(const struct task *t, struct buf *b)
{
	kill_write_json(&CCMD(t)->kill, b);
}

/*
 * Before a recovered task's cleanup runs again, every process left of it
 * from before a crash (its job or its old cleanup: their environment names
 * the task) is killed and waited for (up to 5 s, at start-up, before the
 * daemon answers anyone): two cleanups must never overlap.
 */
static void
command_kill_leftovers(const struct task *t)
{
	char id[ULID_LEN + 1];
	int n, tries;

	ulid_format(&t->id, id);
	if ((n = proc_kill_task(id, SIGKILL)) == 0)
		return;
	log_warn("task %s: %d processes outlived the daemon; killed", id, n);
	for (tries = 0; tries < 500 && proc_kill_task(id, 0) > 0; tries++)
		usleep(10000);
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
	if (kill_from_json(&d->kill, json_object_get(json_object_get(doc,
	    "cancellation"), "kill")) != 0)
		return -1;
	if (t->state == TASK_RUNNING || t->state == TASK_CANCELLING)
		command_kill_leftovers(t);
	return 0;
}

/*
 * The task's work and cleanup are over. Once it has ended for good (not
 * waiting for a retry), followers of its output hear the end.
 */
static void
command_release(struct command_data *d)
{
	if (!task_state_terminal(d->task->state))
		return;
	output_end(d->out[OUTPUT_MAIN]);
	output_end(d->out[OUTPUT_CLEANUP]);
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

/* The live output of a stream, opened on first use (NULL: cannot). */
static struct output *
command_output(struct task *t, enum output_stream stream)
{
	struct command_data *d = CMD(t);
	size_t cap = d->job != NULL ? d->job->max_output_bytes :
	    cfg->max_output_bytes;
	char *err = NULL;

	if (d->out[stream] == NULL && !task_state_terminal(t->state)) {
		if (cap > cfg->max_output_bytes)
			cap = cfg->max_output_bytes;
		d->out[stream] = output_open(&t->id, stream, cap, &err);
		if (d->out[stream] == NULL) {
			log_warn("task output: %s", err);
			free(err);
		}
	}
	return d->out[stream];
}

/* A cgroup for the task's next process (name: id and suffix), or NULL. */
static struct cgroup *
command_cgroup(struct command_data *d, const char *id, const char *suffix)
{
	char name[ULID_LEN + 16], *err = NULL;
	struct cgroup *cg;

	if (!cgroup_enabled())
		return NULL;
	snprintf(name, sizeof name, "%s%s", id, suffix);
	cg = cgroup_new(name, &d->job->resources, &err);
	if (cg == NULL) {
		log_warn("task %s: %s; it runs in a process group", id, err);
		free(err);
	}
	return cg;
}

/*
 * Spawn argv_tmpl for the task into stream's output (and cgroup, if any);
 * NULL with *err if it could not start.
 */
static struct proc *
command_spawn(struct command_data *d, char **tmpl, const char *extra1,
    const char *extra2, enum output_stream stream, struct cgroup *cg,
    proc_exit_cb *cb, char **err)
{
	char id[ULID_LEN + 1], **argv, **envp;
	struct proc_opts o;
	struct proc *p;

	ulid_format(&d->task->id, id);
	argv = job_argv(tmpl, id, d->args);
	envp = command_envp(d, id, extra1, extra2);
	o.argv = argv;
	o.envp = envp;
	o.cwd = d->job->working_dir;
	o.capture = COMMAND_CAPTURE;
	o.output = command_output(d->task, stream);
	o.cgroup_fd = cg != NULL ? cgroup_fd(cg) : -1;
	p = proc_spawn(&o, cb, d->task, err);
	xstrv_free(argv);
	xstrv_free(envp);
	return p;
}

/* Start the job's process. */
static void
command_start(struct task *t)
{
	struct command_data *d = CMD(t);
	char id[ULID_LEN + 1], *err = NULL;

	ulid_format(&t->id, id);
	if (d->job == NULL)
		err = xasprintf("job '%s' is no longer in the config",
		    d->job_name);
	else {
		d->cg = command_cgroup(d, id, "");
		d->proc = command_spawn(d, d->job->argv, NULL, NULL,
		    OUTPUT_MAIN, d->cg, command_main_exit_cb, &err);
	}
	if (d->proc == NULL) {
		log_error("task %s: %s", id, err);
		cgroup_release(d->cg);
		d->cg = NULL;
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

/*
 * How the process ended (the facts), with what every command task shows
 * once its process ran: output_bytes, usage, oom_killed. Stolen from d.
 */
static json_t *
command_result(struct command_data *d, const struct proc *p)
{
	json_t *facts = d->facts != NULL ? d->facts : proc_facts(p);
	int64_t cpu_ms = 0, peak = -1;

	d->facts = NULL;
	if (d->cg != NULL)
		cgroup_usage(d->cg, &cpu_ms, &peak);
	else if (p != NULL)
		proc_usage(p, &cpu_ms, &peak);
	json_object_set_new(facts, "output_bytes",
	    json_integer((json_int_t)output_total(d->out[OUTPUT_MAIN])));
	if (json_object_get(facts, "usage") == NULL)	/* kept at exit */
		json_object_set_new(facts, "usage", json_pack("{s:I,s:o}",
		    "cpu_ms", (json_int_t)cpu_ms, "memory_peak_bytes",
		    peak >= 0 ? json_integer(peak) : json_null()));
	json_object_set_new(facts, "oom_killed", json_boolean(d->cg != NULL &&
	    cgroup_oom_killed(d->cg)));
	return facts;
}

/*
 * Every process of a cancelled task is gone (or we stop waiting with
 * survivors): the receipt ends, the result is kept, the cleanup starts.
 */
static void
command_killed(struct task *t, int survivors)
{
	struct command_data *d = CMD(t);

	task_set_deadline(t, TASK_TIME_NONE);
	kill_end(&d->kill, survivors);
	task_set_result(t, command_result(d, NULL));
	cgroup_release(d->cg);
	d->cg = NULL;
	task_stopped(t);	/* now the cleanup */
}

/* With process groups: signal escaped processes; how many are alive. */
static int
command_signal_escapees(struct task *t, int sig)
{
	char id[ULID_LEN + 1];

	ulid_format(&t->id, id);
	return proc_kill_task(id, sig);
}

/* With process groups: kill escaped processes; how many are alive. */
static int
command_escapees(struct task *t)
{
	return command_signal_escapees(t, SIGKILL);
}

/*
 * Are all the cancelled task's processes gone? The process is reaped and,
 * with a cgroup, the cgroup is empty; with a process group, no escaped
 * process carries the task's id. Then the cleanup may start.
 */
static void
command_check_gone(struct task *t)
{
	struct command_data *d = CMD(t);

	if (t->state != TASK_CANCELLING || d->proc != NULL || d->kill.ended_at
	    != TASK_TIME_NONE)
		return;
	if (d->cg != NULL && !d->empty)
		return;
	if (d->cg == NULL && command_escapees(t) > 0) {
		kill_escalate(&d->kill);
		command_wake_in(t, 20);		/* look again shortly */
		return;
	}
	command_killed(t, 0);
}

/* The task's cgroup is empty. */
static void
command_empty_cb(void *arg)
{
	struct task *t = arg;

	CMD(t)->empty = 1;
	command_check_gone(t);
}

/* The job's process ended: by itself, or because we stopped it. */
static void
command_main_exit_cb(struct proc *p, void *arg)
{
	struct task *t = arg;
	struct command_data *d = CMD(t);
	int ok = proc_succeeded(p);

	d->facts = proc_facts(p);
	d->proc = NULL;
	if (t->state == TASK_RUNNING) {
		task_set_deadline(t, TASK_TIME_NONE);
		task_finish(t, ok ? TASK_SUCCEEDED : TASK_FAILED,
		    command_result(d, p));
		cgroup_release(d->cg);		/* what it left behind goes */
		d->cg = NULL;
		proc_free(p);
		command_release(d);
		return;
	}
	if (d->cg == NULL)		/* its usage, while we have it */
		d->facts = command_result(d, p);
	proc_free(p);
	command_check_gone(t);
}

/*
 * The deadline of a cancel: kill_grace_ms passed with processes left
 * (SIGKILL them all), or the grace after that (go on with survivors).
 */
static void
command_kill_timer(struct task *t)
{
	struct command_data *d = CMD(t);
	int left;

	if (!d->kill.escalated) {
		kill_escalate(&d->kill);
		if (d->cg != NULL)
			cgroup_kill(d->cg);
		else if (d->proc != NULL)
			proc_kill(d->proc, SIGKILL);
		command_wake_in(t, d->job->kill_grace_ms);
		return;
	}
	if (d->proc == NULL && d->cg == NULL && (left = command_escapees(t))
	    > 0 && clock_now_ms() - d->kill.signalled_at < 2 *
	    d->job->kill_grace_ms + 1000) {
		command_wake_in(t, 20);
		return;
	}
	if (d->proc != NULL)
		return;		/* not reaped yet: SIGCHLD comes */
	left = d->cg != NULL ? cgroup_count(d->cg) : command_escapees(t);
	if (left > 0)
		log_warn("a cancelled task's %d processes outlived SIGKILL; "
		    "its cleanup starts anyway", left);
	command_killed(t, left);
}

/*
 * The task's deadline passed: during a kill (see above), or with the
 * cleanup still running after cleanup_timeout_ms (kill that).
 */
static void
command_timer(struct task *t)
{
	struct command_data *d = CMD(t);

	if (t->state != TASK_CANCELLING)
		return;
	if (d->cleanup != NULL) {
		d->cleanup_timed_out = 1;
		if (d->cg != NULL)
			cgroup_kill(d->cg);
		proc_kill(d->cleanup, SIGKILL);
	} else if (d->kill.sent && d->kill.ended_at == TASK_TIME_NONE)
		command_kill_timer(t);
}

/*
 * Cancelled while running: kill_signal to every process (the cgroup's,
 * or the group's), SIGKILL after kill_grace_ms, the cleanup once none is
 * left.
 */
static void
command_stop(struct task *t)
{
	struct command_data *d = CMD(t);
	int sig;

	if (d->proc == NULL) {		/* recovered: nothing of ours runs */
		task_stopped(t);
		return;
	}
	sig = d->job->kill_signal;
	kill_begin(&d->kill, d->cg != NULL ? KILL_CGROUP : KILL_PROCESS_GROUP,
	    sig);
	task_touch(t);
	if (d->cg != NULL) {
		cgroup_signal(d->cg, sig);
		cgroup_on_empty(d->cg, command_empty_cb, t);
	} else
		command_signal_escapees(t, sig);	/* they get it too */
	proc_kill(d->proc, sig);
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
	json_object_set_new(facts, "output_bytes", json_integer((json_int_t)
	    output_total(d->out[OUTPUT_CLEANUP])));
	proc_free(p);
	d->cleanup = NULL;
	cgroup_release(d->cg);
	d->cg = NULL;
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
	char id[ULID_LEN + 1], reason[64], started[32], *err = NULL;

	if (d->job == NULL) {	/* removed, or a cluster's unplaced task */
		err = xasprintf("job '%s' is not in this node's config: its "
		    "cleanup cannot run", d->job_name);
		task_cleanup_done(t, CLEANUP_FAILED, err, NULL);
		free(err);
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
	ulid_format(&t->id, id);
	d->cleanup_timed_out = 0;
	d->cg = command_cgroup(d, id, ".cleanup");
	d->cleanup = command_spawn(d, d->job->cleanup_argv, reason, started,
	    OUTPUT_CLEANUP, d->cg, command_cleanup_exit_cb, &err);
	if (d->cleanup == NULL) {
		cgroup_release(d->cg);
		d->cg = NULL;
		task_cleanup_done(t, CLEANUP_FAILED, err, NULL);
		free(err);
		command_release(d);
		return;
	}
	command_wake_in(t, d->job->cleanup_timeout_ms);
}

/* An attempt ended and another follows: what it showed goes. */
static void
command_again(struct task *t)
{
	struct command_data *d = CMD(t);

	memset(&d->kill, 0, sizeof d->kill);
	json_decref(d->facts);
	d->facts = NULL;
	d->empty = d->cleanup_timed_out = 0;
	d->pid = 0;
}

/*
 * After a restart, or on the node that adopted it, a running command's
 * process is gone: cancel it (why: restart or node_lost).
 */
static void
command_recover(struct task *t, enum cancel_reason why)
{
	task_cancel(t, why, NULL);
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
	cgroup_release(d->cg);
	output_unref(d->out[OUTPUT_MAIN]);
	output_unref(d->out[OUTPUT_CLEANUP]);
	json_decref(d->facts);
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
	.start = command_start,
	.stop = command_stop,
	.cleanup = command_cleanup,
	.timer = command_timer,
	.recover = command_recover,
	.place = command_place,
	.again = command_again,
	.free = command_free,
	.write_kill = command_write_kill,
	.output = command_output,
	.init = command_init,
	.shutdown = command_shutdown,
	.job = command_job_name,
};
