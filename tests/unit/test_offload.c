/* SPDX-License-Identifier: MIT */
/*
 * test_offload.c - the virtio-net header validator against every rule of
 * the offload notes (and the CVEs behind them), the delivery header, and
 * the features to capabilities mapping
 */
#include <errno.h>

#include "core/util.h"
#include "frames.h"
#include "pkt/gso.h"
#include "pkt/offload.h"
#include "unit.h"

#define ALL_TX	(PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_TSO6 | PKT_OFL_ECN | \
		 PKT_OFL_USO4 | PKT_OFL_USO6)

static uint8_t f[70000];
static struct fr_info fi;
static struct pkt_offload o;
static const char *why;

static uint32_t build(const struct fr_spec *s)
{
	return fr_build(f, s, &fi);
}

/* The header a Linux guest sends with a GSO frame of @s. */
static struct virtio_net_hdr gso_hdr(const struct fr_spec *s, uint16_t mss)
{
	struct virtio_net_hdr h = { 0 };

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = s->udp ? VIRTIO_NET_HDR_GSO_UDP_L4 :
		     s->ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h.hdr_len = cpu_to_le16((uint16_t)fi.hlen);
	h.gso_size = cpu_to_le16(mss);
	h.csum_start = cpu_to_le16((uint16_t)fi.l4);
	h.csum_offset = cpu_to_le16(s->udp ? 6 : 16);
	return h;
}

static int check(const struct virtio_net_hdr *h, uint32_t len, unsigned int caps)
{
	why = NULL;
	memset(&o, 0xa5, sizeof(o));
	return pkt_offload_from_vnet_hdr(h, f, len, caps, &o, &why);
}

/* @h on a frame of @len is refused, with a reason containing @what. */
#define REFUSED(h, len, caps, what)					\
	do {								\
		CHECK_EQ(check(h, len, caps), -EPROTO);			\
		CHECK(why && strstr(why, what));			\
		if (why && !strstr(why, what))				\
			printf("  reason: %s\n", why);			\
	} while (0)

TEST(tcp4_gso_accepted)
{
	struct fr_spec s = { .payload = 4000, .tcp_opts = 12, .flags = FR_TCP_ACK };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1448);

	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK(why == NULL);
	CHECK_EQ(o.csum, PKT_CSUM_PARTIAL);
	CHECK_EQ(o.csum_start, 34);
	CHECK_EQ(o.csum_offset, 16);
	CHECK_EQ(o.gso_type, PKT_GSO_TCPV4);
	CHECK_EQ(o.gso_size, 1448);
	CHECK_EQ(o.l3_off, 14);
	CHECK_EQ(o.l4_off, 34);
	CHECK_EQ(o.l4_hlen, 32);
	CHECK_EQ(o.l3_proto, PKT_L3_IPV4);
	CHECK_EQ(o.l4_proto, 6);
	CHECK_EQ(o.pad, 0);
	CHECK_EQ(pkt_offload_hlen(&o), 66);
	CHECK_EQ(pkt_offload_nsegs(&o, len), 3);
	/* Only TSO4 (and CSUM) is needed. */
	CHECK_EQ(check(&h, len, PKT_OFL_CSUM | PKT_OFL_TSO4), 0);
}

/* A 10-byte header (no MRG_RXBUF): num_buffers is never read. */
TEST(ten_byte_header)
{
	struct fr_spec s = { .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);
	struct virtio_net_hdr *ten = malloc(10);

	CHECK(ten != NULL);
	if (!ten)
		return;
	memcpy(ten, &h, 10);
	why = NULL;
	CHECK_EQ(pkt_offload_from_vnet_hdr(ten, f, len, ALL_TX, &o, &why), 0);
	CHECK_EQ(o.gso_size, 1000);
	free(ten);
}

