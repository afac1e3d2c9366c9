/*
 * store-cluster.c -- what only a store shared by several nodes does
 * (PostgreSQL, CONTRACT §12), behind the store's seam so that the API and
 * sched.c never call pg_* themselves: cancel requests to another node, the
 * claim of an unplaced task, whether a live node can end a task, the
 * cluster's job slots and concurrency keys. On one node (SQLite, --memory)
 * each answers what one node needs: nothing to ask, or granted at once.
 */

#include "evtaskd.h"

/*
 * Ask owner, the node that runs task id, to cancel it (a shared store):
 * done hears 0 once the request is stored, -1 if not. -1 now if it cannot
 * be sent.
 */
int
store_cancel_remote(const struct ulid *id, const char *message,
    const char *owner, pg_events_done_cb *done, void *arg)
{
	if (!store_shared())
		return -1;
	return pg_events_cancel(id, message, owner, done, arg);
}

/*
 * Claim an unplaced task (a shared store, CONTRACT §12) to cancel it on
 * this node: done hears 1 and its document once it is ours, 0 if it was
 * not to be had, -1 on a failure. -1 now if it cannot be sent.
 */
int
store_claim_unplaced(const struct ulid *id, store_unplaced_cb *done,
    void *arg)
{
	if (!store_shared())
		return -1;
	return pg_adopt_claim_one(id, done, arg);
}

/*
 * A task's stored JSON and whether a live node can end it (a shared
 * store: its owner is alive, or a live node may adopt it: a command's
 * only with its job), through fn; NULL once answered.
 */
struct store_read *
store_endable(const struct ulid *id, store_endable_cb *fn, void *arg)
{
	if (!store_shared()) {
		fn(arg, -1, NULL, 0);
		return NULL;
	}
	return pg_endable(id, fn, arg);
}

/*
 * May task t hold its concurrency key and a slot of its job (max:
 * this node's max_concurrent) now? Either may be NULL. On one node the
 * caller's own counts decide: NULL, granted. A shared store asks the
 * cluster: the take, whose grant comes later through cb (to drop if the
 * task stops asking first).
 */
struct store_slot *
store_slot_take(struct task *t, const char *key, const char *job,
    unsigned int max, store_slot_cb *cb)
{
	if (!store_shared() || (key == NULL && job == NULL))
		return NULL;
	return pg_slots_take(t, key, job, max, cb);
}

/* The task no longer asks for its key and slot. */
void
store_slot_drop(struct store_slot *s)
{
	if (s != NULL)
		pg_slots_drop(s);
}

/* The task let go of its key and slot: they go with its next write. */
void
store_slot_release(const struct ulid *id)
{
	if (store_shared())
		pg_slots_release(id);
}

/*
 * A new task with on_conflict reject on a shared store asks the cluster
 * for its key (race-free between nodes): cb hears 0 (it holds it), 1 and
 * the id of the task in its way, or -1. NULL: it could not be asked.
 */
struct store_claim *
store_key_claim(const struct ulid *id, const char *key, store_claim_cb *cb,
    void *arg)
{
	return store_shared() ? pg_slots_claim(id, key, cb, arg) : NULL;
}

/* The claim's caller went: its answer is ignored. */
void
store_key_claim_drop(struct store_claim *c)
{
	if (c != NULL)
		pg_slots_claim_drop(c);
}

/* A new task replaces the live tasks with its key on other nodes. */
void
store_key_supersede(const struct ulid *id, const char *key)
{
	if (store_shared())
		pg_slots_supersede(id, key);
}
