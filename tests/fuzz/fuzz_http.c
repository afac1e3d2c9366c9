/*
 * fuzz_http.c -- libFuzzer: raw bytes to a real daemon's socket. Once, the
 * built daemon is started on port 0 (--memory, a config with one command
 * job); per input the bytes are sent on a fresh connection (an input of odd
 * length twice, the second copy after a short pause, for keep-alive and
 * pipelining), the write side is shut, the answer read until EOF or 500 ms,
 * and then the daemon must still answer GET /healthz with 200 within 2 s on
 * a new connection. If it does not, or if it answered the input with 500
 * Internal Server Error, the harness aborts so that libFuzzer keeps the
 * input, after printing the end of the daemon's log.
 *
 * The daemon is not instrumented: what it answers (status, problem type,
 * how the connection ended) is fed back to libFuzzer as extra counters.
 *
 * Environment: EVTASKD, the daemon (default: ../../src/evtaskd from this
 * file's directory); FUZZ_HTTP_READ_MS, the 500 ms; FUZZ_HTTP_DEBUG, to
 * show what each input was answered; FUZZ_HTTP_KEEP_LOG, to keep the
 * daemon's log after a clean run. Links only libc.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FUZZ_READ_MS	500	/* per input: the answer, until EOF */
#define FUZZ_PAUSE_MS	5	/* before the second copy */
#define FUZZ_HEALTH_MS	2000	/* the liveness check */
#define FUZZ_START_MS	10000	/* the daemon's start */

#define FUZZ_CONFIG							\
"{\n"									\
"  \"shutdown_grace_ms\": 2000,\n"					\
"  \"limits\": {\"max_active_tasks\": 100000},\n"			\
"  \"jobs\": {\n"							\
"    \"echo\": {\n"							\
"      \"argv\": [\"/bin/echo\", \"{msg}\", \"{task_id}\"],\n"		\
"      \"args\": {\"msg\": {\"pattern\": \"[a-z]{0,16}\"}},\n"		\
"      \"timeout_ms\": 10000,\n"					\
"      \"max_concurrent\": 2,\n"					\
"      \"cleanup_argv\": [\"/bin/true\"]\n"				\
"    }\n"								\
"  }\n"									\
"}\n"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static pid_t	fuzz_pid = -1;
static int	fuzz_read_ms = FUZZ_READ_MS;
static int	fuzz_debug;	/* FUZZ_HTTP_DEBUG: show each answer */
static int	fuzz_port;
static char	fuzz_dir[PATH_MAX];
static char	fuzz_log[PATH_MAX + 32];
static char	fuzz_conf[PATH_MAX + 32];

/* Milliseconds on the monotonic clock. */
static int64_t
fuzz_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep for ms milliseconds. */
static void
fuzz_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Print the end of the daemon's log to stderr. */
static void
fuzz_show_log(void)
{
	char buf[8192];
	ssize_t n;
	off_t size;
	int fd;

	if ((fd = open(fuzz_log, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)sizeof buf ? size - (off_t)sizeof buf : 0,
	    SEEK_SET);
	fprintf(stderr, "fuzz_http: the end of the daemon's log (%s):\n",
	    fuzz_log);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, stderr);
	close(fd);
}

/* Has the daemon exited? Describes how into buf. */
static int
fuzz_daemon_gone(char *buf, size_t len)
{
	int status;

	if (fuzz_pid <= 0 || waitpid(fuzz_pid, &status, WNOHANG) != fuzz_pid)
		return 0;
	if (WIFSIGNALED(status))
		snprintf(buf, len, "the daemon was killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(buf, len, "the daemon exited with status %d",
		    WEXITSTATUS(status));
	fuzz_pid = -1;
	return 1;
}

/*
 * Stop the daemon (at exit): SIGTERM, SIGKILL after 5 s. It must exit 0:
 * otherwise (a sanitizer's report at exit, a hang) its log is shown and
 * the fuzzer's exit status made 1.
 */
static void
fuzz_daemon_stop(void)
{
	int64_t until;
	int status = 0, bad = 0;

	if (fuzz_pid > 0) {
		kill(fuzz_pid, SIGTERM);
		until = fuzz_now_ms() + 5000;
		while (waitpid(fuzz_pid, &status, WNOHANG) == 0) {
			if (fuzz_now_ms() > until) {
				fprintf(stderr, "fuzz_http: the daemon did not "
				    "stop within 5 s of SIGTERM\n");
				kill(fuzz_pid, SIGKILL);
				waitpid(fuzz_pid, &status, 0);
				bad = 1;
				break;
			}
			fuzz_sleep_ms(10);
		}
		if (!bad && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
			fprintf(stderr, "fuzz_http: the daemon's exit status at "
			    "stop is %d%s\n", WIFEXITED(status) ?
			    WEXITSTATUS(status) : WTERMSIG(status),
			    WIFEXITED(status) ? "" : " (a signal)");
			bad = 1;
		}
		fuzz_pid = -1;
		if (bad)
			fuzz_show_log();
	}
	if (!bad && getenv("FUZZ_HTTP_KEEP_LOG") == NULL) {
		unlink(fuzz_log);
		unlink(fuzz_conf);
		rmdir(fuzz_dir);
	}
	if (bad)
		_exit(1);
}

