/* SPDX-License-Identifier: MIT */
/*
 * fuzz_offload.c - libFuzzer target for the virtio-net header validator
 * (pkt_offload_from_vnet_hdr()) and the software fallbacks behind it
 * (gso_segment(), gso_csum_complete())
 *
 * A guest transmits a header and a frame, both its own choice. The
 * validator must refuse with -EPROTO, or accept with a state whose every
 * offset lies inside the frame and which the segmenter can cut without
 * -EINVAL. Every segment must be a frame the parser accepts with the same
 * headers, correct lengths and a checksum that verifies against the plain
 * byte-by-byte one's complement sum below (never gso_csum_add()). The
 * state must also make a header that, read back by the validator, gives
 * the same state. Anything else aborts.
 *
 * Input layout:
 *   [0]       PKT_OFL_* bits the sending guest negotiated, as they are in
 *             pkt/offload.h: 1 CSUM, 2 TSO4, 4 TSO6, 8 ECN, 16 USO4,
 *             32 USO6, 64 TRUST_VALID (bit 7 is ignored)
 *   [1..10]   struct virtio_net_hdr, little endian, without num_buffers
 *   [11]      PKT_OFL_* bits the receiving port accepts (same bits): what
 *             pkt_offload_needs() leaves to software
 *   [12..17]  three little-endian 16-bit cut points, each taken modulo the
 *             frame length + 1 and sorted: the frame is handed to
 *             gso_segment() and gso_csum_complete() as 4 iovecs (some
 *             possibly empty), each in a heap block of its own
 *   [18..]    the frame, from the first byte of its Ethernet header
 *
 * The validator gets only the frame's first MIN(len, PKT_OFFLOAD_HDR_MAX)
 * bytes, in a heap block of that size: it may read no more. Headers are
 * read and written in a struct virtio_net_hdr whose num_buffers ASan
 * poisons: neither side may touch it. Segments go to PKT_USO_MAX_SEGS
 * buffers of 64 KiB, allocated once, each a heap block of its own so ASan
 * sees an overrun of any.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sanitizer/asan_interface.h>
#include <sys/uio.h>

#include "pkt/gso.h"
#include "pkt/offload.h"

#define IN_HDR		18	/* input bytes in front of the frame */
#define NCUT		3
#define NIOV		(NCUT + 1)
#define NOUT		PKT_USO_MAX_SEGS
#define SEG_ROOM	65536u
#define CAPS_MASK	0x7fu
#define ETH_HLEN	14
#define TCP		6
#define UDP		17
#define TCP_FIN		0x01
#define TCP_PSH		0x08
#define TCP_CWR		0x80

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gso_buf out[NOUT];
static struct virtio_net_hdr *vh_in, *vh_out;	/* num_buffers poisoned */

/* A header of which only the first 10 bytes may be touched. */
static struct virtio_net_hdr *vnet_hdr_alloc(void)
{
	struct virtio_net_hdr *vh = malloc(sizeof(*vh));

	if (!vh)
		abort();
	ASAN_POISON_MEMORY_REGION(&vh->num_buffers, sizeof(vh->num_buffers));
	return vh;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned int i;

