/* evtaskd.h -- the one internal header, a section per file. */

#ifndef EVTASKD_H
#define EVTASKD_H

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

struct event_base;

#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) PRINTFLIKE(1, 2);
char	*xvasprintf(const char *, va_list) PRINTFLIKE(1, 0);

/* log.c */
enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};
void	 log_init(enum log_level);
void	 log_set_level(enum log_level);
int	 log_enabled(enum log_level);
int	 log_level_parse(const char *);
void	 log_flush(void);
void	 log_msg(enum log_level, const char *, ...) PRINTFLIKE(2, 3);
void	 log_always(enum log_level, const char *, ...) PRINTFLIKE(2, 3);
void	 fatalx(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	do {						\
	if (log_enabled(LOG_DEBUG))					\
		log_msg(LOG_DEBUG, __VA_ARGS__);			\
} while (0)

/* clock.c */
#define CLOCK_RFC3339_LEN 24
int64_t	 clock_now_ms(void);
int64_t	 clock_mono_us(void);
void	 clock_format_ms(int64_t, char *);
int	 clock_parse_rfc3339(const char *, int64_t *);

/* listen.c */
struct listen_addr {
	int	unix_socket;
	char	host[256];
	int	port;
	char	path[108];
};
int	 listen_parse(const char *, struct listen_addr *, char **);
int	 listen_open(const struct listen_addr *, char **);
int	 listen_prepare_fd(int);
int	 listen_describe(int, char *, size_t);
void	 listen_format_peer(const struct sockaddr *, char *, size_t);

/* router.c */
struct http_request;
typedef void http_handler(struct http_request *);
struct router_entry {
	const char	*pattern;	/* '*' matches one path segment */
	const char	*method;
	http_handler	*handler;
};
struct router_match {
	const struct router_entry *entry;
	const char	*param;
	size_t		 paramlen;
	char		 allow[64];
};
enum router_result {
	ROUTER_FOUND,
	ROUTER_NOT_FOUND,
	ROUTER_BAD_METHOD,
};
enum router_result router_lookup(const struct router_entry *, size_t,
	    const char *, const char *, struct router_match *);

/* http.c */
struct http_limits {
	size_t		max_body_bytes;
	unsigned int	max_connections;
	unsigned int	max_connections_per_ip;
	unsigned int	connection_timeout_s;
};
struct http_stats {
	uint64_t	requests;
	uint64_t	by_class[6];	/* [2] is 2xx ...; [0] other */
	uint64_t	parked;		/* requests waiting right now */
};
typedef void http_gone_cb(struct http_request *, void *);
void	 http_init(struct event_base *, const struct router_entry *, size_t,
	    const struct http_limits *);
void	 http_set_limits(const struct http_limits *);
const struct http_stats *http_get_stats(void);
int	 http_listen_fd(int, const char *);
int	 http_flush(void);
void	 http_quiesce(void);
void	 http_stop(void);
int	 http_content_type_ok(const char *);
const char *http_header(struct http_request *, const char *);
const char *http_query(struct http_request *, const char *);
int	 http_query_each(struct http_request *,
	    int (*)(const char *, const char *, void *), void *);
const char *http_path(struct http_request *);
const char *http_param(struct http_request *);
const char *http_method(struct http_request *);
const char *http_body(struct http_request *, size_t *);
const struct sockaddr *http_peer(struct http_request *);
void	 http_set_ctx(struct http_request *, void *, void (*)(void *));
void	*http_get_ctx(struct http_request *);
void	 http_set_header(struct http_request *, const char *, const char *);
void	 http_reply(struct http_request *, unsigned, const char *, char *,
	    size_t);
void	 http_reply_json(struct http_request *, unsigned, json_t *);
void	 http_reply_json_type(struct http_request *, unsigned, json_t *,
	    const char *);
void	 http_reply_static(struct http_request *, unsigned, const char *,
	    const char *);
void	 http_problem_extra(struct http_request *, unsigned, const char *,
	    json_t *, const char *, ...) PRINTFLIKE(5, 6);
#define http_problem(req, status, slug, ...) \
	http_problem_extra(req, status, slug, NULL, __VA_ARGS__)
void	 http_suspend(struct http_request *, http_gone_cb *, void *);
int	 http_is_suspended(struct http_request *);
void	 http_reply_stream(struct http_request *, const char *,
	    MHD_ContentReaderCallback, void *);
void	 http_stream_pause(struct http_request *, http_gone_cb *, void *);
void	 http_stream_wake(struct http_request *);

/* api.c */
extern const struct router_entry api_routes[];
extern const size_t api_nroutes;

/* api-health.c */
void	 api_health_get(struct http_request *);

#endif /* EVTASKD_H */