/* The daemon is dead or deaf: say why and abort, keeping the input. */
static void
fuzz_daemon_fail(const char *what)
{
	char how[128];

	fprintf(stderr, "fuzz_http: %s\n", what);
	if (fuzz_daemon_gone(how, sizeof how))
		fprintf(stderr, "fuzz_http: %s\n", how);
	fuzz_show_log();
	/*
	 * libFuzzer leaves with _Exit after the abort: no atexit, so the log
	 * stays; the daemon goes with its parent (PR_SET_PDEATHSIG).
	 */
	abort();
}

/* The daemon to run: $EVTASKD, or ../../src/evtaskd from this file. */
static void
fuzz_daemon_path(char *buf, size_t len)
{
	const char *env = getenv("EVTASKD"), *slash;

	if (env != NULL && *env != '\0') {
		snprintf(buf, len, "%s", env);
		return;
	}
	slash = strrchr(__FILE__, '/');
	if (slash == NULL)
		snprintf(buf, len, "../../src/evtaskd");
	else
		snprintf(buf, len, "%.*s/../../src/evtaskd",
		    (int)(slash - __FILE__), __FILE__);
}

/* Write the daemon's config into the scratch directory. */
static void
fuzz_write_config(void)
{
	FILE *f;

	snprintf(fuzz_conf, sizeof fuzz_conf, "%s/evtaskd.json", fuzz_dir);
	if ((f = fopen(fuzz_conf, "w")) == NULL || fputs(FUZZ_CONFIG, f) ==
	    EOF || fclose(f) != 0) {
		perror(fuzz_conf);
		exit(1);
	}
}

