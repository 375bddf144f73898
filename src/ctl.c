/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - the control socket (server side, in the switch's loop) and
 * `vmswitch ctl` (the client)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_top.h"
#include "evloop.h"
#include "log.h"

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

/* Send one request, print the answer; returns the answer's status. */
static int ask(const char *path, const char *line, FILE *out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[65536];
	bool first = true;
	int s, status = 0;
	ssize_t n;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "vmswitch ctl: cannot connect to %s: %s\n", path,
			strerror(errno));
		if (s >= 0)
			close(s);
		return 2;
	}
	write_all(s, line, strlen(line));
	write_all(s, "\n", 1);
	while ((n = read(s, buf, sizeof(buf))) > 0) {
		char *p = buf;

		if (first) {
			char *nl = memchr(buf, '\n', (size_t)n);

			first = false;
			if (!strncmp(buf, "ERR ", 4)) {
				fprintf(stderr, "vmswitch ctl: %.*s\n",
					(int)(nl ? nl - buf - 4 : n - 4), buf + 4);
				status = 1;
			}
			p = nl ? nl + 1 : buf + n;
		}
		fwrite(p, 1, (size_t)(buf + n - p), out);
	}
	close(s);
	return status;
}

/**
 * ctl_client() - `vmswitch ctl COMMAND...`: send it, print the answer
 * @path:	control socket
 * @argc:	words of the command
 * @argv:	the words
 *
 * Return: exit status: 0 ok, 1 the switch refused, 2 no switch
 */
int ctl_client(const char *path, int argc, char **argv)
{
	char line[CTL_LINE_MAX] = "";
	int i;

	if (argc >= 1 && !strcmp(argv[0], "top"))
		return ctl_top(path);
	for (i = 0; i < argc; i++) {
		if (strlen(line) + strlen(argv[i]) + 2 > sizeof(line)) {
			fprintf(stderr, "vmswitch ctl: command too long\n");
			return 2;
		}
		if (i)
			strcat(line, " ");
		strcat(line, argv[i]);
	}
	return ask(path, line, stdout);
}

/** ctl_ask() - for `top`: one request, the answer into @out. Return: status */
int ctl_ask(const char *path, const char *line, FILE *out)
{
	return ask(path, line, out);
}
