/*
 * metrics.c -- counters and histograms, and their Prometheus text (format
 * 0.0.4). Counting is a few additions on the paths that change tasks; the
 * text is made only when /metrics is asked for. No per-task labels.
 */

#include "evtaskd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define METRICS_KINDS	8
#define METRICS_BUCKETS	16

/* A histogram with fixed upper bounds (in the unit of its observations). */
struct metrics_hist {
	const double	*bounds;	/* METRICS_BUCKETS - 1 finite bounds */
	uint64_t	 counts[METRICS_BUCKETS];
	double		 sum;
	uint64_t	 n;
};

/* Seconds: 50 us to 60 s. */
static const double metrics_seconds[METRICS_BUCKETS - 1] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.5, 1, 10, 60,
};

/* Timer lateness: 0.25 ms steps up to 2 ms (the 1 ms target shows), 1 s. */
static const double metrics_lateness_seconds[METRICS_BUCKETS - 1] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.00125, 0.0015,
	0.00175, 0.002, 0.005, 0.01, 0.025, 0.1, 1,
};

/* Batch sizes: 1 to 4096 tasks. */
static const double metrics_sizes[METRICS_BUCKETS - 1] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
};

static struct {
	uint64_t	created[METRICS_KINDS];
	uint64_t	finished[METRICS_KINDS][TASK_NSTATES];
	uint64_t	cancels[CANCEL_NREASONS];
	uint64_t	retries[METRICS_KINDS];
	uint64_t	schedule_runs;
	uint64_t	schedule_skipped;
	uint64_t	cleanups[METRICS_KINDS][CLEANUP_TIMED_OUT + 1];
	uint64_t	cb_attempts[METRICS_ATTEMPT_NRESULTS];
	uint64_t	cb_outcomes[CALLBACK_FAILED + 1];
} metrics;

/* The label of each way a callback attempt can end. */
static const char *const metrics_attempt_names[METRICS_ATTEMPT_NRESULTS] = {
	[METRICS_ATTEMPT_2XX] = "2xx",
	[METRICS_ATTEMPT_3XX] = "3xx",
	[METRICS_ATTEMPT_4XX] = "4xx",
	[METRICS_ATTEMPT_5XX] = "5xx",
	[METRICS_ATTEMPT_TIMEOUT] = "timeout",
	[METRICS_ATTEMPT_ERROR] = "error",
};

static struct metrics_hist metrics_cancel_lat = { metrics_seconds, {0}, 0, 0 };
static struct metrics_hist metrics_cleanup_duration = { metrics_seconds, {0}, 0, 0 };
static struct metrics_hist metrics_lateness = {
	metrics_lateness_seconds, {0}, 0, 0
};
static struct metrics_hist metrics_schedule_late = { metrics_seconds, {0}, 0, 0 };
static struct metrics_hist metrics_commit_duration = { metrics_seconds, {0}, 0, 0 };
static struct metrics_hist metrics_commit_batch = { metrics_sizes, {0}, 0, 0 };
static struct metrics_hist metrics_cb_latency = { metrics_seconds, {0}, 0, 0 };

/* Count one observation. */
static void
metrics_observe(struct metrics_hist *h, double v)
{
	int i;

	for (i = 0; i < METRICS_BUCKETS - 1 && v > h->bounds[i]; i++)
		;
	h->counts[i]++;
	h->sum += v;
	h->n++;
}

/* A task entered the daemon. */
static void
metrics_task_created(const struct task *t)
{
	metrics.created[t->kindi]++;
}

/* A cleanup ended: count its outcome and how long it took. */
static void
metrics_cleanup(const struct task *t)
{
	const struct task_extra *x = t->x;

	metrics.cleanups[t->kindi][x->cleanup_state]++;
	metrics_observe(&metrics_cleanup_duration,
	    (double)(x->cleanup_finished_at - x->cleanup_started_at) / 1000);
}

/* A task moved: count ends, cancellations started, cleanups ended. */
static void
metrics_task_moved(const struct task *t, enum task_state from)
{
	if (t->state == TASK_CANCELLING)
		metrics.cancels[t->x->cancel_reason]++;
	if (from == TASK_CANCELLING)
		metrics_cleanup(t);
	if (task_state_terminal(t->state))
		metrics.finished[t->kindi][t->state]++;
	if (t->state == TASK_SCHEDULED && from != TASK_SCHEDULED)
		metrics.retries[t->kindi]++;
}

/* The observer: every change of every task passes here. */
static void
metrics_changed(struct task *t, enum task_change what, enum task_state from)
{
	if (what == TASK_CREATED)
		metrics_task_created(t);
	else if (what == TASK_MOVED)
		metrics_task_moved(t, from);
}

const struct task_observer metrics_observer = { "metrics", metrics_changed };

/* How late a deadline fired, in microseconds. */
void
metrics_timer_lateness(int64_t us)
{
	metrics_observe(&metrics_lateness, (double)(us > 0 ? us : 0) / 1e6);
}

