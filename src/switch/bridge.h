/* SPDX-License-Identifier: MIT */
/*
 * bridge.h - the learning Ethernet switch between the ports' links
 *
 * Learns source MACs per VLAN, forwards known unicast to its one port and
 * floods broadcast, multicast and unknown unicast to every other port that
 * is up. A frame never goes back out of the port it came in on.
 */
#ifndef VMSW_BRIDGE_H
#define VMSW_BRIDGE_H

#include <stdint.h>

#include "ports/port.h"
#include "switch/fdb.h"

struct bridge_stats {
	uint64_t unicast;	/* known unicast forwarded to one port */
	uint64_t flooded;	/* frames flooded (counted once each) */
	uint64_t filtered;	/* known unicast whose port is the ingress */
};

struct bridge {
	struct port *port[PORT_MAX];	/* the ports, densely, for the loop */
	unsigned int nports;
	struct port *slot[PORT_MAX];	/* by port->idx, which the MAC table uses */
	struct fdb fdb;
	struct bridge_stats stats;
	uint32_t now_s;		/* seconds, set once per loop pass */
	uint64_t now;		/* TSC at the start of the pass (policing) */
	/* Optional: called when a port leaves, before its links are flushed. */
	void (*port_leaving)(struct bridge *b, struct port *port);
	void *port_leaving_ctx;
};

/**
 * struct bridge_pass - what a datapath thread's pass keeps of its own
 * @now:	TSC at the start of the pass (policing)
 * @stats:	this thread's share of the bridge's counters
 * @stage:	the thread's tx links, by port slot (see port_stage)
 * @lock:	called around what touches a destination port's state (egress
 *		policy, drop counters): the port's transmit lock
 * @unlock:	its counterpart
 * @ctx:	for @lock and @unlock
 */
struct bridge_pass {
	uint64_t now;
	struct bridge_stats stats;
	struct link *stage;
	void (*lock)(void *ctx, struct port *port);
	void (*unlock)(void *ctx, struct port *port);
	void *ctx;
};

int bridge_init(struct bridge *b, uint32_t fdb_max, uint32_t aging_s);
void bridge_destroy(struct bridge *b);
int bridge_add_port(struct bridge *b, struct port *port);
void bridge_remove_port(struct bridge *b, struct port *port);
struct port *bridge_find(const struct bridge *b, const char *name);
void bridge_forward(struct bridge *b, struct port *src);
void bridge_forward_staged(struct bridge *b, struct bridge_pass *bp,
			   struct port *src);

#endif /* VMSW_BRIDGE_H */
