/* SPDX-License-Identifier: MIT */
/*
 * port.h - the interface every port type implements
 *
 * A port is an app with two links: @rx carries what the switch receives from
 * the port, @tx what the switch transmits to it (rx and tx are always named
 * from the switch's side). ops->rx fills @rx from the outside world; the
 * bridge empties every @rx into the @tx links; ops->tx empties @tx.
 */
#ifndef VMSW_PORT_H
#define VMSW_PORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pkt/drop.h"
#include "pkt/link.h"
#include "policy/policy.h"
#include "policy/port_options.h"

#define PORT_MAX	256
#define PORT_TXQ_MAX	16	/* transmit queues a port may have (ops->tx_queues) */

struct port_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t drops[DROP_MAX];
	uint64_t gso_segmented;		/* frames cut into MSS-sized ones here */
	uint64_t csum_completed;	/* partial checksums completed here */
};

struct port;

/** struct port_queue_stats - one queue pair's counters, switch's side */
struct port_queue_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
};

/**
 * struct port_ops - what a port type provides
 * @type:	name used in port specs ("vhost-user")
 * @start:	open sockets or devices and register fds; 0 or -errno
 * @rx:		move up to @budget frames per queue into port->rx; returns count
 * @tx:		move frames from port->tx out of the switch; returns count
 * @sleep_prepare: ask for wake-ups (kicks); true if work is already pending
 * @sleep_finish: back to polling
 * @settle:	optional, end of a pass that borrowed frames: return the
 *		guest buffers held for them (see packet_borrow())
 * @show:	print state, features and per-queue counters
 * @destroy:	close everything and free the port
 * @state:	optional: a one-word state
 * @queues:	optional: per-queue counters (see below)
 * @endpoint:	optional: what outside the switch the port takes for itself
 *		(a socket path): a second port of the type on it is refused
 * @wake_fds:	datapath threads only (port_threaded): the fds that signal
 *		work for the port (kick eventfds, a host port's socket or tap),
 *		which the polling thread sleeps on instead of the control
 *		loop; returns how many
 * @wake_eventfds: the wake fds are eventfds, emptied by the thread they
 *		woke (vhost-user kicks); otherwise they are sockets or devices,
 *		readable while work waits, that only ops->rx reads
 * @control:	optional, datapath threads only: the port asked for the
 *		control thread (port_want_control()); called there, threads
 *		paused
 * @release:	optional, datapath threads only: give back what the port
 *		keeps from its polling thread's pool between passes (a tap's
 *		spare buffer), before it moves to another thread; called on
 *		the control thread, threads paused
 * @tx_queues:	optional, datapath threads only: how many transmit queues
 *		the port has now (a guest's started RX rings; 0: none, the
 *		port is down); changes only while the port is quiesced
 * @tx_from:	with @tx_queues: send what the queues in @mask (bit q:
 *		queue q) take from @from, whose frames are fit for the port;
 *		what they do not take stays on @from, in order. Several
 *		threads call it at once, each with its own queues, under
 *		those queues' transmit locks. Returns frames taken off @from.
 *		A port with @tx_from keeps its transmit queues out of
 *		@sleep_prepare and @sleep_finish, which its polling thread
 *		then runs without those locks.
 */
struct port_ops {
	const char *type;
	int (*start)(struct port *port);
	unsigned int (*rx)(struct port *port, unsigned int budget);
	unsigned int (*tx)(struct port *port);
	bool (*sleep_prepare)(struct port *port);
	void (*sleep_finish)(struct port *port);
	void (*settle)(struct port *port);
	void (*show)(struct port *port, FILE *out);
	void (*destroy)(struct port *port);
	const char *(*state)(struct port *port);
	unsigned int (*queues)(struct port *port, struct port_queue_stats *out,
			       unsigned int max);
	const char *(*endpoint)(struct port *port);
	unsigned int (*wake_fds)(struct port *port, int *fds, unsigned int max);
	bool wake_eventfds;
	void (*control)(struct port *port);
	void (*release)(struct port *port);
	unsigned int (*tx_queues)(struct port *port);
	unsigned int (*tx_from)(struct port *port, uint32_t mask, struct link *from);
};

