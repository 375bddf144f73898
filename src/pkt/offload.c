/* SPDX-License-Identifier: MIT */
/* offload.c - virtio-net header checks at ingress, and the header for delivery */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/byteorder.h"
#include "core/util.h"
#include "pkt/offload.h"

#define ETH_HLEN	14
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define ETH_P_IPV4	0x0800
#define ETH_P_IPV6	0x86dd
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define TCP_CSUM_OFF	16
#define UDP_CSUM_OFF	6
#define IP_LEN_MAX	65535u

/* Virtio feature bits that carry offloads (virtio 1.2 §5.1.3). */
#define F_CSUM		0
#define F_GUEST_CSUM	1
#define F_GUEST_TSO4	7
#define F_GUEST_TSO6	8
#define F_GUEST_ECN	9
#define F_HOST_TSO4	11
#define F_HOST_TSO6	12
#define F_HOST_ECN	13
#define F_GUEST_USO4	54
#define F_GUEST_USO6	55
#define F_HOST_USO	56

#define HDR_PAST	"headers past the first " VMSW_STR(PKT_OFFLOAD_HDR_MAX) " bytes"

/** has() - feature bit @bit is set in @features */
static inline unsigned int has(uint64_t features, unsigned int bit)
{
	return (features >> bit) & 1;
}

/**
 * pkt_offload_caps_tx() - what a guest may ask of us on transmit
 * @features:	the guest's negotiated virtio features
 *
 * Segmentation needs checksum offload [virtio 1.2 §5.1.3.1]: without CSUM
 * nothing is granted, whatever else was acked.
 *
 * Return: PKT_OFL_* mask for pkt_offload_from_vnet_hdr()
 */
unsigned int pkt_offload_caps_tx(uint64_t features)
{
	if (!has(features, F_CSUM))
		return 0;
	return PKT_OFL_CSUM |
	       (has(features, F_HOST_TSO4) ? PKT_OFL_TSO4 : 0) |
	       (has(features, F_HOST_TSO6) ? PKT_OFL_TSO6 : 0) |
	       (has(features, F_HOST_ECN) ? PKT_OFL_ECN : 0) |
	       (has(features, F_HOST_USO) ? PKT_OFL_USO4 | PKT_OFL_USO6 : 0);
}

/**
 * pkt_offload_caps_rx() - what a guest accepts on receive
 * @features:	the guest's negotiated virtio features
 *
 * The negotiated GUEST_* bits are the contract: QEMU does not tell a
 * vhost-user backend when the guest turns offloads off later.
 *
 * Return: PKT_OFL_* mask for pkt_offload_needs() and
 * pkt_offload_to_vnet_hdr()
 */
unsigned int pkt_offload_caps_rx(uint64_t features)
{
	if (!has(features, F_GUEST_CSUM))
		return 0;
	return PKT_OFL_CSUM |
	       (has(features, F_GUEST_TSO4) ? PKT_OFL_TSO4 : 0) |
	       (has(features, F_GUEST_TSO6) ? PKT_OFL_TSO6 : 0) |
	       (has(features, F_GUEST_ECN) ? PKT_OFL_ECN : 0) |
	       (has(features, F_GUEST_USO4) ? PKT_OFL_USO4 : 0) |
	       (has(features, F_GUEST_USO6) ? PKT_OFL_USO6 : 0);
}

/** be16_at() - the big-endian 16-bit value at @p */
static inline uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/**
 * beyond() - whether a header ending at @end can be read
 * @end:	offset just past the header
 * @len:	frame length
 * @what:	the reason when the header runs past the frame
 *
 * Return: NULL if [0, @end) lies in the frame's contiguous head, else why not
 */
static const char *beyond(uint32_t end, uint32_t len, const char *what)
{
	if (end > len)
		return what;
	if (end > PKT_OFFLOAD_HDR_MAX)
		return HDR_PAST;
	return NULL;
}

/**
 * parse_l2() - skip the Ethernet header and up to two VLAN tags
 * @f:		frame
 * @len:	frame length
 * @o:		gets l3_off
 * @type:	gets the ethertype after the tags
 *
 * Return: NULL, or why the frame has no room for its L2 header
 */
