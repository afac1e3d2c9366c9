/*
 * events.c -- everyone who waits: requests waiting for a commit (create,
 * cancel), for a task to end (cancel, ?wait= long-polls), and the
 * server-sent event stream with its replay ring.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define EVENTS_RING		4096		/* events kept for resume */
#define EVENTS_SUB_MAX		(1024 * 1024)	/* unsent bytes per stream */
#define EVENTS_HEARTBEAT_S	15
#define EVENTS_RECORD_GRACE_MS	60000		/* keep recording after the
						   last subscriber left */

enum waiter_kind {
	WAIT_COMMIT,		/* answer after the next commit */
	WAIT_DONE,		/* answer when the task is terminal */
};

struct waiter {
	struct http_request	*req;
	struct task		*task;		/* until sealed */
	struct ulid		 id;
	enum waiter_kind	 kind;
	unsigned		 status;	/* of the answer */
	int			 sealed;	/* seq and text are set */
	uint64_t		 seq;		/* the batch it waits for */
	char			*text;		/* the task as committed */
	struct event		*timer;		/* long-poll limit */
	TAILQ_ENTRY(waiter)	 entry;		/* task's or commit list */
	LIST_ENTRY(waiter)	 all;
};
TAILQ_HEAD(waiter_list, waiter);

struct events_frame {
	uint64_t	 seq;
	struct ulid	 task;
	char		*text;		/* "id: ...\nevent: task\ndata: ...\n\n" */
	size_t		 len;
};

struct events_sub {
	struct http_request	*req;
	int			 filtered;
	struct ulid		 task;
	char			*buf;		/* bytes not yet sent */
	size_t			 off, len, cap;
	int			 paused;
	int			 dropped;	/* too slow: end the stream */
	LIST_ENTRY(events_sub)	 entry;
};

static struct event_base		*events_base;
static struct waiter_list		 events_commit_list =
    TAILQ_HEAD_INITIALIZER(events_commit_list);
static LIST_HEAD(, waiter)		 events_waiters =
    LIST_HEAD_INITIALIZER(events_waiters);
static LIST_HEAD(, events_sub)		 events_subs =
    LIST_HEAD_INITIALIZER(events_subs);
static uint64_t				 events_nsubs;
static struct events_frame		 events_ring[EVENTS_RING];
static uint64_t				 events_seq;	/* last given out */
static uint64_t				 events_oldest;	/* oldest in ring */
static int				 events_recording;
static int64_t				 events_last_sub_ms;
static struct event			*events_heartbeat;

static void	events_heartbeat_cb(evutil_socket_t, short, void *);
static void	events_seal_one(struct waiter *, uint64_t);

/* Event ids increase across restarts too: start from the clock. */
void
events_init(struct event_base *base)
{
	struct timeval tv = { EVENTS_HEARTBEAT_S, 0 };

	events_base = base;
	events_seq = (uint64_t)clock_now_ms() * 1000;
	events_oldest = events_seq + 1;
	events_heartbeat = event_new(base, -1, EV_PERSIST, events_heartbeat_cb,
	    NULL);
	event_add(events_heartbeat, &tv);
}

/* Free a waiter: stop its timer, take it off its lists. */
static void
events_waiter_free(struct waiter *w)
{
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->kind == WAIT_COMMIT)
		TAILQ_REMOVE(&events_commit_list, w, entry);
	else
		TAILQ_REMOVE(&w->task->x->waiters, w, entry);
	LIST_REMOVE(w, all);
	free(w->text);
	free(w);
}

/* The client left (or the daemon stops): forget its waiter. */
static void
events_waiter_gone_cb(struct http_request *req, void *arg)
{
	events_waiter_free(arg);
}

/* Answer a sealed waiter with the task as it was committed. */
static void
events_answer(struct waiter *w, unsigned status)
{
	char id[ULID_LEN + 1], loc[64];
	size_t len = strlen(w->text);

	if (status == 201) {
		ulid_format(&w->id, id);
		snprintf(loc, sizeof loc, "/v1/tasks/%s", id);
		http_set_header(w->req, "Location", loc);
	}
	if (strcmp(http_method(w->req), "DELETE") == 0)
		metrics_cancel_latency(http_age_us(w->req));
	http_reply(w->req, status, "application/json", w->text, len);
	w->text = NULL;		/* MHD frees it */
}

/* A new waiter for req, parked until answered. */
static struct waiter *
events_waiter_new(struct http_request *req, struct task *t,
    enum waiter_kind kind, unsigned status)
{
	struct waiter *w = xcalloc(1, sizeof *w);

	w->req = req;
	w->task = t;
	w->id = t->id;
	w->kind = kind;
	w->status = status;
	LIST_INSERT_HEAD(&events_waiters, w, all);
	if (kind == WAIT_COMMIT)
		http_suspend_brief(req, events_waiter_gone_cb, w);
	else
		http_suspend(req, events_waiter_gone_cb, w);
	return w;
}

/*
 * Answer req with status and the task once the changes of this pass are
 * committed (create: 201, cancel with wait=false: 202).
 */
