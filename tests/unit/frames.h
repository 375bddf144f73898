/* SPDX-License-Identifier: MIT */
/*
 * frames.h - build TCP/UDP test frames byte by byte, and check checksums
 * with a plain one's complement sum, independently of src/pkt: what the
 * offload and segmentation tests compare the switch's output with.
 */
#ifndef VMSW_TEST_FRAMES_H
#define VMSW_TEST_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FR_TCP_FIN	0x01
#define FR_TCP_PSH	0x08
#define FR_TCP_ACK	0x10
#define FR_TCP_CWR	0x80

enum fr_csum {
	FR_CSUM_PSEUDO,		/* L4 field: pseudo-header sum (partial) */
	FR_CSUM_FULL,		/* L4 field: the complete checksum */
};

/**
 * struct fr_spec - one frame to build
 * @ipv6:	IPv6 instead of IPv4
 * @udp:	UDP instead of TCP
 * @vlan:	one 802.1Q tag after the MACs
 * @ip_opts:	bytes of IPv4 options (NOPs), a multiple of 4, at most 40
 * @tcp_opts:	bytes of TCP options (NOPs), a multiple of 4, at most 40
 * @payload:	payload bytes
 * @payload_off: index of the first payload byte in the payload pattern
 * @flags:	TCP flags
 * @ip_id:	IPv4 id
 * @seq:	TCP sequence number
 * @csum:	what the L4 checksum field holds
 */
struct fr_spec {
	bool ipv6;
	bool udp;
	bool vlan;
	unsigned int ip_opts;
	unsigned int tcp_opts;
	uint32_t payload;
	uint32_t payload_off;
	uint8_t flags;
	uint16_t ip_id;
	uint32_t seq;
	enum fr_csum csum;
};

/**
 * struct fr_info - where fr_build() put things
 * @len:	frame length
 * @l3:		IP header offset
 * @l4:		TCP/UDP header offset
 * @hlen:	all headers, the payload's offset
 * @l4_hlen:	TCP/UDP header length
 */
struct fr_info {
	uint32_t len, l3, l4, hlen, l4_hlen;
};

/* The payload pattern: byte @i of the whole stream (period 65521). */
static inline uint8_t fr_payload_byte(uint32_t i)
{
	i %= 65521;
	return (uint8_t)(i * 131 + (i >> 8) + 7);
}

/* Big-endian one's complement sum of @n bytes, byte by byte, not folded. */
static inline uint64_t fr_sum(uint64_t s, const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		s += (i & 1) ? d[i] : (uint64_t)d[i] << 8;
	return s;
}

static inline uint16_t fr_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static inline void fr_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void fr_put32(uint8_t *p, uint32_t v)
{
	fr_put16(p, v >> 16);
	fr_put16(p + 2, v & 0xffff);
}

static inline uint16_t fr_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t fr_get32(const uint8_t *p)
{
	return (uint32_t)fr_get16(p) << 16 | fr_get16(p + 2);
}

/* Pseudo-header sum for the L4 segment of @f (length @l4_len). */
static inline uint64_t fr_pseudo(const uint8_t *f, const struct fr_info *fi,
				 uint32_t l4_len)
{
	const uint8_t *ip = f + fi->l3;
	uint64_t s;

	if ((ip[0] >> 4) == 4)
		s = fr_sum(0, ip + 12, 8) + ip[9];
	else
		s = fr_sum(0, ip + 8, 32) + ip[6];
	return s + (l4_len >> 16) + (l4_len & 0xffff);
}

/* The L4 checksum of @f verifies (pseudo-header included). */
static inline bool fr_l4_ok(const uint8_t *f, const struct fr_info *fi)
{
	uint32_t l4_len = fi->len - fi->l4;

	return fr_fold(fr_pseudo(f, fi, l4_len) + fr_sum(0, f + fi->l4, l4_len)) == 0xffff;
}

/* The IPv4 header checksum of @f verifies. */
static inline bool fr_ip_ok(const uint8_t *f, const struct fr_info *fi)
{
	const uint8_t *ip = f + fi->l3;

	return fr_fold(fr_sum(0, ip, (ip[0] & 0x0fu) * 4)) == 0xffff;
}

