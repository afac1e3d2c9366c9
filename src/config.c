/*
 * config.c -- the configuration's life: defaults, the JSON file (read
 * strictly: every error names the file, line and column, see
 * config-pos.c), its top-level keys, and the running configuration. Jobs
 * are read by job.c, callbacks by config-callbacks.c. A reload builds a
 * new config and swaps it in; running tasks keep a reference to the job
 * they started with.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_OUTPUT_DEFAULT	(256 * 1024 * 1024)

/* The names of enum on_shutdown and enum isolation, in their order. */
static const char *const config_on_shutdown_names[] = {
	"keep", "cancel", NULL
};
static const char *const config_isolation_names[] = {
	"auto", "cgroup", "process_group", NULL
};

static struct config	 config_current_default;
const struct config	*cfg = &config_current_default;
static struct config	*config_current;

/* The defaults, as evtaskd.json(5) lists them. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->retention_s = 86400;
	c->lease_ms = 10000;
	c->shutdown_grace_ms = 10000;
	c->on_shutdown = ON_SHUTDOWN_KEEP;
	c->max_active_tasks = 1000000;
	c->max_duration_ms = 31536000000LL;
	c->max_metadata_bytes = 16384;
	c->http.max_body_bytes = 65536;
	c->http.max_connections = 10000;
	c->http.max_connections_per_ip = 1000;
	c->http.connection_timeout_s = 30;
	c->isolation = ISOLATION_AUTO;
	c->max_output_bytes = CONFIG_OUTPUT_DEFAULT;
	c->http.request_timeout_s = 10;
}

/* Free a config built by config_load (not the running one). */
void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->njobs; i++)
		job_unref(c->jobs[i]);
	free(c->jobs);
	config_callbacks_free(c);
	xstrv_free(c->listen);
	xstrv_free(c->allowed_origins);
	xstrv_free(c->allowed_hosts);
	free(c->state_dir);
	free(c->store);
	free(c->node);
	free(c->token_file);
	free(c->token);
	free(c);
}

/*
 * Make c (from config_load) the running configuration; frees the old one.
 * NULL frees it and leaves an empty configuration (at exit).
 */
void
config_set(struct config *c)
{
	struct config *old = config_current;

	config_current = c;
	cfg = c != NULL ? c : &config_current_default;
	config_free(old);
}

/* The job called name in the running configuration, or NULL. */
struct job *
config_job(const char *name)
{
	size_t i;

	for (i = 0; i < cfg->njobs; i++) {
		if (strcmp(cfg->jobs[i]->name, name) == 0)
			return cfg->jobs[i];
	}
	return NULL;
}

/* The name of an isolation mode ("auto", "cgroup", "process_group"). */
const char *
config_isolation_name(enum isolation i)
{
	if ((size_t)i >= sizeof config_isolation_names /
	    sizeof config_isolation_names[0] - 1)
		return "auto";
	return config_isolation_names[i];
}

/* The "jobs" object. */
static void
config_jobs(struct config_pos *pos, struct config *c, json_t *root)
{
	json_t *jobs = config_pos_obj(pos, root, "jobs"), *def;
	const char *name;

	if (jobs == NULL)
		return;
	config_pos_push(pos, "jobs", 0);
	c->jobs = xcalloc(json_object_size(jobs) + 1, sizeof *c->jobs);
	json_object_foreach(jobs, name, def)
		c->jobs[c->njobs++] = job_parse(pos, name, def);
	config_pos_pop(pos);
}

