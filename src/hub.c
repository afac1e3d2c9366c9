/*
 * hub.c -- everyone who waits for a task, without knowing who they are:
 * waiters for a commit (create, cancel), for a task to end (cancel,
 * ?wait= long-polls), and the event stream with its replay ring. A waiter
 * is a callback and an argument; the API layer registers the ones that
 * answer parked requests. The hub is a task observer: task.c tells it of
 * every change, and main.c's end of pass tells it what the store commits.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/event.h>

#define HUB_RING		4096		/* events kept for resume */
#define HUB_SUB_MAX		(1024 * 1024)	/* unsent bytes per stream */
#define HUB_SUBS_MAX		(64 * 1024 * 1024) /* all streams' buffers */
#define HUB_HEARTBEAT_S		15
#define HUB_RECORD_GRACE_MS	60000		/* keep recording after the
						   last subscriber left */

enum hub_wait_kind {
	HUB_WAIT_COMMIT,	/* wake after the commit of the task's change */
	HUB_WAIT_DONE,		/* wake when the task is terminal (and stored) */
	HUB_WAIT_REMOTE,	/* another node's task: its terminal event */
};

struct hub_waiter {
	hub_wake_cb		*cb;
	void			*arg;
	unsigned		 tag;		/* the registrant's, given back */
	struct task		*task;		/* until sealed */
	struct ulid		 id;
	enum hub_wait_kind	 kind;
	int			 sealed;	/* seq and text are set */
	uint64_t		 seq;		/* the batch it waits for */
	char			*text;		/* the task as committed */
	struct event		*timer;		/* long-poll limit */
	TAILQ_ENTRY(hub_waiter)	 entry;		/* task's or commit list */
	LIST_ENTRY(hub_waiter)	 all;
};
TAILQ_HEAD(hub_waiter_list, hub_waiter);

struct hub_frame {
	uint64_t	 seq;
	struct ulid	 task;
	char		*text;		/* "id: ...\nevent: task\ndata: ...\n\n" */
	size_t		 len;
};

struct hub_sub {
	hub_ready_cb		*ready;
	hub_ready_cb		*dropped;	/* close the stream now */
	void			*arg;
	int			 filtered;
	struct ulid		 task;
	char			*buf;		/* bytes not yet read */
	size_t			 off, len, cap;
	int			 waiting;	/* read found nothing: call ready */
	int			 ended;		/* dropped or stopping */
	int			 listed;	/* on hub_subs, counted */
	uint64_t		 after;		/* Last-Event-ID: none up to it */
	LIST_ENTRY(hub_sub)	 entry;
};

static struct event_base		*hub_base;
static struct hub_waiter_list		 hub_commit_list =
    TAILQ_HEAD_INITIALIZER(hub_commit_list);
static struct hub_waiter_list		 hub_remote_list =
    TAILQ_HEAD_INITIALIZER(hub_remote_list);
static int				 hub_fed;	/* ids: the store's */
static uint64_t				 hub_committed_seq; /* ours, up to */
static LIST_HEAD(, hub_waiter)		 hub_waiters =
    LIST_HEAD_INITIALIZER(hub_waiters);
static LIST_HEAD(, hub_sub)		 hub_subs =
    LIST_HEAD_INITIALIZER(hub_subs);
static uint64_t				 hub_nsubs;
static uint64_t				 hub_ndropped;
static size_t				 hub_buf_bytes;	/* all subs' buffers */
static struct event			*hub_trim_ev;
static struct hub_frame			 hub_ring[HUB_RING];
static uint64_t				 hub_seq;	/* last given out */
static uint64_t				 hub_oldest;	/* oldest in ring */
static int				 hub_recording;
static int64_t				 hub_last_sub_ms;
static struct event			*hub_heartbeat;

static void	hub_heartbeat_cb(evutil_socket_t, short, void *);
static void	hub_trim_cb(evutil_socket_t, short, void *);
static void	hub_changed(struct task *, enum task_change, enum task_state);

const struct task_observer hub_observer = { "hub", hub_changed };

