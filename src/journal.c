/*
 * journal.c -- log entries with fields for journald, over its native
 * protocol (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/): one datagram of
 * NAME=value fields. Built with libsystemd, sd_journal_sendv sends it;
 * without, or when EVTASKD_JOURNAL_SOCKET names another socket (the
 * tests' fake journal: libsystemd's socket path is fixed), it is made here.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#endif

#define JOURNAL_SOCKET		"/run/systemd/journal/socket"
#define JOURNAL_MAX_FIELDS	16

static int	journal_fd = -1;

/* The fields every entry has, then the caller's (NULL values skipped). */
static size_t
journal_collect(struct log_field *all, int priority, const char *message,
    const struct log_field *fields, size_t n, char *prio)
{
	size_t i, k = 0;

	snprintf(prio, 4, "%d", priority);
	all[k++] = (struct log_field){ "MESSAGE", message };
	all[k++] = (struct log_field){ "PRIORITY", prio };
	all[k++] = (struct log_field){ "SYSLOG_IDENTIFIER", PACKAGE_NAME };
	for (i = 0; i < n && k < JOURNAL_MAX_FIELDS; i++) {
		if (fields[i].value != NULL)
			all[k++] = fields[i];
	}
	return k;
}

/* One field in the datagram: NAME=value, or NAME, length, value if the
 * value holds a newline (the protocol's binary form). */
static void
journal_add(struct buf *b, const struct log_field *f)
{
	uint64_t len = strlen(f->value);
	unsigned char le[8];
	int i;

	buf_adds(b, f->name);
	if (strchr(f->value, '\n') == NULL) {
		buf_add(b, "=", 1);
		buf_add(b, f->value, (size_t)len);
		buf_add(b, "\n", 1);
		return;
	}
	for (i = 0; i < 8; i++)
		le[i] = (unsigned char)(len >> (8 * i));
	buf_add(b, "\n", 1);
	buf_add(b, (const char *)le, sizeof le);
	buf_add(b, f->value, (size_t)len);
	buf_add(b, "\n", 1);
}

/* Send one datagram to the socket at path; 0 or -1. */
static int
journal_dgram(const char *path, const char *data, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ssize_t n;

	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	strcpy(sa.sun_path, path);
	if (journal_fd < 0 &&
	    (journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	do
		n = sendto(journal_fd, data, len, MSG_NOSIGNAL,
		    (struct sockaddr *)&sa, sizeof sa);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

/* Our own sender: the fields as one datagram to path. */
static int
journal_send_own(const char *path, const struct log_field *all, size_t n)
{
	struct buf b = { NULL, 0, 0 };
	size_t i, len;
	char *data;
	int rc;

	for (i = 0; i < n; i++)
		journal_add(&b, &all[i]);
	data = buf_steal(&b, &len);
	rc = journal_dgram(path, data, len);
	free(data);
	return rc;
}

#ifdef HAVE_LIBSYSTEMD
/* libsystemd's sender: NAME=value iovecs (it encodes newlines itself). */
static int
journal_send_sd(const struct log_field *all, size_t n)
{
	struct iovec iov[JOURNAL_MAX_FIELDS];
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		iov[i].iov_base = xasprintf("%s=%s", all[i].name,
		    all[i].value);
		iov[i].iov_len = strlen(iov[i].iov_base);
	}
	rc = sd_journal_sendv(iov, (int)n);
	for (i = 0; i < n; i++)
		free(iov[i].iov_base);
	return rc < 0 ? -1 : 0;
}
#endif

/* Send one entry to the journal; 0, or -1 (then log it as a line). */
int
journal_send(int priority, const char *message, const struct log_field *fields,
    size_t n)
{
	struct log_field all[JOURNAL_MAX_FIELDS];
	const char *path = getenv("EVTASKD_JOURNAL_SOCKET");
	char prio[4];
	size_t k;

	k = journal_collect(all, priority, message, fields, n, prio);
#ifdef HAVE_LIBSYSTEMD
	if (path == NULL)
		return journal_send_sd(all, k);
#endif
	return journal_send_own(path != NULL ? path : JOURNAL_SOCKET, all, k);
}

/* Close the socket (at exit, for leak checkers). */
void
journal_close(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
}