void
events_wait_commit(struct http_request *req, struct task *t, unsigned status)
{
	struct waiter *w = events_waiter_new(req, t, WAIT_COMMIT, status);

	TAILQ_INSERT_TAIL(&events_commit_list, w, entry);
	if (!t->dirty)
		events_seal_one(w, store_sent());
}

/* A long-poll reached its limit: answer with the task as it is. */
static void
events_wait_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	struct http_request *req = w->req;
	char *text = task_to_text(w->task);

	events_waiter_free(w);
	http_reply(req, 200, "application/json", text, strlen(text));
}

/*
 * Answer req with 200 and the task once it is terminal and stored, or after
 * limit_ms (-1: no limit) with the task as it is then.
 */
void
events_wait_done(struct http_request *req, struct task *t, int64_t limit_ms)
{
	struct waiter *w = events_waiter_new(req, t, WAIT_DONE, 200);
	struct timeval tv;

	TAILQ_INSERT_TAIL(&task_extra(t)->waiters, w, entry);
	if (limit_ms >= 0) {
		tv.tv_sec = (time_t)(limit_ms / 1000);
		tv.tv_usec = (suseconds_t)(limit_ms % 1000) * 1000;
		w->timer = evtimer_new(events_base, events_wait_timer_cb, w);
		evtimer_add(w->timer, &tv);
	}
}

/*
 * Fix what a commit waiter answers: the task as it is now, stored by batch
 * seq. From then on the waiter holds no pointer to the task, which may
 * leave memory as soon as that batch is back.
 */
static void
events_seal_one(struct waiter *w, uint64_t seq)
{
	w->sealed = 1;
	w->seq = seq;
	w->text = w->task->dirty ? xstrdup(task_text(w->task)) :
	    task_to_text(w->task);
	w->task = NULL;
}

/*
 * The end of a loop pass: the changes of the pass go out as batch seq
 * (already committed up to done). Waiters of the pass take the task as it
 * is now, which is what that batch stores, and wait for that batch.
 */
void
events_seal(uint64_t seq, uint64_t done)
{
	struct waiter *w;

	TAILQ_FOREACH(w, &events_commit_list, entry) {
		if (!w->sealed)
			events_seal_one(w, seq);
	}
	events_committed(done, 0);
}

/*
 * Batch seq is committed (rc 0) or failed: answer who waited for it. The
 * list holds only the waiters of batches in flight: a short walk.
 */
void
events_committed(uint64_t seq, int rc)
{
	struct waiter *w, *next;
	struct http_request *req;

	for (w = TAILQ_FIRST(&events_commit_list); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!w->sealed || w->seq > seq)
			continue;
		req = w->req;
		if (rc == 0)
			events_answer(w, w->status);
		events_waiter_free(w);
		if (rc != 0)
			http_problem(req, 500, "store-failed", "the change "
			    "could not be stored; see the daemon's log");
	}
}

/* Append bytes to a subscriber, dropping it if it fell too far behind. */
static void
events_sub_append(struct events_sub *sub, const char *text, size_t len)
{
	if (sub->dropped)
		return;
	if (sub->len - sub->off + len > EVENTS_SUB_MAX) {
		sub->dropped = 1;
		log_warn("event stream: a subscriber fell %d bytes behind; "
		    "dropped", EVENTS_SUB_MAX);
	} else {
		if (sub->off > 0 && sub->off == sub->len)
			sub->off = sub->len = 0;
		if (sub->len + len > sub->cap) {
			sub->cap = (sub->len + len) * 2;
			sub->buf = xrealloc(sub->buf, sub->cap);
		}
		memcpy(sub->buf + sub->len, text, len);
		sub->len += len;
	}
	if (sub->paused) {
		sub->paused = 0;
		http_stream_wake(sub->req);
	}
}

/* Does a subscriber want events of this task? */
static int
events_sub_wants(const struct events_sub *sub, const struct ulid *id)
{
	return !sub->filtered || ulid_cmp(&sub->task, id) == 0;
}

/* Record an event in the ring and send it to the subscribers. */
static void
events_publish(struct task *t)
{
	struct events_frame *f = &events_ring[events_seq % EVENTS_RING];
	struct events_sub *sub;
	const char *json = task_text(t);

	if (events_seq >= events_oldest + EVENTS_RING)
		events_oldest = events_seq - EVENTS_RING + 1;
	free(f->text);
	f->seq = events_seq;
	f->task = t->id;
	f->text = xasprintf("id: %" PRIu64 "\nevent: task\ndata: %s\n\n",
	    events_seq, json);
	f->len = strlen(f->text);
	LIST_FOREACH(sub, &events_subs, entry) {
		if (events_sub_wants(sub, &t->id))
			events_sub_append(sub, f->text, f->len);
	}
}

/*
 * A task changed state (or was created). Events go to the ring while
 * anyone listens (or did a minute ago); a terminal task's waiters are
 * answered once the change is committed.
 */
