/* SPDX-License-Identifier: MIT */
/*
 * test_gso.c - software segmentation and checksum completion over
 * scattered frames: every segment compared byte for byte with one that
 * frames.h builds directly (its own lengths, ids, seqs, flags and
 * checksums from a byte-by-byte one's complement sum)
 */
#include <errno.h>

#include "core/iov.h"
#include "core/util.h"
#include "frames.h"
#include "pkt/csum.h"
#include "pkt/gso.h"
#include "unit.h"

#define MAX_SEGS	160
#define SEG_ROOM	9216
#define MAX_IOV		1100
#define GAP		3	/* poison bytes between scattered pieces */

static uint8_t in[70000], expect[SEG_ROOM], flat[70000];
static uint8_t scatter_mem[70000 + MAX_IOV * GAP];
static uint8_t seg_mem[MAX_SEGS][SEG_ROOM];
static struct iovec iov[MAX_IOV];
static struct gso_buf out[MAX_SEGS];

/* The state the validator gives a GSO frame, written out by hand. */
static void hand_offload(struct pkt_offload *o, const struct fr_spec *s,
			 const struct fr_info *fi, uint16_t mss)
{
	memset(o, 0, sizeof(*o));
	o->csum = PKT_CSUM_PARTIAL;
	o->csum_start = (uint16_t)fi->l4;
	o->csum_offset = s->udp ? 6 : 16;
	o->gso_type = s->udp ? PKT_GSO_UDP_L4 : s->ipv6 ? PKT_GSO_TCPV6 : PKT_GSO_TCPV4;
	if (s->flags & FR_TCP_CWR)
		o->gso_type |= PKT_GSO_ECN;
	o->gso_size = mss;
	o->l3_off = (uint16_t)fi->l3;
	o->l4_off = (uint16_t)fi->l4;
	o->l4_hlen = (uint8_t)fi->l4_hlen;
	o->l3_proto = s->ipv6 ? PKT_L3_IPV6 : PKT_L3_IPV4;
	o->l4_proto = s->udp ? 17 : 6;
}

/*
 * Copy @f into separate pieces of scatter_mem, poison between them, cut
 * at the ascending offsets @cuts (repeats give empty iovecs).
 *
 * Return: number of iovecs
 */
static unsigned int scatter(const uint8_t *f, uint32_t len,
			    const uint32_t *cuts, unsigned int ncuts)
{
	uint32_t from = 0, to;
	uint8_t *p = scatter_mem;
	unsigned int i;

	for (i = 0; i <= ncuts; i++) {
		to = cuts && i < ncuts ? cuts[i] : len;
		memset(p, 0xee, GAP);
		p += GAP;
		memcpy(p, f + from, to - from);
		iov[i].iov_base = p;
		iov[i].iov_len = to - from;
		p += to - from;
		from = to;
	}
	memset(p, 0xee, GAP);
	return ncuts + 1;
}

static void setup_out(void)
{
	unsigned int i;

	for (i = 0; i < MAX_SEGS; i++) {
		out[i].data = seg_mem[i];
		out[i].size = SEG_ROOM;
		out[i].len = 0;
	}
}

/* Segment @i of @n as fr_build() makes it directly. */
static uint32_t build_expected(const struct fr_spec *s, uint16_t mss,
			       unsigned int flags, unsigned int i,
			       unsigned int n, struct fr_info *efi)
{
	struct fr_spec e = *s;

	e.payload_off = s->payload_off + i * mss;
	e.payload = s->payload - i * mss < mss ? s->payload - i * mss : mss;
	e.ip_id = (uint16_t)(s->ip_id + i);
	e.seq = s->seq + i * mss;
	if (i)
		e.flags &= (uint8_t)~FR_TCP_CWR;
	if (i + 1 < n)
		e.flags &= (uint8_t)~(FR_TCP_FIN | FR_TCP_PSH);
	e.csum = flags == GSO_CSUM_PARTIAL ? FR_CSUM_PSEUDO : FR_CSUM_FULL;
	return fr_build(expect, &e, efi);
}

/* Check segment @i against the directly built one. */
static void check_one(const struct fr_spec *s, uint16_t mss,
		      unsigned int flags, unsigned int i, unsigned int n)
{
	struct fr_info efi, ofi;
	uint32_t elen = build_expected(s, mss, flags, i, n, &efi);
	uint8_t *seg = out[i].data;

	CHECK_EQ(out[i].len, elen);
	if (out[i].len != elen)
		return;
	CHECK(memcmp(seg, expect, elen) == 0);
	ofi = efi;
	if (!s->ipv6)
		CHECK(fr_ip_ok(seg, &ofi));
	if (flags == GSO_CSUM_FULL) {
		CHECK(fr_l4_ok(seg, &ofi));
	} else {
		CHECK_EQ(csum_complete(seg, elen, efi.l4, s->udp ? 6 : 16), 0);
		CHECK(fr_l4_ok(seg, &ofi));
	}
}

