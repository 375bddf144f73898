/* SPDX-License-Identifier: MIT */
/* bridge.c - MAC learning and forwarding between port links */
#include <errno.h>
#include <string.h>

#include "switch/bridge.h"

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
	if (b->port_leaving)
		b->port_leaving(b, port);
	link_flush_home(&port->rx);	/* may be a datapath thread's */
	link_flush(&port->tx);
	for (i = 0; i < b->nports; i++)
		if (b->port[i]->mirror == port) {
			b->port[i]->mirror = NULL;
			b->port[i]->policy.mirror = false;
			policy_update_active(&b->port[i]->policy);
		}
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
static inline void deliver(struct bridge *b, struct port *dst, struct packet *p)
{
	if (unlikely(p->ext) && !dst->tx_borrowed)
		packet_linearize(p);
	if (unlikely(dst->policy.active_out) && !port_policy_out(dst, p, b->now))
		packet_free(p);
	else if (unlikely(!port_is_up(dst)))
		port_drop_packet(dst, DROP_PORT_DOWN, p);
	else
		port_enqueue(dst, p);
}

/*
 * deliver() on a datapath thread: onto the thread's own tx link for @dst.
 * Other threads send to @dst too, so what changes @dst's state (the
 * egress policy's buckets and captures, drop counters) runs under its
 * transmit lock; the frame is made fit for @dst (port_enqueue()) when the
 * thread sends it, under the lock as well.
 */
static void deliver_staged(struct bridge_pass *bp, struct port *dst,
			   struct packet *p)
{
	struct link *l = &bp->stage[dst->idx];
	bool queued = false;

	if (unlikely(p->ext) && !dst->tx_borrowed)
		packet_linearize(p);
	if (likely(!dst->policy.active_out) && likely(port_is_up(dst)) && likely(!link_full(l))) {
		link_put(l, p);
		return;
	}
	bp->lock(bp->ctx, dst);
	if (!dst->policy.active_out || port_policy_out(dst, p, bp->now)) {
		if (!port_is_up(dst))
			port_drop(dst, DROP_PORT_DOWN, 1);
		else if (link_full(l))
			port_drop(dst, DROP_LINK_FULL, 1);
		else
			queued = true;
	}
	if (queued)
		link_put(l, p);
	bp->unlock(bp->ctx, dst);
	if (!queued)
		packet_free(p);
}

static inline bool vlan_member(const struct port *port, uint16_t vlan)
{
	if (likely(!port->policy.active_out))
		return vlan == 0;
	return policy_vlan_member(&port->policy, vlan);
}

#define FORWARD_INLINE static inline __attribute__((always_inline))

/* deliver() or deliver_staged(): @mt is a constant in each instance. */
FORWARD_INLINE void deliver_any(struct bridge *b, struct bridge_pass *bp,
				struct port *dst, struct packet *p, const bool mt)
{
	if (mt)
		deliver_staged(bp, dst, p);
	else
		deliver(b, dst, p);
}

/* Send @p to every port but its ingress; clones all but the last copy. */
FORWARD_INLINE void flood(struct bridge *b, struct bridge_pass *bp,
			  struct bridge_stats *st, struct packet *p, const bool mt)
{
	struct port *last = NULL;
	unsigned int i;

	st->flooded++;
	for (i = 0; i < b->nports; i++) {
		struct port *dst = b->port[i];
		struct packet *c;

		if (dst->idx == p->in_port || !port_is_up(dst) || !vlan_member(dst, p->vlan))
			continue;
		if (last) {
			c = packet_clone(p);
			if (!c)
				port_drop(last, DROP_NO_PACKET, 1);	/* racy with --cpus */
			else
				deliver_any(b, bp, last, c, mt);
		}
		last = dst;
	}
	if (last)
		deliver_any(b, bp, last, p, mt);
	else
		packet_free(p);
}

/*
 * The frames of a burst mostly share their MAC pair: the previous unicast
 * frame's pair and the port it went to are remembered. A frame with the
 * same pair needs no learning (its source was just learned) and no lookup
 * (nothing changed the table since). Any other frame goes the long way.
 */
