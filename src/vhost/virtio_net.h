/* SPDX-License-Identifier: MIT */
/*
 * virtio_net.h - virtio-net frames over virtqueues: the header, guest TX
 * chains into packets, packets into guest RX buffers (mergeable or not)
 */
#ifndef VMSW_VIRTIO_NET_H
#define VMSW_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

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

int vnet_chain_to_packet(const struct vring_chain *c, unsigned int hdr_len,
			 unsigned int caps, struct packet *p, bool borrow);
int vnet_packet_to_guest(struct vring *vr, struct vring_chain scratch[2],
			 struct packet *p, unsigned int hdr_len,
			 bool mergeable, unsigned int caps);
int vnet_packet_to_guest_packed(struct vring_packed *vr, struct vring_chain scratch[2],
				struct packet *p, unsigned int hdr_len,
				bool mergeable, unsigned int caps);

#endif /* VMSW_VIRTIO_NET_H */
