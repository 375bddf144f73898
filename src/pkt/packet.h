/* SPDX-License-Identifier: MIT */
/*
 * packet.h - packet buffers and the preallocated pool they come from
 *
 * Ownership rule (the one rule of the datapath): whoever holds a struct
 * packet pointer owns it, and ownership ends with link_put() (the link's
 * consumer now owns it) or packet_free(). Nothing is allocated per packet:
 * every buffer comes from the pool created at startup.
 *
 * Borrowed frames: a large frame a guest transmitted may keep its tail in
 * the guest's buffer for the rest of the pass (p->ext), so that a guest
 * receiving it gets one copy instead of two. Only the first len - ext_len
 * bytes are in p->data; they hold every header the switch decides on, so
 * the guest cannot change them after the decision. Anything that reads
 * further calls packet_linearize() first, and packet_settle() copies in the
 * tails of borrowed frames still queued when the pass ends, before the
 * guest gets its buffers back.
 */
#ifndef VMSW_PACKET_H
#define VMSW_PACKET_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "pkt/offload.h"

/* Room in front of the frame for tags and tunnel headers pushed at egress. */
#define PACKET_HEADROOM		128
/* Largest Ethernet frame (without FCS) the switch carries: 9000 MTU + L2 + tag. */
#define PACKET_DATA_MAX		9216
#define ETH_HLEN_MIN		14
/* Frames longer than this may be borrowed; the first PACKET_HEAD bytes are copied. */
#define PACKET_BORROW_MIN	256
#define PACKET_HEAD		64
/*
 * Largest frame with segmentation offload: a 64 KiB IP packet, its
 * Ethernet header and two tags. Such frames take a buffer from a small
 * second pool (packet_make_large()), so normal buffers stay 9 KiB.
 */
#define PACKET_LARGE_MAX	(65536 + 64)
#define PACKET_LARGE_POOL	128

/**
 * struct packet - one Ethernet frame (no FCS) on its way through the switch
 * @data:	first byte of the frame, inside @buf (moves by the headroom
 *		when a tag or tunnel header is pushed or pulled)
 * @ext:	borrowed tail still in the sender's guest memory, or NULL
 *		(packet_borrow(); valid until the end of the pass)
 * @len:	frame length in bytes, borrowed tail included
 * @ext_len:	bytes at @ext: the last @ext_len bytes of the frame
 * @in_port:	index of the port that received it (bridge slot)
 * @in_queue:	queue it arrived on, for per-queue counters
 * @vlan:	VLAN the frame belongs to inside the switch; 0: untagged
 * @hash:	flow hash for choosing a transmit queue; 0: not computed yet
 * @ofl:	checksum and segmentation state; only ofl.csum and
 *		ofl.gso_type are set for a plain frame (both zero), the rest
 *		is valid when either is not (pkt_offloaded())
 * @large:	a buffer of the large pool holding the frame (@data points
 *		into it), or NULL: the frame is in @buf
 * @buf:	headroom, then up to PACKET_DATA_MAX bytes of frame
 */
struct packet {
	uint8_t *data;
	const uint8_t *ext;
	uint32_t len;
	uint16_t ext_len;
	uint16_t in_port;
	uint16_t in_queue;
	uint16_t vlan;
	uint32_t hash;
	struct pkt_offload ofl;
	uint8_t *large;
	uint8_t buf[PACKET_HEADROOM + PACKET_DATA_MAX] __attribute__((aligned(64)));
};

/**
 * struct packet_pool - LIFO free list: the buffer freed last is reused
 * first, so the working set stays in cache.
 *
 * One per thread that moves packets (thread-local: each datapath thread
 * allocates, borrows, settles and frees in its own). Only the control
 * thread reaches into another thread's pool, while that thread is paused:
 * packet_alloc_from() for a frame it injects on a port the thread polls (a
 * RARP), packet_free_home() for what a removed port still held.
 */
