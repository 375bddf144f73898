/* SPDX-License-Identifier: MIT */
/* bridge.c - MAC learning and forwarding between port links */
#include <errno.h>
#include <string.h>

#include "bridge.h"

/** bridge_init() - no ports, an empty MAC table. Return: 0 or -errno */
int bridge_init(struct bridge *b, uint32_t fdb_max, uint32_t aging_s)
{
	*b = (struct bridge){ 0 };
	return fdb_init(&b->fdb, fdb_max, aging_s);
}

void bridge_destroy(struct bridge *b)
{
	fdb_destroy(&b->fdb);
}

/** bridge_add_port() - attach @port; its index is set here. Return: 0 or -ENOSPC */
int bridge_add_port(struct bridge *b, struct port *port)
{
	unsigned int i;

	for (i = 0; i < PORT_MAX; i++) {
		if (!b->slot[i]) {
			b->slot[i] = port;
			port->idx = (uint16_t)i;
			b->port[b->nports++] = port;
			port_active_gen++;
			return 0;
		}
	}
	return -ENOSPC;
}

/**
 * bridge_remove_port() - detach @port: its MACs are forgotten, its queued
 * packets freed, and no frame refers to it afterwards
 */
void bridge_remove_port(struct bridge *b, struct port *port)
{
	unsigned int i;

	for (i = 0; i < b->nports; i++) {
		if (b->port[i] == port) {
			b->port[i] = b->port[--b->nports];
			break;
		}
	}
	b->slot[port->idx] = NULL;
	port_active_gen++;
	fdb_flush_port(&b->fdb, port->idx);
	link_flush(&port->rx);
	link_flush(&port->tx);
	for (i = 0; i < b->nports; i++)
		if (b->port[i]->policy.mirror == port)
			b->port[i]->policy.mirror = NULL;
}

/** bridge_find() - the port called @name, or NULL */
struct port *bridge_find(const struct bridge *b, const char *name)
{
	unsigned int i;

	for (i = 0; i < b->nports; i++)
		if (!strcmp(b->port[i]->name, name))
			return b->port[i];
	return NULL;
}

/* Hand @p to @dst's tx link, or drop and count it there. */
static inline void deliver(struct port *dst, struct packet *p)
{
	if (unlikely(p->ext) && !dst->tx_borrowed)
		packet_linearize(p);
	if (unlikely(dst->policy.active_out) && !policy_egress(dst, p))
		packet_free(p);
	else if (unlikely(!dst->up))
		port_drop_packet(dst, DROP_PORT_DOWN, p);
	else if (unlikely(link_full(&dst->tx)))
		port_drop_packet(dst, DROP_LINK_FULL, p);
	else
		link_put(&dst->tx, p);
}

static inline bool vlan_member(const struct port *port, uint16_t vlan)
{
	if (likely(!port->policy.active_out))
		return vlan == 0;
	return policy_vlan_member(&port->policy, vlan);
}

/* Send @p to every port but its ingress; clones all but the last copy. */
static void flood(struct bridge *b, struct packet *p)
{
	struct port *last = NULL;
	unsigned int i;

	b->stats.flooded++;
	for (i = 0; i < b->nports; i++) {
		struct port *dst = b->port[i];
		struct packet *c;

		if (dst->idx == p->in_port || !dst->up || !vlan_member(dst, p->vlan))
			continue;
		if (last) {
			c = packet_clone(p);
			if (!c)
				port_drop(last, DROP_NO_PACKET, 1);
			else
				deliver(last, c);
		}
		last = dst;
	}
	if (last)
		deliver(last, p);
	else
		packet_free(p);
}

/*
 * The frames of a burst mostly share their source and destination, so the
 * last source learned and the last destination looked up are remembered for
 * the rest of the burst. Learning may move a MAC, so it forgets the latter.
 */
struct burst_cache {
	uint64_t learned;	/* fdb key last learned, 0: none */
	uint64_t dst;		/* fdb key last looked up, 0: none */
	uint16_t out;		/* its port */
};

static inline void learn(struct bridge *b, struct burst_cache *bc,
			 const uint8_t *smac, uint16_t vlan, uint16_t port)
{
	uint64_t key = fdb_key(smac, vlan);

	if (likely(key == bc->learned))
		return;
	fdb_learn(&b->fdb, smac, vlan, port, b->now_s);
	bc->learned = key;
	bc->dst = 0;
}

static inline uint16_t lookup(struct bridge *b, struct burst_cache *bc,
			      const uint8_t *dmac, uint16_t vlan)
{
	uint64_t key = fdb_key(dmac, vlan);

	if (likely(key == bc->dst))
		return bc->out;
	bc->dst = key;
	bc->out = fdb_lookup(&b->fdb, dmac, vlan);
	return bc->out;
}

/**
 * bridge_forward() - switch every packet waiting in @src's rx link
 * @b:		bridge
 * @src:	ingress port; its rx link is emptied
 */
void bridge_forward(struct bridge *b, struct port *src)
{
	struct burst_cache bc = { 0 };

	while (!link_empty(&src->rx)) {
		struct packet *p = link_get(&src->rx);
		const uint8_t *dmac, *smac;
		uint16_t out;

		if (unlikely(src->policy.active_in) && !policy_ingress(src, p)) {
			packet_free(p);
			continue;
		}
		dmac = p->data;
		smac = p->data + 6;
		if (likely(!(smac[0] & 1)))
			learn(b, &bc, smac, p->vlan, src->idx);
		if (unlikely(dmac[0] & 1)) {
			flood(b, p);
			continue;
		}
		out = lookup(b, &bc, dmac, p->vlan);
		if (out == FDB_NO_PORT) {
			flood(b, p);
		} else if (unlikely(out == src->idx)) {
			b->stats.filtered++;
			packet_free(p);
		} else if (likely(b->slot[out] != NULL)) {
			b->stats.unicast++;
			deliver(b->slot[out], p);
		} else {
			flood(b, p);
		}
	}
}
