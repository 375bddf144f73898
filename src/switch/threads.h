/* SPDX-License-Identifier: MIT */
/*
 * threads.h - datapath threads (run --cpus): each polls the receive queues
 * it owns, switches, and sends from its own tx links; the main thread is
 * the control thread and runs the event loop with every datapath thread
 * paused between two of its passes
 */
#ifndef VMSW_THREADS_H
#define VMSW_THREADS_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/evloop.h"
#include "switch/bridge.h"
#include "switch/datapath.h"

#define DP_THREADS_MAX	64

struct dp_threads;

/**
 * struct dp_thread - one datapath thread
 * @set:	the threads it belongs to
 * @index:	its number (ctl show, port pins)
 * @cpu:	the CPU it is pinned to
 * @own:	the ports whose receive queues it polls (set by the control
 *		thread while it is paused)
 * @stage:	its tx links, one per port slot (port_stage)
 * @prep:	where a port's staged frames are made fit for it and sent
 *		from, under its queues' locks (ports with ops->tx_from)
 * @pass:	its pass state for the bridge: clock, counters, locks
 * @stats:	its loop counters
 * @port_cycles: busy cycles per port slot since the last assignment
 * @pool:	its packet pool (the thread-local one)
 * @epfd:	what it sleeps on: @wake_fd and its ports' kick fds
 * @wake_fd:	eventfd the control thread writes to wake it
 * @pause:	the control thread asks it to park at the end of a pass
 * @parked:	it is parked (under set->lock)
 * @parks:	times it parked (under set->lock)
 */
struct dp_thread {
	struct dp_threads *set;
	unsigned int index;
	int cpu;
	pthread_t tid;
	bool started;
	struct port *own[PORT_MAX];
	unsigned int nown;
	struct port *all[PORT_MAX];	/* every port, for sending */
	unsigned int nall;
	struct link *stage;
	struct link prep;
	struct bridge_pass pass;
	struct datapath_stats stats;
	uint64_t port_cycles[PORT_MAX];
	uint64_t poll_window;
	struct packet_pool *pool;
	int epfd;
	int wake_fd;
	bool pause;
	bool parked;
	uint64_t parks;
	int start_rc;		/* the thread's pool: 0 or -errno */
	uint64_t busy_all;	/* busy cycles since it started, folded */
};

/**
 * struct dp_threads - the datapath threads and what they share
 * @bridge:	the ports and the MAC table
 * @owner:	by port slot: the thread polling the port, or -1
 * @pin:	by port slot: the thread the port is pinned to, or -1
 * @tx_lock:	by port slot: held to change the port's egress state (its
 *		policy's buckets, captures) from a sending thread
 * @txq_lock:	by port slot and transmit queue: held to send through the
 *		queue (and, all of them, to change the rings' state)
 * @tx_contended: by port slot: times a sending thread found one of its
 *		queues' locks taken
 * @quiesced:	by port slot: the control thread runs the port's own events
 *		and holds every lock of the port: senders keep their frames
 *		staged
 * @lock, @cond: the pause handshake
 * @nparked:	threads parked now
 * @quit:	the threads end
 * @active_gen:	port_active_gen the assignment was made at
 * @rebalance:	re-run the assignment at the next resume
 * @pauses:	control events run with every thread parked
 * @port_pauses: control events run with only the port's own users stopped
 * @lb_timer:	automatic rebalancing's period (fn NULL: off)
 * @lb_busy:	each thread's busy_all at the last period
 * @lb_last_ns:	when the last period ended
 * @lb_uneven:	uneven periods in a row
 * @auto_rebalances: placements the load asked for
 */
struct dp_threads {
	struct bridge *bridge;
	unsigned int n;
	struct dp_thread t[DP_THREADS_MAX];
	int owner[PORT_MAX];
	int pin[PORT_MAX];
	pthread_spinlock_t tx_lock[PORT_MAX];
	pthread_spinlock_t txq_lock[PORT_MAX][PORT_TXQ_MAX];
	uint64_t tx_contended[PORT_MAX];
	bool quiesced[PORT_MAX];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int nparked;
	bool quit;
	bool busy_poll;
	unsigned int burst;
	unsigned int pool;	/* packets per thread */
	uint64_t poll_min, poll_max;
	unsigned int active_gen;
	bool rebalance;
	struct ev_handler control_ev;
	uint64_t pauses;
	uint64_t port_pauses;
	struct ev_timer lb_timer;
	uint64_t lb_busy[DP_THREADS_MAX];
	uint64_t lb_last_ns;
	unsigned int lb_uneven;
	uint64_t auto_rebalances;
	struct datapath *dp;	/* where counters are folded into */
	uint64_t start_ns;
};

int dp_threads_parse_cpus(const char *list, int *cpus, unsigned int max,
			  char *why, size_t whylen);
int dp_threads_start(struct dp_threads *s, struct bridge *b, const int *cpus,
		     unsigned int n, bool busy_poll, unsigned int burst,
		     unsigned int pool);
void dp_threads_run(struct dp_threads *s, struct datapath *dp,
		    volatile sig_atomic_t *quit, volatile sig_atomic_t *dump);
void dp_threads_stop(struct dp_threads *s);
void dp_threads_pause(struct dp_threads *s);
void dp_threads_resume(struct dp_threads *s);
void dp_threads_rebalance(struct dp_threads *s);
void dp_threads_auto_rebalance(struct dp_threads *s);
int dp_threads_pin(struct dp_threads *s, const struct port *port, int thread);
void dp_threads_show(const struct dp_threads *s, FILE *out);
void dp_threads_port_show(const struct dp_threads *s, const struct port *port,
			  FILE *out);

/* dp_thread.c */
void *dp_thread_main(void *arg);
void dp_thread_tx_lock(struct dp_threads *s, struct port *port);
void dp_thread_tx_unlock(struct dp_threads *s, struct port *port);
void dp_thread_txqs_lock(struct dp_threads *s, struct port *port);
void dp_thread_txqs_unlock(struct dp_threads *s, struct port *port);

#endif /* VMSW_THREADS_H */
