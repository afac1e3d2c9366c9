/* kind.c -- the table of task kinds. A new kind adds a file and a line. */

#include "evtaskd.h"

#include <string.h>

const struct task_kind *const kind_table[] = {
	&kind_sleep,
	&kind_command,
};

#define KIND_COUNT (sizeof kind_table / sizeof kind_table[0])

/* The kind called name, or NULL. */
const struct task_kind *
kind_find(const char *name)
{
	size_t i;

	for (i = 0; i < KIND_COUNT; i++) {
		if (strcmp(kind_table[i]->name, name) == 0)
			return kind_table[i];
	}
	return NULL;
}

/* The name of the i-th kind (listing filters index kinds). */
const char *
kind_name(size_t i)
{
	return kind_table[i]->name;
}

size_t
kind_count(void)
{
	return KIND_COUNT;
}

/* The index of a kind in the table (metrics count per kind). */
size_t
kind_index(const struct task_kind *kind)
{
	size_t i;

	for (i = 0; i < KIND_COUNT; i++) {
		if (kind_table[i] == kind)
			return i;
	}
	fatalx("unknown kind %s", kind->name);
}

/* Let every kind set itself up on the loop (command: SIGCHLD). */
void
kind_init(struct event_base *base)
{
	size_t i;

	for (i = 0; i < KIND_COUNT; i++) {
		if (kind_table[i]->init != NULL)
			kind_table[i]->init(base);
	}
}

/* And let go of it at exit. */
void
kind_shutdown(void)
{
	size_t i;

	for (i = 0; i < KIND_COUNT; i++) {
		if (kind_table[i]->shutdown != NULL)
			kind_table[i]->shutdown();
	}
}