struct packet_pool {
	struct packet **free;
	unsigned int nfree;
	unsigned int size;
	struct packet *mem;
	struct packet **borrowed;	/* frames borrowed in this pass */
	unsigned int nborrowed;
	bool held;			/* some port holds guest buffers */
	uint8_t **large_free;		/* the large pool, LIFO as well */
	unsigned int nlarge_free;
	unsigned int large_size;
	uint8_t *large_mem;
	uint64_t large_short;		/* frames refused: no large buffer */
};

extern __thread struct packet_pool packet_pool;

int packet_pool_init(unsigned int npackets);
void packet_pool_destroy(void);
void packet_free_home(struct packet *p);

/**
 * packet_alloc_from() - take a buffer from @pp, frame empty
 * @pp:		this thread's pool, or a paused thread's (control thread)
 *
 * Return: a packet the caller now owns, or NULL when the pool is empty
 */
static inline struct packet *packet_alloc_from(struct packet_pool *pp)
{
	struct packet *p;

	if (unlikely(!pp->nfree))
		return NULL;
	p = pp->free[--pp->nfree];
	p->data = p->buf + PACKET_HEADROOM;
	p->ext_len = 0;		/* ext is NULL: cleared by packet_free() */
	p->len = 0;
	p->vlan = 0;
	p->hash = 0;
	p->ofl.csum = PKT_CSUM_NONE;
	p->ofl.gso_type = PKT_GSO_NONE;
	return p;
}

/** packet_alloc() - take a buffer from this thread's pool; NULL: empty */
static inline struct packet *packet_alloc(void)
{
	return packet_alloc_from(&packet_pool);
}

/** pkt_offloaded() - does @p ask anything of the ports it crosses? */
static inline bool pkt_offloaded(const struct packet *p)
{
	return (p->ofl.csum | p->ofl.gso_type) != 0;
}

void packet_large_put(struct packet *p);

/** packet_free() - give a packet back to the pool; the caller loses it */
static inline void packet_free(struct packet *p)
{
	p->ext = NULL;		/* nothing left for packet_settle() */
	if (unlikely(p->large))
		packet_large_put(p);
	packet_pool.free[packet_pool.nfree++] = p;
}

/** packet_room() - bytes of frame @p's buffer holds from p->data's start */
static inline unsigned int packet_room(const struct packet *p)
{
	return p->large ? PACKET_LARGE_MAX : PACKET_DATA_MAX;
}

int packet_make_large(struct packet *p);

/** packet_can_borrow() - room to remember one more borrowed frame this pass */
static inline bool packet_can_borrow(void)
{
	return packet_pool.nborrowed < packet_pool.size;
}

/**
 * packet_borrow() - @p's last @n bytes stay at @ext until the pass ends
 * @p:		packet holding the first p->len - @n bytes of the frame
 * @ext:	the rest, in guest memory that stays mapped and unreturned
 *		until packet_settle()
 * @n:		bytes at @ext, already counted in p->len
 */
static inline void packet_borrow(struct packet *p, const uint8_t *ext,
				 uint16_t n)
{
	p->ext = ext;
	p->ext_len = n;
	packet_pool.borrowed[packet_pool.nborrowed++] = p;
	packet_pool.held = true;
}

/** packet_linearize() - bring a borrowed tail into @p's own buffer */
static inline void packet_linearize(struct packet *p)
{
	if (unlikely(p->ext)) {
		memcpy(p->data + p->len - p->ext_len, p->ext, p->ext_len);
		p->ext = NULL;
		p->ext_len = 0;
	}
}

/** packet_head_len() - bytes of the frame in p->data */
static inline unsigned int packet_head_len(const struct packet *p)
{
	return (unsigned int)p->len - p->ext_len;
}

void packet_settle(void);
struct packet *packet_clone(const struct packet *p);

#endif /* VMSW_PACKET_H */