/* "limits". */
static void
config_limits(struct config_pos *pos, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"max_active_tasks", "max_body_bytes", "max_connections",
		"max_connections_per_ip", "connection_timeout_s",
		"request_timeout_s", "max_duration_ms", "max_output_bytes", NULL
	};
	json_t *l = config_pos_obj(pos, root, "limits");
	int64_t v;

	if (l == NULL)
		return;
	config_pos_push(pos, "limits", 0);
	config_pos_only(pos, l, keys);
	v = (int64_t)c->max_active_tasks;
	config_pos_int(pos, l, "max_active_tasks", 1, INT64_MAX / 2, &v);
	c->max_active_tasks = (uint64_t)v;
	v = (int64_t)c->http.max_body_bytes;
	config_pos_int(pos, l, "max_body_bytes", 1024, 64 * 1024 * 1024, &v);
	c->http.max_body_bytes = (size_t)v;
	v = c->http.max_connections;
	config_pos_int(pos, l, "max_connections", 1, 1000000, &v);
	c->http.max_connections = (unsigned)v;
	v = c->http.max_connections_per_ip;
	config_pos_int(pos, l, "max_connections_per_ip", 1, 1000000, &v);
	c->http.max_connections_per_ip = (unsigned)v;
	v = c->http.connection_timeout_s;
	config_pos_int(pos, l, "connection_timeout_s", 1, 86400, &v);
	c->http.connection_timeout_s = (unsigned)v;
	v = c->http.request_timeout_s;
	config_pos_int(pos, l, "request_timeout_s", 1, 3600, &v);
	c->http.request_timeout_s = (unsigned)v;
	config_pos_int(pos, l, "max_duration_ms", 1, INT64_MAX / 4,
	    &c->max_duration_ms);
	v = (int64_t)c->max_output_bytes;
	config_pos_int(pos, l, "max_output_bytes", CONFIG_OUTPUT_MIN,
	    CONFIG_OUTPUT_MAX, &v);
	c->max_output_bytes = (size_t)v;
	config_pos_pop(pos);
}

/* "auth". */
static void
config_auth(struct config_pos *pos, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"token_file", "metrics_public", NULL
	};
	json_t *a = config_pos_obj(pos, root, "auth");

	if (a == NULL)
		return;
	config_pos_push(pos, "auth", 0);
	config_pos_only(pos, a, keys);
	config_pos_abspath(pos, a, "token_file", &c->token_file);
	c->metrics_public = config_pos_bool(pos, a, "metrics_public");
	config_pos_pop(pos);
}

/* Is s an origin as browsers send it: http(s)://HOST[:PORT], no path? */
static int
config_origin_ok(const char *s)
{
	const char *host;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return 0;
	return listen_host_ok(host, strlen(host), 1);
}

/* Is s a host name or address as a Host header names it, without port? */
static int
config_host_ok(const char *s)
{
	return listen_host_ok(s, strlen(s), 0);
}

/* A list of origins or hosts: each entry checked, errors at its place. */
static char **
config_names(struct config_pos *pos, json_t *root, const char *key,
    int (*ok)(const char *), const char *what)
{
	char **v = config_pos_strv(pos, root, key);
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++) {
		if (ok(v[i]))
			continue;
		config_pos_push(pos, key, 0);
		config_pos_push(pos, NULL, (int)i);
		config_pos_error(pos, "'%s' is not %s", v[i], what);
		config_pos_pop(pos);
		config_pos_pop(pos);
	}
	return v;
}

/* "allowed_origins" and "allowed_hosts" (cross-site checks). */
static void
config_sites(struct config_pos *pos, struct config *c, json_t *root)
{
	c->allowed_origins = config_names(pos, root, "allowed_origins",
	    config_origin_ok, "an origin: http://HOST[:PORT] or "
	    "https://HOST[:PORT], no path");
	c->allowed_hosts = config_names(pos, root, "allowed_hosts",
	    config_host_ok, "a host name or address without a port");
}

/*
 * A string member that must be one of names (NULL-ended); its index into
 * *out. Untouched if absent or wrong, with an error for the latter.
 */
