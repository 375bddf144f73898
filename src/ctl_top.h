/* SPDX-License-Identifier: MIT */
/* ctl_top.h - `vmswitch ctl top`: a refreshing per-port view */
#ifndef VMSW_CTL_TOP_H
#define VMSW_CTL_TOP_H

#include <stdio.h>

int ctl_top(const char *path);
int ctl_ask(const char *path, const char *line, FILE *out);

#endif /* VMSW_CTL_TOP_H */
