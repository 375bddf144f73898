/* SPDX-License-Identifier: MIT */
/*
 * assign.h - which datapath thread polls which port: the largest measured
 * load first, each onto the thread with the least load so far
 */
#ifndef VMSW_ASSIGN_H
#define VMSW_ASSIGN_H

#include <stdbool.h>
#include <stdint.h>

#define ASSIGN_NONE	(-1)	/* not to be polled / not pinned */

/**
 * struct assign_item - one receive queue to place
 * @load:	busy cycles measured since the last assignment (0: new)
 * @pin:	thread it must go to, or ASSIGN_NONE
 * @thread:	the answer
 */
struct assign_item {
	uint64_t load;
	int pin;
	int thread;
};

void assign_threads(struct assign_item *item, unsigned int nitems,
		    unsigned int nthreads);
uint64_t assign_busiest(const struct assign_item *item, unsigned int nitems,
			unsigned int nthreads);
bool assign_would_even_out(const struct assign_item *item, unsigned int nitems,
			   unsigned int nthreads, unsigned int gain_pct);

#endif /* VMSW_ASSIGN_H */
