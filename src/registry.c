/*
 * registry.c -- the daemon's sequence of task ids (monotonic ULIDs: see
 * ulid.c for their form), the table of tasks in memory (O(1) lookup by id),
 * and the counts of tasks by state.
 */

#include "evtaskd.h"

#include <string.h>
#include <sys/random.h>

#define REGISTRY_MIN_SLOTS 1024

static struct task	**registry_slots;	/* open addressing */
static size_t		  registry_mask;
static size_t		  registry_used;
static uint64_t		  registry_counts[TASK_NSTATES];
static struct ulid	  registry_last;	/* the newest id given out */
static uint64_t		  registry_rng[2];	/* xorshift128+ state */
static registry_miss_cb	 *registry_miss_fn;	/* recovery still loads */
static void		(*registry_all_fn)(void);
static int		  registry_missing;	/* inside registry_miss_fn */

/* A fast PRNG for the random part: ids are unique, not secret. */
static uint64_t
registry_random(void)
{
	uint64_t s1 = registry_rng[0];
	const uint64_t s0 = registry_rng[1];

	if (s1 == 0 && s0 == 0) {
		if (getrandom(registry_rng, sizeof registry_rng, 0) !=
		    (ssize_t)sizeof registry_rng)
			registry_rng[0] = (uint64_t)clock_mono_us() | 1;
		return registry_random();
	}
	registry_rng[0] = s0;
	s1 ^= s1 << 23;
	registry_rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return registry_rng[1] + s0;
}

/* Add one to the 80 random bits; 1 on overflow. */
static int
registry_increment(struct ulid *id)
{
	int i;

	for (i = 15; i >= 6; i--) {
		if (++id->b[i] != 0)
			return 0;
	}
	return 1;
}

/* Fill the time and random parts of id. */
static void
registry_fill(struct ulid *id, int64_t ms)
{
	uint64_t r1 = registry_random(), r2 = registry_random();
	int i;

	for (i = 5; i >= 0; i--, ms >>= 8)
		id->b[i] = (uint8_t)ms;
	memcpy(id->b + 6, &r1, 8);
	memcpy(id->b + 14, &r2, 2);
	id->b[6] &= 0x7f;	/* room to increment within one ms */
}

/*
 * The next id: time-ordered, and strictly greater than every id given out
 * before, also within one millisecond and when the clock steps back.
 */
void
registry_next_id(struct ulid *id)
{
	int64_t now = clock_now_ms(), last = ulid_time_ms(&registry_last);

	if (now > last)
		registry_fill(&registry_last, now);
	else if (registry_increment(&registry_last))
		registry_fill(&registry_last, last + 1);
	*id = registry_last;
}

/* Ids given out from now on are greater than id (the newest stored). */
void
registry_seed(const struct ulid *id)
{
	if (ulid_cmp(id, &registry_last) > 0)
		registry_last = *id;
}

/*
 * The home slot of an id. Ids made in one millisecond differ only in their
 * last bits (monotonic increments), so every byte is mixed in (the
 * splitmix64 finalizer): taking raw bits made long probe runs.
 */
static size_t
registry_home(const struct ulid *id)
{
	uint64_t a, b, h;

	memcpy(&a, id->b, sizeof a);
	memcpy(&b, id->b + 8, sizeof b);
	h = a ^ (b * 0x9e3779b97f4a7c15ULL);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return (size_t)h & registry_mask;
}

/* The slot where id lives or would live. */
static size_t
registry_slot(const struct ulid *id)
{
	size_t i;

	for (i = registry_home(id); registry_slots[i] != NULL;
	    i = (i + 1) & registry_mask) {
		if (ulid_cmp(&registry_slots[i]->id, id) == 0)
			break;
	}
	return i;
}

/* Double the table (or create it). */
static void
registry_grow(void)
{
	struct task **old = registry_slots;
	size_t n = registry_mask + 1, i;

	if (old == NULL)
		n = REGISTRY_MIN_SLOTS / 2;
	registry_slots = xcalloc(n * 2, sizeof *registry_slots);
	registry_mask = n * 2 - 1;
	if (old == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (old[i] != NULL)
			registry_slots[registry_slot(&old[i]->id)] = old[i];
	}
	free(old);
}

/* Add a task to the table and the counts. */
void
registry_add(struct task *t)
{
	if (registry_slots == NULL || (registry_used + 1) * 4 >
	    (registry_mask + 1) * 3)
		registry_grow();
	registry_slots[registry_slot(&t->id)] = t;
	registry_used++;
	registry_counts[t->state]++;
}

/* Find a task in memory by id. */
struct task *
registry_has(const struct ulid *id)
{
	if (registry_slots == NULL)
		return NULL;
	return registry_slots[registry_slot(id)];
}

/*
 * The task of an id, or NULL. While recovery still loads the stored
 * tasks, a task not in memory yet is loaded first: "not in memory" still
 * means "ended or unknown" to every caller.
 */
struct task *
registry_find(const struct ulid *id)
{
	struct task *t = registry_has(id);

	if (t != NULL || registry_miss_fn == NULL || registry_missing)
		return t;
	registry_missing = 1;
	registry_miss_fn(id);
	registry_missing = 0;
	return registry_has(id);
}

/*
 * While recovery loads: miss loads one task by id, all loads the rest
 * (NULL, NULL: everything is in memory).
 */
void
registry_on_miss(registry_miss_cb *miss, void (*all)(void))
{
	registry_miss_fn = miss;
	registry_all_fn = all;
}

/* Every stored task that had not ended is in memory after this. */
void
registry_complete(void)
{
	if (registry_all_fn != NULL)
		registry_all_fn();
}

/* Remove a task from the table (backward-shift deletion). */
void
registry_remove(struct task *t)
{
	size_t i, j, k;

	if (registry_slots == NULL)
		return;
	i = registry_slot(&t->id);
	if (registry_slots[i] != t)
		return;
	registry_counts[t->state]--;
	registry_used--;
	registry_slots[i] = NULL;
	for (j = (i + 1) & registry_mask; registry_slots[j] != NULL;
	    j = (j + 1) & registry_mask) {
		k = registry_home(&registry_slots[j]->id);
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			registry_slots[i] = registry_slots[j];
			registry_slots[j] = NULL;
			i = j;
		}
	}
}

/* A task moved between states: keep the counts. */
void
registry_count_move(enum task_state from, enum task_state to)
{
	registry_counts[from]--;
	registry_counts[to]++;
}

/* How many tasks in memory are in this state. */
uint64_t
registry_count(enum task_state s)
{
	return registry_counts[s];
}

/* Tasks not yet in a terminal state. */
uint64_t
registry_active(void)
{
	return registry_counts[TASK_SCHEDULED] + registry_counts[TASK_RUNNING] +
	    registry_counts[TASK_CANCELLING];
}

/* Call fn for every task in memory (recovery, shutdown: never per request). */
void
registry_each(void (*fn)(struct task *, void *), void *arg)
{
	struct task **copy;
	size_t i, n = 0;

	if (registry_slots == NULL)
		return;
	/* fn may remove tasks: walk a snapshot. */
	copy = xcalloc(registry_used + 1, sizeof *copy);
	for (i = 0; i <= registry_mask; i++) {
		if (registry_slots[i] != NULL)
			copy[n++] = registry_slots[i];
	}
	for (i = 0; i < n; i++)
		fn(copy[i], arg);
	free(copy);
}
