/* SPDX-License-Identifier: MIT */
/*
 * vnet_hdr.h - the virtio-net header in front of every frame a guest sends
 * or receives (virtio 1.2 §5.1.6), and that a tap device with IFF_VNET_HDR
 * uses too: checksum and segmentation offload requests
 */
#ifndef VMSW_VNET_HDR_H
#define VMSW_VNET_HDR_H

#include <stdint.h>

#include "core/byteorder.h"

#define VIRTIO_NET_HDR_F_NEEDS_CSUM	1
#define VIRTIO_NET_HDR_GSO_NONE		0

/* Little-endian for a virtio 1.0 device (core/byteorder.h says why). */
struct virtio_net_hdr {
	uint8_t flags;		/* VIRTIO_NET_HDR_F_* */
	uint8_t gso_type;	/* VIRTIO_NET_HDR_GSO_* */
	le16 hdr_len;		/* bytes of headers before the payload (GSO) */
	le16 gso_size;		/* payload bytes per segment (GSO) */
	le16 csum_start;	/* where checksumming starts (NEEDS_CSUM) */
	le16 csum_offset;	/* where the checksum goes, from csum_start */
	le16 num_buffers;	/* buffers of a merged frame; only in the
				 * 12-byte layout */
};

#endif /* VMSW_VNET_HDR_H */
