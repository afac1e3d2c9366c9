/* log.c -- leveled logging to stderr, buffered per loop pass. */

#include "evtaskd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_BUFSIZE 65536

static enum log_level	log_threshold = LOG_INFO;
static int		log_journal;	/* stderr goes to journald */
static char		log_buf[LOG_BUFSIZE];
static size_t		log_len;

static const struct {
	const char	*name;
	int		 priority;	/* syslog priority for journald */
} log_levels[] = {
	[LOG_ERROR] = { "error", 3 },
	[LOG_WARN] = { "warn", 4 },
	[LOG_INFO] = { "info", 6 },
	[LOG_DEBUG] = { "debug", 7 },
};

/* Set up logging: the threshold, and whether journald reads stderr. */
void
log_init(enum log_level level)
{
	log_threshold = level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

/* Is a message at this level written at all? */
int
log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

/* Parse a level name; -1 if it is not one. */
int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
		if (strcmp(name, log_levels[i].name) == 0)
			return (int)i;
	}
	return -1;
}

/* Write out everything buffered. */
void
log_flush(void)
{
	size_t off = 0;
	ssize_t n;

	while (off < log_len) {
		n = write(STDERR_FILENO, log_buf + off, log_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	log_len = 0;
}

/* Append one formatted line; errors and warnings go out at once. */
static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char stamp[32];
	int n;
	size_t room;

	if (LOG_BUFSIZE - log_len < 1024)
		log_flush();
	room = LOG_BUFSIZE - log_len;
	if (log_journal)
		n = snprintf(log_buf + log_len, room, "<%d>",
		    log_levels[level].priority);
	else {
		clock_format_ms(clock_now_ms(), stamp);
		n = snprintf(log_buf + log_len, room, "%s %s ", stamp,
		    log_levels[level].name);
	}
	log_len += (size_t)n;
	room -= (size_t)n;
	n = vsnprintf(log_buf + log_len, room, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= room - 1)
		n = (int)room - 2;	/* truncate a very long line */
	log_len += (size_t)n;
	log_buf[log_len++] = '\n';
	if (level <= LOG_WARN)
		log_flush();
}

/* Log at a level. */
void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

/* Log at a level whatever the threshold (the listening lines). */
void
log_always(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
	log_flush();
}

/* A bug or an impossible state: log it and stop with a core. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERROR, fmt, ap);
	va_end(ap);
	log_flush();
	abort();
}
