/* SPDX-License-Identifier: MIT */
/* testaddr.h - MAC and VTEP addresses the unit tests make up */
#ifndef VMSW_TESTADDR_H
#define VMSW_TESTADDR_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

/* A locally administered unicast MAC numbered @n. */
static inline void mac_of(uint32_t n, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0;
	mac[2] = (uint8_t)(n >> 24);
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

#ifdef VMSW_VXLAN_REMOTES_H
/* An IPv4 VTEP address from dotted text. */
static inline union vx_addr v4(const char *s)
{
	union vx_addr a;

	memset(&a, 0, sizeof(a));
	a.v4.sin_family = AF_INET;
	inet_pton(AF_INET, s, &a.v4.sin_addr);
	return a;
}
#endif

#endif /* VMSW_TESTADDR_H */
