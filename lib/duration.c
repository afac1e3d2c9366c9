/*
 * duration.c -- durations as people write them: "500ms", "5s", "2m",
 * "1h30m" (whole numbers, units from largest to smallest, each once), and
 * back into short text for humans ("1.5s", "2m3s", "1h30m").
 */

#include "evtask.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The units, largest first: a duration names them in this order. */
static const struct {
	const char	*name;
	int64_t		 ms;
} duration_units[] = {
	{ "d", 86400000 },
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};
#define DURATION_NUNITS (sizeof duration_units / sizeof duration_units[0])
#define DURATION_MAX_MS ((int64_t)1 << 53)	/* past any timer, exact in JSON */

/* The unit at *p (the longest name that matches), after `after`; or -1. */
static int
duration_unit(const char **p, int after)
{
	size_t i, n;
	int best = -1;

	for (i = 0; i < DURATION_NUNITS; i++) {
		n = strlen(duration_units[i].name);
		if (strncmp(*p, duration_units[i].name, n) == 0 &&
		    (best < 0 || n > strlen(duration_units[best].name)))
			best = (int)i;
	}
	if (best <= after)
		return -1;
	*p += strlen(duration_units[best].name);
	return best;
}

/* Read the digits at *p as a number no larger than max; -1 if none or over. */
static int64_t
duration_number(const char **p, int64_t max)
{
	int64_t v = 0;

	if (!isdigit((unsigned char)**p))
		return -1;
	for (; isdigit((unsigned char)**p); (*p)++) {
		v = v * 10 + (**p - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* Parse "1h30m"-style text into milliseconds; 0, or -1 if it is not one. */
int
duration_parse(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total = 0, v;
	int unit = -1;

	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		if ((v = duration_number(&p, DURATION_MAX_MS)) < 0 ||
		    (unit = duration_unit(&p, unit)) < 0 ||
		    v > (DURATION_MAX_MS - total) / duration_units[unit].ms)
			return -1;
		total += v * duration_units[unit].ms;
	}
	*out = total;
	return 0;
}

/* "2m3s", or "2m" when the smaller part is 0. */
static void
duration_pair(char *buf, size_t len, const char *sign, int64_t big,
    const char *bu, int64_t small, const char *su)
{
	if (small == 0)
		snprintf(buf, len, "%s%lld%s", sign, (long long)big, bu);
	else
		snprintf(buf, len, "%s%lld%s%lld%s", sign, (long long)big, bu,
		    (long long)small, su);
}

/* Format ms for people: "250ms", "1.5s", "2m3s", "1h30m", "2d4h". */
void
duration_format(int64_t ms, char *buf, size_t len)
{
	const char *sign = ms < 0 ? "-" : "";

	if (ms < 0)
		ms = ms == INT64_MIN ? INT64_MAX : -ms;
	if (ms < 1000)
		snprintf(buf, len, "%s%lldms", sign, (long long)ms);
	else if (ms < 60000 && ms % 1000 / 100 != 0)
		snprintf(buf, len, "%s%lld.%llds", sign, (long long)(ms / 1000),
		    (long long)(ms % 1000 / 100));
	else if (ms < 60000)
		snprintf(buf, len, "%s%llds", sign, (long long)(ms / 1000));
	else if (ms < 3600000)
		duration_pair(buf, len, sign, ms / 60000, "m", ms / 1000 % 60, "s");
	else if (ms < 86400000)
		duration_pair(buf, len, sign, ms / 3600000, "h", ms / 60000 % 60,
		    "m");
	else
		duration_pair(buf, len, sign, ms / 86400000, "d",
		    ms / 3600000 % 24, "h");
}
