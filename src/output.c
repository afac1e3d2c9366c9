/*
 * output.c -- a command task's output (and its cleanup's): what the
 * processes write, kept in a file per task and stream under the state
 * directory, up to a cap. The file is a ring behind a small header that
 * counts every byte ever written, so offsets keep counting after the
 * oldest bytes are overwritten, and a restart finds everything again.
 * Written from the loop as pipe data arrives, never fsynced: output is
 * not acknowledged data. Readers read the file at their own offset, so a
 * follower that stops reading costs nothing; followers of a live output
 * are told when bytes arrive or the output ends. A shared store gets a
 * copy of every byte as it is written (the tee: pg-output.c), so that
 * every node can serve it.
 */

#include "evtaskd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTPUT_MAGIC	"EVTOUT1"
#define OUTPUT_HEADER	32		/* magic[8], cap, total, reserved */
#define OUTPUT_HEADER_EVERY (1024 * 1024)	/* bytes between header writes */

static const char *const output_suffix[OUTPUT_NSTREAMS] = {
	[OUTPUT_MAIN] = "out",
	[OUTPUT_CLEANUP] = "cleanup",
};

/* A live output: its file open for writing, and who follows it. */
struct output {
	int			 refs;
	int			 fd;
	uint64_t		 cap;
	uint64_t		 total;		/* bytes ever written */
	uint64_t		 told;		/* the total the header says */
	int			 ended;		/* no more bytes will come */
	const struct output_tee	*tee;		/* where a copy goes, or NULL */
	void			*tee_arg;	/* the tee's, for this output */
	LIST_HEAD(, output_reader) readers;
};

/* One reader: its own descriptor and offset; woken when it waits. */
struct output_reader {
	struct output		*live;		/* NULL: a finished output */
	int			 fd;
	uint64_t		 cap;
	uint64_t		 total;		/* finished: as read at open */
	uint64_t		 pos;
	uint64_t		 start;		/* first byte sent */
	int			 follow;
	int			 waiting;
	output_ready_cb		*ready;
	void			*arg;
	LIST_ENTRY(output_reader) entry;
};

static char			*output_dir;
static const struct output_tee	*output_tee_ops;

/* Every output opened from now on is copied to tee too (NULL: none). */
void
output_tee(const struct output_tee *tee)
{
	output_tee_ops = tee;
}

/* Where outputs live (created if missing); NULL: nowhere (tests). */
int
output_init(const char *dir, char **err)
{
	free(output_dir);
	output_dir = NULL;
	if (dir == NULL)
		return 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	output_dir = xstrdup(dir);
	return 0;
}

/* Forget the directory at exit; a private one (--memory) goes too. */
void
output_shutdown(int remove)
{
	struct dirent *e;
	DIR *d;
	char *path;

	if (remove && output_dir != NULL && (d = opendir(output_dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s", output_dir, e->d_name);
			unlink(path);
			free(path);
		}
		closedir(d);
		rmdir(output_dir);
	}
	free(output_dir);
	output_dir = NULL;
}

/* The file of a task's stream (to free). */
static char *
output_path(const struct ulid *id, enum output_stream stream)
{
	char text[ULID_LEN + 1];

	ulid_format(id, text);
	return xasprintf("%s/%s.%s", output_dir, text, output_suffix[stream]);
}

/* Read a header: 0 with cap and total, -1 if it is not one. */
static int
output_read_header(int fd, uint64_t *cap, uint64_t *total)
{
	char h[OUTPUT_HEADER];

	if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h, OUTPUT_MAGIC, 8) != 0)
		return -1;
	memcpy(cap, h + 8, 8);
	memcpy(total, h + 16, 8);
	return *cap > 0 ? 0 : -1;
}