/* Event ids increase across restarts too: start from the clock. */
void
hub_init(struct event_base *base)
{
	struct timeval tv = { HUB_HEARTBEAT_S, 0 };

	hub_base = base;
	hub_seq = (uint64_t)clock_now_ms() * 1000;
	hub_oldest = hub_seq + 1;
	hub_heartbeat = event_new(base, -1, EV_PERSIST, hub_heartbeat_cb,
	    NULL);
	hub_trim_ev = event_new(base, -1, 0, hub_trim_cb, NULL);
	event_add(hub_heartbeat, &tv);
}

/*
 * A waiter holds its task (a reference) until it is sealed or goes: the
 * store may hand back the task's last batch, and free it, in the same
 * loop pass as the request that waits on it.
 */
static void
hub_waiter_let_go(struct hub_waiter *w)
{
	struct task *t = w->task;

	w->task = NULL;
	if (t != NULL)
		task_unref(t);
}

/* Take a waiter off its lists and stop its timer. */
static void
hub_waiter_unlink(struct hub_waiter *w)
{
	if (w->timer != NULL)
		event_free(w->timer);
	w->timer = NULL;
	if (w->kind == HUB_WAIT_COMMIT)
		TAILQ_REMOVE(&hub_commit_list, w, entry);
	else if (w->kind == HUB_WAIT_REMOTE)
		TAILQ_REMOVE(&hub_remote_list, w, entry);
	else
		TAILQ_REMOVE(&w->task->x->waiters, w, entry);
	LIST_REMOVE(w, all);
	hub_waiter_let_go(w);
}

/* The one place a waiter is freed. */
static void
hub_waiter_free(struct hub_waiter *w)
{
	free(w->text);
	free(w);
}

/* The registrant no longer waits (its client left): forget the waiter. */
void
hub_waiter_cancel(struct hub_waiter *w)
{
	hub_waiter_unlink(w);
	hub_waiter_free(w);
}

/*
 * Wake a waiter once: unlink it, call back, free it. The text (may be
 * NULL) is the callback's to take (it sets wk->text to NULL); what it
 * leaves is freed here.
 */
static void
hub_wake(struct hub_waiter *w, enum hub_outcome outcome, char *text)
{
	struct hub_wake wk = { outcome, w->tag, w->id, text };

	if (text == w->text)
		w->text = NULL;
	hub_waiter_unlink(w);
	w->cb(w->arg, &wk);
	free(wk.text);
	hub_waiter_free(w);
}

/* A new waiter for the task called id (in no list but the list of all). */
static struct hub_waiter *
hub_waiter_new_id(const struct ulid *id, enum hub_wait_kind kind,
    hub_wake_cb *cb, void *arg, unsigned tag)
{
	struct hub_waiter *w = xcalloc(1, sizeof *w);

	w->cb = cb;
	w->arg = arg;
	w->tag = tag;
	w->id = *id;
	w->kind = kind;
	LIST_INSERT_HEAD(&hub_waiters, w, all);
	return w;
}

/* A new waiter on t (holding a reference to it). */
static struct hub_waiter *
hub_waiter_new(struct task *t, enum hub_wait_kind kind, hub_wake_cb *cb,
    void *arg, unsigned tag)
{
	struct hub_waiter *w = hub_waiter_new_id(&t->id, kind, cb, arg, tag);

	w->task = t;
	task_ref(t);
	return w;
}

/*
 * Call cb once the task as it is now is committed (HUB_STORED with its
 * JSON), or the commit failed (HUB_FAILED), or the daemon stops.
 */
struct hub_waiter *
hub_wait_commit(struct task *t, hub_wake_cb *cb, void *arg, unsigned tag)
{
	struct hub_waiter *w = hub_waiter_new(t, HUB_WAIT_COMMIT, cb, arg, tag);

	TAILQ_INSERT_TAIL(&hub_commit_list, w, entry);
	return w;
}

/*
 * Call cb once this pass's changes are committed, with text (stolen) as
 * the answer: a change that is no task's (a schedule's), under id.
 */
struct hub_waiter *
hub_wait_commit_text(const struct ulid *id, char *text, hub_wake_cb *cb,
    void *arg, unsigned tag)
{
	struct hub_waiter *w = hub_waiter_new_id(id, HUB_WAIT_COMMIT, cb, arg,
	    tag);

	w->text = text;
	TAILQ_INSERT_TAIL(&hub_commit_list, w, entry);
	return w;
}

