/* check_wheel.c -- the timing wheel: add, cancel, fire order, never early,
 * wrap-around, far future; then many random entries, and the loop. */

#include "evtaskd.h"
#include "check_main.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#define NODES		8
#define BLOCK		4096		/* ms: wheel.c's block */
#define HOUR		(3600 * 1000)

/* What each fire saw: the run's time, and the names fired so far. */
static struct wheel_node	 nodes[NODES];
static char			 fired[256];
static int64_t			 run_now;
static int			 early;		/* fired before its time */
static int			 readd;		/* node 0 re-adds node 1 at now */
static struct wheel		*readd_wheel;

/* The test's fire: note the node's letter; a fire before its time fails. */
static void
fire_cb(struct wheel_node *n)
{
	size_t len = strlen(fired);

	if (n->at > run_now)
		early = 1;
	if (len + 2 < sizeof fired) {
		fired[len] = (char)('A' + (n - nodes));
		fired[len + 1] = '\0';
	}
	if (readd && n == &nodes[0])
		wheel_add(readd_wheel, &nodes[1], run_now);
}

enum op { END, ADD, DEL, RUN, NEXT };

/* One step: ADD node at, DEL node, RUN until at expecting the letters
 * fired, NEXT expecting wheel_next == at. Times are relative to start. */
struct step {
	enum op		 op;
	int		 node;
	int64_t		 at;
	const char	*want;
};

struct wheel_case {
	const char	*name;
	int64_t		 start;		/* absolute ms of wheel_new */
	struct step	 steps[12];
};

#define T0 ((int64_t)1764400000000)	/* an ordinary time, mid-block */
#define TB (((T0 >> 12) + 1) << 12)	/* a block boundary after T0 */

static const struct wheel_case cases[] = {
	{ "fire order by time, then as added", T0, {
		{ ADD, 0, 100, NULL }, { ADD, 1, 50, NULL },
		{ ADD, 2, 100, NULL }, { RUN, 0, 49, "" },
		{ RUN, 0, 50, "B" }, { RUN, 0, 200, "AC" }, { END, 0, 0, NULL } } },
	{ "cancel", T0, {
		{ ADD, 0, 10, NULL }, { ADD, 1, 10, NULL }, { DEL, 0, 0, NULL },
		{ DEL, 0, 0, NULL }, { RUN, 0, 10, "B" }, { END, 0, 0, NULL } } },
	{ "never early", T0, {
		{ ADD, 0, 1000, NULL }, { RUN, 0, 999, "" }, { NEXT, 0, 1000, NULL },
		{ RUN, 0, 1000, "A" }, { NEXT, 0, WHEEL_NEVER, NULL },
		{ END, 0, 0, NULL } } },
	{ "added already past: the next run", T0, {
		{ RUN, 0, 100, "" }, { ADD, 0, 20, NULL }, { ADD, 1, 100, NULL },
		{ NEXT, 0, 20, NULL }, { RUN, 0, 100, "AB" }, { END, 0, 0, NULL } } },
	{ "moved by a second add", T0, {
		{ ADD, 0, 100, NULL }, { ADD, 0, 50, NULL }, { ADD, 1, 70, NULL },
		{ RUN, 0, 60, "A" }, { RUN, 0, 200, "B" }, { END, 0, 0, NULL } } },
	{ "same slot, next rotation", T0, {
		{ ADD, 0, 10 + 2 * BLOCK, NULL }, { ADD, 1, 10, NULL },
		{ RUN, 0, 10, "B" }, { RUN, 0, 9 + 2 * BLOCK, "" },
		{ RUN, 0, 10 + 2 * BLOCK, "A" }, { END, 0, 0, NULL } } },
	{ "wrap-around across block boundaries", TB - 2, {
		{ ADD, 0, 1, NULL }, { ADD, 1, 3, NULL },
		{ ADD, 2, 2 + 3 * BLOCK, NULL }, { ADD, 3, 5 + BLOCK, NULL },
		{ RUN, 0, 1, "A" }, { RUN, 0, 2, "" }, { RUN, 0, 3, "B" },
		{ RUN, 0, 4 + BLOCK, "" }, { RUN, 0, 5 + BLOCK, "D" },
		{ RUN, 0, 1 + 3 * BLOCK, "" }, { RUN, 0, 2 + 3 * BLOCK, "C" },
		{ END, 0, 0, NULL } } },
	{ "far future: later rounds of level 1", T0, {
		{ ADD, 0, 10 * HOUR, NULL }, { ADD, 1, 3 * HOUR + 7, NULL },
		{ ADD, 2, 30LL * 24 * HOUR, NULL }, { DEL, 2, 0, NULL },
		{ ADD, 3, 5 * HOUR, NULL },
		{ RUN, 0, 3 * HOUR + 6, "" }, { RUN, 0, 3 * HOUR + 7, "B" },
		{ RUN, 0, 5 * HOUR - 1, "" }, { RUN, 0, 5 * HOUR, "D" },
		{ RUN, 0, 10 * HOUR - 1, "" }, { RUN, 0, 40 * HOUR, "A" },
		{ END, 0, 0, NULL } } },
	{ "one long jump fires all in order", T0, {
		{ ADD, 0, 6 * HOUR, NULL }, { ADD, 1, 2, NULL },
		{ ADD, 2, 5 * BLOCK, NULL }, { ADD, 3, HOUR, NULL },
		{ RUN, 0, 7 * HOUR, "BCDA" }, { NEXT, 0, WHEEL_NEVER, NULL },
		{ END, 0, 0, NULL } } },
	{ "clock stepped back: nothing early", T0, {
		{ RUN, 0, 1000, "" }, { ADD, 0, 900, NULL }, { RUN, 0, 800, "" },
		{ NEXT, 0, 900, NULL }, { RUN, 0, 900, "A" },
		{ END, 0, 0, NULL } } },
	{ "next: the first entry, or the next block", T0, {
		{ NEXT, 0, WHEEL_NEVER, NULL }, { ADD, 0, HOUR, NULL },
		{ NEXT, 0, TB - T0, NULL }, { ADD, 1, 30, NULL },
		{ NEXT, 0, 30, NULL }, { DEL, 1, 0, NULL },
		{ NEXT, 0, TB - T0, NULL }, { END, 0, 0, NULL } } },
};

