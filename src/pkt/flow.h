/* SPDX-License-Identifier: MIT */
/* flow.h - a cheap flow hash to spread frames over a guest's queues */
#ifndef VMSW_FLOW_H
#define VMSW_FLOW_H

#include <stdint.h>
#include <string.h>

#include "pkt/packet.h"

/**
 * flow_hash() - hash of the MACs and, for IPv4 TCP/UDP, addresses and ports
 * @p:		packet of at least ETH_HLEN_MIN bytes
 *
 * Return: a hash, stable for one flow (cached in p->hash)
 */
static inline uint32_t flow_hash(struct packet *p)
{
	const uint8_t *d = p->data;
	uint64_t h = 0, w;

	if (p->hash)
		return p->hash;
	memcpy(&w, d, 8);
	h ^= w;
	memcpy(&w, d + 4, 8);
	h ^= w * 31;
	/* IPv4 without options: protocol at 23, addresses at 26, ports at 34. */
	if (p->len >= 38 && d[12] == 0x08 && d[13] == 0x00 && (d[14] & 0x0f) == 5 &&
	    (d[23] == 6 || d[23] == 17)) {
		memcpy(&w, d + 26, 8);
		h ^= w * 0x9e3779b97f4a7c15ull;
		memcpy(&w, d + 34, 4);
		h ^= (w & 0xffffffff) * 0xff51afd7ed558ccdull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	p->hash = (uint32_t)(h >> 32);
	if (!p->hash)
		p->hash = 1;	/* 0 means "not computed" */
	return p->hash;
}

#endif /* VMSW_FLOW_H */
