/* main.c -- flags, start-up and shutdown order, signal events, the loop. */

#include "evtaskd.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#define MAIN_DEFAULT_LISTEN "127.0.0.1:8080"

struct main_opts {
	const char	**listen;
	int		  nlisten;
	enum log_level	  log_level;
};

static struct event_base	*main_base;
static int			 main_done;

/* Print the usage text to f. */
static void
main_usage(FILE *f)
{
	fprintf(f,
"usage: evtaskd [-l ADDR]... [--log-level LEVEL] [-V] [-h]\n"
"  -l, --listen ADDR    HOST:PORT, [V6]:PORT or unix:/PATH; repeatable;\n"
"                       default " MAIN_DEFAULT_LISTEN ". Port 0 picks a free port.\n"
"      --memory         no store: nothing survives a restart\n"
"      --log-level L    error | warn | info | debug   (default info)\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           print this help and exit\n");
}

/* A usage error: say what, point at --help, exit 2. */
static void NORETURN
main_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("evtaskd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'evtaskd --help' for more information.\n", stderr);
	exit(2);
}

/* Parse the command line into opts; exits on -h, -V and usage errors. */
static void
main_parse(int argc, char **argv, struct main_opts *opts)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "memory", no_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, level;

	memset(opts, 0, sizeof *opts);
	opts->log_level = LOG_INFO;
	opts->listen = xcalloc((size_t)argc, sizeof *opts->listen);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			opts->listen[opts->nlisten++] = optarg;
			break;
		case 'm':
			break;	/* the only mode there is for now */
		case 'L':
			level = log_level_parse(optarg);
			if (level < 0)
				main_usage_error("--log-level: '%s' is not one "
				    "of error, warn, info, debug", optarg);
			opts->log_level = (enum log_level)level;
			break;
		case 'V':
			printf("evtaskd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			main_usage(stdout);
			exit(0);
		case ':':
			main_usage_error("option '%s' needs a value",
			    argv[optind - 1]);
		default:
			main_usage_error("unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		main_usage_error("unexpected argument '%s'", argv[optind]);
	if (opts->nlisten == 0)
		opts->listen[opts->nlisten++] = MAIN_DEFAULT_LISTEN;
}

/* Open every listen address; a bad one is a usage error (exit 2). */
static void
main_listen(const struct main_opts *opts)
{
	struct listen_addr addr;
	char *err;
	int i, fd;

	for (i = 0; i < opts->nlisten; i++) {
		if (listen_parse(opts->listen[i], &addr, &err) != 0)
			main_usage_error("--listen %s", err);
	}
	for (i = 0; i < opts->nlisten; i++) {
		listen_parse(opts->listen[i], &addr, &err);
		fd = listen_open(&addr, &err);
		if (fd < 0) {
			log_error("cannot listen on %s", err);
			free(err);
			exit(1);
		}
		if (http_listen_fd(fd, addr.unix_socket ? addr.path : NULL)
		    != 0)
			exit(1);
	}
}

/* SIGTERM or SIGINT: stop taking connections and leave the loop. */
static void
main_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT");
	http_quiesce();
	main_done = 1;
}

/* Allow as many open files as the hard limit permits. */
static void
main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A new event base with sub-millisecond timers (timerfd). */
static struct event_base *
main_new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		fatalx("event_base_new failed");
	return base;
}

/*
 * The end of one loop pass: commit what the pass changed, answer what
 * waited on it, and write the log, until nothing more is left to do.
 */
static void
main_pass_end(void)
{
	while (http_flush())
		;
	log_flush();
}

int
main(int argc, char **argv)
{
	struct main_opts opts;
	struct http_limits limits = {
		.max_body_bytes = 65536,
		.max_connections = 10000,
		.max_connections_per_ip = 1000,
		.connection_timeout_s = 30,
	};
	struct event *sigterm, *sigint;

	main_parse(argc, argv, &opts);
	log_init(opts.log_level);
	signal(SIGPIPE, SIG_IGN);
	main_raise_nofile();
	main_base = main_new_base();
	http_init(main_base, api_routes, api_nroutes, &limits);
	main_listen(&opts);
	sigterm = evsignal_new(main_base, SIGTERM, main_stop_cb, NULL);
	sigint = evsignal_new(main_base, SIGINT, main_stop_cb, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);

	while (!main_done) {
		event_base_loop(main_base, EVLOOP_ONCE);
		main_pass_end();
	}

	http_stop();
	log_info("stopped");
	log_flush();
	event_free(sigterm);
	event_free(sigint);
	event_base_free(main_base);
	free(opts.listen);
	return 0;
}
