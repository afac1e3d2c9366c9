/*
 * store-output.c -- a task's output as the store serves it: the seam
 * between GET /v1/tasks/ID/output and where the bytes are. A task running
 * here is read from its live output, and a single node (SQLite, --memory)
 * reads the file the task left (output.c), as ever. A shared store
 * (PostgreSQL, CONTRACT §12) reads the chunks every node's output is
 * copied to (pg-output.c), unless this node holds bytes of it (live, or
 * the file of a task still in its memory): so any node serves any task's
 * output, followed too, and the node that runs a task serves it from its
 * file.
 *
 * A file opens at once; the chunks answer later (the first read tells
 * where the bytes start), through the opened callback.
 */

#include "evtaskd.h"

#include <stdlib.h>

struct store_output {
	struct output_reader	*local;		/* a file or a live output */
	struct pg_output_reader	*remote;	/* the shared store's chunks */
};

/*
 * Is the output read here: on one node, or a shared store's output this
 * node has bytes of (live, or in its file)? An output with no byte here
 * may be another node's (a task adopted in its cleanup: its main output
 * was written where it ran), so the shared store's chunks answer.
 */
static int
store_output_local(const struct store_output_want *w)
{
	if (!store_shared())
		return 1;
	if (w->live != NULL)
		return output_total(w->live) > 0;
	return w->here && output_kept(&w->id, w->stream) > 0;
}

/*
 * A reader of what w asks for: ready(rarg) is called when a reader that
 * had nothing has bytes (or its end). When store_output_opening says so,
 * opened(oarg, rc) comes first, later. NULL with *err if it cannot be
 * read at all.
 */
struct store_output *
store_output_open(const struct store_output_want *w, store_output_cb *opened,
    void *oarg, output_ready_cb *ready, void *rarg, char **err)
{
	struct store_output *o = xcalloc(1, sizeof *o);

	if (store_output_local(w)) {
		o->local = output_reader_new(&w->id, w->stream, w->live,
		    w->offset, w->follow, ready, rarg, err);
		if (o->local != NULL)
			return o;
	} else {
		o->remote = pg_output_reader_new(w, opened, oarg, ready, rarg);
		if (o->remote != NULL)
			return o;
		*err = xstrdup("cannot read the output from the store (see "
		    "above)");
	}
	free(o);
	return NULL;
}

/* Is the reader waiting for its first read (opened comes later)? */
int
store_output_opening(const struct store_output *o)
{
	return o->remote != NULL;
}

/* The offset of the first byte it gives (once open). */
uint64_t
store_output_start(const struct store_output *o)
{
	return o->local != NULL ? output_reader_start(o->local) :
	    pg_output_reader_start(o->remote);
}

/*
 * The next bytes: how many; 0 if none now (ready is called when there
 * are); -1 at the end; -2 if the store failed (the answer is cut).
 */
ssize_t
store_output_read(struct store_output *o, char *buf, size_t max)
{
	return o->local != NULL ? output_reader_read(o->local, buf, max) :
	    pg_output_reader_read(o->remote, buf, max);
}

/* The one place a reader is freed (a read out is dropped). */
void
store_output_free(struct store_output *o)
{
	if (o == NULL)
		return;
	if (o->local != NULL)
		output_reader_free(o->local);
	if (o->remote != NULL)
		pg_output_reader_free(o->remote);
	free(o);
}