TEST(tcp6_gso_accepted)
{
	struct fr_spec s = { .ipv6 = true, .payload = 9000, .flags = FR_TCP_ACK };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1428);

	CHECK_EQ(check(&h, len, PKT_OFL_CSUM | PKT_OFL_TSO6), 0);
	CHECK_EQ(o.gso_type, PKT_GSO_TCPV6);
	CHECK_EQ(o.l3_proto, PKT_L3_IPV6);
	CHECK_EQ(o.l4_off, 54);
	CHECK_EQ(o.csum_start, 54);
	CHECK_EQ(o.l4_hlen, 20);
}

TEST(vlan_and_ipv4_options_accepted)
{
	struct fr_spec s = { .vlan = true, .ip_opts = 24, .tcp_opts = 20,
			     .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(o.l3_off, 18);
	CHECK_EQ(o.l4_off, 18 + 44);
	CHECK_EQ(o.l4_hlen, 40);
	CHECK_EQ(o.gso_type, PKT_GSO_TCPV4);
}

TEST(ecn_with_permission)
{
	struct fr_spec s = { .payload = 3000, .flags = FR_TCP_ACK | FR_TCP_CWR };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	CHECK_EQ(check(&h, len, PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_ECN), 0);
	CHECK_EQ(o.gso_type, PKT_GSO_TCPV4 | PKT_GSO_ECN);
	CHECK_EQ(pkt_gso_kind(&o), PKT_GSO_TCPV4);
}

TEST(uso_accepted)
{
	struct fr_spec s = { .udp = true, .payload = 8000 };
	struct fr_spec s6 = { .udp = true, .ipv6 = true, .payload = 8000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1472);

	CHECK_EQ(check(&h, len, PKT_OFL_CSUM | PKT_OFL_USO4), 0);
	CHECK_EQ(o.gso_type, PKT_GSO_UDP_L4);
	CHECK_EQ(o.csum_offset, 6);
	CHECK_EQ(o.l4_hlen, 8);
	CHECK_EQ(o.l4_proto, 17);
	len = build(&s6);
	h = gso_hdr(&s6, 1452);
	CHECK_EQ(check(&h, len, PKT_OFL_CSUM | PKT_OFL_USO6), 0);
	CHECK_EQ(o.l3_proto, PKT_L3_IPV6);
	/* USO4 alone does not cover IPv6. */
	REFUSED(&h, len, PKT_OFL_CSUM | PKT_OFL_USO4, "does not match");
}

TEST(partial_csum_without_gso)
{
	struct fr_spec s = { .payload = 100 }, u = { .udp = true, .payload = 30 };
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	uint32_t len = build(&s);

	h.csum_start = cpu_to_le16(34);
	h.csum_offset = cpu_to_le16(16);
	CHECK_EQ(check(&h, len, PKT_OFL_CSUM), 0);
	CHECK_EQ(o.csum, PKT_CSUM_PARTIAL);
	CHECK_EQ(o.gso_type, PKT_GSO_NONE);
	CHECK_EQ(o.gso_size, 0);
	CHECK_EQ(o.l4_hlen, 20);
	len = build(&u);
	h.csum_offset = cpu_to_le16(6);
	CHECK_EQ(check(&h, len, PKT_OFL_CSUM), 0);
	CHECK_EQ(o.csum_offset, 6);
	/* Any range inside the frame (an inner header of a tunnel). */
	len = build(&s);
	h.csum_start = cpu_to_le16(40);
	h.csum_offset = cpu_to_le16((uint16_t)(len - 40 - 2));	/* last 2 bytes */
	CHECK_EQ(check(&h, len, PKT_OFL_CSUM), 0);
	CHECK_EQ(o.csum_start, 40);
	CHECK_EQ(o.csum_offset, len - 42);
	CHECK_EQ(o.l4_off, 34);		/* still found */
}

TEST(plain_frames_and_non_ip)
{
	struct fr_spec s = { .payload = 10 };
	struct virtio_net_hdr h = { 0 };
	uint32_t len = build(&s);

	CHECK_EQ(check(&h, len, 0), 0);
	CHECK_EQ(o.csum, PKT_CSUM_NONE);
	CHECK_EQ(o.gso_type, PKT_GSO_NONE);
	CHECK_EQ(o.l4_off, 34);
	CHECK_EQ(o.l4_hlen, 20);
	/* ARP: nothing to parse, nothing wrong. */
	memset(f, 0, 60);
	fr_put16(f + 12, 0x0806);
	CHECK_EQ(check(&h, 60, ALL_TX), 0);
	CHECK_EQ(o.l3_proto, PKT_L3_NONE);
	CHECK_EQ(o.l4_off, 0);
	CHECK_EQ(o.l4_hlen, 0);
	CHECK_EQ(check(&h, 14, ALL_TX), 0);	/* a bare Ethernet header */
	/* A malformed TCP header in a frame asking for nothing is the
	 * receiver's business, not ours. */
	len = build(&s);
	f[34 + 12] = 0x30;
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(o.l4_hlen, 0);
}

TEST(data_valid_from_a_guest_ignored)
{
	struct fr_spec s = { .payload = 10 };
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	uint32_t len = build(&s);

	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(o.csum, PKT_CSUM_NONE);
	/* A kernel's (tap, AF_PACKET) is believed. */
	CHECK_EQ(check(&h, len, ALL_TX | PKT_OFL_TRUST_VALID), 0);
	CHECK_EQ(o.csum, PKT_CSUM_VALID);
	/* NEEDS_CSUM wins over DATA_VALID. */
	h.flags |= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = cpu_to_le16(34);
	h.csum_offset = cpu_to_le16(16);
	CHECK_EQ(check(&h, len, ALL_TX | PKT_OFL_TRUST_VALID), 0);
	CHECK_EQ(o.csum, PKT_CSUM_PARTIAL);
}

TEST(unknown_flags_and_hdr_len_ignored)
{
	static const uint16_t hdr_lens[] = { 0, 1, 13, 54, 55, 9000, 65535 };
	struct fr_spec s = { .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1448);
	unsigned int i;

	h.flags |= 0xf8;
	for (i = 0; i < ARRAY_SIZE(hdr_lens); i++) {
		h.hdr_len = cpu_to_le16(hdr_lens[i]);
		CHECK_EQ(check(&h, len, ALL_TX), 0);
		CHECK_EQ(o.l4_hlen, 20);
		CHECK_EQ(pkt_offload_hlen(&o), 54);
	}
}

TEST(small_gso_is_legal)
{
	struct fr_spec s = { .payload = 1448, .flags = FR_TCP_ACK };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1448);

	/* Payload == gso_size: one segment, kept as a partial frame. */
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(o.gso_type, PKT_GSO_NONE);
	CHECK_EQ(o.gso_size, 0);
	CHECK_EQ(o.csum, PKT_CSUM_PARTIAL);
	CHECK_EQ(o.csum_start, 34);
	CHECK_EQ(pkt_offload_nsegs(&o, len), 1);
	s.payload = 1;
	len = build(&s);
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	s.payload = 0;			/* headers only */
	len = build(&s);
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	s.payload = 1449;		/* one byte more: real GSO */
	len = build(&s);
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(o.gso_type, PKT_GSO_TCPV4);
	CHECK_EQ(pkt_offload_nsegs(&o, len), 2);
}

