/* SPDX-License-Identifier: MIT */
/*
 * nl_neigh.h - reading one rtnetlink neighbour message (RTM_NEWNEIGH or
 * RTM_DELNEIGH) of the bridge family: what zebra installs on a VXLAN device
 * for a remote MAC (MAC, dst VTEP, extern_learn) or a flood-list member
 * (all-zero MAC, dst VTEP). Kernel input is checked, never trusted.
 */
#ifndef VMSW_NL_NEIGH_H
#define VMSW_NL_NEIGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/vxlan_remotes.h"

struct nlmsghdr;

/** struct nl_neigh - one bridge-family neighbour as the message said */
struct nl_neigh {
	bool del;		/* RTM_DELNEIGH */
	uint32_t ifindex;
	uint8_t flags;		/* NTF_* (NTF_EXT_LEARNED: from zebra) */
	uint16_t state;		/* NUD_* */
	bool has_mac;
	uint8_t mac[6];
	union vx_addr dst;	/* family AF_UNSPEC: no NDA_DST */
	bool has_nhid;		/* NDA_NH_ID: a nexthop group (multihoming) */
};

bool nl_msg_ok(const struct nlmsghdr *nlh, int left);
int nl_neigh_parse(const struct nlmsghdr *nlh, struct nl_neigh *out);
bool nl_neigh_mac_zero(const struct nl_neigh *n);

#endif /* VMSW_NL_NEIGH_H */
