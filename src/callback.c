/*
 * callback.c -- completion callbacks (CONTRACT §9): the outbox and libcurl
 * on the loop. An observer: when a task naming a callback reaches one of
 * the callback's events, a delivery is made, its outbox row goes into the
 * store batch of that very change, and once stored it is POSTed, signed,
 * by libcurl's multi interface driven from the loop's events (as curl's
 * hiperfifo.c example does): no call here blocks the loop. At most
 * CALLBACK_IN_FLIGHT_MAX attempts run at once; a failed one is retried
 * after 1 s, doubling up to 10 minutes, up to the callback's max_attempts.
 * Every attempt is written back through the store, and pending deliveries
 * resume after a restart with the same id (at least once).
 */

#include "evtaskd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

/*
 * Attempts in flight. bench/callbacks.sh (10 000 deliveries draining to a
 * local receiver): 64 gave a GET p99 of 21 ms, 16 gave 6.5 ms, 8 gives
 * 4.7 ms, and the outbox drains in the same 3.7 s each time: the loop, not
 * the receiver, sets the pace.
 */
#define CALLBACK_IN_FLIGHT_MAX	8
#define CALLBACK_BACKOFF_MS	1000
#define CALLBACK_BACKOFF_MAX_MS	600000

/* One delivery: a task's end, to POST until a 2xx or max_attempts. */
struct callback_delivery {
	char		 id[ULID_LEN + 1];
	char		 task_id[ULID_LEN + 1];
	struct task	*task;		/* held until the delivery ends */
	char		*callback;	/* the receiver's name */
	char		*body;		/* the same for every attempt */
	int		 attempts;
	int64_t		 next_at;	/* ms */
	unsigned	 rows;		/* outbox rows in the store's hands */
	struct store_read *read;	/* start-up: its task being read */
	uint8_t		 stored;	/* its row is committed: may be sent */
	uint8_t		 done;		/* delivered, given up or dropped */
	uint8_t		 queued;	/* in callback_ready */
	struct event	 timer;		/* the next attempt */
	CURL		*easy;		/* the attempt in flight, or NULL */
	struct curl_slist *headers;
	int64_t		 started_us;
	char		 error[CURL_ERROR_SIZE];
	TAILQ_ENTRY(callback_delivery) all;
	TAILQ_ENTRY(callback_delivery) ready;
};
TAILQ_HEAD(callback_list, callback_delivery);

/* How an attempt ended, as the task's member and the metrics see it. */
struct callback_result {
	int		 ok;
	int		 status;	/* the HTTP status, 0: no answer */
	char		 error[CURL_ERROR_SIZE + 64];
	enum metrics_attempt metric;
};

static struct event_base	*callback_base;
static CURLM			*callback_multi;
static struct event		*callback_curl_timer;
static struct event		*callback_settle_ev;
static struct task		**callback_settle;	/* ended, nothing to send */
static size_t			 callback_nsettle, callback_settle_cap;
static struct callback_list	 callback_all =
    TAILQ_HEAD_INITIALIZER(callback_all);
static struct callback_list	 callback_ready =
    TAILQ_HEAD_INITIALIZER(callback_ready);
static uint64_t			 callback_pending;	/* not yet done */
static unsigned			 callback_running;	/* attempts out */

static void	callback_changed(struct task *, enum task_change,
		    enum task_state);
static void	callback_timer_cb(evutil_socket_t, short, void *);
static void	callback_pump(void);

const struct task_observer callback_observer = { "callback",
	callback_changed };

/* The one place a delivery is freed: only once done and out of hands. */
static void
callback_free_if_done(struct callback_delivery *d)
{
	if (!d->done || d->rows > 0 || d->easy != NULL)
		return;
	event_del(&d->timer);
	if (d->queued)
		TAILQ_REMOVE(&callback_ready, d, ready);
	TAILQ_REMOVE(&callback_all, d, all);
	if (d->task != NULL)
		task_unref(d->task);
	free(d->callback);
	free(d->body);
	free(d);
}

/* The delivery will be tried no more (freed once out of all hands). */
static void
callback_finish(struct callback_delivery *d)
{
	if (d->read != NULL) {		/* its task is of no more use */
		store_read_drop(d->read);
		d->read = NULL;
	}
	if (!d->done) {
		d->done = 1;
		callback_pending--;
	}
	callback_free_if_done(d);
}

