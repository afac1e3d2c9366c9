/* listen.c -- listen addresses: parsing, opening, describing. */

#include "evtaskd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stddef.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

/* Parse a port number 0-65535; -1 if it is not one. */
static int
listen_parse_port(const char *s)
{
	char *end;
	long v;

	if (*s == '\0' || *s == '+' || *s == '-')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 65535)
		return -1;
	return (int)v;
}

/* Parse n characters as a port number 0-65535; -1 if they are not one. */
static int
listen_parse_port_n(const char *s, size_t n)
{
	char buf[8];

	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return listen_parse_port(buf);
}

/*
 * Parse "HOST:PORT", "[V6]:PORT" or "unix:/PATH" into addr. On error returns
 * -1 with a message in *err (to free).
 */
int
listen_parse(const char *spec, struct listen_addr *addr, char **err)
{
	const char *colon, *host, *port;
	size_t hostlen;

	memset(addr, 0, sizeof *addr);
	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] != '/') {
			*err = xasprintf("%s: a unix socket path must be "
			    "absolute", spec);
			return -1;
		}
		if (strlen(spec + 5) >= sizeof addr->path) {
			*err = xasprintf("%s: unix socket path too long", spec);
			return -1;
		}
		addr->unix_socket = 1;
		strcpy(addr->path, spec + 5);
		return 0;
	}
	if (spec[0] == '[') {
		colon = strchr(spec, ']');
		if (colon == NULL || colon[1] != ':') {
			*err = xasprintf("%s: expected [V6]:PORT", spec);
			return -1;
		}
		host = spec + 1;
		hostlen = (size_t)(colon - host);
		port = colon + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec))) {
			*err = xasprintf("%s: expected HOST:PORT, [V6]:PORT or "
			    "unix:/PATH", spec);
			return -1;
		}
		host = spec;
		hostlen = (size_t)(colon - spec);
		port = colon + 1;
	}
	if (hostlen == 0 || hostlen >= sizeof addr->host) {
		*err = xasprintf("%s: bad host", spec);
		return -1;
	}
	memcpy(addr->host, host, hostlen);
	addr->host[hostlen] = '\0';
	addr->port = listen_parse_port(port);
	if (addr->port < 0) {
		*err = xasprintf("%s: bad port '%s'", spec, port);
		return -1;
	}
	return 0;
}

/* Make an fd non-blocking and close-on-exec. */
int
listen_prepare_fd(int fd)
{
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* Open a unix listening socket, replacing a stale socket file. */
static int
listen_open_unix(const struct listen_addr *addr, char **err)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, addr->path);
	if (lstat(addr->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(addr->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		close(fd);
		goto fail;
	}
	return fd;
fail:
	*err = xasprintf("unix:%s: %s", addr->path, strerror(errno));
	return -1;
}

/* Open a TCP listening socket. */
static int
listen_open_tcp(const struct listen_addr *addr, char **err)
{
	struct addrinfo hints, *res;
	char port[8];
	int fd, rc, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof port, "%d", addr->port);
	rc = getaddrinfo(addr->host, port, &hints, &res);
	if (rc != 0) {
		*err = xasprintf("%s:%s: %s", addr->host, port,
		    gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		close(fd);
		goto fail;
	}
	freeaddrinfo(res);
	return fd;
fail:
	*err = xasprintf("%s:%s: %s", addr->host, port, strerror(errno));
	freeaddrinfo(res);
	return -1;
}

/* Open a listening socket for addr; -1 with *err on failure. */
int
listen_open(const struct listen_addr *addr, char **err)
{
	if (addr->unix_socket)
		return listen_open_unix(addr, err);
	return listen_open_tcp(addr, err);
}

/*
 * Describe a listening socket as a URL ("http://127.0.0.1:8080",
 * "http://[::1]:8080", "unix:/run/evtaskd.sock") from the socket itself, so
 * that port 0 shows the port the kernel picked.
 */
int
listen_describe(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	switch (ss.ss_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(buf, len, "http://%s:%u", host, ntohs(sin->sin_port));
		return 0;
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "http://[%s]:%u", host,
		    ntohs(sin6->sin6_port));
		return 0;
	case AF_UNIX:
		if (sl <= offsetof(struct sockaddr_un, sun_path) ||
		    sun->sun_path[0] == '\0')
			snprintf(buf, len, "unix:(unnamed)");
		else
			snprintf(buf, len, "unix:%.*s",
			    (int)strnlen(sun->sun_path,
			    sl - offsetof(struct sockaddr_un, sun_path)),
			    sun->sun_path);
		return 0;
	}
	return -1;
}

/* Format a peer address for the access log. */
void
listen_format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "unix");
}

/* The length of the host part of "HOST[:PORT]" or "[V6][:PORT]". */
size_t
listen_host_len(const char *h, size_t n)
{
	const char *end;

	if (n > 0 && h[0] == '[') {
		end = memchr(h, ']', n);
		return end != NULL ? (size_t)(end - h) + 1 : n;
	}
	end = memchr(h, ':', n);
	return end != NULL ? (size_t)(end - h) : n;
}

/* Is this (host part only) an IP address literal? Fills the buffer. */
static int
listen_host_addr(const char *h, size_t n, int *family, unsigned char *a)
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (n < 2 || n > sizeof buf - 1)
		return 0;
	if (h[0] == '[') {
		if (h[n - 1] != ']')
			return 0;
		memcpy(buf, h + 1, n - 2);
		buf[n - 2] = '\0';
		*family = AF_INET6;
	} else {
		memcpy(buf, h, n);
		buf[n] = '\0';
		*family = AF_INET;
	}
	return inet_pton(*family, buf, a) == 1;
}

/* Is the address 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104? */
static int
listen_addr_loopback(int family, const unsigned char *a)
{
	static const unsigned char one[16] = { [15] = 1 };
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (family == AF_INET)
		return a[0] == 127;
	return memcmp(a, one, 16) == 0 ||
	    (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

/* Is a Host's host part (no port) a loopback name or address? */
int
listen_host_loopback(const char *h, size_t n)
{
	unsigned char a[16];
	int family;

	if ((n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
	    (n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0))
		return 1;
	return listen_host_addr(h, n, &family, a) &&
	    listen_addr_loopback(family, a);
}

/* Letters, digits, dots and dashes: a DNS name or an IPv4 address. */
static int
listen_host_name_ok(const char *h, size_t n)
{
	size_t i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-')
			return 0;
	}
	return 1;
}

/* Is s "HOST", or "HOST[:PORT]" when port_ok (config validation)? */
int
listen_host_ok(const char *s, size_t n, int port_ok)
{
	size_t hl = listen_host_len(s, n);
	unsigned char a[16];
	int family;

	if (s[0] == '[' ? !listen_host_addr(s, hl, &family, a) :
	    !listen_host_name_ok(s, hl))
		return 0;
	if (hl == n)
		return 1;
	return port_ok && s[hl] == ':' && listen_parse_port_n(s + hl + 1,
	    n - hl - 1) > 0;
}

/* Is the socket bound to a loopback address (DNS rebinding reaches it)? */
int
listen_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return listen_addr_loopback(AF_INET,
		    (const unsigned char *)&sin->sin_addr);
	if (ss.ss_family == AF_INET6)
		return listen_addr_loopback(AF_INET6, sin6->sin6_addr.s6_addr);
	return 0;
}
