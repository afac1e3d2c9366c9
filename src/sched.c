/*
 * sched.c -- the one place that decides when a scheduled task may start:
 * its start time has come (task.c's timer asks here), its concurrency key
 * is free (at most one task per key runs or cancels, first come first
 * served), a slot of its job is free (max_concurrent), and the back-off of
 * a retry (sched_backoff_ms). A task waiting for a key or a slot sits in
 * exactly one queue, in id order; when a holder leaves, the next one
 * starts from here.
 *
 * A key waiter first becomes the key's holder, then waits for a slot:
 * FIFO per key and per job, together.
 *
 * On a store shared by a cluster (CONTRACT §12) a task that holds its key
 * and slot here asks the store too (store_slot_take: pg-slots.c) before
 * it starts, so the limits hold across nodes; it waits scheduled (queued)
 * until the cluster grants them, and lets them go (store_slot_release)
 * where it lets go of them here. On one node the store answers at once.
 */

#include "evtaskd.h"

#include <stdlib.h>
#include <string.h>

#define SCHED_HASH_MIN	64

TAILQ_HEAD(sched_tailq, task_policy);

/* Tasks waiting in id order for one thing (a key, or a job's slot). */
struct sched_queue {
	struct sched_tailq	 q;
	unsigned int		 n;
};

/* A concurrency key: its holder, its waiters, every live task with it. */
struct sched_key {
	char			*name;
	struct task		*holder;	/* running, cancelling, reserved */
	struct sched_queue	 waiting;
	LIST_HEAD(, task_policy) members;	/* not yet terminal */
	struct sched_key	*next;		/* in its hash chain */
};

/* The slots and counts of one job (by name: they outlive reloads). */
struct sched_slots {
	char			*name;
	unsigned int		 used;		/* slots taken (max_concurrent) */
	unsigned int		 running;	/* running or cancelling */
	unsigned int		 asking;	/* holding a slot here, waiting
						   for the cluster's */
	struct sched_queue	 waiting;
	LIST_ENTRY(sched_slots)	 entry;
};

static struct sched_key		**sched_keys;	/* hash table, chained */
static size_t			 sched_nbuckets, sched_nkeys;
static LIST_HEAD(, sched_slots)	 sched_all = LIST_HEAD_INITIALIZER(sched_all);

static void	sched_try_slot(struct task *);

/* Nothing to set up on the loop yet; the tables are made on first use. */
void
sched_init(struct event_base *base)
{
	(void)base;
}

/*
 * The back-off before attempt+1 after attempt failed: backoff_ms doubling
 * each time up to max_backoff_ms; with jitter a random 50-100 % of that
 * (rnd in [0, 1)).
 */
int64_t
sched_backoff_ms(const struct retry_policy *r, int attempt, double rnd)
{
	int64_t ms = r->backoff_ms;
	int i;

	for (i = 1; i < attempt && ms < r->max_backoff_ms; i++)
		ms *= 2;
	if (ms > r->max_backoff_ms)
		ms = r->max_backoff_ms;
	if (r->jitter)
		ms = ms / 2 + (int64_t)((double)(ms - ms / 2) * rnd);
	return ms;
}

/* FNV-1a of a key's name. */
static size_t
sched_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

/* Double the hash table once it is as full as it is wide. */
static void
sched_rehash(void)
{
	size_t n = sched_nbuckets == 0 ? SCHED_HASH_MIN : sched_nbuckets * 2;
	struct sched_key **b = xcalloc(n, sizeof *b), *k, *next;
	size_t i;

	for (i = 0; i < sched_nbuckets; i++) {
		for (k = sched_keys[i]; k != NULL; k = next) {
			next = k->next;
			k->next = b[sched_hash(k->name) % n];
			b[sched_hash(k->name) % n] = k;
		}
	}
	free(sched_keys);
	sched_keys = b;
	sched_nbuckets = n;
}

/* A queue, empty. */
static void
sched_queue_init(struct sched_queue *q)
{
	TAILQ_INIT(&q->q);
	q->n = 0;
}

