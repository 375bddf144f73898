/* SPDX-License-Identifier: MIT */
/*
 * packet.h - packet buffers and the preallocated pool they come from
 *
 * Ownership rule (the one rule of the datapath): whoever holds a struct
 * packet pointer owns it, and ownership ends with link_put() (the link's
 * consumer now owns it) or packet_free(). Nothing is allocated per packet:
 * every buffer comes from the pool created at startup.
 */
#ifndef VMSW_PACKET_H
#define VMSW_PACKET_H

#include <stdint.h>
#include <string.h>

#include "util.h"

/* Room in front of the frame for tags and tunnel headers pushed at egress. */
#define PACKET_HEADROOM		128
/* Largest Ethernet frame (without FCS) the switch carries: 9000 MTU + L2 + tag. */
#define PACKET_DATA_MAX		9216
#define ETH_HLEN_MIN		14

struct packet {
	uint8_t *data;		/* first byte of the frame, inside buf */
	uint16_t len;		/* frame length in bytes */
	uint16_t in_port;	/* index of the port that received it */
	uint16_t in_queue;	/* queue it arrived on, for per-queue stats */
	uint16_t vlan;		/* VLAN the frame belongs to (0: untagged) */
	uint32_t hash;		/* flow hash for queue selection, 0 if unset */
	uint32_t pad;
	uint8_t buf[PACKET_HEADROOM + PACKET_DATA_MAX];
};

/**
 * struct packet_pool - LIFO free list: the buffer freed last is reused
 * first, so the working set stays in cache.
 */
struct packet_pool {
	struct packet **free;
	unsigned int nfree;
	unsigned int size;
	struct packet *mem;
};

extern struct packet_pool packet_pool;

int packet_pool_init(unsigned int npackets);
void packet_pool_destroy(void);

/**
 * packet_alloc() - take a buffer from the pool, frame empty
 *
 * Return: a packet the caller now owns, or NULL when the pool is empty
 */
static inline struct packet *packet_alloc(void)
{
	struct packet *p;

	if (unlikely(!packet_pool.nfree))
		return NULL;
	p = packet_pool.free[--packet_pool.nfree];
	p->data = p->buf + PACKET_HEADROOM;
	p->len = 0;
	p->vlan = 0;
	p->hash = 0;
	return p;
}

/** packet_free() - give a packet back to the pool; the caller loses it */
static inline void packet_free(struct packet *p)
{
	packet_pool.free[packet_pool.nfree++] = p;
}

struct packet *packet_clone(const struct packet *p);

#endif /* VMSW_PACKET_H */
