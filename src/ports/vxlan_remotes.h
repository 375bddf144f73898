/* SPDX-License-Identifier: MIT */
/*
 * vxlan_remotes.h - where an EVPN VXLAN port sends: remote MAC -> VTEP, and
 * the flood list of VTEPs that take broadcast, unknown unicast and
 * multicast (head-end replication). The control plane (src/evpn/) fills it;
 * the port's transmit path asks vx_remotes_targets() for each frame.
 *
 * A VTEP lives in the table while a MAC points at it or it is on the flood
 * list; its index stays the same meanwhile.
 */
#ifndef VMSW_VXLAN_REMOTES_H
#define VMSW_VXLAN_REMOTES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/macmap.h"

#define VX_VTEP_MAX	256
#define VX_REMOTE_MACS	65536

union vx_addr {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

struct vx_vtep {
	union vx_addr addr;	/* port 0; family AF_UNSPEC: a free slot */
	uint32_t macs;		/* remote MACs behind it */
	bool flood;		/* on the flood list */
};

struct vx_remotes {
	struct macmap macs;	/* MAC -> index in vtep[] */
	struct vx_vtep vtep[VX_VTEP_MAX];
	uint16_t flood[VX_VTEP_MAX];	/* indexes of the flood list */
	unsigned int nflood;
};

int vx_remotes_init(struct vx_remotes *r);
void vx_remotes_destroy(struct vx_remotes *r);
bool vx_addr_equal(const union vx_addr *a, const union vx_addr *b);
int vx_remotes_mac_set(struct vx_remotes *r, const uint8_t *mac,
		       const union vx_addr *vtep);
int vx_remotes_mac_del(struct vx_remotes *r, const uint8_t *mac);
int vx_remotes_flood_add(struct vx_remotes *r, const union vx_addr *vtep);
int vx_remotes_flood_del(struct vx_remotes *r, const union vx_addr *vtep);
bool vx_remotes_known(const struct vx_remotes *r, const union vx_addr *from);
unsigned int vx_remotes_targets(const struct vx_remotes *r, const uint8_t *dmac,
				const union vx_addr **out);

#endif /* VMSW_VXLAN_REMOTES_H */
