/* SPDX-License-Identifier: MIT */
/*
 * evpn.h - BGP EVPN through FRR for the switch's EVPN VXLAN ports
 * (vxlan:vni=N,local=IP,evpn), by way of shadow kernel devices
 *
 * Per EVPN VNI: a Linux bridge vmsw-brN holding a VXLAN device vmsw-vxN
 * (id N, local VTEP, a UDP port of its own, no learning) and an
 * "advertise" device vmsw-adN (one end of a veth pair; its peer is
 * vmsw-apN). They carry no traffic; FRR's zebra sees an ordinary EVPN VTEP.
 *
 * Export: every MAC the switch learned on a port that is not a VXLAN port,
 * in the VLAN the EVPN port carries untagged (its access VLAN; 0 without
 * one), becomes a static FDB entry on vmsw-adN; zebra advertises it as a
 * type-2 route. The MAC table is compared with what was exported once a
 * second (a walk, no hook in the per-frame path): new MACs are added,
 * MACs aged or flushed out are removed.
 *
 * Import: zebra installs remote MACs on vmsw-vxN (MAC, dst VTEP,
 * extern_learn) and flood-list members as all-zero MACs with a dst. A
 * netlink socket in the event loop, subscribed to RTNLGRP_NEIGH and dumped
 * once per VNI added, feeds them to the port's table (ports/vxlan_remotes.h).
 * What does not fit (other devices, malformed messages) is ignored and
 * counted.
 */
#ifndef VMSW_EVPN_H
#define VMSW_EVPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/evloop.h"
#include "core/macmap.h"
#include "evpn/nl_neigh.h"
#include "evpn/rtnl.h"
#include "evpn/shadow.h"
#include "ports/port.h"
#include "switch/bridge.h"

#define EVPN_VNI_MAX		64

struct evpn_vni {
	struct port *port;
	uint32_t vni;
	struct shadow dev;
	struct macmap exported;		/* MAC -> export round that saw it */
};

struct evpn_stats {
	uint64_t remote_added;		/* remote MACs installed or moved */
	uint64_t remote_removed;
	uint64_t flood_added;		/* VTEPs put on a flood list */
	uint64_t flood_removed;
	uint64_t exported;		/* local MACs given to the kernel */
	uint64_t withdrawn;
	uint64_t export_errors;		/* the kernel refused one */
	uint64_t other_devices;		/* bridge neighbours not on vmsw-vxN */
	uint64_t skipped;		/* on vmsw-vxN, but neither kind */
	uint64_t malformed;		/* failed the checks */
	uint64_t refused;		/* the port's table was full */
	uint64_t resyncs;		/* events lost (ENOBUFS): dumped again */
};

struct evpn {
	struct bridge *bridge;
	struct rtnl req;		/* requests (links, FDB entries) */
	struct mnl_socket *events;	/* RTNLGRP_NEIGH and dumps */
	struct ev_handler ev;
	struct ev_timer export_timer;
	bool dumping;			/* a dump is running */
	bool dump_wanted;		/* another one after it */
	uint16_t round;			/* the export round */
	struct evpn_vni *vni[EVPN_VNI_MAX];
	unsigned int nvni;
	struct evpn_stats stats;
};

int evpn_port_added(struct evpn *e, struct bridge *b, struct port *port,
		    char *why, size_t whylen);
void evpn_port_removed(struct evpn *e, struct port *port);
void evpn_input(struct evpn *e, const void *buf, size_t len);
void evpn_export(struct evpn *e);
void evpn_show(const struct evpn *e, FILE *out);

#endif /* VMSW_EVPN_H */