/**
 * struct port - what every port type shares; the type's own state embeds it
 * @name:	unique name from the port spec ("vm1")
 * @idx:	slot in the bridge's port table, which the MAC table stores
 * @up:		can take frames now (e.g. the guest's receive queue started);
 *		frames for a port that is not up are dropped as port_down
 * @active:	worth polling (a frontend is connected); see port_set_active()
 * @tx_borrowed: ops->tx copies borrowed tails itself, so the bridge need
 *		not linearize frames for it
 * @tx_offloads: PKT_OFL_* the port takes on transmit (a guest's GUEST_*
 *		features, a tap's offloads); frames asking for more are
 *		segmented or checksummed before they are queued
 * @ops:	the type's functions
 * @stats:	counters, from the switch's side
 * @policy:	VLAN, filters, policing, MTU, mirror and capture settings
 * @mirror:	the port copies of rx and tx go to (policy.opt.mirror as the
 *		switch resolved it), or NULL
 * @rx:		frames received from the port, for the bridge
 * @tx:		frames the bridge queued for the port, for ops->tx
 * @rx_pool:	datapath threads only: the pool of the thread polling the
 *		port, for frames the control thread injects (port_inject_rx())
 * @want_control: set by a datapath thread (port_want_control()), cleared
 *		by the control thread
 */
struct port {
	char name[PORT_NAME_MAX];
	uint16_t idx;
	bool up;
	bool active;
	bool tx_borrowed;
	unsigned int tx_offloads;
	const struct port_ops *ops;
	struct port_stats stats;
	struct policy policy;
	struct port *mirror;
	struct link rx;
	struct link tx;
	struct packet_pool *rx_pool;
	bool want_control;
};

/*
 * port_drop() - count @n packets dropped for @why. With datapath threads,
 * the thread polling the port and the threads sending to it (each through
 * its own queues) count drops on it at once: a relaxed atomic add, off the
 * forwarding path.
 */
static inline void port_drop(struct port *port, enum port_drop why,
			     unsigned int n)
{
	__atomic_fetch_add(&port->stats.drops[why], n, __ATOMIC_RELAXED);
}

