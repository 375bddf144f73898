/* SPDX-License-Identifier: MIT */
/* datapath.c - the poll loop, adaptive sleeping and busy-cycle accounting */
#include <sys/resource.h>

#include "core/cycles.h"
#include "core/log.h"
#include "switch/datapath.h"

/*
 * After work the loop keeps polling for a window before it sleeps. The
 * window adapts to the traffic: it halves when work comes only after a
 * sleep (polling was wasted: sparse frames) and doubles when work comes
 * late in the window (polling nearly missed it: dense traffic). So a
 * request/reply pair within microseconds is caught polling, a stream keeps
 * the loop polling, and a few frames a millisecond cost a wake-up each
 * instead of 200 us of polling each.
 */
#define POLL_WINDOW_MAX_US	200
#define POLL_WINDOW_MIN_US	10
#define CONTROL_EVERY_PASSES	128	/* look at sockets and timers this often */
#define SLEEP_MAX_MS		1000
#define AGING_PERIOD_NS		(1000ull * 1000 * 1000)


static void update_clock(struct datapath *dp)
{
	dp->bridge->now_s = (uint32_t)((now_ns() - dp->start_ns) / 1000000000u);
}

/* Once a second, sweep part of the MAC table for silent entries. */
static void on_aging(struct ev_timer *t)
{
	struct datapath *dp = container_of(t, struct datapath, aging);
	struct fdb *fdb = &dp->bridge->fdb;
	uint32_t slots = fdb->mask + 1;

	update_clock(dp);
	fdb_age(fdb, dp->bridge->now_s, slots <= 65536 ? slots : slots / 16);
	evloop_timer_arm(t, on_aging, AGING_PERIOD_NS);
}

/**
 * datapath_init() - set up the loop over the ports of @b
 * @dp:		datapath
 * @b:		bridge holding the ports
 * @busy_poll:	true to poll forever instead of sleeping when idle
 * @burst:	frames per ring per pass (fairness between rings)
 */
void datapath_init(struct datapath *dp, struct bridge *b, bool busy_poll,
		   unsigned int burst)
{
	*dp = (struct datapath){ .bridge = b, .busy_poll = busy_poll,
				 .burst = burst };
	dp->poll_max = cycles_per_second() / 1000000 * POLL_WINDOW_MAX_US;
	dp->poll_min = cycles_per_second() / 1000000 * POLL_WINDOW_MIN_US;
	dp->poll_window = dp->poll_max;
	dp->start_ns = now_ns();
	update_clock(dp);
	evloop_timer_arm(&dp->aging, on_aging, AGING_PERIOD_NS);
}

/* Idle ports (no frontend yet) cost nothing: the loop only sees the others. */
static void refresh_active(struct datapath *dp)
{
	struct bridge *b = dp->bridge;
	unsigned int i;

	dp->nactive = 0;
	for (i = 0; i < b->nports; i++)
		if (b->port[i]->active)
			dp->active[dp->nactive++] = b->port[i];
	dp->active_gen = port_active_gen;
}

/*
 * The pass borrowed frames from guest buffers: copy in the tails still
 * queued, then let the ports give the buffers back.
 */
static void settle(struct datapath *dp)
{
	unsigned int i;

	packet_settle();
	packet_pool.held = false;
	for (i = 0; i < dp->nactive; i++)
		if (dp->active[i]->ops->settle)
			dp->active[i]->ops->settle(dp->active[i]);
}

/**
 * datapath_poll() - one pass: receive from every port, switch, transmit
 * @dp:		datapath
 *
 * Return: packets received plus packets transmitted
 */
unsigned int datapath_poll(struct datapath *dp)
{
	struct bridge *b = dp->bridge;
	struct port **port = dp->active;
	unsigned int i, rx = 0, tx = 0;

	if (unlikely(dp->active_gen != port_active_gen))
		refresh_active(dp);
	b->now = cycles_now();
	for (i = 0; i < dp->nactive; i++)
		rx += port[i]->ops->rx(port[i], dp->burst);
	if (rx || unlikely(port_rx_injected)) {
		port_rx_injected = false;
		for (i = 0; i < dp->nactive; i++)
			if (!link_empty(&port[i]->rx))
				bridge_forward(b, port[i]);
	}
	/* An inactive port's tx link is flushed by the port itself. */
	for (i = 0; i < dp->nactive; i++)
		if (!link_empty(&port[i]->tx))
			tx += port[i]->ops->tx(port[i]);
	if (unlikely(packet_pool.held))
		settle(dp);
	dp->stats.passes++;
	if (rx)
		dp->stats.busy_packets += rx;
	return rx + tx;
}

