/* SPDX-License-Identifier: MIT */
/*
 * server.c - the control socket, served in the switch's loop
 *
 * Nothing here blocks: the listening socket and every connection are
 * non-blocking, requests are read and answers written as the socket allows,
 * between datapath passes. A connection has a size limit for its request,
 * a deadline for its whole life and a place in a bounded table; a client
 * that trickles, stays silent or stops reading costs one fd until the
 * deadline closes it, never the datapath's time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cycles.h"
#include "core/evloop.h"
#include "core/log.h"
#include "core/unixsock.h"
#include "ctl/ctl.h"

#define CTL_ACCEPT_BURST	16	/* accepts per wake-up */
#define CTL_DEADLINE_NS		(5 * 1000000000ull)
#define CTL_SWEEP_NS		(250 * 1000000ull)
#define CTL_SWEEP_SOON_NS	(5 * 1000000ull)
#define CTL_SWEEP_MAX		16	/* closes per sweep: a short pause */

/**
 * struct ctl_conn - one client connection
 * @ev:		event-loop registration of the socket
 * @fd:		the socket
 * @next:	next connection in the server's list
 * @deadline_ns: CLOCK_MONOTONIC time at which it is closed regardless
 * @writing:	the request was answered; @out is being sent
 * @in_len:	request bytes received so far
 * @in:		the request line, NUL-terminated when complete
 * @out:	the answer: "OK" or "ERR reason", a newline, the output
 * @out_len:	bytes in @out
 * @out_off:	bytes of @out already sent
 */
struct ctl_conn {
	struct ev_handler ev;
	int fd;
	struct ctl_conn *next;
	uint64_t deadline_ns;
	bool writing;
	size_t in_len;
	char in[CTL_REQUEST_MAX + 1];
	char *out;
	size_t out_len;
	size_t out_off;
};

