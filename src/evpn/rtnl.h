/* SPDX-License-Identifier: MIT */
/*
 * rtnl.h - the rtnetlink requests EVPN makes (through libmnl), each
 * answered by the kernel before it returns: links for the shadow devices,
 * and static FDB entries on the advertise device
 */
#ifndef VMSW_RTNL_H
#define VMSW_RTNL_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/vxlan_remotes.h"

struct mnl_socket;

struct rtnl {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

int rtnl_open(struct rtnl *r);
void rtnl_close(struct rtnl *r);
int rtnl_add_bridge(struct rtnl *r, const char *name);
int rtnl_add_vxlan(struct rtnl *r, const char *name, uint32_t vni,
		   const union vx_addr *local, uint16_t dstport);
int rtnl_add_veth(struct rtnl *r, const char *name, const char *peer);
int rtnl_set_master_up(struct rtnl *r, const char *name, const char *master);
int rtnl_del_link(struct rtnl *r, const char *name);
int rtnl_fdb(struct rtnl *r, bool add, uint32_t ifindex, const uint8_t *mac);

#endif /* VMSW_RTNL_H */