/* Start the daemon with its stderr in the log file. */
static void
fuzz_daemon_spawn(const char *path)
{
	pid_t parent = getpid();
	int fd;

	fuzz_pid = fork();
	if (fuzz_pid < 0) {
		perror("fork");
		exit(1);
	}
	if (fuzz_pid > 0)
		return;
	/* The child: die with the fuzzer, even if it _exit()s on a crash. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	fd = open(fuzz_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		_exit(1);
	dup2(fd, STDERR_FILENO);
	close(fd);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	execl(path, path, "--memory", "-l", "127.0.0.1:0", "--log-level",
	    "warn", "-c", fuzz_conf, (char *)NULL);
	fprintf(stderr, "fuzz_http: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* Wait for "listening on http://127.0.0.1:PORT" in the log. */
static void
fuzz_daemon_wait(void)
{
	static const char needle[] = "listening on http://127.0.0.1:";
	char buf[65536], how[128], *p;
	int64_t until = fuzz_now_ms() + FUZZ_START_MS;
	ssize_t n;
	int fd;

	while (fuzz_now_ms() < until) {
		if (fuzz_daemon_gone(how, sizeof how)) {
			fprintf(stderr, "fuzz_http: %s at start\n", how);
			fuzz_show_log();
			exit(1);
		}
		if ((fd = open(fuzz_log, O_RDONLY | O_CLOEXEC)) >= 0) {
			n = read(fd, buf, sizeof buf - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			if ((p = strstr(buf, needle)) != NULL) {
				fuzz_port = atoi(p + sizeof needle - 1);
				if (fuzz_port > 0 && fuzz_port < 65536)
					return;
			}
		}
		fuzz_sleep_ms(20);
	}
	fprintf(stderr, "fuzz_http: the daemon did not say where it listens\n");
	fuzz_show_log();
	exit(1);
}

/* Once: start the daemon and learn its port. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];

	signal(SIGPIPE, SIG_IGN);
	fuzz_debug = getenv("FUZZ_HTTP_DEBUG") != NULL;
	if (getenv("FUZZ_HTTP_READ_MS") != NULL &&
	    atoi(getenv("FUZZ_HTTP_READ_MS")) > 0)
		fuzz_read_ms = atoi(getenv("FUZZ_HTTP_READ_MS"));
	fuzz_daemon_path(path, sizeof path);
	if (access(path, X_OK) != 0) {
		fprintf(stderr, "fuzz_http: %s: %s (set EVTASKD to the built "
		    "daemon)\n", path, strerror(errno));
		exit(1);
	}
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fuzz_http.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror(fuzz_dir);
		exit(1);
	}
	snprintf(fuzz_log, sizeof fuzz_log, "%s/evtaskd.log", fuzz_dir);
	fuzz_write_config();
	atexit(fuzz_daemon_stop);
	fuzz_daemon_spawn(path);
	fuzz_daemon_wait();
	fprintf(stderr, "fuzz_http: %s (pid %d) on 127.0.0.1:%d, log %s\n",
	    path, (int)fuzz_pid, fuzz_port, fuzz_log);
	return 0;
}

/* A non-blocking connection to the daemon, or -1. */
static int
fuzz_connect(void)
{
	struct sockaddr_in sin;
	struct linger lg = { 1, 0 };	/* close with RST: no TIME_WAIT */
	struct pollfd pfd;
	int fd, one = 1, err = 0;
	socklen_t len = sizeof err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)fuzz_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, FUZZ_HEALTH_MS) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* What came back on a connection, and how it ended. */
enum fuzz_end {
	FUZZ_END_OPEN,		/* still open at the deadline */
	FUZZ_END_EOF,
	FUZZ_END_ERROR,		/* reset */
};
struct fuzz_answer {
	char		 buf[65536];
	size_t		 len;		/* kept: at most sizeof buf - 1 */
	enum fuzz_end	 end;
};

/* One recv into a; returns 0, or -1 once the connection ended. */
static int
fuzz_recv(int fd, struct fuzz_answer *a)
{
	char sink[16384];
	size_t room;
	ssize_t n;

	n = recv(fd, sink, sizeof sink, 0);
	if (n == 0) {
		a->end = FUZZ_END_EOF;
		return -1;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		a->end = FUZZ_END_ERROR;
		return -1;
	}
	room = sizeof a->buf - 1 - a->len;
	if ((size_t)n > room)
		n = (ssize_t)room;
	memcpy(a->buf + a->len, sink, (size_t)n);
	a->len += (size_t)n;
	a->buf[a->len] = '\0';
	return 0;
}

/*
 * Send data before the deadline, reading what comes back meanwhile (so
 * that neither side blocks) into a. Returns -1 if the connection ended.
 */
static int
fuzz_send(int fd, const uint8_t *data, size_t size, int64_t until,
    struct fuzz_answer *a)
{
	struct pollfd pfd;
	size_t off = 0;
	int64_t left;
	ssize_t n;

	while (off < size && (left = until - fuzz_now_ms()) > 0) {
		pfd.fd = fd;
		pfd.events = POLLIN | POLLOUT;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) &&
		    fuzz_recv(fd, a) != 0)
			return -1;
		if (pfd.revents & POLLOUT) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				a->end = FUZZ_END_ERROR;
				return -1;
			}
			if (n > 0)
				off += (size_t)n;
		}
	}
	return 0;
}

/* Read until the connection ends or the deadline passes. */
static void
fuzz_read(int fd, int64_t until, struct fuzz_answer *a)
{
	struct pollfd pfd;
	int64_t left;

	while ((left = until - fuzz_now_ms()) > 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (fuzz_recv(fd, a) != 0)
			return;
	}
}

/*
 * libFuzzer's extra counters: the daemon is not instrumented, so what it
 * answered (each response's status and problem type, how the connection
 * ended) is the coverage that tells inputs apart.
 */
static uint8_t fuzz_counters[4096]
    __attribute__((section("__libfuzzer_extra_counters"), used));

/* Count one feature, a hash of up to three values. */
static void
fuzz_feature(uint32_t a, uint32_t b, uint32_t c)
{
	uint32_t h = 2166136261u;

	h = (h ^ a) * 16777619u;
	h = (h ^ b) * 16777619u;
	h = (h ^ c) * 16777619u;
	if (fuzz_counters[h % sizeof fuzz_counters] < 255)
		fuzz_counters[h % sizeof fuzz_counters]++;
}

/* A string's hash for fuzz_feature. */
static uint32_t
fuzz_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The value of header name (with ": ") in [p, end), or NULL. */
static const char *
fuzz_header(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	for (; p < end && (p = memmem(p, (size_t)(end - p), "\r\n", 2)) !=
	    NULL; p += 2) {
		if ((size_t)(end - p - 2) > n &&
		    strncasecmp(p + 2, name, n) == 0)
			return p + 2 + n;
	}
	return NULL;
}

/*
 * Walk the responses on a connection by their framing (a HEAD answer has
 * a Content-Length but no body), turning each into features. A 500 is a
 * failure: client input must never cause an internal error.
 */