struct burst_cache {
	uint64_t macs;		/* first 8 bytes of the pair */
	uint32_t macs_end;	/* the other 4 */
	uint16_t vlan;
	uint16_t out;
	bool valid;
};

static inline bool same_pair(const struct burst_cache *bc, const struct packet *p)
{
	uint64_t a;
	uint32_t b;

	memcpy(&a, p->data, 8);
	memcpy(&b, p->data + 8, 4);
	return bc->valid && a == bc->macs && b == bc->macs_end && p->vlan == bc->vlan;
}

static inline void remember_pair(struct burst_cache *bc, const struct packet *p,
				 uint16_t out)
{
	memcpy(&bc->macs, p->data, 8);
	memcpy(&bc->macs_end, p->data + 8, 4);
	bc->vlan = p->vlan;
	bc->out = out;
	bc->valid = true;
}

/* Learn the source, look up the destination: the port, or FDB_NO_PORT to flood. */
FORWARD_INLINE uint16_t classify(struct bridge *b, struct burst_cache *bc,
				 const struct packet *p, uint16_t in)
{
	const uint8_t *dmac = p->data, *smac = p->data + 6;
	uint16_t out;

	if (likely(same_pair(bc, p)))
		return bc->out;
	if (likely(!(smac[0] & 1)))
		fdb_learn(&b->fdb, smac, p->vlan, in, b->now_s);
	if (unlikely(dmac[0] & 1)) {
		bc->valid = false;	/* learning may have moved a MAC */
		return FDB_NO_PORT;
	}
	out = fdb_lookup(&b->fdb, dmac, p->vlan);
	remember_pair(bc, p, out);
	return out;
}

/*
 * port_policy_in(); on a datapath thread under @src's lock, since a capture
 * of both directions writes one file and other threads send to @src.
 */
FORWARD_INLINE bool policy_in(struct bridge_pass *bp, struct port *src,
			      struct packet *p, uint64_t now, const bool mt)
{
	bool pass;

	if (!mt)
		return port_policy_in(src, p, now);
	bp->lock(bp->ctx, src);
	pass = port_policy_in(src, p, now);
	bp->unlock(bp->ctx, src);
	return pass;
}

/*
 * Switch every packet waiting in @src's rx link. @mt (a constant in each
 * instance): a datapath thread's pass, with its own counters and tx links
 * in @bp; otherwise @b's and the ports' own tx links, @bp unused.
 */
FORWARD_INLINE void forward(struct bridge *b, struct bridge_pass *bp,
			    struct port *src, const bool mt)
{
	struct bridge_stats *st = mt ? &bp->stats : &b->stats;
	uint64_t now = mt ? bp->now : b->now;
	struct burst_cache bc = { .valid = false };

	while (!link_empty(&src->rx)) {
		struct packet *p = link_get(&src->rx);
		uint16_t out;

		if (unlikely(src->policy.active_in) && !policy_in(bp, src, p, now, mt)) {
			packet_free(p);
			continue;
		}
		out = classify(b, &bc, p, src->idx);
		if (unlikely(out == src->idx)) {
			st->filtered++;
			packet_free(p);
		} else if (likely(out != FDB_NO_PORT && b->slot[out] != NULL)) {
			st->unicast++;
			deliver_any(b, bp, b->slot[out], p, mt);
		} else {
			flood(b, bp, st, p, mt);	/* unknown, multicast, or a port just gone */
		}
	}
}

/**
 * bridge_forward() - switch every packet waiting in @src's rx link
 * @b:		bridge
 * @src:	ingress port; its rx link is emptied
 */
void bridge_forward(struct bridge *b, struct port *src)
{
	static struct bridge_pass unused;	/* never touched: mt is false */

	forward(b, &unused, src, false);
}

/**
 * bridge_forward_staged() - bridge_forward() on a datapath thread
 * @b:		bridge
 * @bp:		the thread's pass: clock, counters, tx links, port locks
 * @src:	ingress port the thread polls; its rx link is emptied
 */
void bridge_forward_staged(struct bridge *b, struct bridge_pass *bp,
			   struct port *src)
{
	forward(b, bp, src, true);
}