/* A long-poll reached its limit: wake with the task as it is. */
static void
hub_wait_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub_waiter *w = arg;

	hub_wake(w, HUB_NOW, w->task != NULL ? task_to_text(w->task) : NULL);
}

/* Arm a waiter's limit (-1: none). */
static void
hub_waiter_limit(struct hub_waiter *w, int64_t limit_ms)
{
	struct timeval tv;

	if (limit_ms < 0)
		return;
	tv.tv_sec = (time_t)(limit_ms / 1000);
	tv.tv_usec = (suseconds_t)(limit_ms % 1000) * 1000;
	w->timer = evtimer_new(hub_base, hub_wait_timer_cb, w);
	evtimer_add(w->timer, &tv);
}

/*
 * A task another node runs (PostgreSQL): call cb when the events tail
 * brings its terminal state (HUB_STORED with that JSON), or after limit_ms
 * (-1: no limit) with HUB_NOW and no text (the caller reads the store).
 */
struct hub_waiter *
hub_wait_remote(const struct ulid *id, int64_t limit_ms, hub_wake_cb *cb,
    void *arg, unsigned tag)
{
	struct hub_waiter *w = hub_waiter_new_id(id, HUB_WAIT_REMOTE, cb, arg,
	    tag);

	TAILQ_INSERT_TAIL(&hub_remote_list, w, entry);
	hub_waiter_limit(w, limit_ms);
	return w;
}

/*
 * Call cb once the task is terminal and stored, or after limit_ms (-1: no
 * limit) with the task as it is then (HUB_NOW).
 */
struct hub_waiter *
hub_wait_done(struct task *t, int64_t limit_ms, hub_wake_cb *cb, void *arg,
    unsigned tag)
{
	struct hub_waiter *w = hub_waiter_new(t, HUB_WAIT_DONE, cb, arg, tag);

	TAILQ_INSERT_TAIL(&task_extra(t)->waiters, w, entry);
	hub_waiter_limit(w, limit_ms);
	return w;
}

/*
 * The end of a loop pass, before the store takes the pass's changes as
 * batch seq: commit waiters take the task as it is now, which is what that
 * batch stores, and wait for that batch. From then on a waiter holds no
 * pointer to the task, which may leave memory once the batch is back. A
 * task waiting for the cluster's first word on its key and slot (a shared
 * store) is sealed in the pass that hears it.
 */
void
hub_seal(uint64_t seq)
{
	struct hub_waiter *w;

	TAILQ_FOREACH(w, &hub_commit_list, entry) {
		if (w->sealed || (w->task != NULL && sched_deciding(w->task)))
			continue;	/* the cluster decides first (sched.c) */
		w->sealed = 1;
		w->seq = seq;
		if (w->task == NULL)
			continue;	/* its text was given */
		w->text = xstrdup(task_text(w->task));
		hub_waiter_let_go(w);
	}
}

/*
 * Every batch up to seq is committed (rc 0), or batch seq failed: wake who
 * waited for it. The list holds only the waiters of batches in flight.
 */
void
hub_committed(uint64_t seq, int rc)
{
	struct hub_waiter *w, *next;

	for (w = TAILQ_FIRST(&hub_commit_list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!w->sealed || w->seq > seq)
			continue;
		hub_wake(w, rc == 0 ? HUB_STORED : HUB_FAILED, w->text);
	}
}

/* Give freed buffers back to the system soon (glibc keeps them). */
static void
hub_trim_cb(evutil_socket_t fd, short what, void *arg)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Take a subscriber off the list and the gauge (once). */
static void
hub_sub_unlist(struct hub_sub *sub)
{
	if (!sub->listed)
		return;
	sub->listed = 0;
	LIST_REMOVE(sub, entry);
	hub_nsubs--;
	hub_last_sub_ms = clock_now_ms();
}

/* Free a subscriber's buffer now. */
static void
hub_sub_release(struct hub_sub *sub)
{
	hub_buf_bytes -= sub->cap;
	free(sub->buf);
	sub->buf = NULL;
	sub->off = sub->len = sub->cap = 0;
}

/*
 * Drop a subscriber that fell behind: its memory goes at once, it leaves
 * the gauge, and its reader closes the connection (the client is not
 * reading, so the stream itself would never end).
 */
