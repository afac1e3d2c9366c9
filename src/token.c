/*
 * token.c -- the bearer token file: read it once at start and at each
 * reload, trimmed, and warn when others may read it.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Warn when the open token file can be read by others. */
static void
token_check_mode(FILE *f, const char *path)
{
	struct stat st;

	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077) != 0)
		log_warn("%s: the token file can be read by others "
		    "(mode %03o); chmod 600 it", path, st.st_mode & 0777);
}

/*
 * Read the token in path (NULL: no token file, nothing to do) into *token
 * (to free). Returns 0, or -1 with *err (to free).
 */
int
token_read(const char *path, char **token, char **err)
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
	token_check_mode(f, path);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		*err = xasprintf("%s: the token is empty or has a NUL byte",
		    path);
		return -1;
	}
	*token = xstrdup(buf);
	explicit_bzero(buf, sizeof buf);
	return 0;
}
