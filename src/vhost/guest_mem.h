/* SPDX-License-Identifier: MIT */
/*
 * guest_mem.h - the guest's memory as shared by the frontend, and translation
 *
 * Three address spaces meet here: guest-physical addresses (GPA, used in
 * descriptors), the frontend's own virtual addresses (QVA, used for ring
 * addresses in SET_VRING_ADDR) and our mapping of the same pages (host).
 * Every translation is of a whole range; a range that crosses a region edge
 * is split (iov) or refused (contiguous lookups).
 */
#ifndef VMSW_GUEST_MEM_H
#define VMSW_GUEST_MEM_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define GUEST_MEM_MAX_REGIONS	8

struct guest_region {
	uint64_t gpa;		/* guest-physical start */
	uint64_t size;		/* bytes */
	uint64_t qva;		/* frontend virtual start */
	uint8_t *host;		/* our address of gpa */
	void *map;		/* what mmap returned, for munmap */
	uint64_t map_len;
	uint64_t page;		/* page size of the backing file */
};

struct guest_mem {
	unsigned int nregions;
	struct guest_region region[GUEST_MEM_MAX_REGIONS];
};

/** struct guest_region_desc - one region as the frontend describes it */
struct guest_region_desc {
	uint64_t gpa;
	uint64_t size;
	uint64_t qva;
	uint64_t mmap_offset;
};

int guest_mem_map(struct guest_mem *m, const struct guest_region_desc *desc,
		  const int *fds, unsigned int n, char *why, size_t whylen);
void guest_mem_unmap(struct guest_mem *m);
int guest_mem_catch_sigbus(void);
bool guest_mem_faulted(const struct guest_mem *m);
int guest_mem_track(const struct guest_region *r);
void guest_mem_untrack(const struct guest_region *r);

/*
 * Mappings that took a SIGBUS (the frontend shrank the file under us) and
 * are still mapped. Nonzero is rare; only then is guest_mem_faulted() worth
 * calling.
 */
extern volatile int guest_mem_faults;

void *guest_mem_qva_range(const struct guest_mem *m, uint64_t qva, uint64_t len);

/**
 * guest_mem_gpa_range() - host address of a guest-physical range
 * @m:		memory table
 * @gpa:	guest-physical address
 * @len:	length; the whole range must lie in one region
 *
 * Return: host pointer, or NULL
 */
static inline void *guest_mem_gpa_range(const struct guest_mem *m, uint64_t gpa,
					uint64_t len)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->region[i];
		uint64_t off = gpa - r->gpa;

		if (off < r->size && len <= r->size - off)
			return r->host + off;
	}
	return NULL;
}

/**
 * guest_mem_host_gpa() - the guest-physical address of host address @host
 * @m:		memory table
 * @host:	inside one of its regions' mappings
 * @gpa:	set on success
 *
 * Return: 0, or -EFAULT if @host is in no region
 */
static inline int guest_mem_host_gpa(const struct guest_mem *m, const void *host,
				     uint64_t *gpa)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->region[i];
		uint64_t off = (uint64_t)((const uint8_t *)host - r->host);

		if (off < r->size) {
			*gpa = r->gpa + off;
			return 0;
		}
	}
	return -EFAULT;
}

/**
 * guest_mem_gpa_iov() - translate [gpa, gpa+len) into host iovecs
 * @m:		memory table
 * @gpa:	guest-physical start
 * @len:	length in bytes, may be 0 (nothing added)
 * @iov:	array to append to
 * @max:	room left in @iov
 *
 * Return: iovecs added, -EFAULT if any byte is outside guest memory,
 *	   -E2BIG if @max is too small
 */
static inline int guest_mem_gpa_iov(const struct guest_mem *m, uint64_t gpa,
				    uint64_t len, struct iovec *iov,
				    unsigned int max)
{
	unsigned int n = 0, i;

	while (len) {
		const struct guest_region *r = NULL;
		uint64_t off, chunk;

		for (i = 0; i < m->nregions; i++) {
			/* Unsigned difference: one compare covers both ends. */
			if (gpa - m->region[i].gpa < m->region[i].size) {
				r = &m->region[i];
				break;
			}
		}
		if (!r)
			return -EFAULT;
		if (n == max)
			return -E2BIG;
		off = gpa - r->gpa;
		chunk = r->size - off < len ? r->size - off : len;
		iov[n].iov_base = r->host + off;
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return (int)n;
}

#endif /* VMSW_GUEST_MEM_H */
