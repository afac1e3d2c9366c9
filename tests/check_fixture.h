/* check_fixture.h -- the fixture of the suites that make tasks. */

#ifndef CHECK_FIXTURE_H
#define CHECK_FIXTURE_H

#include <check.h>

#include <event2/event.h>

static struct event_base *base;

/* The default configuration and a loop for task_new. */
static void
setup(void)
{
	char *err;

	config_set(config_load(NULL, &err));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	task_init(base);
}

static void
teardown(void)
{
	task_shutdown();
	event_base_free(base);
	base = NULL;
	config_set(NULL);
}

#endif
