/* SPDX-License-Identifier: MIT */
/*
 * client.h - `vmswitch ctl`: one request line to the control socket, the
 * answer ("OK" or "ERR <reason>", then the output) printed
 */
#ifndef VMSW_CTL_CLIENT_H
#define VMSW_CTL_CLIENT_H

#include <stdio.h>

#define CTL_REQUEST_MAX		4096	/* bytes in one request line */

int ctl_client(const char *path, int argc, char **argv);
int ctl_ask(const char *path, const char *line, FILE *out);

#endif /* VMSW_CTL_CLIENT_H */
