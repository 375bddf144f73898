/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the control socket: one request line per connection, answered
 * with "OK" or "ERR <reason>" on the first line and the output after it
 */
#ifndef VMSW_CTL_H
#define VMSW_CTL_H

#include <stdio.h>

#include "ctl/vmswitch.h"

int ctl_start(struct vmswitch *vs, const char *path);
void ctl_stop(void);
int ctl_execute(struct vmswitch *vs, char *line, FILE *out, char *why,
		size_t whylen);
const char *ctl_default_path(void);

#endif /* VMSW_CTL_H */