/* A new delivery record (not yet stored: no attempt before it is). */
static struct callback_delivery *
callback_new(const char *id, const char *task_id, const char *name,
    const char *body)
{
	struct callback_delivery *d = xcalloc(1, sizeof *d);

	snprintf(d->id, sizeof d->id, "%s", id);
	snprintf(d->task_id, sizeof d->task_id, "%s", task_id);
	d->callback = xstrdup(name);
	d->body = xstrdup(body);
	evtimer_assign(&d->timer, callback_base, callback_timer_cb, d);
	TAILQ_INSERT_TAIL(&callback_all, d, all);
	callback_pending++;
	return d;
}

/* Hand the delivery's row to the store: new (with its body) or moved on. */
static void
callback_write(struct callback_delivery *d, int state, int with_body)
{
	struct store_delivery row;

	memset(&row, 0, sizeof row);
	memcpy(row.id, d->id, sizeof row.id);
	memcpy(row.task_id, d->task_id, sizeof row.task_id);
	row.callback = with_body ? d->callback : NULL;
	row.body = with_body ? d->body : NULL;
	row.state = state;
	row.attempts = d->attempts;
	row.next_at = d->next_at;
	row.owner = d;
	d->rows++;
	store_outbox_put(&row);
}

/* Wait for the next attempt's time (now if it has come). */
static void
callback_arm(struct callback_delivery *d)
{
	int64_t delay = d->next_at - clock_now_ms();
	struct timeval tv;

	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(&d->timer, &tv);
}

/*
 * A task reached one of its callback's events: the delivery's body, its
 * outbox row in this pass's batch (beside the task's change), its task
 * held until it ends.
 */
static void
callback_start_delivery(struct task *t)
{
	struct callback_delivery *d;
	struct ulid uid;
	char id[ULID_LEN + 1], tid[ULID_LEN + 1], *body;

	registry_next_id(&uid);
	ulid_format(&uid, id);
	ulid_format(&t->id, tid);
	body = xasprintf("{\"type\":\"task.finished\",\"delivery\":\"%s\","
	    "\"task\":%s}", id, task_text(t));
	d = callback_new(id, tid, task_callback(t)->name, body);
	free(body);
	d->task = t;
	task_ref(t);
	d->next_at = clock_now_ms();
	callback_write(d, CALLBACK_PENDING, 1);
}

/* Later in the pass, not from inside the announcement: settle a task. */
static void
callback_defer(struct task *t)
{
	if (callback_nsettle == callback_settle_cap) {
		callback_settle_cap = callback_settle_cap == 0 ? 16 :
		    callback_settle_cap * 2;
		callback_settle = xrealloc(callback_settle,
		    callback_settle_cap * sizeof *callback_settle);
	}
	task_ref(t);
	callback_settle[callback_nsettle++] = t;
	event_active(callback_settle_ev, EV_TIMEOUT, 0);
}

/* A task that names a callback ended: deliver, or say why not. */
static void
callback_task_ended(struct task *t)
{
	const struct task_callback *cb = task_callback(t);
	const struct callback_conf *conf;

	if (cb == NULL || cb->state != CALLBACK_PENDING || cb->attempts > 0)
		return;
	conf = config_callback(cb->name);
	if (conf != NULL && (conf->events & (1u << t->state)) != 0)
		callback_start_delivery(t);
	else
		callback_defer(t);
}

/* A task's creation was lost: its delivery (if any) goes with it. */
static void
callback_task_withdrawn(struct task *t)
{
	struct callback_delivery *d, *next;

	for (d = TAILQ_FIRST(&callback_all); d != NULL; d = next) {
		next = TAILQ_NEXT(d, all);
		if (d->task != t)
			continue;
		task_unref(t);
		d->task = NULL;
		callback_finish(d);
	}
}

/* The observer: ends start deliveries; withdrawals drop them. */
static void
callback_changed(struct task *t, enum task_change what, enum task_state from)
{
	if (what == TASK_MOVED && task_state_terminal(t->state))
		callback_task_ended(t);
	else if (what == TASK_WITHDRAWN)
		callback_task_withdrawn(t);
}

/*
 * The tasks that ended with nothing to send: an event the callback does
 * not list (the member becomes null), or a callback gone from the config
 * (failed, saying so).
 */
static void
callback_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct task_callback now = { NULL, CALLBACK_FAILED, 0, 0, NULL,
	    TASK_TIME_NONE };
	struct task *t;
	size_t i;

	for (i = 0; i < callback_nsettle; i++) {
		t = callback_settle[i];
		if (!t->withdrawn && task_callback(t) != NULL &&
		    config_callback(task_callback(t)->name) != NULL)
			task_callback_drop(t);
		else if (!t->withdrawn && task_callback(t) != NULL) {
			now.last_error = xasprintf("no callback '%s' in the "
			    "config", task_callback(t)->name);
			task_callback_update(t, &now);
			free(now.last_error);
		}
		task_unref(t);
	}
	callback_nsettle = 0;
}

