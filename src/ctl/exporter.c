/* SPDX-License-Identifier: MIT */
/*
 * exporter.c - `vmswitch exporter`: serve GET /metrics over HTTP by asking
 * the control socket for `metrics` at each scrape and relaying the answer
 *
 * HTTP is libmicrohttpd's, one thread per connection: a scrape waiting on
 * the switch, or a client that connects and says nothing, holds only its
 * own thread (until MHD's connection timeout). The switch gets a bounded
 * time to answer; a stopped or stuck one gives 503 with the reason.
 */
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cycles.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "ctl/exporter.h"

#define EXPORTER_ANSWER_MS	2000		/* the switch's time to answer */
#define EXPORTER_REPLY_MAX	(16u << 20)	/* bytes of metrics at most */
#define EXPORTER_CONN_MAX	64u		/* HTTP connections at once */
#define EXPORTER_CONN_IDLE_S	10u		/* an idle HTTP connection's life */
#define EXPORTER_BACKLOG	64

#define METRICS_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE	"text/plain; charset=utf-8"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vmswitch exporter [--listen ADDR:PORT] [--socket PATH]\n"
"\n"
"Serve the switch's counters to Prometheus over HTTP: each GET /metrics\n"
"asks the control socket for `metrics` (what `vmswitch ctl metrics` prints)\n"
"and relays the answer, so the switch itself runs no HTTP server.\n"
"\n"
"  --listen ADDR:PORT  where to listen (default " EXPORTER_DEFAULT_LISTEN ").\n"
"                      ADDR is a host name, an IPv4 address or an IPv6\n"
"                      address in brackets ([::1]:" EXPORTER_DEFAULT_PORT "); empty (:"
EXPORTER_DEFAULT_PORT ")\n"
"                      listens on every address, IPv4 and IPv6.\n"
"  --socket PATH       the switch's control socket (default %s)\n"
"  -h, --help          this text\n"
"\n"
"Other paths answer 404, other methods than GET and HEAD 405. When no\n"
"switch answers within %d s (not running, or stuck) a scrape gets 503 and\n"
"a line saying why. SIGINT or SIGTERM stop the exporter.\n",
		ctl_default_path(), EXPORTER_ANSWER_MS / 1000);
}

/* ---- ADDR:PORT ------------------------------------------------------------ */

/* 1 to 5 digits, at most 65535. */
static bool port_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n >= 1 && n <= 5 && !s[n] && strtoul(s, NULL, 10) <= 65535;
}

/**
 * exporter_split_listen() - split "ADDR:PORT" for getaddrinfo()
 * @spec:	"host:9472", "10.0.0.1:9472", "[::1]:9472" or ":9472"
 * @host:	EXPORTER_HOST_MAX bytes: ADDR without brackets ("" for any)
 * @port:	EXPORTER_PORT_MAX bytes: PORT
 *
 * An IPv6 address must be in brackets: the colons are its own. ADDR
 * holds no other bracket.
 *
 * Return: 0, or -EINVAL if @spec is not of that form
 */
