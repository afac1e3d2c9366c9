/*
 * cgroup.c -- cgroup v2 isolation for command tasks: one cgroup per task
 * under the daemon's own (delegated) cgroup, so that a cancel reaches every
 * process the task made, setsid and double forks included. The hierarchy
 * is found from /proc/self/mountinfo and /proc/self/cgroup, never assumed.
 * "populated 0" in cgroup.events is watched with inotify on the loop;
 * nothing here waits.
 *
 * Under systemd (Delegate=yes) the daemon's cgroup is its unit's: the
 * daemon moves itself into the leaf "daemon" and makes "tasks/ID" beside
 * it (a cgroup with controllers for its children may hold no process).
 * At the root of the hierarchy (a container, a test) it uses "evtaskd/ID".
 */

#include "evtaskd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

/* A task's cgroup: its directory, and who wants to know it is empty. */
struct cgroup {
	char			*path;
	int			 dirfd;
	int			 wd;		/* inotify watch of cgroup.events */
	cgroup_empty_cb		*cb;
	void			*arg;
	int			 removing;	/* freed: rmdir once empty */
	LIST_ENTRY(cgroup)	 entry;
};

static enum isolation	 cgroup_mode = ISOLATION_PROCESS_GROUP;
static char		*cgroup_parent;	/* where task cgroups are made */
static int		 cgroup_ifd = -1;	/* inotify */
static struct event	*cgroup_iev;
static LIST_HEAD(, cgroup) cgroup_all = LIST_HEAD_INITIALIZER(cgroup_all);
static char		 cgroup_missing[128];	/* controllers we lack */

static void	cgroup_inotify_cb(evutil_socket_t, short, void *);
static void	cgroup_free(struct cgroup *);

/* Write a short string to a file of a cgroup directory; 0 or -1. */
static int
cgroup_write(const char *dir, const char *file, const char *text)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = -1;

	free(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		rc = 0;
	close(fd);
	return rc;
}

/* Read a small file of a cgroup directory (to free); NULL if unreadable. */
static char *
cgroup_read(const char *dir, const char *file)
{
	char *path = xasprintf("%s/%s", dir, file), buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	free(path);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* The cgroup2 mount point, from /proc/self/mountinfo (to free). */
static char *
cgroup_mount(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[4096], *sep, *found = NULL;

	if (f == NULL)
		return NULL;
	while (found == NULL && fgets(line, sizeof line, f) != NULL) {
		/* id parent major:minor root MOUNT opts... - TYPE src opts */
		sep = strstr(line, " - cgroup2 ");
		if (sep != NULL && sscanf(line, "%*s %*s %*s %*s %4095s", mnt)
		    == 1)
			found = xstrdup(mnt);
	}
	fclose(f);
	return found;
}

/* The daemon's own cgroup path in the v2 hierarchy ("0::PATH"; to free). */
static char *
cgroup_self(void)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096], *found = NULL;

	if (f == NULL)
		return NULL;
	while (found == NULL && fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			found = xstrdup(line + 3);
		}
	}
	fclose(f);
	return found;
}

/* mkdir that is fine when the directory is there. */
static int
cgroup_mkdir(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/*
 * Enable for the children of dir every controller the resources need that
 * dir offers; note those missing.
 */
static void
cgroup_enable(const char *dir)
{
	static const char *const want[] = { "memory", "pids", "cpu" };
	char *have = cgroup_read(dir, "cgroup.controllers"), op[16];
	size_t i;

	cgroup_missing[0] = '\0';
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		snprintf(op, sizeof op, "+%s", want[i]);
		if (have != NULL && strstr(have, want[i]) != NULL &&
		    cgroup_write(dir, "cgroup.subtree_control", op) == 0)
			continue;
		if (cgroup_missing[0] != '\0')
			strcat(cgroup_missing, ", ");
		strcat(cgroup_missing, want[i]);
	}
	free(have);
}

/*
 * Where task cgroups go: beside the daemon, which moves into a leaf of its
 * own cgroup (systemd), or "evtaskd" at the root. NULL if we cannot.
 */