TEST(refuse_short_frame)
{
	struct virtio_net_hdr h = { 0 };

	memset(f, 0, 14);
	REFUSED(&h, 13, ALL_TX, "shorter than an Ethernet header");
	REFUSED(&h, 0, ALL_TX, "shorter than an Ethernet header");
}

TEST(refuse_needs_csum_not_negotiated)
{
	struct fr_spec s = { .payload = 100 };
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	uint32_t len = build(&s);

	h.csum_start = cpu_to_le16(34);
	h.csum_offset = cpu_to_le16(16);
	REFUSED(&h, len, ALL_TX & ~PKT_OFL_CSUM, "NEEDS_CSUM not negotiated");
}

/* CVE-2024-11614 and the DPDK off = len - 1 store. */
TEST(refuse_csum_past_the_frame)
{
	struct fr_spec s = { .payload = 100 };
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	uint32_t len = build(&s);

	h.csum_start = cpu_to_le16((uint16_t)len);	/* start at the end */
	REFUSED(&h, len, ALL_TX, "past the frame");
	h.csum_start = cpu_to_le16(65535);
	h.csum_offset = cpu_to_le16(65535);
	REFUSED(&h, len, ALL_TX, "past the frame");
	h.csum_start = cpu_to_le16(40);
	h.csum_offset = cpu_to_le16((uint16_t)(len - 40 - 1));	/* field at len - 1 */
	REFUSED(&h, len, ALL_TX, "past the frame");
	h.csum_offset = cpu_to_le16((uint16_t)(len - 40));	/* field at len */
	REFUSED(&h, len, ALL_TX, "past the frame");
	h.csum_offset = cpu_to_le16((uint16_t)(len - 40 - 2));	/* fits */
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	/* Field inside the frame, but the TCP header at csum_start is not. */
	s.payload = 0;
	len = build(&s) - 2;		/* 18 of its 20 bytes */
	h.csum_start = cpu_to_le16(34);
	h.csum_offset = cpu_to_le16(16);
	REFUSED(&h, len, ALL_TX, "TCP header past the frame");
}