void
events_task_changed(struct task *t)
{
	struct waiter *w;

	events_seq++;
	if (events_nsubs > 0 || clock_now_ms() - events_last_sub_ms <
	    EVENTS_RECORD_GRACE_MS) {
		if (!events_recording) {
			events_recording = 1;
			events_oldest = events_seq;	/* the gap ends here */
		}
		events_publish(t);
	} else
		events_recording = 0;
	if (!task_state_terminal(t->state) || t->x == NULL)
		return;
	while ((w = TAILQ_FIRST(&t->x->waiters)) != NULL) {
		TAILQ_REMOVE(&t->x->waiters, w, entry);
		if (w->timer != NULL) {
			event_free(w->timer);
			w->timer = NULL;
		}
		w->kind = WAIT_COMMIT;
		TAILQ_INSERT_TAIL(&events_commit_list, w, entry);
	}
}

/* The client of a parked stream left: end the stream when resumed. */
static void
events_sub_gone_cb(struct http_request *req, void *arg)
{
	struct events_sub *sub = arg;

	sub->dropped = 1;
	sub->paused = 0;
}

/* MHD wants bytes for a stream: give what is queued, or park it. */
static ssize_t
events_reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct events_sub *sub = cls;
	size_t n = sub->len - sub->off;

	if (n == 0 && sub->dropped)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0) {
		sub->paused = 1;
		http_stream_pause(sub->req, events_sub_gone_cb, sub);
		return 0;
	}
	if (n > max)
		n = max;
	memcpy(buf, sub->buf + sub->off, n);
	sub->off += n;
	return (ssize_t)n;
}

/* The stream ended (client left, or the daemon stops). */
static void
events_sub_free(void *arg)
{
	struct events_sub *sub = arg;

	LIST_REMOVE(sub, entry);
	events_nsubs--;
	events_last_sub_ms = clock_now_ms();
	free(sub->buf);
	free(sub);
}

/* Replay the ring after last_id, or say "reset" if it is too old. */
static void
events_replay(struct events_sub *sub, const char *last_id)
{
	struct events_frame *f;
	char *end, reset[96];
	uint64_t last, seq;
	size_t total = 0;

	last = strtoull(last_id, &end, 10);
	if (*last_id != '\0' && *end == '\0' && events_recording &&
	    last + 1 >= events_oldest && last <= events_seq) {
		for (seq = last + 1; seq <= events_seq; seq++) {
			f = &events_ring[seq % EVENTS_RING];
			if (events_sub_wants(sub, &f->task))
				total += f->len;
		}
		if (total <= EVENTS_SUB_MAX) {
			for (seq = last + 1; seq <= events_seq; seq++) {
				f = &events_ring[seq % EVENTS_RING];
				if (events_sub_wants(sub, &f->task))
					events_sub_append(sub, f->text, f->len);
			}
			return;
		}
	}
	snprintf(reset, sizeof reset, "id: %" PRIu64 "\nevent: reset\n"
	    "data: {}\n\n", events_seq);
	events_sub_append(sub, reset, strlen(reset));
}

/*
 * Start an event stream on req: every task's changes, or one task's
 * (filter not NULL). last_id (may be NULL) is the Last-Event-ID header.
 */
void
events_subscribe(struct http_request *req, const struct ulid *filter,
    const char *last_id)
{
	static const char hello[] = ": evtaskd event stream\n\n";
	struct events_sub *sub = xcalloc(1, sizeof *sub);

	sub->req = req;
	if (filter != NULL) {
		sub->filtered = 1;
		sub->task = *filter;
	}
	LIST_INSERT_HEAD(&events_subs, sub, entry);
	events_nsubs++;
	if (!events_recording) {
		events_recording = 1;
		events_oldest = events_seq + 1;
	}
	events_sub_append(sub, hello, sizeof hello - 1);
	if (last_id != NULL)
		events_replay(sub, last_id);
	http_set_ctx(req, sub, events_sub_free);
	http_reply_stream(req, "text/event-stream", events_reader_cb, sub);
}

/* Every 15 s a comment line keeps proxies and clients from timing out. */
static void
events_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	static const char beat[] = ": keep-alive\n\n";
	struct events_sub *sub;

	LIST_FOREACH(sub, &events_subs, entry)
		events_sub_append(sub, beat, sizeof beat - 1);
}

/* Open event streams, for metrics. */
uint64_t
events_subscribers(void)
{
	return events_nsubs;
}

/*
 * The daemon stops: answer every waiter (503 for those whose task will not
 * end now) and end every stream.
 */
void
events_shutdown(void)
{
	struct waiter *w;
	struct http_request *req;
	struct events_sub *sub;
	size_t i;

	while ((w = LIST_FIRST(&events_waiters)) != NULL) {
		req = w->req;
		events_waiter_free(w);
		http_problem(req, 503, "shutting-down", "the daemon is "
		    "stopping; the task stays stored and goes on after a "
		    "restart");
	}
	LIST_FOREACH(sub, &events_subs, entry) {
		sub->dropped = 1;
		if (sub->paused) {
			sub->paused = 0;
			http_stream_wake(sub->req);
		}
	}
	event_free(events_heartbeat);
	events_heartbeat = NULL;
	for (i = 0; i < EVENTS_RING; i++) {
		free(events_ring[i].text);
		events_ring[i].text = NULL;
	}
}
