/* SPDX-License-Identifier: MIT */
/* dirty_log.c - mapping the migration log and setting its bits */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vhost/dirty_log.h"

/* A log for 16 TiB of guest memory; anything larger is not a real one. */
#define DIRTY_LOG_MAX	(1ull << 29)

/**
 * dirty_log_map() - map the log of SET_LOG_BASE into @l, replacing any
 * @l:		log; unchanged on failure
 * @fd:		the log's file, still the caller's to close
 * @size:	bytes of bitmap
 * @offset:	where the bitmap starts in the file
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * The new log is mapped before the old one is unmapped, and nothing is
 * written to the old one afterwards (QEMU frees it once we reply).
 *
 * Return: 0 or -errno
 */
int dirty_log_map(struct dirty_log *l, int fd, uint64_t size, uint64_t offset,
		  char *why, size_t whylen)
{
	struct stat st;
	void *map;

	if (!size || size > DIRTY_LOG_MAX || offset > DIRTY_LOG_MAX) {
		snprintf(why, whylen, "log of %llu bytes at offset %llu",
			 (unsigned long long)size, (unsigned long long)offset);
		return -EINVAL;
	}
	/* Both are bounded above, so size + offset cannot wrap (CVE-2020-10722). */
	if (fstat(fd, &st) || (uint64_t)st.st_size < size + offset) {
		snprintf(why, whylen, "log file smaller than offset + size (%llu)",
			 (unsigned long long)size + offset);
		return -EINVAL;
	}
	map = mmap(NULL, size + offset, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, whylen, "cannot map the log: %s", strerror(errno));
		return -errno;
	}
	dirty_log_unmap(l);
	l->map = map;
	l->map_len = size + offset;
	l->bits = (uint8_t *)map + offset;
	l->size = size;
	return 0;
}

/** dirty_log_unmap() - forget the log (counters are kept) */
void dirty_log_unmap(struct dirty_log *l)
{
	if (l->map)
		munmap(l->map, l->map_len);
	l->map = NULL;
	l->map_len = 0;
	l->bits = NULL;
	l->size = 0;
}

/**
 * dirty_log_range() - mark the pages of [@gpa, @gpa + @len) dirty
 * @l:		a mapped log
 * @gpa:	guest-physical start of what was written
 * @len:	bytes written; 0 marks nothing
 *
 * The caller has written the data; the fence orders it before the bits.
 */
void dirty_log_range(struct dirty_log *l, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (!len)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	page = gpa >> DIRTY_LOG_PAGE_SHIFT;
	last = (gpa + len - 1) >> DIRTY_LOG_PAGE_SHIFT;
	if (gpa + len < gpa || last / 8 >= l->size) {
		l->beyond++;
		return;
	}
	for (; page <= last; page++) {
		__atomic_fetch_or(&l->bits[page / 8], (uint8_t)(1u << (page % 8)),
				  __ATOMIC_RELAXED);
		l->pages++;
	}
}

/* Set @bits in 64-page word @idx: one atomic OR, or per byte at the log's end. */
static void set_word(struct dirty_log *l, uint64_t idx, uint64_t bits)
{
	unsigned int i;

	if ((idx + 1) * 8 <= l->size && !((uintptr_t)l->bits % 8)) {
		__atomic_fetch_or((uint64_t *)l->bits + idx, bits, __ATOMIC_RELAXED);
		return;
	}
	for (i = 0; i < 8; i++, bits >>= 8)
		if (bits & 0xff && idx * 8 + i < l->size)
			__atomic_fetch_or(&l->bits[idx * 8 + i], (uint8_t)bits,
					  __ATOMIC_RELAXED);
}

/**
 * dirty_log_flush() - set the collected words in the log
 * @l:		log
 * @cache:	words from dirty_log_collect()
 * @n:		how many
 *
 * The data the words cover is written: the fence orders it before them.
 */
void dirty_log_flush(struct dirty_log *l, struct dirty_log_word *cache,
		     unsigned int n)
{
	unsigned int i;

	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < n; i++)
		set_word(l, cache[i].idx, cache[i].bits);
}

/**
 * dirty_log_collect() - note the pages of [@gpa, @gpa + @len) in @cache
 * @l:		log (bounds, counters; flushed into when @cache fills)
 * @cache:	words collected so far in this burst
 * @n:		entries in @cache
 * @max:	its size
 * @gpa:	guest-physical start of a write
 * @len:	its length
 *
 * A burst writes few pages, so the few words they fall in are merged here
 * and set with one atomic OR each (dirty_log_flush()), instead of one per
 * write.
 *
 * Return: entries in @cache now
 */
unsigned int dirty_log_collect(struct dirty_log *l, struct dirty_log_word *cache,
			       unsigned int n, unsigned int max, uint64_t gpa,
			       uint64_t len)
{
	uint64_t page, last;
	unsigned int i;

	if (!len)
		return n;
	page = gpa >> DIRTY_LOG_PAGE_SHIFT;
	last = (gpa + len - 1) >> DIRTY_LOG_PAGE_SHIFT;
	if (gpa + len < gpa || last / 8 >= l->size) {
		l->beyond++;
		return n;
	}
	for (; page <= last; page++) {
		l->pages++;
		for (i = 0; i < n && cache[i].idx != page / 64; i++)
			;
		if (i == n) {
			if (n == max) {
				dirty_log_flush(l, cache, n);
				n = i = 0;
			}
			cache[n++] = (struct dirty_log_word){ page / 64, 0 };
		}
		cache[i].bits |= 1ull << (page % 64);
	}
	return n;
}