static void
fuzz_features(const struct fuzz_answer *a)
{
	static const char urn[] = "urn:evtaskd:problem:";
	const char *p = a->buf, *end = a->buf + a->len, *head, *body, *next;
	const char *v, *slug;
	unsigned long clen;
	uint32_t i = 0, status;
	size_t n;

	while (end - p >= 12 && strncmp(p, "HTTP/1.", 7) == 0) {
		status = (uint32_t)strtoul(p + 9, NULL, 10);
		if ((head = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) ==
		    NULL) {
			fuzz_feature(i < 4 ? i : 4, status, 1);
			i++;
			break;
		}
		body = head + 4;
		if (status >= 100 && status < 200)
			next = body;
		else if ((v = fuzz_header(p, head + 2, "Content-Length: ")) !=
		    NULL) {
			clen = strtoul(v, NULL, 10);
			next = clen < (unsigned long)(end - body) ? body + clen :
			    end;
			if (next < end && strncmp(next, "HTTP/1.", 7) != 0 &&
			    strncmp(body, "HTTP/1.", 7) == 0)
				next = body;	/* HEAD */
		} else if ((v = memmem(body, (size_t)(end - body),
		    "\r\n0\r\n\r\n", 7)) != NULL)
			next = v + 7;		/* chunked */
		else
			next = end;
		slug = memmem(body, (size_t)(next - body), urn, sizeof urn - 1);
		n = 0;
		if (slug != NULL) {
			slug += sizeof urn - 1;
			while (slug + n < next && slug[n] != '"' && n < 64)
				n++;
		}
		fuzz_feature(i < 4 ? i : 4, status, slug != NULL ?
		    fuzz_hash(slug, n) : 0);
		fuzz_feature(1000, status, fuzz_header(p, head + 2,
		    "Connection: close") != NULL);
		if (fuzz_debug)
			fprintf(stderr, "fuzz_http: answer %u: %u %.*s\n", i,
			    status, (int)n, slug != NULL ? slug : "");
		if (status == 500) {
			fprintf(stderr, "fuzz_http: the daemon answered %u:\n"
			    "%.*s\n", status, (int)(next - p > 1000 ? 1000 :
			    next - p), p);
			fuzz_daemon_fail("a server error answers client input");
		}
		i++;
		p = next;
	}
	if (fuzz_debug)
		fprintf(stderr, "fuzz_http: %u answers, %s, %zu bytes %s\n", i,
		    a->end == FUZZ_END_EOF ? "closed" : a->end ==
		    FUZZ_END_ERROR ? "reset" : "left open", a->len,
		    p == end ? "understood" : "not understood");
	fuzz_feature(2000, a->end, i < 8 ? i : 8);
	fuzz_feature(3000, p == end, 0);	/* all of it understood? */
}

/* Does the daemon answer GET /healthz with 200 in time? */
static void
fuzz_check_health(void)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: fuzz\r\n"
	    "Connection: close\r\n\r\n";
	int64_t until = fuzz_now_ms() + FUZZ_HEALTH_MS;
	static struct fuzz_answer a;
	char msg[700];
	int fd;

	if ((fd = fuzz_connect()) < 0)
		fuzz_daemon_fail("cannot connect for GET /healthz");
	a.len = 0;
	a.buf[0] = '\0';
	a.end = FUZZ_END_OPEN;
	if (fuzz_send(fd, (const uint8_t *)req, sizeof req - 1, until,
	    &a) == 0)
		fuzz_read(fd, until, &a);
	close(fd);
	if (strncmp(a.buf, "HTTP/1.1 200 ", 13) != 0) {
		snprintf(msg, sizeof msg, "GET /healthz did not answer 200 in "
		    "%d ms; got: '%.200s'", FUZZ_HEALTH_MS, a.buf);
		fuzz_daemon_fail(msg);
	}
}

/* One input: raw bytes on a fresh connection. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t until = fuzz_now_ms() + fuzz_read_ms;
	static struct fuzz_answer a;
	int fd;

	if ((fd = fuzz_connect()) < 0)
		fuzz_daemon_fail("cannot connect");
	a.len = 0;
	a.buf[0] = '\0';
	a.end = FUZZ_END_OPEN;
	if (fuzz_send(fd, data, size, until, &a) == 0 && size % 2 == 1) {
		/* Odd length: again on the same connection, a bit later. */
		fuzz_read(fd, fuzz_now_ms() + FUZZ_PAUSE_MS, &a);
		if (a.end == FUZZ_END_OPEN)
			fuzz_send(fd, data, size, until, &a);
	}
	if (a.end == FUZZ_END_OPEN) {
		shutdown(fd, SHUT_WR);
		fuzz_read(fd, until, &a);
	}
	close(fd);
	fuzz_features(&a);
	fuzz_check_health();
	return 0;
}