/* A schedule made a run lateness_us after its planned time. */
void
metrics_schedule_run(int64_t lateness_us)
{
	metrics.schedule_runs++;
	metrics_observe(&metrics_schedule_late,
	    (double)(lateness_us > 0 ? lateness_us : 0) / 1e6);
}

/* A schedule skipped a run (overlap skip, or missed while down). */
void
metrics_schedule_skipped(void)
{
	metrics.schedule_skipped++;
}

/* A commit took us microseconds for n tasks. */
void
metrics_commit(int64_t us, size_t n)
{
	metrics_observe(&metrics_commit_duration, (double)us / 1e6);
	metrics_observe(&metrics_commit_batch, (double)n);
}

/* A cancel request was answered us microseconds after it came. */
void
metrics_cancel_latency(int64_t us)
{
	metrics_observe(&metrics_cancel_lat, (double)us / 1e6);
}

/* A callback delivery attempt ended (how), after us microseconds. */
void
metrics_callback_attempt(enum metrics_attempt how, int64_t us)
{
	metrics.cb_attempts[how]++;
	metrics_observe(&metrics_cb_latency, (double)us / 1e6);
}

/* A callback delivery ended: delivered, or failed for good. */
void
metrics_callback_outcome(enum callback_state how)
{
	metrics.cb_outcomes[how]++;
}

/* HELP and TYPE lines of a family. */
static void
metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram family. */
static void
metrics_print_hist(FILE *f, const char *name, const char *help,
    const struct metrics_hist *h)
{
	uint64_t cum = 0;
	int i;

	metrics_family(f, name, "histogram", help);
	for (i = 0; i < METRICS_BUCKETS - 1; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
		    h->bounds[i], cum);
	}
	cum += h->counts[METRICS_BUCKETS - 1];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	fprintf(f, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, h->sum, name,
	    h->n);
}

/* The task families. */
static void
metrics_print_tasks(FILE *f)
{
	size_t k;
	int s;

	metrics_family(f, "evtaskd_tasks_created_total", "counter",
	    "Tasks created, by kind.");
	for (k = 0; k < kind_count(); k++)
		fprintf(f, "evtaskd_tasks_created_total{kind=\"%s\"} %" PRIu64
		    "\n", kind_name(k), metrics.created[k]);
	metrics_family(f, "evtaskd_tasks_finished_total", "counter",
	    "Tasks that reached a terminal state, by kind and state.");
	for (k = 0; k < kind_count(); k++) {
		for (s = TASK_SUCCEEDED; s < TASK_NSTATES; s++)
			fprintf(f, "evtaskd_tasks_finished_total{kind=\"%s\","
			    "state=\"%s\"} %" PRIu64 "\n", kind_name(k),
			    task_state_name(s), metrics.finished[k][s]);
	}
	metrics_family(f, "evtaskd_tasks_active", "gauge",
	    "Tasks not yet finished, by state.");
	for (s = TASK_SCHEDULED; s <= TASK_CANCELLING; s++)
		fprintf(f, "evtaskd_tasks_active{state=\"%s\"} %" PRIu64 "\n",
		    task_state_name(s), registry_count(s));
	metrics_family(f, "evtaskd_cancellations_total", "counter",
	    "Cancellations started, by reason.");
	for (s = CANCEL_CLIENT; s < CANCEL_NREASONS; s++)
		fprintf(f, "evtaskd_cancellations_total{reason=\"%s\"} %"
		    PRIu64 "\n", task_reason_name(s), metrics.cancels[s]);
	metrics_family(f, "evtaskd_task_retries_total", "counter",
	    "Attempts that failed or timed out and wait for a retry, by kind.");
	for (k = 0; k < kind_count(); k++)
		fprintf(f, "evtaskd_task_retries_total{kind=\"%s\"} %" PRIu64
		    "\n", kind_name(k), metrics.retries[k]);
	metrics_family(f, "evtaskd_tasks_superseded_total", "counter",
	    "Tasks cancelled because a newer task or run replaced them.");
	fprintf(f, "evtaskd_tasks_superseded_total %" PRIu64 "\n",
	    metrics.cancels[CANCEL_SUPERSEDED]);
	metrics_family(f, "evtaskd_schedule_runs_total", "counter",
	    "Tasks made by recurring schedules.");
	fprintf(f, "evtaskd_schedule_runs_total %" PRIu64 "\n",
	    metrics.schedule_runs);
	metrics_family(f, "evtaskd_schedule_skipped_runs_total", "counter",
	    "Runs of schedules skipped (overlap skip, or missed while down).");
	fprintf(f, "evtaskd_schedule_skipped_runs_total %" PRIu64 "\n",
	    metrics.schedule_skipped);
	metrics_family(f, "evtaskd_cleanups_total", "counter",
	    "Cleanups ended, by kind and outcome.");
	for (k = 0; k < kind_count(); k++) {
		for (s = CLEANUP_SUCCEEDED; s <= CLEANUP_TIMED_OUT; s++)
			fprintf(f, "evtaskd_cleanups_total{kind=\"%s\","
			    "outcome=\"%s\"} %" PRIu64 "\n", kind_name(k),
			    task_cleanup_name(s), metrics.cleanups[k][s]);
	}
}