static const char *parse_l2(const uint8_t *f, uint32_t len,
			    struct pkt_offload *o, uint16_t *type)
{
	unsigned int off = 12, tags = 0;
	const char *w;

	for (;;) {
		w = beyond(off + 2, len, "frame shorter than its Ethernet header");
		if (w)
			return w;
		*type = be16_at(f + off);
		off += 2;
		if (*type != ETH_P_8021Q && *type != ETH_P_8021AD)
			break;
		if (++tags > 2)
			return "more than two VLAN tags";
		off += 2;	/* the tag's TCI */
	}
	o->l3_off = (uint16_t)off;
	return NULL;
}

/**
 * parse_ipv4() - check an IPv4 header, find the L4 header behind it
 * @f:		frame
 * @len:	frame length
 * @o:		has l3_off; gets l3_proto, l4_off and l4_proto
 *
 * Return: NULL, or why there is no L4 header to offload
 */
static const char *parse_ipv4(const uint8_t *f, uint32_t len,
			      struct pkt_offload *o)
{
	const uint8_t *ip = f + o->l3_off;
	unsigned int ihl;
	const char *w;

	w = beyond(o->l3_off + 20u, len, "IPv4 header past the frame");
	if (w)
		return w;
	if (ip[0] >> 4 != 4)
		return "IPv4 ethertype, IP version not 4";
	ihl = (ip[0] & 0x0fu) * 4;
	if (ihl < 20)
		return "IPv4 header length below 20";
	w = beyond(o->l3_off + ihl, len, "IPv4 header past the frame");
	if (w)
		return w;
	o->l3_proto = PKT_L3_IPV4;
	if ((ip[6] & 0x3f) || ip[7])
		return "IPv4 fragment";
	o->l4_off = (uint16_t)(o->l3_off + ihl);
	o->l4_proto = ip[9];
	return NULL;
}

/**
 * parse_ipv6() - check an IPv6 header, find the L4 header behind it
 * @f:		frame
 * @len:	frame length
 * @o:		has l3_off; gets l3_proto, l4_off and l4_proto
 *
 * Extension headers are not walked: no offload request needs them.
 *
 * Return: NULL, or why there is no L4 header to offload
 */
static const char *parse_ipv6(const uint8_t *f, uint32_t len,
			      struct pkt_offload *o)
{
	const uint8_t *ip = f + o->l3_off;
	const char *w;

	w = beyond(o->l3_off + 40u, len, "IPv6 header past the frame");
	if (w)
		return w;
	if (ip[0] >> 4 != 6)
		return "IPv6 ethertype, IP version not 6";
	o->l3_proto = PKT_L3_IPV6;
	o->l4_off = (uint16_t)(o->l3_off + 40);
	o->l4_proto = ip[6];
	return NULL;
}

/**
 * parse_l4() - check the TCP or UDP header at o->l4_off
 * @f:		frame
 * @len:	frame length
 * @o:		has l4_off and l4_proto; gets l4_hlen
 *
 * Return: NULL, or why the header is not a sound TCP or UDP header
 */
static const char *parse_l4(const uint8_t *f, uint32_t len,
			    struct pkt_offload *o)
{
	unsigned int l4 = o->l4_off, hlen;
	const char *w;

	if (o->l4_proto == IPPROTO_UDP_) {
		w = beyond(l4 + 8u, len, "UDP header past the frame");
		if (!w)
			o->l4_hlen = 8;
		return w;
	}
	if (o->l4_proto != IPPROTO_TCP_)
		return "not TCP or UDP";
	w = beyond(l4 + 20u, len, "TCP header past the frame");
	if (w)
		return w;
	hlen = (f[l4 + 12] >> 4) * 4u;
	if (hlen < 20)
		return "TCP data offset below 5";
	w = beyond(l4 + hlen, len, "TCP header past the frame");
	if (w)
		return w;
	o->l4_hlen = (uint8_t)hlen;
	return NULL;
}

