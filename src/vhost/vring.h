/* SPDX-License-Identifier: MIT */
/*
 * vring.h - the device side of a virtio split virtqueue
 *
 * The guest (driver) owns the descriptor table and the avail ring; we own
 * the used ring. Everything read from guest memory is checked before use and
 * each descriptor is read exactly once. A violation returns -EIO and names
 * the rule in vr->fault; the caller then breaks the device.
 *
 * Used entries are written as chains are completed, but used->idx is only
 * published by vring_publish(), once per burst.
 */
#ifndef VMSW_VRING_H
#define VMSW_VRING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "core/byteorder.h"
#include "core/util.h"
#include "vhost/dirty_log.h"
#include "vhost/guest_mem.h"

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY		1

#define VRING_MAX_SIZE		32768
/* iovecs per chain: 16 descriptors of a big-packet guest, plus region splits */
#define VRING_CHAIN_MAX_IOV	64

/* Log words a ring collects per burst before setting them in the log. */
#define VRING_LOG_CACHE		16

/* The guest's layout, little-endian (core/byteorder.h). */
struct vring_desc {
	le64 addr;		/* guest-physical buffer address */
	le32 len;		/* buffer bytes */
	le16 flags;		/* VRING_DESC_F_* */
	le16 next;		/* next descriptor, with F_NEXT */
};

struct vring_avail {
	le16 flags;		/* VRING_AVAIL_F_NO_INTERRUPT */
	le16 idx;		/* free-running count of heads made available */
	le16 ring[];		/* heads; then used_event, with EVENT_IDX */
};

struct vring_used_elem {
	le32 id;		/* head of the completed chain */
	le32 len;		/* bytes written into it */
};

struct vring_used {
	le16 flags;		/* VRING_USED_F_NO_NOTIFY */
	le16 idx;		/* free-running count of completions published */
	struct vring_used_elem ring[];	/* then avail_event, with EVENT_IDX */
};

/** struct vring_desc_cpu - a private copy of one descriptor, in CPU order */
struct vring_desc_cpu {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/** struct vring_addr - where the three parts live, in host addresses */
struct vring_addr {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

/**
 * struct vring - the device's view of one split virtqueue
 * @desc:	descriptor table in our mapping of guest memory (guest-owned)
 * @avail:	avail ring (guest-owned; we only read it)
 * @used:	used ring (ours; the guest reads it)
 * @mem:	memory table the descriptors' addresses are translated with
 * @num:	ring size, a power of two; indexes are masked with num - 1
 * @last_avail:	free-running index of the next avail slot to take
 * @avail_shadow: avail->idx as last read (vring_avail_count())
 * @used_idx:	free-running index of the next used slot to fill
 * @used_published: used->idx as last written (vring_publish())
 * @signalled_used: used_idx at the last interrupt (EVENT_IDX arithmetic)
 * @signalled_valid: @signalled_used holds a value (false after a start)
 * @event_idx:	VIRTIO_RING_F_EVENT_IDX negotiated: used_event/avail_event
 *		instead of the flags
 * @base_mismatch: SET_VRING_BASE disagreed with used->idx (logged once)
 * @call_fd:	eventfd to interrupt the guest, -1: none
 * @fault:	the ring rule the guest broke, for the log (after -EIO)
 * @unusable:	receive chains completed empty since the owner last took
 *		the count: no frame fits in them (vnet_packet_to_guest())
 * @log:	the migration log while this ring is logged, else NULL: every
 *		write into guest memory is then marked in it
 * @log_used_gpa: guest-physical address of the used ring (for @log)
 * @log_cache:	pages written in this burst, as 64-page words of the log,
 *		set in the log before the used index is published
 * @log_cached:	entries in @log_cache
 */
struct vring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	const struct guest_mem *mem;
	uint16_t num;
	uint16_t last_avail;
	uint16_t avail_shadow;
	uint16_t used_idx;
	uint16_t used_published;
	uint16_t signalled_used;
	bool signalled_valid;
	bool event_idx;
	bool base_mismatch;
	int call_fd;
	const char *fault;
	uint32_t unusable;
	struct dirty_log *log;
	uint64_t log_used_gpa;
	struct dirty_log_word log_cache[VRING_LOG_CACHE];
	unsigned int log_cached;
};

/** struct vring_chain - one descriptor chain, translated to host memory */
struct vring_chain {
	uint16_t head;
	uint16_t niov;
	uint32_t len;		/* bytes over all iovecs */
	struct iovec iov[VRING_CHAIN_MAX_IOV];
};

uint64_t vring_avail_size(unsigned int num, bool event_idx);
uint64_t vring_used_size(unsigned int num, bool event_idx);
void vring_init(struct vring *vr, const struct vring_addr *a, unsigned int num,
		uint16_t base, bool event_idx, const struct guest_mem *mem);
int vring_avail_count(struct vring *vr);
int vring_pop_walk(struct vring *vr, struct vring_chain *c,
		   struct vring_desc_cpu d, bool writable);
int vring_notify(struct vring *vr);
int vring_signal(int call_fd);
void vring_kick_enable(struct vring *vr, bool enable);

/* EVENT_IDX fields: they sit just past the end of each ring. */
static inline le16 *vring_used_event(const struct vring *vr)
{
	return &vr->avail->ring[vr->num];
}

static inline le16 *vring_avail_event(const struct vring *vr)
{
	return (le16 *)&vr->used->ring[vr->num];
}

/** vring_avail_left() - chains known available and not yet taken */
static inline uint16_t vring_avail_left(const struct vring *vr)
{
	return vr->avail_shadow - vr->last_avail;
}

/**
 * vring_prefetch() - start loading the descriptors of the next @n chains
 *
 * The guest wrote them on another CPU; asking for the lines early overlaps
 * those cache misses. A wild head index only prefetches a wild address,
 * which cannot fault.
 */
static inline void vring_prefetch(const struct vring *vr, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t head = le16_to_cpu(vr->avail->ring[(uint16_t)(vr->last_avail + i) &
							    (vr->num - 1)]);

		__builtin_prefetch(&vr->desc[head & (vr->num - 1)]);
	}
}

