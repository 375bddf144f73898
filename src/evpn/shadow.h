/* SPDX-License-Identifier: MIT */
/*
 * shadow.h - the shadow kernel devices of one EVPN VNI (see evpn.h):
 * vmsw-brN with vmsw-vxN and vmsw-adN in it (vmsw-apN the veth peer)
 */
#ifndef VMSW_SHADOW_H
#define VMSW_SHADOW_H

#include <net/if.h>
#include <stdint.h>

#include "evpn/rtnl.h"

#define SHADOW_VXLAN_PORT	60000	/* the VXLAN devices' UDP port */

struct shadow {
	char br[IFNAMSIZ], vx[IFNAMSIZ], adv[IFNAMSIZ], adv_peer[IFNAMSIZ];
	uint32_t vx_ifindex;
	uint32_t adv_ifindex;
};

int shadow_create(struct rtnl *r, struct shadow *s, uint32_t vni,
		  const union vx_addr *local);
void shadow_remove(struct rtnl *r, const struct shadow *s);

#endif /* VMSW_SHADOW_H */
