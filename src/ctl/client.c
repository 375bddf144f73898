/* SPDX-License-Identifier: MIT */
/* client.c - `vmswitch ctl`: send one command to the control socket */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/words.h"
#include "ctl/client.h"

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
	char line[CTL_REQUEST_MAX];

	if (words_join(line, sizeof(line), argv, argc)) {
		fprintf(stderr, "vmswitch ctl: command too long\n");
		return 2;
	}
	return ask(path, line, stdout);
}

/** ctl_ask() - one request, the answer into @out. Return: exit status */
int ctl_ask(const char *path, const char *line, FILE *out)
{
	return ask(path, line, out);
}
