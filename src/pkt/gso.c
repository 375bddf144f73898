/* SPDX-License-Identifier: MIT */
/* gso.c - software segmentation and checksums over scattered frames */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/iov.h"
#include "core/util.h"
#include "pkt/gso.h"

#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define TCP_CSUM_OFF	16
#define UDP_CSUM_OFF	6
#define TCP_FIN		0x01
#define TCP_PSH		0x08
#define TCP_CWR		0x80

/**
 * gso_csum_add() - add @n bytes to a one's complement sum
 * @sum:	running sum (0 to start), from gso_csum_add() only
 * @d:		bytes, at an even offset of the checksummed sequence
 * @n:		how many; an odd count is padded with a zero byte
 *
 * The sum is kept in the host's word order: one's complement addition
 * commutes with swapping the bytes of every word (RFC 1071 §2), so
 * gso_csum_fold()'s result, stored with memcpy(), is the checksum in
 * network order on either kind of host.
 *
 * Return: the new sum, not folded (good for 16 GiB of data)
 */
uint64_t gso_csum_add(uint64_t sum, const uint8_t *d, size_t n)
{
	uint32_t w;
	uint16_t h;
	uint8_t last[2];

	for (; n >= 4; d += 4, n -= 4) {
		memcpy(&w, d, 4);
		sum += w;
	}
	if (n >= 2) {
		memcpy(&h, d, 2);
		sum += h;
		d += 2;
		n -= 2;
	}
	if (n) {
		last[0] = d[0];
		last[1] = 0;
		memcpy(&h, last, 2);
		sum += h;
	}
	return sum;
}

/**
 * gso_csum_fold() - fold a gso_csum_add() sum to 16 bits
 * @sum:	the sum
 *
 * Return: the folded sum, host word order (store it with memcpy())
 */
uint16_t gso_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/**
 * gso_ipv4_csum() - set an IPv4 header's checksum
 * @ip:		the header, its length in the IHL field
 */
void gso_ipv4_csum(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
	uint16_t c;

	ip[10] = 0;
	ip[11] = 0;
	c = (uint16_t)~gso_csum_fold(gso_csum_add(0, ip, ihl));
	memcpy(ip + 10, &c, 2);
}

/** get_be16() - the big-endian 16-bit value at @p */
static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/** put_be16() - store @v big-endian at @p */
static inline void put_be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/** get_be32() - the big-endian 32-bit value at @p */
static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/** put_be32() - store @v big-endian at @p */
static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v);
}

/*
 * A position in an iovec list, moving forward only: segmenting walks the
 * list once instead of once per segment.
 */
struct iov_cursor {
	const struct iovec *iov;
	unsigned int n;		/* iovecs left, the current one included */
	size_t off;		/* bytes already read of the current one */
};

/**
 * cur_chunk() - the contiguous bytes at the cursor, at most @max
 * @c:		cursor
 * @max:	most bytes wanted
 * @p:		gets where they are
 *
 * Return: how many there are (0 at the end of the list)
 */
static size_t cur_chunk(struct iov_cursor *c, size_t max, const uint8_t **p)
{
	while (c->n && c->off == c->iov->iov_len) {
		c->iov++;
		c->n--;
		c->off = 0;
	}
	if (!c->n)
		return 0;
	*p = (const uint8_t *)c->iov->iov_base + c->off;
	return MIN(c->iov->iov_len - c->off, max);
}

/**
 * cur_read() - copy @len bytes at the cursor to @dst and move past them
 * @c:		cursor
 * @dst:	destination, or NULL to skip the bytes
 * @len:	bytes wanted
 *
 * Return: bytes read, less than @len at the end of the list
 */
static size_t cur_read(struct iov_cursor *c, uint8_t *dst, size_t len)
{
	const uint8_t *p = NULL;
	size_t done = 0, l;

	while (done < len && (l = cur_chunk(c, len - done, &p))) {
		if (dst)
			memcpy(dst + done, p, l);
		c->off += l;
		done += l;
	}
	return done;
}

/**
 * cur_sum() - add the next @len bytes at the cursor to a checksum sum
 * @c:		cursor, at an even offset of the checksummed sequence
 * @len:	bytes to sum
 * @sum:	running gso_csum_add() sum
 *
 * Return: 0, or -EINVAL if the list ends first
 */
static int cur_sum(struct iov_cursor *c, size_t len, uint64_t *sum)
{
	const uint8_t *p = NULL;
	size_t done = 0, l;
	uint16_t s;

	while (done < len && (l = cur_chunk(c, len - done, &p))) {
		s = gso_csum_fold(gso_csum_add(0, p, l));
		/* A chunk starting at an odd offset pairs its bytes the
		 * other way round: swap its sum back. */
		if (done & 1)
			s = __builtin_bswap16(s);
		*sum += s;
		c->off += l;
		done += l;
	}
	return done == len ? 0 : -EINVAL;
}