/*
 * Build the frame @s describes, scatter it at @cuts, segment it with @mss
 * and compare every segment with its directly built twin.
 */
static void check_segments(const struct fr_spec *s, uint16_t mss,
			   unsigned int flags, const uint32_t *cuts,
			   unsigned int ncuts)
{
	unsigned int n = s->payload ? (s->payload + mss - 1) / mss : 1, i;
	struct pkt_offload o;
	struct fr_info fi;
	uint32_t len;
	int ret;

	len = fr_build(in, s, &fi);
	hand_offload(&o, s, &fi, mss);
	CHECK_EQ(pkt_offload_nsegs(&o, len), n);
	setup_out();
	ret = gso_segment(iov, scatter(in, len, cuts, ncuts), len, &o, flags,
			  out, MAX_SEGS);
	CHECK_EQ(ret, n);
	if (ret != (int)n)
		return;
	for (i = 0; i < n; i++)
		check_one(s, mss, flags, i, n);
	CHECK_EQ(out[n].len, 0);	/* nothing past the last segment */
}

TEST(tcp4_three_segments_last_short)
{
	struct fr_spec s = { .payload = 4000, .flags = FR_TCP_ACK | FR_TCP_PSH |
			     FR_TCP_FIN, .ip_id = 0x1234, .seq = 1000 };

	check_segments(&s, 1448, GSO_CSUM_FULL, NULL, 0);
	check_segments(&s, 1448, GSO_CSUM_PARTIAL, NULL, 0);
	/* Spot checks, beside the byte comparison. */
	CHECK_EQ(out[0].len, 14 + 20 + 20 + 1448);
	CHECK_EQ(out[2].len, 14 + 20 + 20 + 4000 - 2 * 1448);
	CHECK_EQ(fr_get16(out[1].data + 14 + 2), 20 + 20 + 1448);
	CHECK_EQ(fr_get16(out[2].data + 14 + 4), 0x1236);
	CHECK_EQ(fr_get32(out[2].data + 34 + 4), 1000 + 2 * 1448);
	CHECK_EQ(out[0].data[34 + 13], FR_TCP_ACK);
	CHECK_EQ(out[1].data[34 + 13], FR_TCP_ACK);
	CHECK_EQ(out[2].data[34 + 13], FR_TCP_ACK | FR_TCP_PSH | FR_TCP_FIN);
}

TEST(tcp4_cwr_on_first_only)
{
	struct fr_spec s = { .payload = 3001, .flags = FR_TCP_ACK | FR_TCP_CWR |
			     FR_TCP_PSH, .seq = 7 };

	check_segments(&s, 1000, GSO_CSUM_FULL, NULL, 0);
	CHECK_EQ(out[0].data[34 + 13], FR_TCP_ACK | FR_TCP_CWR);
	CHECK_EQ(out[1].data[34 + 13], FR_TCP_ACK);
	CHECK_EQ(out[3].data[34 + 13], FR_TCP_ACK | FR_TCP_PSH);
}

TEST(tcp6_segments)
{
	struct fr_spec s = { .ipv6 = true, .payload = 10000, .tcp_opts = 12,
			     .flags = FR_TCP_ACK | FR_TCP_PSH, .seq = 0xfffff000u };

	/* The sequence number wraps past 2^32 on the way. */
	check_segments(&s, 1428, GSO_CSUM_FULL, NULL, 0);
	check_segments(&s, 1428, GSO_CSUM_PARTIAL, NULL, 0);
	CHECK_EQ(fr_get16(out[0].data + 14 + 4), 32 + 1428);
	CHECK_EQ(fr_get16(out[7].data + 14 + 4), 32 + 10000 - 7 * 1428);
}

TEST(payload_a_multiple_of_mss)
{
	struct fr_spec s = { .payload = 3 * 1000, .flags = FR_TCP_ACK | FR_TCP_FIN };
	struct fr_spec s6 = s;

	check_segments(&s, 1000, GSO_CSUM_FULL, NULL, 0);
	CHECK_EQ(out[2].len, 54 + 1000);
	CHECK_EQ(out[3].len, 0);
	s6.ipv6 = true;
	check_segments(&s6, 1000, GSO_CSUM_PARTIAL, NULL, 0);
}

