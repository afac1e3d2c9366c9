/* main.c -- flags, start-up and shutdown order, signal events, the loop. */

#include "evtaskd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#define MAIN_LOAD_CHUNK	1000	/* stored tasks read back per loop pass, */
#define MAIN_LOAD_US	3000	/* or fewer if they take longer than this */
#define MAIN_LOAD_CHECK	16	/* the clock is read once per this many */
#define MAIN_LOAD_AHEAD_MS 10000 /* tasks due this soon are read first */
#define MAIN_DEFAULT_LISTEN "127.0.0.1:8080"
#define MAIN_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/evtaskd"
#define MAIN_DEFAULT_CONFIG SYSCONFDIR "/evtaskd/evtaskd.json"

struct main_opts {
	const char	**listen;	/* from -l, NULL-terminated */
	int		  nlisten;
	enum log_level	  log_level;
	const char	 *state_dir;
	const char	 *config_file;	/* -c, or the default if it exists */
	int		  memory;
	const char	 *store;	/* --store URI */
	const char	 *node;		/* --node NAME */
	int		  check_config;
};

static struct main_opts		 main_opts;
static struct event_base	*main_base;
static int			 main_done;
static int			 main_fenced;	/* lost the lease: exit 1 */
static int			 main_stopping;	/* SIGTERM came: finishing */

static void	main_load_stop(void);
static struct event		*main_grace;

/* Print the usage text to f. */
static void
main_usage(FILE *f)
{
	fprintf(f,
"usage: evtaskd [-c FILE] [-l ADDR]... [-d DIR | --memory] [--store URI]\n"
"               [--node NAME] [--log-level LEVEL] [--check-config] [-V] [-h]\n"
"  -c, --config FILE    JSON config; flags override it. Default:\n"
"                       " MAIN_DEFAULT_CONFIG " if it exists\n"
"  -l, --listen ADDR    HOST:PORT, [V6]:PORT or unix:/PATH; repeatable;\n"
"                       default " MAIN_DEFAULT_LISTEN ". Port 0 picks a free port.\n"
"  -d, --state-dir DIR  where the store lives; created if missing.\n"
"                       Default: $STATE_DIRECTORY, else the configured one,\n"
"                       else " MAIN_DEFAULT_STATE_DIR "\n"
"      --memory         no store: nothing survives a restart\n"
"      --store URI      keep tasks in PostgreSQL (postgresql://...), a node\n"
"                       of a cluster; -d DIR then holds the outputs only\n"
"      --node NAME      this node's name in the cluster (default: host name)\n"
"      --log-level L    error | warn | info | debug   (default info)\n"
"      --check-config   validate the config, print what is wrong, exit 0/1\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           print this help and exit\n");
}

/* A usage error: say what, point at --help, exit 2. */
static void NORETURN
main_usage_error(const char *fmt, ...)
{
	va_list ap;
	char *what, *text;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	text = xasprintf("evtaskd: %s\nTry 'evtaskd --help' for more "
	    "information.", what);
	log_stderr(text);
	free(text);
	free(what);
	exit(2);
}

