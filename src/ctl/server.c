/* SPDX-License-Identifier: MIT */
/* server.c - the control socket, served in the switch's loop */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "ctl/ctl.h"

#define CTL_LINE_MAX	1024

static struct {
	int fd;
	struct ev_handler ev;
	struct vmswitch *vs;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} ctl = { .fd = -1 };

/** ctl_default_path() - /run/vmswitch/ctl.sock, or under $XDG_RUNTIME_DIR */
const char *ctl_default_path(void)
{
	static char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0 || !xdg)
		snprintf(path, sizeof(path), "/run/vmswitch/ctl.sock");
	else
		snprintf(path, sizeof(path), "%s/vmswitch/ctl.sock", xdg);
	return path;
}

/* Read one request line; the client writes it at once, so wait at most 1 s. */
static ssize_t read_request(int s, char *buf, size_t len)
{
	struct timeval tv = { 1, 0 };
	size_t got = 0;

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < len - 1) {
		ssize_t n = read(s, buf + got, len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

static void write_all(int s, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(s, buf, len);

		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* One connection: a request, its answer, close. */
static void serve(int s)
{
	char line[CTL_LINE_MAX], why[256] = "", head[300];
	char *body = NULL;
	size_t body_len = 0;
	FILE *out;
	int rc;

	if (read_request(s, line, sizeof(line)) <= 0)
		return;
	out = open_memstream(&body, &body_len);
	if (!out)
		return;
	rc = ctl_execute(ctl.vs, line, out, why, sizeof(why));
	fclose(out);
	snprintf(head, sizeof(head), rc ? "ERR %s\n" : "OK\n",
		 *why ? why : strerror(-rc));
	write_all(s, head, strlen(head));
	write_all(s, body, body_len);
	free(body);
}

static void on_ctl(struct ev_handler *h, uint32_t events)
{
	int s = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);

	(void)events;
	if (s < 0)
		return;
	serve(s);
	close(s);
}

/**
 * ctl_start() - listen on @path (mode 0600) for control commands
 * @vs:		the switch the commands act on
 * @path:	socket path; its directory is created if missing
 *
 * Return: 0 or -errno
 */
int ctl_start(struct vmswitch *vs, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char dir[sizeof(a.sun_path)], *slash;
	int rc;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl.fd < 0)
		return -errno;
	unlink(path);
	if (bind(ctl.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    chmod(path, 0600) < 0 || listen(ctl.fd, 8) < 0) {
		rc = -errno;
		close(ctl.fd);
		ctl.fd = -1;
		return rc;
	}
	ctl.vs = vs;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	return evloop_add(&ctl.ev, ctl.fd, on_ctl, EPOLLIN);
}

void ctl_stop(void)
{
	if (ctl.fd < 0)
		return;
	evloop_del(&ctl.ev);
	close(ctl.fd);
	unlink(ctl.path);
	ctl.fd = -1;
}
