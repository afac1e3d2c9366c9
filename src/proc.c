/*
 * proc.c -- child processes of command tasks: spawned into their own
 * process group (posix_spawn), or straight into a cgroup (clone3 with
 * CLONE_INTO_CGROUP: no moment outside it), stdin from /dev/null, stdout
 * and stderr through one pipe read on the loop into a bounded tail and
 * the task's output, reaped on SIGCHLD with their resource usage.
 */

#include "evtaskd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>

#include <event2/event.h>

struct proc {
	pid_t		 pid;		/* also the process group */
	int		 status;	/* from waitpid */
	int		 reaped;
	int		 out_fd;
	struct event	*out_ev;
	char		*tail;		/* the last cap bytes of output */
	size_t		 cap, start, len;	/* a ring */
	int		 truncated;
	struct output	*output;	/* every byte also goes here */
	struct rusage	 usage;
	proc_exit_cb	*cb;
	void		*arg;
	LIST_ENTRY(proc) entry;
};

static struct event_base	*proc_base;
static struct event		*proc_sigchld;
static LIST_HEAD(, proc)	 proc_list = LIST_HEAD_INITIALIZER(proc_list);

static void	proc_sigchld_cb(evutil_socket_t, short, void *);

/* Reap children from the loop (SIGCHLD as a libevent signal event). */
void
proc_init(struct event_base *base)
{
	proc_base = base;
	proc_sigchld = evsignal_new(base, SIGCHLD, proc_sigchld_cb, NULL);
	event_add(proc_sigchld, NULL);
}

void
proc_shutdown(void)
{
	if (proc_sigchld != NULL)
		event_free(proc_sigchld);
	proc_sigchld = NULL;
}

/* Keep the last p->cap bytes of output. */
static void
proc_keep(struct proc *p, const char *data, size_t n)
{
	size_t end, chunk;

	if (n >= p->cap) {
		p->truncated |= p->len > 0 || n > p->cap;
		memcpy(p->tail, data + n - p->cap, p->cap);
		p->start = 0;
		p->len = p->cap;
		return;
	}
	while (n > 0) {
		end = (p->start + p->len) % p->cap;
		chunk = p->cap - end < n ? p->cap - end : n;
		memcpy(p->tail + end, data, chunk);
		data += chunk;
		n -= chunk;
		if (p->len + chunk > p->cap) {
			p->truncated = 1;
			p->start = (p->start + p->len + chunk - p->cap) % p->cap;
			p->len = p->cap;
		} else
			p->len += chunk;
	}
}

/* Read what the pipe has; 1 at EOF (or error), else 0. */
static int
proc_drain(struct proc *p)
{
	char buf[65536];	/* a whole pipe buffer at a time */
	ssize_t n;

	for (;;) {
		n = read(p->out_fd, buf, sizeof buf);
		if (n > 0) {
			proc_keep(p, buf, (size_t)n);
			if (p->output != NULL)
				output_append(p->output, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0 || errno != EAGAIN;
	}
}

/* Close the output pipe. */
static void
proc_close_output(struct proc *p)
{
	if (p->out_ev != NULL) {
		event_free(p->out_ev);
		p->out_ev = NULL;
	}
	if (p->out_fd >= 0) {
		close(p->out_fd);
		p->out_fd = -1;
	}
}

/* The child has exited: take its last output, end its group, tell. */
static void
proc_finish(struct proc *p)
{
	proc_drain(p);
	proc_close_output(p);
	kill(-p->pid, SIGKILL);	/* what it left behind in its group */
	LIST_REMOVE(p, entry);
	p->cb(p, p->arg);
}

/* The child of pid exited with status: finish it. */
static void
proc_reaped(pid_t pid, int status, const struct rusage *ru)
{
	struct proc *p;

	LIST_FOREACH(p, &proc_list, entry) {
		if (p->pid == pid) {
			p->status = status;
			p->usage = *ru;
			p->reaped = 1;
			proc_finish(p);
			return;
		}
	}
}

/* Output arrived (or EOF). */
static void
proc_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	if (proc_drain(p))
		proc_close_output(p);
}

/* SIGCHLD: reap every child that exited. */
static void
proc_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0)
		proc_reaped(pid, status, &ru);
}

