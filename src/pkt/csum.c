/* SPDX-License-Identifier: MIT */
/* csum.c - software completion of partial TCP/UDP checksums */
#include <errno.h>

#include "pkt/csum.h"

#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define ETH_P_IPV4	0x0800
#define ETH_P_IPV6	0x86dd
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17

/* One's complement sum of @n bytes as big-endian 16-bit words, folded. */
static uint16_t sum16(const uint8_t *d, unsigned int n)
{
	uint64_t s = 0;
	unsigned int i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)d[i] << 8 | d[i + 1];
	if (n & 1)
		s += (uint32_t)d[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/**
 * csum_complete() - compute the checksum of a CHECKSUM_PARTIAL frame
 * @frame:	Ethernet frame, changed in place
 * @len:	frame length
 * @start:	where the checksummed range starts (the L4 header)
 * @offset:	offset of the 16-bit checksum field from @start
 *
 * Sums from @start to the end, the field included (it holds the
 * pseudo-header sum), and stores the complement, as skb_checksum_help()
 * does. A result of 0 is stored as 0xffff, the same value in one's
 * complement and the only form UDP allows.
 *
 * Return: 0, or -EINVAL if the field lies outside the frame
 */
int csum_complete(uint8_t *frame, unsigned int len, unsigned int start,
		  unsigned int offset)
{
	uint16_t c;

	if (start >= len || offset + 2 > len - start)
		return -EINVAL;
	c = (uint16_t)~sum16(frame + start, len - start);
	if (!c)
		c = 0xffff;
	frame[start + offset] = (uint8_t)(c >> 8);
	frame[start + offset + 1] = (uint8_t)c;
	return 0;
}

/**
 * csum_locate_l4() - where the TCP or UDP checksum of @frame is
 * @frame:	Ethernet frame, optionally with one or two VLAN tags
 * @len:	frame length
 * @start:	offset of the L4 header
 * @offset:	offset of its checksum field from @start (16 TCP, 6 UDP)
 *
 * IPv4 (unfragmented) and IPv6 without extension headers; that is all the
 * Linux stack sends with a partial checksum over plain Ethernet.
 *
 * Return: 0, or -EPROTONOSUPPORT for anything else
 */
int csum_locate_l4(const uint8_t *frame, unsigned int len, unsigned int *start,
		   unsigned int *offset)
{
	unsigned int l3 = 12, l4;
	uint16_t type;
	uint8_t proto;

	for (;;) {
		if (l3 + 2 > len)
			return -EPROTONOSUPPORT;
		type = (uint16_t)(frame[l3] << 8 | frame[l3 + 1]);
		l3 += 2;
		if (type != ETH_P_8021Q && type != ETH_P_8021AD)
			break;
		l3 += 2;	/* the tag's TCI */
	}
	if (type == ETH_P_IPV4 && l3 + 20 <= len && (frame[l3] >> 4) == 4) {
		/* Fragments never carry a partial checksum. */
		if ((frame[l3 + 6] & 0x3f) || frame[l3 + 7])
			return -EPROTONOSUPPORT;
		l4 = l3 + (frame[l3] & 0x0f) * 4u;
		proto = frame[l3 + 9];
	} else if (type == ETH_P_IPV6 && l3 + 40 <= len) {
		l4 = l3 + 40;
		proto = frame[l3 + 6];
	} else {
		return -EPROTONOSUPPORT;
	}
	if (proto == IPPROTO_TCP_)
		*offset = 16;
	else if (proto == IPPROTO_UDP_)
		*offset = 6;
	else
		return -EPROTONOSUPPORT;
	*start = l4;
	return l4 + *offset + 2 <= len ? 0 : -EPROTONOSUPPORT;
}