/**
 * pkt_offload_parse() - find a frame's IP and TCP/UDP headers
 * @frame:	Ethernet frame; its first MIN(@len, PKT_OFFLOAD_HDR_MAX) bytes
 *		contiguous
 * @len:	frame length
 * @o:		zeroed, then gets what was found: l3_off once past the L2
 *		header, l3_proto, l4_off and l4_proto once past the IP
 *		header, l4_hlen for a sound TCP or UDP header
 * @why:	set to what stopped the parse, or NULL
 *
 * One or two VLAN tags (802.1Q, 802.1ad), then IPv4 (options allowed,
 * fragments have no L4 header) or IPv6 (no extension headers), then TCP or
 * UDP. Other frames are not wrong, they just have nothing to offload.
 *
 * Return: 0 when a whole TCP or UDP header was found, else -EPROTO with
 * @why set to what stopped the parse
 */
int pkt_offload_parse(const uint8_t *frame, uint32_t len,
		      struct pkt_offload *o, const char **why)
{
	const char *w;
	uint16_t type;

	memset(o, 0, sizeof(*o));
	w = parse_l2(frame, len, o, &type);
	if (!w) {
		if (type == ETH_P_IPV4)
			w = parse_ipv4(frame, len, o);
		else if (type == ETH_P_IPV6)
			w = parse_ipv6(frame, len, o);
		else
			w = "not IPv4 or IPv6";
	}
	if (!w)
		w = parse_l4(frame, len, o);
	*why = w;
	return w ? -EPROTO : 0;
}

/**
 * refuse() - record why a header is refused
 * @why:	where the reason goes
 * @reason:	a string constant
 *
 * Return: -EPROTO
 */
static int refuse(const char **why, const char *reason)
{
	*why = reason;
	return -EPROTO;
}

/**
 * check_csum() - a NEEDS_CSUM request: within the frame and negotiated
 * @vh:		private copy of the header
 * @len:	frame length
 * @caps:	PKT_OFL_* the sender may use
 * @o:		parsed frame; gets the checksum state
 * @why:	reason when refused
 *
 * The field must lie inside the frame and, where the range starts at the
 * parsed L4 header, so must that header (Linux virtio_net_hdr_to_skb()):
 * CVE-2024-11614 summed from a csum_start past the end.
 *
 * Return: 0, or -EPROTO
 */
static int check_csum(const struct virtio_net_hdr *vh, uint32_t len,
		      unsigned int caps, struct pkt_offload *o,
		      const char **why)
{
	uint32_t start = le16_to_cpu(vh->csum_start);
	uint32_t off = le16_to_cpu(vh->csum_offset);
	uint32_t l4 = 0;

	if (!(caps & PKT_OFL_CSUM))
		return refuse(why, "NEEDS_CSUM not negotiated");
	if (start < o->l3_off || start < ETH_HLEN)
		return refuse(why, "csum_start inside the Ethernet header");
	if (o->l4_off && start == o->l4_off)
		l4 = o->l4_hlen;
	if (start + MAX(l4, off + 2) > len)
		return refuse(why, "checksum field past the frame");
	o->csum = PKT_CSUM_PARTIAL;
	o->csum_start = (uint16_t)start;
	o->csum_offset = (uint16_t)off;
	return 0;
}

/**
 * gso_kind() - the PKT_GSO_* for a virtio gso_type, ECN left out
 * @type:	the header's gso_type
 * @caps:	PKT_OFL_* the sender may use
 * @why:	reason when refused
 *
 * Return: PKT_GSO_TCPV4, _TCPV6 or _UDP_L4, or -EPROTO
 */
static int gso_kind(uint8_t type, unsigned int caps, const char **why)
{
	switch (type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return refuse(why, "ECN flag without a GSO type");
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(caps & PKT_OFL_TSO4))
			return refuse(why, "GSO_TCPV4 not negotiated");
		return PKT_GSO_TCPV4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(caps & PKT_OFL_TSO6))
			return refuse(why, "GSO_TCPV6 not negotiated");
		return PKT_GSO_TCPV6;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		if (!(caps & (PKT_OFL_USO4 | PKT_OFL_USO6)))
			return refuse(why, "GSO_UDP_L4 not negotiated");
		return PKT_GSO_UDP_L4;
	case VIRTIO_NET_HDR_GSO_UDP:
		return refuse(why, "GSO_UDP (UFO) not supported");
	default:
		return refuse(why, "unknown gso_type");
	}
}

