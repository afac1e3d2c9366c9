/*
 * token.c -- secret files (the bearer token, callback secrets): read at
 * start and at each reload, trimmed, with a warning when others may read
 * them.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Warn when the open secret file (what it is) can be read by others. */
static void
token_check_mode(FILE *f, const char *path, const char *what)
{
	struct stat st;

	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077) != 0)
		log_warn("%s: the %s can be read by others (mode %03o); "
		    "chmod 600 it", path, what, st.st_mode & 0777);
}

/*
 * Read the secret in path (NULL: no file, nothing to do) into *token (to
 * free); what names it in messages ("token file"). Returns 0, or -1 with
 * *err (to free).
 */
int
token_read(const char *path, const char *what, char **token, char **err)
{
	FILE *f;
	char buf[4096];
	size_t n;

	if (path == NULL)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	token_check_mode(f, path, what);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		*err = xasprintf("%s: the %s is empty or has a NUL byte",
		    path, what);
		return -1;
	}
	*token = xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return 0;
}
