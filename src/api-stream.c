/*
 * api-stream.c -- answers that stream (the event stream, followed output):
 * MHD asks for bytes, the source gives what it has, the request is parked
 * while it has none, and the source's ready callback resumes it. One
 * adapter for every source, so that parking, waking and ending are
 * written once.
 */

#include "evtaskd.h"

#include <stdlib.h>

struct api_stream {
	struct http_request	*req;
	void			*src;
	const struct api_source	*ops;
	int			 gone;		/* the client left while parked */
};

/* The client of a parked stream left: the stream ends when resumed. */
static void
api_stream_gone_cb(struct http_request *req, void *arg)
{
	struct api_stream *s = arg;

	s->gone = 1;
}

/* MHD wants bytes: give what the source has, or park until it has more. */
static ssize_t
api_stream_reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_stream *s = cls;
	ssize_t n;

	if (s->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = s->ops->read(s->src, buf, max);
	if (n == -1 && s->ops->clean_end)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0)
		http_stream_pause(s->req, api_stream_gone_cb, s);
	return n;
}

/* The source has bytes (or its end) for a parked stream: resume it. */
void
api_stream_ready(void *arg)
{
	struct api_stream *s = arg;

	http_stream_wake(s->req);
}

/* The source gave up on a reader that fell behind: close it now. */
void
api_stream_drop(void *arg)
{
	struct api_stream *s = arg;

	http_stream_close(s->req);
}

/* The answer is over: the one place a stream (and its source) is freed. */
static void
api_stream_free(void *arg)
{
	struct api_stream *s = arg;

	if (s->src != NULL)
		s->ops->free(s->src);
	free(s);
}

/* A stream for req; its source is made next, with it as ready's arg. */
struct api_stream *
api_stream_new(struct http_request *req)
{
	struct api_stream *s = xcalloc(1, sizeof *s);

	s->req = req;
	http_set_ctx(req, s, api_stream_free);
	return s;
}

/* Start answering with the source's bytes, as type. */
void
api_stream_start(struct api_stream *s, void *src,
    const struct api_source *ops, const char *type)
{
	s->src = src;
	s->ops = ops;
	http_reply_stream(s->req, type, api_stream_reader_cb, s);
}
