/* evtaskd.h -- the one internal header, a section per file. */

#ifndef EVTASKD_H
#define EVTASKD_H

#include "config.h"
#include "evtask.h"

#include <stdarg.h>
#include <stddef.h>
#include <regex.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event_struct.h>

#include <jansson.h>
#include <microhttpd.h>

struct event_base;

/* log.c */
enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};
/* A field of a log entry for journald (TASK_ID=...); NULL values skipped. */
struct log_field {
	const char	*name;
	const char	*value;
};
void	 log_init(enum log_level);
int	 log_to_journal(void);
int	 log_enabled(enum log_level);
int	 log_level_parse(const char *);
void	 log_flush(void);
void	 log_stderr(const char *);
void	 log_msg(enum log_level, const char *, ...) PRINTFLIKE(2, 3);
void	 log_always(enum log_level, const char *, ...) PRINTFLIKE(2, 3);
void	 log_fields(enum log_level, const struct log_field *, size_t,
	    const char *, ...) PRINTFLIKE(4, 5);
void	 fatalx(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	do {						\
	if (log_enabled(LOG_DEBUG))					\
		log_msg(LOG_DEBUG, __VA_ARGS__);			\
} while (0)

/* journal.c */
int	 journal_send(int, const char *, const struct log_field *, size_t);
void	 journal_close(void);

/* listen.c */
struct listen_addr {
	int	unix_socket;
	char	host[256];
	int	port;
	char	path[108];
};
int	 listen_parse(const char *, struct listen_addr *, char **);
int	 listen_open(const struct listen_addr *, char **);
int	 listen_prepare_fd(int);
int	 listen_describe(int, char *, size_t);
void	 listen_format_peer(const struct sockaddr *, char *, size_t);
int	 listen_is_loopback(int);
int	 listen_host_ok(const char *, size_t, int);
int	 listen_host_loopback(const char *, size_t);
size_t	 listen_host_len(const char *, size_t);

/* router.c */
struct http_request;
typedef void http_handler(struct http_request *);
/* Who may call a route: the guard asks for the bearer token from this. */
enum router_auth {
	ROUTE_OPEN,		/* anyone */
	ROUTE_TOKEN,		/* the token, when one is configured */
	ROUTE_TOKEN_METRICS,	/* the same, unless metrics_public */
};
struct router_entry {
	const char	*pattern;	/* '*' matches one path segment */
	const char	*method;
	http_handler	*handler;
	enum router_auth auth;
};
struct router_match {
	const struct router_entry *entry;
	const char	*param;
	size_t		 paramlen;
	char		 allow[64];
};
enum router_result {
	ROUTER_FOUND,
	ROUTER_NOT_FOUND,
	ROUTER_BAD_METHOD,
};
enum router_result router_lookup(const struct router_entry *, size_t,
	    const char *, const char *, struct router_match *);

/* http.c */
struct http_limits {
	size_t		max_body_bytes;
	unsigned int	max_connections;
	unsigned int	max_connections_per_ip;
	unsigned int	connection_timeout_s;
	unsigned int	request_timeout_s;	/* headers and body, whole */
};
struct http_stats {
	uint64_t	requests;
	uint64_t	by_class[6];	/* [2] is 2xx ...; [0] other */
	uint64_t	parked;		/* requests waiting right now */
	uint64_t	timed_out;	/* closed: no whole request in time */
	uint64_t	evicted;	/* closed to make room at the limit */
	uint64_t	accept_refused;	/* accept() found no descriptor */
};
void	 http_init(struct event_base *, const struct router_entry *, size_t,
	    const struct http_limits *);
void	 http_set_limits(const struct http_limits *);
const struct http_stats *http_get_stats(void);
unsigned int http_connections(void);
int64_t	 http_age_us(struct http_request *);
int	 http_listen_fd(int, const char *);
int	 http_flush(void);
void	 http_quiesce(void);
void	 http_stop(void);
const char *http_header(struct http_request *, const char *);
const char *http_query(struct http_request *, const char *);
int	 http_query_each(struct http_request *,
	    int (*)(const char *, const char *, void *), void *);
const char *http_param(struct http_request *);
const char *http_method(struct http_request *);
const char *http_body(struct http_request *, size_t *);
void	 http_set_ctx(struct http_request *, void *, void (*)(void *));
void	 http_log_note(struct http_request *, const char *);

/* http-guard.c */
int	 http_content_type_ok(const char *);

/* http-reply.c */
void	 http_set_header(struct http_request *, const char *, const char *);
void	 http_reply(struct http_request *, unsigned, const char *, char *,
	    size_t);
void	 http_reply_json_type(struct http_request *, unsigned, json_t *,
	    const char *);
void	 http_reply_persistent(struct http_request *, unsigned, const char *,
	    const char *, size_t);
void	 http_reply_static(struct http_request *, unsigned, const char *,
	    const char *);
void	 http_problem_extra(struct http_request *, unsigned, const char *,
	    json_t *, const char *, ...) PRINTFLIKE(5, 6);
#define http_problem(req, status, slug, ...) \
	http_problem_extra(req, status, slug, NULL, __VA_ARGS__)

/* http-park.c */
typedef void http_gone_cb(struct http_request *, void *);
void	 http_suspend(struct http_request *, http_gone_cb *, void *);
void	 http_suspend_brief(struct http_request *, http_gone_cb *, void *);
void	 http_reply_stream(struct http_request *, const char *,
	    MHD_ContentReaderCallback, void *);
void	 http_stream_pause(struct http_request *, http_gone_cb *, void *);
void	 http_stream_wake(struct http_request *);
void	 http_stream_close(struct http_request *);

/* config.c */
enum on_shutdown {
	ON_SHUTDOWN_KEEP,
	ON_SHUTDOWN_CANCEL,
};
/* How a command task's processes are kept together (CONTRACT §7). */
enum isolation {
	ISOLATION_AUTO,		/* cgroup if the daemon can, else process group */
	ISOLATION_CGROUP,
	ISOLATION_PROCESS_GROUP,
};
#define CONFIG_OUTPUT_MIN	4096
#define CONFIG_OUTPUT_MAX	((int64_t)1 << 40)
struct config {
	char		**listen;	/* NULL-terminated, or NULL */
	char		**allowed_origins;	/* NULL-terminated, or NULL */
	char		**allowed_hosts;	/* NULL-terminated, or NULL */
	char		*state_dir;
	char		*store;		/* a postgresql:// URI, or NULL */
	char		*node;		/* this node's name, or NULL (host) */
	int64_t		 lease_ms;
	int64_t		 retention_s;
	int64_t		 shutdown_grace_ms;
	enum on_shutdown on_shutdown;
	char		*token_file;
	char		*token;		/* read from token_file */
	int		 metrics_public;
	uint64_t	 max_active_tasks;
	int64_t		 max_duration_ms;
	size_t		 max_metadata_bytes;
	struct http_limits http;
	enum isolation	 isolation;
	size_t		 max_output_bytes;	/* ceiling of every job's */
	struct job	**jobs;
	size_t		 njobs;
	struct callback_conf *callbacks;	/* config-callbacks.c's */
	size_t		 ncallbacks;
};
extern const struct config *cfg;
void	 config_defaults(struct config *);
struct config *config_load(const char *, char **);
void	 config_free(struct config *);
void	 config_set(struct config *);
struct job *config_job(const char *);
const char *config_isolation_name(enum isolation);
#define CONFIG_NODE_MAX		63
int	 config_store_url(const char *);
const char *config_node_check(const char *);
const char *config_node_name(void);

/* config-pos.c */
struct config_pos;
struct config_pos *config_pos_new(const char *, const char *, size_t);
char	*config_pos_end(struct config_pos *);
void	 config_pos_error(struct config_pos *, const char *, ...)
	    PRINTFLIKE(2, 3);
void	 config_pos_json_error(struct config_pos *, const json_error_t *);
void	 config_pos_push(struct config_pos *, const char *, int);
void	 config_pos_pop(struct config_pos *);
void	 config_pos_only(struct config_pos *, json_t *, const char *const *);
void	 config_pos_int(struct config_pos *, json_t *, const char *, int64_t,
	    int64_t, int64_t *);
int	 config_pos_str(struct config_pos *, json_t *, const char *, char **);
int	 config_pos_bool(struct config_pos *, json_t *, const char *);
int	 config_pos_abspath(struct config_pos *, json_t *, const char *,
	    char **);
void	 config_pos_warn(struct config_pos *, const char *, ...)
	    PRINTFLIKE(2, 3);
json_t	*config_pos_obj(struct config_pos *, json_t *, const char *);
char	**config_pos_strv(struct config_pos *, json_t *, const char *);

/* config-callbacks.c */
/* A receiver from the config: where and how to deliver (CONTRACT §9). */
struct callback_conf {
	char		*name;
	char		*url;
	char		*secret_file;
	char		*secret;	/* the file's content, read at each load */
	unsigned	 events;	/* a bit per terminal task state */
	int64_t		 timeout_ms;
	int64_t		 max_attempts;
};
void	 config_callbacks(struct config_pos *, struct config *, json_t *);
void	 config_callbacks_free(struct config *);
const struct callback_conf *config_callback(const char *);

/* job.c */
struct job_arg {
	char		*name;
	char		*pattern;
	regex_t		 re;		/* anchored: the whole value */
	int		 compiled;
	int		 required;
	char		*description;	/* NULL: none */
};
/* What a job's cgroup may use; 0: not set (CONTRACT §7). */
struct job_resources {
	int64_t		 memory_max_bytes;
	int64_t		 pids_max;
	int		 cpu_weight;
};
/* How a failed or timed-out attempt is tried again (CONTRACT §8). */
struct retry_policy {
	int		 max_attempts;	/* 0: not given */
	int64_t		 backoff_ms;
	int64_t		 max_backoff_ms;
	int		 jitter;
};
#define RETRY_MAX_ATTEMPTS	100
/* What a task with a concurrency key does when the key is taken. */
enum on_conflict {
	CONFLICT_QUEUE,
	CONFLICT_REPLACE,
	CONFLICT_REJECT,
};
/* A job from the config: what a command task runs. Reference-counted. */
struct job {
	int		 refs;
	char		*name;
	char		**argv;		/* templates, NULL-terminated */
	struct job_arg	*args;
	size_t		 nargs;
	int64_t		 timeout_ms;	/* TASK_TIME_NONE: none */
	int		 kill_signal;
	int64_t		 kill_grace_ms;
	char		**cleanup_argv;	/* NULL: no cleanup command */
	int64_t		 cleanup_timeout_ms;
	unsigned int	 max_concurrent;	/* 0: no limit */
	char		*working_dir;
	char		**env;		/* "NAME=value", NULL-terminated */
	char		*description;	/* NULL: none */
	size_t		 max_output_bytes;	/* clamped to the limit */
	struct job_resources resources;
	struct retry_policy retry;	/* max_attempts 0: none */
	char		*concurrency_key;	/* a template, or NULL */
	int		 on_conflict;	/* -1: not given */
};
struct job *job_parse(struct config_pos *, const char *, json_t *);
struct job *job_ref(struct job *);
void	 job_unref(struct job *);
char	**job_argv(char *const *, const char *, json_t *);
char	*job_fill(const char *, const char *, json_t *);
int	 job_conflict_parse(const char *);
const char *job_conflict_name(int);

/* token.c */
int	 token_read(const char *, const char *, char **, char **);

/* hmac.c */
#define HMAC_SHA256_HEX_LEN	64
void	 hmac_sha256_hex(const char *, const void *, size_t, char *);

/* signame.c */
const char *signame_of(int);
int	 signame_parse(const char *);

/* wheel.c */
/* An entry of a timing wheel, embedded in what it times (a task). */
struct wheel_node {
	struct wheel_node	*next;		/* NULL: not on a wheel */
	struct wheel_node	*prev;
	int64_t			 at;		/* ms since the epoch */
};
struct wheel;
#define WHEEL_NEVER INT64_MAX
typedef void wheel_fire_cb(struct wheel_node *);
struct wheel *wheel_new(int64_t, wheel_fire_cb *);
void	 wheel_free(struct wheel *);
void	 wheel_attach(struct wheel *, struct event_base *);
void	 wheel_add(struct wheel *, struct wheel_node *, int64_t);
void	 wheel_del(struct wheel *, struct wheel_node *);
int	 wheel_pending(const struct wheel_node *);
size_t	 wheel_count(const struct wheel *);
int64_t	 wheel_next(struct wheel *);
void	 wheel_run(struct wheel *, int64_t);

/* registry.c */
struct task;
enum task_state {
	TASK_SCHEDULED,
	TASK_RUNNING,
	TASK_CANCELLING,
	TASK_SUCCEEDED,		/* the terminal states follow */
	TASK_FAILED,
	TASK_CANCELLED,
	TASK_TIMED_OUT,
	TASK_NSTATES
};
void	 registry_next_id(struct ulid *);
void	 registry_seed(const struct ulid *);
void	 registry_add(struct task *);
struct task *registry_find(const struct ulid *);
struct task *registry_has(const struct ulid *);
typedef void registry_miss_cb(const struct ulid *);
void	 registry_on_miss(registry_miss_cb *, void (*)(void));
void	 registry_complete(void);
void	 registry_remove(struct task *);
void	 registry_count_move(enum task_state, enum task_state);
uint64_t registry_count(enum task_state);
uint64_t registry_active(void);
void	 registry_each(void (*)(struct task *, void *), void *);

/* output.c */
enum output_stream {
	OUTPUT_MAIN,		/* the job's process */
	OUTPUT_CLEANUP,		/* its cleanup command */
	OUTPUT_NSTREAMS
};
struct output;
struct output_reader;
typedef void output_ready_cb(void *);
int	 output_init(const char *, char **);
void	 output_shutdown(int);
struct output *output_open(const struct ulid *, enum output_stream, size_t,
	    char **);
void	 output_unref(struct output *);
uint64_t output_total(const struct output *);
void	 output_append(struct output *, const char *, size_t);
void	 output_end(struct output *);
struct output_reader *output_reader_new(const struct ulid *,
	    enum output_stream, struct output *, uint64_t, int,
	    output_ready_cb *, void *, char **);
uint64_t output_reader_total(const struct output_reader *);
uint64_t output_reader_start(const struct output_reader *);
ssize_t	 output_reader_read(struct output_reader *, char *, size_t);
void	 output_reader_free(struct output_reader *);
void	 output_remove(const struct ulid *);
uint64_t output_kept(const struct ulid *, enum output_stream);
/*
 * Where a copy of every byte of every live output goes (a shared store):
 * open(id, stream, cap, bytes written before) gives its state, append(it,
 * offset, bytes, n) and close(it).
 */
struct output_tee {
	void	*(*open)(const struct ulid *, enum output_stream, uint64_t,
		    uint64_t);
	void	 (*append)(void *, uint64_t, const char *, size_t);
	void	 (*close)(void *);
};
void	 output_tee(const struct output_tee *);

/* task.c */
#define TASK_TIME_NONE INT64_MIN
enum cancel_reason {
	CANCEL_NONE,
	CANCEL_CLIENT,
	CANCEL_TIMEOUT,
	CANCEL_SHUTDOWN,
	CANCEL_RESTART,
	CANCEL_SUPERSEDED,	/* a newer task or run replaced it (§8) */
	CANCEL_NODE_LOST,	/* its node died in a cluster (§12) */
	CANCEL_NREASONS
};
enum cleanup_state {
	CLEANUP_NONE,
	CLEANUP_RUNNING,
	CLEANUP_SUCCEEDED,
	CLEANUP_FAILED,
	CLEANUP_TIMED_OUT,
};
enum task_cancel_result {
	TASK_CANCEL_STARTED,	/* scheduled or running: cancelling now */
	TASK_CANCEL_JOINED,	/* was cancelling already */
	TASK_CANCEL_ALREADY,	/* cancelled */
	TASK_CANCEL_TOO_LATE,	/* succeeded, failed or timed out */
};
struct hub_waiter;
/* What only some tasks need, allocated on first use. */
struct task_extra {
	int64_t		 cancel_requested_at;
	char		*cancel_message;
	uint32_t	 cancel_requests;
	uint8_t		 cancel_reason;
	uint8_t		 cleanup_state;
	int64_t		 cleanup_started_at;
	int64_t		 cleanup_finished_at;
	char		*cleanup_detail;
	json_t		*cleanup_facts;	/* the kind's: exit code, output */
	json_t		*result;
	TAILQ_HEAD(, hub_waiter) waiters;	/* hub.c's: until it ends */
};
/*
 * A task. Read by everyone; changed only through task.c (state) and by its
 * kind (its data). Kept small: a million pending tasks is a normal load.
 */
/*
 * The scheduling policies of a task (retries, concurrency key, schedule),
 * made on first use; the links are sched.c's.
 */
struct task_policy {
	struct retry_policy	 retry;		/* max_attempts 0: none */
	int			 attempt;	/* 1-based */
	json_t			*attempts;	/* finished ones, or NULL */
	char			*key;		/* concurrency key, or NULL */
	int			 on_conflict;
	int			 has_schedule;
	struct ulid		 schedule_id;
	struct sched_key	*sk;		/* sched.c's: its key's state */
	struct sched_queue	*waitq;		/* sched.c's: where it waits */
	unsigned		 has_slot:1;	/* sched.c's: a job slot */
	unsigned		 counted:1;	/* sched.c's: runs for its job */
	unsigned		 holds_key:1;	/* sched.c's */
	unsigned		 member:1;	/* sched.c's: in sk's members */
	unsigned		 cluster:1;	/* sched.c's: asked the cluster */
	unsigned		 ask_job:1;	/* sched.c's: ask has a job slot */
	unsigned		 told:1;	/* sched.c's: the cluster answered */
	struct store_slot	*ask;		/* sched.c's: the cluster's answer
						   awaited (shared store) */
	TAILQ_ENTRY(task_policy) wait_entry;	/* sched.c's */
	LIST_ENTRY(task_policy)	 member_entry;	/* sched.c's */
	struct task		*task;
};
struct sched_key;
struct sched_queue;
struct store_slot;
/* Where a task's callback delivery stands (CONTRACT §9). */
enum callback_state {
	CALLBACK_PENDING,
	CALLBACK_DELIVERED,
	CALLBACK_FAILED,
};
/* The task's "callback" member: the receiver it names and its delivery. */
struct task_callback {
	char			*name;
	uint8_t			 state;		/* enum callback_state */
	uint32_t		 attempts;
	int			 last_status;	/* 0: no answer yet */
	char			*last_error;	/* NULL: none */
	int64_t			 delivered_at;	/* TASK_TIME_NONE: not yet */
};
/* What only some tasks are given at creation. */
struct task_info {
	char			*name;
	json_t			*metadata;
	int64_t			 timeout_ms;	/* TASK_TIME_NONE: none */
	struct task_policy	*pol;		/* NULL: no policy */
	struct task_callback	*callback;	/* NULL: names none */
};
/* A task's policy (retries, key, schedule), or NULL. */
#define TASK_POL(t) ((t)->info != NULL ? (t)->info->pol : NULL)
struct task {
	struct ulid		 id;
	uint8_t			 kindi;		/* index in kind_table */
	uint8_t			 state;		/* enum task_state */
	/* One byte of flags beside the two above: 8 bytes less per task. */
	uint8_t			 registered:1;	/* in the registry */
	uint8_t			 queued:1;	/* due, waiting for its kind */
	uint8_t			 st_dirty:1;	/* store.c's: in this pass's batch */
	uint8_t			 st_keyed:1;	/* store.c's: key not yet stored */
	uint8_t			 st_new:1;	/* store.c's: never stored yet */
	uint8_t			 withdrawn:1;	/* its creation failed to store */
	uint8_t			 unplaced:1;	/* a cluster's: no node has its job */
	uint32_t		 refs;		/* holders: task_ref */
	int64_t			 created_at;	/* ms since the epoch */
	int64_t			 start_at;
	int64_t			 started_at;
	int64_t			 finished_at;
	int64_t			 deadline;	/* the kind's next wake-up */
	struct task_info	*info;		/* NULL: none of it */
	struct task_extra	*x;
	char			*text;		/* JSON, cached until a change */
	struct wheel_node	 timer;		/* task.c's, on its wheel */
	int64_t			 data[];	/* the kind's, data_size bytes */
};
/* A kind: the C form of the coroutine. See kind-sleep.c. */
struct task_kind {
	const char	*name;
	size_t		 data_size;
	const char *const *fields;	/* create-time fields of this kind */
	int		 resumable;	/* running work survives a restart */
	int		(*parse)(struct task *, json_t *, json_t *);
	void		(*write_json)(const struct task *, struct buf *);
	void		(*write_kill)(const struct task *, struct buf *);
	int		(*from_json)(struct task *, json_t *);
	void		(*start)(struct task *);
	void		(*stop)(struct task *);
	void		(*cleanup)(struct task *);
	void		(*timer)(struct task *);
	void		(*recover)(struct task *, enum cancel_reason);
	json_t		*(*place)(struct task *);	/* optional: §12 claim */
	void		(*again)(struct task *);	/* optional: a retry */
	void		(*free)(struct task *);
	struct output	*(*output)(struct task *, enum output_stream);
	void		(*init)(struct event_base *);	/* optional */
	void		(*shutdown)(void);		/* optional */
	const char	*(*job)(const struct task *);	/* optional: logs */
};
/*
 * What changed, for the observers: a task entered the daemon, moved to
 * another state (from is the old one), or changed something else it shows
 * (a joined cancel, its cleanup starting, its result, the kind's data).
 */
enum task_change {
	TASK_CREATED,
	TASK_MOVED,
	TASK_TOUCHED,
	TASK_WITHDRAWN,		/* its creation could not be stored: gone */
};
/* Who hears of every change (store, hub, metrics), registered at start. */
struct task_observer {
	const char	*name;
	void		(*changed)(struct task *, enum task_change,
			    enum task_state);
};
void	 task_init(struct event_base *);
void	 task_shutdown(void);
void	 task_observe(const struct task_observer *);
void	 task_observe_clear(void);
const char *task_state_name(enum task_state);
const char *task_reason_name(enum cancel_reason);
const char *task_cleanup_name(enum cleanup_state);
int	 task_state_parse(const char *);
int	 task_reason_parse(const char *);
int	 task_cleanup_parse(const char *);
int	 task_state_terminal(enum task_state);
int	 task_transition_ok(enum task_state, enum task_state);
struct task *task_alloc(const struct task_kind *);
struct task *task_new(const struct task_kind *);
struct task_extra *task_extra(struct task *);
struct task_info *task_info(struct task *);
struct task_policy *task_policy(struct task *);
int	 task_attempt(const struct task *);
const char *task_name(const struct task *);
json_t	*task_metadata(const struct task *);
int64_t	 task_timeout_ms(const struct task *);
void	 task_set_name(struct task *, const char *);
void	 task_set_metadata(struct task *, json_t *);
void	 task_set_start(struct task *, int64_t);
void	 task_set_timeout(struct task *, int64_t);
const struct task_callback *task_callback(const struct task *);
void	 task_set_callback(struct task *, const char *);
void	 task_callback_update(struct task *, const struct task_callback *);
void	 task_callback_drop(struct task *);
const char *task_callback_state_name(enum callback_state);
int	 task_callback_state_parse(const char *);
void	 task_ref(struct task *);
void	 task_unref(struct task *);
void	 task_free(struct task *);
void	 task_set_deadline(struct task *, int64_t);
int	 task_set_state(struct task *, enum task_state);
void	 task_touch(struct task *);
void	 task_set_result(struct task *, json_t *);
void	 task_start(struct task *);
void	 task_hold(void);
int	 task_held(void);
void	 task_submit(struct task *);
void	 task_finish(struct task *, enum task_state, json_t *);
enum task_cancel_result task_cancel(struct task *, enum cancel_reason,
	    const char *);
void	 task_stopped(struct task *);
void	 task_cleanup_done(struct task *, enum cleanup_state, const char *,
	    json_t *);
void	 task_recover(struct task *);
void	 task_adopt(struct task *);
void	 task_withdraw(struct task *);
void	 task_let_go(struct task *);
void	 task_place(struct task *);
enum task_cancel_result task_claim_cancel(struct task *, const char *);
void	 task_cluster_set(int);
int	 task_cluster(void);

/* task-log.c */
extern const struct task_observer task_log_observer;

/* task-json.c */
char	*task_to_text(const struct task *);
json_t	*task_to_json(const struct task *);
const char *task_text(struct task *);
char	*task_text_take(struct task *);
void	 task_text_drop(struct task *);
struct task *task_from_json(json_t *);
json_t	*task_attempt_json(const struct task *, enum task_state);

/* proc.c */
struct proc;
typedef void proc_exit_cb(struct proc *, void *);
void	 proc_init(struct event_base *);
void	 proc_shutdown(void);
/* What to start, and where its output goes. */
struct proc_opts {
	char *const	*argv;		/* argv[0] an absolute path */
	char *const	*envp;
	const char	*cwd;
	size_t		 capture;	/* tail kept for result.output */
	struct output	*output;	/* every byte also goes here (or NULL) */
	int		 cgroup_fd;	/* the cgroup to start in; -1: none */
};
struct proc *proc_spawn(const struct proc_opts *, proc_exit_cb *, void *,
	    char **);
void	 proc_usage(const struct proc *, int64_t *, int64_t *);
int	 proc_kill_task(const char *, int);
pid_t	 proc_pid(const struct proc *);
void	 proc_kill(struct proc *, int);
int	 proc_succeeded(const struct proc *);
char	*proc_describe(const struct proc *);
json_t	*proc_facts(const struct proc *);
void	 proc_free(struct proc *);

/* cgroup.c */
struct cgroup;
typedef void cgroup_empty_cb(void *);
int	 cgroup_init(struct event_base *, enum isolation, char **);
const char *cgroup_mode_name(void);
int	 cgroup_enabled(void);
const char *cgroup_missing_controllers(void);
void	 cgroup_shutdown(void);
struct cgroup *cgroup_new(const char *, const struct job_resources *,
	    char **);
int	 cgroup_fd(const struct cgroup *);
int	 cgroup_populated(const struct cgroup *);
int	 cgroup_signal(const struct cgroup *, int);
int	 cgroup_count(const struct cgroup *);
void	 cgroup_kill(const struct cgroup *);
void	 cgroup_on_empty(struct cgroup *, cgroup_empty_cb *, void *);
void	 cgroup_usage(const struct cgroup *, int64_t *, int64_t *);
int	 cgroup_oom_killed(const struct cgroup *);
void	 cgroup_release(struct cgroup *);

/* kill.c */
enum kill_method {
	KILL_CGROUP,
	KILL_PROCESS_GROUP,
};
/* How a cancel stopped a command's processes: cancellation.kill. */
struct kill_receipt {
	uint8_t		 sent;		/* 0: nothing was signalled (null) */
	uint8_t		 method;	/* enum kill_method */
	uint8_t		 escalated;
	int		 signal;
	int64_t		 signalled_at;
	int64_t		 ended_at;
	int		 survivors;	/* -1: not yet known */
};
void	 kill_begin(struct kill_receipt *, enum kill_method, int);
void	 kill_escalate(struct kill_receipt *);
void	 kill_end(struct kill_receipt *, int);
void	 kill_write_json(const struct kill_receipt *, struct buf *);
int	 kill_from_json(struct kill_receipt *, json_t *);

/* kind.c */
extern const struct task_kind *const kind_table[];
#define task_kind(t) (kind_table[(t)->kindi])
extern const struct task_kind kind_sleep;
extern const struct task_kind kind_command;
void	 kind_init(struct event_base *);
void	 kind_shutdown(void);
const struct task_kind *kind_find(const char *);
const char *kind_name(size_t);
size_t	 kind_count(void);
size_t	 kind_index(const struct task_kind *);

/* cron.c */
/* A cron expression as bit sets (bit i: value i). */
struct cron {
	uint64_t	 minutes;
	uint32_t	 hours;
	uint32_t	 mdays;		/* bits 1-31 */
	uint16_t	 months;	/* bits 1-12 */
	uint8_t		 wdays;		/* bits 0-6, Sunday 0 */
	uint8_t		 dom_star;	/* the field began with '*' */
	uint8_t		 dow_star;
};
int	 cron_parse(const char *, struct cron *, char **);
int	 cron_zone_ok(const char *);
int64_t	 cron_next(const struct cron *, const char *, int64_t);

/* sched.c */
void	 sched_init(struct event_base *);
void	 sched_shutdown(void);
int64_t	 sched_backoff_ms(const struct retry_policy *, int, double);
int	 sched_due(struct task *);
void	 sched_submit(struct task *);
struct task *sched_conflict(struct task *);
void	 sched_unqueue(struct task *);
void	 sched_started(struct task *);
void	 sched_release(struct task *);
void	 sched_ended(struct task *);
void	 sched_recover(struct task *);
void	 sched_forget(struct task *);
void	 sched_job_counts(const char *, unsigned int *, unsigned int *);
void	 sched_claimed(struct task *);
int	 sched_deciding(const struct task *);

/* schedule-json.c */
enum schedule_overlap {
	OVERLAP_SKIP,
	OVERLAP_QUEUE,
	OVERLAP_REPLACE,
	OVERLAP_ALLOW,
};
enum schedule_missed {
	MISSED_SKIP,
	MISSED_RUN_ONCE,
};
/* What a client sets on a schedule (CONTRACT §8). */
struct schedule_conf {
	char		*name;		/* NULL: none */
	char		*cron_text;	/* NULL: every_ms */
	struct cron	 cron;
	char		*zone;
	int64_t		 every_ms;	/* 0: cron */
	json_t		*task;		/* the template, as given */
	int		 overlap;
	int		 missed;
	int		 paused;
};
/* What a schedule's runs have done, and when the next one comes. */
struct schedule_state {
	int64_t		 next_run_at;	/* TASK_TIME_NONE: paused */
	int64_t		 last_run_at;
	int64_t		 created_at;
	struct ulid	 last_task;
	int		 has_last;
	uint64_t	 runs;
	uint64_t	 skipped;
};
const char *schedule_overlap_name(int);
void	 schedule_conf_free(struct schedule_conf *);
int	 schedule_conf_parse(json_t *, json_t *, struct schedule_conf *,
	    int);
json_t	*schedule_conf_json(const struct schedule_conf *);
json_t	*schedule_state_json(const struct ulid *, const struct schedule_conf *,
	    const struct schedule_state *);
int	 schedule_state_parse(json_t *, struct schedule_state *);
void	 schedule_merge_patch(json_t *, json_t *);

/* schedule.c */
struct schedule;
void	 schedule_init(struct event_base *);
void	 schedule_recover(void);
void	 schedule_adopt(const char *, const char *);
void	 schedule_stop(void);
void	 schedule_shutdown(void);
struct schedule *schedule_find(const struct ulid *);
const struct ulid *schedule_id(const struct schedule *);
struct schedule *schedule_create(struct schedule_conf *);
int	 schedule_patch(struct schedule *, json_t *, json_t *);
void	 schedule_delete(struct schedule *);
void	 schedule_withdraw(const struct ulid *);
char	*schedule_text(const struct schedule *);
void	 schedule_each(void (*)(struct schedule *, void *), void *);
size_t	 schedule_tasks(const struct schedule *, struct task **, size_t);
size_t	 schedule_count(void);

/* spec.c */
void	 spec_error(json_t *, const char *, const char *, ...)
	    PRINTFLIKE(3, 4);
void	 spec_error_at(json_t *, const char *, const char *, ...)
	    PRINTFLIKE(3, 4);
int	 spec_retry(json_t *, json_t *, const char *, struct retry_policy *);
int	 spec_get_ms(json_t *, json_t *, const char *, int64_t, int64_t,
	    int64_t *);
struct task *spec_parse(json_t *, json_t *);

/* store.c */
/* One task's row, as a backend writes it. */
struct store_row {
	char		 id[ULID_LEN + 1];
	const char	*kind;
	int		 state;
	int64_t		 finished_at;
	char		*idem_key;
	char		*idem_body;
	char		*doc;
	char		 schedule_id[ULID_LEN + 1];	/* "": none */
	int		 unplaced;	/* stored with no node (§12) */
	int64_t		 due_at;	/* next wake-up; TASK_TIME_NONE: ended */
};
/* Where recovery's walk of the active tasks stands: the last row read. */
struct store_walk {
	int		 by_id;		/* in id order (else earliest first) */
	int64_t		 until;		/* earliest first: due by then only */
	int64_t		 due_at;	/* TASK_TIME_NONE: before the first */
	char		 id[ULID_LEN + 1];	/* "": before the first */
};
/* One schedule's row: its JSON, or NULL when it is deleted. */
struct store_srow {
	char		 id[ULID_LEN + 1];
	char		*doc;
};
/*
 * One outbox row: a callback delivery (CONTRACT §9). With body it is new
 * (inserted); without, its state, attempts and next attempt change.
 */
struct store_delivery {
	char		 id[ULID_LEN + 1];
	char		 task_id[ULID_LEN + 1];
	char		*callback;	/* new rows: the receiver's name */
	char		*body;		/* new rows: what every attempt POSTs */
	int		 state;		/* enum callback_state */
	int		 attempts;
	int64_t		 next_at;	/* ms: the next attempt */
	void		*owner;		/* handed back when the row is stored */
};
/* What one loop pass hands the backend (rows, or a purge), and its result. */
struct store_batch {
	uint64_t		 seq;
	struct store_row	*rows;
	struct task		**tasks;	/* store.c's: whose rows these are */
	size_t			 nrows;
	struct store_delivery	*deliveries;	/* outbox rows */
	size_t			 ndeliveries;
	struct store_srow	*srows;		/* schedules, with the tasks */
	size_t			 nsrows;
	struct store_srow	*events;	/* a shared store's: the states a
						   task passed this pass before
						   its row's (id, doc) */
	size_t			 nevents;
	int64_t			 purge_cutoff;
	int			 purge_batch;	/* 0: no purge */
	int			 purged;
	char			(*purged_ids)[ULID_LEN + 1];
	int			 retry;		/* the first after a failure */
	int			 rc;
	char			*error;
	int64_t			 commit_us;
	STAILQ_ENTRY(store_batch) entry;
};
struct store_filter {
	unsigned	 states;	/* bit per state; 0: any */
	unsigned	 kinds;		/* bit per kind index; 0: any */
	int		 has_before;
	struct ulid	 before;	/* ids below this (page token) */
	int		 has_schedule;
	struct ulid	 schedule;	/* tasks of this schedule only */
	int		 limit;
};
/* One stored task handed to a reader: its id and JSON document. */
typedef int store_row_cb(const char *, const char *, void *);
/*
 * Reads answer through a callback: at once (SQLite, on the loop) or later
 * (PostgreSQL). A read in flight can be dropped when its caller goes away.
 * Each returns NULL when it has answered already (the callback has run).
 */
struct store_read;
/* A task: rc 1 (its document, to take), 0 no such task, -1 store error. */
typedef void store_got_cb(void *, int, char *);
/* An idempotency key: rc 1 (its task's id, and the create's body to take), 0, -1. */
typedef void store_idem_cb(void *, int, const struct ulid *, char *);
/* A list ended: rc 1 more rows past the limit, 0 no more, -1 store error (rows came first through store_row_cb). */
typedef void store_listed_cb(void *, int);
/* One pending outbox row handed to a reader (start-up). */
typedef void store_delivery_cb(const struct store_delivery *, void *);
/*
 * A backend: the C form of the kind table. Reads answer through their
 * callback 1 (found), 0 (not there) or -1 (the store failed: a 500, never
 * a 404), at once (returning NULL) or later; a read dropped before it
 * answers never calls back. Writes are batches, committed off the loop;
 * the backend hands each back to store_done().
 */
struct store_ops {
	const char	*name;
	int		(*open)(struct event_base *, const char *, char **);
	void		(*close)(void);
	void		(*submit)(struct store_batch *);
	void		(*wait)(void);		/* start and stop only: blocks */
	struct store_read *(*get)(const struct ulid *, store_got_cb *,
			    void *);
	struct store_read *(*find_idem)(const char *, store_idem_cb *,
			    void *);
	struct store_read *(*list)(const struct store_filter *,
			    store_row_cb *, store_listed_cb *, void *);
	void		(*read_drop)(struct store_read *);
	/* Start-up's, and a miss while loading: these three block. */
	int		(*max_id)(struct ulid *);
	long		(*load)(struct store_walk *, int, store_row_cb *, void *,
			    char **);
	int		(*load_one)(const struct ulid *, store_row_cb *, void *);
	long		(*outbox)(store_delivery_cb *, void *, char **);
	long		(*load_schedules)(store_row_cb *, void *, char **);
};
/*
 * A batch is back: every change up to seq is stored (rc 0), or seq failed;
 * then the tasks it created are lost (never stored: to withdraw).
 */
typedef void store_done_cb(uint64_t, int, struct task *const *, size_t,
	    void *);
/* A task left the store (retention): its id. */
typedef void store_purged_cb(const char *, void *);
/* An outbox row left the store's hands: stored (0) or dropped (-1). */
typedef void store_outbox_cb(void *, int);
extern const struct task_observer store_observer;
int	 store_open(struct event_base *, const char *, store_done_cb *, void *,
	    char **);
int	 store_open_ops(struct event_base *, const struct store_ops *,
	    const char *, store_done_cb *, void *, char **);
void	 store_close(void);
void	 store_on_purge(store_purged_cb *, void *);
void	 store_on_outbox(store_outbox_cb *);
void	 store_outbox_put(const struct store_delivery *);
long	 store_outbox_load(store_delivery_cb *, void *, char **);
void	 store_note_key(struct task *, char *, char *);
uint64_t store_next_seq(void);
uint64_t store_done_seq(void);
void	 store_flush(void);
int	 store_pending(void);
int	 store_drain(void);
int	 store_writable(void);
int	 store_retry_after_s(void);
void	 store_done(struct store_batch *);
struct store_read *store_get(const struct ulid *, store_got_cb *, void *);
/* A cancel request for another node's task is stored (0) or not (-1). */
typedef void pg_events_done_cb(void *, int);
int	 store_shared(void);
struct store_read *store_find_idem(const char *, store_idem_cb *, void *);
struct store_read *store_list(const struct store_filter *, store_row_cb *, store_listed_cb *, void *);
void	 store_read_drop(struct store_read *);	/* its callback never runs */
int	 store_max_id(struct ulid *);
long	 store_load(struct store_walk *, int, store_row_cb *, void *, char **);
int	 store_load_one(const struct ulid *, store_row_cb *, void *);
long	 store_load_schedules(store_row_cb *, void *, char **);
void	 store_schedule_put(const struct ulid *, char *);
void	 store_start_purge(struct event_base *);

/* store-cluster.c */
/*
 * The cluster granted a task its key and job slot (1), or refused them at
 * first (0, once; the grant may come later).
 */
typedef void store_slot_cb(struct task *, int);
struct store_slot *store_slot_take(struct task *, const char *, const char *,
	    unsigned int, store_slot_cb *);
void	 store_slot_drop(struct store_slot *);
void	 store_slot_release(const struct ulid *);
/* A reject's key: 0 held, 1 the task in the way (its id), -1 failed. */
typedef void store_claim_cb(void *, int, const char *);
struct store_claim;
struct store_claim *store_key_claim(const struct ulid *, const char *,
	    store_claim_cb *, void *);
void	 store_key_claim_drop(struct store_claim *);
void	 store_key_supersede(const struct ulid *, const char *);
int	 store_cancel_remote(const struct ulid *, const char *, const char *,
	    pg_events_done_cb *, void *);
/* An unplaced task claimed to cancel it: 1 and its doc, 0 (not had), -1. */
typedef void store_unplaced_cb(void *, int, const char *);
int	 store_claim_unplaced(const struct ulid *, store_unplaced_cb *, void *);
/* A task's stored doc (rc as store_got_cb) and: can a live node end it? */
typedef void store_endable_cb(void *, int, char *, int);
struct store_read *store_endable(const struct ulid *, store_endable_cb *,
	    void *);

/* store-output.c */
struct store_output;
/* What a reader of a task's output asks for. */
struct store_output_want {
	struct ulid		 id;
	enum output_stream	 stream;
	struct output		*live;		/* running here: its output */
	int			 here;		/* the task is in this node's memory */
	uint64_t		 offset;
	int			 follow;
};
/* A reader is open (0: its start is known) or the store failed (-1). */
typedef void store_output_cb(void *, int);
struct store_output *store_output_open(const struct store_output_want *,
	    store_output_cb *, void *, output_ready_cb *, void *, char **);
int	 store_output_opening(const struct store_output *);
uint64_t store_output_start(const struct store_output *);
ssize_t	 store_output_read(struct store_output *, char *, size_t);
void	 store_output_free(struct store_output *);

/* store-sqlite.c */
#define STORE_SCHEMA_VERSION	3
/*
 * unix-excl: the WAL index lives in our heap, not in a mapped -shm file
 * (a full disk or an unwritable -shm killed 0.1 with SIGBUS), and other
 * processes are locked out (one daemon per store, as flock says too).
 */
#define STORE_SQLITE_VFS	"unix-excl"
extern const struct store_ops store_sqlite;

/* pg-conn.c */
struct pg_conn;		/* libpq's PGconn */
struct pg_result;	/* libpq's PGresult */
struct pgc;
struct pgc_req;
/* Issue a request's statements on the connection: 0, or -1. */
typedef int pgc_send_cb(struct pg_conn *, void *);
/* One statement's result (not to keep): its index in the request. */
typedef void pgc_result_cb(void *, int, struct pg_result *);
/* A request ended: NULL, or its first error. */
typedef void pgc_done_cb(void *, const char *);
/* The connection is (again) up. */
typedef void pgc_up_cb(void *);
/* A notification (LISTEN): its channel and payload. */
typedef void pgc_notify_cb(void *, const char *, const char *);
struct pgc *pgc_new(struct event_base *, const char *, const char *,
	    pgc_up_cb *, void *);
int	 pgc_connect_now(struct pgc *, char **);
int	 pgc_start(struct pgc *);
int	 pgc_stop(struct pgc *);
struct pg_result *pgc_exec(struct pgc *, const char *, int,
	    const char *const *, char **);
struct pgc_req *pgc_send(struct pgc *, pgc_send_cb *, pgc_result_cb *,
	    pgc_done_cb *, void *);
void	 pgc_drop(struct pgc_req *);
int	 pgc_is_up(const struct pgc *);
int	 pgc_idle(const struct pgc *);
const char *pgc_error(const struct pgc *);
void	 pgc_wait(struct pgc *);
void	 pgc_free(struct pgc *);
void	 pgc_on_notify(struct pgc *, pgc_notify_cb *);

/* pg-events.c */
struct pg_events_hooks {
	void	(*start)(uint64_t);		/* the events follow this seq */
	void	(*event)(uint64_t, const char *, const char *); /* seq, id, doc */
	int	(*cancel)(const struct ulid *, int, const char *); /* a request
						 * and its reason (0: a client's):
						 * -1 if the task is not here */
	void	(*committed)(uint64_t);	/* a commit came after this seq */
};
void	 pg_events_hooks(const struct pg_events_hooks *);
int	 pg_events_open(struct event_base *, const char *, char **);
void	 pg_events_close(void);
void	 pg_events_committed(uint64_t);
void	 pg_events_take(void);
int	 pg_events_cancel(const struct ulid *, const char *, const char *,
	    pg_events_done_cb *, void *);

/* pg-doubt.c */
void	 pg_doubt_note(const struct store_batch *);
void	 pg_doubt_resolve(struct pgc *);
void	 pg_doubt_free(void);

/* pg-adopt.c */
/* A task adopted from a dead node (committed ours): its id and document. */
typedef void pg_adopt_cb(const char *, const char *);
typedef void pg_adopt_delivery_cb(const struct store_delivery *);
void	 pg_adopt_on(pg_adopt_cb *, pg_adopt_cb *, pg_adopt_delivery_cb *);
void	 pg_adopt_on_claim(pg_adopt_cb *);
int	 pg_adopt_claim_one(const struct ulid *, store_unplaced_cb *, void *);
void	 pg_adopt_start(struct event_base *, struct pgc *, int64_t);
void	 pg_adopt_stop(void);

/* pg-node.c */
/* The lease went to another epoch: the work in memory is no longer ours. */
typedef void pg_node_lost_cb(void);
void	 pg_node_on_lost(pg_node_lost_cb *);
char	*pg_node_jobs(void);
int	 pg_node_claim(struct pgc *, const char *, int64_t, char **);
void	 pg_node_start(struct event_base *, struct pgc *);
void	 pg_node_renew(void);
int	 pg_node_lost(void);
const char *pg_node_name(void);
const char *pg_node_epoch(void);
void	 pg_node_release(struct pgc *);

/* pg-output.c */
struct pg_output_reader;
void	 pg_output_open(struct event_base *, struct pgc *, struct pgc *);
void	 pg_output_close(void);
void	 pg_output_flush(void);
void	 pg_output_wake(const char *);
struct pg_output_reader *pg_output_reader_new(const struct store_output_want *,
	    store_output_cb *, void *, output_ready_cb *, void *);
uint64_t pg_output_reader_start(const struct pg_output_reader *);
ssize_t	 pg_output_reader_read(struct pg_output_reader *, char *, size_t);
void	 pg_output_reader_free(struct pg_output_reader *);

/* pg-schema.c */
#define PG_SCHEMA_VERSION	4
int	 pg_schema(struct pgc *, char **);

/* pg-slots.c */
struct pg_slots_out;
struct store_slot *pg_slots_take(struct task *, const char *, const char *,
	    unsigned int, store_slot_cb *);
void	 pg_slots_drop(struct store_slot *);
void	 pg_slots_release(const struct ulid *);
int	 pg_slots_send(struct pg_conn *, struct pg_slots_out **);
void	 pg_slots_written(struct pg_slots_out *, const char *);
void	 pg_slots_event(const char *);
struct store_claim *pg_slots_claim(const struct ulid *, const char *,
	    store_claim_cb *, void *);
void	 pg_slots_claim_drop(struct store_claim *);
void	 pg_slots_supersede(const struct ulid *, const char *);
void	 pg_slots_up(void);
void	 pg_slots_open(struct event_base *, struct pgc *);
void	 pg_slots_close(void);

/* pg-read.c */
struct store_read *pg_get(const struct ulid *, store_got_cb *, void *);
struct store_read *pg_endable(const struct ulid *, store_endable_cb *,
	    void *);
struct store_read *pg_find_idem(const char *, store_idem_cb *, void *);
struct store_read *pg_list(const struct store_filter *, store_row_cb *,
	    store_listed_cb *, void *);
void	 pg_read_drop(struct store_read *);
void	 pg_read_open(struct pgc *);
int	 pg_max_id(struct ulid *);
long	 pg_load(struct store_walk *, int, store_row_cb *, void *, char **);
int	 pg_load_one(const struct ulid *, store_row_cb *, void *);
long	 pg_outbox(store_delivery_cb *, void *, char **);
long	 pg_load_schedules(store_row_cb *, void *, char **);

/* store-pg.c */
extern const struct store_ops store_pg;
char	*store_pg_redact(const char *);

/* store-writer.c */
int	 writer_start(const char *, int, int, char **);
void	 writer_submit(struct store_batch *);
struct store_batch *writer_take_done(void);
void	 writer_close(void);

/* callback.c */
extern const struct task_observer callback_observer;
int	 callback_init(struct event_base *, char **);
long	 callback_resume(char **);
void	 callback_adopt(const struct store_delivery *);
void	 callback_stored(void *, int);
uint64_t callback_outbox_size(void);
uint64_t callback_in_flight(void);
void	 callback_shutdown(void);

/* hub.c */
enum hub_outcome {
	HUB_STORED,		/* the change is committed: text is the task */
	HUB_NOW,		/* a long-poll's limit: text is the task now */
	HUB_FAILED,		/* the commit failed */
	HUB_STOPPING,		/* the daemon stops first */
};
struct hub_wake {
	enum hub_outcome	 outcome;
	unsigned		 tag;		/* as registered */
	struct ulid		 id;
	char			*text;		/* to take, or NULL */
};
typedef void hub_wake_cb(void *, struct hub_wake *);
typedef void hub_ready_cb(void *);
struct hub_sub;
extern const struct task_observer hub_observer;
void	 hub_init(struct event_base *);
struct hub_waiter *hub_wait_commit(struct task *, hub_wake_cb *, void *,
	    unsigned);
struct hub_waiter *hub_wait_done(struct task *, int64_t, hub_wake_cb *,
	    void *, unsigned);
struct hub_waiter *hub_wait_commit_text(const struct ulid *, char *,
	    hub_wake_cb *, void *, unsigned);
void	 hub_waiter_cancel(struct hub_waiter *);
struct hub_waiter *hub_wait_remote(const struct ulid *, int64_t,
	    hub_wake_cb *, void *, unsigned);
void	 hub_use_store_ids(uint64_t);
void	 hub_feed(uint64_t, const char *, const char *);
void	 hub_store_committed(uint64_t);
void	 hub_seal(uint64_t);
void	 hub_committed(uint64_t, int);
struct hub_sub *hub_subscribe(const struct ulid *, const char *,
	    hub_ready_cb *, hub_ready_cb *, void *);
ssize_t	 hub_sub_read(struct hub_sub *, char *, size_t);
void	 hub_sub_end(struct hub_sub *);
void	 hub_sub_free(struct hub_sub *);
uint64_t hub_subscribers(void);
uint64_t hub_dropped(void);
void	 hub_shutdown(void);

/* metrics.c */
/* What the API layer adds to a scrape: the HTTP side and the streams. */
struct metrics_http {
	uint64_t	 by_class[6];	/* answers per status class */
	uint64_t	 connections;
	uint64_t	 parked;
	uint64_t	 subscribers;
	uint64_t	 timed_out;	/* connections: no request in time */
	uint64_t	 evicted;	/* connections: room at the limit */
	uint64_t	 accept_refused;
	uint64_t	 outbox;	/* callback deliveries pending */
	uint64_t	 callbacks_in_flight;
};
/* How one callback delivery attempt ended, for the metrics. */
enum metrics_attempt {
	METRICS_ATTEMPT_2XX,
	METRICS_ATTEMPT_3XX,
	METRICS_ATTEMPT_4XX,
	METRICS_ATTEMPT_5XX,
	METRICS_ATTEMPT_TIMEOUT,
	METRICS_ATTEMPT_ERROR,		/* connection, TLS, ... */
	METRICS_ATTEMPT_NRESULTS
};
extern const struct task_observer metrics_observer;
void	 metrics_timer_lateness(int64_t);
void	 metrics_commit(int64_t, size_t);
void	 metrics_cancel_latency(int64_t);
void	 metrics_schedule_run(int64_t);
void	 metrics_schedule_skipped(void);
void	 metrics_callback_attempt(enum metrics_attempt, int64_t);
void	 metrics_callback_outcome(enum callback_state);
char	*metrics_render(const struct metrics_http *, size_t *);

/* sdnotify.c */
void	 sdnotify_init(struct event_base *);
void	 sdnotify_send(const char *);
void	 sdnotify_ready(void);
void	 sdnotify_stopping(void);
void	 sdnotify_reloading(void);
void	 sdnotify_close(void);
int	 sdnotify_listen_fds(void);

/* api.c */
extern int api_stopping;
extern const struct router_entry api_routes[];
extern const size_t api_nroutes;

/* api-tasks.c */
int	 api_query_only(struct http_request *, const char *const *);
int	 api_task_id(struct http_request *, struct ulid *);
void	 api_task_not_found(struct http_request *, const char *);
/* Go on with a request once its task is known to exist. */
typedef void api_known_cb(struct http_request *, const struct ulid *);
void	 api_task_known(struct http_request *, const struct ulid *,
	    const char *, api_known_cb *);
int	 api_refuse_conflict(struct http_request *, struct task *);
void	 api_create_submit(struct http_request *, struct task *, char *);
void	 api_tasks_create(struct http_request *);
void	 api_tasks_get(struct http_request *);
void	 api_tasks_list(struct http_request *);
void	 api_tasks_cancel(struct http_request *);
void	 api_cancel_answer(struct http_request *, struct task *,
	    enum task_cancel_result, int);

/* api-schedules.c */
void	 api_schedules_create(struct http_request *);
void	 api_schedules_list(struct http_request *);
void	 api_schedules_get(struct http_request *);
void	 api_schedules_patch(struct http_request *);
void	 api_schedules_delete(struct http_request *);

/* api-wait.c */
/*
 * A request parked on a store read: the first member of the reader's
 * context, which forget frees once the read answered or was dropped.
 */
struct api_read {
	struct http_request	*req;
	struct store_read	*rd;
	int			 parked;
	void			(*forget)(void *);
};
void	 api_read_park(struct api_read *, struct store_read *);
/* api-remote.c */
void	 api_remote_wait(struct http_request *, const struct ulid *, int64_t);
void	 api_remote_cancel(struct http_request *, const struct ulid *,
	    const char *, int);
void	 api_remote_reject(struct http_request *, struct task *, const char *,
	    char *);
void	 api_read_done(struct api_read *);
void	 api_wait_commit(struct http_request *, struct task *, unsigned);
void	 api_wait_done(struct http_request *, struct task *, int64_t);
void	 api_store_failed(struct http_request *);
void	 api_retry_after(struct http_request *);
void	 api_store_unavailable(struct http_request *, const char *);
int	 api_refuse_if_unwritable(struct http_request *);

/* api-stream.c */
/* Where a streamed answer's bytes come from. */
struct api_source {
	/* 0: none yet; -1: the end; -2: cut (a failure: not a clean end) */
	ssize_t		(*read)(void *, char *, size_t);
	void		(*free)(void *);
	int		 clean_end;	/* -1 ends the answer well (not cut) */
};
struct api_stream;
struct api_stream *api_stream_new(struct http_request *);
void	 api_stream_start(struct api_stream *, void *,
	    const struct api_source *, const char *);
void	 api_stream_ready(void *);
void	 api_stream_drop(void *);

/* api-output.c */
void	 api_output_get(struct http_request *);

/* api-events.c */
void	 api_events_get(struct http_request *);

/* api-jobs.c */
void	 api_jobs_get(struct http_request *);

/* api-metrics.c */
void	 api_metrics_get(struct http_request *);

/* api-health.c */
void	 api_health_get(struct http_request *);

/* api-ui.c */
void	 api_ui_get(struct http_request *);
void	 api_ui_redirect(struct http_request *);

/* ui-assets.c: made at build time from ui/ by src/ui-embed.sh */
struct ui_asset {
	const char		*path;	/* its name under /ui/ */
	const char		*type;	/* Content-Type */
	const unsigned char	*data;
	size_t			 len;
	const char		*etag;	/* quoted: CRC and length of data */
};
extern const struct ui_asset ui_assets[];
extern const size_t ui_nassets;

#endif /* EVTASKD_H */