	(void)argc, (void)argv;
	for (i = 0; i < NOUT; i++) {
		out[i].data = malloc(SEG_ROOM);
		if (!out[i].data)
			abort();
		out[i].size = SEG_ROOM;
	}
	vh_in = vnet_hdr_alloc();
	vh_out = vnet_hdr_alloc();
	return 0;
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Big-endian one's complement sum of @n bytes, byte by byte, not folded. */
static uint64_t ref_sum(uint64_t s, const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		s += (i & 1) ? d[i] : (uint64_t)d[i] << 8;
	return s;
}

static uint16_t ref_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Pseudo-header sum of the L4 segment at @o's l4_off in @f (@len bytes). */
static uint64_t ref_pseudo(const uint8_t *f, uint32_t len,
			   const struct pkt_offload *o)
{
	const uint8_t *ip = f + o->l3_off;
	uint32_t l4_len = len - o->l4_off;

	if (o->l3_proto == PKT_L3_IPV4)
		return ref_sum(0, ip + 12, 8) + ip[9] + l4_len;
	return ref_sum(0, ip + 8, 32) + ip[6] + (l4_len >> 16) +
	       (l4_len & 0xffff);
}

/* The TCP or UDP checksum of @f verifies, pseudo-header included. */
static bool ref_l4_ok(const uint8_t *f, uint32_t len,
		      const struct pkt_offload *o)
{
	return ref_fold(ref_pseudo(f, len, o) +
			ref_sum(0, f + o->l4_off, len - o->l4_off)) == 0xffff;
}

static unsigned int l4_csum_off(const struct pkt_offload *o)
{
	return o->l4_proto == TCP ? 16 : 6;
}

/* The PKT_GSO_* a virtio gso_type asks for, ECN left out; -1: none. */
static int vnet_gso_kind(uint8_t type)
{
	switch (type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return PKT_GSO_TCPV4;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return PKT_GSO_TCPV6;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		return PKT_GSO_UDP_L4;
	default:
		return -1;
	}
}

/* The parsed headers of @o: where they are, and that they fit. */
static void check_headers(const struct pkt_offload *o, uint32_t len)
{
	uint32_t head = len < PKT_OFFLOAD_HDR_MAX ? len : PKT_OFFLOAD_HDR_MAX;

	check(o->pad == 0);
	check(o->l3_proto <= PKT_L3_IPV6);
	if (o->l3_off) {
		/* Ethernet, then zero to two tags. */
		check(o->l3_off >= ETH_HLEN && o->l3_off <= ETH_HLEN + 8 &&
		      (o->l3_off - ETH_HLEN) % 4 == 0 && o->l3_off <= len);
	}
	if (o->l3_proto != PKT_L3_NONE)
		check(o->l3_off >= ETH_HLEN);
	if (o->l4_off) {
		check(o->l3_proto != PKT_L3_NONE);
		if (o->l3_proto == PKT_L3_IPV4)
			check(o->l4_off >= o->l3_off + 20 &&
			      o->l4_off <= o->l3_off + 60);
		else
			check(o->l4_off == o->l3_off + 40);
		check(o->l4_off <= head);
	}
	if (o->l4_hlen) {
		check(o->l4_off != 0);
		check(pkt_offload_hlen(o) <= head);
		if (o->l4_proto == UDP)
			check(o->l4_hlen == 8);
		else
			check(o->l4_proto == TCP && o->l4_hlen >= 20 &&
			      o->l4_hlen <= 60 && o->l4_hlen % 4 == 0);
	}
}

/* An accepted header: the state says what it asked, inside the frame. */
static void check_accepted(const struct virtio_net_hdr *vh, uint32_t len,
			   unsigned int caps, const struct pkt_offload *o)
{
	int want = vnet_gso_kind(vh->gso_type);
	unsigned int kind = pkt_gso_kind(o), hlen = pkt_offload_hlen(o);
	uint32_t start = o->csum_start, off = o->csum_offset;

	check(len >= ETH_HLEN);
	check_headers(o, len);
	switch (o->csum) {
	case PKT_CSUM_PARTIAL:
		check((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		      (caps & PKT_OFL_CSUM));
		check(start == le16_to_cpu(vh->csum_start) &&
		      off == le16_to_cpu(vh->csum_offset));
		check(start >= ETH_HLEN && start >= o->l3_off);
		check(start + off + 2 <= len);
		/* Summing from a TCP/UDP header: the whole header is there. */
		if (o->l4_off && start == o->l4_off &&
		    (o->l4_proto == TCP || o->l4_proto == UDP))
			check(o->l4_hlen && start + o->l4_hlen <= len);
		break;
	case PKT_CSUM_VALID:
		check(!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		      (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) &&
		      (caps & PKT_OFL_TRUST_VALID));
		check(!start && !off);
		break;
	case PKT_CSUM_NONE:
		check(!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM));
		check(!(vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) ||
		      !(caps & PKT_OFL_TRUST_VALID));
		check(!start && !off);
		break;
	default:
		abort();
	}
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		/* Any GSO request, even one kept whole, was sound. */
		check(want >= 0 && o->csum == PKT_CSUM_PARTIAL);
		check(o->l4_hlen && start == o->l4_off &&
		      off == l4_csum_off(o) && le16_to_cpu(vh->gso_size));
		check(len <= o->l3_off + 65535u +
			     (o->l3_proto == PKT_L3_IPV6 ? 40 : 0));
		if (want == PKT_GSO_TCPV4)
			check(o->l3_proto == PKT_L3_IPV4 && o->l4_proto == TCP &&
			      (caps & PKT_OFL_TSO4));
		else if (want == PKT_GSO_TCPV6)
			check(o->l3_proto == PKT_L3_IPV6 && o->l4_proto == TCP &&
			      (caps & PKT_OFL_TSO6));
		else
			check(o->l4_proto == UDP &&
			      !(vh->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
			      (caps & (o->l3_proto == PKT_L3_IPV4 ?
				       PKT_OFL_USO4 : PKT_OFL_USO6)));
		if (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			check(caps & PKT_OFL_ECN);
	}
	if (kind == PKT_GSO_NONE) {
		check(o->gso_type == PKT_GSO_NONE && !o->gso_size);
		/* A GSO request kept whole: its payload fits one segment. */
		if (want >= 0)
			check(len - hlen <= le16_to_cpu(vh->gso_size));
	} else {
		check((int)kind == want && o->gso_size &&
		      o->gso_size == le16_to_cpu(vh->gso_size));
		check((o->gso_type & PKT_GSO_ECN) ==
		      (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN ? PKT_GSO_ECN : 0));
		check(o->gso_type == (kind | (o->gso_type & PKT_GSO_ECN)));
		check(hlen <= PKT_OFFLOAD_HDR_MAX && len - hlen > o->gso_size);
		if (kind == PKT_GSO_UDP_L4)
			check(pkt_offload_nsegs(o, len) <= PKT_USO_MAX_SEGS);
	}
	/* What a port may send, the same port takes back as it is. */
	check(pkt_offload_needs(o, caps) == 0);
}

/*
 * Deliver @o's frame to a guest accepting @caps, then take it back in:
 * the header pkt_offload_to_vnet_hdr() writes must validate to the same
 * state (a DATA_VALID believed: the receiver trusts the switch), except
 * that a verified checksum is not announced to a guest without CSUM.
 */
static void check_round_trip(const struct pkt_offload *o, unsigned int caps,
			     const uint8_t *frame, uint32_t len)
{
	struct virtio_net_hdr *vh = vh_out;
	struct pkt_offload back, want = *o;
	const char *why = NULL;

	check(pkt_offload_to_vnet_hdr(o, caps, vh) == 0);
	if (o->csum == PKT_CSUM_VALID) {
		check(vh->flags == ((caps & PKT_OFL_CSUM) ?
				    VIRTIO_NET_HDR_F_DATA_VALID : 0));
		if (!(caps & PKT_OFL_CSUM))
			want.csum = PKT_CSUM_NONE;
	}
	check(pkt_offload_from_vnet_hdr(vh, frame, len,
					caps | PKT_OFL_TRUST_VALID, &back,
					&why) == 0);
	check(memcmp(&back, &want, sizeof(want)) == 0);
}

/*
 * gso_csum_complete() on the scattered frame: the field gets the
 * complement of the sum from csum_start to the end, itself included as it
 * was (0 as 0xffff); no other byte changes.
 */
static void check_complete(const struct pkt_offload *o, const uint8_t *frame,
			   uint32_t len, struct iovec *iov)
{
	uint32_t field = (uint32_t)o->csum_start + o->csum_offset, pos = 0;
	uint16_t want = (uint16_t)~ref_fold(ref_sum(0, frame + o->csum_start,
						     len - o->csum_start));
	uint8_t got[2] = { 0 };
	unsigned int i;
	size_t j;

	if (!want)
		want = 0xffff;
	check(gso_csum_complete(iov, NIOV, len, o->csum_start,
				o->csum_offset) == 0);
	for (i = 0; i < NIOV; i++) {
		const uint8_t *b = iov[i].iov_base;

		for (j = 0; j < iov[i].iov_len; j++, pos++) {
			if (pos == field || pos == field + 1)
				got[pos - field] = b[j];
			else
				check(b[j] == frame[pos]);
		}
	}
	check(pos == len && get16(got) == want);
}

/*
 * Segment @i of @n against the frame it was cut from: lengths, the fixed
 * header fields, its payload slice, its checksums, and the state
 * gso_segment_offload() gives it.
 */
static void check_segment(const struct pkt_offload *o, unsigned int flags,
			  unsigned int caps, const uint8_t *frame,
			  uint32_t len, unsigned int i, unsigned int n)
{
	uint32_t hlen = pkt_offload_hlen(o), mss = o->gso_size;
	uint32_t poff = hlen + i * mss, plen = len - poff;
	const uint8_t *seg = out[i].data;
	const uint8_t *ip = seg + o->l3_off, *l4 = seg + o->l4_off;
	const uint8_t *oip = frame + o->l3_off, *ol4 = frame + o->l4_off;
	struct pkt_offload p, so;
	const char *why = NULL;
	struct iovec one;
	uint32_t slen;
	uint8_t tflags;

	if (plen > mss)
		plen = mss;
	slen = hlen + plen;
	check(out[i].len == slen && slen <= SEG_ROOM && plen);
	check(memcmp(seg + hlen, frame + poff, plen) == 0);
	check(memcmp(seg, frame, o->l3_off) == 0);
	if (o->l3_proto == PKT_L3_IPV4) {
		check(get16(ip + 2) == slen - o->l3_off);
		check(get16(ip + 4) == (uint16_t)(get16(oip + 4) + i));
		check(ref_fold(ref_sum(0, ip, o->l4_off - o->l3_off)) == 0xffff);
	} else {
		check(get16(ip + 4) == slen - o->l3_off - 40);
	}
	if (o->l4_proto == UDP) {
		check(get16(l4 + 4) == slen - o->l4_off);
	} else {
		check(get32(l4 + 4) == get32(ol4 + 4) + i * mss);
		tflags = ol4[13];
		if (i)
			tflags &= (uint8_t)~TCP_CWR;
		if (i + 1 < n)
			tflags &= (uint8_t)~(TCP_FIN | TCP_PSH);
		check(l4[13] == tflags);
	}

	/* The parser finds the same headers in it. */
	check(pkt_offload_parse(seg, slen, &p, &why) == 0 && !why);
	check(p.l3_off == o->l3_off && p.l4_off == o->l4_off &&
	      p.l4_hlen == o->l4_hlen && p.l3_proto == o->l3_proto &&
	      p.l4_proto == o->l4_proto);

	gso_segment_offload(o, flags, &so);
	check(pkt_offload_needs(&so, caps) == 0);
	check_round_trip(&so, caps, seg, slen);

	if (flags & GSO_CSUM_PARTIAL) {
		check(so.csum == PKT_CSUM_PARTIAL && so.csum_start == o->l4_off &&
		      so.csum_offset == l4_csum_off(o));
		check(get16(l4 + l4_csum_off(o)) ==
		      ref_fold(ref_pseudo(seg, slen, o)));
		one.iov_base = out[i].data;
		one.iov_len = slen;
		check(gso_csum_complete(&one, 1, slen, so.csum_start,
					so.csum_offset) == 0);
	} else {
		check(so.csum == PKT_CSUM_VALID);
	}
	check(ref_l4_ok(seg, slen, o));
}

/* Segment the scattered frame for a port that lacks @o's offloads. */
static void check_segmentation(const struct pkt_offload *o, unsigned int need,
			       unsigned int caps, const uint8_t *frame,
			       uint32_t len, const struct iovec *iov)
{
	unsigned int flags = need & PKT_NEED_CSUM ? GSO_CSUM_FULL :
						     GSO_CSUM_PARTIAL;
	uint32_t hlen = pkt_offload_hlen(o), payload = len - hlen;
	uint32_t first = hlen + (payload < o->gso_size ? payload : o->gso_size);
	unsigned int n = (payload + o->gso_size - 1) / o->gso_size, i;
	int ret;

	check(pkt_offload_nsegs(o, len) == n && n >= 2);
	for (i = 0; i < NOUT; i++)
		out[i].len = 0;
	ret = gso_segment(iov, NIOV, len, o, flags, out, NOUT);
	if (n > NOUT || first > SEG_ROOM) {
		check(ret == -ENOSPC);
		return;
	}
	check(ret == (int)n);
	for (i = 0; i < n; i++)
		check_segment(o, flags, caps, frame, len, i, n);
	if (n < NOUT)
		check(out[n].len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *frame = data + IN_HDR;
	unsigned int tx_caps, rx_caps, need, i;
	uint32_t len, head_len, cut[NCUT], from = 0, c, t;
	struct virtio_net_hdr *vh = vh_in;
	struct iovec iov[NIOV];
	struct pkt_offload o;
	const char *why = NULL;
	uint8_t *head;
	int ret;

	if (size < IN_HDR || size - IN_HDR > UINT32_MAX)
		return 0;
	len = (uint32_t)(size - IN_HDR);
	tx_caps = data[0] & CAPS_MASK;
	rx_caps = data[11] & CAPS_MASK;

	/* The validator's view: the header, the frame's head. */
	head_len = len < PKT_OFFLOAD_HDR_MAX ? len : PKT_OFFLOAD_HDR_MAX;
	head = malloc(head_len);
	check(head || !head_len);
	memcpy(vh, data + 1, offsetof(struct virtio_net_hdr, num_buffers));
	memcpy(head, frame, head_len);
	ret = pkt_offload_from_vnet_hdr(vh, head, len, tx_caps, &o, &why);
	if (ret) {
		check(ret == -EPROTO && why && *why);
		goto out;
	}
	check_accepted(vh, len, tx_caps, &o);
	check_round_trip(&o, tx_caps, head, len);

	/*
	 * What the receiver needs is judged by its consequences, not worked
	 * out again: nothing needed means it takes the frame as it is;
	 * otherwise it cannot, and after the work every segment it gets is
	 * one it takes as it is.
	 */
	need = pkt_offload_needs(&o, rx_caps);
	if (!need) {
		check_round_trip(&o, rx_caps, head, len);
		goto out;
	}
	check(pkt_offload_to_vnet_hdr(&o, rx_caps, vh_out) == -EOPNOTSUPP);

	/* The whole frame in NIOV pieces, cut where the input says. */
	for (i = 0; i < NCUT; i++)
		cut[i] = (uint32_t)(data[12 + 2 * i] | data[13 + 2 * i] << 8) %
			 (len + 1);
	for (i = 1; i < NCUT; i++)
		for (c = i; c && cut[c - 1] > cut[c]; c--) {
			t = cut[c];
			cut[c] = cut[c - 1];
			cut[c - 1] = t;
		}
	for (i = 0; i < NIOV; i++) {
		uint32_t to = i < NCUT ? cut[i] : len;

		iov[i].iov_len = to - from;
		iov[i].iov_base = malloc(to - from);
		check(iov[i].iov_base != NULL || to == from);
		if (to > from)
			memcpy(iov[i].iov_base, frame + from, to - from);
		from = to;
	}

	if (need & PKT_NEED_SEGMENT)
		check_segmentation(&o, need, rx_caps, frame, len, iov);
	else
		check_complete(&o, frame, len, iov);
	for (i = 0; i < NIOV; i++)
		free(iov[i].iov_base);
out:
	free(head);
	return 0;
}
