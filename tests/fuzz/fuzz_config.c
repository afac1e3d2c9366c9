/*
 * fuzz_config.c -- libFuzzer: bytes as a config file through config_load.
 * It must never crash; a refusal must list its errors one per line, each
 * starting with the file's name; an accepted config must hold what the
 * daemon relies on (absolute argv[0] and working_dir, compiled patterns,
 * parseable listen addresses), and is made current and freed again.
 */

#include "evtaskd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	fuzz_dir[4096];
static char	fuzz_path[4200];

/* Remove the scratch file and directory at exit. */
static void
fuzz_cleanup(void)
{
	unlink(fuzz_path);
	rmdir(fuzz_dir);
}

/* Once: a directory for the file every input is written to. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	log_init(LOG_ERROR);
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_config.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror(fuzz_dir);
		exit(1);
	}
	snprintf(fuzz_path, sizeof fuzz_path, "%s/evtaskd.json", fuzz_dir);
	atexit(fuzz_cleanup);
	return 0;
}

/* Stop with the reason on stderr: libFuzzer saves the input. */
static void
fuzz_fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_config: %s\n%s\n", what, text != NULL ? text : "");
	abort();
}

/* Write the input as the config file. */
static void
fuzz_write(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(fuzz_path);
		exit(1);
	}
	while (off < size) {
		n = write(fd, data + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror(fuzz_path);
			exit(1);
		}
		off += (size_t)n;
	}
	close(fd);
}

/* Every line of errors starts with "FILE:" and the text ends in '\n'. */
static void
fuzz_check_errors(const char *errors)
{
	size_t flen = strlen(fuzz_path);
	const char *line, *nl;

	if (errors == NULL || *errors == '\0')
		fuzz_fail("config_load refused the file without an error", NULL);
	if (errors[strlen(errors) - 1] != '\n')
		fuzz_fail("the errors do not end with a newline", errors);
	for (line = errors; *line != '\0'; line = nl + 1) {
		if (strncmp(line, fuzz_path, flen) != 0 || line[flen] != ':')
			fuzz_fail("an error line does not start with the file "
			    "name", errors);
		nl = strchr(line, '\n');
	}
}

/* What the rest of the daemon takes for granted in a loaded config. */
static void
fuzz_check_config(struct config *c)
{
	struct listen_addr addr;
	const struct job *j;
	char *err;
	size_t i, k;

	for (i = 0; c->listen != NULL && c->listen[i] != NULL; i++) {
		if (listen_parse(c->listen[i], &addr, &err) != 0)
			fuzz_fail("an accepted listen address does not parse",
			    err);
	}
	if (c->token_file != NULL && c->token_file[0] != '/')
		fuzz_fail("a relative token_file was accepted", c->token_file);
	if (c->http.max_body_bytes < 1024 || c->max_duration_ms < 1 ||
	    c->max_active_tasks < 1 || c->http.max_connections < 1 ||
	    c->http.connection_timeout_s < 1)
		fuzz_fail("a limit out of its range was accepted", NULL);
	for (i = 0; i < c->njobs; i++) {
		j = c->jobs[i];
		if (j->refs != 1 || j->name == NULL || *j->name == '\0')
			fuzz_fail("a job without a name", NULL);
		if (j->argv == NULL || j->argv[0] == NULL ||
		    j->argv[0][0] != '/')
			fuzz_fail("a job without an absolute argv[0]", j->name);
		if (j->cleanup_argv != NULL && j->cleanup_argv[0][0] != '/')
			fuzz_fail("a cleanup_argv[0] that is not absolute",
			    j->name);
		if (j->working_dir == NULL || j->working_dir[0] != '/')
			fuzz_fail("a relative working_dir", j->name);
		if (signame_of(j->kill_signal) == NULL)
			fuzz_fail("an unknown kill_signal", j->name);
		for (k = 0; k < j->nargs; k++) {
			if (!j->args[k].compiled || j->args[k].pattern == NULL)
				fuzz_fail("an argument without a compiled "
				    "pattern", j->args[k].name);
		}
		for (k = 0; j->env != NULL && j->env[k] != NULL; k++) {
			if (strchr(j->env[k], '=') == NULL ||
			    j->env[k][0] == '=')
				fuzz_fail("an env entry that is not NAME=value",
				    j->env[k]);
		}
	}
}

/* One input: a config file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c;
	char *errors = NULL;
	size_t i;

	fuzz_write(data, size);
	c = config_load(fuzz_path, &errors);
	if (c == NULL) {
		fuzz_check_errors(errors);
		free(errors);
		return 0;
	}
	if (errors != NULL)
		fuzz_fail("config_load gave a config and errors", errors);
	fuzz_check_config(c);
	/* Make it current, as a start or a reload does, then let it go. */
	config_set(c);
	for (i = 0; i < cfg->njobs; i++) {
		if (config_job(cfg->jobs[i]->name) == NULL)
			fuzz_fail("config_job cannot find a job",
			    cfg->jobs[i]->name);
	}
	config_set(NULL);
	return 0;
}