/* Set up the child's side: its own group, default signals, fds. */
static int
proc_spawn_attrs(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa,
    int out_w, const char *cwd)
{
	sigset_t none, all;

	sigemptyset(&none);
	sigfillset(&all);
	if (posix_spawnattr_init(attr) != 0 ||
	    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0 ||
	    posix_spawnattr_setpgroup(attr, 0) != 0 ||
	    posix_spawnattr_setsigmask(attr, &none) != 0 ||
	    posix_spawnattr_setsigdefault(attr, &all) != 0)
		return -1;
	if (posix_spawn_file_actions_init(fa) != 0 ||
	    posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) ||
	    posix_spawn_file_actions_adddup2(fa, out_w, 1) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, out_w, 2) != 0 ||
	    posix_spawn_file_actions_addclosefrom_np(fa, 3) != 0 ||
	    posix_spawn_file_actions_addchdir_np(fa, cwd) != 0)
		return -1;
	return 0;
}

/* The child of clone3, before exec: only async-signal-safe calls. */
static void NORETURN
proc_child(const struct proc_opts *o, int out_w, int err_w)
{
	struct sigaction dfl;
	sigset_t none;
	int sig, fd, e;

	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setpgid(0, 0) != 0 || (fd = open("/dev/null", O_RDONLY)) < 0 ||
	    dup2(fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0 ||
	    chdir(o->cwd) != 0)
		goto fail;
	/* Everything above 2 closes at exec; err_w stays until then. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(o->argv[0], o->argv, o->envp);
fail:
	e = errno;
	if (write(err_w, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Start the child inside the cgroup whose directory is open as o->cgroup_fd
 * (clone3 with CLONE_INTO_CGROUP). A pipe closed by exec says it ran; an
 * errno written into it says why not. 0, or an errno.
 */
static int
proc_clone_into(const struct proc_opts *o, int out_w, pid_t *pid)
{
	struct clone_args ca;
	int errpipe[2], e = 0;
	long rc;

	if (pipe2(errpipe, O_CLOEXEC) != 0)
		return errno;
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_INTO_CGROUP;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = (uint64_t)o->cgroup_fd;
	rc = syscall(SYS_clone3, &ca, sizeof ca);
	if (rc == 0) {
		close(errpipe[0]);
		proc_child(o, out_w, errpipe[1]);
	}
	close(errpipe[1]);
	if (rc < 0)
		e = errno;
	else if (read(errpipe[0], &e, sizeof e) != (ssize_t)sizeof e)
		e = 0;		/* closed by exec: it runs */
	close(errpipe[0]);
	if (rc > 0)
		*pid = (pid_t)rc;
	if (rc > 0 && e != 0)
		waitpid(*pid, NULL, 0);	/* it exited at once: reap it here */
	return e;
}

/* Start the child in a new process group with posix_spawn; 0 or errno. */
static int
proc_posix_spawn(const struct proc_opts *o, int out_w, pid_t *pid)
{
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	int rc;

	if (proc_spawn_attrs(&attr, &fa, out_w, o->cwd) != 0)
		fatalx("posix_spawn attributes failed");
	rc = posix_spawn(pid, o->argv[0], &fa, &attr, o->argv, o->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

/*
 * Start o->argv (argv[0] an absolute path, no shell) with o->envp in
 * o->cwd, in a new process group (and cgroup, if given). cb is called once
 * the child has exited and been reaped. NULL with *err (to free) if it
 * could not start.
 */
struct proc *
proc_spawn(const struct proc_opts *o, proc_exit_cb *cb, void *arg,
    char **err)
{
	struct proc *p;
	int pipefd[2], rc;
	pid_t pid = -1;

	/* Only our end is non-blocking: the job's writes wait when full. */
	if (pipe2(pipefd, O_CLOEXEC) != 0 ||
	    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) != 0) {
		*err = xasprintf("pipe: %s", strerror(errno));
		return NULL;
	}
	rc = o->cgroup_fd >= 0 ? proc_clone_into(o, pipefd[1], &pid) :
	    proc_posix_spawn(o, pipefd[1], &pid);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		*err = xasprintf("cannot run %s: %s", o->argv[0],
		    strerror(rc));
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->pid = pid;
	p->out_fd = pipefd[0];
	p->cap = o->capture;
	p->tail = xmalloc(o->capture);
	p->output = o->output;
	p->cb = cb;
	p->arg = arg;
	p->out_ev = event_new(proc_base, p->out_fd, EV_READ | EV_PERSIST,
	    proc_out_cb, p);
	event_add(p->out_ev, NULL);
	LIST_INSERT_HEAD(&proc_list, p, entry);
	return p;
}

/* The process id (and group id). */
pid_t
proc_pid(const struct proc *p)
{
	return p->pid;
}

/* Send a signal to the child's whole process group. */
void
proc_kill(struct proc *p, int sig)
{
	if (!p->reaped)
		kill(-p->pid, sig);
}

/* CPU time (user and system, ms) and peak memory (bytes) it used. */
void
proc_usage(const struct proc *p, int64_t *cpu_ms, int64_t *maxrss)
{
	const struct rusage *ru = &p->usage;

	*cpu_ms = (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
	    (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	*maxrss = (int64_t)ru->ru_maxrss * 1024;
}

/* Does /proc/PID/environ hold needle? (0 if unreadable.) */
static int
proc_environ_has(const char *pid, const char *needle)
{
	char path[300], buf[65536];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%s/environ", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf);
	close(fd);
	return n > 0 && memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
}

/* Is the process a zombie (dead, waiting to be reaped)? */
static int
proc_is_zombie(const char *pid)
{
	char path[300], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren == NULL || paren[1] == '\0' || paren[2] == 'Z';
}

/*
 * Send sig to every live process that carries EVTASKD_TASK_ID=id (escaped
 * from its process group: setsid, double forks). How many there were.
 */
int
proc_kill_task(const char *id, int sig)
{
	char needle[64];
	struct dirent *e;
	DIR *dir = opendir("/proc");
	int n = 0;
	long pid;

	if (dir == NULL)
		return 0;
	snprintf(needle, sizeof needle, "EVTASKD_TASK_ID=%s", id);
	while ((e = readdir(dir)) != NULL) {
		pid = strtol(e->d_name, NULL, 10);
		if (pid <= 0 || pid == (long)getpid() ||
		    !proc_environ_has(e->d_name, needle) ||
		    proc_is_zombie(e->d_name))
			continue;
		kill((pid_t)pid, sig);
		n++;
	}
	closedir(dir);
	return n;
}

/* Did it exit 0? */
int
proc_succeeded(const struct proc *p)
{
	return p->reaped && WIFEXITED(p->status) &&
	    WEXITSTATUS(p->status) == 0;
}

/* "exited with 3" or "killed by SIGKILL", for messages. */
char *
proc_describe(const struct proc *p)
{
	const char *name;

	if (WIFEXITED(p->status))
		return xasprintf("exited with %d", WEXITSTATUS(p->status));
	name = signame_of(WTERMSIG(p->status));
	if (name != NULL)
		return xasprintf("killed by SIG%s", name);
	return xasprintf("killed by signal %d", WTERMSIG(p->status));
}

/*
 * How it ended, as JSON members: exit_code or signal (the other null) and
 * output, the tail of what it wrote (invalid UTF-8 replaced).
 */
json_t *
proc_facts(const struct proc *p)
{
	char *lin = xmalloc(p->len + 1), *clean, sigbuf[16];
	const char *name, *from;
	size_t first = p->cap - p->start, skip = 0, n;
	json_t *o;

	if (first > p->len)
		first = p->len;
	memcpy(lin, p->tail + p->start, first);
	memcpy(lin + first, p->tail, p->len - first);
	/* A cut tail may begin inside a character: drop its rest. */
	while (p->truncated && skip < 3 && skip < p->len &&
	    ((unsigned char)lin[skip] & 0xc0) == 0x80)
		skip++;
	clean = utf8_sanitize(lin + skip, p->len - skip);
	free(lin);
	/* Replacement characters are longer than the bytes they replace:
	 * keep the last cap bytes, from a character boundary. */
	n = strlen(clean);
	if (n > p->cap) {
		from = clean + n - p->cap;
		while (((unsigned char)*from & 0xc0) == 0x80)
			from++;
		memmove(clean, from, strlen(from) + 1);
	}
	o = json_object();
	if (WIFEXITED(p->status)) {
		json_object_set_new(o, "exit_code",
		    json_integer(WEXITSTATUS(p->status)));
		json_object_set_new(o, "signal", json_null());
	} else {
		name = signame_of(WTERMSIG(p->status));
		if (name == NULL) {
			snprintf(sigbuf, sizeof sigbuf, "%d",
			    WTERMSIG(p->status));
			name = sigbuf;
		}
		json_object_set_new(o, "exit_code", json_null());
		json_object_set_new(o, "signal", json_string(name));
	}
	json_object_set_new(o, "output", json_string(clean));
	json_object_set_new(o, "output_truncated", json_boolean(p->truncated));
	free(clean);
	return o;
}

/* Free a proc (after its exit callback, or to abandon a running one). */
void
proc_free(struct proc *p)
{
	if (p == NULL)
		return;
	if (!p->reaped) {
		kill(-p->pid, SIGKILL);
		LIST_REMOVE(p, entry);
	}
	proc_close_output(p);
	free(p->tail);
	free(p);
}
