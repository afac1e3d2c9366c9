/*
 * cron.c -- cron expressions: five fields (minute, hour, day of month,
 * month, day of week) with '*', lists, ranges, steps and English names,
 * or @hourly, @daily, @weekly, @monthly, @yearly; parsed once into bit
 * sets. The next run is found in an IANA zone through glibc's localtime_r
 * and mktime, with TZ set here, on the loop (nothing else in the process
 * reads local time). A run in a daylight-saving gap happens at the first
 * minute after the gap; a run in a repeated hour happens once, the first
 * time.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CRON_ZONE_DIR	"/usr/share/zoneinfo/"
#define CRON_ZONE_MAX	64
#define CRON_DAYS_MAX	(366 * 9)	/* Feb 29 on a Monday: 28 years... */

/* One field: its name, range, and the names it knows. */
struct cron_field {
	const char		*name;
	int			 min, max;
	const char *const	*names;		/* names[i] is min + i */
};

static const char *const cron_months[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
	"nov", "dec", NULL
};
static const char *const cron_wdays[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const struct cron_field cron_fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, cron_months },
	{ "day of week", 0, 7, cron_wdays },	/* 7 is Sunday too */
};

/* The @ forms and what they stand for. */
static const struct {
	const char	*name;
	const char	*expr;
} cron_macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static char	cron_zone[CRON_ZONE_MAX + 1];	/* TZ as last set */

/* A number or a name of the field at *s; -1 if neither. */
static int
cron_value(const struct cron_field *f, const char **s)
{
	char *end;
	long v;
	int i;

	if (f->names != NULL) {
		for (i = 0; f->names[i] != NULL; i++) {
			if (strncasecmp(*s, f->names[i], 3) == 0) {
				*s += 3;
				return f->min + i;
			}
		}
	}
	if (**s < '0' || **s > '9')
		return -1;
	errno = 0;
	v = strtol(*s, &end, 10);
	if (errno != 0 || v > 1000)
		v = 1000;
	*s = end;
	return (int)v;
}

/* Set bits lo..hi step st of a field into *bits. */
static void
cron_set(uint64_t *bits, int lo, int hi, int st)
{
	int i;

	for (i = lo; i <= hi; i += st)
		*bits |= (uint64_t)1 << i;
}

/* One element of a list: "*", "N", "N-M", each with "/S". */
static int
cron_element(const struct cron_field *f, const char *s, uint64_t *bits,
    char **err)
{
	int lo = f->min, hi = f->max, st = 1;
	const char *p = s;
	char *end;
	long v;

	if (*p == '*')
		p++;
	else if ((lo = hi = cron_value(f, &p)) < 0)
		goto bad;
	if (*p == '-' && *s != '*') {
		p++;
		if ((hi = cron_value(f, &p)) < 0)
			goto bad;
	}
	if (*p == '/') {
		errno = 0;
		v = strtol(p + 1, &end, 10);
		if (p[1] < '0' || p[1] > '9' || errno != 0 || v < 1 ||
		    v > f->max) {
			*err = xasprintf("%s: bad step in '%s' (1 to %d)",
			    f->name, s, f->max);
			return -1;
		}
		if (*s != '*' && hi == lo)
			hi = f->max;	/* "N/S": from N to the end */
		st = (int)v;
		p = end;
	}
	if (*p != '\0')
		goto bad;
	if (lo < f->min || hi > f->max || lo > f->max) {
		*err = xasprintf("%s: '%s' is out of range %d-%d", f->name, s,
		    f->min, f->max);
		return -1;
	}
	if (lo > hi) {
		*err = xasprintf("%s: range '%s' goes backwards", f->name, s);
		return -1;
	}
	cron_set(bits, lo, hi, st);
	return 0;
bad:
	*err = xasprintf("%s: cannot read '%s'%s", f->name, s, f->names ==
	    NULL ? "" : " (a number, or a three-letter English name)");
	return -1;
}

/* One field: a comma-separated list of elements. */
static int
cron_field(const struct cron_field *f, char *text, uint64_t *bits,
    char **err)
{
	char *el;

	*bits = 0;
	while ((el = strsep(&text, ",")) != NULL) {
		if (*el == '\0') {
			*err = xasprintf("%s: empty element in a list",
			    f->name);
			return -1;
		}
		if (cron_element(f, el, bits, err) != 0)
			return -1;
	}
	return 0;
}

/* Split into exactly five fields (in place). */
static int
cron_split(char *s, char **v, char **err)
{
	int n = 0;
	char *tok;

	while ((tok = strsep(&s, " \t")) != NULL) {
		if (*tok == '\0')
			continue;
		if (n == 5) {
			*err = xstrdup("more than five fields (minute hour "
			    "day-of-month month day-of-week)");
			return -1;
		}
		v[n++] = tok;
	}
	if (n < 5) {
		*err = xasprintf("%d field%s; cron has five (minute hour "
		    "day-of-month month day-of-week) or an @ form such as "
		    "@daily", n, n == 1 ? "" : "s");
		return -1;
	}
	return 0;
}

/* An @ form's five fields, or NULL (with *err if it is unknown). */
static const char *
cron_macro(const char *expr, char **err)
{
	size_t i;

	if (expr[0] != '@')
		return expr;
	for (i = 0; i < sizeof cron_macros / sizeof cron_macros[0]; i++) {
		if (strcasecmp(expr, cron_macros[i].name) == 0)
			return cron_macros[i].expr;
	}
	*err = xasprintf("unknown '%s' (@hourly, @daily, @weekly, @monthly, "
	    "@yearly)", expr);
	return NULL;
}