/* Parse the command line into opts; exits on -h, -V and usage errors. */
static void
main_parse(int argc, char **argv, struct main_opts *opts)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "memory", no_argument, NULL, 'm' },
		{ "store", required_argument, NULL, 'S' },
		{ "node", required_argument, NULL, 'N' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, level;

	memset(opts, 0, sizeof *opts);
	opts->log_level = LOG_INFO;
	opts->listen = xcalloc((size_t)argc + 1, sizeof *opts->listen);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:l:d:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->config_file = optarg;
			break;
		case 'C':
			opts->check_config = 1;
			break;
		case 'l':
			opts->listen[opts->nlisten++] = optarg;
			break;
		case 'd':
			opts->state_dir = optarg;
			break;
		case 'm':
			opts->memory = 1;
			break;
		case 'S':
			if (!config_store_url(optarg))
				main_usage_error("--store: '%s' is not a "
				    "postgresql:// URI", optarg);
			opts->store = optarg;
			break;
		case 'N':
			if (config_node_check(optarg) != NULL)
				main_usage_error("--node: '%s' %s", optarg,
				    config_node_check(optarg));
			opts->node = optarg;
			break;
		case 'L':
			level = log_level_parse(optarg);
			if (level < 0)
				main_usage_error("--log-level: '%s' is not one "
				    "of error, warn, info, debug", optarg);
			opts->log_level = (enum log_level)level;
			break;
		case 'V':
			printf("evtaskd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			main_usage(stdout);
			exit(0);
		case ':':
			main_usage_error("option '%s' needs a value",
			    argv[optind - 1]);
		default:
			main_usage_error("unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		main_usage_error("unexpected argument '%s'", argv[optind]);
	if (opts->memory && opts->state_dir != NULL)
		main_usage_error("give --state-dir or --memory, not both");
	if (opts->memory && opts->store != NULL)
		main_usage_error("give --store or --memory, not both");
	for (c = 0; c < opts->nlisten; c++) {
		struct listen_addr addr;
		char *err;

		if (listen_parse(opts->listen[c], &addr, &err) != 0)
			main_usage_error("--listen %s", err);
	}
	if (opts->config_file == NULL && access(MAIN_DEFAULT_CONFIG, F_OK) == 0)
		opts->config_file = MAIN_DEFAULT_CONFIG;
}

/*
 * Read the config file (if any) and put the flags over it. Returns NULL
 * with the problems printed (or logged, on a reload).
 */
static struct config *
main_load_config(int reload)
{
	struct config *c;
	char *errors, *err;

	c = config_load(main_opts.config_file, &errors);
	if (c != NULL && token_read(c->token_file, "token file", &c->token,
	    &err) != 0) {
		errors = err;
		config_free(c);
		c = NULL;
	}
	if (c == NULL) {
		if (reload)
			log_error("reload failed; the old config stays:\n%s",
			    errors);
		else
			log_stderr(errors);
		free(errors);
		return NULL;
	}
	if (main_opts.state_dir != NULL) {
		free(c->state_dir);
		c->state_dir = xstrdup(main_opts.state_dir);
	}
	if (main_opts.store != NULL) {
		free(c->store);
		c->store = xstrdup(main_opts.store);
	}
	if (main_opts.node != NULL) {
		free(c->node);
		c->node = xstrdup(main_opts.node);
	}
	return c;
}

/* Open every listen address: -l, else the config's, else the default. */
static void
main_listen(void)
{
	static const char *const deflt[] = { MAIN_DEFAULT_LISTEN, NULL };
	static const char *const none[] = { NULL };
	const char *const *list = deflt;
	struct listen_addr addr;
	char *err;
	int i, fd, passed;

	/* Socket activation: the passed sockets replace the defaults. */
	if ((passed = sdnotify_listen_fds()) < 0)
		exit(1);
	for (i = 0; i < passed; i++) {
		if (http_listen_fd(3 + i, NULL) != 0)
			exit(1);
	}
	if (main_opts.nlisten > 0)
		list = main_opts.listen;
	else if (passed > 0)
		list = none;
	else if (cfg->listen != NULL)
		list = (const char *const *)cfg->listen;
	for (i = 0; list[i] != NULL; i++) {
		listen_parse(list[i], &addr, &err);	/* checked before */
		fd = listen_open(&addr, &err);
		if (fd < 0) {
			log_error("cannot listen on %s", err);
			free(err);
			exit(1);
		}
		if (http_listen_fd(fd, addr.unix_socket ? addr.path : NULL)
		    != 0)
			exit(1);
	}
}

/* Which tasks a stop cancels: all active ones, or only running work that
 * cannot resume after a restart (a command's process). */
static void
main_shutdown_task(struct task *t, void *arg)
{
	if (task_state_terminal(t->state) || t->state == TASK_CANCELLING)
		return;
	if (cfg->on_shutdown == ON_SHUTDOWN_CANCEL ||
	    (t->state == TASK_RUNNING && !task_kind(t)->resumable))
		task_cancel(t, CANCEL_SHUTDOWN, NULL);
}

/* shutdown_grace_ms passed: stop even if cleanups still run. */
static void
main_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn("shutdown_grace_ms passed with %llu cleanups still running; "
	    "they run again after a restart",
	    (unsigned long long)registry_count(TASK_CANCELLING));
	main_done = 1;
}

/*
 * SIGTERM or SIGINT: refuse new work (503), cancel what must not outlive
 * us, wait for the cleanups (at most shutdown_grace_ms), then leave the
 * loop. A second signal stops at once.
 */
static void
main_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv;

	if (main_stopping) {
		log_warn("second stop signal: stopping now");
		main_done = 1;
		return;
	}
	log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT");
	sdnotify_stopping();
	main_stopping = 1;
	api_stopping = 1;
	schedule_stop();
	if (cfg->on_shutdown == ON_SHUTDOWN_CANCEL)
		registry_complete();	/* every task is cancelled */
	main_load_stop();		/* the rest stays stored, as it was */
	task_hold();
	registry_each(main_shutdown_task, NULL);
	tv.tv_sec = (time_t)(cfg->shutdown_grace_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->shutdown_grace_ms % 1000) * 1000;
	main_grace = evtimer_new(main_base, main_grace_cb, NULL);
	evtimer_add(main_grace, &tv);
}