/*
 * One descriptor, read once from guest memory into a private copy in CPU
 * order. The barrier stops the compiler from re-reading the guest's copy
 * later; memcpy keeps an unaligned (indirect) table well-defined.
 */
static inline struct vring_desc_cpu desc_read(const struct vring_desc *d)
{
	struct vring_desc_cpu copy;

	_Static_assert(sizeof(copy) == sizeof(*d), "one layout, two byte orders");
	memcpy(&copy, d, sizeof(copy));
	barrier();
	if (VU_HOST_BIG_ENDIAN) {	/* folded away on little-endian hosts */
		copy.addr = le64_to_cpu(copy.addr);
		copy.len = le32_to_cpu(copy.len);
		copy.flags = le16_to_cpu(copy.flags);
		copy.next = le16_to_cpu(copy.next);
	}
	return copy;
}

/**
 * vring_pop() - take the next available chain
 * @vr:		ring with vring_avail_count() > 0 since the last pops
 * @c:		filled with the head and the translated buffers
 * @writable:	true for receive buffers (all WRITE), false for transmit
 *
 * The common case, one descriptor inside one memory region, is inline;
 * everything else goes through the checked walk.
 *
 * Return: 0; -E2BIG if the chain has more segments than we handle (it is
 *	   consumed: complete it with length 0); -EIO on a guest fault
 */
static inline int vring_pop(struct vring *vr, struct vring_chain *c,
			    bool writable)
{
	uint16_t head = le16_to_cpu(READ_ONCE(vr->avail->ring[vr->last_avail &
							      (vr->num - 1)]));
	struct vring_desc_cpu d;
	void *buf;

	vr->last_avail++;
	c->head = head;
	if (unlikely(head >= vr->num)) {
		vr->fault = "avail ring names a head beyond the ring size";
		return -EIO;
	}
	d = desc_read(&vr->desc[head]);
	if (likely(d.flags == (writable ? VRING_DESC_F_WRITE : 0))) {
		buf = guest_mem_gpa_range(vr->mem, d.addr, d.len);
		if (likely(buf)) {
			c->iov[0].iov_base = buf;
			c->iov[0].iov_len = d.len;
			c->niov = 1;
			c->len = d.len;
			return 0;
		}
	}
	return vring_pop_walk(vr, c, d, writable);
}

/** vring_unpop() - give back the last @n chains popped; they are seen again */
static inline void vring_unpop(struct vring *vr, uint16_t n)
{
	vr->last_avail -= n;
}

/** vring_push() - complete chain @head with @len bytes written (unpublished) */
static inline void vring_push(struct vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->used_idx & (vr->num - 1)];

	e->id = cpu_to_le32(head);
	e->len = cpu_to_le32(len);
	vr->used_idx++;
}

/** vring_unpush() - take back the last @n completions not yet published */
static inline void vring_unpush(struct vring *vr, uint16_t n)
{
	vr->used_idx -= n;
}

void vring_empty_pushed(struct vring *vr, uint16_t n);

void vring_log_used(struct vring *vr);
void vring_log_used_idx(struct vring *vr);
void vring_log_chain(struct vring *vr, const struct vring_chain *c, uint32_t len);

/** vring_publish() - make completions visible to the guest */
static inline bool vring_publish(struct vring *vr)
{
	if (vr->used_idx == vr->used_published)
		return false;
	if (unlikely(vr->log))
		vring_log_used(vr);	/* buffers and entries before the index */
	/* Pairs with the guest's read barrier after it reads used->idx. */
	__atomic_store_n(&vr->used->idx, cpu_to_le16(vr->used_idx), __ATOMIC_RELEASE);
	vr->used_published = vr->used_idx;
	if (unlikely(vr->log))
		vring_log_used_idx(vr);
	return true;
}

/** vring_need_event() - the EVENT_IDX test: did [old, new) pass @event? */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx,
				    uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

#endif /* VMSW_VRING_H */