static char *
cgroup_place(const char *mount, const char *self)
{
	char *base, *leaf, *parent;

	if (strcmp(self, "/") == 0) {
		parent = xasprintf("%s/evtaskd", mount);
		if (cgroup_mkdir(parent) != 0)
			goto fail;
		return parent;
	}
	base = xasprintf("%s%s", mount, self);
	leaf = xasprintf("%s/daemon", base);
	parent = xasprintf("%s/tasks", base);
	if (cgroup_mkdir(leaf) != 0 || cgroup_write(leaf, "cgroup.procs",
	    "0") != 0 || cgroup_mkdir(parent) != 0) {
		free(base);
		free(leaf);
		goto fail;
	}
	cgroup_enable(base);
	free(base);
	free(leaf);
	return parent;
fail:
	free(parent);
	return NULL;
}

/* Can we make cgroups here? The parent for them (to free), or NULL. */
static char *
cgroup_probe(void)
{
	char *mount = cgroup_mount(), *self = cgroup_self(), *parent = NULL;

	if (mount != NULL && self != NULL)
		parent = cgroup_place(mount, self);
	free(mount);
	free(self);
	return parent;
}

/* Watch cgroup.events of every task cgroup, from the loop. */
static int
cgroup_start_inotify(struct event_base *base)
{
	cgroup_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cgroup_ifd < 0)
		return -1;
	cgroup_iev = event_new(base, cgroup_ifd, EV_READ | EV_PERSIST,
	    cgroup_inotify_cb, NULL);
	event_add(cgroup_iev, NULL);
	return 0;
}

/*
 * Decide the isolation at start: cgroup when asked and possible ("cgroup"
 * that is not possible is an error), else process groups. 0, or -1 with
 * *err.
 */
int
cgroup_init(struct event_base *base, enum isolation want, char **err)
{
	cgroup_mode = ISOLATION_PROCESS_GROUP;
	if (want == ISOLATION_PROCESS_GROUP)
		return 0;
	cgroup_parent = cgroup_probe();
	if (cgroup_parent != NULL && cgroup_start_inotify(base) == 0) {
		cgroup_mode = ISOLATION_CGROUP;
		cgroup_enable(cgroup_parent);
		return 0;
	}
	free(cgroup_parent);
	cgroup_parent = NULL;
	if (want == ISOLATION_CGROUP) {
		*err = xstrdup("isolation is \"cgroup\" but no cgroup v2 "
		    "hierarchy can be written here (under systemd the unit "
		    "needs Delegate=yes)");
		return -1;
	}
	return 0;
}

/* The isolation in use: "cgroup" or "process_group". */
const char *
cgroup_mode_name(void)
{
	return cgroup_mode == ISOLATION_CGROUP ? "cgroup" : "process_group";
}

/* Are command tasks put in cgroups? */
int
cgroup_enabled(void)
{
	return cgroup_mode == ISOLATION_CGROUP;
}

/* The controllers the resources need that are not there ("" if none). */
const char *
cgroup_missing_controllers(void)
{
	return cgroup_enabled() ? cgroup_missing : "memory, pids, cpu";
}

/* Stop watching, at exit: what is left is killed, removed if it can be. */
void
cgroup_shutdown(void)
{
	struct cgroup *cg;

	while ((cg = LIST_FIRST(&cgroup_all)) != NULL) {
		if (cgroup_populated(cg))
			cgroup_kill(cg);
		rmdir(cg->path);	/* EBUSY while dying: the next start */
		cgroup_free(cg);
	}
	if (cgroup_iev != NULL)
		event_free(cgroup_iev);
	cgroup_iev = NULL;
	if (cgroup_ifd >= 0)
		close(cgroup_ifd);
	cgroup_ifd = -1;
	free(cgroup_parent);
	cgroup_parent = NULL;
}