static struct {
	int fd;
	struct ev_handler ev;
	struct ev_timer sweep;
	struct vmswitch *vs;
	struct ctl_conn *conns;
	unsigned int nconns;
	struct ctl_stats stats;
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

/** ctl_get_stats() - the control socket's counters */
const struct ctl_stats *ctl_get_stats(void)
{
	return &ctl.stats;
}

static void conn_close(struct ctl_conn *c)
{
	struct ctl_conn **pp;

	for (pp = &ctl.conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl.nconns--;
	evloop_del(&c->ev);
	close(c->fd);
	free(c->out);
	free(c);
}

/* Send what the socket takes; close when all is sent or the client is gone. */
static void conn_write(struct ctl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;		/* EPOLLOUT brings us back */
		if (n <= 0) {
			ctl.stats.write_errors++;
			break;
		}
		c->out_off += (size_t)n;
	}
	conn_close(c);
}

/* Turn the request into the answer and start sending it. */
static void conn_answer(struct ctl_conn *c, int rc, const char *why,
			const char *body, size_t body_len)
{
	FILE *f = open_memstream(&c->out, &c->out_len);

	if (!f) {
		conn_close(c);
		return;
	}
	if (rc) {
		ctl.stats.errors++;
		fprintf(f, "ERR %s\n", *why ? why : strerror(-rc));
	} else {
		fputs("OK\n", f);
	}
	fwrite(body, 1, body_len, f);
	fclose(f);
	c->writing = true;
	if (evloop_mod(&c->ev, EPOLLOUT)) {
		conn_close(c);
		return;
	}
	conn_write(c);
}

static void conn_execute(struct ctl_conn *c)
{
	char why[256] = "", *body = NULL;
	size_t body_len = 0;
	FILE *out = open_memstream(&body, &body_len);
	int rc = -ENOMEM;

	ctl.stats.requests++;
	if (out) {
		rc = ctl_execute(ctl.vs, c->in, out, why, sizeof(why));
		fclose(out);
	}
	conn_answer(c, rc, why, body ? body : "", body ? body_len : 0);
	free(body);
}

/* Read what has arrived; answer once the line is complete or too long. */
static void conn_read(struct ctl_conn *c)
{
	char *nl;
	ssize_t n;

	n = recv(c->fd, c->in + c->in_len, CTL_REQUEST_MAX - c->in_len,
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {		/* gone, or closed before a whole line */
		conn_close(c);
		return;
	}
	nl = memchr(c->in + c->in_len, '\n', (size_t)n);
	c->in_len += (size_t)n;
	if (nl) {
		*nl = '\0';
		conn_execute(c);
	} else if (c->in_len == CTL_REQUEST_MAX) {
		ctl.stats.too_long++;
		conn_answer(c, -E2BIG, "request longer than "
			    VMSW_STR(CTL_REQUEST_MAX) " bytes", "", 0);
	}
}

static void on_conn(struct ev_handler *h, uint32_t events)
{
	struct ctl_conn *c = container_of(h, struct ctl_conn, ev);

	if (c->writing)
		conn_write(c);
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

/*
 * Close connections past their deadline, a few at a time so the loop's
 * pause stays short; runs while any are open.
 */
static void on_sweep(struct ev_timer *t)
{
	uint64_t now = now_ns();
	struct ctl_conn *c = ctl.conns, *next;
	unsigned int closed = 0;

	for (; c && closed < CTL_SWEEP_MAX; c = next) {
		next = c->next;
		if (now >= c->deadline_ns) {
			ctl.stats.timeouts++;
			conn_close(c);
			closed++;
		}
	}
	if (ctl.conns)
		evloop_timer_arm(t, on_sweep, closed == CTL_SWEEP_MAX ?
				 CTL_SWEEP_SOON_NS : CTL_SWEEP_NS);
}

static void conn_open(int s)
{
	struct ctl_conn *c;

	if (ctl.nconns >= CTL_CONN_MAX) {
		ctl.stats.refused++;
		close(s);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || evloop_add(&c->ev, s, on_conn, EPOLLIN)) {
		free(c);
		close(s);
		return;
	}
	c->fd = s;
	c->deadline_ns = now_ns() + CTL_DEADLINE_NS;
	c->next = ctl.conns;
	ctl.conns = c;
	ctl.nconns++;
	ctl.stats.accepted++;
	if (!ctl.sweep.deadline_ns)
		evloop_timer_arm(&ctl.sweep, on_sweep, CTL_SWEEP_NS);
}

static void on_listen(struct ev_handler *h, uint32_t events)
{
	unsigned int i;

	(void)events;
	for (i = 0; i < CTL_ACCEPT_BURST; i++) {
		int s = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (s < 0)
			return;
		conn_open(s);
	}
}

/* Bind @a with mode 0600 from the start: no window where it is more open. */
static int bind_private(int fd, const struct sockaddr_un *a)
{
	mode_t old = umask(0177);
	int rc = bind(fd, (const struct sockaddr *)a, sizeof(*a));

	rc = rc < 0 ? -errno : 0;
	umask(old);
	return rc;
}

/**
 * ctl_start() - listen on @path (mode 0600) for control commands
 * @vs:		the switch the commands act on
 * @path:	socket path; its directory is created if missing
 *
 * A socket file left by a switch that died is replaced; one that a running
 * switch answers on is not (-EADDRINUSE).
 *
 * Return: 0 or -errno
 */
int ctl_start(struct vmswitch *vs, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int rc;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	rc = unixsock_make_parent_dir(path);
	if (rc)
		return rc;
	if (unixsock_answers(&a))
		return -EADDRINUSE;
	ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl.fd < 0)
		return -errno;
	unlink(path);
	rc = bind_private(ctl.fd, &a);
	if (!rc && listen(ctl.fd, 64) < 0)
		rc = -errno;
	if (!rc)
		rc = evloop_add(&ctl.ev, ctl.fd, on_listen, EPOLLIN);
	if (rc) {
		close(ctl.fd);
		ctl.fd = -1;
		return rc;
	}
	ctl.vs = vs;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	return 0;
}

/** ctl_stop() - close every connection and the socket, remove its file */
void ctl_stop(void)
{
	if (ctl.fd < 0)
		return;
	while (ctl.conns)
		conn_close(ctl.conns);
	evloop_timer_cancel(&ctl.sweep);
	evloop_del(&ctl.ev);
	close(ctl.fd);
	unlink(ctl.path);
	ctl.fd = -1;
}
