/* SPDX-License-Identifier: MIT */
/*
 * guest_mem_sigbus.c - survive a frontend that shrinks guest memory under us
 *
 * A region is checked against its file when it is mapped, but the frontend
 * can still truncate the file later; touching a page past the new end raises
 * SIGBUS. The handler puts a zero page over the faulting one, so the access
 * completes, and flags the mapping. The port notices after its burst, marks
 * the device broken and unmaps everything: only that guest is affected, and
 * nothing on the datapath pays for this.
 */
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <errno.h>

#include "vhost/guest_mem.h"

/*
 * 256 devices (the switch's port limit), each with two tables mapped while
 * SET_MEM_TABLE replaces one. Beyond that a new table is refused, not lost.
 */
#define MAX_MAPPINGS	(2 * 256 * GUEST_MEM_MAX_REGIONS)

struct mapping {
	uint8_t *start;		/* NULL: free slot */
	uint64_t len;
	uint64_t page;
	volatile int faulted;
};

static struct mapping mappings[MAX_MAPPINGS];
volatile int guest_mem_faults;

/**
 * guest_mem_track() - remember a region's mapping for the SIGBUS handler
 * Return: 0, or -ENOSPC when the table is full (the region must not be used)
 */
int guest_mem_track(const struct guest_region *r)
{
	unsigned int i;

	for (i = 0; i < MAX_MAPPINGS; i++) {
		if (!mappings[i].start) {
			mappings[i].len = r->map_len;
			mappings[i].page = r->page;
			mappings[i].faulted = 0;
			mappings[i].start = r->map;
			return 0;
		}
	}
	return -ENOSPC;
}

/** guest_mem_untrack() - forget a mapping before it is unmapped */
void guest_mem_untrack(const struct guest_region *r)
{
	unsigned int i;

	for (i = 0; i < MAX_MAPPINGS; i++) {
		if (mappings[i].start == r->map) {
			if (mappings[i].faulted)
				guest_mem_faults--;
			mappings[i].start = NULL;
			return;
		}
	}
}

/** guest_mem_faulted() - did any region of @m take a SIGBUS? */
bool guest_mem_faulted(const struct guest_mem *m)
{
	unsigned int i, j;

	for (i = 0; i < m->nregions; i++)
		for (j = 0; j < MAX_MAPPINGS; j++)
			if (mappings[j].start == m->region[i].map &&
			    mappings[j].faulted)
				return true;
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	uint8_t *addr = si->si_addr;
	unsigned int i;

	(void)ctx;
	for (i = 0; i < MAX_MAPPINGS; i++) {
		struct mapping *mp = &mappings[i];
		uint8_t *page;

		if (!mp->start || addr < mp->start || addr >= mp->start + mp->len)
			continue;
		page = mp->start + ((uint64_t)(addr - mp->start) & ~(mp->page - 1));
		if (mmap(page, mp->page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		if (!mp->faulted) {
			mp->faulted = 1;
			guest_mem_faults++;
		}
		return;
	}
	/* Not guest memory, or unrecoverable: a real crash. */
	signal(sig, SIG_DFL);
	raise(sig);
}

/** guest_mem_catch_sigbus() - install the handler. Return: 0 or -1 */
int guest_mem_catch_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	return sigaction(SIGBUS, &sa, NULL);
}
