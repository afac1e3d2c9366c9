/*
 * sdnotify.c -- the systemd side: sd_notify messages over $NOTIFY_SOCKET
 * (READY, STATUS, STOPPING, RELOADING, WATCHDOG), and listening sockets
 * passed by socket activation ($LISTEN_PID, $LISTEN_FDS). The protocol is
 * small and stable; this is our own implementation of it.
 */

#include "evtaskd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define SDNOTIFY_FDS_START	3
#define SDNOTIFY_STATUS_S	1	/* STATUS= at most once a second */

static int		 sdnotify_fd = -1;
static struct sockaddr_un sdnotify_addr;
static socklen_t	 sdnotify_addrlen;
static struct event	*sdnotify_watchdog;
static struct event	*sdnotify_status_ev;
static char		 sdnotify_last_status[256];

static void	sdnotify_watchdog_cb(evutil_socket_t, short, void *);
static void	sdnotify_status_cb(evutil_socket_t, short, void *);

/* Send one message; quietly nothing without $NOTIFY_SOCKET. */
void
sdnotify_send(const char *msg)
{
	if (sdnotify_fd < 0)
		return;
	if (sendto(sdnotify_fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sdnotify_addr, sdnotify_addrlen) < 0)
		log_debug("sd_notify: %s", strerror(errno));
}

/* Open the notify socket named by $NOTIFY_SOCKET (path or @abstract). */
static void
sdnotify_open(void)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len;

	if (name == NULL || (name[0] != '/' && name[0] != '@'))
		return;
	len = strlen(name);
	if (len < 2 || len > sizeof sdnotify_addr.sun_path) {
		log_warn("NOTIFY_SOCKET is not a usable socket name");
		return;
	}
	memset(&sdnotify_addr, 0, sizeof sdnotify_addr);
	sdnotify_addr.sun_family = AF_UNIX;
	memcpy(sdnotify_addr.sun_path, name, len);
	if (name[0] == '@')
		sdnotify_addr.sun_path[0] = '\0';
	sdnotify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len);
	sdnotify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

/*
 * Start talking to systemd: the notify socket, and watchdog pings every
 * half of $WATCHDOG_USEC from the loop (a stuck loop stops the pings).
 */
void
sdnotify_init(struct event_base *base)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	struct timeval tv = { SDNOTIFY_STATUS_S, 0 };
	unsigned long long us;

	sdnotify_open();
	if (sdnotify_fd < 0)
		return;
	sdnotify_status_ev = event_new(base, -1, EV_PERSIST,
	    sdnotify_status_cb, NULL);
	event_add(sdnotify_status_ev, &tv);
	if (usec == NULL || (pid != NULL && atol(pid) != (long)getpid()))
		return;
	us = strtoull(usec, NULL, 10);
	if (us == 0)
		return;
	tv.tv_sec = (time_t)(us / 2 / 1000000);
	tv.tv_usec = (suseconds_t)(us / 2 % 1000000);
	sdnotify_watchdog = event_new(base, -1, EV_PERSIST,
	    sdnotify_watchdog_cb, NULL);
	event_add(sdnotify_watchdog, &tv);
	sdnotify_send("WATCHDOG=1");
}

/* The pings come from the loop: if it hangs, systemd notices. */
static void
sdnotify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sdnotify_send("WATCHDOG=1");
}

/* STATUS= with the task counts, when they changed. */
static void
sdnotify_status_cb(evutil_socket_t fd, short what, void *arg)
{
	char msg[256];

	snprintf(msg, sizeof msg, "STATUS=%llu active tasks: %llu scheduled, "
	    "%llu running, %llu cancelling",
	    (unsigned long long)registry_active(),
	    (unsigned long long)registry_count(TASK_SCHEDULED),
	    (unsigned long long)registry_count(TASK_RUNNING),
	    (unsigned long long)registry_count(TASK_CANCELLING));
	if (strcmp(msg, sdnotify_last_status) == 0)
		return;
	strcpy(sdnotify_last_status, msg);
	sdnotify_send(msg);
}

/* Listening and recovered: READY=1, with the first STATUS=. */
void
sdnotify_ready(void)
{
	sdnotify_send("READY=1");
	sdnotify_status_cb(-1, 0, NULL);
}

void
sdnotify_stopping(void)
{
	sdnotify_send("STOPPING=1");
}

/* A reload begins: RELOADING=1 with the monotonic time it began. */
void
sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000 +
	    (unsigned long long)ts.tv_nsec / 1000);
	sdnotify_send(msg);
}

/* Stop the timers and close the socket. */
void
sdnotify_close(void)
{
	if (sdnotify_watchdog != NULL)
		event_free(sdnotify_watchdog);
	if (sdnotify_status_ev != NULL)
		event_free(sdnotify_status_ev);
	sdnotify_watchdog = sdnotify_status_ev = NULL;
	if (sdnotify_fd >= 0)
		close(sdnotify_fd);
	sdnotify_fd = -1;
}

/*
 * Sockets passed by socket activation: when $LISTEN_PID is ours, fds 3 to
 * 3 + $LISTEN_FDS - 1, made non-blocking and close-on-exec; the variables
 * are unset so that no child sees them. Returns how many (0: none).
 */
int
sdnotify_listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long n, i;

	if (pid == NULL || fds == NULL)
		return 0;
	if (strtol(pid, &end, 10) != (long)getpid() || *end != '\0') {
		log_debug("LISTEN_PID %s is not ours; ignoring LISTEN_FDS",
		    pid);
		return 0;
	}
	n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end != '\0' || n < 0 || n > 64) {
		log_warn("LISTEN_FDS=%s is not a count of sockets", fds);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (listen_prepare_fd((int)(SDNOTIFY_FDS_START + i)) != 0) {
			log_error("socket activation: fd %ld is not usable",
			    SDNOTIFY_FDS_START + i);
			return -1;
		}
	}
	return (int)n;
}