int exporter_split_listen(const char *spec, char *host, char *port)
{
	const char *colon, *start = spec, *end;
	size_t n;

	if (*spec == '[') {
		start = spec + 1;
		end = strchr(start, ']');
		if (!end || end == start || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
			return -EINVAL;
		end = colon;
	}
	n = (size_t)(end - start);
	if (n >= EXPORTER_HOST_MAX || memchr(start, '[', n) || memchr(start, ']', n) ||
	    !port_valid(colon + 1))
		return -EINVAL;
	memcpy(host, start, n);
	host[n] = '\0';
	/* port_valid(): at most 5 digits and the NUL, in EXPORTER_PORT_MAX */
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

/* A listening socket on the first address of @host that binds; or -errno. */
static int listen_on(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int s, rc, on = 1;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return rc == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (!bind(s, ai->ai_addr, ai->ai_addrlen) &&
		    !listen(s, EXPORTER_BACKLOG)) {
			freeaddrinfo(res);
			return s;
		}
		rc = -errno;
		close(s);
	}
	freeaddrinfo(res);
	return rc;
}

/*
 * An empty ADDR means every address: "::" takes IPv4 as well where the
 * system allows (IPV6_V6ONLY off, Linux's default); "0.0.0.0" where there
 * is no IPv6.
 */
static int listen_spec(const char *spec, char *why, size_t whylen)
{
	char host[EXPORTER_HOST_MAX], port[EXPORTER_PORT_MAX];
	int s;

	if (exporter_split_listen(spec, host, port)) {
		snprintf(why, whylen, "--listen %s: expected ADDR:PORT, e.g. "
			 "127.0.0.1:9472, [::1]:9472 or :9472", spec);
		return -EINVAL;
	}
	if (*host)
		s = listen_on(host, port);
	else if ((s = listen_on("::", port)) < 0)
		s = listen_on("0.0.0.0", port);
	if (s < 0)
		snprintf(why, whylen, "cannot listen on %s: %s", spec, strerror(-s));
	return s;
}

/* ---- asking the switch ---------------------------------------------------- */

/* Milliseconds until @deadline_ns, at least 0. */
static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = now_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

/* Read @s to its end into *@buf (malloc'd) before @deadline_ns. 0 or -errno. */
static int read_to_end(int s, uint64_t deadline_ns, char **buf, size_t *len)
{
	size_t cap = 0;
	ssize_t n;

	*buf = NULL;
	*len = 0;
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		int rc = poll(&p, 1, ms_left(deadline_ns));

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return rc < 0 ? -errno : -ETIMEDOUT;
		if (*len == cap) {
			char *more;

			if (cap >= EXPORTER_REPLY_MAX)
				return -EFBIG;
			cap = cap ? 2 * cap : 65536;
			more = realloc(*buf, cap + 1);
			if (!more)
				return -ENOMEM;
			*buf = more;
		}
		n = read(s, *buf + *len, cap - *len);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n > 0)
			*len += (size_t)n;
	}
}

/*
 * Send `metrics` to the control socket at @path and read the whole answer.
 * A full backlog (a stopped switch) bounds connect() by SO_SNDTIMEO.
 */
static int ask_metrics(const char *path, char **reply, size_t *len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = EXPORTER_ANSWER_MS / 1000 };
	uint64_t deadline = now_ns() + EXPORTER_ANSWER_MS * 1000000ull;
	static const char req[] = "metrics\n";
	size_t plen = strlen(path);
	int s, rc = 0;

	*reply = NULL;
	*len = 0;
	if (plen >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, plen + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		rc = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	else if (send(s, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		rc = -EIO;
	else
		rc = read_to_end(s, deadline, reply, len);
	close(s);
	if (rc) {
		free(*reply);
		*reply = NULL;
	}
	return rc;
}

/* @a: @status and a body from @fmt. 0 or -ENOMEM (then a->body is NULL). */
static int __attribute__((format(printf, 3, 4)))
answer_text(struct exporter_answer *a, unsigned int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&a->body, fmt, ap);
	va_end(ap);
	a->status = status;
	if (n < 0) {
		a->body = NULL;
		a->len = 0;
		return -ENOMEM;
	}
	a->len = (size_t)n;
	return 0;
}

/**
 * exporter_answer_from_reply() - the HTTP answer to the switch's reply
 * @reply:	malloc'd "OK\n<metrics>" or "ERR <reason>\n"; taken (freed
 *		or kept as @a->body)
 * @len:	bytes in @reply
 * @a:		filled: 200 and the metrics, or 502 and why
 *
 * Return: 0, or -ENOMEM (then @a->body is NULL)
 */
int exporter_answer_from_reply(char *reply, size_t len,
			       struct exporter_answer *a)
{
	const char *nl = len ? memchr(reply, '\n', len) : NULL;
	int rc;

	if (nl && nl - reply == 2 && !memcmp(reply, "OK", 2)) {
		a->status = 200;
		a->len = len - 3;
		memmove(reply, reply + 3, a->len);
		a->body = reply;
		return 0;
	}
	if (nl && len >= 4 && !memcmp(reply, "ERR ", 4)) {
		rc = answer_text(a, 502, "vmswitch refused `metrics`: %.*s\n",
				 (int)(nl - reply - 4), reply + 4);
	} else {
		rc = answer_text(a, 502, "vmswitch answered neither OK nor ERR\n");
	}
	free(reply);
	return rc;
}

/* One scrape: ask the switch, or say why not (a 503). */
static int scrape(const char *path, struct exporter_answer *a)
{
	char *reply = NULL;
	size_t len = 0;
	int rc = ask_metrics(path, &reply, &len);

	if (!rc)
		return exporter_answer_from_reply(reply, len, a);
	if (rc == -ETIMEDOUT)
		return answer_text(a, 503, "vmswitch did not answer within %d s on %s\n",
				   EXPORTER_ANSWER_MS / 1000, path);
	return answer_text(a, 503, "no vmswitch answering on %s: %s\n", path,
			   strerror(-rc));
}

/* ---- HTTP ------------------------------------------------------------------- */

static enum MHD_Result send_answer(struct MHD_Connection *conn,
				   unsigned int status, char *body, size_t len,
				   const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result send_text(struct MHD_Connection *conn,
				 unsigned int status, const char *text)
{
	char *body = strdup(text);

	return body ? send_answer(conn, status, body, strlen(body), TEXT_TYPE) : MHD_NO;
}

static enum MHD_Result send_metrics(struct MHD_Connection *conn,
				    const char *ctl_path)
{
	struct exporter_answer a;

	if (scrape(ctl_path, &a))
		return MHD_NO;
	if (a.status != 200) {
		flockfile(stderr);	/* one line, whole, among the threads */
		warn("scrape: %.*s", (int)(a.len ? a.len - 1 : 0), a.body);
		funlockfile(stderr);
	}
	return send_answer(conn, a.status, a.body, a.len,
			   a.status == 200 ? METRICS_TYPE : TEXT_TYPE);
}

/* MHD's access handler: answered at the first call, no body is read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") != 0)
		return send_text(conn, MHD_HTTP_NOT_FOUND,
				 "not found: vmswitch exporter serves /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				 "method not allowed: GET or HEAD\n");
	return send_metrics(conn, cls);
}

/* ---- the command ------------------------------------------------------------ */

struct exporter_options {
	const char *listen;
	const char *ctl_path;
};

/* 0 to go on, else the exit status (--help: 0, a mistake: 2) + 1. */
static int parse_options(int argc, char **argv, struct exporter_options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 's': o->ctl_path = optarg; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 3;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmswitch exporter: unexpected argument '%s'\n",
			argv[optind]);
		return 3;
	}
	return 0;
}