static void
hub_sub_drop(struct hub_sub *sub, const char *why)
{
	sub->ended = 1;
	sub->waiting = 0;
	hub_sub_release(sub);
	hub_sub_unlist(sub);
	hub_ndropped++;
	log_warn("event stream: a subscriber %s; dropped", why);
	if (hub_trim_ev != NULL)
		event_active(hub_trim_ev, EV_TIMEOUT, 0);
	sub->dropped(sub->arg);
}

/* Make room for len more bytes in a subscriber's buffer. */
static void
hub_sub_grow(struct hub_sub *sub, size_t len)
{
	size_t cap;

	if (sub->off > 0 && sub->off == sub->len)
		sub->off = sub->len = 0;
	if (sub->len + len <= sub->cap)
		return;
	cap = (sub->len + len) * 2;
	sub->buf = xrealloc(sub->buf, cap);
	hub_buf_bytes += cap - sub->cap;
	sub->cap = cap;
}

/*
 * Append bytes to a subscriber, dropping it if it fell HUB_SUB_MAX behind
 * or all streams together would hold more than HUB_SUBS_MAX.
 */
static void
hub_sub_append(struct hub_sub *sub, const char *text, size_t len)
{
	if (sub->ended)
		return;
	if (sub->len - sub->off + len > HUB_SUB_MAX) {
		hub_sub_drop(sub, "fell 1 MiB behind");
		return;
	}
	if (hub_buf_bytes + 2 * len > HUB_SUBS_MAX && sub->len > sub->off) {
		hub_sub_drop(sub, "was behind while all streams held 64 MiB");
		return;
	}
	hub_sub_grow(sub, len);
	memcpy(sub->buf + sub->len, text, len);
	sub->len += len;
	if (sub->waiting) {
		sub->waiting = 0;
		sub->ready(sub->arg);
	}
}

/* Does a subscriber want events of this task? */
static int
hub_sub_wants(const struct hub_sub *sub, const struct ulid *id)
{
	return !sub->filtered || ulid_cmp(&sub->task, id) == 0;
}

/* Record event seq of task id in the ring and send it to subscribers. */
static void
hub_publish_doc(uint64_t seq, const struct ulid *id, const char *json)
{
	struct hub_frame *f = &hub_ring[seq % HUB_RING];
	struct hub_sub *sub, *next;

	if (seq >= hub_oldest + HUB_RING)
		hub_oldest = seq - HUB_RING + 1;
	free(f->text);
	f->seq = seq;
	f->task = *id;
	f->text = xasprintf("id: %" PRIu64 "\nevent: task\ndata: %s\n\n",
	    seq, json);
	f->len = strlen(f->text);
	for (sub = LIST_FIRST(&hub_subs); sub != NULL; sub = next) {
		next = LIST_NEXT(sub, entry);	/* a drop unlists sub */
		if (hub_sub_wants(sub, id) && seq > sub->after)
			hub_sub_append(sub, f->text, f->len);
	}
}

/* Record an event of this node's in the ring and send it. */
static void
hub_publish(struct task *t)
{
	hub_publish_doc(hub_seq, &t->id, task_text(t));
}

/*
 * From now on the event ids are the store's (PostgreSQL: the events
 * table's seq, one cluster-wide sequence): events come from hub_feed
 * only, every one after seq from, and they are always recorded.
 */
void
hub_use_store_ids(uint64_t from)
{
	hub_fed = 1;
	hub_recording = 1;
	hub_seq = from;
	hub_oldest = from + 1;
}

/*
 * This node's last commit came after event seq (hub_use_store_ids): a new
 * stream starts after it, as on one node, even while the tail is behind.
 */
void
hub_store_committed(uint64_t seq)
{
	if (seq > hub_committed_seq)
		hub_committed_seq = seq;
}

/* Is a task document's state (its first "state" member) terminal? */
static int
hub_doc_terminal(const char *doc)
{
	const char *p = strstr(doc, "\"state\":\"");
	char name[16];
	size_t n;
	int st;

	if (p == NULL)
		return 0;
	p += 9;
	n = strcspn(p, "\"");
	if (n >= sizeof name)
		return 0;
	memcpy(name, p, n);
	name[n] = '\0';
	st = task_state_parse(name);
	return st >= 0 && task_state_terminal((enum task_state)st);
}