/* Parse an expression into c; 0, or -1 with *err (which field, why). */
int
cron_parse(const char *expr, struct cron *c, char **err)
{
	char *copy, *v[5];
	uint64_t bits[5];
	int i, rc = -1;

	if ((expr = cron_macro(expr, err)) == NULL)
		return -1;
	copy = xstrdup(expr);
	if (cron_split(copy, v, err) != 0)
		goto out;
	for (i = 0; i < 5; i++) {
		if (cron_field(&cron_fields[i], v[i], &bits[i], err) != 0)
			goto out;
	}
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->mdays = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	c->dom_star = v[2][0] == '*';
	c->dow_star = v[4][0] == '*';
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Is name an IANA zone of the system's tz database? */
int
cron_zone_ok(const char *name)
{
	char path[sizeof CRON_ZONE_DIR + CRON_ZONE_MAX], magic[4];
	FILE *f;
	int ok;

	if (*name == '\0' || strlen(name) > CRON_ZONE_MAX || name[0] == '/' ||
	    strstr(name, "..") != NULL || strspn(name, "ABCDEFGHIJKLMNOPQRST"
	    "UVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != strlen(name))
		return 0;
	snprintf(path, sizeof path, "%s%s", CRON_ZONE_DIR, name);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

/* Make zone the one localtime_r and mktime use (on the loop only). */
static void
cron_use_zone(const char *zone)
{
	if (strcmp(cron_zone, zone) == 0)
		return;
	snprintf(cron_zone, sizeof cron_zone, "%s", zone);
	setenv("TZ", zone, 1);
	tzset();
}

/* Does a day (month 1-12, day of month, weekday 0-6) match? */
static int
cron_day_ok(const struct cron *c, int mon, int mday, int wday)
{
	int dom = (c->mdays >> mday) & 1, dow = (c->wdays >> wday) & 1;

	if (!((c->months >> mon) & 1))
		return 0;
	if (!c->dom_star && !c->dow_star)
		return dom || dow;	/* both restricted: either (cron) */
	return dom && dow;
}

/* A wall-clock time as seconds, as if it were UTC (for comparing). */
static time_t
cron_wall(const struct tm *tm)
{
	struct tm w = *tm;

	return timegm(&w);
}

/*
 * The first instant whose local wall-clock time is wall or later (as
 * seconds): in a repeated hour the first time, in a gap the gap's end.
 */
static time_t
cron_instant(const struct tm *wall)
{
	static const int dst[] = { 0, 1 };
	time_t want = cron_wall(wall), best = (time_t)-1, x, lo, hi, mid;
	struct tm tm, lt;
	size_t i;

	for (i = 0; i < 2; i++) {
		tm = *wall;
		tm.tm_isdst = dst[i];
		x = mktime(&tm);
		if (localtime_r(&x, &lt) != NULL && cron_wall(&lt) == want &&
		    (best == (time_t)-1 || x < best))
			best = x;
	}
	if (best != (time_t)-1)
		return best;
	/* In a gap: the first minute whose wall time is past it. */
	lo = want - 26 * 3600;
	hi = want + 26 * 3600;
	while (hi - lo > 60) {
		mid = lo + (hi - lo) / 120 * 60;
		localtime_r(&mid, &lt);
		if (cron_wall(&lt) >= want)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* The first matching minute of a day at or after (h, m); -1 if none. */
static int
cron_day_first(const struct cron *c, int h, int m, int *oh, int *om)
{
	for (; h < 24; h++, m = 0) {
		if (!((c->hours >> h) & 1))
			continue;
		for (; m < 60; m++) {
			if ((c->minutes >> m) & 1) {
				*oh = h;
				*om = m;
				return 0;
			}
		}
	}
	return -1;
}

/*
 * The next run strictly after after_ms in zone, in ms since the epoch;
 * -1 if the expression never matches (such as 30 February).
 */
int64_t
cron_next(const struct cron *c, const char *zone, int64_t after_ms)
{
	time_t from = (time_t)(after_ms / 60000 + 1) * 60, x;
	struct tm day, wall;
	int i, h = 0, m = 0;

	cron_use_zone(zone);
	localtime_r(&from, &day);
	day.tm_sec = 0;
	for (i = 0; i < CRON_DAYS_MAX; i++) {
		if (cron_day_ok(c, day.tm_mon + 1, day.tm_mday, day.tm_wday)) {
			h = i == 0 ? day.tm_hour : 0;
			m = i == 0 ? day.tm_min : 0;
			while (cron_day_first(c, h, m, &wall.tm_hour,
			    &wall.tm_min) == 0) {
				wall.tm_year = day.tm_year;
				wall.tm_mon = day.tm_mon;
				wall.tm_mday = day.tm_mday;
				wall.tm_sec = 0;
				if ((x = cron_instant(&wall)) >= from)
					return (int64_t)x * 1000;
				h = wall.tm_hour;	/* the gap was behind us */
				m = wall.tm_min + 1;
			}
		}
		day.tm_mday++;
		day.tm_hour = day.tm_min = 0;
		x = timegm(&day);		/* normalise the date */
		gmtime_r(&x, &day);
	}
	return -1;
}