TEST(refuse_csum_start_in_ethernet_header)
{
	struct fr_spec s = { .vlan = true, .payload = 100 };
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	uint32_t len = build(&s);

	h.csum_offset = cpu_to_le16(2);
	REFUSED(&h, len, ALL_TX, "inside the Ethernet header");
	h.csum_start = cpu_to_le16(13);
	REFUSED(&h, len, ALL_TX, "inside the Ethernet header");
	h.csum_start = cpu_to_le16(16);		/* the VLAN tag */
	REFUSED(&h, len, ALL_TX, "inside the Ethernet header");
	h.csum_start = cpu_to_le16(18);
	CHECK_EQ(check(&h, len, ALL_TX), 0);
}

TEST(refuse_gso_type_problems)
{
	static const uint8_t unknown[] = { 2, 6, 7, 0x7f, 0x80 | 2, 0x80 | 6 };
	struct fr_spec s = { .payload = 3000, .flags = FR_TCP_ACK };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);
	unsigned int i;

	h.gso_type = VIRTIO_NET_HDR_GSO_ECN;
	REFUSED(&h, len, ALL_TX, "ECN flag without a GSO type");
	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		h.gso_type = unknown[i];
		REFUSED(&h, len, ALL_TX, "unknown gso_type");
	}
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	REFUSED(&h, len, ALL_TX, "UFO");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	REFUSED(&h, len, ALL_TX & ~PKT_OFL_TSO4, "GSO_TCPV4 not negotiated");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	REFUSED(&h, len, ALL_TX & ~PKT_OFL_TSO6, "GSO_TCPV6 not negotiated");
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	REFUSED(&h, len, ALL_TX & ~(PKT_OFL_USO4 | PKT_OFL_USO6), "GSO_UDP_L4 not negotiated");
}

