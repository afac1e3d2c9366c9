/*
 * proc.c -- child processes of command tasks: spawned with posix_spawn
 * into their own process group, stdin from /dev/null, stdout and stderr
 * captured through a loop event into a bounded tail, reaped on SIGCHLD.
 */

#include "evtaskd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
	char buf[16384];
	ssize_t n;

	for (;;) {
		n = read(p->out_fd, buf, sizeof buf);
		if (n > 0) {
			proc_keep(p, buf, (size_t)n);
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
	struct proc *p, *next;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (p = LIST_FIRST(&proc_list); p != NULL; p = next) {
			next = LIST_NEXT(p, entry);
			if (p->pid != pid)
				continue;
			p->status = status;
			p->reaped = 1;
			proc_finish(p);
			break;
		}
	}
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

/*
 * Start argv (argv[0] an absolute path, no shell) with envp in cwd, in a
 * new process group. cb is called once the child has exited and been
 * reaped. Returns NULL with *err (to free) if it could not start.
 */
struct proc *
proc_spawn(char *const argv[], char *const envp[], const char *cwd,
    size_t capture, proc_exit_cb *cb, void *arg, char **err)
{
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	struct proc *p;
	int pipefd[2], rc;

	/* Only our end is non-blocking: the job's writes wait when full. */
	if (pipe2(pipefd, O_CLOEXEC) != 0 ||
	    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) != 0) {
		*err = xasprintf("pipe: %s", strerror(errno));
		return NULL;
	}
	if (proc_spawn_attrs(&attr, &fa, pipefd[1], cwd) != 0)
		fatalx("posix_spawn attributes failed");
	p = xcalloc(1, sizeof *p);
	rc = posix_spawn(&p->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		free(p);
		*err = xasprintf("cannot run %s: %s", argv[0], strerror(rc));
		return NULL;
	}
	p->out_fd = pipefd[0];
	p->cap = capture;
	p->tail = xmalloc(capture);
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