/* Write the header: the cap and every byte counted so far. */
static void
output_write_header(struct output *o)
{
	char h[OUTPUT_HEADER];

	memset(h, 0, sizeof h);
	memcpy(h, OUTPUT_MAGIC, 8);
	memcpy(h + 8, &o->cap, 8);
	memcpy(h + 16, &o->total, 8);
	if (pwrite(o->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
		log_warn("output: cannot write a header: %s", strerror(errno));
	o->told = o->total;
}

/*
 * The live output of a task's stream, to write and follow: the file is
 * created, or opened where a restart left it (its count goes on). A new
 * file keeps cap bytes. NULL with *err if it cannot be made.
 */
struct output *
output_open(const struct ulid *id, enum output_stream stream, size_t cap,
    char **err)
{
	struct output *o;
	char *path;
	int fd;

	if (output_dir == NULL) {
		*err = xstrdup("no output directory");
		return NULL;
	}
	path = output_path(id, stream);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	free(path);
	o = xcalloc(1, sizeof *o);
	o->refs = 1;
	o->fd = fd;
	LIST_INIT(&o->readers);
	if (output_read_header(fd, &o->cap, &o->total) != 0) {
		o->cap = cap;
		o->total = 0;
		output_write_header(o);
	}
	o->tee = output_tee_ops;
	if (o->tee != NULL)
		o->tee_arg = o->tee->open(id, stream, o->cap, o->total);
	return o;
}

/* Hold a live output (a reader does). */
static struct output *
output_ref(struct output *o)
{
	o->refs++;
	return o;
}

/* Let go of a live output: the last one closes its file. */
void
output_unref(struct output *o)
{
	if (o == NULL || --o->refs > 0)
		return;
	if (o->told != o->total)
		output_write_header(o);
	if (o->tee != NULL)
		o->tee->close(o->tee_arg);
	close(o->fd);
	free(o);
}

/* Every byte the stream ever had. */
uint64_t
output_total(const struct output *o)
{
	return o != NULL ? o->total : 0;
}

/* Wake every reader that waits. */
static void
output_wake(struct output *o)
{
	struct output_reader *r, *next;

	for (r = LIST_FIRST(&o->readers); r != NULL; r = next) {
		next = LIST_NEXT(r, entry);
		if (r->waiting) {
			r->waiting = 0;
			r->ready(r->arg);
		}
	}
}

/* Write bytes at ring position at (split where the ring wraps). */
static int
output_put(struct output *o, uint64_t at, const char *data, size_t n)
{
	uint64_t off = at % o->cap;
	size_t first = o->cap - off < n ? (size_t)(o->cap - off) : n;

	if (pwrite(o->fd, data, first, (off_t)(OUTPUT_HEADER + off)) !=
	    (ssize_t)first)
		return -1;
	if (first < n && pwrite(o->fd, data + first, n - first,
	    OUTPUT_HEADER) != (ssize_t)(n - first))
		return -1;
	return 0;
}

/* Bytes the processes wrote: keep them (the last cap), wake followers. */
void
output_append(struct output *o, const char *data, size_t n)
{
	if (n > o->cap) {		/* only the last cap bytes can stay */
		o->total += n - o->cap;
		data += n - o->cap;
		n = (size_t)o->cap;
	}
	if (output_put(o, o->total, data, n) != 0)
		log_warn("output: cannot write: %s", strerror(errno));
	if (o->tee != NULL)
		o->tee->append(o->tee_arg, o->total, data, n);
	o->total += n;
	/* The count on disk lags by at most a MiB: output is not acknowledged
	 * data, and one header write per read cost a third of the syscalls. */
	if (o->total - o->told >= OUTPUT_HEADER_EVERY)
		output_write_header(o);
	output_wake(o);
}

/* No more bytes will come: followers end once they have read all. */
void
output_end(struct output *o)
{
	if (o == NULL || o->ended)
		return;
	o->ended = 1;
	if (o->told != o->total)
		output_write_header(o);
	output_wake(o);
}

/* The oldest byte still kept of total, with cap kept. */
static uint64_t
output_first(uint64_t total, uint64_t cap)
{
	return total > cap ? total - cap : 0;
}

/* The bytes a task's stream ever had in its file here (0: no file). */
uint64_t
output_kept(const struct ulid *id, enum output_stream stream)
{
	uint64_t cap, total = 0;
	char *path;
	int fd;

	if (output_dir == NULL)
		return 0;
	path = output_path(id, stream);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0;
	if (output_read_header(fd, &cap, &total) != 0)
		total = 0;
	close(fd);
	return total;
}

/* A reader of a finished output: its file, or nothing at all. */
static int
output_open_file(struct output_reader *r, const struct ulid *id,
    enum output_stream stream)
{
	char *path;

	if (output_dir == NULL)
		return 0;
	path = output_path(id, stream);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (r->fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (output_read_header(r->fd, &r->cap, &r->total) != 0)
		r->total = 0;
	return 0;
}

/*
 * A reader of a task's stream from offset on: of its live output (live not
 * NULL; with follow it waits for more, and ready is called when there is),
 * or of the file a finished task left. NULL with *err on a read error.
 */
struct output_reader *
output_reader_new(const struct ulid *id, enum output_stream stream,
    struct output *live, uint64_t offset, int follow, output_ready_cb *ready,
    void *arg, char **err)
{
	struct output_reader *r = xcalloc(1, sizeof *r);
	uint64_t first;

	r->fd = -1;
	r->follow = follow && live != NULL;
	r->ready = ready;
	r->arg = arg;
	if (live != NULL) {
		r->live = output_ref(live);
		r->cap = live->cap;
		r->fd = dup(live->fd);
		LIST_INSERT_HEAD(&live->readers, r, entry);
	} else if (output_open_file(r, id, stream) != 0) {
		*err = xasprintf("cannot read the output: %s", strerror(errno));
		output_reader_free(r);
		return NULL;
	}
	first = output_first(output_reader_total(r), r->cap);
	r->pos = offset > first ? offset : first;
	r->start = r->pos;
	return r;
}

/* The count of the stream a reader reads. */
uint64_t
output_reader_total(const struct output_reader *r)
{
	return r->live != NULL ? r->live->total : r->total;
}

/* The offset of the first byte the reader gives (Evtaskd-Output-Start). */
uint64_t
output_reader_start(const struct output_reader *r)
{
	return r->start;
}

/*
 * Give the next bytes: how many, 0 if none now (ready is called when there
 * are), -1 at the end (everything was given, and no more will come).
 */
ssize_t
output_reader_read(struct output_reader *r, char *buf, size_t max)
{
	uint64_t total = output_reader_total(r), first, off, n;
	ssize_t got;

	first = output_first(total, r->cap);
	if (r->pos < first)
		r->pos = first;		/* overwritten while we were away */
	if (r->pos >= total) {
		if (!r->follow || r->live->ended)
			return -1;
		r->waiting = 1;
		return 0;
	}
	off = r->pos % r->cap;
	n = total - r->pos;
	if (n > r->cap - off)
		n = r->cap - off;
	if (n > max)
		n = max;
	got = pread(r->fd, buf, (size_t)n, (off_t)(OUTPUT_HEADER + off));
	if (got <= 0)
		return -1;
	r->pos += (uint64_t)got;
	return got;
}

/* The one place a reader is freed. */
void
output_reader_free(struct output_reader *r)
{
	if (r->live != NULL) {
		LIST_REMOVE(r, entry);
		output_unref(r->live);
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* A purged task's outputs go with it. */
void
output_remove(const struct ulid *id)
{
	enum output_stream s;
	char *path;

	if (output_dir == NULL)
		return;
	for (s = 0; s < OUTPUT_NSTREAMS; s++) {
		path = output_path(id, s);
		if (unlink(path) != 0 && errno != ENOENT)
			log_warn("output: %s: %s", path, strerror(errno));
		free(path);
	}
}