/**
 * gso_matches() - the frame is what the GSO type says
 * @kind:	PKT_GSO_*
 * @caps:	PKT_OFL_* the sender may use
 * @o:		parsed frame
 *
 * Return: true for TCPV4 on IPv4 TCP, TCPV6 on IPv6 TCP, UDP_L4 on UDP
 * over an IP version the sender may segment
 */
static bool gso_matches(int kind, unsigned int caps,
			const struct pkt_offload *o)
{
	switch (kind) {
	case PKT_GSO_TCPV4:
		return o->l3_proto == PKT_L3_IPV4 && o->l4_proto == IPPROTO_TCP_;
	case PKT_GSO_TCPV6:
		return o->l3_proto == PKT_L3_IPV6 && o->l4_proto == IPPROTO_TCP_;
	default:
		return o->l4_proto == IPPROTO_UDP_ &&
		       (caps & (o->l3_proto == PKT_L3_IPV4 ? PKT_OFL_USO4 :
							      PKT_OFL_USO6));
	}
}

/**
 * check_gso_frame() - the parsed frame fits the GSO request
 * @vh:		private copy of the header
 * @len:	frame length
 * @caps:	PKT_OFL_* the sender may use
 * @kind:	PKT_GSO_* from gso_kind()
 * @o:		parsed frame, with the checksum state
 * @why:	reason when refused
 *
 * CVE-2024-43897: a GSO_TCPV4 frame that is not TCP, or whose checksum
 * range is not its TCP header, made Linux write past the frame when
 * segmenting it.
 *
 * Return: 0, or -EPROTO
 */
static int check_gso_frame(const struct virtio_net_hdr *vh, uint32_t len,
			   unsigned int caps, int kind,
			   const struct pkt_offload *o, const char **why)
{
	unsigned int l3_max = o->l3_off + IP_LEN_MAX;

	if (!gso_matches(kind, caps, o))
		return refuse(why, "gso_type does not match the frame");
	if (le16_to_cpu(vh->csum_start) != o->l4_off)
		return refuse(why, "GSO csum_start not at the L4 header");
	if (le16_to_cpu(vh->csum_offset) !=
	    (kind == PKT_GSO_UDP_L4 ? UDP_CSUM_OFF : TCP_CSUM_OFF))
		return refuse(why, "GSO csum_offset not the L4 checksum");
	if (o->l3_proto == PKT_L3_IPV6)
		l3_max += 40;
	if (len > l3_max)
		return refuse(why, "GSO frame longer than IP allows");
	return 0;
}

/**
 * check_gso() - a segmentation request: negotiated, sound, and the frame's
 * @vh:		private copy of the header
 * @len:	frame length
 * @caps:	PKT_OFL_* the sender may use
 * @o:		parsed frame, with the checksum state; gets the GSO state
 * @parse_why:	why the frame's L4 header was not found, or NULL
 * @why:	reason when refused
 *
 * A frame whose payload fits one segment is legal (refusing it broke
 * small GSO frames after CVE-2024-43817); it is kept as one frame with a
 * partial checksum, as Linux does.
 *
 * Return: 0, or -EPROTO
 */