/*
 * The store's event seq (hub_use_store_ids): task task_id's JSON as
 * committed, by whichever node. Sent to the streams, and it wakes who
 * waits for that task's end on another node.
 */
void
hub_feed(uint64_t seq, const char *task_id, const char *doc)
{
	struct hub_waiter *w, *next;
	struct ulid id;

	if (!hub_fed || seq <= hub_seq || ulid_parse(task_id, &id) != 0)
		return;
	hub_seq = seq;
	hub_publish_doc(seq, &id, doc);
	if (TAILQ_EMPTY(&hub_remote_list) || !hub_doc_terminal(doc))
		return;
	for (w = TAILQ_FIRST(&hub_remote_list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (ulid_cmp(&w->id, &id) == 0)
			hub_wake(w, HUB_STORED, xstrdup(doc));
	}
}

/* A task ended: its done-waiters now wait for the commit of that. */
static void
hub_task_ended(struct task *t)
{
	struct hub_waiter *w;

	while ((w = TAILQ_FIRST(&t->x->waiters)) != NULL) {
		TAILQ_REMOVE(&t->x->waiters, w, entry);
		if (w->timer != NULL) {
			event_free(w->timer);
			w->timer = NULL;
		}
		w->kind = HUB_WAIT_COMMIT;
		TAILQ_INSERT_TAIL(&hub_commit_list, w, entry);
	}
}

/*
 * A task's creation could not be stored and it leaves: whoever waits on it
 * (its end, or a commit not yet sealed) hears that it failed.
 */
static void
hub_task_withdrawn(struct task *t)
{
	struct hub_waiter *w, *next;

	while (t->x != NULL && (w = TAILQ_FIRST(&t->x->waiters)) != NULL)
		hub_wake(w, HUB_FAILED, NULL);
	for (w = TAILQ_FIRST(&hub_commit_list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!w->sealed && w->task == t)
			hub_wake(w, HUB_FAILED, NULL);
	}
}

/*
 * The observer: a task was created or changed state. Events go to the
 * ring while anyone listens (or did a minute ago); one event per state,
 * so other changes publish nothing.
 */
static void
hub_changed(struct task *t, enum task_change what, enum task_state from)
{
	if (what == TASK_WITHDRAWN) {
		hub_task_withdrawn(t);
		return;
	}
	if (what == TASK_TOUCHED)
		return;
	if (hub_fed) {		/* the event comes back from the store */
		if (task_state_terminal(t->state) && t->x != NULL)
			hub_task_ended(t);
		return;
	}
	hub_seq++;
	if (hub_nsubs > 0 || clock_now_ms() - hub_last_sub_ms <
	    HUB_RECORD_GRACE_MS) {
		if (!hub_recording) {
			hub_recording = 1;
			hub_oldest = hub_seq;	/* the gap ends here */
		}
		hub_publish(t);
	} else
		hub_recording = 0;
	if (task_state_terminal(t->state) && t->x != NULL)
		hub_task_ended(t);
}

/*
 * Give a subscriber's queued bytes: how many were copied, 0 if none now
 * (ready is called when there are), -1 when the stream is over.
 */
ssize_t
hub_sub_read(struct hub_sub *sub, char *buf, size_t max)
{
	size_t n = sub->len - sub->off;

	if (n == 0 && sub->ended)
		return -1;
	if (n == 0) {
		sub->waiting = 1;
		return 0;
	}
	if (n > max)
		n = max;
	memcpy(buf, sub->buf + sub->off, n);
	sub->off += n;
	return (ssize_t)n;
}

/* The reader is gone (its client left): the stream ends. */
void
hub_sub_end(struct hub_sub *sub)
{
	sub->ended = 1;
	sub->waiting = 0;
}

/* The one place a subscriber is freed. */
void
hub_sub_free(struct hub_sub *sub)
{
	hub_sub_unlist(sub);
	hub_sub_release(sub);
	free(sub);
}

/* Replay the ring after last_id, or say "reset" if it is too old. */
static void
hub_replay(struct hub_sub *sub, const char *last_id)
{
	struct hub_frame *f;
	char *end, reset[96];
	uint64_t last, seq;
	size_t total = 0;

	last = strtoull(last_id, &end, 10);
	if (*last_id != '\0' && *end == '\0' && hub_fed) {
		/* The tail brings what follows; a resume from an id this
		 * node's tail has not reached yet waits for it. */
		sub->after = last > hub_seq ? last : hub_seq;
		if (last > hub_seq)
			return;
	}
	if (*last_id != '\0' && *end == '\0' && hub_recording &&
	    last + 1 >= hub_oldest && last <= hub_seq) {
		for (seq = last + 1; seq <= hub_seq; seq++) {
			f = &hub_ring[seq % HUB_RING];
			if (f->seq == seq && f->text != NULL &&
			    hub_sub_wants(sub, &f->task))
				total += f->len;
		}
		if (total <= HUB_SUB_MAX) {
			for (seq = last + 1; seq <= hub_seq; seq++) {
				f = &hub_ring[seq % HUB_RING];
				if (f->seq == seq && f->text != NULL &&
				    hub_sub_wants(sub, &f->task))
					hub_sub_append(sub, f->text, f->len);
			}
			return;
		}
	}
	snprintf(reset, sizeof reset, "id: %" PRIu64 "\nevent: reset\n"
	    "data: {}\n\n", hub_seq);
	hub_sub_append(sub, reset, strlen(reset));
}

/*
 * A new event stream: every task's changes, or one task's (filter not
 * NULL). last_id (may be NULL) is the Last-Event-ID to resume after. ready
 * is called when bytes arrive after a read found none.
 */
struct hub_sub *
hub_subscribe(const struct ulid *filter, const char *last_id,
    hub_ready_cb *ready, hub_ready_cb *dropped, void *arg)
{
	static const char hello[] = ": evtaskd event stream\n\n";
	struct hub_sub *sub = xcalloc(1, sizeof *sub);

	sub->ready = ready;
	sub->dropped = dropped;
	sub->arg = arg;
	sub->listed = 1;
	if (filter != NULL) {
		sub->filtered = 1;
		sub->task = *filter;
	}
	LIST_INSERT_HEAD(&hub_subs, sub, entry);
	hub_nsubs++;
	if (hub_fed)		/* from now on: not what the tail still brings */
		sub->after = hub_seq > hub_committed_seq ? hub_seq :
		    hub_committed_seq;
	if (!hub_recording) {
		hub_recording = 1;
		hub_oldest = hub_seq + 1;
	}
	hub_sub_append(sub, hello, sizeof hello - 1);
	if (last_id != NULL)
		hub_replay(sub, last_id);
	return sub;
}

/* Every 15 s a comment line keeps proxies and clients from timing out. */
static void
hub_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char beat[] = ": keep-alive\n\n";
	struct hub_sub *sub, *next;

	for (sub = LIST_FIRST(&hub_subs); sub != NULL; sub = next) {
		next = LIST_NEXT(sub, entry);	/* a drop unlists sub */
		hub_sub_append(sub, beat, sizeof beat - 1);
	}
}

/* Live event streams, for metrics (dropped ones no longer count). */
uint64_t
hub_subscribers(void)
{
	return hub_nsubs;
}

/* Streams dropped for falling behind, for metrics. */
uint64_t
hub_dropped(void)
{
	return hub_ndropped;
}

/*
 * The daemon stops: wake every waiter with HUB_STOPPING (its task will not
 * end now) and end every stream.
 */
void
hub_shutdown(void)
{
	struct hub_waiter *w;
	struct hub_sub *sub;
	size_t i;

	while ((w = LIST_FIRST(&hub_waiters)) != NULL)
		hub_wake(w, HUB_STOPPING, NULL);
	LIST_FOREACH(sub, &hub_subs, entry) {
		sub->ended = 1;
		if (sub->waiting) {
			sub->waiting = 0;
			sub->ready(sub->arg);
		}
	}
	if (hub_heartbeat != NULL)
		event_free(hub_heartbeat);
	hub_heartbeat = NULL;
	if (hub_trim_ev != NULL)
		event_free(hub_trim_ev);
	hub_trim_ev = NULL;
	for (i = 0; i < HUB_RING; i++) {
		free(hub_ring[i].text);
		hub_ring[i].text = NULL;
	}
}