/* Do two optional strings differ? */
static int
main_changed(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/*
 * SIGHUP: reload jobs, limits and the auth token. A broken file keeps the
 * old config; running tasks keep the job they started with.
 */
static void
main_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct config *c;

	log_info("received SIGHUP, reloading %s", main_opts.config_file !=
	    NULL ? main_opts.config_file : "(no config file: defaults)");
	sdnotify_reloading();
	if ((c = main_load_config(1)) == NULL) {
		sdnotify_ready();
		return;
	}
	if (c->state_dir != NULL && (cfg->state_dir == NULL ||
	    strcmp(c->state_dir, cfg->state_dir) != 0))
		log_warn("state_dir changes take effect at the next start");
	if (main_changed(c->store, cfg->store) || main_changed(c->node,
	    cfg->node) || c->lease_ms != cfg->lease_ms)
		log_warn("store, node and lease_ms changes take effect at the "
		    "next start");
	if (c->http.max_connections != cfg->http.max_connections ||
	    c->http.max_connections_per_ip != cfg->http.max_connections_per_ip)
		log_warn("connection limits change at the next start");
	config_set(c);
	http_set_limits(&cfg->http);
	log_info("reloaded: %zu jobs", cfg->njobs);
	sdnotify_ready();
}

/*
 * Recovery reads the stored tasks that had not ended a chunk per loop
 * pass after READY: first those due within MAIN_LOAD_AHEAD_MS, earliest
 * first (a task due soon after a restart is on time), then the rest in id
 * order (the table's own order: a million take seconds). Until all are in
 * memory, a task asked for by id is loaded first (registry_find), and what
 * walks every task (a schedule's DELETE, on_shutdown "cancel") loads the
 * rest. A task already loaded is skipped by the walk that meets it again.
 */
static struct store_walk	 main_near;	/* earliest first, due soon */
static struct store_walk	 main_rest;	/* every one, in id order */
static struct event		*main_load_ev;	/* NULL: all are loaded */
static struct ulid		 main_load_max;	/* the newest id stored */
static long			 main_loaded;
static int64_t			 main_load_us;	/* when recovery began */
static int64_t			 main_pass_us;	/* when this pass's chunk began */
static int			 main_pass_full;	/* its time is up */

/*
 * Read back one task that had not ended, and resume it (once): arg is how
 * (task_recover at start, task_adopt for a dead node's task).
 */
static int
main_recover_cb(const char *id, const char *text, void *arg)
{
	void (*resume)(struct task *) = arg != NULL ? arg : task_recover;
	struct ulid uid;
	json_t *doc;
	struct task *t;

	if (ulid_parse(id, &uid) == 0 && registry_has(&uid) != NULL)
		return 0;		/* loaded already */
	doc = json_loads(text, 0, NULL);
	t = doc != NULL ? task_from_json(doc) : NULL;
	json_decref(doc);
	if (t == NULL) {
		log_error("store: task %s cannot be read back; it stays in "
		    "the store untouched", id);
		return 0;
	}
	resume(t);
	main_loaded++;
	/* This pass's time is up: the requests waiting go first. */
	if (main_loaded % MAIN_LOAD_CHECK == 0 &&
	    clock_mono_us() - main_pass_us > MAIN_LOAD_US)
		main_pass_full = 1;
	return main_pass_full;
}

/* A dead node's task, adopted (the store committed it ours). */
static void
main_adopt_cb(const char *id, const char *text)
{
	main_recover_cb(id, text, (void *)task_adopt);
}

/* An unplaced command task of one of our jobs, claimed (committed ours). */
static void
main_claim_cb(const char *id, const char *text)
{
	main_recover_cb(id, text, (void *)task_place);
}

/*
 * The lease is gone (a pause, a partition: another node adopted our work
 * or took our name). Nothing here is ours any more: the loop ends now,
 * without the shutdown's cancels and cleanups; at exit every task in
 * memory is freed (a command's process group killed), nothing is written
 * (the store refuses), and the exit status is 1 for the supervisor to
 * start us again, as a fresh node with a new epoch.
 */
