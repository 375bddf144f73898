/* SPDX-License-Identifier: MIT */
/* unixsock.h - helpers for the UNIX sockets we listen on */
#ifndef VMSW_UNIXSOCK_H
#define VMSW_UNIXSOCK_H

#include <stdbool.h>
#include <sys/un.h>

int unixsock_make_parent_dir(const char *path);
bool unixsock_answers(const struct sockaddr_un *a);

#endif /* VMSW_UNIXSOCK_H */
