/* SPDX-License-Identifier: MIT */
/*
 * offload.h - the checksum and segmentation state a frame carries through
 * the switch, read from an untrusted virtio-net header and written back
 * into one for a receiving guest
 *
 * Ingress: pkt_offload_from_vnet_hdr() checks a sender's header (a private
 * copy) against the frame's own headers and the offloads the port agreed
 * to, and records what it found. Every field of a guest's header is
 * untrusted; doc/design.md and the offload issue list the rules and the
 * CVEs behind them. Egress: pkt_offload_needs() says what a destination
 * cannot take (software segmentation and checksums are in pkt/gso.h), and
 * pkt_offload_to_vnet_hdr() describes the frame to a guest that can.
 *
 * Offsets are from the first byte of the Ethernet header, as csum_start is.
 */
#ifndef VMSW_OFFLOAD_H
#define VMSW_OFFLOAD_H

#include <stdint.h>

#include "pkt/vnet_hdr.h"

/* Header values vnet_hdr.h does not name (virtio 1.2 §5.1.6). */
#ifndef VIRTIO_NET_HDR_F_DATA_VALID
#define VIRTIO_NET_HDR_F_DATA_VALID	2
#endif
#ifndef VIRTIO_NET_HDR_GSO_TCPV4
#define VIRTIO_NET_HDR_GSO_TCPV4	1
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP
#define VIRTIO_NET_HDR_GSO_UDP		3
#endif
#ifndef VIRTIO_NET_HDR_GSO_TCPV6
#define VIRTIO_NET_HDR_GSO_TCPV6	4
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4	5
#endif
#ifndef VIRTIO_NET_HDR_GSO_ECN
#define VIRTIO_NET_HDR_GSO_ECN		0x80
#endif

/*
 * The caller of pkt_offload_from_vnet_hdr() guarantees that the first
 * MIN(len, PKT_OFFLOAD_HDR_MAX) bytes of the frame are contiguous. Headers
 * (Ethernet, tags, IP, TCP or UDP) ending past it are refused for an
 * offloaded frame: 14 + 8 + 40 + 60 = 122 bytes for any IPv6 TCP frame, so
 * only IPv4 frames with long options on both IP and TCP reach it.
 */
#define PKT_OFFLOAD_HDR_MAX	128

/* Most segments of one USO frame, as Linux (UDP_MAX_SEGMENTS). */
#define PKT_USO_MAX_SEGS	128

/*
 * Offloads a port agreed to, one mask per direction: what a sender may ask
 * of us (the guest's HOST_* features, a tap's vnet header) or what a
 * receiver accepts (GUEST_* features). GSO needs PKT_OFL_CSUM.
 */
#define PKT_OFL_CSUM		(1u << 0)	/* NEEDS_CSUM frames */
#define PKT_OFL_TSO4		(1u << 1)	/* GSO_TCPV4 */
#define PKT_OFL_TSO6		(1u << 2)	/* GSO_TCPV6 */
#define PKT_OFL_ECN		(1u << 3)	/* GSO_ECN with TCP */
#define PKT_OFL_USO4		(1u << 4)	/* GSO_UDP_L4 over IPv4 */
#define PKT_OFL_USO6		(1u << 5)	/* GSO_UDP_L4 over IPv6 */
/*
 * Ingress only: the sender's DATA_VALID is believed (a kernel reading a
 * checksum it verified: tap, AF_PACKET). A guest's never is [virtio 1.2
 * §5.1.6.2.1].
 */
#define PKT_OFL_TRUST_VALID	(1u << 6)

/* struct pkt_offload.csum */
enum pkt_csum {
	PKT_CSUM_NONE,		/* nothing known: the frame is as sent */
	PKT_CSUM_PARTIAL,	/* L4 field holds the pseudo-header sum */
	PKT_CSUM_VALID,		/* L4 checksum verified (or computed here) */
};