static int check_gso(const struct virtio_net_hdr *vh, uint32_t len,
		     unsigned int caps, struct pkt_offload *o,
		     const char *parse_why, const char **why)
{
	uint16_t mss = le16_to_cpu(vh->gso_size);
	int kind = gso_kind(vh->gso_type, caps, why);

	if (kind < 0)
		return kind;
	if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return refuse(why, "GSO without NEEDS_CSUM");
	if (!mss)
		return refuse(why, "GSO with gso_size 0");
	if (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN) {
		if (kind == PKT_GSO_UDP_L4)
			return refuse(why, "ECN flag on UDP GSO");
		if (!(caps & PKT_OFL_ECN))
			return refuse(why, "ECN flag not negotiated");
	}
	if (parse_why)
		return refuse(why, parse_why);
	if (check_gso_frame(vh, len, caps, kind, o, why))
		return -EPROTO;
	if (len - pkt_offload_hlen(o) <= mss)
		return 0;
	o->gso_type = (uint8_t)kind;
	if (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN)
		o->gso_type |= PKT_GSO_ECN;
	o->gso_size = mss;
	if (kind == PKT_GSO_UDP_L4 &&
	    pkt_offload_nsegs(o, len) > PKT_USO_MAX_SEGS)
		return refuse(why, "UDP GSO over "
			      VMSW_STR(PKT_USO_MAX_SEGS) " segments");
	return 0;
}

/**
 * pkt_offload_from_vnet_hdr() - check a sender's offload request
 * @vh:		the virtio-net header, its first 10 bytes (num_buffers is
 *		not read); read once, into a private copy
 * @frame:	Ethernet frame; its first MIN(@len, PKT_OFFLOAD_HDR_MAX)
 *		bytes contiguous (the caller's copy, not guest memory the
 *		guest can change while we look)
 * @len:	frame length, up to 64 KiB + headers for a GSO frame
 * @caps:	PKT_OFL_* the sender negotiated (pkt_offload_caps_tx())
 * @o:		the frame's offload state, valid when 0 is returned
 * @why:	set to a string constant saying why, when -EPROTO is returned
 *
 * Unknown flag bits are ignored, and so are DATA_VALID (unless @caps has
 * PKT_OFL_TRUST_VALID) and hdr_len, which is a hint [virtio 1.2 §5.1.6.2].
 *
 * Return: 0, or -EPROTO: the frame must be dropped (bad_header)
 */
int pkt_offload_from_vnet_hdr(const struct virtio_net_hdr *vh,
			      const uint8_t *frame, uint32_t len,
			      unsigned int caps, struct pkt_offload *o,
			      const char **why)
{
	struct virtio_net_hdr h;
	const char *parse_why;

	memcpy(&h, vh, offsetof(struct virtio_net_hdr, num_buffers));
	barrier();	/* every check below reads the copy, never @vh again */
	if (len < ETH_HLEN)
		return refuse(why, "frame shorter than an Ethernet header");
	pkt_offload_parse(frame, len, o, &parse_why);
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (check_csum(&h, len, caps, o, why))
			return -EPROTO;
		if (o->csum_start == o->l4_off && !o->l4_hlen &&
		    (o->l4_proto == IPPROTO_TCP_ || o->l4_proto == IPPROTO_UDP_))
			return refuse(why, parse_why);
	} else if ((h.flags & VIRTIO_NET_HDR_F_DATA_VALID) &&
		   (caps & PKT_OFL_TRUST_VALID)) {
		o->csum = PKT_CSUM_VALID;
	}
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return check_gso(&h, len, caps, o, parse_why, why);
	return 0;
}

/**
 * pkt_offload_nsegs() - how many frames segmenting @o's frame gives
 * @o:		offload state
 * @len:	frame length
 *
 * Return: 1 without GSO, else the payload in gso_size pieces (at least 1)
 */
unsigned int pkt_offload_nsegs(const struct pkt_offload *o, uint32_t len)
{
	uint32_t hlen = pkt_offload_hlen(o), payload;

	if (pkt_gso_kind(o) == PKT_GSO_NONE || !o->gso_size || len <= hlen)
		return 1;
	payload = len - hlen;
	return (payload + o->gso_size - 1) / o->gso_size;
}

/**
 * pkt_offload_needs() - what must be done in software before a port
 * with @caps can take the frame
 * @o:		offload state
 * @caps:	PKT_OFL_* the destination accepts (pkt_offload_caps_rx())
 *
 * PKT_NEED_SEGMENT with PKT_NEED_CSUM: segment with full checksums.
 * PKT_NEED_SEGMENT alone: segment, partial checksums are fine.
 * PKT_NEED_CSUM alone: complete the partial checksum.
 *
 * Return: PKT_NEED_* mask, 0 when the frame passes as it is
 */
