/*
 * schedule.c -- recurring schedules: one timer each, a run creates a task
 * (start_at at the planned time, schedule_id set) and advances the next
 * planned time in the same loop pass, so both go out in one store batch:
 * across a crash a run is made once or not at all. At start a planned time
 * already past was missed while the daemon was down: `missed` decides.
 *
 * Schedules sit in an array sorted by id (ids grow, so a new one goes at
 * the end); a run costs one timer: O(log n) in libevent's heap.
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* A schedule: its settings, what its runs did, its timer. */
struct schedule {
	struct ulid		 id;
	struct schedule_conf	 c;
	struct schedule_state	 st;
	struct event		 timer;
};

static struct event_base	*schedule_base;
static struct schedule		**schedule_all;		/* sorted by id */
static size_t			 schedule_n, schedule_cap;
static int			 schedule_stopped;

static void	schedule_fire_cb(evutil_socket_t, short, void *);

/* Remember the loop the timers run on. */
void
schedule_init(struct event_base *base)
{
	schedule_base = base;
}

/* The position of id in the array (where it is, or would go). */
static size_t
schedule_pos(const struct ulid *id)
{
	size_t lo = 0, hi = schedule_n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (ulid_cmp(&schedule_all[mid]->id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The schedule with this id, or NULL. */
struct schedule *
schedule_find(const struct ulid *id)
{
	size_t i = schedule_pos(id);

	return i < schedule_n && ulid_cmp(&schedule_all[i]->id, id) == 0 ?
	    schedule_all[i] : NULL;
}

/* A schedule's id. */
const struct ulid *
schedule_id(const struct schedule *s)
{
	return &s->id;
}

/* How many schedules there are. */
size_t
schedule_count(void)
{
	return schedule_n;
}

/* Put s in the array, in id order. */
static void
schedule_list(struct schedule *s)
{
	size_t i = schedule_pos(&s->id);

	if (schedule_n == schedule_cap) {
		schedule_cap = schedule_cap == 0 ? 64 : schedule_cap * 2;
		schedule_all = xrealloc(schedule_all, schedule_cap *
		    sizeof *schedule_all);
	}
	memmove(&schedule_all[i + 1], &schedule_all[i], (schedule_n - i) *
	    sizeof *schedule_all);
	schedule_all[i] = s;
	schedule_n++;
}

/* Take s out of the array. */
static void
schedule_unlist(struct schedule *s)
{
	size_t i = schedule_pos(&s->id);

	memmove(&schedule_all[i], &schedule_all[i + 1], (schedule_n - i - 1) *
	    sizeof *schedule_all);
	schedule_n--;
}

/* The one place a schedule is freed: its timer, its settings, it. */
static void
schedule_free(struct schedule *s)
{
	evtimer_del(&s->timer);
	schedule_conf_free(&s->c);
	free(s);
}

/* A schedule as JSON text (to free). */
char *
schedule_text(const struct schedule *s)
{
	json_t *v = schedule_state_json(&s->id, &s->c, &s->st);
	char *text = json_dumps(v, JSON_COMPACT);

	json_decref(v);
	return text;
}

/* The schedule changed: it goes out with this pass's batch. */
static void
schedule_save(struct schedule *s)
{
	store_schedule_put(&s->id, schedule_text(s));
}

/* Set the timer for the next planned time (none while paused). */
static void
schedule_arm(struct schedule *s)
{
	int64_t wait;
	struct timeval tv;

	evtimer_del(&s->timer);
	if (s->st.next_run_at == TASK_TIME_NONE || schedule_stopped)
		return;
	wait = s->st.next_run_at - clock_now_ms();
	if (wait < 0)
		wait = 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(&s->timer, &tv);
}

/*
 * The first planned time strictly after both last (a planned time, or the
 * creation) and now: an every_ms schedule keeps its cadence.
 */
static int64_t
schedule_plan(const struct schedule *s, int64_t last, int64_t now)
{
	int64_t k, next;

	if (s->c.paused)
		return TASK_TIME_NONE;
	if (s->c.every_ms > 0) {
		k = now >= last ? (now - last) / s->c.every_ms + 1 : 1;
		return last + k * s->c.every_ms;
	}
	next = cron_next(&s->c.cron, s->c.zone, last > now ? last : now);
	return next < 0 ? TASK_TIME_NONE : next;
}

/* The schedule's last task if it has not ended, or NULL. */
static struct task *
schedule_active(const struct schedule *s)
{
	struct task *t;

	if (!s->st.has_last || (t = registry_find(&s->st.last_task)) == NULL)
		return NULL;
	return task_state_terminal(t->state) ? NULL : t;
}

/* Does the overlap policy skip this run? */
static int
schedule_overlaps(const struct schedule *s)
{
	struct task *last = schedule_active(s);

	if (last == NULL)
		return 0;
	switch (s->c.overlap) {
	case OVERLAP_SKIP:
		return 1;
	case OVERLAP_QUEUE:		/* at most one waits */
		return last->state == TASK_SCHEDULED;
	default:
		return 0;
	}
}

/* The task of a run from the template, or NULL (logged) if it is bad. */
static struct task *
schedule_new_task(struct schedule *s, int64_t planned)
{
	static const int conflict[] = {
		[OVERLAP_QUEUE] = CONFLICT_QUEUE,
		[OVERLAP_REPLACE] = CONFLICT_REPLACE,
	};
	json_t *errors = json_array();
	struct task *t = spec_parse(s->c.task, errors);
	struct task_policy *p;
	char id[ULID_LEN + 1];

	ulid_format(&s->id, id);
	if (t == NULL) {
		log_error("schedule %s: its task is not valid any more (%s); "
		    "the run is skipped", id, json_string_value(json_object_get(
		    json_array_get(errors, 0), "detail")));
		json_decref(errors);
		return NULL;
	}
	json_decref(errors);
	task_set_start(t, planned);
	p = task_policy(t);
	p->has_schedule = 1;
	p->schedule_id = s->id;
	if (s->c.overlap == OVERLAP_QUEUE || s->c.overlap == OVERLAP_REPLACE) {
		if (p->key == NULL)
			p->key = xasprintf("schedule-%s", id);
		p->on_conflict = conflict[s->c.overlap];
	}
	return t;
}

/* A run that is not made: counted. */
static void
schedule_skip(struct schedule *s)
{
	s->st.skipped++;
	metrics_schedule_skipped();
}

/* Make the run planned for planned, or skip it (overlap, limits). */
static void
schedule_run(struct schedule *s, int64_t planned, int64_t now)
{
	struct task *t;

	if (schedule_overlaps(s) || registry_active() >=
	    cfg->max_active_tasks || (t = schedule_new_task(s, planned)) ==
	    NULL) {
		schedule_skip(s);
		return;
	}
	if (task_policy(t)->on_conflict == CONFLICT_REJECT &&
	    sched_conflict(t) != NULL) {
		task_free(t);
		schedule_skip(s);
		return;
	}
	task_submit(t);
	s->st.last_task = t->id;
	s->st.has_last = 1;
	s->st.last_run_at = now;
	s->st.runs++;
	metrics_schedule_run((now - planned) * 1000);
}

/* The planned time came: run, plan the next, store both together. */
static void
schedule_fire(struct schedule *s)
{
	int64_t now = clock_now_ms(), planned = s->st.next_run_at;

	if (now < planned) {		/* the monotonic clock ran ahead */
		schedule_arm(s);
		return;
	}
	schedule_run(s, planned, now);
	s->st.next_run_at = schedule_plan(s, planned, now);
	schedule_save(s);
	schedule_arm(s);
}

/* A schedule's timer. */
static void
schedule_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	schedule_fire(arg);
}

/* A new schedule, set up and armed (nothing else holds it yet). */
static struct schedule *
schedule_new(const struct ulid *id, struct schedule_conf *c)
{
	struct schedule *s = xcalloc(1, sizeof *s);

	s->id = *id;
	s->c = *c;
	memset(c, 0, sizeof *c);
	evtimer_assign(&s->timer, schedule_base, schedule_fire_cb, s);
	schedule_list(s);
	return s;
}

/* Create a schedule from checked settings (taken); stored this pass. */
struct schedule *
schedule_create(struct schedule_conf *c)
{
	struct ulid id;
	struct schedule *s;
	int64_t now = clock_now_ms();

	registry_next_id(&id);
	s = schedule_new(&id, c);
	s->st.created_at = now;
	s->st.last_run_at = TASK_TIME_NONE;
	s->st.next_run_at = schedule_plan(s, now, now);
	schedule_save(s);
	schedule_arm(s);
	return s;
}

/* Do two settings plan runs the same way? */
static int
schedule_same_timing(const struct schedule_conf *a,
    const struct schedule_conf *b)
{
	return a->every_ms == b->every_ms && a->paused == b->paused &&
	    strcmp(a->zone, b->zone) == 0 && (a->cron_text == NULL) ==
	    (b->cron_text == NULL) && (a->cron_text == NULL ||
	    strcmp(a->cron_text, b->cron_text) == 0);
}

/*
 * Apply a JSON merge patch: 0, or -1 with every problem in errors (the
 * schedule unchanged). A change of timing or a resume plans afresh.
 */
int
schedule_patch(struct schedule *s, json_t *patch, json_t *errors)
{
	json_t *merged = schedule_conf_json(&s->c);
	struct schedule_conf c;
	int64_t now = clock_now_ms();
	int same;

	if (!json_is_object(patch)) {
		spec_error(errors, NULL, "a merge patch is a JSON object");
		json_decref(merged);
		return -1;
	}
	schedule_merge_patch(merged, patch);
	if (schedule_conf_parse(merged, errors, &c, 1) != 0) {
		json_decref(merged);
		return -1;
	}
	json_decref(merged);
	same = schedule_same_timing(&s->c, &c);
	schedule_conf_free(&s->c);
	s->c = c;
	if (!same)
		s->st.next_run_at = schedule_plan(s, now, now);
	schedule_save(s);
	schedule_arm(s);
	return 0;
}

/* Delete a schedule: no more runs; its row goes with this pass. */
void
schedule_delete(struct schedule *s)
{
	schedule_unlist(s);
	store_schedule_put(&s->id, NULL);
	schedule_free(s);
}

/* The creation of a schedule was not stored: it never was. */
void
schedule_withdraw(const struct ulid *id)
{
	struct schedule *s = schedule_find(id);

	if (s != NULL)
		schedule_delete(s);
}

/* fn for every schedule, in id order (fn must not delete). */
void
schedule_each(void (*fn)(struct schedule *, void *), void *arg)
{
	size_t i;

	for (i = 0; i < schedule_n; i++)
		fn(schedule_all[i], arg);
}

/* What schedule_tasks collects. */
struct schedule_collect {
	const struct schedule	*s;
	struct task		**out;
	size_t			 max, n;
};

/* One task: the schedule's and active? */
static void
schedule_collect_cb(struct task *t, void *arg)
{
	struct schedule_collect *c = arg;
	const struct task_policy *p = TASK_POL(t);

	if (p == NULL || !p->has_schedule || task_state_terminal(t->state) ||
	    ulid_cmp(&p->schedule_id, &c->s->id) != 0)
		return;
	if (c->n < c->max)
		c->out[c->n] = t;
	c->n++;
}

/*
 * The schedule's tasks that have not ended, into out (at most max); how
 * many there are. A walk of every task: a DELETE's, not a run's, cost.
 */
size_t
schedule_tasks(const struct schedule *s, struct task **out, size_t max)
{
	struct schedule_collect c = { s, out, max, 0 };

	registry_complete();	/* recovery may still be loading */
	registry_each(schedule_collect_cb, &c);
	return c.n;
}

/* A planned time passed while the daemon was down: missed decides. */
static void
schedule_missed(struct schedule *s, int64_t now)
{
	int64_t planned = s->st.next_run_at;
	char id[ULID_LEN + 1];

	ulid_format(&s->id, id);
	if (s->c.missed == MISSED_RUN_ONCE)
		schedule_run(s, planned, now);
	else
		log_info("schedule %s: runs missed while the daemon was down "
		    "are skipped (missed: skip)", id);
	s->st.next_run_at = schedule_plan(s, planned, now);
	schedule_save(s);
}

/* Settings from a stored document (its task is taken as it is). */
static int
schedule_conf_stored(json_t *doc, struct schedule_conf *c)
{
	static const char *const keep[] = {
		"name", "cron", "time_zone", "every_ms", "task", "overlap",
		"missed", "paused", NULL
	};
	json_t *body = json_object(), *errors = json_array();
	size_t i;
	int rc;

	for (i = 0; keep[i] != NULL; i++)
		json_object_set(body, keep[i], json_object_get(doc, keep[i]));
	rc = schedule_conf_parse(body, errors, c, 0);
	json_decref(body);
	json_decref(errors);
	return rc;
}

/* One stored schedule back in memory; missed runs handled. */
static int
schedule_recover_cb(const char *id, const char *text, void *arg)
{
	json_t *doc = json_loads(text, 0, NULL);
	struct schedule_conf c;
	struct schedule_state st;
	struct schedule *s;
	struct ulid uid;

	if (doc == NULL || ulid_parse(id, &uid) != 0 ||
	    schedule_conf_stored(doc, &c) != 0) {
		log_error("store: schedule %s cannot be read back; it stays in "
		    "the store untouched", id);
		json_decref(doc);
		return 0;
	}
	schedule_state_parse(doc, &st);
	json_decref(doc);
	s = schedule_new(&uid, &c);
	s->st = st;
	registry_seed(&uid);
	if (s->st.next_run_at != TASK_TIME_NONE && s->st.next_run_at <=
	    clock_now_ms())
		schedule_missed(s, clock_now_ms());
	schedule_arm(s);
	return 0;
}

/*
 * A schedule adopted from a dead node of the cluster (the store committed
 * it ours): it goes on here as after a restart; never twice in memory.
 */
void
schedule_adopt(const char *id, const char *text)
{
	struct ulid uid;

	if (schedule_stopped || (ulid_parse(id, &uid) == 0 &&
	    schedule_find(&uid) != NULL))
		return;
	schedule_recover_cb(id, text, NULL);
}

/* At start, after the tasks: every stored schedule goes on. */
void
schedule_recover(void)
{
	char *err;
	long n = store_load_schedules(schedule_recover_cb, NULL, &err);

	if (n < 0) {
		log_error("cannot recover the schedules: %s", err);
		exit(1);
	}
	if (n > 0)
		log_info("recovered %ld schedules", n);
}

/* The daemon stops: no more runs. */
void
schedule_stop(void)
{
	size_t i;

	schedule_stopped = 1;
	for (i = 0; i < schedule_n; i++)
		evtimer_del(&schedule_all[i]->timer);
}

/* Free every schedule (they are all stored). */
void
schedule_shutdown(void)
{
	size_t i;

	for (i = 0; i < schedule_n; i++)
		schedule_free(schedule_all[i]);
	free(schedule_all);
	schedule_all = NULL;
	schedule_n = schedule_cap = 0;
}
