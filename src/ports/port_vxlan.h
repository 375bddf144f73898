/* SPDX-License-Identifier: MIT */
/*
 * port_vxlan.h - what the EVPN control plane needs of a VXLAN port made
 * with `vxlan:vni=N,local=IP,evpn`: its VNI, its local VTEP address and its
 * table of remote MACs and flood-list VTEPs (which it fills)
 */
#ifndef VMSW_PORT_VXLAN_H
#define VMSW_PORT_VXLAN_H

#include <stdint.h>

#include "ports/port.h"
#include "ports/vxlan_remotes.h"

struct vx_remotes *port_vxlan_evpn(struct port *port);
uint32_t port_vxlan_vni(const struct port *port);
const union vx_addr *port_vxlan_local(const struct port *port);
bool port_is_vxlan(const struct port *port);

#endif /* VMSW_PORT_VXLAN_H */
