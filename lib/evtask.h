/*
 * evtask.h -- the small library the daemon and evtaskctl share (lib/):
 * allocation, buffers, UTF-8, time, ULIDs and durations. A section per
 * file; nothing here knows of HTTP, the store or the loop.
 */

#ifndef EVTASK_H
#define EVTASK_H

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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
void	 xstrv_free(char **);
void	 xfatal(const char *, ...) PRINTFLIKE(1, 2) NORETURN;

/* buf.c */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	 buf_add(struct buf *, const char *, size_t);
void	 buf_adds(struct buf *, const char *);
void	 buf_add_int(struct buf *, int64_t);
void	 buf_add_json(struct buf *, const json_t *);
void	 buf_add_jstr(struct buf *, const char *);
char	*buf_steal(struct buf *, size_t *);

/* utf8.c */
char	*utf8_sanitize(const char *, size_t);
int	 utf8_valid(const char *, size_t);

/* clock.c */
#define CLOCK_RFC3339_LEN 24
int64_t	 clock_now_ms(void);
int64_t	 clock_now_us(void);
int64_t	 clock_mono_us(void);
void	 clock_format_ms(int64_t, char *);
int	 clock_parse_rfc3339(const char *, int64_t *);

/* ulid.c */
#define ULID_LEN 26
struct ulid {
	uint8_t		b[16];
};
void	 ulid_format(const struct ulid *, char *);
int	 ulid_parse(const char *, struct ulid *);
int64_t	 ulid_time_ms(const struct ulid *);
int	 ulid_cmp(const struct ulid *, const struct ulid *);

/* duration.c */
int	 duration_parse(const char *, int64_t *);
void	 duration_format(int64_t, char *, size_t);

#endif
