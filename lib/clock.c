/* clock.c -- wall and monotonic time, RFC 3339 formatting and parsing. */

#include "evtask.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Milliseconds since the Unix epoch, wall clock. */
int64_t
clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds since the Unix epoch, wall clock (timer arithmetic). */
int64_t
clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Microseconds on the monotonic clock. */
int64_t
clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Format ms since the epoch as "2026-11-24T21:40:00.123Z" into buf (at least
 * CLOCK_RFC3339_LEN + 1 bytes). The date part is cached per second: the
 * access log and task JSON format many times within one second.
 */
void
clock_format_ms(int64_t ms, char *buf)
{
	static int64_t	cached_sec = INT64_MIN;
	static char	cached[64];
	int64_t		sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int		frac = (int)(ms - sec * 1000);
	struct tm	tm;
	time_t		t;

	if (sec != cached_sec) {
		t = (time_t)sec;
		gmtime_r(&t, &tm);
		snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		cached_sec = sec;
	}
	memcpy(buf, cached, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + frac / 100);
	buf[21] = (char)('0' + frac / 10 % 10);
	buf[22] = (char)('0' + frac % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}

/* Read exactly n digits at *p into *out; advance. */
static int
clock_digits(const char **p, int n, int *out)
{
	int v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

/* Expect one character at *p; advance. */
static int
clock_expect(const char **p, char c)
{
	if (**p != c && !(c == 'T' && (**p == 't' || **p == ' ')))
		return -1;
	(*p)++;
	return 0;
}

/*
 * Parse an RFC 3339 date-time ("2026-11-24T21:40:00.123Z", any fraction,
 * "Z" or a numeric offset) into ms since the epoch. Returns 0 or -1.
 */
int
clock_parse_rfc3339(const char *s, int64_t *out)
{
	const char *p = s;
	struct tm tm;
	int y, mo, d, h, mi, se, oh, om, frac_ms = 0, scale = 100, sign;
	int64_t secs;

	if (clock_digits(&p, 4, &y) || clock_expect(&p, '-') ||
	    clock_digits(&p, 2, &mo) || clock_expect(&p, '-') ||
	    clock_digits(&p, 2, &d) || clock_expect(&p, 'T') ||
	    clock_digits(&p, 2, &h) || clock_expect(&p, ':') ||
	    clock_digits(&p, 2, &mi) || clock_expect(&p, ':') ||
	    clock_digits(&p, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			frac_ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (se == 60) {		/* a leap second: the last moment before */
		se = 59;
		frac_ms = 999;
	}
	oh = om = 0;
	sign = 0;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (clock_digits(&p, 2, &oh) || clock_expect(&p, ':') ||
		    clock_digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	secs = (int64_t)timegm(&tm);
	if (tm.tm_mday != d)	/* 2026-02-31 normalised to March */
		return -1;
	secs -= sign * (oh * 3600 + om * 60);
	if (secs < 0 || secs >= 253402300800LL)
		return -1;	/* before 1970, or past year 9999 in UTC */
	*out = secs * 1000 + frac_ms;
	return 0;
}