/* Write the job's limits into a new cgroup (where the controller is). */
static void
cgroup_limit(struct cgroup *cg, const struct job_resources *r)
{
	char v[32];

	if (r->memory_max_bytes > 0) {
		snprintf(v, sizeof v, "%lld", (long long)r->memory_max_bytes);
		cgroup_write(cg->path, "memory.max", v);
		cgroup_write(cg->path, "memory.swap.max", "0");
	}
	if (r->pids_max > 0) {
		snprintf(v, sizeof v, "%lld", (long long)r->pids_max);
		cgroup_write(cg->path, "pids.max", v);
	}
	if (r->cpu_weight > 0) {
		snprintf(v, sizeof v, "%d", r->cpu_weight);
		cgroup_write(cg->path, "cpu.weight", v);
	}
}

/* The one place a cgroup record is freed. */
static void
cgroup_free(struct cgroup *cg)
{
	if (cg->wd >= 0)
		inotify_rm_watch(cgroup_ifd, cg->wd);
	if (cg->dirfd >= 0)
		close(cg->dirfd);
	LIST_REMOVE(cg, entry);
	free(cg->path);
	free(cg);
}

/* A record for the cgroup at path (not yet made), watched once made. */
static struct cgroup *
cgroup_record(char *path)
{
	struct cgroup *cg = xcalloc(1, sizeof *cg);

	cg->path = path;
	cg->dirfd = cg->wd = -1;
	LIST_INSERT_HEAD(&cgroup_all, cg, entry);
	return cg;
}

/* Watch cgroup.events of a cgroup that exists. */
static void
cgroup_watch(struct cgroup *cg)
{
	char *events = xasprintf("%s/cgroup.events", cg->path);

	cg->wd = inotify_add_watch(cgroup_ifd, events, IN_MODIFY);
	free(events);
}

/*
 * A cgroup left at path by a daemon that stopped or crashed is never
 * reused (a cgroup once killed may kill what enters it): an empty one is
 * removed; a populated one is killed and removed once empty. 0 if path is
 * free now.
 */
static int
cgroup_clear(const char *path)
{
	struct cgroup *old;

	if (rmdir(path) == 0 || errno == ENOENT)
		return 0;
	if (errno != EBUSY)
		return -1;
	old = cgroup_record(xstrdup(path));
	cgroup_watch(old);
	cgroup_kill(old);
	old->removing = 1;
	return -1;
}

/* Make a fresh cgroup directory for name: path, or path.N if taken. */
static char *
cgroup_make(const char *name)
{
	char *path;
	int i;

	for (i = 0; i < 10; i++) {
		path = i == 0 ? xasprintf("%s/%s", cgroup_parent, name) :
		    xasprintf("%s/%s.%d", cgroup_parent, name, i);
		if (mkdir(path, 0755) == 0)
			return path;
		if (errno == EEXIST && cgroup_clear(path) == 0 &&
		    mkdir(path, 0755) == 0)
			return path;
		free(path);
		if (errno != EEXIST && errno != EBUSY)
			break;
	}
	return NULL;
}

/*
 * A new cgroup for a task (name: its id and a suffix), with the job's
 * limits, watched for "populated 0". NULL with *err.
 */
struct cgroup *
cgroup_new(const char *name, const struct job_resources *r, char **err)
{
	char *path = cgroup_make(name);
	struct cgroup *cg;

	if (path == NULL) {
		*err = xasprintf("cgroup %s/%s: %s", cgroup_parent, name,
		    strerror(errno));
		return NULL;
	}
	cg = cgroup_record(path);
	if ((cg->dirfd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
	    0) {
		*err = xasprintf("cgroup %s: %s", cg->path, strerror(errno));
		rmdir(cg->path);
		cgroup_free(cg);
		return NULL;
	}
	cgroup_watch(cg);
	if (r != NULL)
		cgroup_limit(cg, r);
	return cg;
}

/* The directory, open, for CLONE_INTO_CGROUP. */
int
cgroup_fd(const struct cgroup *cg)
{
	return cg->dirfd;
}

/* Is any process left in it? */
int
cgroup_populated(const struct cgroup *cg)
{
	char *ev = cgroup_read(cg->path, "cgroup.events");
	int populated = ev == NULL || strstr(ev, "populated 1") != NULL;

	free(ev);
	return populated;
}

/* Send sig to every process in it; how many there were. */
int
cgroup_signal(const struct cgroup *cg, int sig)
{
	char *procs = cgroup_read(cg->path, "cgroup.procs"), *p, *end;
	long pid;
	int n = 0;

	for (p = procs; p != NULL && *p != '\0'; p = end) {
		pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0 && kill((pid_t)pid, sig) == 0)
			n++;
		while (*end == '\n')
			end++;
	}
	free(procs);
	return n;
}