TEST(payload_at_most_mss_one_segment)
{
	struct fr_spec s = { .payload = 1448, .flags = FR_TCP_ACK | FR_TCP_PSH |
			     FR_TCP_CWR };

	check_segments(&s, 1448, GSO_CSUM_FULL, NULL, 0);
	s.payload = 1;
	check_segments(&s, 1448, GSO_CSUM_FULL, NULL, 0);
	s.payload = 0;		/* headers only: one segment, no payload */
	check_segments(&s, 1448, GSO_CSUM_PARTIAL, NULL, 0);
	CHECK_EQ(out[0].len, 54);
}

TEST(ipv4_options_and_tcp_options)
{
	struct fr_spec s = { .ip_opts = 40, .tcp_opts = 12, .payload = 5000,
			     .flags = FR_TCP_ACK | FR_TCP_PSH, .seq = 99 };

	check_segments(&s, 1200, GSO_CSUM_FULL, NULL, 0);
	check_segments(&s, 1200, GSO_CSUM_PARTIAL, NULL, 0);
	CHECK_EQ(fr_get16(out[0].data + 14 + 2), 60 + 32 + 1200);
}

TEST(vlan_tagged)
{
	struct fr_spec s = { .vlan = true, .payload = 2900, .ip_id = 5,
			     .flags = FR_TCP_ACK | FR_TCP_FIN };
	struct fr_spec s6 = s;

	check_segments(&s, 1448, GSO_CSUM_FULL, NULL, 0);
	CHECK_EQ(fr_get16(out[0].data + 12), 0x8100);
	CHECK_EQ(fr_get16(out[1].data + 18 + 4), 6);
	s6.ipv6 = true;
	check_segments(&s6, 1448, GSO_CSUM_PARTIAL, NULL, 0);
}

TEST(ip_id_wraps)
{
	struct fr_spec s = { .payload = 2500, .ip_id = 0xffff, .flags = FR_TCP_ACK };

	check_segments(&s, 1000, GSO_CSUM_FULL, NULL, 0);
	CHECK_EQ(fr_get16(out[1].data + 14 + 4), 0);
}

TEST(scattered_at_awkward_boundaries)
{
	static const uint32_t cut_sets[][6] = {
		{ 1, 13, 14, 15, 33, 35 },	/* inside Ethernet, IP, TCP */
		{ 34, 35, 50, 51, 53, 54 },	/* inside TCP, then at payload */
		{ 54, 55, 1501, 1502, 1503, 2951 },	/* odd payload splits */
		{ 0, 0, 54, 54, 2000, 2000 },	/* empty iovecs */
		{ 7, 61, 1447, 2897, 2898, 4001 },
		{ 1502, 1503, 2950, 2951, 4398, 4399 },	/* at segment edges */
	};
	struct fr_spec s = { .payload = 4500, .flags = FR_TCP_ACK | FR_TCP_PSH,
			     .ip_id = 77, .seq = 123456 };
	struct fr_spec s6 = s;
	unsigned int i;

	s6.ipv6 = true;
	s6.vlan = true;
	for (i = 0; i < ARRAY_SIZE(cut_sets); i++) {
		check_segments(&s, 1448, GSO_CSUM_FULL, cut_sets[i], 6);
		check_segments(&s, 1448, GSO_CSUM_PARTIAL, cut_sets[i], 6);
		check_segments(&s6, 1448, GSO_CSUM_FULL, cut_sets[i], 6);
	}
}

TEST(scattered_every_piece_small)
{
	struct fr_spec s = { .payload = 3000, .flags = FR_TCP_ACK, .tcp_opts = 12 };
	uint32_t cuts[MAX_IOV - 1], pos = 0;
	unsigned int n = 0;

	/* Pieces of 1 to 7 bytes: nothing lands where a word would. */
	while (n < MAX_IOV - 1 && pos + 7 < 3066) {
		pos += 1 + n % 7;
		cuts[n++] = pos;
	}
	check_segments(&s, 1000, GSO_CSUM_FULL, cuts, n);
	check_segments(&s, 999, GSO_CSUM_PARTIAL, cuts, n);
}

