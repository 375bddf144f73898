/* SPDX-License-Identifier: MIT */
/* top.h - `vmswitch ctl top`: a refreshing per-port view */
#ifndef VMSW_CTL_TOP_H
#define VMSW_CTL_TOP_H

#include <stddef.h>
#include <stdint.h>

#include "policy/port_options.h"

/** struct top_row - one port's counters in one sample */
struct top_row {
	char name[PORT_NAME_MAX];
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops;
};

int ctl_top(const char *path);
int top_parse(const char *text, size_t len, struct top_row *rows,
	      unsigned int max, uint64_t *time_ns);

#endif /* VMSW_CTL_TOP_H */
