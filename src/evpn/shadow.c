/* SPDX-License-Identifier: MIT */
/* shadow.c - create and remove the shadow devices of an EVPN VNI */
#include <errno.h>
#include <stdio.h>

#include "evpn/shadow.h"

static void shadow_names(struct shadow *s, uint32_t vni)
{
	snprintf(s->br, sizeof(s->br), "vmsw-br%u", vni);
	snprintf(s->vx, sizeof(s->vx), "vmsw-vx%u", vni);
	snprintf(s->adv, sizeof(s->adv), "vmsw-ad%u", vni);
	snprintf(s->adv_peer, sizeof(s->adv_peer), "vmsw-ap%u", vni);
}

/*
 * IPv6 off on a shadow device before it goes up: otherwise the advertise
 * device's peer sends router solicitations and MLD reports into the shadow
 * bridge, which learns its MAC on the advertise device, and FRR advertises
 * it as one of the host's guests. A kernel without IPv6 has nothing to
 * turn off.
 */
static int ipv6_off(const char *dev)
{
	char path[96];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", dev);
	f = fopen(path, "w");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	rc = fputs("1", f) < 0 ? -EIO : 0;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

/** shadow_remove() - delete the devices (those there; the veth peer goes too) */
void shadow_remove(struct rtnl *r, const struct shadow *s)
{
	rtnl_del_link(r, s->vx);
	rtnl_del_link(r, s->adv);
	rtnl_del_link(r, s->br);
}

/**
 * shadow_create() - the devices of VNI @vni, all up
 * @r:		request socket
 * @s:		names and ifindexes, set here
 * @vni:	the VNI (up to 8 digits: the names fit IFNAMSIZ)
 * @local:	the local VTEP address
 *
 * Devices left by an earlier run that did not end cleanly are replaced.
 *
 * Return: 0 or -errno, nothing left behind
 */
int shadow_create(struct rtnl *r, struct shadow *s, uint32_t vni,
		  const union vx_addr *local)
{
	int rc;

	shadow_names(s, vni);
	shadow_remove(r, s);
	rc = rtnl_add_bridge(r, s->br) ?:
	     rtnl_add_vxlan(r, s->vx, vni, local, SHADOW_VXLAN_PORT) ?:
	     rtnl_add_veth(r, s->adv, s->adv_peer) ?:
	     ipv6_off(s->br) ?: ipv6_off(s->vx) ?: ipv6_off(s->adv) ?:
	     ipv6_off(s->adv_peer) ?:
	     rtnl_set_master_up(r, s->vx, s->br) ?:
	     rtnl_set_master_up(r, s->adv, s->br) ?:
	     rtnl_set_master_up(r, s->adv_peer, NULL) ?:
	     rtnl_set_master_up(r, s->br, NULL);
	if (!rc) {
		s->vx_ifindex = if_nametoindex(s->vx);
		s->adv_ifindex = if_nametoindex(s->adv);
		if (!s->vx_ifindex || !s->adv_ifindex)
			rc = -ENODEV;
	}
	if (rc)
		shadow_remove(r, s);
	return rc;
}
