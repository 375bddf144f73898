/* SPDX-License-Identifier: MIT */
/*
 * vring_packed.h - the device side of a virtio packed virtqueue
 *
 * One ring of descriptors serves both ways: the driver makes descriptors
 * available in it, and we write used descriptors back into the same slots.
 * Two small event areas say who wants to be told: the driver's (our
 * interrupts) and the device's (the guest's kicks). Ring sizes need not be
 * powers of two; indexes wrap by comparison and each wrap flips that side's
 * wrap counter, which is what tells this lap's flags from the last one's.
 *
 * The contract is the split ring's (vhost/vring.h): count, pop, push,
 * publish once per burst, notify. Everything read from guest memory is
 * checked; each descriptor is read once into a private copy, its flags with
 * acquire ordering. A violation returns -EIO and names the rule in
 * vr->fault. Nothing is written into the ring before vring_packed_publish().
 */
#ifndef VMSW_VRING_PACKED_H
#define VMSW_VRING_PACKED_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/byteorder.h"
#include "core/util.h"
#include "vhost/dirty_log.h"
#include "vhost/guest_mem.h"
#include "vhost/vring.h"

/* Descriptor flags beyond NEXT, WRITE and INDIRECT (vhost/vring.h). */
#define VRING_PACKED_DESC_F_AVAIL	(1 << 7)
#define VRING_PACKED_DESC_F_USED	(1 << 15)
#define VRING_PACKED_DESC_F_WRAPS	(VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED)

/* Event area flags. */
#define VRING_PACKED_EVENT_F_ENABLE	0
#define VRING_PACKED_EVENT_F_DISABLE	1
#define VRING_PACKED_EVENT_F_DESC	2	/* only with EVENT_IDX */
#define VRING_PACKED_EVENT_F_MASK	3

/* off_wrap, and each half of a vhost-user base: index, then the wrap bit. */
#define VRING_PACKED_WRAP_SHIFT		15
#define VRING_PACKED_IDX_MASK		0x7fff

/* The base of a reset ring: slot 0 with both wrap counters 1. */
#define VRING_PACKED_BASE_RESET		(1u << 15 | 1u << 31)

/* Whole chains one vring_packed_avail_count() looks ahead for. */
#define VRING_PACKED_SCAN_MAX		64

/* The guest's layout, little-endian (core/byteorder.h). */
struct vring_packed_desc {
	le64 addr;		/* guest-physical buffer address */
	le32 len;		/* buffer bytes; in a used one, bytes written */
	le16 id;		/* buffer id, in the last descriptor of a chain */
	le16 flags;		/* VRING_DESC_F_*, AVAIL, USED */
};

struct vring_packed_event {
	le16 off_wrap;		/* with F_DESC: slot index | wrap << 15 */
	le16 flags;		/* VRING_PACKED_EVENT_F_* */
};