/* The state of a key, made on first use. */
static struct sched_key *
sched_key(const char *name)
{
	struct sched_key *k;
	size_t h;

	if (sched_nkeys >= sched_nbuckets)
		sched_rehash();
	h = sched_hash(name) % sched_nbuckets;
	for (k = sched_keys[h]; k != NULL; k = k->next) {
		if (strcmp(k->name, name) == 0)
			return k;
	}
	k = xcalloc(1, sizeof *k);
	k->name = xstrdup(name);
	sched_queue_init(&k->waiting);
	LIST_INIT(&k->members);
	k->next = sched_keys[h];
	sched_keys[h] = k;
	sched_nkeys++;
	return k;
}

/* The one place a key's state is freed: once nobody has the key. */
static void
sched_key_drop(struct sched_key *k)
{
	struct sched_key **p;

	if (k->holder != NULL || k->waiting.n > 0 ||
	    !LIST_EMPTY(&k->members))
		return;
	p = &sched_keys[sched_hash(k->name) % sched_nbuckets];
	while (*p != k)
		p = &(*p)->next;
	*p = k->next;
	sched_nkeys--;
	free(k->name);
	free(k);
}

/* The slots of a job name, made on first use. */
static struct sched_slots *
sched_slots(const char *name)
{
	struct sched_slots *s;

	LIST_FOREACH(s, &sched_all, entry) {
		if (strcmp(s->name, name) == 0)
			return s;
	}
	s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	sched_queue_init(&s->waiting);
	LIST_INSERT_HEAD(&sched_all, s, entry);
	return s;
}

/* The job a task runs (NULL: none, as for sleep tasks). */
static const char *
sched_job_name(const struct task *t)
{
	return task_kind(t)->job != NULL ? task_kind(t)->job(t) : NULL;
}

/* The configured max_concurrent of a task's job (0: no limit). */
static unsigned int
sched_max(const struct task *t)
{
	const char *name = sched_job_name(t);
	struct job *j = name != NULL ? config_job(name) : NULL;

	return j != NULL ? j->max_concurrent : 0;
}

/* Wait in a queue, in id order (usually the newest: from the tail). */
static void
sched_enqueue(struct sched_queue *q, struct task *t)
{
	struct task_policy *p = task_policy(t), *o;

	TAILQ_FOREACH_REVERSE(o, &q->q, sched_tailq, wait_entry) {
		if (ulid_cmp(&o->task->id, &t->id) < 0)
			break;
	}
	if (o == NULL)
		TAILQ_INSERT_HEAD(&q->q, p, wait_entry);
	else
		TAILQ_INSERT_AFTER(&q->q, o, p, wait_entry);
	q->n++;
	p->waitq = q;
	t->queued = 1;
}

/* The task stops waiting for the cluster's answer (a shared store). */
static void
sched_unask(struct task *t)
{
	struct task_policy *p = TASK_POL(t);

	if (p == NULL || p->ask == NULL)
		return;
	store_slot_drop(p->ask);
	p->ask = NULL;
	t->queued = 0;
	if (p->ask_job)
		sched_slots(sched_job_name(t))->asking--;
	p->ask_job = 0;
}

/* Leave whatever queue the task waits in, or its wait for the cluster. */
void
sched_unqueue(struct task *t)
{
	struct task_policy *p = TASK_POL(t);

	sched_unask(t);
	if (p == NULL || p->waitq == NULL)
		return;
	TAILQ_REMOVE(&p->waitq->q, p, wait_entry);
	p->waitq->n--;
	p->waitq = NULL;
	t->queued = 0;
	if (p->sk != NULL)
		sched_key_drop(p->sk);
}

/* Take a slot of the task's job if one is free and nobody waits first. */
static int
sched_take_slot(struct task *t)
{
	unsigned int max = sched_max(t);
	struct sched_slots *s;

	if (max == 0)
		return 1;
	s = sched_slots(sched_job_name(t));
	if (s->used >= max || s->waiting.n > 0)
		return 0;
	s->used++;
	task_policy(t)->has_slot = 1;
	return 1;
}

