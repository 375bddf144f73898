/* SPDX-License-Identifier: MIT */
/*
 * fakemem.h - guest memory for unit tests: a memfd mapped by the real
 * guest_mem code in two regions that are contiguous in guest-physical
 * space but not in frontend-virtual space, plus a driver-side view of
 * one split ring in it.
 */
#ifndef VMSW_FAKEMEM_H
#define VMSW_FAKEMEM_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost/guest_mem.h"
#include "vhost/vring.h"

#define FAKE_GPA	0x100000ull		/* region 0 starts here */
#define FAKE_HALF	(1ull << 20)		/* each region: 1 MiB */
#define FAKE_QVA0	0x7f0000000000ull
#define FAKE_QVA1	0x7f1000000000ull	/* not contiguous with QVA0 */

struct fake {
	int fd;
	uint8_t *view;		/* the test's own mapping: the "guest" */
	struct guest_mem mem;	/* the switch's mapping */
	struct vring vr;
	uint16_t num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx;	/* driver's next avail slot */
	uint64_t alloc;		/* bump allocator for buffers, a GPA */
};

static inline void *fake_ptr(struct fake *f, uint64_t gpa)
{
	return f->view + (gpa - FAKE_GPA);
}

static inline uint64_t fake_qva(uint64_t gpa)
{
	return gpa < FAKE_GPA + FAKE_HALF ? FAKE_QVA0 + (gpa - FAKE_GPA)
					  : FAKE_QVA1 + (gpa - FAKE_GPA - FAKE_HALF);
}

static inline uint64_t fake_alloc(struct fake *f, uint64_t len)
{
	uint64_t gpa = (f->alloc + 15) & ~15ull;

	f->alloc = gpa + len;
	return gpa;
}

/* Map 2 MiB of guest memory and lay out a ring of @num entries at its start. */
static inline void fake_init(struct fake *f, uint16_t num, bool event_idx)
{
	struct guest_region_desc d[2] = {
		{ FAKE_GPA, FAKE_HALF, FAKE_QVA0, 0 },
		{ FAKE_GPA + FAKE_HALF, FAKE_HALF, FAKE_QVA1, FAKE_HALF },
	};
	int fds[2];
	char why[128];
	struct vring_addr a;

	memset(f, 0, sizeof(*f));
	f->fd = memfd_create("fake-guest", MFD_CLOEXEC);
	if (ftruncate(f->fd, 2 * FAKE_HALF) < 0)
		abort();
	f->view = mmap(NULL, 2 * FAKE_HALF, PROT_READ | PROT_WRITE, MAP_SHARED,
		       f->fd, 0);
	fds[0] = fds[1] = f->fd;
	if (guest_mem_map(&f->mem, d, fds, 2, why, sizeof(why)))
		abort();
	f->num = num;
	f->alloc = FAKE_GPA;
	f->desc_gpa = fake_alloc(f, 16ull * num);
	f->avail_gpa = fake_alloc(f, vring_avail_size(num, true));
	f->used_gpa = fake_alloc(f, vring_used_size(num, true));
	a.desc = guest_mem_qva_range(&f->mem, fake_qva(f->desc_gpa), 16ull * num);
	a.avail = guest_mem_qva_range(&f->mem, fake_qva(f->avail_gpa), 4);
	a.used = guest_mem_qva_range(&f->mem, fake_qva(f->used_gpa), 4);
	f->vr.call_fd = -1;
	vring_init(&f->vr, &a, num, 0, event_idx, &f->mem);
}

static inline void fake_destroy(struct fake *f)
{
	guest_mem_unmap(&f->mem);
	munmap(f->view, 2 * FAKE_HALF);
	close(f->fd);
}

static inline struct vring_desc *fake_desc(struct fake *f, uint16_t i)
{
	return (struct vring_desc *)fake_ptr(f, f->desc_gpa) + i;
}

static inline void fake_set_desc(struct fake *f, uint16_t i, uint64_t addr,
				 uint32_t len, uint16_t flags, uint16_t next)
{
	*fake_desc(f, i) = (struct vring_desc){ addr, len, flags, next };
}

static inline struct vring_avail *fake_avail(struct fake *f)
{
	return fake_ptr(f, f->avail_gpa);
}

static inline struct vring_used *fake_used(struct fake *f)
{
	return fake_ptr(f, f->used_gpa);
}

/* Make chain @head available to the device. */
static inline void fake_publish(struct fake *f, uint16_t head)
{
	fake_avail(f)->ring[f->avail_idx % f->num] = head;
	f->avail_idx++;
	fake_avail(f)->idx = f->avail_idx;
}

#endif /* VMSW_FAKEMEM_H */