/** struct vring_packed_desc_cpu - a private copy of one descriptor, CPU order */
struct vring_packed_desc_cpu {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/**
 * struct vring_packed_addr - where the three parts live, in host addresses
 * @desc:	the descriptor ring (SET_VRING_ADDR's desc)
 * @driver:	the driver's event area (SET_VRING_ADDR's avail)
 * @device:	the device's event area (SET_VRING_ADDR's used)
 */
struct vring_packed_addr {
	struct vring_packed_desc *desc;
	struct vring_packed_event *driver;
	struct vring_packed_event *device;
};

/* struct vring_packed_buf flags */
#define VRING_PACKED_BUF_IN_USE		1	/* popped, completion not published */
#define VRING_PACKED_BUF_WRITABLE	2	/* a receive chain */
#define VRING_PACKED_BUF_PUSHED		4	/* its completion is pending */

/**
 * struct vring_packed_buf - one buffer id while the device holds it
 * @ndesc:	ring slots its chain took
 * @flags:	VRING_PACKED_BUF_*; 0 while the driver owns the id
 */
struct vring_packed_buf {
	uint16_t ndesc;
	uint16_t flags;
};

/**
 * struct vring_packed_slot - the chain that ended in a slot (for unpop)
 * @id:		its buffer id
 * @ndesc:	its length in slots
 */
struct vring_packed_slot {
	uint16_t id;
	uint16_t ndesc;
};

/**
 * struct vring_packed_used - a completion pushed, not yet published
 * @slot:	where its used descriptor goes
 * @id:		buffer id completed
 * @ndesc:	slots its chain took (the next completion goes that far on)
 * @wrap:	the used wrap counter at @slot
 * @write:	a used descriptor is written at @slot (publish decides: with
 *		IN_ORDER a batch of transmit completions shares one)
 * @batchable:	a transmit chain completed with length 0: with IN_ORDER it
 *		may share a used descriptor with its neighbours
 * @len:	bytes written into the buffer
 */
struct vring_packed_used {
	uint16_t slot;
	uint16_t id;
	uint16_t ndesc;
	bool wrap;
	bool write;
	bool batchable;
	uint32_t len;
};

/**
 * struct vring_packed - the device's view of one packed virtqueue
 * @desc:	the descriptor ring in our mapping of guest memory
 * @driver:	the driver's event area (we only read it)
 * @device:	the device's event area (ours; the driver reads it)
 * @mem:	memory table the descriptors' addresses are translated with
 * @num:	ring size, 1 to VRING_MAX_SIZE, any value
 * @last_avail:	next slot to take
 * @avail_wrap:	the driver's wrap counter at @last_avail
 * @scan_idx:	where vring_packed_avail_count() resumes
 * @scan_wrap:	the wrap counter at @scan_idx
 * @avail_descs: slots in [@last_avail, @scan_idx): seen available, not taken
 * @avail_chains: whole chains among them (vring_packed_avail_left())
 * @used_idx:	slot of the next completion
 * @used_wrap:	our wrap counter at @used_idx
 * @owned:	slots the device holds: from the last published completion
 *		to @scan_idx, at most @num
 * @signalled:	the used position (index | wrap << 15) at the last interrupt
 * @signalled_valid: @signalled holds a value (false after a start)
 * @event_idx:	VIRTIO_RING_F_EVENT_IDX negotiated: F_DESC event areas
 * @in_order:	VIRTIO_F_IN_ORDER negotiated: transmit completions in batches
 * @base_mismatch: the base's used half was not its avail half: the slots
 *		between are the frontend's loss (logged once by the owner)
 * @call_fd:	eventfd to interrupt the guest, -1: none
 * @fault:	the ring rule the guest broke, for the log (after -EIO)
 * @unusable:	receive chains completed empty since the owner last took
 *		the count (as struct vring)
 * @buf:	by buffer id, @num entries
 * @slot:	by slot, @num entries: the chain that ended there
 * @pending:	completions pushed since the last publish, @npending of them
 * @npending:	entries in @pending
 * @log:	the migration log while this ring is logged, else NULL
 * @log_desc_gpa: guest-physical address of @desc (for @log)
 * @log_device_gpa: guest-physical address of @device (for @log)
 * @log_cache:	pages written in this burst, as 64-page words of the log
 * @log_cached:	entries in @log_cache
 */
struct vring_packed {
	struct vring_packed_desc *desc;
	struct vring_packed_event *driver;
	struct vring_packed_event *device;
	const struct guest_mem *mem;
	uint16_t num;
	uint16_t last_avail;
	bool avail_wrap;
	uint16_t scan_idx;
	bool scan_wrap;
	uint16_t avail_descs;
	uint16_t avail_chains;
	uint16_t used_idx;
	bool used_wrap;
	uint32_t owned;
	uint16_t signalled;
	bool signalled_valid;
	bool event_idx;
	bool in_order;
	bool base_mismatch;
	int call_fd;
	const char *fault;
	uint32_t unusable;
	struct vring_packed_buf *buf;
	struct vring_packed_slot *slot;
	struct vring_packed_used *pending;
	unsigned int npending;
	struct dirty_log *log;
	uint64_t log_desc_gpa;
	uint64_t log_device_gpa;
	struct dirty_log_word log_cache[VRING_LOG_CACHE];
	unsigned int log_cached;
};

uint64_t vring_packed_desc_size(unsigned int num);
int vring_packed_init(struct vring_packed *vr, const struct vring_packed_addr *a,
		      unsigned int num, uint32_t base, bool event_idx,
		      bool in_order, const struct guest_mem *mem);
void vring_packed_free(struct vring_packed *vr);
uint32_t vring_packed_base(const struct vring_packed *vr);
bool vring_packed_base_valid(uint32_t base, unsigned int num);
bool vring_packed_base_from_ring(const struct vring_packed *vr, uint32_t *base);
int vring_packed_avail_count(struct vring_packed *vr);
int vring_packed_pop_walk(struct vring_packed *vr, struct vring_chain *c,
			  struct vring_packed_desc_cpu d, bool writable);
void vring_packed_unpop(struct vring_packed *vr, uint16_t n);
void vring_packed_unpush(struct vring_packed *vr, uint16_t n);
void vring_packed_empty_pushed(struct vring_packed *vr, uint16_t n);
bool vring_packed_publish(struct vring_packed *vr);
bool vring_packed_need_event(unsigned int num, uint16_t event, uint16_t old_pos,
			     uint16_t new_pos);
int vring_packed_notify(struct vring_packed *vr);
void vring_packed_kick_enable(struct vring_packed *vr, bool enable);
void vring_packed_log_chain(struct vring_packed *vr, const struct vring_chain *c,
			    uint32_t len);

/** vring_packed_avail_left() - chains known available and not yet taken */
static inline uint16_t vring_packed_avail_left(const struct vring_packed *vr)
{
	return vr->avail_chains;
}

/** vring_packed_wrap_flags() - AVAIL and USED of a descriptor the driver
 * made available while its wrap counter was @wrap */
static inline uint16_t vring_packed_wrap_flags(bool wrap)
{
	return wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}

/** vring_packed_advance() - move slot @idx on by @n (<= @num), flipping @wrap */
static inline void vring_packed_advance(uint16_t *idx, bool *wrap,
					unsigned int n, unsigned int num)
{
	unsigned int i = *idx + n;

	if (i >= num) {
		i -= num;
		*wrap = !*wrap;
	}
	*idx = (uint16_t)i;
}

/*
 * One ring descriptor, read once: the flags by an acquire load (the driver
 * stores them last, with release), then each other field by one volatile
 * load into a private copy, so the compiler cannot read the guest's copy
 * again later. (A memcpy and a compiler barrier would do as well, but the
 * barrier makes the compiler reload everything else it holds.)
 */
static inline struct vring_packed_desc_cpu
vring_packed_desc_read(const struct vring_packed_desc *d)
{
	struct vring_packed_desc_cpu copy;

	copy.flags = le16_to_cpu(__atomic_load_n(&d->flags, __ATOMIC_ACQUIRE));
	copy.addr = le64_to_cpu(READ_ONCE(d->addr));
	copy.len = le32_to_cpu(READ_ONCE(d->len));
	copy.id = le16_to_cpu(READ_ONCE(d->id));
	return copy;
}

/**
 * vring_packed_pop() - take the next available chain
 * @vr:		ring with vring_packed_avail_count() > 0 since the last pops
 * @c:		filled with the buffer id (@c->head) and the translated buffers
 * @writable:	true for receive buffers (all WRITE), false for transmit
 *
 * The common case, one descriptor inside one memory region with an id that
 * is free, is inline; everything else goes through the checked walk.
 *
 * Return: 0; -E2BIG if the chain has more segments than we handle (it is
 *	   consumed: complete it with length 0); -EIO on a guest fault
 */
static inline __attribute__((always_inline)) int
vring_packed_pop(struct vring_packed *vr, struct vring_chain *c, bool writable)
{
	/*
	 * The ring's fields are read before the descriptor's acquire load and
	 * written back once: the build has no strict aliasing, so every store
	 * through @c would otherwise reload them.
	 */
	uint16_t i = vr->last_avail, num = vr->num, avail = vr->avail_descs;
	bool wrap = vr->avail_wrap;
	struct vring_packed_buf *bufs = vr->buf;
	struct vring_packed_slot *slots = vr->slot;
	const struct guest_mem *mem = vr->mem;
	uint16_t want = (writable ? VRING_DESC_F_WRITE : 0) | vring_packed_wrap_flags(wrap);
	struct vring_packed_desc_cpu d = vring_packed_desc_read(&vr->desc[i]);
	void *buf;

	if (likely(d.flags == want && avail && d.id < num && !bufs[d.id].flags)) {
		buf = guest_mem_gpa_range(mem, d.addr, d.len);
		if (likely(buf)) {
			uint16_t chains = vr->avail_chains;

			bufs[d.id] = (struct vring_packed_buf){
				1, VRING_PACKED_BUF_IN_USE |
				   (writable ? VRING_PACKED_BUF_WRITABLE : 0) };
			slots[i].id = d.id;
			slots[i].ndesc = 1;
			if (++i == num) {
				i = 0;
				wrap = !wrap;
			}
			vr->last_avail = i;
			vr->avail_wrap = wrap;
			vr->avail_descs = avail - 1;
			vr->avail_chains = chains - 1;	/* whole chains hold every slot */
			c->head = d.id;
			c->niov = 1;
			c->len = d.len;
			c->iov[0].iov_base = buf;
			c->iov[0].iov_len = d.len;
			return 0;
		}
	}
	return vring_packed_pop_walk(vr, c, d, writable);
}

/**
 * vring_packed_push() - complete buffer @id with @len bytes written
 * @vr:		ring
 * @id:		a buffer id popped and not pushed since (@c->head)
 * @len:	bytes written into it (0 for a transmit chain)
 *
 * Nothing is written into the ring yet: vring_packed_publish() does it. An
 * id that is not popped, or already pushed, is ignored. With IN_ORDER,
 * push in the order popped (the driver infers a batch's buffers from it).
 */
static inline void vring_packed_push(struct vring_packed *vr, uint16_t id,
				     uint32_t len)
{
	/* As in pop: every field read before the first store. */
	uint16_t num = vr->num, slot = vr->used_idx;
	unsigned int n = vr->npending, next;
	bool wrap = vr->used_wrap;
	struct vring_packed_used *u = &vr->pending[n];
	struct vring_packed_buf *b, buf;

	if (unlikely(id >= num || n >= num))
		return;
	b = &vr->buf[id];
	buf = *b;
	if (unlikely((buf.flags & (VRING_PACKED_BUF_IN_USE | VRING_PACKED_BUF_PUSHED)) !=
		     VRING_PACKED_BUF_IN_USE))
		return;
	u->slot = slot;
	u->id = id;
	u->ndesc = buf.ndesc;
	u->wrap = wrap;
	u->batchable = !len && !(buf.flags & VRING_PACKED_BUF_WRITABLE);
	u->len = len;
	b->flags = buf.flags | VRING_PACKED_BUF_PUSHED;
	next = slot + buf.ndesc;
	if (next >= num) {
		next -= num;
		wrap = !wrap;
	}
	vr->used_idx = (uint16_t)next;
	vr->used_wrap = wrap;
	vr->npending = n + 1;
}

#endif /* VMSW_VRING_PACKED_H */