/**
 * gso_csum_complete() - finish a partial checksum over a scattered frame
 * @iov:	the frame's buffers, in order; the checksum field is written
 * @niov:	how many
 * @len:	frame length (the iovecs may hold more)
 * @start:	csum_start: where the checksummed range starts
 * @offset:	csum_offset: the 16-bit field's offset from @start
 *
 * Sums from @start to @len, the field included (it holds the pseudo-header
 * sum), and stores the complement, 0 as 0xffff (the same in one's
 * complement, and the only form UDP allows). The field may straddle two
 * buffers.
 *
 * Return: 0, or -EINVAL if the field lies outside the frame or the
 * iovecs hold less than @len bytes
 */
int gso_csum_complete(const struct iovec *iov, unsigned int niov,
		      uint32_t len, uint32_t start, uint32_t offset)
{
	struct iov_cursor c = { iov, niov, 0 };
	uint64_t sum = 0;
	uint16_t v;

	if (start >= len || (uint64_t)offset + 2 > len - start)
		return -EINVAL;
	if (cur_read(&c, NULL, start) != start ||
	    cur_sum(&c, len - start, &sum))
		return -EINVAL;
	v = (uint16_t)~gso_csum_fold(sum);
	if (!v)
		v = 0xffff;
	iov_from_buf(iov, niov, (size_t)start + offset, &v, 2);
	return 0;
}

/**
 * gso_check() - @o describes a frame gso_segment() can cut
 * @o:		offload state (from pkt_offload_from_vnet_hdr())
 * @len:	frame length
 *
 * The validator already guarantees all this; checked again because every
 * write below relies on it.
 *
 * Return: 0, or -EINVAL
 */
