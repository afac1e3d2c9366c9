/*
 * log.c -- leveled logging to stderr, buffered per loop pass. Under
 * journald (JOURNAL_STREAM names our stderr) every line carries a <N>
 * priority prefix instead of a time, and entries with fields go to the
 * journal's native socket (journal.c), falling back to the stream.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * Does JOURNAL_STREAM ("DEVICE:INODE") name our stderr? A variable
 * inherited by a process whose stderr goes elsewhere (evtaskd 2>file under
 * a service) must be ignored, as systemd.exec(5) says.
 */
static int
log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    v[end] != '\0' || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Set up logging: the threshold, and whether journald reads stderr. */
void
log_init(enum log_level level)
{
	log_threshold = level;
	log_journal = log_stderr_is_journal();
}

/* Does journald read our stderr (and so our native entries)? */
int
log_to_journal(void)
{
	return log_journal;
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

/* The start of a line: "<N>" for journald, else the time and the level. */
static void
log_prefix(enum log_level level)
{
	char stamp[32];
	int n;

	if (log_journal)
		n = snprintf(log_buf + log_len, LOG_BUFSIZE - log_len, "<%d>",
		    log_levels[level].priority);
	else {
		clock_format_ms(clock_now_ms(), stamp);
		n = snprintf(log_buf + log_len, LOG_BUFSIZE - log_len, "%s %s ",
		    stamp, log_levels[level].name);
	}
	log_len += (size_t)n;
}

/* Append one line of text with its prefix, truncated to what fits. */
static void
log_line(enum log_level level, const char *text, size_t len)
{
	if (LOG_BUFSIZE - log_len < 1024)
		log_flush();
	log_prefix(level);
	if (len > LOG_BUFSIZE - log_len - 1)
		len = LOG_BUFSIZE - log_len - 1;	/* a very long line */
	memcpy(log_buf + log_len, text, len);
	log_len += len;
	log_buf[log_len++] = '\n';
}

/*
 * Append a message: each of its lines is a line of the log with its own
 * prefix (a reload error lists one problem per line, and journald must
 * see each at its priority). Errors and warnings go out at once.
 */
static void
log_text(enum log_level level, const char *text)
{
	const char *nl;

	for (;;) {
		nl = strchr(text, '\n');
		log_line(level, text, nl != NULL ? (size_t)(nl - text) :
		    strlen(text));
		if (nl == NULL || nl[1] == '\0')
			break;
		text = nl + 1;
	}
	if (level <= LOG_WARN)
		log_flush();
}

/* Format a message and append it. */
static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024], *big = NULL;
	const char *text = line;
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(line, sizeof line, fmt, copy);
	va_end(copy);
	if (n >= (int)sizeof line)
		text = big = xvasprintf(fmt, ap);
	else if (n < 0)
		line[0] = '\0';
	log_text(level, text);
	free(big);
}

/*
 * An entry with fields (task outcomes): under journald it goes to the
 * native socket with the fields, so journalctl can select on them; else,
 * or if that fails, it is a line like any other.
 */
void
log_fields(enum log_level level, const struct log_field *fields, size_t n,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (!log_journal || journal_send(log_levels[level].priority, msg,
	    fields, n) != 0)
		log_text(level, msg);
	free(msg);
}

/*
 * A message for whoever started us (usage and config errors): as it is on
 * a terminal, "FILE:LINE:COLUMN: ..." like a compiler; under journald each
 * line an error with its priority.
 */
void
log_stderr(const char *text)
{
	size_t len = strlen(text);

	if (log_journal) {
		log_text(LOG_ERROR, text);
		return;
	}
	log_flush();
	fprintf(stderr, "%s%s", text, len > 0 && text[len - 1] == '\n' ?
	    "" : "\n");
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