/* Become the holder of the task's key if it is free and nobody waits. */
static int
sched_take_key(struct task *t)
{
	struct sched_key *k = TASK_POL(t) != NULL ? TASK_POL(t)->sk : NULL;

	if (k == NULL || k->holder == t)
		return 1;
	if (k->holder != NULL || k->waiting.n > 0)
		return 0;
	k->holder = t;
	TASK_POL(t)->holds_key = 1;
	return 1;
}

/*
 * The cluster granted the task its key and slot: it starts now. Or it
 * refused them for now: the task waits (its create may answer).
 */
static void
sched_granted_cb(struct task *t, int granted)
{
	struct task_policy *p = task_policy(t);

	p->told = 1;
	if (!granted)
		return;
	p->ask = NULL;
	t->queued = 0;
	if (p->ask_job)
		sched_slots(sched_job_name(t))->asking--;
	p->ask_job = 0;
	if (t->state == TASK_SCHEDULED && !task_held())
		task_start(t);
}

/*
 * The task holds its key and slot here: 1 if it may start now, else 0
 * and it waits (queued) for the cluster's grant (a shared store).
 */
static int
sched_ask(struct task *t)
{
	struct task_policy *p = TASK_POL(t);
	const char *job;

	if (p == NULL || (!p->holds_key && !p->has_slot))
		return 1;
	job = p->has_slot && sched_max(t) > 0 ? sched_job_name(t) : NULL;
	p->ask = store_slot_take(t, p->holds_key ? p->key : NULL, job,
	    sched_max(t), sched_granted_cb);
	if (p->ask == NULL)
		return 1;
	p->cluster = 1;
	p->told = 0;
	p->ask_job = job != NULL;
	if (job != NULL)
		sched_slots(job)->asking++;
	t->queued = 1;
	return 0;
}

/*
 * The start time of a task came: 1 if it may start now (it holds its key
 * and a slot), else 0 and it waits in a queue until sched_release, or for
 * the cluster.
 */
int
sched_due(struct task *t)
{
	if (!sched_take_key(t)) {
		sched_enqueue(&TASK_POL(t)->sk->waiting, t);
		return 0;
	}
	if (!sched_take_slot(t)) {
		sched_enqueue(&sched_slots(sched_job_name(t))->waiting, t);
		return 0;
	}
	return sched_ask(t);
}

/* Join the members of the task's key (a new or recovered task). */
static void
sched_join(struct task *t)
{
	struct task_policy *p = TASK_POL(t);

	if (p == NULL || p->key == NULL || p->member)
		return;
	p->task = t;
	p->sk = sched_key(p->key);
	LIST_INSERT_HEAD(&p->sk->members, p, member_entry);
	p->member = 1;
}

/* Collect a key's live members other than t (to cancel them). */
static struct task **
sched_others(struct sched_key *k, struct task *t, size_t *n)
{
	struct task_policy *p;
	struct task **v;
	size_t cap = 0;

	*n = 0;
	LIST_FOREACH(p, &k->members, member_entry)
		cap++;
	v = xcalloc(cap + 1, sizeof *v);
	LIST_FOREACH(p, &k->members, member_entry) {
		if (p->task != t)
			v[(*n)++] = p->task;
	}
	return v;
}

/*
 * A new task enters: it joins its key; with on_conflict "replace" every
 * other live task with the key is cancelled (reason superseded, message
 * the new task's id), those of other nodes by their owners (a shared
 * store); the new one waits for their cleanups.
 */