/* The HTTP and store families. */
static void
metrics_print_http(FILE *f, const struct metrics_http *hs)
{
	static const char *const classes[] = {
		"other", "1xx", "2xx", "3xx", "4xx", "5xx"
	};
	int i;

	metrics_family(f, "evtaskd_http_requests_total", "counter",
	    "HTTP requests answered, by status class.");
	for (i = 1; i < 6; i++)
		fprintf(f, "evtaskd_http_requests_total{code=\"%s\"} %" PRIu64
		    "\n", classes[i], hs->by_class[i]);
	metrics_family(f, "evtaskd_http_connections", "gauge",
	    "Open HTTP connections.");
	fprintf(f, "evtaskd_http_connections %" PRIu64 "\n", hs->connections);
	metrics_family(f, "evtaskd_http_connections_closed_total", "counter",
	    "Connections closed by us: no whole request within "
	    "request_timeout_s, or room made at max_connections.");
	fprintf(f, "evtaskd_http_connections_closed_total{reason="
	    "\"request_timeout\"} %" PRIu64 "\n", hs->timed_out);
	fprintf(f, "evtaskd_http_connections_closed_total{reason="
	    "\"make_room\"} %" PRIu64 "\n", hs->evicted);
	metrics_family(f, "evtaskd_http_accept_failures_total", "counter",
	    "accept() calls that found no descriptor or memory.");
	fprintf(f, "evtaskd_http_accept_failures_total %" PRIu64 "\n",
	    hs->accept_refused);
	metrics_family(f, "evtaskd_http_parked_requests", "gauge",
	    "Requests waiting for a commit, a task's end or stream data.");
	fprintf(f, "evtaskd_http_parked_requests %" PRIu64 "\n", hs->parked);
	metrics_family(f, "evtaskd_event_subscribers", "gauge",
	    "Open event streams.");
	fprintf(f, "evtaskd_event_subscribers %" PRIu64 "\n",
	    hs->subscribers);
}

/* The callback families (the outbox's figures come from the API layer). */
static void
metrics_print_callbacks(FILE *f, const struct metrics_http *hs)
{
	int i;

	metrics_family(f, "evtaskd_callback_attempts_total", "counter",
	    "Callback delivery attempts, by result (status class, timeout, "
	    "error).");
	for (i = 0; i < METRICS_ATTEMPT_NRESULTS; i++)
		fprintf(f, "evtaskd_callback_attempts_total{result=\"%s\"} %"
		    PRIu64 "\n", metrics_attempt_names[i],
		    metrics.cb_attempts[i]);
	metrics_family(f, "evtaskd_callback_deliveries_total", "counter",
	    "Callback deliveries ended, by outcome.");
	for (i = CALLBACK_DELIVERED; i <= CALLBACK_FAILED; i++)
		fprintf(f, "evtaskd_callback_deliveries_total{outcome=\"%s\"} %"
		    PRIu64 "\n", task_callback_state_name(i),
		    metrics.cb_outcomes[i]);
	metrics_family(f, "evtaskd_callback_outbox", "gauge",
	    "Callback deliveries pending (neither delivered nor given up).");
	fprintf(f, "evtaskd_callback_outbox %" PRIu64 "\n", hs->outbox);
	metrics_family(f, "evtaskd_callback_in_flight", "gauge",
	    "Callback delivery attempts running now.");
	fprintf(f, "evtaskd_callback_in_flight %" PRIu64 "\n",
	    hs->callbacks_in_flight);
}

/* The whole exposition (to free), with the API layer's figures. */
char *
metrics_render(const struct metrics_http *hs, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);

	if (f == NULL)
		fatalx("open_memstream failed");
	metrics_print_tasks(f);
	metrics_print_http(f, hs);
	metrics_print_callbacks(f, hs);
	metrics_print_hist(f, "evtaskd_cancel_latency_seconds",
	    "From a cancel request to its answer.", &metrics_cancel_lat);
	metrics_print_hist(f, "evtaskd_cleanup_duration_seconds",
	    "How long cleanups ran.", &metrics_cleanup_duration);
	metrics_print_hist(f, "evtaskd_timer_lateness_seconds",
	    "How late task deadlines fired.", &metrics_lateness);
	metrics_print_hist(f, "evtaskd_schedule_lateness_seconds",
	    "How late schedule runs were made after their planned time.",
	    &metrics_schedule_late);
	metrics_print_hist(f, "evtaskd_store_commit_duration_seconds",
	    "Store commits (one per loop pass with changes).",
	    &metrics_commit_duration);
	metrics_print_hist(f, "evtaskd_store_commit_batch_size",
	    "Tasks written per store commit.", &metrics_commit_batch);
	metrics_print_hist(f, "evtaskd_callback_latency_seconds",
	    "Callback delivery attempts, from start to answer or failure.",
	    &metrics_cb_latency);
	fclose(f);
	return out;
}
