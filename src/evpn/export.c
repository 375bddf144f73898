/* SPDX-License-Identifier: MIT */
/*
 * export.c - local MACs to the advertise devices: each round walks the MAC
 * table, adds what is new and removes what the table no longer has
 */
#include <errno.h>
#include <string.h>

#include "evpn/evpn.h"
#include "ports/port_vxlan.h"
#include "switch/fdb.h"

#define STALE_PER_PASS	1024	/* removals collected per walk of a VNI */

/* @mac was seen this round in @v's VLAN: give it to the kernel if new. */
static void export_mac(struct evpn *e, struct evpn_vni *v, const uint8_t *mac)
{
	bool known = macmap_get(&v->exported, mac, NULL);

	if (macmap_set(&v->exported, mac, e->round)) {
		e->stats.export_errors++;	/* full: tried again next round */
		return;
	}
	if (known)
		return;
	if (rtnl_fdb(&e->req, true, v->dev.adv_ifindex, mac)) {
		e->stats.export_errors++;
		macmap_del(&v->exported, mac);
		return;
	}
	e->stats.exported++;
	/* Learned here now: a remote entry for it is out of date (mobility). */
	if (!vx_remotes_mac_del(port_vxlan_evpn(v->port), mac))
		e->stats.remote_removed++;
}

/* The VLAN @port carries untagged (its access VLAN, 0 without one), now. */
static uint16_t port_vlan(const struct port *port)
{
	const struct port_options *o = &port->policy.opt;

	return o->vlan_mode == VLAN_ACCESS ? o->access_vlan : 0;
}

static void export_entry(const struct fdb_entry *fe, void *arg)
{
	struct evpn *e = arg;
	uint16_t vlan = (uint16_t)(fe->key >> 48 & 0xfff);
	const struct port *src;
	uint8_t mac[8];
	unsigned int i;

	if (fe->port >= PORT_MAX)
		return;
	src = e->bridge->slot[fe->port];
	if (!src || port_is_vxlan(src))
		return;
	memcpy(mac, &fe->key, 8);
	for (i = 0; i < e->nvni; i++)
		if (port_vlan(e->vni[i]->port) == vlan)
			export_mac(e, e->vni[i], mac);
}

struct stale {
	uint16_t round;
	unsigned int n;
	uint8_t mac[STALE_PER_PASS][6];
};

static void collect_stale(const uint8_t *mac, uint16_t round, void *arg)
{
	struct stale *s = arg;

	if (round != s->round && s->n < STALE_PER_PASS)
		memcpy(s->mac[s->n++], mac, 6);
}

/* Remove from the kernel what this round did not see. */
static void withdraw_stale(struct evpn *e, struct evpn_vni *v)
{
	static struct stale s;
	unsigned int i;

	s.round = e->round;
	s.n = 0;
	macmap_walk(&v->exported, collect_stale, &s);
	for (i = 0; i < s.n; i++) {
		int rc = rtnl_fdb(&e->req, false, v->dev.adv_ifindex, s.mac[i]);

		if (rc && rc != -ENOENT)
			e->stats.export_errors++;
		macmap_del(&v->exported, s.mac[i]);
		e->stats.withdrawn++;
	}
}

/** evpn_export() - one round: the kernel's entries follow the MAC table */
void evpn_export(struct evpn *e)
{
	unsigned int i;

	e->round++;
	fdb_walk(&e->bridge->fdb, export_entry, e);
	for (i = 0; i < e->nvni; i++)
		withdraw_stale(e, e->vni[i]);
}