/* A counter of @port that senders on several threads bump at once. */
static inline void port_count_shared(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/** port_tx_sent() - the first @n packets on @port's tx link went out */
static inline void port_tx_sent(struct port *port, unsigned int n)
{
	while (n--) {
		struct packet *p = link_get(&port->tx);

		port->stats.tx_packets++;
		port->stats.tx_bytes += p->len;
		packet_free(p);
	}
}

/** port_drop_packet() - free @p and count it */
static inline void port_drop_packet(struct port *port, enum port_drop why,
				    struct packet *p)
{
	packet_free(p);
	port_drop(port, why, 1);
}

/*
 * Where frames for a port are queued: its own tx link (mask 0, sent by
 * ops->tx), or a sending thread's link for the port's queues in @mask
 * (sent by ops->tx_from, under those queues' locks).
 */
struct port_txq {
	struct link *link;
	uint32_t mask;
};

void port_enqueue_prepared(struct port *port, struct port_txq q, struct packet *p);

/**
 * port_enqueue_txq() - queue @p on @q's link, made fit for @port
 * @port:	destination, up
 * @q:		the link, and the queues it is sent through
 * @p:		frame, consumed: queued, or dropped and counted on @port
 */
static inline void port_enqueue_txq(struct port *port, struct port_txq q,
				    struct packet *p)
{
	if (unlikely(pkt_offloaded(p)) && pkt_offload_needs(&p->ofl, port->tx_offloads))
		port_enqueue_prepared(port, q, p);
	else if (unlikely(link_full(q.link)))
		port_drop_packet(port, DROP_LINK_FULL, p);
	else
		link_put(q.link, p);
}

/** port_enqueue() - queue @p on @port's tx link, made fit for the port */
static inline void port_enqueue(struct port *port, struct packet *p)
{
	port_enqueue_txq(port, (struct port_txq){ &port->tx, 0 }, p);
}

int port_create(const char *spec, struct port **out, char *why, size_t whylen);
void port_init(struct port *port, const char *name, const struct port_ops *ops);
void port_destroy(struct port *port);

/* Bumped whenever a port starts or stops being worth polling. */
extern unsigned int port_active_gen;

/* A frame was put on a port's rx link outside ops->rx (e.g. SEND_RARP). */
extern bool port_rx_injected;

/*
 * run --cpus: datapath threads poll the ports, the control loop runs in
 * its own thread. Set once at startup, before any port exists.
 */
extern bool port_threaded;

/*
 * A datapath thread's own tx links, one per port slot, where it queues
 * frames for any port (mirror copies included); NULL in the single thread,
 * where frames go straight onto port->tx.
 */
extern __thread struct link *port_stage;

/* Eventfd the control thread watches for port_want_control() (-1: none). */
extern int port_control_fd;

void port_want_control(struct port *port);

/**
 * port_rx_put() - a frame @port received goes on its rx link, counted
 * @port:	ingress port; its rx link has room (the caller checked)
 * @p:		frame, consumed
 */
static inline void port_rx_put(struct port *port, struct packet *p)
{
	p->in_port = port->idx;
	p->in_queue = 0;
	port->stats.rx_packets++;
	port->stats.rx_bytes += p->len;
	link_put(&port->rx, p);
}

/**
 * port_alloc_injected() - a packet for port_inject_rx() on @port: from the
 * pool of the thread that polls it (paused), or this thread's
 */
static inline struct packet *port_alloc_injected(struct port *port)
{
	return port->rx_pool ? packet_alloc_from(port->rx_pool) : packet_alloc();
}

/**
 * port_inject_rx() - @p enters the switch as if @port had received it
 * @port:	ingress port
 * @p:		frame, consumed (dropped and counted if the rx link is full)
 *
 * For frames the control plane makes (a RARP after a migration): the next
 * pass switches them even if no port received anything.
 */
static inline void port_inject_rx(struct port *port, struct packet *p)
{
	if (link_full(&port->rx)) {
		port_drop_packet(port, DROP_LINK_FULL, p);
		return;
	}
	port_rx_put(port, p);
	port_rx_injected = true;
}

/* ops->wake_fds of a port with one fd to sleep on (-1: none now). */
static inline unsigned int port_wake_fd(int fd, int *fds, unsigned int max)
{
	if (fd < 0 || !max)
		return 0;
	fds[0] = fd;
	return 1;
}

/*
 * port->up, read by datapath threads sending to the port while the
 * control thread runs the port's own events (switch/threads.c): relaxed
 * atomics, plain loads and stores on every CPU we build for.
 */
static inline bool port_is_up(const struct port *port)
{
	return __atomic_load_n(&port->up, __ATOMIC_RELAXED);
}

static inline void port_set_up(struct port *port, bool up)
{
	__atomic_store_n(&port->up, up, __ATOMIC_RELAXED);
}

/*
 * port_set_active() - include @port in the loop's passes, or leave it out.
 * port->active is read by datapath threads rebuilding their port lists
 * while the control thread may run another port's own events: relaxed
 * atomics (port_is_active()).
 */
static inline void port_set_active(struct port *port, bool active)
{
	if (port->active != active) {
		__atomic_store_n(&port->active, active, __ATOMIC_RELAXED);
		port_active_gen++;
	}
}

static inline bool port_is_active(const struct port *port)
{
	return __atomic_load_n(&port->active, __ATOMIC_RELAXED);
}
void port_print_stats(struct port *port, FILE *out);
bool port_policy_in(struct port *port, struct packet *p, uint64_t now);
bool port_policy_out(struct port *port, struct packet *p, uint64_t now);

/* Port types: parse type-specific arguments and allocate. */
int port_vhost_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen);
int port_afxdp_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen);
int port_tap_create(const char *name, const char *args, struct port **out,
		    char *why, size_t whylen);
int port_afpacket_create(const char *name, const char *args, struct port **out,
			 char *why, size_t whylen);
int port_vxlan_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen);

#endif /* VMSW_PORT_H */