TEST(refuse_gso_without_needs_csum_or_size)
{
	struct fr_spec s = { .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	h.flags = 0;
	REFUSED(&h, len, ALL_TX, "GSO without NEEDS_CSUM");
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	REFUSED(&h, len, ALL_TX | PKT_OFL_TRUST_VALID, "GSO without NEEDS_CSUM");
	h = gso_hdr(&s, 0);
	REFUSED(&h, len, ALL_TX, "gso_size 0");
}

TEST(refuse_ecn_without_permission_or_tcp)
{
	struct fr_spec s = { .payload = 3000, .flags = FR_TCP_CWR };
	struct fr_spec u = { .udp = true, .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	REFUSED(&h, len, ALL_TX & ~PKT_OFL_ECN, "ECN flag not negotiated");
	len = build(&u);
	h = gso_hdr(&u, 1000);
	h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	REFUSED(&h, len, ALL_TX, "ECN flag on UDP GSO");
}

/* CVE-2024-43897: the GSO type must be the frame's. */
TEST(refuse_gso_type_mismatch)
{
	struct fr_spec t4 = { .payload = 3000 }, t6 = { .ipv6 = true, .payload = 3000 };
	struct fr_spec u4 = { .udp = true, .payload = 3000 };
	struct virtio_net_hdr h;
	uint32_t len;

	len = build(&t6);
	h = gso_hdr(&t6, 1000);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;		/* TCPV4 on IPv6 */
	REFUSED(&h, len, ALL_TX, "does not match");
	len = build(&t4);
	h = gso_hdr(&t4, 1000);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;		/* TCPV6 on IPv4 */
	REFUSED(&h, len, ALL_TX, "does not match");
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;		/* UDP_L4 on TCP */
	h.csum_offset = cpu_to_le16(6);
	REFUSED(&h, len, ALL_TX, "does not match");
	len = build(&u4);
	h = gso_hdr(&u4, 1000);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;		/* TCPV4 on UDP */
	h.csum_offset = cpu_to_le16(16);
	REFUSED(&h, len, ALL_TX, "does not match");
}

/* CVE-2024-43897's syzbot frame: csum_start 199, csum_offset 1536. */
TEST(refuse_gso_csum_not_at_l4)
{
	struct fr_spec s = { .payload = 3000 }, u = { .udp = true, .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	h.csum_start = cpu_to_le16(199);
	h.csum_offset = cpu_to_le16(1536);
	REFUSED(&h, len, ALL_TX, "csum_start not at the L4 header");
	h.csum_start = cpu_to_le16(38);
	h.csum_offset = cpu_to_le16(12);	/* same field, other start */
	REFUSED(&h, len, ALL_TX, "csum_start not at the L4 header");
	h = gso_hdr(&s, 1000);
	h.csum_offset = cpu_to_le16(6);
	REFUSED(&h, len, ALL_TX, "csum_offset not the L4 checksum");
	h.csum_offset = cpu_to_le16(1536);
	REFUSED(&h, len, ALL_TX, "csum_offset not the L4 checksum");
	len = build(&u);
	h = gso_hdr(&u, 1000);
	h.csum_offset = cpu_to_le16(16);
	REFUSED(&h, len, ALL_TX, "csum_offset not the L4 checksum");
}

TEST(refuse_bad_tcp_header)
{
	struct fr_spec s = { .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);
	unsigned int doff;

	for (doff = 0; doff < 5; doff++) {
		f[34 + 12] = (uint8_t)(doff << 4);
		REFUSED(&h, len, ALL_TX, "TCP data offset below 5");
	}
	/* Without GSO too, when the checksum starts at that header. */
	h.gso_type = 0;
	h.gso_size = 0;
	REFUSED(&h, len, ALL_TX, "TCP data offset below 5");
	/* doff 15: 60 bytes, the frame ends first. */
	s.payload = 0;
	len = build(&s);
	f[34 + 12] = 0xf0;
	h = gso_hdr(&s, 1000);
	REFUSED(&h, len + 30, ALL_TX, "TCP header past the frame");
	REFUSED(&h, 34 + 19, ALL_TX, "TCP header past the frame");
}

TEST(refuse_headers_past_contiguous_head)
{
	struct fr_spec s = { .vlan = true, .ip_opts = 40, .tcp_opts = 40,
			     .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	CHECK(fi.hlen > PKT_OFFLOAD_HDR_MAX);
	REFUSED(&h, len, ALL_TX, "headers past the first 128 bytes");
	s.vlan = false;
	s.tcp_opts = 32;		/* 14 + 60 + 52 = 126: fits */
	len = build(&s);
	h = gso_hdr(&s, 1000);
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(pkt_offload_hlen(&o), 126);
}

TEST(refuse_gso_on_what_cannot_be_segmented)
{
	struct fr_spec s = { .payload = 3000 }, s6 = { .ipv6 = true, .payload = 3000 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1000);

	f[14 + 6] = 0x20;		/* MF: a fragment */
	REFUSED(&h, len, ALL_TX, "IPv4 fragment");
	f[14 + 6] = 0x00;
	f[14 + 7] = 0x01;		/* fragment offset 8 */
	REFUSED(&h, len, ALL_TX, "IPv4 fragment");
	len = build(&s);
	f[14] = 0x44;			/* IHL 4 */
	REFUSED(&h, len, ALL_TX, "IPv4 header length below 20");
	f[14] = 0x65;			/* version 6 under an IPv4 ethertype */
	REFUSED(&h, len, ALL_TX, "IP version not 4");
	len = build(&s);
	f[14 + 9] = 1;			/* ICMP */
	REFUSED(&h, len, ALL_TX, "not TCP or UDP");
	len = build(&s);
	fr_put16(f + 12, 0x0806);	/* ARP */
	REFUSED(&h, len, ALL_TX, "not IPv4 or IPv6");
	len = build(&s6);
	h = gso_hdr(&s6, 1000);
	f[14 + 6] = 0;			/* hop-by-hop options first */
	REFUSED(&h, len, ALL_TX, "not TCP or UDP");
	REFUSED(&h, 14 + 39, ALL_TX, "past the frame");
}

TEST(refuse_gso_longer_than_ip_allows)
{
	struct fr_spec s = { .payload = 65535 - 40 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 1448);

	CHECK_EQ(check(&h, len, ALL_TX), 0);
	REFUSED(&h, len + 1, ALL_TX, "longer than IP allows");
	s.ipv6 = true;
	s.payload = 65535 - 20;
	len = build(&s);
	h = gso_hdr(&s, 1448);
	CHECK_EQ(check(&h, len, ALL_TX), 0);
	REFUSED(&h, len + 1, ALL_TX, "longer than IP allows");
}

TEST(refuse_uso_over_128_segments)
{
	struct fr_spec s = { .udp = true, .payload = 128 * 10 };
	uint32_t len = build(&s);
	struct virtio_net_hdr h = gso_hdr(&s, 10);

	CHECK_EQ(check(&h, len, ALL_TX), 0);
	CHECK_EQ(pkt_offload_nsegs(&o, len), 128);
	REFUSED(&h, len + 1, ALL_TX, "over 128 segments");
}

TEST(caps_from_features)
{
	uint64_t host = 1ull << 0 | 1ull << 11 | 1ull << 12 | 1ull << 13 | 1ull << 56;
	uint64_t guest = 1ull << 1 | 1ull << 7 | 1ull << 8 | 1ull << 9 |
			 1ull << 54 | 1ull << 55;

	CHECK_EQ(pkt_offload_caps_tx(host), ALL_TX);
	CHECK_EQ(pkt_offload_caps_tx(guest), 0);
	CHECK_EQ(pkt_offload_caps_tx(host & ~1ull), 0);	/* TSO needs CSUM */
	CHECK_EQ(pkt_offload_caps_tx(1ull << 0 | 1ull << 11), PKT_OFL_CSUM | PKT_OFL_TSO4);
	CHECK_EQ(pkt_offload_caps_rx(guest), ALL_TX);
	CHECK_EQ(pkt_offload_caps_rx(host), 0);
	CHECK_EQ(pkt_offload_caps_rx(guest & ~2ull), 0);
	CHECK_EQ(pkt_offload_caps_rx(1ull << 1 | 1ull << 55), PKT_OFL_CSUM | PKT_OFL_USO6);
}

/* The state the validator gives a GSO frame of @s. */
static void gso_state(const struct fr_spec *s, uint16_t mss)
{
	uint32_t len = build(s);
	struct virtio_net_hdr h = gso_hdr(s, mss);

	if (s->flags & FR_TCP_CWR)
		h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	CHECK_EQ(check(&h, len, ALL_TX), 0);
}

TEST(delivery_needs)
{
	struct fr_spec s = { .payload = 3000 }, e = { .payload = 3000, .flags = FR_TCP_CWR };
	struct fr_spec u6 = { .udp = true, .ipv6 = true, .payload = 3000 };
	unsigned int tso = PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_TSO6;

	gso_state(&s, 1000);
	CHECK_EQ(pkt_offload_needs(&o, tso), 0);
	CHECK_EQ(pkt_offload_needs(&o, PKT_OFL_CSUM | PKT_OFL_TSO6), PKT_NEED_SEGMENT);
	CHECK_EQ(pkt_offload_needs(&o, PKT_OFL_CSUM), PKT_NEED_SEGMENT);
	CHECK_EQ(pkt_offload_needs(&o, 0), PKT_NEED_SEGMENT | PKT_NEED_CSUM);
	gso_state(&e, 1000);
	CHECK_EQ(pkt_offload_needs(&o, tso), PKT_NEED_SEGMENT);	/* no GUEST_ECN */
	CHECK_EQ(pkt_offload_needs(&o, tso | PKT_OFL_ECN), 0);
	gso_state(&u6, 1000);
	CHECK_EQ(pkt_offload_needs(&o, tso | PKT_OFL_USO4), PKT_NEED_SEGMENT);
	CHECK_EQ(pkt_offload_needs(&o, tso | PKT_OFL_USO6), 0);
	s.payload = 500;		/* one segment: only the checksum */
	gso_state(&s, 1000);
	CHECK_EQ(pkt_offload_needs(&o, 0), PKT_NEED_CSUM);
	CHECK_EQ(pkt_offload_needs(&o, PKT_OFL_CSUM), 0);
}

TEST(delivery_header)
{
	struct fr_spec s = { .payload = 3000, .tcp_opts = 12, .vlan = true };
	struct fr_spec e = { .ipv6 = true, .payload = 3000, .flags = FR_TCP_CWR };
	unsigned int all = ALL_TX;
	struct pkt_offload seg;
	struct virtio_net_hdr h;

	gso_state(&s, 1000);
	memset(&h, 0xee, sizeof(h));
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, all, &h), 0);
	CHECK_EQ(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK_EQ(le16_to_cpu(h.gso_size), 1000);
	CHECK_EQ(le16_to_cpu(h.csum_start), 38);
	CHECK_EQ(le16_to_cpu(h.csum_offset), 16);
	CHECK_EQ(le16_to_cpu(h.hdr_len), 18 + 20 + 32);
	CHECK_EQ(h.num_buffers, 0xeeee);	/* the caller's */
	/* Exact offsets even if the state says otherwise. */
	o.csum_offset = 6;
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, all, &h), 0);
	CHECK_EQ(le16_to_cpu(h.csum_offset), 16);
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, PKT_OFL_CSUM, &h), -EOPNOTSUPP);
	o.csum = PKT_CSUM_VALID;
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, all, &h), -EINVAL);

	gso_state(&e, 1400);
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, all, &h), 0);
	CHECK_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
	CHECK_EQ(le16_to_cpu(h.csum_start), 54);
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, all & ~PKT_OFL_ECN, &h), -EOPNOTSUPP);

	/* Segments: partial ones with NEEDS_CSUM, complete ones DATA_VALID. */
	gso_segment_offload(&o, GSO_CSUM_PARTIAL, &seg);
	o = seg;
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, PKT_OFL_CSUM, &h), 0);
	CHECK_EQ(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	CHECK_EQ(le16_to_cpu(h.csum_start), 54);
	CHECK_EQ(le16_to_cpu(h.csum_offset), 16);
	CHECK_EQ(le16_to_cpu(h.hdr_len), 0);
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, 0, &h), -EOPNOTSUPP);
	gso_segment_offload(&o, GSO_CSUM_FULL, &seg);
	o = seg;
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, PKT_OFL_CSUM, &h), 0);
	CHECK_EQ(h.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK_EQ(le16_to_cpu(h.csum_start), 0);
	/* Without GUEST_CSUM: flags 0. */
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, 0, &h), 0);
	CHECK_EQ(h.flags, 0);
	o.csum = PKT_CSUM_NONE;
	CHECK_EQ(pkt_offload_to_vnet_hdr(&o, PKT_OFL_CSUM, &h), 0);
	CHECK_EQ(h.flags, 0);
}

