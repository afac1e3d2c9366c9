/*
 * signame.c -- the signals a job may name, by name ("TERM") and back: for
 * the config's kill_signal and for saying how a process ended.
 */

#include "evtaskd.h"

#include <signal.h>
#include <string.h>

static const struct {
	const char	*name;
	int		 sig;
} signame_table[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "HUP", SIGHUP },
	{ "QUIT", SIGQUIT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 }, { "ALRM", SIGALRM },
};
#define SIGNAME_COUNT (sizeof signame_table / sizeof signame_table[0])

/* A signal's name without "SIG" ("TERM"), or NULL. */
const char *
signame_of(int sig)
{
	size_t i;

	for (i = 0; i < SIGNAME_COUNT; i++) {
		if (signame_table[i].sig == sig)
			return signame_table[i].name;
	}
	return NULL;
}

/* A signal by name, with or without "SIG"; -1 if unknown. */
int
signame_parse(const char *name)
{
	size_t i;

	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < SIGNAME_COUNT; i++) {
		if (strcmp(signame_table[i].name, name) == 0)
			return signame_table[i].sig;
	}
	return -1;
}