void
sched_submit(struct task *t)
{
	struct task_policy *p;
	char id[ULID_LEN + 1];
	struct task **v;
	size_t i, n;

	sched_join(t);
	p = TASK_POL(t);
	if (p == NULL || p->sk == NULL || p->on_conflict != CONFLICT_REPLACE)
		return;
	ulid_format(&t->id, id);
	store_key_supersede(&t->id, p->key);
	v = sched_others(p->sk, t, &n);
	for (i = 0; i < n; i++)
		task_ref(v[i]);
	for (i = 0; i < n; i++) {
		task_cancel(v[i], CANCEL_SUPERSEDED, id);
		task_unref(v[i]);
	}
	free(v);
}

/*
 * The task that stands in a new task's way with on_conflict "reject": the
 * key's holder, else its oldest live task; NULL if the key is free.
 */
struct task *
sched_conflict(struct task *t)
{
	struct task_policy *p = TASK_POL(t), *m, *oldest = NULL;
	struct sched_key *k;

	if (p == NULL || p->key == NULL || sched_nbuckets == 0)
		return NULL;
	for (k = sched_keys[sched_hash(p->key) % sched_nbuckets]; k != NULL;
	    k = k->next) {
		if (strcmp(k->name, p->key) == 0)
			break;
	}
	if (k == NULL)
		return NULL;
	if (k->holder != NULL)
		return k->holder;
	LIST_FOREACH(m, &k->members, member_entry) {
		if (oldest == NULL || ulid_cmp(&m->task->id,
		    &oldest->task->id) < 0)
			oldest = m;
	}
	return oldest != NULL ? oldest->task : NULL;
}

/* The task started running: it counts for its job. */
void
sched_started(struct task *t)
{
	const char *job = sched_job_name(t);

	if (job == NULL || (TASK_POL(t) != NULL && TASK_POL(t)->counted))
		return;
	task_policy(t)->counted = 1;
	sched_slots(job)->running++;
}

/* Start the next waiters of a job whose slot came free. */
static void
sched_wake_slots(struct sched_slots *s)
{
	struct task_policy *p;
	unsigned int max;

	while (!task_held() && (p = TAILQ_FIRST(&s->waiting.q)) != NULL) {
		max = sched_max(p->task);
		if (max != 0 && s->used >= max)
			break;
		sched_unqueue(p->task);
		s->used++;
		p->has_slot = 1;
		if (sched_ask(p->task))
			task_start(p->task);
	}
}

/* The first waiter of a key becomes its holder, then waits for a slot. */
static void
sched_wake_key(struct sched_key *k)
{
	struct task_policy *p;
	struct task *t;

	if (task_held() || k->holder != NULL ||
	    (p = TAILQ_FIRST(&k->waiting.q)) == NULL)
		return;
	t = p->task;
	TAILQ_REMOVE(&k->waiting.q, p, wait_entry);
	k->waiting.n--;
	p->waitq = NULL;
	t->queued = 0;
	k->holder = t;
	p->holds_key = 1;
	sched_try_slot(t);
}

/* A key holder wants a slot: start it now, or queue it for one. */
static void
sched_try_slot(struct task *t)
{
	if (sched_take_slot(t)) {
		if (sched_ask(t))
			task_start(t);
		return;
	}
	sched_enqueue(&sched_slots(sched_job_name(t))->waiting, t);
}

/*
 * The task no longer runs or cancels (it ended, or waits for a retry): its
 * slot, its count and its key go to whoever waits first.
 */
void
sched_release(struct task *t)
{
	struct task_policy *p = TASK_POL(t);
	struct sched_slots *s = NULL;
	struct sched_key *k;

	if (p == NULL)
		return;
	sched_unask(t);
	if (p->cluster)
		store_slot_release(&t->id);	/* with its next write */
	p->cluster = 0;
	if (p->counted || p->has_slot)
		s = sched_slots(sched_job_name(t));
	if (p->counted)
		s->running--;
	p->counted = 0;
	if (p->has_slot)
		s->used--;
	if (p->holds_key)
		p->sk->holder = NULL;
	k = p->holds_key ? p->sk : NULL;
	p->holds_key = 0;
	if (p->has_slot) {
		p->has_slot = 0;
		sched_wake_slots(s);
	}
	if (k != NULL) {
		sched_wake_key(k);
		sched_key_drop(k);
	}
}