TEST(tso_64k_in_guest_pages)
{
	struct fr_spec s = { .payload = 65535 - 20 - 32, .tcp_opts = 12,
			     .flags = FR_TCP_ACK | FR_TCP_PSH, .seq = 42 };
	struct fr_spec s6 = s;
	uint32_t cuts[20];
	unsigned int i;

	/* A 64 KiB frame in 4 KiB pages, the first one holding a 12-byte
	 * virtio-net header before the frame. */
	for (i = 0; i < 16; i++)
		cuts[i] = 4084 + i * 4096;
	check_segments(&s, 1448, GSO_CSUM_FULL, cuts, 16);
	CHECK_EQ(out[45].len, 14 + 20 + 32 + 65483 - 45 * 1448);
	check_segments(&s, 1448, GSO_CSUM_PARTIAL, cuts, 16);
	s6.ipv6 = true;
	s6.payload = 65535 - 32;
	check_segments(&s6, 1428, GSO_CSUM_FULL, cuts, 16);
	check_segments(&s6, 8948, GSO_CSUM_FULL, cuts, 16);	/* jumbo MSS */
}

TEST(uso_ipv4_and_ipv6)
{
	struct fr_spec s = { .udp = true, .payload = 5000, .ip_id = 9 };
	static const uint32_t cuts[] = { 3, 41, 43, 1450, 3001 };
	struct fr_spec s6 = s;

	check_segments(&s, 1472, GSO_CSUM_FULL, NULL, 0);
	CHECK_EQ(fr_get16(out[0].data + 34 + 4), 8 + 1472);
	CHECK_EQ(fr_get16(out[3].data + 34 + 4), 8 + 5000 - 3 * 1472);
	check_segments(&s, 1472, GSO_CSUM_PARTIAL, cuts, 5);
	s6.ipv6 = true;
	s6.vlan = true;
	check_segments(&s6, 1452, GSO_CSUM_FULL, cuts, 5);
	check_segments(&s6, 1452, GSO_CSUM_PARTIAL, NULL, 0);
}

TEST(segment_offload_state)
{
	struct fr_spec s = { .payload = 3000 };
	struct pkt_offload o, seg;
	struct fr_info fi;

	fr_build(in, &s, &fi);
	hand_offload(&o, &s, &fi, 1000);
	gso_segment_offload(&o, GSO_CSUM_PARTIAL, &seg);
	CHECK_EQ(seg.gso_type, PKT_GSO_NONE);
	CHECK_EQ(seg.gso_size, 0);
	CHECK_EQ(seg.csum, PKT_CSUM_PARTIAL);
	CHECK_EQ(seg.csum_start, 34);
	CHECK_EQ(seg.csum_offset, 16);
	CHECK_EQ(seg.l4_off, 34);
	CHECK_EQ(seg.l4_hlen, 20);
	CHECK_EQ(pkt_offload_nsegs(&seg, 1054), 1);
	gso_segment_offload(&o, GSO_CSUM_FULL, &seg);
	CHECK_EQ(seg.csum, PKT_CSUM_VALID);
	CHECK_EQ(seg.csum_start, 0);
}

TEST(segment_refusals)
{
	struct fr_spec s = { .payload = 3000 };
	struct pkt_offload o, bad;
	struct iovec whole;
	struct fr_info fi;
	uint32_t len = fr_build(in, &s, &fi);

	whole.iov_base = in;
	whole.iov_len = len;
	hand_offload(&o, &s, &fi, 1000);
	setup_out();
	CHECK_EQ(gso_segment(&whole, 1, len, &o, 0, out, 2), -ENOSPC);
	out[2].size = 54 + 999;
	CHECK_EQ(gso_segment(&whole, 1, len, &o, 0, out, 3), -ENOSPC);
	out[2].size = 54 + 1000;
	CHECK_EQ(gso_segment(&whole, 1, len, &o, 0, out, 3), 3);
	whole.iov_len = len - 1;	/* the iovecs hold less than len */
	CHECK_EQ(gso_segment(&whole, 1, len, &o, 0, out, 3), -EINVAL);
	whole.iov_len = len;
	bad = o;
	bad.gso_type = PKT_GSO_NONE;
	CHECK_EQ(gso_segment(&whole, 1, len, &bad, 0, out, 3), -EINVAL);
	bad = o;
	bad.gso_size = 0;
	CHECK_EQ(gso_segment(&whole, 1, len, &bad, 0, out, 3), -EINVAL);
	bad = o;
	bad.gso_type = PKT_GSO_TCPV6;	/* on an IPv4 frame */
	CHECK_EQ(gso_segment(&whole, 1, len, &bad, 0, out, 3), -EINVAL);
	bad = o;
	bad.l4_hlen = 0;
	CHECK_EQ(gso_segment(&whole, 1, len, &bad, 0, out, 3), -EINVAL);
	bad = o;
	bad.l4_off = 20;		/* inside the IPv4 header */
	CHECK_EQ(gso_segment(&whole, 1, len, &bad, 0, out, 3), -EINVAL);
	bad = o;
	bad.l4_hlen = 120;		/* headers past PKT_OFFLOAD_HDR_MAX */
	CHECK_EQ(gso_segment(&whole, 1, len, &bad, 0, out, 3), -EINVAL);
	CHECK_EQ(gso_segment(&whole, 1, 40, &o, 0, out, 3), -EINVAL);
}

