/*
 * http-internal.h -- what the four http*.c files share and nothing else
 * sees: the request, and the calls between them. Only http*.c include it;
 * the rest of the daemon knows struct http_request by name alone and uses
 * the http_* functions in evtaskd.h.
 */

#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include "evtaskd.h"

#include <sys/queue.h>

#define HTTP_MAX_HEADERS	8
#define HTTP_CONN_SLACK		64	/* connections closing beyond the limit */

struct http_server;

/* One request, from its headers until MHD's completion callback. */
struct http_request {
	struct MHD_Connection	*conn;
	struct http_server	*server;
	const struct router_entry *route;
	const char		*method;	/* owned by MHD */
	const char		*path;		/* owned by MHD */
	char			*param;		/* the '*' of the route */
	char			*body;
	size_t			 body_len;
	size_t			 body_cap;
	int64_t			 start_us;
	unsigned		 status;
	size_t			 resp_bytes;	/* streams: counted as sent */
	char			*log_note;	/* the access line's end */
	MHD_ContentReaderCallback stream_reader;	/* the handler's */
	void			*stream_cls;
	struct MHD_Response	*pending;	/* answer not yet queued */
	unsigned		 pending_status;
	struct {
		const char	*name;
		char		*value;
	}			 headers[HTTP_MAX_HEADERS];
	int			 nheaders;
	struct http_conn	*hconn;		/* http-conn.c's record */
	struct event		*hup_ev;	/* client left while parked */
	http_gone_cb		*gone_cb;
	void			*gone_arg;
	void			*ctx;		/* the handler's state */
	void			(*ctx_free)(void *);
	unsigned		 dispatched:1;
	unsigned		 suspended:1;
	unsigned		 gone:1;
	unsigned		 streaming:1;
	unsigned		 loopback:1;	/* came on a loopback listener */
	LIST_ENTRY(http_request) entry;		/* parked requests */
};

/* http.c */
void	 http_count_status(unsigned);
void	 http_run_soon(struct http_server *);

/* http-conn.c */
struct http_conn_stats {
	uint64_t	open;
	uint64_t	timed_out;	/* no whole request in time */
	uint64_t	evicted;	/* made room at max_connections */
};
void	 http_conn_init(struct event_base *, unsigned int);
void	 http_conn_set_timeout(unsigned int);
const struct http_conn_stats *http_conn_get_stats(void);
void	 http_conn_started(struct MHD_Connection *, void **);
void	 http_conn_closed(void *);
void	 http_conn_request(struct http_request *);
void	 http_conn_answering(struct http_request *);
void	 http_conn_done(struct http_request *);
int	 http_conn_make_room(unsigned int);
void	 http_conn_shutdown(void);

/* http-guard.c */
int	 http_guard_check(struct http_request *, const struct router_entry *,
	    size_t, const struct http_limits *);

/* http-reply.c */
void	 http_reply_answer(struct http_request *, unsigned,
	    struct MHD_Response *, size_t);
enum MHD_Result http_reply_queue(struct http_request *);
void	 http_reply_free(struct http_request *);

/* http-park.c */
void	 http_park_init(struct event_base *);
uint64_t http_park_count(void);
void	 http_park_resume(struct http_request *);
void	 http_park_drop(struct http_request *);
void	 http_park_release_all(void);

#endif /* HTTP_INTERNAL_H */