/*
 * Ask every port for kicks, then wait for one (or a control event). A port
 * with work already pending cancels the sleep.
 */
static void sleep_until_kicked(struct datapath *dp)
{
	struct port **port = dp->active;
	bool pending = false;
	unsigned int i, n = dp->nactive;

	for (i = 0; i < n && !pending; i++)
		pending = port[i]->ops->sleep_prepare(port[i]);
	if (!pending) {
		dp->stats.sleeps++;
		evloop_run_once(SLEEP_MAX_MS);
	}
	/* A control command in the wait may have removed a port. */
	if (dp->active_gen != port_active_gen)
		refresh_active(dp);
	for (i = 0; i < dp->nactive; i++)
		port[i]->ops->sleep_finish(port[i]);
}

/*
 * Control events between passes; the longest such pause is kept. It is the
 * loop thread's CPU time in the callbacks, so another process preempting
 * us does not count: only what the control plane itself costs the
 * datapath. The clock is read only around callbacks that run, never for
 * an empty poll and never per packet.
 */
static void run_control(struct datapath *dp)
{
	uint64_t dt;

	evloop_run_timed(0, &dt);
	if (dt > dp->stats.max_pause_ns)
		dp->stats.max_pause_ns = dt;
}

/* Work came @gap cycles after the last; @slept: only after a sleep. */
static void adapt_window(struct datapath *dp, uint64_t gap, bool slept)
{
	if (slept)
		dp->poll_window = MAX(dp->poll_min, dp->poll_window / 2);
	else if (gap > dp->poll_window / 2)
		dp->poll_window = MIN(dp->poll_max, dp->poll_window * 2);
}

/**
 * datapath_run() - loop until *@quit; print counters whenever *@dump is set
 * @dp:		datapath
 * @quit:	set by SIGINT/SIGTERM
 * @dump:	set by SIGUSR1, cleared here
 */
void datapath_run(struct datapath *dp, volatile sig_atomic_t *quit,
		  volatile sig_atomic_t *dump)
{
	uint64_t idle_since = cycles_now();
	unsigned int pass = 0;
	bool slept = false;

	while (!*quit) {
		uint64_t t0 = cycles_now(), t1;

		if (datapath_poll(dp)) {
			t1 = cycles_now();
			dp->stats.busy_cycles += t1 - t0;
			adapt_window(dp, t0 - idle_since, slept);
			slept = false;
			idle_since = t1;
		} else if (!dp->busy_poll && t0 - idle_since > dp->poll_window) {
			sleep_until_kicked(dp);
			slept = true;
			idle_since = cycles_now();
			pass = 0;
		}
		if (++pass % CONTROL_EVERY_PASSES == 0)
			run_control(dp);
		if (*dump) {
			*dump = 0;
			datapath_print_stats(dp, stderr);
		}
	}
}

/** datapath_print_stats() - every port's counters and the loop's own */
void datapath_print_stats(struct datapath *dp, FILE *out)
{
	unsigned int i;

	for (i = 0; i < dp->bridge->nports; i++)
		port_print_stats(dp->bridge->port[i], out);
	datapath_print_stats_loop(dp, out);
}

/** datapath_print_stats_loop() - the switch's and the loop's own counters */
void datapath_print_stats_loop(struct datapath *dp, FILE *out)
{
	const struct datapath_stats *s = &dp->stats;
	const struct bridge *b = dp->bridge;
	struct fdb_stats fs;
	struct rusage ru;
	double cpu_s;

	fdb_stats_get(&b->fdb, &fs);
	getrusage(RUSAGE_SELF, &ru);
	cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	fprintf(out, "switch: %llu unicast, %llu flooded, %llu filtered; "
		"mac table %u entries (%llu learned, %llu moved, %llu aged, %llu refused)\n",
		(unsigned long long)b->stats.unicast,
		(unsigned long long)b->stats.flooded,
		(unsigned long long)b->stats.filtered, fdb_entries(&b->fdb),
		(unsigned long long)fs.learned, (unsigned long long)fs.moved,
		(unsigned long long)fs.aged, (unsigned long long)fs.full);
	fprintf(out, "datapath: %llu packets in busy passes, %llu busy cycles, "
		"%.1f busy cycles/packet, %.3f s busy, %.3f s process cpu, "
		"%llu passes, %llu sleeps\n",
		(unsigned long long)s->busy_packets,
		(unsigned long long)s->busy_cycles,
		s->busy_packets ? (double)s->busy_cycles / s->busy_packets : 0.0,
		(double)s->busy_cycles / cycles_per_second(), cpu_s,
		(unsigned long long)s->passes, (unsigned long long)s->sleeps);
	fflush(out);
}