/* Run one case of the table. */
START_TEST(test_wheel_case)
{
	const struct wheel_case *c = &cases[_i];
	struct wheel *w = wheel_new(c->start, fire_cb);
	const struct step *s;

	memset(nodes, 0, sizeof nodes);
	early = 0;
	for (s = c->steps; s->op != END; s++) {
		if (s->op == ADD)
			wheel_add(w, &nodes[s->node], c->start + s->at);
		else if (s->op == DEL)
			wheel_del(w, &nodes[s->node]);
		else if (s->op == NEXT)
			ck_assert_msg(wheel_next(w) == (s->at == WHEEL_NEVER ?
			    WHEEL_NEVER : c->start + s->at), "%s: step %d",
			    c->name, (int)(s - c->steps));
		else {
			fired[0] = '\0';
			run_now = c->start + s->at;
			wheel_run(w, run_now);
			ck_assert_msg(strcmp(fired, s->want) == 0,
			    "%s: step %d fired \"%s\", not \"%s\"", c->name,
			    (int)(s - c->steps), fired, s->want);
		}
	}
	ck_assert_msg(!early, "%s: fired early", c->name);
	wheel_free(w);
}
END_TEST

/* An entry added by a fire for a time already run waits for the next run;
 * wheel_free leaves what remains unlinked. */
START_TEST(test_readd_in_fire)
{
	struct wheel *w = wheel_new(T0, fire_cb);

	memset(nodes, 0, sizeof nodes);
	readd = 1;
	readd_wheel = w;
	wheel_add(w, &nodes[0], T0 + 5);
	wheel_add(w, &nodes[2], T0 + 50);
	fired[0] = '\0';
	run_now = T0 + 5;
	wheel_run(w, run_now);
	ck_assert_str_eq(fired, "A");
	ck_assert(wheel_pending(&nodes[1]));
	ck_assert_int_eq(wheel_next(w), T0 + 5);
	wheel_run(w, run_now);
	ck_assert_str_eq(fired, "AB");
	ck_assert_uint_eq(wheel_count(w), 1);
	readd = 0;
	wheel_free(w);
	ck_assert(!wheel_pending(&nodes[2]));
}
END_TEST

#define NRANDOM 200000

static struct wheel_node	*rnodes;
static int64_t			 rprev;		/* the previous run's time */
static int			*rfired;
static int			 rbad;