/* How many processes are in it now. */
int
cgroup_count(const struct cgroup *cg)
{
	return cgroup_signal(cg, 0);
}

/* SIGKILL everything in it at once (cgroup.kill), or one by one. */
void
cgroup_kill(const struct cgroup *cg)
{
	if (cgroup_write(cg->path, "cgroup.kill", "1") != 0)
		cgroup_signal(cg, SIGKILL);
}

/* Call cb(arg) once when the cgroup is empty (now, or when it becomes). */
void
cgroup_on_empty(struct cgroup *cg, cgroup_empty_cb *cb, void *arg)
{
	cg->cb = cb;
	cg->arg = arg;
	if (!cgroup_populated(cg)) {
		cg->cb = NULL;
		cb(arg);
	}
}

/* A number after key in a cgroup file's "key value" lines; -1 if none. */
static int64_t
cgroup_stat(const struct cgroup *cg, const char *file, const char *key)
{
	char *text = cgroup_read(cg->path, file), *p;
	size_t n = strlen(key);
	int64_t v = -1;

	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		while (*p == '\n')
			p++;
		if (strncmp(p, key, n) == 0 && p[n] == ' ') {
			v = strtoll(p + n + 1, NULL, 10);
			break;
		}
	}
	free(text);
	return v;
}

/* CPU time of every process it had (ms) and peak memory (-1: unknown). */
void
cgroup_usage(const struct cgroup *cg, int64_t *cpu_ms, int64_t *peak)
{
	char *text = cgroup_read(cg->path, "memory.peak");
	int64_t usec = cgroup_stat(cg, "cpu.stat", "usage_usec");

	*cpu_ms = usec >= 0 ? usec / 1000 : 0;
	*peak = text != NULL ? strtoll(text, NULL, 10) : -1;
	free(text);
}

/* Did the kernel's OOM killer kill a process of it? */
int
cgroup_oom_killed(const struct cgroup *cg)
{
	return cgroup_stat(cg, "memory.events", "oom_kill") > 0;
}

/*
 * Done with a task's cgroup: kill what is left and remove it once empty
 * (at once if it is).
 */
void
cgroup_release(struct cgroup *cg)
{
	if (cg == NULL)
		return;
	cg->cb = NULL;
	if (cgroup_populated(cg)) {
		cgroup_kill(cg);
		cg->removing = 1;
		return;
	}
	if (rmdir(cg->path) != 0 && errno != ENOENT)
		log_warn("cgroup %s: %s", cg->path, strerror(errno));
	cgroup_free(cg);
}

/* The cgroup a watch descriptor belongs to. */
static struct cgroup *
cgroup_of_wd(int wd)
{
	struct cgroup *cg;

	LIST_FOREACH(cg, &cgroup_all, entry) {
		if (cg->wd == wd)
			return cg;
	}
	return NULL;
}

/* cgroup.events of a cgroup changed: tell who waits for it to empty. */
static void
cgroup_changed(struct cgroup *cg)
{
	cgroup_empty_cb *cb = cg->cb;

	if (cgroup_populated(cg))
		return;
	if (cg->removing) {
		cg->removing = 0;
		cgroup_release(cg);
		return;
	}
	if (cb != NULL) {
		cg->cb = NULL;
		cb(cg->arg);
	}
}

/* inotify has events: read them all, act on each cgroup once. */
static void
cgroup_inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096] __attribute__((aligned(8)));
	const struct inotify_event *ev;
	struct cgroup *cg;
	ssize_t n, off;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (off = 0; off < n; off += (ssize_t)sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)(void *)(buf + off);
			if ((cg = cgroup_of_wd(ev->wd)) != NULL)
				cgroup_changed(cg);
		}
	}
}
