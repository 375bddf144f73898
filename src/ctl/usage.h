/* SPDX-License-Identifier: MIT */
/* usage.h - the help texts of vmswitch, vmswitch run and vmswitch ctl, and --version */
#ifndef VMSW_CTL_USAGE_H
#define VMSW_CTL_USAGE_H

#include <stdbool.h>
#include <stdio.h>

/* Defaults of `vmswitch run`, shown in its help. */
#define DEFAULT_BURST		32
#define DEFAULT_AGING_S		300
#define DEFAULT_FDB_MAX		(128 * 1024)
#define DEFAULT_POOL		16384

bool usage_is_help(const char *arg);
void usage_main(FILE *out);
void usage_brief(FILE *out);
void usage_run(FILE *out);
void usage_ctl(FILE *out);
void usage_version(FILE *out);

#endif /* VMSW_CTL_USAGE_H */
