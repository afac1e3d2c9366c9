/*
 * ctl-out.c -- what evtaskctl's human output looks like: the terminal's
 * width, state colours (only on a terminal, never with NO_COLOR), relative
 * times ("3m ago", "in 2h") and aligned tables that fit the width.
 */

#include "ctl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* A table being filled: its cells, row by row, copied. */
struct ctl_table {
	size_t		 ncols;
	size_t		 minw[CTL_TABLE_MAXCOLS];
	char		**cells;	/* nrows * ncols, row 0 the heads */
	size_t		 nrows;
};

/* The colour of each state (SGR parameters). */
static const struct {
	const char	*state;
	const char	*sgr;
} ctl_out_colours[] = {
	{ "scheduled", "2" },
	{ "running", "36" },
	{ "cancelling", "33" },
	{ "succeeded", "32" },
	{ "failed", "31" },
	{ "cancelled", "33" },
	{ "timed_out", "35" },
};

/* The units of relative times, largest first; "d" past two days. */
static const struct {
	int64_t		 ms;
	const char	*unit;
	int64_t		 from;	/* used from this many ms on */
} ctl_out_units[] = {
	{ 86400000, "d", 172800000 },
	{ 3600000, "h", 7200000 },
	{ 60000, "m", 120000 },
	{ 1000, "s", 1000 },
};

/* The terminal's width: TIOCGWINSZ on stdout, else $COLUMNS, else 80. */
int
ctl_out_width(void)
{
	struct winsize ws;
	const char *env = getenv("COLUMNS");
	int n;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (env != NULL && (n = atoi(env)) > 0)
		return n;
	return 80;
}

/* Colours: only on a terminal, not for --json, never with NO_COLOR set. */
int
ctl_out_colour(void)
{
	static int decided = -1;
	const char *no = getenv("NO_COLOR");

	if (decided < 0)
		decided = !ctl_json && isatty(STDOUT_FILENO) &&
		    (no == NULL || *no == '\0');
	return decided;
}

/* The SGR colour of a state, or NULL. */
const char *
ctl_out_state_colour(const char *state)
{
	size_t i;

	for (i = 0; i < sizeof ctl_out_colours / sizeof ctl_out_colours[0];
	    i++)
		if (strcmp(ctl_out_colours[i].state, state) == 0)
			return ctl_out_colours[i].sgr;
	return NULL;
}

/* Print a state, coloured when colours are on. */
void
ctl_out_state(FILE *f, const char *state)
{
	const char *sgr = ctl_out_state_colour(state);

	if (sgr != NULL && f == stdout && ctl_out_colour())
		fprintf(f, "\033[%sm%s\033[0m", sgr, state);
	else
		fputs(state, f);
}

/* "just now", "3m ago", "in 2h": when then is, seen from now (ms). */
void
ctl_out_ago(int64_t then, int64_t now, char *buf, size_t len)
{
	int64_t d = now > then ? now - then : then - now;
	size_t i;

	for (i = 0; i < sizeof ctl_out_units / sizeof ctl_out_units[0]; i++)
		if (d >= ctl_out_units[i].from)
			break;
	if (i == sizeof ctl_out_units / sizeof ctl_out_units[0])
		snprintf(buf, len, "just now");
	else if (now >= then)
		snprintf(buf, len, "%lld%s ago", (long long)(d /
		    ctl_out_units[i].ms), ctl_out_units[i].unit);
	else
		snprintf(buf, len, "in %lld%s", (long long)(d /
		    ctl_out_units[i].ms), ctl_out_units[i].unit);
}

/* An RFC 3339 time as "3m ago" ("-" when null or not a time). */
void
ctl_out_time_ago(const char *rfc3339, char *buf, size_t len)
{
	int64_t ms;

	if (rfc3339 == NULL || clock_parse_rfc3339(rfc3339, &ms) != 0)
		snprintf(buf, len, "-");
	else
		ctl_out_ago(ms, clock_now_ms(), buf, len);
}

/* How many columns text takes: its UTF-8 characters. */
size_t
ctl_out_textwidth(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* The sum of widths plus two spaces between shown columns. */
static size_t
ctl_out_total(size_t n, const size_t *w)
{
	size_t i, total = 0, shown = 0;

	for (i = 0; i < n; i++) {
		total += w[i];
		shown += w[i] > 0;
	}
	return total + (shown > 0 ? 2 * (shown - 1) : 0);
}

/*
 * Fit n columns of natural widths into width: shrink the widest column
 * that may shrink (down to its minimum) one step at a time; if that is not
 * enough, hide columns from the right (width 0), never the first.
 */
void
ctl_out_layout(size_t n, const size_t *natural, const size_t *minw,
    size_t width, size_t *out)
{
	size_t i, widest;

	memcpy(out, natural, n * sizeof *out);
	while (ctl_out_total(n, out) > width) {
		widest = n;
		for (i = 0; i < n; i++)
			if (out[i] > minw[i] && (widest == n ||
			    out[i] > out[widest]))
				widest = i;
		if (widest == n)
			break;
		out[widest]--;
	}
	for (i = n - 1; i > 0 && ctl_out_total(n, out) > width; i--)
		out[i] = 0;
}

/* A table with these heads; minw: how narrow each column may get. */
struct ctl_table *
ctl_table_new(size_t ncols, const char *const *heads, const size_t *minw)
{
	struct ctl_table *t = xcalloc(1, sizeof *t);

	t->ncols = ncols;
	memcpy(t->minw, minw, ncols * sizeof *minw);
	ctl_table_add(t, heads);
	return t;
}

/* Add a row of ncols cells (copied). */
void
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	size_t i;

	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols *
	    sizeof *t->cells);
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] ?
		    cells[i] : "-");
	t->nrows++;
}

/* How many bytes of s make its first n characters. */
static size_t
ctl_out_prefix(const char *s, size_t n)
{
	size_t chars = 0, b;

	for (b = 0; s[b] != '\0'; b++)
		if (((unsigned char)s[b] & 0xc0) != 0x80 && chars++ == n)
			break;
	return b;
}

/* Print one cell in w columns: cut with "…" if longer; a state coloured. */
static void
ctl_table_cell(FILE *f, const char *s, size_t w, int last, int state)
{
	size_t tw = ctl_out_textwidth(s);

	if (tw > w) {
		fprintf(f, "%.*s\xe2\x80\xa6", (int)ctl_out_prefix(s, w - 1),
		    s);
		tw = w;
	} else if (state)
		ctl_out_state(f, s);
	else
		fputs(s, f);
	if (!last)
		fprintf(f, "%*s", (int)(w - tw), "");
}

/* Print the table within width columns (the column headed STATE in colour). */
void
ctl_table_print(struct ctl_table *t, FILE *f, size_t width)
{
	size_t natural[CTL_TABLE_MAXCOLS] = { 0 }, w[CTL_TABLE_MAXCOLS];
	size_t r, c, last;
	const char *s;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			s = t->cells[r * t->ncols + c];
			if (ctl_out_textwidth(s) > natural[c])
				natural[c] = ctl_out_textwidth(s);
		}
	ctl_out_layout(t->ncols, natural, t->minw, width, w);
	for (last = t->ncols - 1; last > 0 && w[last] == 0; last--)
		;
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c <= last; c++) {
			if (w[c] == 0)
				continue;
			if (c > 0)
				fputs("  ", f);
			ctl_table_cell(f, t->cells[r * t->ncols + c], w[c],
			    c == last, r > 0 && strcmp(t->cells[c],
			    "STATE") == 0);
		}
		fputc('\n', f);
	}
}

/* The one place a table is freed. */
void
ctl_table_free(struct ctl_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