static void
main_fenced_cb(void)
{
	log_error("fenced: dropping the %llu tasks in memory without "
	    "cleanups (their processes are killed) and exiting 1",
	    (unsigned long long)registry_active());
	main_fenced = 1;
	main_done = 1;
}

/* One chunk of a walk: the number read. A read error ends the daemon. */
static long
main_load_walk(struct store_walk *w)
{
	char *err;
	long n = store_load(w, MAIN_LOAD_CHUNK, main_recover_cb, NULL, &err);

	if (n < 0) {
		log_error("cannot recover the tasks: %s", err);
		exit(1);
	}
	return n;
}

/*
 * One pass's chunk (MAIN_LOAD_CHUNK tasks of each walk, or MAIN_LOAD_US of
 * them): the tasks due soon, then the rest. 1 if more may follow.
 */
static int
main_load_chunk(void)
{
	main_pass_us = clock_mono_us();
	main_pass_full = 0;
	main_near.until = clock_now_ms() + MAIN_LOAD_AHEAD_MS;
	main_load_walk(&main_near);
	if (main_pass_full)
		return 1;
	/* The walk in id order has met every task once it ends. */
	return main_load_walk(&main_rest) > 0;
}

/* Stop loading (done, or stopping: the rest stays stored as it was). */
static void
main_load_stop(void)
{
	registry_on_miss(NULL, NULL);
	if (main_load_ev != NULL)
		event_free(main_load_ev);
	main_load_ev = NULL;
}

/* Every task is in memory: say so, and stop looking for more. */
static void
main_load_done(void)
{
	main_load_stop();
	if (main_loaded > 0)
		log_info("recovered %ld tasks: %llu scheduled, %llu running, "
		    "%llu cancelling (all loaded in %lld ms)", main_loaded,
		    (unsigned long long)registry_count(TASK_SCHEDULED),
		    (unsigned long long)registry_count(TASK_RUNNING),
		    (unsigned long long)registry_count(TASK_CANCELLING),
		    (long long)(clock_mono_us() - main_load_us) / 1000);
}

/* A loop pass: the next chunk, then the requests waiting. */
static void
main_load_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval now = { 0, 0 };

	if (main_load_chunk())
		evtimer_add(main_load_ev, &now);
	else
		main_load_done();
}

/* A task asked for by id that may not be loaded yet: load it now. */
static void
main_load_miss(const struct ulid *id)
{
	if (ulid_cmp(id, &main_load_max) <= 0)
		store_load_one(id, main_recover_cb, NULL);
}

/* Load every task not loaded yet, now (blocks: a rare walk's cost). */
static void
main_load_all(void)
{
	while (main_load_chunk())
		;
	main_load_done();
}

/*
 * Recovery, before listening: the tasks that wake at once (due 0: running
 * commands, cleanups; never many) are resumed now, the rest from the
 * first loop pass on.
 */
static void
main_recover(void)
{
	struct timeval now = { 0, 0 };

	main_load_us = clock_mono_us();
	if (store_max_id(&main_load_max) != 0) {
		log_error("cannot recover the tasks: cannot read the store");
		exit(1);
	}
	registry_seed(&main_load_max);	/* new ids above every stored one */
	main_near.due_at = TASK_TIME_NONE;
	main_near.until = 0;
	main_rest.by_id = 1;
	do {
		main_pass_us = clock_mono_us();
		main_pass_full = 0;
	} while (main_load_walk(&main_near) > 0);
	main_load_ev = evtimer_new(main_base, main_load_cb, NULL);
	registry_on_miss(main_load_miss, main_load_all);
	schedule_recover();		/* after the tasks: overlap sees them */
	store_drain();
	if (main_load_ev != NULL)
		evtimer_add(main_load_ev, &now);
}

/*
 * Callbacks: libcurl on the loop, told of every outbox row stored; the
 * pending deliveries go on (before the tasks are recovered: a task that
 * ends during recovery makes a new delivery, not one read back twice).
 */
static void
main_resume_callbacks(void)
{
	char *err;
	long n;

	if (callback_init(main_base, &err) != 0 ||
	    (n = callback_resume(&err)) < 0) {
		log_error("callbacks: %s", err);
		exit(1);
	}
	store_on_outbox(callback_stored);
	if (n > 0)
		log_info("resumed %ld pending callback deliveries", n);
}

/* Allow as many open files as the hard limit permits. */
static void
main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A new event base with sub-millisecond timers (timerfd). */
static struct event_base *
main_new_base(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (base == NULL)
		fatalx("event_base_new failed");
	return base;
}