static void
config_enum(struct config_pos *pos, json_t *o, const char *key,
    const char *const *names, int *out)
{
	struct buf want = { NULL, 0, 0 };
	char *s = NULL;
	size_t i;

	if (config_pos_str(pos, o, key, &s) <= 0)
		return;
	for (i = 0; names[i] != NULL && strcmp(names[i], s) != 0; i++)
		;
	free(s);
	if (names[i] != NULL) {
		*out = (int)i;
		return;
	}
	for (i = 0; names[i] != NULL; i++) {
		buf_adds(&want, i == 0 ? "\"" : names[i + 1] != NULL ?
		    ", \"" : " or \"");
		buf_adds(&want, names[i]);
		buf_add(&want, "\"", 1);
	}
	s = buf_steal(&want, NULL);
	config_pos_push(pos, key, 0);
	config_pos_error(pos, "must be %s", s);
	config_pos_pop(pos);
	free(s);
}

/* "listen" (each address checked). */
static void
config_listen(struct config_pos *pos, struct config *c, json_t *root)
{
	struct listen_addr addr;
	char *err;
	size_t i;

	c->listen = config_pos_strv(pos, root, "listen");
	for (i = 0; c->listen != NULL && c->listen[i] != NULL; i++) {
		if (listen_parse(c->listen[i], &addr, &err) == 0)
			continue;
		config_pos_push(pos, "listen", 0);
		config_pos_push(pos, NULL, (int)i);
		config_pos_error(pos, "%s", err);
		config_pos_pop(pos);
		config_pos_pop(pos);
		free(err);
	}
}

/* Does url name a PostgreSQL database (a libpq URI)? */
int
config_store_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 ||
	    strncmp(url, "postgres://", 11) == 0;
}

/* What is wrong with a node name, or NULL. */
const char *
config_node_check(const char *name)
{
	const char *p;

	if (*name == '\0' || strlen(name) > CONFIG_NODE_MAX)
		return "must be 1 to 63 characters";
	for (p = name; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return "must be printable ASCII without spaces";
	}
	return NULL;
}

/*
 * This node's name: the config's "node" (or --node) as it was first asked
 * for (a change takes effect at the next start), else the host name. Tasks
 * show it as their "node", on a single node too (CONTRACT §12).
 */
const char *
config_node_name(void)
{
	static char name[CONFIG_NODE_MAX + 1];

	if (name[0] != '\0')
		return name;
	if (cfg != NULL && cfg->node != NULL)
		snprintf(name, sizeof name, "%s", cfg->node);
	else if (gethostname(name, sizeof name) != 0 || name[0] == '\0')
		snprintf(name, sizeof name, "evtaskd");
	name[sizeof name - 1] = '\0';
	return name;
}

/* "store", "node" and "lease_ms": the cluster (CONTRACT §12). */
static void
config_cluster(struct config_pos *pos, struct config *c, json_t *root)
{
	const char *why = NULL;

	if (config_pos_str(pos, root, "store", &c->store) > 0 &&
	    !config_store_url(c->store)) {
		config_pos_push(pos, "store", 0);
		config_pos_error(pos, "must be a postgresql:// URI (the SQLite "
		    "store is state_dir's)");
		config_pos_pop(pos);
	}
	if (config_pos_str(pos, root, "node", &c->node) > 0 &&
	    (why = config_node_check(c->node)) != NULL) {
		config_pos_push(pos, "node", 0);
		config_pos_error(pos, "%s", why);
		config_pos_pop(pos);
	}
	config_pos_int(pos, root, "lease_ms", 1000, 600000, &c->lease_ms);
}

/* "listen", "on_shutdown", "isolation" and the other top-level scalars. */
static void
config_top(struct config_pos *pos, struct config *c, json_t *root)
{
	int v;

	config_listen(pos, c, root);
	config_pos_str(pos, root, "state_dir", &c->state_dir);
	config_cluster(pos, c, root);
	config_pos_int(pos, root, "retention_s", 0, INT64_MAX / 2000,
	    &c->retention_s);
	config_pos_int(pos, root, "shutdown_grace_ms", 0, 3600000,
	    &c->shutdown_grace_ms);
	v = (int)c->on_shutdown;
	config_enum(pos, root, "on_shutdown", config_on_shutdown_names, &v);
	c->on_shutdown = (enum on_shutdown)v;
	v = (int)c->isolation;
	config_enum(pos, root, "isolation", config_isolation_names, &v);
	c->isolation = (enum isolation)v;
}