/* The task reached its terminal state: it leaves its key for good. */
void
sched_ended(struct task *t)
{
	struct task_policy *p = TASK_POL(t);

	if (p == NULL)
		return;
	sched_unqueue(t);
	sched_release(t);
	if (p->member) {
		LIST_REMOVE(p, member_entry);
		p->member = 0;
		sched_key_drop(p->sk);
	}
}

/*
 * A task read back after a restart: it joins its key; a running or
 * cancelling one holds its key, a slot, and counts for its job.
 */
void
sched_recover(struct task *t)
{
	struct task_policy *p;

	sched_join(t);
	if (t->state != TASK_RUNNING && t->state != TASK_CANCELLING)
		return;
	sched_started(t);
	if (sched_max(t) > 0) {
		sched_slots(sched_job_name(t))->used++;
		task_policy(t)->has_slot = 1;
	}
	p = TASK_POL(t);
	if (p != NULL && p->sk != NULL && p->sk->holder == NULL) {
		p->sk->holder = t;
		p->holds_key = 1;
	}
	if (p != NULL && (p->has_slot || p->key != NULL))
		p->cluster = 1;		/* its rows are in a shared store */
}

/* The task leaves memory (freed, or withdrawn): nothing of it stays. */
void
sched_forget(struct task *t)
{
	struct task_policy *p = TASK_POL(t);

	if (p == NULL)
		return;
	sched_unqueue(t);
	if (p->cluster)
		store_slot_release(&t->id);
	p->cluster = 0;
	if (p->counted || p->has_slot) {
		if (p->counted)
			sched_slots(sched_job_name(t))->running--;
		if (p->has_slot)
			sched_slots(sched_job_name(t))->used--;
	}
	p->counted = p->has_slot = 0;
	if (p->holds_key && p->sk->holder == t)
		p->sk->holder = NULL;
	p->holds_key = 0;
	if (p->member) {
		LIST_REMOVE(p, member_entry);
		p->member = 0;
		sched_key_drop(p->sk);
	}
}

/*
 * A job's tasks that are running or cancelling, and those due and waiting
 * for a slot (GET /v1/jobs).
 */
void
sched_job_counts(const char *name, unsigned int *running,
    unsigned int *queued)
{
	struct sched_slots *s;

	*running = *queued = 0;
	LIST_FOREACH(s, &sched_all, entry) {
		if (strcmp(s->name, name) == 0) {
			*running = s->running;
			*queued = s->waiting.n + s->asking;
			return;
		}
	}
}

/*
 * A new task claimed its key in the cluster (on_conflict reject, a shared
 * store): that claim goes where its key goes (sched_release), or with its
 * creation when it starts later.
 */
void
sched_claimed(struct task *t)
{
	if (t->start_at > clock_now_ms()) {
		/* Not due yet: its stored document stands for it from the
		 * create's commit on, and the claim goes with that write. */
		store_slot_release(&t->id);
		return;
	}
	task_policy(t)->cluster = 1;
}

/*
 * Is the task waiting for the cluster's first answer on its key and slot?
 * (Its create answers with that decision: running, or scheduled.)
 */
int
sched_deciding(const struct task *t)
{
	const struct task_policy *p = TASK_POL(t);

	return p != NULL && p->ask != NULL && !p->told;
}

/* Let go of every table at exit (the tasks were freed before). */
void
sched_shutdown(void)
{
	struct sched_slots *s;
	struct sched_key *k;
	size_t i;

	while ((s = LIST_FIRST(&sched_all)) != NULL) {
		LIST_REMOVE(s, entry);
		free(s->name);
		free(s);
	}
	for (i = 0; i < sched_nbuckets; i++) {
		while ((k = sched_keys[i]) != NULL) {
			sched_keys[i] = k->next;
			free(k->name);
			free(k);
		}
	}
	free(sched_keys);
	sched_keys = NULL;
	sched_nbuckets = sched_nkeys = 0;
}
