/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - the switch's counters in the Prometheus text format
 * (`vmswitch ctl metrics`, relayed as is by `vmswitch exporter`)
 */
#ifndef VMSW_CTL_METRICS_H
#define VMSW_CTL_METRICS_H

#include <stdio.h>

#include "ctl/vmswitch.h"

void metrics_write(struct vmswitch *vs, FILE *out);

#endif /* VMSW_CTL_METRICS_H */