/*
 * The end of one loop pass, in this order: waiters take the tasks as the
 * pass's batch stores them (before the store takes the rendered JSON: one
 * rendering serves both), the batch goes to the store, waiters of batches
 * already back are answered, and MHD answers what was resumed (which may
 * change more: then again). Last, the log is written.
 */
static void
main_pass_end(void)
{
	do {
		hub_seal(store_next_seq());
		store_flush();
		hub_committed(store_done_seq(), 0);
	} while (http_flush() || store_pending());
	log_flush();
}

/*
 * A store batch is back: wake who waited for it (a failed create hears
 * 503), then withdraw the tasks whose creation it lost.
 */
static void
main_stored_cb(uint64_t seq, int rc, struct task *const *lost, size_t nlost,
    void *arg)
{
	size_t i;

	hub_committed(seq, rc);
	for (i = 0; i < nlost; i++)
		task_withdraw(lost[i]);
}

/* mkdir -p for the state directory, private to us. */
static int
main_mkdirs(const char *dir)
{
	char *p = xstrdup(dir), *s, c;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* A purged task's output goes with it. */
static void
main_purged_cb(const char *id, void *arg)
{
	struct ulid u;

	if (ulid_parse(id, &u) == 0)
		output_remove(&u);
}

/* Outputs live in the state directory, or a private one (--memory). */
static void
main_open_output(const char *state_dir)
{
	const char *tmp = getenv("TMPDIR");
	char *dir, *err;

	if (state_dir != NULL)
		dir = xasprintf("%s/output", state_dir);
	else {
		dir = xasprintf("%s/evtaskd-output-XXXXXX", tmp != NULL &&
		    *tmp != '\0' ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL)
			fatalx("%s: %s", dir, strerror(errno));
	}
	if (output_init(dir, &err) != 0) {
		log_error("cannot keep task output in %s", err);
		exit(1);
	}
	free(dir);
	store_on_purge(main_purged_cb, NULL);
}

/* The state directory: -d, $STATE_DIRECTORY, the config's, the default. */
static const char *
main_state_dir(void)
{
	const char *dir = main_opts.state_dir;

	if (dir == NULL)
		dir = getenv("STATE_DIRECTORY");
	if (dir == NULL)
		dir = cfg->state_dir;
	if (dir != NULL && strchr(dir, ':') != NULL)
		dir = xstrndup(dir, strcspn(dir, ":")); /* the first */
	if (dir == NULL || *dir == '\0')
		dir = MAIN_DEFAULT_STATE_DIR;
	if (main_mkdirs(dir) != 0) {
		log_error("cannot create the state directory %s: %s",
		    dir, strerror(errno));
		exit(1);
	}
	return dir;
}

/*
 * Another node asked (cancels table) to cancel a task this node runs, for
 * a reason (superseded; else a client's); -1 if it is not in memory here
 * (yet: an adoption's tasks arrive after its commit), and the request
 * waits in the table.
 */
static int
main_remote_cancel(const struct ulid *id, int reason, const char *message)
{
	struct task *t = registry_find(id);

	if (t == NULL)
		return -1;
	if (reason <= CANCEL_NONE || reason >= CANCEL_NREASONS)
		reason = CANCEL_CLIENT;
	task_cancel(t, (enum cancel_reason)reason, message);
	return 0;
}

/* PostgreSQL's events tail and cancel requests (pg-events.c). */
static const struct pg_events_hooks main_pg_hooks = {
	hub_use_store_ids, hub_feed, main_remote_cancel, hub_store_committed
};

/*
 * Open the store: PostgreSQL (--store, "store"; outputs stay in the
 * state directory), else SQLite: --memory, or in the state directory.
 */
static void
main_open_store(void)
{
	const char *dir = NULL;
	char *path = NULL, *shown, *err;

	if (!main_opts.memory)
		dir = main_state_dir();
	if (cfg->store != NULL && !main_opts.memory)
		path = xstrdup(cfg->store);
	else if (dir != NULL)
		path = xasprintf("%s/evtaskd.db", dir);
	shown = path != NULL ? store_pg_redact(path) : xstrdup("(temporary)");
	pg_events_hooks(&main_pg_hooks);
	if (store_open(main_base, path, main_stored_cb, NULL, &err) != 0) {
		log_error("cannot open the store %s: %s", shown, err);
		exit(1);
	}
	log_info("store: %s", path != NULL ? shown : "in memory (--memory)");
	free(shown);
	free(path);
	main_open_output(main_opts.memory ? NULL : dir);
}

/* Does any job ask for resource limits? */
static int
main_jobs_limit_resources(void)
{
	const struct job_resources *r;
	size_t i;

	for (i = 0; i < cfg->njobs; i++) {
		r = &cfg->jobs[i]->resources;
		if (r->memory_max_bytes > 0 || r->pids_max > 0 ||
		    r->cpu_weight > 0)
			return 1;
	}
	return 0;
}

/*
 * Decide how command tasks are isolated (cgroup or process groups), say
 * so, and name the resources that will not be enforced.
 */
static void
main_isolation(void)
{
	const char *missing;
	char *err;

	if (cgroup_init(main_base, cfg->isolation, &err) != 0) {
		log_error("%s", err);
		exit(1);
	}
	log_info("command tasks are isolated by %s", cgroup_mode_name());
	missing = cgroup_missing_controllers();
	if (*missing != '\0' && main_jobs_limit_resources())
		log_warn("job resources are accepted but not enforced: no "
		    "cgroup v2 controller for %s here", missing);
}

/* Free what is left in memory at exit (so leak checkers see nothing). */
static void
main_free_task(struct task *t, void *arg)
{
	task_free(t);
}

/*
 * Stopping now: a late TERM, INT or HUP must not turn exit 0 into death
 * once libevent gives the signals back their default actions. Blocked,
 * they stay pending until the process ends.
 */
static void
main_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* --check-config: say whether the config is good; exit 0 or 1. */
static void NORETURN
main_check_config(void)
{
	struct config *c = main_load_config(0);

	if (c == NULL)
		exit(1);
	printf("%s: ok, %zu job%s\n", main_opts.config_file != NULL ?
	    main_opts.config_file : "(no config file: defaults)", c->njobs,
	    c->njobs == 1 ? "" : "s");
	config_free(c);
	exit(0);
}

int
main(int argc, char **argv)
{
	struct event *sigterm, *sigint, *sighup;
	struct config *c;
	int rc;

	log_init(LOG_INFO);		/* usage errors know about journald */
	main_parse(argc, argv, &main_opts);
	log_init(main_opts.log_level);
	if (main_opts.check_config)
		main_check_config();
	if ((c = main_load_config(0)) == NULL)
		exit(2);
	config_set(c);
	signal(SIGPIPE, SIG_IGN);
	main_raise_nofile();
	main_base = main_new_base();
	sdnotify_init(main_base);
	task_init(main_base);
	hub_init(main_base);
	kind_init(main_base);
	schedule_init(main_base);
	main_isolation();
	/* Every change is stored, then published and waited on, then counted,
	 * then an ending is logged. */
	task_observe(&store_observer);
	task_observe(&hub_observer);
	task_observe(&metrics_observer);
	task_observe(&task_log_observer);
	task_observe(&callback_observer);
	pg_adopt_on(main_adopt_cb, schedule_adopt, callback_adopt);
	pg_adopt_on_claim(main_claim_cb);
	pg_node_on_lost(main_fenced_cb);
	main_open_store();
	main_resume_callbacks();
	main_recover();
	store_start_purge(main_base);
	/* Signals are ours before anyone can learn our address. */
	sigterm = evsignal_new(main_base, SIGTERM, main_stop_cb, NULL);
	sigint = evsignal_new(main_base, SIGINT, main_stop_cb, NULL);
	sighup = evsignal_new(main_base, SIGHUP, main_reload_cb, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(sighup, NULL);
	http_init(main_base, api_routes, api_nroutes, &cfg->http);
	main_listen();
	sdnotify_ready();

	while (!main_done) {
		event_base_loop(main_base, EVLOOP_ONCE);
		main_pass_end();
		if (main_stopping && registry_count(TASK_CANCELLING) == 0)
			main_done = 1;
	}

	main_block_signals();
	http_quiesce();
	rc = store_drain() != 0 || main_fenced;	/* all acknowledged stored */
	callback_shutdown();		/* pending deliveries resume later */
	hub_shutdown();
	http_stop();
	store_close();
	schedule_shutdown();
	task_observe_clear();
	main_load_stop();
	registry_each(main_free_task, NULL);
	log_info("stopped");
	log_flush();
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	if (main_grace != NULL)
		event_free(main_grace);
	kind_shutdown();
	cgroup_shutdown();
	output_shutdown(main_opts.memory);
	sdnotify_close();
	journal_close();
	task_shutdown();
	event_base_free(main_base);
	config_set(NULL);
	free(main_opts.listen);
	return rc;
}