/* struct pkt_offload.gso_type, with PKT_GSO_ECN or'ed in */
enum pkt_gso {
	PKT_GSO_NONE,
	PKT_GSO_TCPV4,
	PKT_GSO_TCPV6,
	PKT_GSO_UDP_L4,
};
#define PKT_GSO_ECN		0x80	/* TCP with CWR set: first segment only */

/* struct pkt_offload.l3_proto */
enum pkt_l3 {
	PKT_L3_NONE,		/* not IPv4/IPv6, or not parsed */
	PKT_L3_IPV4,
	PKT_L3_IPV6,
};

/**
 * struct pkt_offload - what a frame asks of the ports it crosses
 * @csum:	enum pkt_csum
 * @gso_type:	enum pkt_gso, | PKT_GSO_ECN; PKT_GSO_NONE: one frame
 * @gso_size:	payload bytes per segment (the MSS); 0 without GSO
 * @csum_start:	PARTIAL: where the checksummed range starts
 * @csum_offset: PARTIAL: the checksum field's offset from @csum_start
 * @l3_off:	offset of the IP header (after any VLAN tags)
 * @l4_off:	offset of the header behind IP; 0: none found
 * @l4_hlen:	length of that header if it is a sound TCP (data offset
 *		* 4) or UDP (8) header inside the frame's head; else 0
 * @l3_proto:	enum pkt_l3
 * @l4_proto:	IP protocol number at @l4_off (IPPROTO_TCP, _UDP...)
 * @pad:	zero
 *
 * @l3_off, @l4_off and @l4_hlen describe the headers parsed at ingress,
 * which are never changed in place afterwards (VLAN push/pop moves
 * p->data and must adjust the offsets by the tag's 4 bytes).
 */
struct pkt_offload {
	uint8_t csum;
	uint8_t gso_type;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t l3_off;
	uint16_t l4_off;
	uint8_t l4_hlen;
	uint8_t l3_proto;
	uint8_t l4_proto;
	uint8_t pad;
};

_Static_assert(sizeof(struct pkt_offload) == 16, "pkt_offload is 16 bytes");

/* pkt_offload_needs(): what a destination cannot take as is */
#define PKT_NEED_SEGMENT	(1u << 0)	/* segment in software */
#define PKT_NEED_CSUM		(1u << 1)	/* complete the checksum */

/** pkt_gso_kind() - @o's gso_type without the ECN flag */
static inline unsigned int pkt_gso_kind(const struct pkt_offload *o)
{
	return o->gso_type & ~PKT_GSO_ECN;
}

/** pkt_offload_hlen() - bytes of headers in front of the L4 payload */
static inline unsigned int pkt_offload_hlen(const struct pkt_offload *o)
{
	return (unsigned int)o->l4_off + o->l4_hlen;
}

/**
 * pkt_offload_move() - the frame's headers moved by @delta bytes (a VLAN
 * tag pushed, +4, or popped, -4, in front of them)
 */
static inline void pkt_offload_move(struct pkt_offload *o, int delta)
{
	o->l3_off = (uint16_t)(o->l3_off + delta);
	if (o->l4_off)
		o->l4_off = (uint16_t)(o->l4_off + delta);
	if (o->csum == PKT_CSUM_PARTIAL)
		o->csum_start = (uint16_t)(o->csum_start + delta);
}

unsigned int pkt_offload_caps_tx(uint64_t features);
unsigned int pkt_offload_caps_rx(uint64_t features);
int pkt_offload_parse(const uint8_t *frame, uint32_t len,
		      struct pkt_offload *o, const char **why);
int pkt_offload_from_vnet_hdr(const struct virtio_net_hdr *vh,
			      const uint8_t *frame, uint32_t len,
			      unsigned int caps, struct pkt_offload *o,
			      const char **why);
unsigned int pkt_offload_nsegs(const struct pkt_offload *o, uint32_t len);
unsigned int pkt_offload_needs(const struct pkt_offload *o,
			       unsigned int caps);
int pkt_offload_to_vnet_hdr(const struct pkt_offload *o, unsigned int caps,
			    struct virtio_net_hdr *vh);

#endif /* VMSW_OFFLOAD_H */
