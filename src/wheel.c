/*
 * wheel.c -- a hashed timing wheel for the deadlines of many objects (the
 * tasks): O(1) add and cancel, one libevent timer for all of them, and 24
 * bytes in each object instead of a 128-byte struct event in libevent's
 * binary heap. Times are milliseconds since the epoch, the unit of every
 * task time; an entry fires in the first run at or after its millisecond,
 * never before.
 *
 * Level 0 has one slot per millisecond for the block of 4096 ms the wheel
 * is in and the next one; each level-0 slot holds entries of one
 * millisecond only, so a run fires whole slots without comparing. Later
 * entries hang in level 1, one slot per block, hashed: a slot holds its
 * block and the blocks 4096, 8192 ... after it (4.7 hours a round).
 * Entering a block takes the level-1 slot of the block after it, and its
 * entries move down to level 0 a few hundred a run while the wheel is in
 * the block (all at once would stall the loop: a million tasks due within
 * a minute are 70 000 a block); the later rounds go back, so a far entry is
 * looked at once in 4.7 hours. Entries added for a time already run wait
 * in a due list.
 */

#include "evtaskd.h"

#include <event2/event.h>

#define WHEEL_BLOCK_BITS	12
#define WHEEL_BLOCK		((int64_t)1 << WHEEL_BLOCK_BITS)	/* ms */
#define WHEEL_L0		(2 * WHEEL_BLOCK)	/* 1 ms slots */
#define WHEEL_L1		((int64_t)4096)		/* block slots */
#define WHEEL_WORDS		(WHEEL_L0 / 64)
#define WHEEL_TRICKLE		256	/* entries moved down per run */

struct wheel {
	struct wheel_node	 l0[WHEEL_L0];	/* list heads, 1 ms each */
	struct wheel_node	 l1[WHEEL_L1];	/* list heads, a block each */
	struct wheel_node	 due;		/* added for a time already run */
	struct wheel_node	 coming;	/* the next block's, moving down */
	uint64_t		 bits[WHEEL_WORDS];	/* level-0 slots in use
						 * (or emptied since) */
	int64_t			 cur;		/* the first ms not yet run */
	int64_t			 block;		/* the block last entered */
	size_t			 n;
	wheel_fire_cb		*fire;
	struct event		*ev;		/* NULL: not on a loop */
	int64_t			 armed;		/* when ev is set for */
};

static void	wheel_arm(struct wheel *);

/* An empty list: its head points at itself. */
static void
wheel_list_init(struct wheel_node *h)
{
	h->next = h->prev = h;
}

/* Is the list empty? */
static int
wheel_list_empty(const struct wheel_node *h)
{
	return h->next == h;
}

