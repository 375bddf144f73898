/* SPDX-License-Identifier: MIT */
/* assign.c - place receive queues on datapath threads by measured load */
#include <stdbool.h>
#include <stdlib.h>

#include "core/util.h"
#include "switch/assign.h"

#define ASSIGN_THREADS_MAX	64

/* The thread with the least load; fewer queues, then the lower index, on a tie. */
static unsigned int least_loaded(const uint64_t *load, const unsigned int *count,
				 unsigned int nthreads)
{
	unsigned int best = 0, t;

	for (t = 1; t < nthreads; t++)
		if (load[t] < load[best] ||
		    (load[t] == load[best] && count[t] < count[best]))
			best = t;
	return best;
}

/**
 * assign_threads() - set item[i].thread for every item
 * @item:	queues with their load and pin; pins at or beyond @nthreads
 *		count as none
 * @nitems:	how many
 * @nthreads:	datapath threads, 1 to 64
 *
 * Pinned queues go first, to their threads; the others, largest load
 * first, each to the least-loaded thread. New queues (load 0) spread by
 * count. The result depends only on the input, so an unchanged load keeps
 * every queue where it is.
 */
void assign_threads(struct assign_item *item, unsigned int nitems,
		    unsigned int nthreads)
{
	uint64_t load[ASSIGN_THREADS_MAX] = { 0 };
	unsigned int count[ASSIGN_THREADS_MAX] = { 0 };
	bool placed[nitems ? nitems : 1];
	unsigned int i, k;

	nthreads = MIN(MAX(nthreads, 1u), (unsigned int)ASSIGN_THREADS_MAX);
	for (i = 0; i < nitems; i++) {
		int pin = item[i].pin;

		placed[i] = pin >= 0 && (unsigned int)pin < nthreads;
		if (placed[i]) {
			item[i].thread = pin;
			load[pin] += item[i].load;
			count[pin]++;
		}
	}
	for (k = 0; k < nitems; k++) {
		unsigned int big = nitems, t;

		/* Selection of the largest left: there are few queues. */
		for (i = 0; i < nitems; i++)
			if (!placed[i] && (big == nitems || item[i].load > item[big].load))
				big = i;
		if (big == nitems)
			break;
		t = least_loaded(load, count, nthreads);
		item[big].thread = (int)t;
		load[t] += item[big].load;
		count[t]++;
		placed[big] = true;
	}
}

/**
 * assign_busiest() - the load of the busiest thread, with every item on
 * its item[].thread (one below 0 or at or beyond @nthreads counts nowhere)
 */
uint64_t assign_busiest(const struct assign_item *item, unsigned int nitems,
			unsigned int nthreads)
{
	uint64_t load[ASSIGN_THREADS_MAX] = { 0 }, most = 0;
	unsigned int i;

	nthreads = MIN(nthreads, (unsigned int)ASSIGN_THREADS_MAX);
	for (i = 0; i < nitems; i++)
		if (item[i].thread >= 0 && (unsigned int)item[i].thread < nthreads)
			load[item[i].thread] += item[i].load;
	for (i = 0; i < nthreads; i++)
		most = MAX(most, load[i]);
	return most;
}

/**
 * assign_would_even_out() - would placing @item again (assign_threads())
 * take at least @gain_pct percent off the busiest thread's load?
 * @item:	the queues where they are now (item[].thread), with their loads
 * @nitems:	how many, at most 256
 * @nthreads:	datapath threads
 * @gain_pct:	the least worth a move, in percent
 *
 * @item is not changed.
 */
bool assign_would_even_out(const struct assign_item *item, unsigned int nitems,
			   unsigned int nthreads, unsigned int gain_pct)
{
	struct assign_item again[256];
	uint64_t now, then;
	unsigned int i;

	if (nitems > 256)
		return false;
	for (i = 0; i < nitems; i++)
		again[i] = item[i];
	assign_threads(again, nitems, nthreads);
	now = assign_busiest(item, nitems, nthreads);
	then = assign_busiest(again, nitems, nthreads);
	return now && (now - then) * 100 >= now * gain_pct;
}
