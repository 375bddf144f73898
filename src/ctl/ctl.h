/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the control socket: one request line per connection, answered
 * with "OK" or "ERR <reason>" on the first line and the output after it
 */
#ifndef VMSW_CTL_H
#define VMSW_CTL_H

#include <stdio.h>

#include "ctl/client.h"
#include "ctl/vmswitch.h"

#define CTL_CONN_MAX		128	/* connections at once; more are closed */

/** struct ctl_stats - what the control socket saw, for `stats` and metrics */
struct ctl_stats {
	uint64_t accepted;	/* connections taken */
	uint64_t requests;	/* complete request lines executed */
	uint64_t errors;	/* answered with ERR */
	uint64_t too_long;	/* requests over CTL_REQUEST_MAX, refused */
	uint64_t timeouts;	/* connections closed at their deadline */
	uint64_t refused;	/* connections over CTL_CONN_MAX, closed at once */
	uint64_t write_errors;	/* clients gone before their answer was sent */
};

int ctl_start(struct vmswitch *vs, const char *path);
void ctl_stop(void);
int ctl_execute(struct vmswitch *vs, char *line, FILE *out, char *why,
		size_t whylen);
const char *ctl_default_path(void);
const struct ctl_stats *ctl_get_stats(void);

#endif /* VMSW_CTL_H */
