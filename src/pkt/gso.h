/* SPDX-License-Identifier: MIT */
/*
 * gso.h - the software fallbacks for a destination without offloads:
 * segmentation of a TCP (or UDP) GSO frame into MSS-sized frames, and
 * completion of a partial checksum
 *
 * Both read the frame from an iovec list, so a large frame can stay in
 * the buffers it arrived in (several segments of a sender's guest memory,
 * or a packet's head plus borrowed tails). Segments are written to flat
 * caller-supplied buffers, one per segment: a packet from the pool each.
 */
#ifndef VMSW_GSO_H
#define VMSW_GSO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pkt/offload.h"

/* gso_segment() flags */
#define GSO_CSUM_FULL		0	/* complete every L4 checksum */
#define GSO_CSUM_PARTIAL	1	/* pseudo-header sum only: the
					 * destination takes NEEDS_CSUM */

/**
 * struct gso_buf - where one segment goes
 * @data:	first byte of the segment's Ethernet header
 * @size:	room at @data
 * @len:	set by gso_segment(): the segment's length
 */
struct gso_buf {
	uint8_t *data;
	uint32_t size;
	uint32_t len;
};

int gso_segment(const struct iovec *iov, unsigned int niov, uint32_t len,
		const struct pkt_offload *o, unsigned int flags,
		struct gso_buf *out, unsigned int nout);
void gso_segment_offload(const struct pkt_offload *o, unsigned int flags,
			 struct pkt_offload *seg);
int gso_csum_complete(const struct iovec *iov, unsigned int niov,
		      uint32_t len, uint32_t start, uint32_t offset);
uint16_t gso_csum_fold(uint64_t sum);
uint64_t gso_csum_add(uint64_t sum, const uint8_t *d, size_t n);
void gso_ipv4_csum(uint8_t *ip);

#endif /* VMSW_GSO_H */