/*
 * The store has the delivery's row (rc 0) or dropped it with its task
 * (rc -1). The first stored row is the new one: the delivery may start.
 */
void
callback_stored(void *owner, int rc)
{
	struct callback_delivery *d = owner;

	d->rows--;
	if (rc == 0 && !d->stored && !d->done) {
		d->stored = 1;
		callback_arm(d);
	}
	if (rc != 0 || d->done)
		callback_finish(d);
}

/* The back-off before attempt n + 1 (after n failed): 1 s doubling. */
static int64_t
callback_backoff_ms(int n)
{
	int64_t ms = CALLBACK_BACKOFF_MS;

	while (--n > 0 && ms < CALLBACK_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < CALLBACK_BACKOFF_MAX_MS ? ms : CALLBACK_BACKOFF_MAX_MS;
}

/* Log how an attempt went. */
static void
callback_log(const struct callback_delivery *d, const struct callback_result
    *r, enum callback_state state)
{
	if (state == CALLBACK_DELIVERED)
		log_debug("callback %s: delivery %s of task %s delivered "
		    "(attempt %d, status %d)", d->callback, d->id, d->task_id,
		    d->attempts, r->status);
	else if (state == CALLBACK_FAILED)
		log_warn("callback %s: delivery %s of task %s failed after "
		    "%d attempts: %s", d->callback, d->id, d->task_id,
		    d->attempts, r->error);
	else
		log_info("callback %s: delivery %s of task %s: attempt %d "
		    "failed (%s); next in %llds", d->callback, d->id,
		    d->task_id, d->attempts, r->error, (long long)
		    (callback_backoff_ms(d->attempts) + 999) / 1000);
}

/* An attempt ended: show it on the task, store it, retry or finish. */
static void
callback_attempt_done(struct callback_delivery *d, struct callback_result *r,
    int64_t max_attempts)
{
	struct task_callback now = { NULL, CALLBACK_PENDING, 0, r->status,
	    NULL, TASK_TIME_NONE };

	d->attempts++;
	now.attempts = (uint32_t)d->attempts;
	if (r->ok) {
		now.state = CALLBACK_DELIVERED;
		now.delivered_at = clock_now_ms();
	} else if (d->attempts >= max_attempts)
		now.state = CALLBACK_FAILED;
	if (!r->ok)
		now.last_error = r->error;
	d->next_at = clock_now_ms() + callback_backoff_ms(d->attempts);
	callback_log(d, r, now.state);
	if (d->task != NULL)
		task_callback_update(d->task, &now);
	callback_write(d, now.state, 0);
	if (now.state != CALLBACK_PENDING) {
		metrics_callback_outcome(now.state);
		callback_finish(d);
	} else
		callback_arm(d);
}

/* libcurl hands the answer's body: nobody reads it. */
static size_t
callback_discard_cb(char *data, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* The signed headers of one attempt (to free with curl_slist_free_all). */
static struct curl_slist *
callback_headers(const struct callback_delivery *d, const char *secret)
{
	struct curl_slist *h = NULL;
	char hex[HMAC_SHA256_HEX_LEN + 1], *signed_text, *line;
	long long now = (long long)(clock_now_ms() / 1000);

	signed_text = xasprintf("%lld.%s", now, d->body);
	hmac_sha256_hex(secret, signed_text, strlen(signed_text), hex);
	free(signed_text);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");	/* no 100-continue wait */
	line = xasprintf("Evtaskd-Delivery: %s", d->id);
	h = curl_slist_append(h, line);
	free(line);
	line = xasprintf("Evtaskd-Signature: t=%lld,v1=%s", now, hex);
	h = curl_slist_append(h, line);
	free(line);
	if (h == NULL)
		fatalx("curl_slist_append: out of memory");
	return h;
}

/* Only http and https, and never a redirect (CONTRACT §9). */
static void
callback_restrict(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP |
	    CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
}

/* A configured easy handle for one attempt of d to conf's receiver. */
static CURL *
callback_easy(struct callback_delivery *d, const struct callback_conf *conf)
{
	CURL *e = curl_easy_init();

	if (e == NULL)
		fatalx("curl_easy_init failed");
	d->headers = callback_headers(d, conf->secret);
	d->error[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, conf->url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(d->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "evtaskd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)conf->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, callback_discard_cb);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, d);
	callback_restrict(e);
	return e;
}

/* Start one attempt now (its receiver gone from the config: it fails). */
static void
callback_send(struct callback_delivery *d)
{
	const struct callback_conf *conf = config_callback(d->callback);
	struct callback_result r = { 0, 0, "", METRICS_ATTEMPT_ERROR };

	if (conf == NULL || conf->secret == NULL) {
		snprintf(r.error, sizeof r.error, "no callback '%s' in the "
		    "config", d->callback);
		callback_attempt_done(d, &r, 0);
		return;
	}
	d->easy = callback_easy(d, conf);
	d->started_us = clock_mono_us();
	callback_running++;
	if (curl_multi_add_handle(callback_multi, d->easy) != CURLM_OK)
		fatalx("curl_multi_add_handle failed");
}

/* Start what is due, as far as the bound on attempts in flight allows. */
static void
callback_pump(void)
{
	struct callback_delivery *d;

	while (callback_running < CALLBACK_IN_FLIGHT_MAX &&
	    (d = TAILQ_FIRST(&callback_ready)) != NULL) {
		TAILQ_REMOVE(&callback_ready, d, ready);
		d->queued = 0;
		if (!d->done)
			callback_send(d);
	}
}

/* A delivery's next attempt is due: queue it. */
static void
callback_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct callback_delivery *d = arg;

	if (d->done || d->queued || d->easy != NULL)
		return;
	d->queued = 1;
	TAILQ_INSERT_TAIL(&callback_ready, d, ready);
	callback_pump();
}

/* What an ended transfer means: a 2xx, another status, or no answer. */
static void
callback_judge(struct callback_delivery *d, CURLcode code,
    struct callback_result *r)
{
	static const enum metrics_attempt classes[] = {
		METRICS_ATTEMPT_ERROR, METRICS_ATTEMPT_ERROR,
		METRICS_ATTEMPT_2XX, METRICS_ATTEMPT_3XX, METRICS_ATTEMPT_4XX,
		METRICS_ATTEMPT_5XX,
	};
	long status = 0;

	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
	r->status = code == CURLE_OK ? (int)status : 0;
	if (code != CURLE_OK) {
		r->metric = code == CURLE_OPERATION_TIMEDOUT ?
		    METRICS_ATTEMPT_TIMEOUT : METRICS_ATTEMPT_ERROR;
		snprintf(r->error, sizeof r->error, "%s", d->error[0] != '\0' ?
		    d->error : curl_easy_strerror(code));
		return;
	}
	r->metric = status >= 100 && status < 600 ? classes[status / 100] :
	    METRICS_ATTEMPT_ERROR;
	r->ok = status >= 200 && status < 300;
	if (status >= 300 && status < 400)
		snprintf(r->error, sizeof r->error, "answered %ld: redirects "
		    "are not followed", status);
	else if (!r->ok)
		snprintf(r->error, sizeof r->error, "answered %ld", status);
}

/* A transfer ended: free its handle, then judge and record the attempt. */
static void
callback_transfer_done(CURL *e, CURLcode code)
{
	struct callback_delivery *d = NULL;
	struct callback_result r = { 0, 0, "", METRICS_ATTEMPT_ERROR };
	const struct callback_conf *conf;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&d);
	callback_judge(d, code, &r);
	metrics_callback_attempt(r.metric, clock_mono_us() - d->started_us);
	curl_multi_remove_handle(callback_multi, e);
	curl_easy_cleanup(e);
	curl_slist_free_all(d->headers);
	d->headers = NULL;
	d->easy = NULL;
	callback_running--;
	conf = config_callback(d->callback);
	if (d->done)
		callback_free_if_done(d);
	else
		callback_attempt_done(d, &r, conf != NULL ? conf->max_attempts
		    : 0);
}

/* Collect the transfers libcurl has finished, then start more. */
static void
callback_check_multi(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(callback_multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			callback_transfer_done(msg->easy_handle,
			    msg->data.result);
	}
	callback_pump();
}

/* A socket libcurl watches is ready. */
static void
callback_socket_cb(evutil_socket_t fd, short what, void *arg)
{
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(callback_multi, fd, action, &running);
	callback_check_multi();
}

/* libcurl's timeout came. */
static void
callback_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	int running;

	curl_multi_socket_action(callback_multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	callback_check_multi();
}

/* CURLMOPT_SOCKETFUNCTION: watch a socket for what libcurl asks. */
static int
callback_watch_cb(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct event *ev = sockp;
	short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);

	if (ev != NULL) {
		event_del(ev);
		event_free(ev);
		ev = NULL;
	}
	if (what != CURL_POLL_REMOVE) {
		ev = event_new(callback_base, s, kind, callback_socket_cb,
		    NULL);
		event_add(ev, NULL);
	}
	curl_multi_assign(callback_multi, s, ev);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: when libcurl wants to be called (-1: never). */
static int
callback_curl_timeout_cb(CURLM *m, long ms, void *arg)
{
	struct timeval tv;

	if (ms < 0) {
		evtimer_del(callback_curl_timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(callback_curl_timer, &tv);
	return 0;
}

/* Set up libcurl's multi interface on the loop. 0, or -1 with *err. */
int
callback_init(struct event_base *base, char **err)
{
	callback_base = base;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (callback_multi = curl_multi_init()) == NULL) {
		*err = xstrdup("cannot set up libcurl");
		return -1;
	}
	curl_multi_setopt(callback_multi, CURLMOPT_SOCKETFUNCTION,
	    callback_watch_cb);
	curl_multi_setopt(callback_multi, CURLMOPT_TIMERFUNCTION,
	    callback_curl_timeout_cb);
	curl_multi_setopt(callback_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)CALLBACK_IN_FLIGHT_MAX);
	callback_curl_timer = evtimer_new(base, callback_curl_timer_cb, NULL);
	callback_settle_ev = event_new(base, -1, 0, callback_settle_cb, NULL);
	return 0;
}

/*
 * A resumed delivery's task is read back (now or later): it shows how its
 * delivery goes, so it is kept in memory. Then the delivery goes on.
 */
static void
callback_resume_got_cb(void *arg, int rc, char *text)
{
	struct callback_delivery *d = arg;
	json_t *doc;

	d->read = NULL;
	if (rc > 0 && (doc = json_loads(text, 0, NULL)) != NULL) {
		d->task = task_from_json(doc);
		json_decref(doc);
	}
	free(text);
	if (d->task != NULL) {
		task_recover(d->task);
		task_ref(d->task);
	} else
		log_warn("callback %s: delivery %s: task %s cannot be read "
		    "back; its member will not show the delivery",
		    d->callback, d->id, d->task_id);
	callback_arm(d);
}

/* One pending row of the outbox read back: the delivery goes on. */
static void
callback_resume_cb(const struct store_delivery *row, void *arg)
{
	struct callback_delivery *d = callback_new(row->id, row->task_id,
	    row->callback, row->body);
	struct ulid id;

	d->attempts = row->attempts;
	d->next_at = row->next_at;
	d->stored = 1;
	if (ulid_parse(row->task_id, &id) == 0)
		d->read = store_get(&id, callback_resume_got_cb, d);
	else
		callback_resume_got_cb(d, 0, NULL);
}

/*
 * Start-up, before the tasks are recovered: every pending delivery goes
 * on where it was. The number, or -1 with *err.
 */
long
callback_resume(char **err)
{
	return store_outbox_load(callback_resume_cb, NULL, err);
}

/* A dead node's pending delivery, adopted: it goes on here. */
void
callback_adopt(const struct store_delivery *row)
{
	callback_resume_cb(row, NULL);
}

/* Deliveries not yet delivered nor given up; attempts in flight. */
uint64_t
callback_outbox_size(void)
{
	return callback_pending;
}

uint64_t
callback_in_flight(void)
{
	return callback_running;
}

/*
 * Stop (after the store's last batch is back): attempts in flight are
 * dropped (they are tried again after a restart), and so is the rest.
 */
void
callback_shutdown(void)
{
	struct callback_delivery *d;
	size_t i;

	while ((d = TAILQ_FIRST(&callback_all)) != NULL) {
		if (d->easy != NULL) {
			curl_multi_remove_handle(callback_multi, d->easy);
			curl_easy_cleanup(d->easy);
			curl_slist_free_all(d->headers);
			d->easy = NULL;
		}
		d->rows = 0;		/* the store's last batch is back */
		callback_finish(d);
	}
	for (i = 0; i < callback_nsettle; i++)
		task_unref(callback_settle[i]);
	free(callback_settle);
	callback_settle = NULL;
	callback_nsettle = callback_settle_cap = 0;
	if (callback_settle_ev != NULL)
		event_free(callback_settle_ev);
	if (callback_curl_timer != NULL)
		event_free(callback_curl_timer);
	callback_settle_ev = callback_curl_timer = NULL;
	curl_multi_cleanup(callback_multi);
	callback_multi = NULL;
	curl_global_cleanup();
	callback_running = 0;
}
