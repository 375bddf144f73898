/* SPDX-License-Identifier: MIT */
/* unixsock.c - helpers for the UNIX sockets we listen on */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/unixsock.h"

/**
 * unixsock_make_parent_dir() - create the directory @path's socket goes in
 * @path:	socket path; a missing parent is created with mode 0755
 *
 * Return: 0 (also when it exists) or -errno
 */
int unixsock_make_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/**
 * unixsock_answers() - does a listener answer on @a?
 * @a:		the socket's address
 *
 * A non-blocking connect: it never waits. A full backlog still means alive.
 *
 * Return: true if something listens there (a socket file is not stale)
 */
bool unixsock_answers(const struct sockaddr_un *a)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (s < 0)
		return false;
	live = connect(s, (const struct sockaddr *)a, sizeof(*a)) == 0 ||
	       errno == EAGAIN;
	close(s);
	return live;
}