/*
 * No job keeps more output than limits.max_output_bytes (read after the
 * whole file: the limits may come after the jobs). A job that asked for
 * more gets a warning at its key.
 */
static void
config_clamp_output(struct config_pos *pos, struct config *c, json_t *root)
{
	json_t *jobs = json_object_get(root, "jobs");
	struct job *j;
	size_t i;

	config_pos_push(pos, "jobs", 0);
	for (i = 0; i < c->njobs; i++) {
		j = c->jobs[i];
		if (j->max_output_bytes <= c->max_output_bytes)
			continue;
		if (json_object_get(json_object_get(jobs, j->name),
		    "max_output_bytes") != NULL) {
			config_pos_push(pos, j->name, 0);
			config_pos_push(pos, "max_output_bytes", 0);
			config_pos_warn(pos, "%zu is above "
			    "limits.max_output_bytes: clamped to %zu",
			    j->max_output_bytes, c->max_output_bytes);
			config_pos_pop(pos);
			config_pos_pop(pos);
		}
		j->max_output_bytes = c->max_output_bytes;
	}
	config_pos_pop(pos);
}

/* The whole file, NUL-terminated (to free); NULL with errno set. */
static char *
config_read(const char *file, size_t *len)
{
	FILE *f = fopen(file, "r");
	char *text = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	*len = 0;
	do {
		text = xrealloc(text, *len + 65536 + 1);
		n = fread(text + *len, 1, 65536, f);
		*len += n;
	} while (n > 0);
	text[*len] = '\0';
	fclose(f);
	return text;
}

/* Check the parsed file and read it into c. */
static void
config_root(struct config_pos *pos, struct config *c, json_t *root)
{
	static const char *const keys[] = {
		"listen", "state_dir", "retention_s", "shutdown_grace_ms",
		"on_shutdown", "isolation", "auth", "limits", "jobs",
		"allowed_origins", "allowed_hosts", "callbacks", "store",
		"node", "lease_ms", NULL
	};

	if (!json_is_object(root)) {
		config_pos_error(pos, "the file must hold a JSON object");
		return;
	}
	config_pos_only(pos, root, keys);
	config_top(pos, c, root);
	config_limits(pos, c, root);
	config_sites(pos, c, root);
	config_auth(pos, c, root);
	config_jobs(pos, c, root);
	config_callbacks(pos, c, root);
	config_clamp_output(pos, c, root);
}

/* Parse and check file's text into c; its errors (to free) or NULL. */
static char *
config_parse(const char *file, struct config *c)
{
	struct config_pos *pos;
	json_error_t jerr;
	json_t *root;
	size_t len = 0;
	char *text = config_read(file, &len), *errors;
	int read_errno = errno;

	pos = config_pos_new(file, text, len);
	if (text == NULL)
		config_pos_error(pos, "%s", strerror(read_errno));
	else if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL)
		config_pos_json_error(pos, &jerr);
	else {
		config_root(pos, c, root);
		json_decref(root);
	}
	errors = config_pos_end(pos);
	free(text);
	return errors;
}

/*
 * Read and check a config file (NULL: defaults only). Returns the new
 * config, or NULL with every problem, one per line, in *errors (to free).
 */
struct config *
config_load(const char *file, char **errors)
{
	struct config *c = xcalloc(1, sizeof *c);

	config_defaults(c);
	*errors = NULL;
	if (file == NULL || (*errors = config_parse(file, c)) == NULL)
		return c;
	config_free(c);
	return NULL;
}