static inline unsigned int fr_build_ip(uint8_t *ip, const struct fr_spec *s,
				       uint32_t l4_len)
{
	unsigned int i, ihl = 20 + s->ip_opts;

	if (s->ipv6) {
		memset(ip, 0, 40);
		ip[0] = 0x60;
		fr_put16(ip + 4, l4_len);
		ip[6] = s->udp ? 17 : 6;
		ip[7] = 64;
		ip[8] = 0x20;		/* 2001:db8::1 -> 2001:db8::2 */
		ip[9] = 0x01;
		ip[10] = 0x0d;
		ip[11] = 0xb8;
		memcpy(ip + 24, ip + 8, 16);
		ip[23] = 1;
		ip[39] = 2;
		return 40;
	}
	memset(ip, 0, ihl);
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	fr_put16(ip + 2, ihl + l4_len);
	fr_put16(ip + 4, s->ip_id);
	ip[6] = 0x40;			/* DF */
	ip[8] = 64;
	ip[9] = s->udp ? 17 : 6;
	fr_put32(ip + 12, 0x0a000001);
	fr_put32(ip + 16, 0xc0a80102);
	for (i = 20; i < ihl; i++)
		ip[i] = 1;		/* NOP */
	fr_put16(ip + 10, ~fr_fold(fr_sum(0, ip, ihl)) & 0xffff);
	return ihl;
}

static inline unsigned int fr_build_l4(uint8_t *l4, const struct fr_spec *s,
				       uint32_t l4_len)
{
	unsigned int i, hlen = 20 + s->tcp_opts;

	if (s->udp) {
		fr_put16(l4, 5353);
		fr_put16(l4 + 2, 4789);
		fr_put16(l4 + 4, l4_len);
		fr_put16(l4 + 6, 0);
		return 8;
	}
	memset(l4, 0, hlen);
	fr_put16(l4, 40000);
	fr_put16(l4 + 2, 5201);
	fr_put32(l4 + 4, s->seq);
	fr_put32(l4 + 8, 0x11223344);
	l4[12] = (uint8_t)(hlen / 4 << 4);
	l4[13] = s->flags;
	fr_put16(l4 + 14, 64240);
	for (i = 20; i < hlen; i++)
		l4[i] = 1;		/* NOP */
	return hlen;
}

/**
 * fr_build() - write the frame @s describes into @f
 * @f:		room for it
 * @s:		what to build
 * @fi:		gets the offsets
 *
 * Return: frame length
 */
static inline uint32_t fr_build(uint8_t *f, const struct fr_spec *s,
				struct fr_info *fi)
{
	static const uint8_t macs[12] = { 0x52, 0x54, 0, 0, 0, 2,
					  0x52, 0x54, 0, 0, 0, 1 };
	uint32_t off = 12, l4_len, i;
	unsigned int csum_off = s->udp ? 6 : 16;
	uint16_t c;

	memcpy(f, macs, 12);
	if (s->vlan) {
		fr_put16(f + 12, 0x8100);
		fr_put16(f + 14, 42);
		off = 16;
	}
	fr_put16(f + off, s->ipv6 ? 0x86dd : 0x0800);
	fi->l3 = off + 2;
	fi->l4_hlen = s->udp ? 8 : 20 + s->tcp_opts;
	l4_len = fi->l4_hlen + s->payload;
	fi->l4 = fi->l3 + fr_build_ip(f + fi->l3, s, l4_len);
	fr_build_l4(f + fi->l4, s, l4_len);
	fi->hlen = fi->l4 + fi->l4_hlen;
	fi->len = fi->hlen + s->payload;
	for (i = 0; i < s->payload; i++)
		f[fi->hlen + i] = fr_payload_byte(s->payload_off + i);
	if (s->csum == FR_CSUM_PSEUDO) {
		c = fr_fold(fr_pseudo(f, fi, l4_len));
	} else {
		c = (uint16_t)~fr_fold(fr_pseudo(f, fi, l4_len) +
				       fr_sum(0, f + fi->l4, l4_len));
		if (!c)
			c = 0xffff;
	}
	fr_put16(f + fi->l4 + csum_off, c);
	return fi->len;
}

#endif /* VMSW_TEST_FRAMES_H */
