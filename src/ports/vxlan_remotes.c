/* SPDX-License-Identifier: MIT */
/* vxlan_remotes.c - remote MACs and the flood list of an EVPN VXLAN port */
#include <errno.h>
#include <string.h>

#include "ports/vxlan_remotes.h"

/** vx_remotes_init() - empty. Return: 0 or -ENOMEM */
int vx_remotes_init(struct vx_remotes *r)
{
	memset(r->vtep, 0, sizeof(r->vtep));
	r->nflood = 0;
	return macmap_init(&r->macs, VX_REMOTE_MACS);
}

void vx_remotes_destroy(struct vx_remotes *r)
{
	macmap_destroy(&r->macs);
}

/** vx_addr_equal() - same family and address (ports are not compared) */
bool vx_addr_equal(const union vx_addr *a, const union vx_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr,
			       sizeof(a->v6.sin6_addr));
	return false;
}

/* Index of @vtep, or -1. */
static int vtep_find(const struct vx_remotes *r, const union vx_addr *vtep)
{
	int i;

	for (i = 0; i < VX_VTEP_MAX; i++)
		if (vx_addr_equal(&r->vtep[i].addr, vtep))
			return i;
	return -1;
}

/* Index of @vtep, added if new; -ENOSPC when the table is full. */
static int vtep_get(struct vx_remotes *r, const union vx_addr *vtep)
{
	int i = vtep_find(r, vtep);

	if (i >= 0)
		return i;
	if (vtep->sa.sa_family != AF_INET && vtep->sa.sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	for (i = 0; i < VX_VTEP_MAX; i++) {
		if (r->vtep[i].addr.sa.sa_family == AF_UNSPEC) {
			r->vtep[i] = (struct vx_vtep){ .addr = *vtep };
			if (vtep->sa.sa_family == AF_INET)
				r->vtep[i].addr.v4.sin_port = 0;
			else
				r->vtep[i].addr.v6.sin6_port = 0;
			return i;
		}
	}
	return -ENOSPC;
}

/* Free slot @i once nothing refers to it. */
static void vtep_put(struct vx_remotes *r, int i)
{
	if (!r->vtep[i].macs && !r->vtep[i].flood)
		memset(&r->vtep[i], 0, sizeof(r->vtep[i]));
}

/** vx_remotes_mac_set() - @mac lives behind @vtep. Return: 0 or -errno */
int vx_remotes_mac_set(struct vx_remotes *r, const uint8_t *mac,
		       const union vx_addr *vtep)
{
	uint16_t old;
	bool had = macmap_get(&r->macs, mac, &old);
	int i = vtep_get(r, vtep), rc;

	if (i < 0)
		return i;
	if (had && old == i)
		return 0;
	rc = macmap_set(&r->macs, mac, (uint16_t)i);
	if (rc) {
		vtep_put(r, i);
		return rc;
	}
	r->vtep[i].macs++;
	if (had) {
		r->vtep[old].macs--;
		vtep_put(r, old);
	}
	return 0;
}

/** vx_remotes_mac_del() - forget remote @mac. Return: 0 or -ENOENT */
int vx_remotes_mac_del(struct vx_remotes *r, const uint8_t *mac)
{
	uint16_t i;

	if (!macmap_get(&r->macs, mac, &i))
		return -ENOENT;
	macmap_del(&r->macs, mac);
	r->vtep[i].macs--;
	vtep_put(r, i);
	return 0;
}

/** vx_remotes_flood_add() - put @vtep on the flood list. Return: 0 or -errno */
int vx_remotes_flood_add(struct vx_remotes *r, const union vx_addr *vtep)
{
	int i = vtep_get(r, vtep);

	if (i < 0)
		return i;
	if (!r->vtep[i].flood) {
		r->vtep[i].flood = true;
		r->flood[r->nflood++] = (uint16_t)i;
	}
	return 0;
}

/** vx_remotes_flood_del() - take @vtep off the flood list. Return: 0 or -ENOENT */
int vx_remotes_flood_del(struct vx_remotes *r, const union vx_addr *vtep)
{
	int i = vtep_find(r, vtep);
	unsigned int k;

	if (i < 0 || !r->vtep[i].flood)
		return -ENOENT;
	for (k = 0; k < r->nflood; k++)
		if (r->flood[k] == i) {
			r->flood[k] = r->flood[--r->nflood];
			break;
		}
	r->vtep[i].flood = false;
	vtep_put(r, i);
	return 0;
}

/** vx_remotes_known() - may a datagram from @from be taken (a VTEP we know)? */
bool vx_remotes_known(const struct vx_remotes *r, const union vx_addr *from)
{
	return vtep_find(r, from) >= 0;
}

/**
 * vx_remotes_targets() - the VTEPs a frame to @dmac goes to
 * @r:		table
 * @dmac:	the frame's destination MAC
 * @out:	VX_VTEP_MAX pointers: set to the VTEPs' addresses
 *
 * Known unicast goes to its one VTEP; broadcast, multicast and unknown
 * unicast to every VTEP of the flood list (none: the frame is dropped).
 *
 * Return: how many VTEPs
 */
unsigned int vx_remotes_targets(const struct vx_remotes *r, const uint8_t *dmac,
				const union vx_addr **out)
{
	unsigned int k;
	uint16_t i;

	if (!(dmac[0] & 1) && macmap_get(&r->macs, dmac, &i)) {
		out[0] = &r->vtep[i].addr;
		return 1;
	}
	for (k = 0; k < r->nflood; k++)
		out[k] = &r->vtep[r->flood[k]].addr;
	return r->nflood;
}