/* Append a node to a list (slots fire in the order they were added). */
static void
wheel_link(struct wheel_node *h, struct wheel_node *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

/* Take a node out of whatever list it is on. */
static void
wheel_unlink(struct wheel_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

/* Move every node of list from onto the empty list to. */
static void
wheel_splice(struct wheel_node *from, struct wheel_node *to)
{
	wheel_list_init(to);
	if (wheel_list_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	wheel_list_init(from);
}

/* The block a time is in. */
static int64_t
wheel_block_of(int64_t ms)
{
	return ms >> WHEEL_BLOCK_BITS;
}

/* A new, empty wheel whose first run is at now (ms); fire is called for
 * each entry that comes due, already off the wheel. */
struct wheel *
wheel_new(int64_t now, wheel_fire_cb *fire)
{
	struct wheel *w = xcalloc(1, sizeof *w);
	int64_t i;

	for (i = 0; i < WHEEL_L0; i++)
		wheel_list_init(&w->l0[i]);
	for (i = 0; i < WHEEL_L1; i++)
		wheel_list_init(&w->l1[i]);
	wheel_list_init(&w->due);
	wheel_list_init(&w->coming);
	w->cur = now;
	w->block = wheel_block_of(now);
	w->fire = fire;
	w->armed = WHEEL_NEVER;
	return w;
}

/* Unlink every node of a list (they stay valid, off any wheel). */
static void
wheel_list_clear(struct wheel_node *h)
{
	while (!wheel_list_empty(h))
		wheel_unlink(h->next);
}

/* Free a wheel; entries still on it are left unlinked, never fired. */
void
wheel_free(struct wheel *w)
{
	int64_t i;

	if (w == NULL)
		return;
	for (i = 0; i < WHEEL_L0; i++)
		wheel_list_clear(&w->l0[i]);
	for (i = 0; i < WHEEL_L1; i++)
		wheel_list_clear(&w->l1[i]);
	wheel_list_clear(&w->due);
	wheel_list_clear(&w->coming);
	if (w->ev != NULL)
		event_free(w->ev);
	free(w);
}

/* Put a node on the list its time belongs to, from the block entered. */
static void
wheel_place(struct wheel *w, struct wheel_node *n)
{
	int64_t b = wheel_block_of(n->at), i;

	if (n->at < w->cur)
		wheel_link(&w->due, n);
	else if (b <= w->block + 1) {
		i = n->at & (WHEEL_L0 - 1);
		wheel_link(&w->l0[i], n);
		w->bits[i / 64] |= (uint64_t)1 << (i % 64);
	} else
		wheel_link(&w->l1[b & (WHEEL_L1 - 1)], n);
}

/* Fire a node at ms (or later); a node re-added with the same time stays
 * put. A node already on the wheel moves. */
void
wheel_add(struct wheel *w, struct wheel_node *n, int64_t at)
{
	if (n->next != NULL) {
		if (n->at == at)
			return;
		wheel_del(w, n);
	}
	n->at = at;
	wheel_place(w, n);
	w->n++;
	if (w->ev != NULL && at < w->armed)
		wheel_arm(w);
}

/* Take a node off the wheel (nothing if it is not on it). */
void
wheel_del(struct wheel *w, struct wheel_node *n)
{
	if (n->next == NULL)
		return;
	wheel_unlink(n);
	w->n--;
}

/* Is the node on a wheel? */
int
wheel_pending(const struct wheel_node *n)
{
	return n->next != NULL;
}

/* How many entries wait. */
size_t
wheel_count(const struct wheel *w)
{
	return w->n;
}

/* Place up to max entries of the coming list where they now belong. */
static void
wheel_trickle(struct wheel *w, size_t max)
{
	while (max-- > 0 && !wheel_list_empty(&w->coming)) {
		struct wheel_node *n = w->coming.next;

		wheel_unlink(n);
		wheel_place(w, n);
	}
}

/* The wheel enters block b: what is left of this block's coming list goes
 * down now, and the level-1 slot of the block after it starts coming. */
static void
wheel_enter(struct wheel *w, int64_t b)
{
	wheel_trickle(w, SIZE_MAX);
	w->block = b;
	wheel_splice(&w->l1[(b + 1) & (WHEEL_L1 - 1)], &w->coming);
}

/* The first ms in [from, to) whose level-0 slot has entries, or to. Bits
 * of slots emptied by wheel_del are cleared on the way. */
static int64_t
wheel_find(struct wheel *w, int64_t from, int64_t to)
{
	int64_t ms = from, i;
	uint64_t word;

	while (ms < to) {
		i = ms & (WHEEL_L0 - 1);
		word = w->bits[i / 64] >> (i % 64);
		if (word == 0) {
			ms = (ms | 63) + 1;
			continue;
		}
		ms += __builtin_ctzll(word);
		if (ms >= to)
			break;
		i = ms & (WHEEL_L0 - 1);
		if (!wheel_list_empty(&w->l0[i]))
			return ms;
		w->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
		ms++;
	}
	return to;
}

/* Call fire for each node of a list taken off the wheel; what is not due
 * by now (the clock went back) waits in the due list. */
static void
wheel_fire_list(struct wheel *w, struct wheel_node *h, int64_t now)
{
	while (!wheel_list_empty(h)) {
		struct wheel_node *n = h->next;

		wheel_unlink(n);
		if (n->at > now) {
			wheel_link(&w->due, n);
			continue;
		}
		w->n--;
		w->fire(n);
	}
}

/* Fire the next slot due by now, or step to now or the next block. */
static void
wheel_step(struct wheel *w, int64_t now)
{
	int64_t end = (w->block + 1) << WHEEL_BLOCK_BITS, lim, ms, i;
	struct wheel_node tmp;

	lim = now + 1 < end ? now + 1 : end;
	ms = wheel_find(w, w->cur, lim);
	w->cur = ms < lim ? ms + 1 : lim;
	if (ms < lim) {
		i = ms & (WHEEL_L0 - 1);
		w->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
		wheel_splice(&w->l0[i], &tmp);
		wheel_fire_list(w, &tmp, now);
	}
	if (w->cur >= end && w->block < wheel_block_of(w->cur))
		wheel_enter(w, w->block + 1);
}

/*
 * Fire every entry due at or before now (ms), in time order and, within a
 * millisecond, in the order added. Entries added by fire for a time
 * already run wait for the next run (as libevent's would for the next
 * loop pass), so a run always ends.
 */
void
wheel_run(struct wheel *w, int64_t now)
{
	struct wheel_node tmp;

	wheel_splice(&w->due, &tmp);
	wheel_fire_list(w, &tmp, now);
	while (w->cur <= now)
		wheel_step(w, now);
	wheel_trickle(w, WHEEL_TRICKLE);
}

/* The earliest time in the due list. */
static int64_t
wheel_due_min(const struct wheel *w)
{
	const struct wheel_node *n;
	int64_t min = WHEEL_NEVER;

	for (n = w->due.next; n != &w->due; n = n->next)
		if (n->at < min)
			min = n->at;
	return min;
}

/*
 * When the wheel must run next (ms), or WHEEL_NEVER if it is empty: the
 * first entry of level 0, else the next block (a block may come down);
 * every millisecond while entries are still coming down.
 */
int64_t
wheel_next(struct wheel *w)
{
	int64_t next = wheel_due_min(w), end, ms;

	if (w->n == 0)
		return WHEEL_NEVER;
	end = (w->block + 2) << WHEEL_BLOCK_BITS;
	ms = wheel_find(w, w->cur, end);
	if (ms == end)
		ms = (w->block + 1) << WHEEL_BLOCK_BITS;
	if (ms < w->cur || !wheel_list_empty(&w->coming))
		ms = w->cur;
	return ms < next ? ms : next;
}

/* Set the one libevent timer to the wheel's next run. */
static void
wheel_arm(struct wheel *w)
{
	int64_t at = wheel_next(w), delay;
	struct timeval tv;

	if (at == w->armed)
		return;
	w->armed = at;
	if (at == WHEEL_NEVER) {
		evtimer_del(w->ev);
		return;
	}
	delay = at * 1000 - clock_now_us();
	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t)(delay / 1000000);
	tv.tv_usec = (suseconds_t)(delay % 1000000);
	evtimer_add(w->ev, &tv);
}

/* The timer: run what is due by the wall clock, set the next one. */
static void
wheel_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wheel *w = arg;

	(void)fd;
	(void)what;
	w->armed = WHEEL_NEVER;
	wheel_run(w, clock_now_us() / 1000);
	wheel_arm(w);
}

/* Drive the wheel from a loop with one timer of its own. */
void
wheel_attach(struct wheel *w, struct event_base *base)
{
	w->ev = evtimer_new(base, wheel_timer_cb, w);
	if (w->ev == NULL)
		fatalx("wheel: evtimer_new failed");
	w->armed = WHEEL_NEVER;
	wheel_arm(w);
}
