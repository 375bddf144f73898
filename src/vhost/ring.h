/* SPDX-License-Identifier: MIT */
/*
 * ring.h - one interface over the two virtqueue layouts, split
 * (vhost/vring.h) and packed (vhost/vring_packed.h)
 *
 * Every operation takes the ring and a `packed` flag. Callers pass a
 * constant: each burst body is an always-inline function instantiated once
 * per layout, and the port picks the instance once per burst. In the split
 * instance every test below folds away and the calls are the split ring's
 * own, so its per-packet cost is what it was before packed rings existed.
 */
#ifndef VMSW_RING_H
#define VMSW_RING_H

#include "vhost/vring.h"
#include "vhost/vring_packed.h"

/** union vring_any - a virtqueue's ring state, whichever layout it has */
union vring_any {
	struct vring split;
	struct vring_packed packed;
};

#define RING_INLINE static inline __attribute__((always_inline))

RING_INLINE int ring_avail_count(union vring_any *r, const bool packed)
{
	return packed ? vring_packed_avail_count(&r->packed) : vring_avail_count(&r->split);
}

RING_INLINE uint16_t ring_avail_left(const union vring_any *r, const bool packed)
{
	return packed ? vring_packed_avail_left(&r->packed) : vring_avail_left(&r->split);
}

/* Split rings only: the descriptors of the next chains. The packed scan
 * has just read the flags of exactly those slots. */
RING_INLINE void ring_prefetch(const union vring_any *r, const bool packed,
			       unsigned int n)
{
	if (!packed)
		vring_prefetch(&r->split, n);
}

RING_INLINE int ring_pop(union vring_any *r, const bool packed,
			 struct vring_chain *c, bool writable)
{
	return packed ? vring_packed_pop(&r->packed, c, writable) :
			vring_pop(&r->split, c, writable);
}

RING_INLINE void ring_unpop(union vring_any *r, const bool packed, uint16_t n)
{
	if (packed)
		vring_packed_unpop(&r->packed, n);
	else
		vring_unpop(&r->split, n);
}

RING_INLINE void ring_push(union vring_any *r, const bool packed, uint16_t id,
			   uint32_t len)
{
	if (packed)
		vring_packed_push(&r->packed, id, len);
	else
		vring_push(&r->split, id, len);
}

RING_INLINE void ring_unpush(union vring_any *r, const bool packed, uint16_t n)
{
	if (packed)
		vring_packed_unpush(&r->packed, n);
	else
		vring_unpush(&r->split, n);
}

RING_INLINE void ring_empty_pushed(union vring_any *r, const bool packed, uint16_t n)
{
	if (packed)
		vring_packed_empty_pushed(&r->packed, n);
	else
		vring_empty_pushed(&r->split, n);
}

RING_INLINE bool ring_publish(union vring_any *r, const bool packed)
{
	return packed ? vring_packed_publish(&r->packed) : vring_publish(&r->split);
}

RING_INLINE int ring_notify(union vring_any *r, const bool packed)
{
	return packed ? vring_packed_notify(&r->packed) : vring_notify(&r->split);
}

RING_INLINE void ring_kick_enable(union vring_any *r, const bool packed, bool enable)
{
	if (packed)
		vring_packed_kick_enable(&r->packed, enable);
	else
		vring_kick_enable(&r->split, enable);
}

/* While the ring is logged for migration, mark what was written into @c. */
RING_INLINE void ring_log_written(union vring_any *r, const bool packed,
				  const struct vring_chain *c, uint32_t len)
{
	if (packed) {
		if (unlikely(r->packed.log))
			vring_packed_log_chain(&r->packed, c, len);
	} else if (unlikely(r->split.log)) {
		vring_log_chain(&r->split, c, len);
	}
}

RING_INLINE const char *ring_fault(const union vring_any *r, const bool packed)
{
	return packed ? r->packed.fault : r->split.fault;
}

/* Receive chains completed empty since the last call (vnet_packet_to_guest()). */
RING_INLINE uint32_t *ring_unusable(union vring_any *r, const bool packed)
{
	return packed ? &r->packed.unusable : &r->split.unusable;
}

#endif /* VMSW_RING_H */
