/* SPDX-License-Identifier: MIT */
/*
 * virtio_net.h - virtio-net frames over virtqueues: the header, guest TX
 * chains into packets, packets into guest RX buffers (mergeable or not)
 */
#ifndef VMSW_VIRTIO_NET_H
#define VMSW_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/copy.h"
#include "pkt/offload.h"
#include "pkt/packet.h"
#include "pkt/vnet_hdr.h"
#include "vhost/vring.h"
#include "vhost/vring_packed.h"

/* Feature bits this backend knows (virtio 1.2 §5.1.3, §6). */
#define VIRTIO_NET_F_CSUM		0
#define VIRTIO_NET_F_GUEST_CSUM		1
#define VIRTIO_NET_F_GUEST_TSO4		7
#define VIRTIO_NET_F_GUEST_TSO6		8
#define VIRTIO_NET_F_GUEST_ECN		9
#define VIRTIO_NET_F_HOST_TSO4		11
#define VIRTIO_NET_F_HOST_TSO6		12
#define VIRTIO_NET_F_HOST_ECN		13
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_GUEST_ANNOUNCE	21
#define VIRTIO_NET_F_MQ			22
#define VIRTIO_F_NOTIFY_ON_EMPTY	24
#define VIRTIO_F_ANY_LAYOUT		27
#define VIRTIO_RING_F_INDIRECT_DESC	28
#define VIRTIO_RING_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_RING_PACKED		34
#define VIRTIO_F_IN_ORDER		35

/* Checksum and segmentation offloads, both directions (turned off per port). */
#define VU_OFFLOAD_FEATURES \
	(1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_GUEST_CSUM | \
	 1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_NET_F_GUEST_TSO6 | \
	 1ull << VIRTIO_NET_F_GUEST_ECN | 1ull << VIRTIO_NET_F_HOST_TSO4 | \
	 1ull << VIRTIO_NET_F_HOST_TSO6 | 1ull << VIRTIO_NET_F_HOST_ECN)

/* The 12-byte header with VERSION_1 or MRG_RXBUF, else the legacy 10 bytes. */
static inline unsigned int vnet_hdr_len(uint64_t features)
{
	return features & ((1ull << VIRTIO_F_VERSION_1) |
			   (1ull << VIRTIO_NET_F_MRG_RXBUF)) ? 12 : 10;
}

int vnet_chain_to_packet_slow(const struct vring_chain *c, unsigned int hdr_len,
			      unsigned int caps, struct packet *p);

/**
 * vnet_chain_to_packet() - copy a frame the guest transmitted into @p
 * (inline: the datapath's instances for split and packed rings each take
 * the one-buffer case without a call)
 * @c:		translated TX chain: virtio-net header, then the frame
 * @hdr_len:	10 or 12
 * @caps:	PKT_OFL_* the guest may ask for (pkt_offload_caps_tx())
 * @p:		empty packet, owned by the caller
 * @borrow:	a large frame in one segment may leave its tail in the
 *		guest's buffer (see packet_borrow()); the caller then holds
 *		the chain's completion until the pass ends
 *
 * A header asking for an offload the guest did not negotiate, or one that
 * does not match the frame, is the guest's error (pkt/offload.c checks
 * it). The header may share a descriptor with the frame or span several
 * (ANY_LAYOUT); the iovec walk handles both. Frames with offloads are
 * copied whole: their headers are checked and may be rewritten.
 *
 * Return: 0; -EINVAL for a chain shorter than header + Ethernet header;
 *	   -EMSGSIZE for a frame over PACKET_DATA_MAX without GSO, over
 *	   PACKET_LARGE_MAX, or with segments over PACKET_DATA_MAX; -ENOBUFS when no large buffer is free; -EPROTO
 *	   for a bad offload header
 */
static inline int vnet_chain_to_packet(const struct vring_chain *c, unsigned int hdr_len,
				       unsigned int caps, struct packet *p, bool borrow)
{
	uint8_t h[2];		/* flags and gso_type: zero for a plain frame */
	uint32_t frame_len;

	if (c->len < hdr_len + ETH_HLEN_MIN)
		return -EINVAL;
	frame_len = c->len - hdr_len;
	if (likely(c->iov[0].iov_len >= hdr_len + frame_len)) {
		/* The common case: one segment holds it all. */
		const uint8_t *base = c->iov[0].iov_base;

		memcpy(h, base, 2);
		if (likely(!(h[0] | h[1]) && frame_len <= PACKET_DATA_MAX)) {
			if (borrow && frame_len > PACKET_BORROW_MIN &&
			    packet_can_borrow()) {
				memcpy(p->data, base + hdr_len, PACKET_HEAD);
				packet_borrow(p, base + hdr_len + PACKET_HEAD,
					      (uint16_t)(frame_len - PACKET_HEAD));
			} else {
				copy_bytes(p->data, base + hdr_len, frame_len);
			}
			p->len = frame_len;
			return 0;
		}
	}
	return vnet_chain_to_packet_slow(c, hdr_len, caps, p);
}

int vnet_packet_to_guest(struct vring *vr, struct vring_chain scratch[2],
			 struct packet *p, unsigned int hdr_len,
			 bool mergeable, unsigned int caps);
int vnet_packet_to_guest_packed(struct vring_packed *vr, struct vring_chain scratch[2],
				struct packet *p, unsigned int hdr_len,
				bool mergeable, unsigned int caps);

#endif /* VMSW_VIRTIO_NET_H */