static int gso_check(const struct pkt_offload *o, uint32_t len)
{
	unsigned int kind = pkt_gso_kind(o), hlen = pkt_offload_hlen(o);
	unsigned int l3_len = o->l3_proto == PKT_L3_IPV4 ? 20 : 40;
	bool tcp = o->l4_proto == IPPROTO_TCP_ && o->l4_hlen >= 20;
	bool udp = o->l4_proto == IPPROTO_UDP_ && o->l4_hlen == 8;

	if (!o->gso_size || hlen > PKT_OFFLOAD_HDR_MAX || hlen > len ||
	    o->l4_off < o->l3_off + l3_len)
		return -EINVAL;
	switch (kind) {
	case PKT_GSO_TCPV4:
		return o->l3_proto == PKT_L3_IPV4 && tcp ? 0 : -EINVAL;
	case PKT_GSO_TCPV6:
		return o->l3_proto == PKT_L3_IPV6 && tcp ? 0 : -EINVAL;
	case PKT_GSO_UDP_L4:
		return o->l3_proto != PKT_L3_NONE && udp ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

/**
 * pseudo_sum() - the pseudo-header sum of an L4 segment
 * @seg:	the segment, its IP header at o->l3_off
 * @o:		offload state
 * @l4_len:	L4 header plus payload
 *
 * Return: a gso_csum_add() sum
 */
static uint64_t pseudo_sum(const uint8_t *seg, const struct pkt_offload *o,
			   uint32_t l4_len)
{
	const uint8_t *ip = seg + o->l3_off;
	uint8_t tail[8] = { 0 };

	if (o->l3_proto == PKT_L3_IPV4) {
		tail[1] = o->l4_proto;
		put_be16(tail + 2, l4_len);
		return gso_csum_add(gso_csum_add(0, ip + 12, 8), tail, 4);
	}
	put_be32(tail, l4_len);
	tail[7] = o->l4_proto;
	return gso_csum_add(gso_csum_add(0, ip + 8, 32), tail, 8);
}

/**
 * l4_csum() - write a segment's TCP or UDP checksum
 * @seg:	the segment, lengths already set
 * @len:	its length
 * @o:		offload state
 * @flags:	GSO_CSUM_FULL or GSO_CSUM_PARTIAL
 */
static void l4_csum(uint8_t *seg, uint32_t len, const struct pkt_offload *o,
		    unsigned int flags)
{
	uint8_t *l4 = seg + o->l4_off;
	uint32_t l4_len = len - o->l4_off;
	unsigned int off = o->l4_proto == IPPROTO_TCP_ ? TCP_CSUM_OFF :
							 UDP_CSUM_OFF;
	uint64_t sum = pseudo_sum(seg, o, l4_len);
	uint16_t v;

	l4[off] = 0;
	l4[off + 1] = 0;
	if (flags & GSO_CSUM_PARTIAL) {
		v = gso_csum_fold(sum);
	} else {
		v = (uint16_t)~gso_csum_fold(gso_csum_add(sum, l4, l4_len));
		if (!v)
			v = 0xffff;
	}
	memcpy(l4 + off, &v, 2);
}

/**
 * fix_headers() - turn a copy of the big frame's headers into segment @i's
 * @seg:	the segment: headers then payload
 * @len:	its length
 * @o:		offload state
 * @i:		segment number, from 0
 * @n:		number of segments
 *
 * IPv4: total length, id + i, header checksum. IPv6: payload length.
 * TCP: seq + i * mss; FIN and PSH on the last segment only, CWR on the
 * first only (the CWR the sender asked for, once). UDP: length.
 */
static void fix_headers(uint8_t *seg, uint32_t len,
			const struct pkt_offload *o, unsigned int i,
			unsigned int n)
{
	uint8_t *ip = seg + o->l3_off, *l4 = seg + o->l4_off;

	if (o->l3_proto == PKT_L3_IPV4) {
		put_be16(ip + 2, len - o->l3_off);
		put_be16(ip + 4, get_be16(ip + 4) + i);
		gso_ipv4_csum(ip);
	} else {
		put_be16(ip + 4, len - o->l3_off - 40);
	}
	if (o->l4_proto == IPPROTO_UDP_) {
		put_be16(l4 + 4, len - o->l4_off);
		return;
	}
	put_be32(l4 + 4, get_be32(l4 + 4) + i * o->gso_size);
	if (i)
		l4[13] &= (uint8_t)~TCP_CWR;
	if (i + 1 < n)
		l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
}

/**
 * check_room() - every segment fits its output buffer
 * @len:	frame length
 * @o:		offload state
 * @n:		number of segments
 * @out:	output buffers
 * @nout:	how many
 *
 * Return: 0, or -ENOSPC
 */
static int check_room(uint32_t len, const struct pkt_offload *o,
		      unsigned int n, const struct gso_buf *out,
		      unsigned int nout)
{
	uint32_t hlen = pkt_offload_hlen(o), left = len - hlen;
	unsigned int i;

	if (n > nout)
		return -ENOSPC;
	for (i = 0; i < n; i++, left -= MIN(o->gso_size, left))
		if (out[i].size < hlen + MIN(o->gso_size, left))
			return -ENOSPC;
	return 0;
}

/**
 * gso_segment() - cut a GSO frame into frames of gso_size payload bytes
 * @iov:	the frame's buffers, in order (any split, headers included)
 * @niov:	how many
 * @len:	frame length (the iovecs may hold more)
 * @o:		its offload state: TCPV4, TCPV6 or UDP_L4 GSO, with the
 *		offsets pkt_offload_from_vnet_hdr() found
 * @flags:	GSO_CSUM_FULL or GSO_CSUM_PARTIAL
 * @out:	one buffer per segment (pkt_offload_nsegs() of them); each
 *		gets its segment and out[i].len
 * @nout:	how many
 *
 * Every segment gets a copy of the headers, fixed by fix_headers(), and
 * its slice of the payload; the last one may be short. Its L4 checksum is
 * complete (GSO_CSUM_FULL), or holds the pseudo-header sum for a
 * destination that takes NEEDS_CSUM (gso_segment_offload() gives the
 * segments' state). The IPv4 header checksum is always complete.
 *
 * Return: number of segments, -EINVAL for a state it cannot segment or
 * iovecs shorter than @len, -ENOSPC when @out is too few or too small
 * (then nothing useful was written)
 */
int gso_segment(const struct iovec *iov, unsigned int niov, uint32_t len,
		const struct pkt_offload *o, unsigned int flags,
		struct gso_buf *out, unsigned int nout)
{
	struct iov_cursor c = { iov, niov, 0 };
	uint8_t hdr[PKT_OFFLOAD_HDR_MAX];
	uint32_t hlen = pkt_offload_hlen(o), plen;
	unsigned int n, i;
	int ret;

	ret = gso_check(o, len);
	if (ret)
		return ret;
	n = pkt_offload_nsegs(o, len);
	ret = check_room(len, o, n, out, nout);
	if (ret)
		return ret;
	if (cur_read(&c, hdr, hlen) != hlen)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		plen = MIN(o->gso_size, len - hlen - i * o->gso_size);
		memcpy(out[i].data, hdr, hlen);
		if (cur_read(&c, out[i].data + hlen, plen) != plen)
			return -EINVAL;
		out[i].len = hlen + plen;
		fix_headers(out[i].data, out[i].len, o, i, n);
		l4_csum(out[i].data, out[i].len, o, flags);
	}
	return (int)n;
}

/**
 * gso_segment_offload() - the offload state of gso_segment()'s segments
 * @o:		the GSO frame's state
 * @flags:	the flags given to gso_segment()
 * @seg:	gets the segments' state: no GSO, same offsets; the
 *		checksum partial at the L4 header, or valid
 */
void gso_segment_offload(const struct pkt_offload *o, unsigned int flags,
			 struct pkt_offload *seg)
{
	*seg = *o;
	seg->gso_type = PKT_GSO_NONE;
	seg->gso_size = 0;
	if (flags & GSO_CSUM_PARTIAL) {
		seg->csum = PKT_CSUM_PARTIAL;
		seg->csum_start = o->l4_off;
		seg->csum_offset = o->l4_proto == IPPROTO_TCP_ ? TCP_CSUM_OFF :
								 UDP_CSUM_OFF;
	} else {
		seg->csum = PKT_CSUM_VALID;
		seg->csum_start = 0;
		seg->csum_offset = 0;
	}
}