/* Validator to segmentation to delivery, the way the datapath will chain them. */
TEST(validated_frame_segments)
{
	struct fr_spec s = { .vlan = true, .payload = 7000, .tcp_opts = 12,
			     .flags = FR_TCP_ACK | FR_TCP_PSH | FR_TCP_CWR, .seq = 5 };
	static uint8_t segs[8][2048];
	struct gso_buf out[8];
	struct iovec iov[2];
	struct fr_info sfi;
	struct pkt_offload seg;
	uint32_t len;
	int n, i;

	gso_state(&s, 1448);
	len = fi.len;
	iov[0].iov_base = f;
	iov[0].iov_len = 61;
	iov[1].iov_base = f + 61;
	iov[1].iov_len = len - 61;
	for (i = 0; i < 8; i++) {
		out[i].data = segs[i];
		out[i].size = sizeof(segs[i]);
	}
	n = gso_segment(iov, 2, len, &o, GSO_CSUM_FULL, out, 8);
	CHECK_EQ(n, 5);
	gso_segment_offload(&o, GSO_CSUM_FULL, &seg);
	for (i = 0; i < n; i++) {
		sfi = fi;
		sfi.len = out[i].len;
		CHECK(fr_ip_ok(segs[i], &sfi));
		CHECK(fr_l4_ok(segs[i], &sfi));
		CHECK(memcmp(segs[i] + sfi.hlen, f + fi.hlen + (size_t)i * 1448,
			     out[i].len - sfi.hlen) == 0);
		/* Each segment passes the validator as a plain frame. */
		CHECK_EQ(pkt_offload_parse(segs[i], out[i].len, &o, &why), 0);
		CHECK_EQ(o.l4_off, seg.l4_off);
		CHECK_EQ(o.l4_hlen, seg.l4_hlen);
	}
}

UNIT_MAIN(T(tcp4_gso_accepted), T(ten_byte_header), T(tcp6_gso_accepted),
	  T(vlan_and_ipv4_options_accepted), T(ecn_with_permission),
	  T(uso_accepted), T(partial_csum_without_gso),
	  T(plain_frames_and_non_ip), T(data_valid_from_a_guest_ignored),
	  T(unknown_flags_and_hdr_len_ignored), T(small_gso_is_legal),
	  T(refuse_short_frame), T(refuse_needs_csum_not_negotiated),
	  T(refuse_csum_past_the_frame), T(refuse_csum_start_in_ethernet_header),
	  T(refuse_gso_type_problems), T(refuse_gso_without_needs_csum_or_size),
	  T(refuse_ecn_without_permission_or_tcp), T(refuse_gso_type_mismatch),
	  T(refuse_gso_csum_not_at_l4), T(refuse_bad_tcp_header),
	  T(refuse_headers_past_contiguous_head),
	  T(refuse_gso_on_what_cannot_be_segmented),
	  T(refuse_gso_longer_than_ip_allows), T(refuse_uso_over_128_segments),
	  T(caps_from_features), T(delivery_needs), T(delivery_header),
	  T(validated_frame_segments))
