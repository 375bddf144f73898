/* SPDX-License-Identifier: MIT */
/* guest_mem.c - map the frontend's memory regions and translate ranges */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "vhost/guest_mem.h"

/* Check one region against its fd before mapping it (no SIGBUS later). */
static int region_check(const struct guest_region_desc *d, int fd,
			struct stat *st, char *why, size_t whylen)
{
	if (!d->size) {
		snprintf(why, whylen, "region of size 0");
		return -EINVAL;
	}
	if (range_overflows(d->gpa, d->size) || range_overflows(d->qva, d->size) ||
	    range_overflows(d->mmap_offset, d->size)) {
		snprintf(why, whylen, "region address + size overflows");
		return -EINVAL;
	}
	if (fstat(fd, st) < 0) {
		snprintf(why, whylen, "fstat on region fd: %s", strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "region fd is not a memfd or file");
		return -EINVAL;
	}
	if (d->mmap_offset + d->size > (uint64_t)st->st_size) {
		snprintf(why, whylen,
			 "region offset %#llx + size %#llx beyond its fd (%lld bytes)",
			 (unsigned long long)d->mmap_offset,
			 (unsigned long long)d->size, (long long)st->st_size);
		return -EINVAL;
	}
	return 0;
}

/* Map one region. The fd stays owned by the caller. */
static int region_map(struct guest_region *r, const struct guest_region_desc *d,
		      int fd, char *why, size_t whylen)
{
	struct stat st;
	uint64_t len, blk;
	void *map;
	int rc;

	rc = region_check(d, fd, &st, why, whylen);
	if (rc)
		return rc;
	/*
	 * Map from offset 0 so the offset needs no alignment, and round the
	 * length up to the block size: hugetlbfs wants whole huge pages.
	 */
	len = d->mmap_offset + d->size;
	blk = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	len = (len + blk - 1) / blk * blk;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		   fd, 0);
	if (map == MAP_FAILED) {
		int e = errno;	/* before snprintf and strerror */

		snprintf(why, whylen, "mmap of %llu bytes: %s",
			 (unsigned long long)len, strerror(e));
		return -e;
	}
	r->gpa = d->gpa;
	r->size = d->size;
	r->qva = d->qva;
	r->map = map;
	r->map_len = len;
	r->page = blk;
	r->host = (uint8_t *)map + d->mmap_offset;
	if (guest_mem_track(r)) {
		snprintf(why, whylen, "too many guest memory regions mapped at once");
		munmap(map, len);
		return -ENOSPC;
	}
	return 0;
}

/**
 * guest_mem_map() - map a new memory table into @m (which must be empty)
 * @m:		destination, zeroed or unmapped
 * @desc:	regions as sent by the frontend
 * @fds:	one fd per region, still owned by the caller
 * @n:		number of regions, 1..GUEST_MEM_MAX_REGIONS
 * @why:	filled with a reason on failure
 * @whylen:	size of @why
 *
 * Return: 0, or -errno with nothing left mapped
 */
int guest_mem_map(struct guest_mem *m, const struct guest_region_desc *desc,
		  const int *fds, unsigned int n, char *why, size_t whylen)
{
	unsigned int i;
	int rc;

	if (n < 1 || n > GUEST_MEM_MAX_REGIONS) {
		snprintf(why, whylen, "%u regions (1..%d allowed)", n,
			 GUEST_MEM_MAX_REGIONS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		rc = region_map(&m->region[i], &desc[i], fds[i], why, whylen);
		if (rc) {
			m->nregions = i;
			guest_mem_unmap(m);
			return rc;
		}
	}
	m->nregions = n;
	return 0;
}

/** guest_mem_unmap() - unmap every region; @m becomes empty */
void guest_mem_unmap(struct guest_mem *m)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		guest_mem_untrack(&m->region[i]);
		munmap(m->region[i].map, m->region[i].map_len);
	}
	memset(m, 0, sizeof(*m));
}

/**
 * guest_mem_qva_range() - host address of a range given in frontend addresses
 * @m:		memory table
 * @qva:	frontend virtual address
 * @len:	length; the whole range must lie in one region
 *
 * Return: host pointer, or NULL
 */
void *guest_mem_qva_range(const struct guest_mem *m, uint64_t qva, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->region[i];
		uint64_t off = qva - r->qva;

		if (off < r->size && len <= r->size - off)
			return r->host + off;
	}
	return NULL;
}
