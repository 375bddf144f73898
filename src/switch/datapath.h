/* SPDX-License-Identifier: MIT */
/*
 * datapath.h - the one loop: poll every port in bursts, switch, transmit;
 * sleep on the kick eventfds when nothing has moved for a while
 */
#ifndef VMSW_DATAPATH_H
#define VMSW_DATAPATH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/evloop.h"
#include "switch/bridge.h"

struct datapath_stats {
	uint64_t busy_cycles;	/* TSC cycles in passes that moved packets */
	uint64_t busy_packets;	/* packets received in those passes */
	uint64_t passes;
	uint64_t sleeps;
	uint64_t max_pause_ns;	/* longest control-plane stretch between two
				 * passes, in the loop thread's CPU time (not
				 * counting sleeps), since `stats --json` read it */
};

struct dp_threads;

struct datapath {
	struct bridge *bridge;
	struct dp_threads *threads;	/* run --cpus: the datapath threads */
	bool busy_poll;		/* never sleep (for benchmarks) */
	unsigned int burst;	/* frames per ring per pass */
	uint64_t poll_window;	/* idle time before sleeping, in TSC cycles:
				 * adapts between the two bounds below */
	uint64_t poll_min, poll_max;
	uint64_t start_ns;
	struct ev_timer aging;
	struct port *active[PORT_MAX];	/* the ports worth polling */
	unsigned int nactive;
	unsigned int active_gen;	/* port_active_gen they were taken at */
	struct datapath_stats stats;
};

void datapath_init(struct datapath *dp, struct bridge *b, bool busy_poll,
		   unsigned int burst);
unsigned int datapath_poll(struct datapath *dp);
void datapath_run(struct datapath *dp, volatile sig_atomic_t *quit,
		  volatile sig_atomic_t *dump);
void datapath_print_stats(struct datapath *dp, FILE *out);
void datapath_print_stats_loop(struct datapath *dp, FILE *out);

#endif /* VMSW_DATAPATH_H */
