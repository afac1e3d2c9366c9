/* check_registry.c -- monotonic ids, the table of tasks (ULIDs: check_ulid.c). */

#include "evtaskd.h"
#include "check_main.h"
#include "check_fixture.h"

#include <string.h>

#include <event2/event.h>

#define SPEC_ULID "01ARZ3NDEKTSV4RRFFQ69G5FAV"	/* spec README */
#define NIDS 100000
#define NTASKS 20000

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Many ids in a tight loop strictly increase and carry the current time. */
START_TEST(test_next_id_monotonic)
{
	struct ulid prev, id;
	char ps[ULID_LEN + 1], s[ULID_LEN + 1];
	int64_t before, after, ms;
	int i;

	registry_next_id(&prev);
	ulid_format(&prev, ps);
	for (i = 0; i < NIDS; i++) {
		before = clock_now_ms();
		registry_next_id(&id);
		after = clock_now_ms();
		ck_assert_int_gt(ulid_cmp(&id, &prev), 0);
		ulid_format(&id, s);
		ck_assert_int_gt(strcmp(s, ps), 0);
		ck_assert_uint_eq(strspn(s, crockford), ULID_LEN);
		ms = ulid_time_ms(&id);
		ck_assert_int_ge(ms, before - 5);
		ck_assert_int_le(ms, after + 5);
		prev = id;
		memcpy(ps, s, sizeof ps);
	}
}
END_TEST

/* A seeded id from the future (clock stepped back) is still exceeded. */
START_TEST(test_seed_future)
{
	struct ulid seed, id, prev;
	int64_t ms;
	int i;

	registry_next_id(&seed);
	ms = clock_now_ms() + 10000;
	for (i = 5; i >= 0; i--, ms >>= 8)
		seed.b[i] = (uint8_t)ms;
	registry_seed(&seed);
	prev = seed;
	for (i = 0; i < 1000; i++) {
		registry_next_id(&id);
		ck_assert_int_gt(ulid_cmp(&id, &prev), 0);
		ck_assert_int_ge(ulid_time_ms(&id), ulid_time_ms(&seed));
		prev = id;
	}
	/* An older seed changes nothing. */
	ck_assert_int_eq(ulid_parse(SPEC_ULID, &seed), 0);
	registry_seed(&seed);
	registry_next_id(&id);
	ck_assert_int_gt(ulid_cmp(&id, &prev), 0);
}
END_TEST

/* Check that tasks[i] is found exactly when present says so. */
static void
check_found(struct task **tasks, const int *present, size_t n)
{
	struct task *found;
	size_t i;

	for (i = 0; i < n; i++) {
		found = registry_find(&tasks[i]->id);
		if (present[i])
			ck_assert_ptr_eq(found, tasks[i]);
		else
			ck_assert_ptr_null(found);
	}
}

/* Add, find, count, remove every third (backward shift), remove all. */
START_TEST(test_table)
{
	struct task **tasks = xcalloc(NTASKS, sizeof *tasks);
	int *present = xcalloc(NTASKS, sizeof *present);
	size_t i;

	for (i = 0; i < NTASKS; i++) {
		tasks[i] = task_new(&kind_sleep);
		registry_add(tasks[i]);
		present[i] = 1;
	}
	check_found(tasks, present, NTASKS);
	ck_assert_uint_eq(registry_count(TASK_SCHEDULED), NTASKS);
	ck_assert_uint_eq(registry_count(TASK_RUNNING), 0);
	ck_assert_uint_eq(registry_active(), NTASKS);
	for (i = 0; i < NTASKS; i += 3) {
		registry_remove(tasks[i]);
		present[i] = 0;
	}
	check_found(tasks, present, NTASKS);
	ck_assert_uint_eq(registry_active(), NTASKS - (NTASKS + 2) / 3);
	for (i = 0; i < NTASKS; i++) {
		registry_remove(tasks[i]);	/* twice for some: a no-op */
		present[i] = 0;
	}
	check_found(tasks, present, NTASKS);
	ck_assert_uint_eq(registry_count(TASK_SCHEDULED), 0);
	ck_assert_uint_eq(registry_active(), 0);
	for (i = 0; i < NTASKS; i++)
		task_free(tasks[i]);
	free(present);
	free(tasks);
}
END_TEST

/* Counts follow registry_count_move; terminal states are not active. */
START_TEST(test_counts)
{
	struct task *t = task_new(&kind_sleep);

	registry_add(t);
	registry_count_move(TASK_SCHEDULED, TASK_RUNNING);
	t->state = TASK_RUNNING;
	ck_assert_uint_eq(registry_count(TASK_SCHEDULED), 0);
	ck_assert_uint_eq(registry_count(TASK_RUNNING), 1);
	ck_assert_uint_eq(registry_active(), 1);
	registry_count_move(TASK_RUNNING, TASK_SUCCEEDED);
	t->state = TASK_SUCCEEDED;
	ck_assert_uint_eq(registry_count(TASK_SUCCEEDED), 1);
	ck_assert_uint_eq(registry_active(), 0);
	registry_remove(t);
	ck_assert_uint_eq(registry_count(TASK_SUCCEEDED), 0);
	ck_assert_ptr_null(registry_find(&t->id));
	task_free(t);
}
END_TEST

static Suite *
registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("ids");

	tcase_add_test(tc, test_next_id_monotonic);
	tcase_add_test(tc, test_seed_future);	/* last: moves the clock on */
	suite_add_tcase(s, tc);
	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_counts);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(registry_suite)