unsigned int pkt_offload_needs(const struct pkt_offload *o, unsigned int caps)
{
	static const unsigned int tso_cap[] = {
		[PKT_GSO_TCPV4] = PKT_OFL_TSO4,
		[PKT_GSO_TCPV6] = PKT_OFL_TSO6,
	};
	unsigned int kind = pkt_gso_kind(o), need = 0, want;

	if (kind == PKT_GSO_UDP_L4)
		want = o->l3_proto == PKT_L3_IPV4 ? PKT_OFL_USO4 : PKT_OFL_USO6;
	else if (kind < ARRAY_SIZE(tso_cap))
		want = tso_cap[kind];
	else
		want = PKT_OFL_TSO4 | PKT_OFL_TSO6;	/* unknown: segment */
	if (o->gso_type & PKT_GSO_ECN)
		want |= PKT_OFL_ECN;
	if (kind != PKT_GSO_NONE && (caps & want) != want)
		need |= PKT_NEED_SEGMENT;
	if (o->csum == PKT_CSUM_PARTIAL && !(caps & PKT_OFL_CSUM))
		need |= PKT_NEED_CSUM;
	return need;
}

/**
 * pkt_offload_to_vnet_hdr() - the header that delivers the frame to a guest
 * @o:		offload state
 * @caps:	PKT_OFL_* the guest accepts (pkt_offload_caps_rx())
 * @vh:		gets flags, gso_type, hdr_len, gso_size, csum_start and
 *		csum_offset; num_buffers is left to the caller
 *
 * GSO goes with NEEDS_CSUM and the exact L4 checksum position: Linux guests
 * drop GSO frames with any other csum_offset. A checksum verified at
 * ingress (or computed by the switch) is announced with DATA_VALID.
 * Without GUEST_CSUM the flags are 0 [virtio 1.2 §5.1.6.4.1].
 *
 * Return: 0, -EOPNOTSUPP when pkt_offload_needs() has work to do first,
 * or -EINVAL for a GSO state without a partial checksum
 */
int pkt_offload_to_vnet_hdr(const struct pkt_offload *o, unsigned int caps,
			    struct virtio_net_hdr *vh)
{
	static const uint8_t vgso[] = {
		[PKT_GSO_NONE] = VIRTIO_NET_HDR_GSO_NONE,
		[PKT_GSO_TCPV4] = VIRTIO_NET_HDR_GSO_TCPV4,
		[PKT_GSO_TCPV6] = VIRTIO_NET_HDR_GSO_TCPV6,
		[PKT_GSO_UDP_L4] = VIRTIO_NET_HDR_GSO_UDP_L4,
	};
	unsigned int kind = pkt_gso_kind(o);
	uint16_t start = o->csum_start, off = o->csum_offset;

	if (pkt_offload_needs(o, caps))
		return -EOPNOTSUPP;
	if (kind != PKT_GSO_NONE && o->csum != PKT_CSUM_PARTIAL)
		return -EINVAL;
	memset(vh, 0, offsetof(struct virtio_net_hdr, num_buffers));
	if (kind != PKT_GSO_NONE) {
		start = o->l4_off;
		off = kind == PKT_GSO_UDP_L4 ? UDP_CSUM_OFF : TCP_CSUM_OFF;
		vh->gso_type = vgso[kind];
		if (o->gso_type & PKT_GSO_ECN)
			vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		vh->gso_size = cpu_to_le16(o->gso_size);
		vh->hdr_len = cpu_to_le16((uint16_t)pkt_offload_hlen(o));
	}
	if (o->csum == PKT_CSUM_PARTIAL) {
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = cpu_to_le16(start);
		vh->csum_offset = cpu_to_le16(off);
	} else if (o->csum == PKT_CSUM_VALID && (caps & PKT_OFL_CSUM)) {
		vh->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	return 0;
}