/* Complete a partial checksum scattered at @cuts; compare with csum_complete(). */
static void check_complete(uint32_t len, uint32_t start, uint32_t offset,
			   const uint32_t *cuts, unsigned int ncuts)
{
	unsigned int niov = scatter(in, len, cuts, ncuts), i;
	const uint8_t *end;

	memcpy(flat, in, len);
	CHECK_EQ(csum_complete(flat, len, start, offset), 0);
	CHECK_EQ(gso_csum_complete(iov, niov, len, start, offset), 0);
	for (i = 0; i < niov; i++)	/* nothing written between pieces */
		CHECK(memcmp((uint8_t *)iov[i].iov_base - GAP, "\xee\xee\xee", GAP) == 0);
	end = (const uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len;
	CHECK(memcmp(end, "\xee\xee\xee", GAP) == 0);
	CHECK_EQ(iov_to_buf(iov, niov, 0, flat + len, len), len);
	CHECK(memcmp(flat, flat + len, len) == 0);
}

TEST(csum_complete_scattered_tcp_udp)
{
	struct fr_spec s = { .payload = 101, .flags = FR_TCP_ACK };
	struct fr_spec u = { .udp = true, .ipv6 = true, .payload = 77 };
	struct fr_info fi;
	uint32_t len, a, b, cuts[2];

	len = fr_build(in, &s, &fi);
	/* Every single cut and every pair of cuts around the field. */
	for (a = 0; a <= len; a++)
		check_complete(len, fi.l4, 16, &a, 1);
	for (a = fi.l4 + 10; a < fi.l4 + 24; a++)
		for (b = a; b < fi.l4 + 24; b++) {
			cuts[0] = a;
			cuts[1] = b;
			check_complete(len, fi.l4, 16, cuts, 2);
		}
	check_complete(len, fi.l4, 16, NULL, 0);
	memcpy(flat, in, len);
	CHECK_EQ(csum_complete(flat, len, fi.l4, 16), 0);
	CHECK(fr_l4_ok(flat, &fi));

	len = fr_build(in, &u, &fi);
	for (a = 0; a <= len; a++)
		check_complete(len, fi.l4, 6, &a, 1);
}

TEST(csum_complete_odd_start_and_zero_result)
{
	uint32_t i, cuts[3] = { 16, 17, 40 };
	struct iovec one;
	uint16_t c;

	for (i = 0; i < 200; i++)
		in[i] = (uint8_t)(i * 37 + 11);
	/* A range starting at an odd offset (an inner header). */
	check_complete(200, 15, 4, cuts, 3);
	check_complete(199, 21, 100, cuts, 3);
	/* A range summing to 0xffff gets 0xffff, never 0. */
	memset(in, 0, 64);
	in[20] = 0xff;
	in[21] = 0xff;
	one.iov_base = in;
	one.iov_len = 64;
	CHECK_EQ(gso_csum_complete(&one, 1, 64, 20, 10), 0);
	memcpy(&c, in + 30, 2);
	CHECK_EQ(c, 0xffff);
}

TEST(csum_complete_refusals)
{
	struct iovec one = { in, 100 };

	CHECK_EQ(gso_csum_complete(&one, 1, 100, 100, 0), -EINVAL);
	CHECK_EQ(gso_csum_complete(&one, 1, 100, 90, 9), -EINVAL);	/* len - 1 */
	CHECK_EQ(gso_csum_complete(&one, 1, 100, 90, 0xfffffffeu), -EINVAL);
	CHECK_EQ(gso_csum_complete(&one, 1, 100, 90, 8), 0);
	CHECK_EQ(gso_csum_complete(&one, 1, 101, 90, 8), -EINVAL);	/* iov short */
}

UNIT_MAIN(T(tcp4_three_segments_last_short), T(tcp4_cwr_on_first_only),
	  T(tcp6_segments), T(payload_a_multiple_of_mss),
	  T(payload_at_most_mss_one_segment), T(ipv4_options_and_tcp_options),
	  T(vlan_tagged), T(ip_id_wraps), T(scattered_at_awkward_boundaries),
	  T(scattered_every_piece_small), T(tso_64k_in_guest_pages),
	  T(uso_ipv4_and_ipv6), T(segment_offload_state), T(segment_refusals),
	  T(csum_complete_scattered_tcp_udp),
	  T(csum_complete_odd_start_and_zero_result), T(csum_complete_refusals))
