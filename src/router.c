/*
 * router.c -- method and path to a route (handler and who may call it); 404
 * and 405 with Allow.
 */

#include "evtaskd.h"

#include <string.h>

/*
 * Does path match pattern? A '*' in the pattern matches one non-empty path
 * segment, which is returned in *param and *paramlen.
 */
static int
router_path_match(const char *pattern, const char *path, const char **param,
    size_t *paramlen)
{
	const char *seg;

	while (*pattern != '\0') {
		if (*pattern == '*') {
			seg = path;
			while (*path != '\0' && *path != '/')
				path++;
			if (path == seg)
				return 0;
			*param = seg;
			*paramlen = (size_t)(path - seg);
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *path == '\0';
}

/* Append a method to the Allow list in m, once. */
static void
router_allow_add(struct router_match *m, const char *method)
{
	size_t len = strlen(m->allow), mlen = strlen(method);

	if (len + mlen + 3 > sizeof m->allow)
		return;
	if (len > 0) {
		memcpy(m->allow + len, ", ", 2);
		len += 2;
	}
	memcpy(m->allow + len, method, mlen + 1);
}

/*
 * Find the route for method and path in table. HEAD is answered as GET.
 * Returns ROUTER_FOUND with m->entry (handler, auth) and m->param set,
 * ROUTER_NOT_FOUND, or ROUTER_BAD_METHOD with the methods the path allows
 * in m->allow.
 */
enum router_result
router_lookup(const struct router_entry *table, size_t n, const char *method,
    const char *path, struct router_match *m)
{
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	int path_known = 0;
	size_t i;

	memset(m, 0, sizeof *m);
	for (i = 0; i < n; i++) {
		if (!router_path_match(table[i].pattern, path, &m->param,
		    &m->paramlen))
			continue;
		path_known = 1;
		if (strcmp(table[i].method, want) == 0) {
			m->entry = &table[i];
			return ROUTER_FOUND;
		}
	}
	if (!path_known)
		return ROUTER_NOT_FOUND;
	for (i = 0; i < n; i++) {
		if (!router_path_match(table[i].pattern, path, &m->param,
		    &m->paramlen))
			continue;
		router_allow_add(m, table[i].method);
		if (strcmp(table[i].method, "GET") == 0)
			router_allow_add(m, "HEAD");
	}
	m->param = NULL;
	m->paramlen = 0;
	return ROUTER_BAD_METHOD;
}
