/* SPDX-License-Identifier: MIT */
/*
 * dirty_log.h - the migration log: one bit per 4 KiB guest-physical page
 * the switch wrote, in a shared memory file the frontend (QEMU) reads and
 * clears while it copies guest memory to the destination
 *
 * Set with SET_LOG_BASE (a memfd, its size and offset), written only while
 * VHOST_F_LOG_ALL is negotiated and a ring has VHOST_VRING_F_LOG. Bits are
 * set with an atomic OR, after the data they cover (a release fence first),
 * so that QEMU never clears a bit for a write still on its way.
 */
#ifndef VMSW_DIRTY_LOG_H
#define VMSW_DIRTY_LOG_H

#include <stddef.h>
#include <stdint.h>

#define DIRTY_LOG_PAGE_SHIFT	12

/**
 * struct dirty_log - a mapped log
 * @bits:	the bitmap: bit (gpa >> 12) % 8 of byte (gpa >> 12) / 8
 * @size:	bytes of bitmap at @bits
 * @map:	what mmap returned, for munmap
 * @map_len:	its length
 * @pages:	page bits set (counted per write, not per distinct page)
 * @beyond:	writes that fell outside the log (a log too small for the
 *		memory, or a hostile address): skipped, counted
 */
struct dirty_log {
	uint8_t *bits;
	uint64_t size;
	void *map;
	size_t map_len;
	uint64_t pages;
	uint64_t beyond;
};

/* 64 pages of the log: word @idx of the bitmap seen as uint64_t, @bits set. */
struct dirty_log_word {
	uint64_t idx;
	uint64_t bits;
};

int dirty_log_map(struct dirty_log *l, int fd, uint64_t size, uint64_t offset,
		  char *why, size_t whylen);
void dirty_log_unmap(struct dirty_log *l);
void dirty_log_range(struct dirty_log *l, uint64_t gpa, uint64_t len);
unsigned int dirty_log_collect(struct dirty_log *l, struct dirty_log_word *cache,
			       unsigned int n, unsigned int max, uint64_t gpa,
			       uint64_t len);
void dirty_log_flush(struct dirty_log *l, struct dirty_log_word *cache,
		     unsigned int n);

#endif /* VMSW_DIRTY_LOG_H */