/* The random test's fire: once each, in the first run at or after it. */
static void
random_fire_cb(struct wheel_node *n)
{
	size_t i = (size_t)(n - rnodes);

	if (rfired[i]++ || n->at > run_now || n->at <= rprev)
		rbad++;
}

/* Many entries over 10 hours, some cancelled, runs at random steps: each
 * fires exactly once, in the first run at or after its time. */
START_TEST(test_random)
{
	struct wheel *w = wheel_new(T0, random_fire_cb);
	uint64_t x = 88172645463325252ULL;
	int64_t end = T0 + 10LL * HOUR;
	size_t i, nfired = 0, ndel = 0;

	rnodes = xcalloc(NRANDOM, sizeof *rnodes);
	rfired = xcalloc(NRANDOM, sizeof *rfired);
	rbad = 0;
	for (i = 0; i < NRANDOM; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		wheel_add(w, &rnodes[i], T0 + (int64_t)(x % (10ULL * HOUR)));
		if (x % 10 == 0) {
			wheel_del(w, &rnodes[i]);
			rfired[i] = -1;
			ndel++;
		}
	}
	ck_assert_uint_eq(wheel_count(w), NRANDOM - ndel);
	for (rprev = T0 - 1; rprev < end; rprev = run_now) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		run_now = rprev + 1 + (int64_t)(x % (x % 7 == 0 ? 20000 : 50));
		ck_assert_int_le(wheel_next(w), wheel_count(w) ? run_now +
		    10LL * HOUR : WHEEL_NEVER);
		wheel_run(w, run_now);
	}
	for (i = 0; i < NRANDOM; i++)
		nfired += rfired[i] == 1;
	ck_assert_int_eq(rbad, 0);
	ck_assert_uint_eq(nfired, NRANDOM - ndel);
	ck_assert_uint_eq(wheel_count(w), 0);
	wheel_free(w);
	free(rnodes);
	free(rfired);
}
END_TEST

/* A crowded block (more than a run moves down) comes down over the block
 * before it: each entry still fires in the first run at or after it. */
START_TEST(test_crowded_block)
{
	struct wheel *w = wheel_new(TB - 1, random_fire_cb);
	int64_t first = TB + BLOCK;
	size_t i, n = 5000, nfired = 0;

	rnodes = xcalloc(n, sizeof *rnodes);
	rfired = xcalloc(n, sizeof *rfired);
	rbad = 0;
	for (i = 0; i < n; i++)
		wheel_add(w, &rnodes[i], first + (int64_t)(i * 7 % BLOCK));
	wheel_add(w, &rnodes[0], first + 2 * BLOCK * BLOCK);	/* a later round */
	run_now = TB + 1;			/* entered: coming down */
	wheel_run(w, run_now);
	ck_assert_int_eq(wheel_next(w), TB + 2);
	for (rprev = run_now; rprev < first + 2 * BLOCK; rprev = run_now) {
		run_now = rprev + 1 + (rprev % 5 == 0 ? 40 : 0);
		wheel_run(w, run_now);
	}
	for (i = 0; i < n; i++)
		nfired += rfired[i] == 1;
	ck_assert_int_eq(rbad, 0);
	ck_assert_uint_eq(nfired, n - 1);
	ck_assert(wheel_pending(&rnodes[0]));
	wheel_free(w);
	free(rnodes);
	free(rfired);
}
END_TEST

/* The loop's fire: stop the loop. */
static void
loop_fire_cb(struct wheel_node *n)
{
	(void)n;
	run_now = clock_now_ms();
}

/* On a loop, the one timer fires an entry, never before its time. */
START_TEST(test_loop)
{
	struct event_base *base = event_base_new();
	struct wheel *w = wheel_new(clock_now_ms(), loop_fire_cb);
	struct wheel_node n = { NULL, NULL, 0 };
	int64_t at;

	wheel_attach(w, base);
	at = clock_now_ms() + 20;
	wheel_add(w, &n, at);
	run_now = 0;
	while (run_now == 0)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_ge(run_now, at);
	ck_assert(!wheel_pending(&n));
	wheel_free(w);
	event_base_free(base);
}
END_TEST

/* The suite. */
static Suite *
wheel_suite(void)
{
	Suite *s = suite_create("wheel");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_wheel_case, 0,
	    (int)(sizeof cases / sizeof cases[0]));
	tcase_add_test(tc, test_readd_in_fire);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_crowded_block);
	tcase_add_test(tc, test_loop);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(wheel_suite)