/* The bound address, numerically ("[::1]:9472"), for the log. */
static void bound_name(int s, char *out, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getsockname(s, (struct sockaddr *)&ss, &sl) ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(out, len, "?");
		return;
	}
	snprintf(out, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* Serve on @s until SIGINT or SIGTERM; MHD's threads inherit @stop blocked. */
static int serve(int s, const char *ctl_path, const sigset_t *stop)
{
	struct MHD_Daemon *d;
	char name[NI_MAXHOST + NI_MAXSERV + 4];
	int sig;

	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			     MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
			     (void *)ctl_path,
			     MHD_OPTION_LISTEN_SOCKET, s,
			     MHD_OPTION_CONNECTION_LIMIT, EXPORTER_CONN_MAX,
			     MHD_OPTION_CONNECTION_TIMEOUT, EXPORTER_CONN_IDLE_S,
			     MHD_OPTION_END);
	if (!d) {
		err("exporter: the HTTP server did not start");
		close(s);
		return 1;
	}
	bound_name(s, name, sizeof(name));
	info("exporter: serving http://%s/metrics from %s", name, ctl_path);
	sigwait(stop, &sig);	/* @stop holds SIGINT and SIGTERM only */
	MHD_stop_daemon(d);	/* closes @s */
	info("exporter: stopped");
	return 0;
}

/**
 * exporter_main() - `vmswitch exporter [--listen ADDR:PORT] [--socket PATH]`
 * @argc:	words from "exporter" on
 * @argv:	the words
 *
 * Return: exit status: 0 after SIGINT or SIGTERM (or --help), 1 when it
 * cannot listen, 2 for a usage mistake (an option, or ADDR:PORT's form)
 */
int exporter_main(int argc, char **argv)
{
	struct exporter_options o = { .listen = EXPORTER_DEFAULT_LISTEN,
				      .ctl_path = ctl_default_path() };
	char why[512];
	sigset_t stop;
	int s, rc = parse_options(argc, argv, &o);

	if (rc)
		return rc - 1;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	s = listen_spec(o.listen, why, sizeof(why));
	if (s < 0) {
		err("exporter: %s", why);
		return s == -EINVAL ? 2 : 1;
	}
	return serve(s, o.ctl_path, &stop);
}
