/* SPDX-License-Identifier: MIT */
/*
 * threads.c - the datapath threads as a whole, seen from the control
 * thread: start and stop, the pause that every control event runs in,
 * which thread polls which port, counters summed over the threads
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/cycles.h"
#include "core/log.h"
#include "switch/assign.h"
#include "switch/threads.h"

#define CONTROL_WAIT_MAX_MS	1000

/**
 * dp_threads_parse_cpus() - "0,2-3" into CPU numbers
 * @list:	comma-separated CPUs and ranges
 * @cpus:	filled with the CPUs, in the order given
 * @max:	room in @cpus
 * @why:	the reason, when refused
 * @whylen:	its size
 *
 * Every CPU must be one this process may run on, and none twice.
 *
 * Return: the number of CPUs, or -EINVAL
 */
int dp_threads_parse_cpus(const char *list, int *cpus, unsigned int max,
			  char *why, size_t whylen)
{
	cpu_set_t allowed, seen;
	const char *s = list;
	unsigned int n = 0;

	CPU_ZERO(&seen);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		CPU_ZERO(&allowed);
	while (*s) {
		char *end;
		long lo = strtol(s, &end, 10), hi = lo, c;

		if (end == s || lo < 0)
			goto bad;
		if (*end == '-') {
			s = end + 1;
			hi = strtol(s, &end, 10);
			if (end == s || hi < lo)
				goto bad;
		}
		for (c = lo; c <= hi; c++) {
			if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed)) {
				snprintf(why, whylen, "--cpus: CPU %ld is not one this "
					 "process may run on", c);
				return -EINVAL;
			}
			if (CPU_ISSET(c, &seen) || n == max) {
				snprintf(why, whylen, "--cpus: CPU %ld twice, or more "
					 "than %u CPUs", c, max);
				return -EINVAL;
			}
			CPU_SET(c, &seen);
			cpus[n++] = (int)c;
		}
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			goto bad;
		s = end;
	}
	if (n)
		return (int)n;
bad:
	snprintf(why, whylen, "--cpus needs a list such as 0,1 or 2-5, not '%s'", list);
	return -EINVAL;
}

/*
 * The threads' counters since the last pause go into the bridge's and the
 * datapath's, which the control plane reads as in the single thread.
 */
static void fold_counters(struct dp_threads *s, struct datapath *dp)
{
	struct bridge_stats *bs = &s->bridge->stats;
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		struct dp_thread *t = &s->t[i];

		dp->stats.busy_cycles += t->stats.busy_cycles;
		dp->stats.busy_packets += t->stats.busy_packets;
		dp->stats.passes += t->stats.passes;
		dp->stats.sleeps += t->stats.sleeps;
		bs->unicast += t->pass.stats.unicast;
		bs->flooded += t->pass.stats.flooded;
		bs->filtered += t->pass.stats.filtered;
		t->busy_all += t->stats.busy_cycles;
		t->stats = (struct datapath_stats){ 0 };
		t->pass.stats = (struct bridge_stats){ 0 };
	}
}

/**
 * dp_threads_pause() - every thread parked at the end of a pass, on return
 *
 * The grace period of every control event: the thread has settled what it
 * borrowed, holds no lock, and looks at no port, ring or guest memory
 * until dp_threads_resume().
 */
void dp_threads_pause(struct dp_threads *s)
{
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		__atomic_store_n(&s->t[i].pause, true, __ATOMIC_RELEASE);
		eventfd_write(s->t[i].wake_fd, 1);	/* if it sleeps */
	}
	pthread_mutex_lock(&s->lock);
	while (s->nparked < s->n)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	s->pauses++;
	if (s->dp)
		fold_counters(s, s->dp);
}

/*
 * A port that moves between threads could leave older frames on the old
 * thread's tx links (a guest out of buffers) that newer ones from the new
 * thread overtake, and injected frames on its rx link come from the old
 * thread's pool: a move waits until no thread holds frames for any port
 * and no rx link holds any.
 */
static bool may_move(const struct dp_threads *s)
{
	unsigned int i, k;

	for (i = 0; i < s->bridge->nports; i++)
		if (!link_empty(&s->bridge->port[i]->rx))
			return false;
	for (i = 0; i < s->n; i++)
		for (k = 0; k < PORT_MAX; k++)
			if (!link_empty(&s->t[i].stage[k]))
				return false;
	return true;
}

/*
 * The active ports as items to place: their busy cycles since the last
 * placement, pins, and where they are now. Returns how many.
 */
static unsigned int gather(const struct dp_threads *s, struct assign_item *item,
			   struct port **port)
{
	const struct bridge *b = s->bridge;
	unsigned int i, k, n = 0;

	for (i = 0; i < b->nports; i++) {
		if (!b->port[i]->active)
			continue;
		port[n] = b->port[i];
		item[n] = (struct assign_item){ .pin = s->pin[port[n]->idx],
						.thread = s->owner[port[n]->idx] };
		for (k = 0; k < s->n; k++)
			item[n].load += s->t[k].port_cycles[port[n]->idx];
		n++;
	}
	return n;
}

/*
 * Where each active port's receive queues go: by load, pins first. A port
 * new to the threads goes at once; one that would move stays where it is
 * while moves are not safe, and the placement is tried again next time.
 */
static void assign(struct dp_threads *s)
{
	struct assign_item item[PORT_MAX];
	struct port *port[PORT_MAX];
	bool safe = may_move(s), held = false;
	int old[PORT_MAX];
	unsigned int i, k, n = gather(s, item, port);

	for (i = 0; i < PORT_MAX; i++) {
		old[i] = s->owner[i];
		s->owner[i] = -1;
	}
	assign_threads(item, n, s->n);
	for (i = 0; i < n; i++) {
		int t = item[i].thread, was = old[port[i]->idx];

		if (!safe && was >= 0 && was != t) {
			t = was;
			held = true;
		}
		/* What it keeps from the old thread's pool goes home first. */
		if (was >= 0 && was != t && port[i]->ops->release)
			port[i]->ops->release(port[i]);
		s->owner[port[i]->idx] = t;
		port[i]->rx_pool = s->t[t].pool;
	}
	if (!held)
		for (k = 0; k < s->n; k++)
			memset(s->t[k].port_cycles, 0, sizeof(s->t[k].port_cycles));
	s->active_gen = port_active_gen;
	s->rebalance = held;
}

/** dp_threads_resume() - reassign if ports came or went, then let them run */
void dp_threads_resume(struct dp_threads *s)
{
	unsigned int i;

	if (s->active_gen != port_active_gen || s->rebalance)
		assign(s);
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n; i++)
		__atomic_store_n(&s->t[i].pause, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Automatic rebalancing, as OVS's pmd-auto-lb: every AUTO_LB_PERIOD_MS the
 * control thread (threads parked: a timer stops every thread) looks at the
 * last period. If the busiest thread was busy at least AUTO_LB_BUSY_PCT of
 * it and a new placement would take AUTO_LB_GAIN_PCT off that thread's
 * load, the period counts as uneven; after AUTO_LB_PERIODS uneven ones in
 * a row the ports are placed again (the next resume, when moves are safe).
 */
#define AUTO_LB_PERIOD_MS	1000
#define AUTO_LB_BUSY_PCT	50
#define AUTO_LB_GAIN_PCT	25
#define AUTO_LB_PERIODS		3

/* Was the busiest thread busy at least AUTO_LB_BUSY_PCT since the last look? */
static bool busy_enough(struct dp_threads *s)
{
	uint64_t now = now_ns(), most = 0, period;
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		most = MAX(most, s->t[i].busy_all - s->lb_busy[i]);
		s->lb_busy[i] = s->t[i].busy_all;
	}
	period = (uint64_t)((double)(now - s->lb_last_ns) / 1e9 * cycles_per_second());
	s->lb_last_ns = now;
	return period && most * 100 >= period * AUTO_LB_BUSY_PCT;
}

static void auto_rebalance(struct ev_timer *tm)
{
	struct dp_threads *s = container_of(tm, struct dp_threads, lb_timer);
	struct assign_item item[PORT_MAX];
	struct port *port[PORT_MAX];
	unsigned int n = gather(s, item, port);
	bool uneven = busy_enough(s) &&
		      assign_would_even_out(item, n, s->n, AUTO_LB_GAIN_PCT);

	s->lb_uneven = uneven ? s->lb_uneven + 1 : 0;
	if (s->lb_uneven >= AUTO_LB_PERIODS) {
		info("datapath threads: load uneven for %u s, placing the ports again",
		     AUTO_LB_PERIODS * AUTO_LB_PERIOD_MS / 1000);
		s->rebalance = true;
		s->auto_rebalances++;
		s->lb_uneven = 0;
	}
	evloop_timer_arm(tm, auto_rebalance, AUTO_LB_PERIOD_MS * 1000000ull);
}

/** dp_threads_auto_rebalance() - place the ports again when the load stays uneven */
void dp_threads_auto_rebalance(struct dp_threads *s)
{
	s->lb_last_ns = now_ns();
	evloop_timer_arm(&s->lb_timer, auto_rebalance, AUTO_LB_PERIOD_MS * 1000000ull);
}

/* A thread's frames for a port that is going away; the thread is parked. */
static void port_leaving(struct bridge *b, struct port *port)
{
	struct dp_threads *s = b->port_leaving_ctx;
	unsigned int i;

	for (i = 0; i < s->n; i++)
		port_drop(port, DROP_PORT_DOWN, link_flush_home(&s->t[i].stage[port->idx]));
	s->owner[port->idx] = -1;
	s->pin[port->idx] = -1;
	port->rx_pool = NULL;
}

/* A datapath thread asked for the control thread (port_want_control()). */
static void on_control(struct ev_handler *h, uint32_t events)
{
	struct dp_threads *s = container_of(h, struct dp_threads, control_ev);
	struct bridge *b = s->bridge;
	eventfd_t v;
	unsigned int i;

	(void)events;
	eventfd_read(h->fd, &v);
	for (i = 0; i < b->nports; i++) {
		struct port *port = b->port[i];

		if (__atomic_exchange_n(&port->want_control, false, __ATOMIC_ACQ_REL))
			port->ops->control(port);
	}
}

static int start_thread(struct dp_threads *s, unsigned int i, int cpu)
{
	struct dp_thread *t = &s->t[i];

	*t = (struct dp_thread){ .set = s, .index = i, .cpu = cpu, .epfd = -1,
				 .pause = true, .poll_window = s->poll_max };
	t->stage = calloc(PORT_MAX, sizeof(struct link));
	t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!t->stage || t->wake_fd < 0)
		return -ENOMEM;
	if (pthread_create(&t->tid, NULL, dp_thread_main, t))
		return -EAGAIN;
	t->started = true;
	return 0;
}

static int init_set(struct dp_threads *s, struct bridge *b, bool busy_poll,
		    unsigned int burst, unsigned int pool)
{
	unsigned int i, k;

	memset(s, 0, sizeof(*s));	/* large: no compound literal on the stack */
	s->bridge = b;
	s->busy_poll = busy_poll;
	s->burst = burst;
	s->pool = pool;
	s->active_gen = port_active_gen - 1;
	/* The single loop's bounds of the poll window (datapath.c). */
	s->poll_max = cycles_per_second() / 1000000 * 200;
	s->poll_min = cycles_per_second() / 1000000 * 10;
	s->start_ns = now_ns();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	for (i = 0; i < PORT_MAX; i++) {
		pthread_spin_init(&s->tx_lock[i], PTHREAD_PROCESS_PRIVATE);
		for (k = 0; k < PORT_TXQ_MAX; k++)
			pthread_spin_init(&s->txq_lock[i][k], PTHREAD_PROCESS_PRIVATE);
		s->owner[i] = s->pin[i] = -1;
	}
	port_control_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (port_control_fd < 0)
		return -errno;
	return evloop_add(&s->control_ev, port_control_fd, on_control, EPOLLIN);
}

/**
 * dp_threads_start() - one datapath thread per CPU of @cpus, pinned
 * @s:		the threads; set up here
 * @b:		bridge of the ports they poll
 * @cpus:	CPU numbers
 * @n:		how many (1 to DP_THREADS_MAX)
 * @busy_poll:	never sleep
 * @burst:	frames per ring per pass
 * @pool:	packets in each thread's pool
 *
 * On return the threads are parked (dp_threads_pause()), the ports not yet
 * assigned: dp_threads_run() starts them.
 *
 * Return: 0 or -errno
 */
int dp_threads_start(struct dp_threads *s, struct bridge *b, const int *cpus,
		     unsigned int n, bool busy_poll, unsigned int burst,
		     unsigned int pool)
{
	unsigned int i;
	int rc = init_set(s, b, busy_poll, burst, pool);

	b->port_leaving = port_leaving;
	b->port_leaving_ctx = s;
	for (i = 0; i < n && !rc; i++) {
		rc = start_thread(s, i, cpus[i]);
		if (!rc)
			s->n++;
	}
	pthread_mutex_lock(&s->lock);
	while (s->nparked < s->n)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < s->n && !rc; i++)
		rc = s->t[i].start_rc;
	return rc;
}

/** dp_threads_stop() - end the threads; they are paused and the ports gone */
void dp_threads_stop(struct dp_threads *s)
{
	unsigned int i;

	if (!s->bridge)
		return;		/* never started */
	__atomic_store_n(&s->quit, true, __ATOMIC_RELEASE);
	dp_threads_resume(s);
	for (i = 0; i < s->n; i++) {
		pthread_join(s->t[i].tid, NULL);
		if (s->t[i].epfd >= 0)
			close(s->t[i].epfd);
		close(s->t[i].wake_fd);
		free(s->t[i].stage);
	}
	s->n = 0;
	evloop_del(&s->control_ev);
	evloop_timer_cancel(&s->lb_timer);
	close(port_control_fd);
	port_control_fd = -1;
	s->bridge->port_leaving = NULL;
}

/* Park thread @t alone; the others go on. */
static void pause_thread(struct dp_threads *s, struct dp_thread *t)
{
	__atomic_store_n(&t->pause, true, __ATOMIC_RELEASE);
	eventfd_write(t->wake_fd, 1);	/* if it sleeps */
	pthread_mutex_lock(&s->lock);
	while (!t->parked)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

static void resume_thread(struct dp_threads *s, struct dp_thread *t)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&t->pause, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/*
 * The grace period of one port's own events: the thread polling it parks
 * (its rings, kick fds and borrowed frames), then its egress-state lock and
 * every queue lock are held, so no thread sends to it (senders keep their
 * frames staged) or applies its egress policy. Returns the parked thread,
 * or NULL.
 */
static struct dp_thread *quiesce_port(struct dp_threads *s, struct port *port)
{
	int owner = s->owner[port->idx];
	struct dp_thread *t = owner >= 0 ? &s->t[owner] : NULL;

	/* First the owner: it may be waiting for this very lock. */
	if (t)
		pause_thread(s, t);
	__atomic_store_n(&s->quiesced[port->idx], true, __ATOMIC_RELAXED);
	dp_thread_tx_lock(s, port);
	dp_thread_txqs_lock(s, port);
	return t;
}

static void release_port(struct dp_threads *s, struct port *port, struct dp_thread *t)
{
	__atomic_store_n(&s->quiesced[port->idx], false, __ATOMIC_RELAXED);
	dp_thread_txqs_unlock(s, port);
	dp_thread_tx_unlock(s, port);
	if (t)
		resume_thread(s, t);
}

/*
 * Events of one port only (a vhost-user frontend's messages: memory
 * table, rings, dirty log): only what uses that port stops. If they made
 * a port come or go, every thread parks once more, for the new placement.
 */
static uint64_t run_port_events(struct dp_threads *s, struct port *port,
				struct ev_ready *r)
{
	unsigned int gen = port_active_gen;
	struct dp_thread *t = quiesce_port(s, port);
	uint64_t dt = evloop_dispatch(r);

	release_port(s, port, t);
	s->port_pauses++;
	if (port_active_gen != gen) {
		dp_threads_pause(s);
		dp_threads_resume(s);
	}
	return dt;
}

/*
 * Wait for a control event without running it, then run it (and every
 * other one ready) with the threads paused: only those that use its port
 * if every event ready is one port's own, else all of them.
 */
static void control_once(struct dp_threads *s, struct datapath *dp)
{
	struct pollfd pfd = { .fd = evloop_fd(), .events = POLLIN };
	int ms = evloop_next_timer_ms();
	struct port *port = NULL;
	struct ev_ready r;
	uint64_t dt, more;

	if (ms < 0 || ms > CONTROL_WAIT_MAX_MS)
		ms = CONTROL_WAIT_MAX_MS;
	if (poll(&pfd, 1, ms) <= 0 && evloop_next_timer_ms() != 0)
		return;
	evloop_take(&r, 0);
	if (evloop_next_timer_ms() != 0)
		port = evloop_ready_scope(&r);
	if (port) {
		dt = run_port_events(s, port, &r);
	} else {
		dp_threads_pause(s);
		dt = evloop_dispatch(&r);
		evloop_run_timed(0, &more);
		dt += more;
		dp_threads_resume(s);
	}
	if (dt > dp->stats.max_pause_ns)
		dp->stats.max_pause_ns = dt;
}

/**
 * dp_threads_run() - the control thread's loop, until *@quit
 * @s:		started threads, parked
 * @dp:		the datapath whose counters the threads' are added to, and
 *		whose aging timer runs here
 * @quit:	set by SIGINT/SIGTERM
 * @dump:	set by SIGUSR1, cleared here
 *
 * Returns with the threads parked, so that the ports can be removed.
 */
void dp_threads_run(struct dp_threads *s, struct datapath *dp,
		    volatile sig_atomic_t *quit, volatile sig_atomic_t *dump)
{
	s->dp = dp;
	dp->threads = s;
	dp_threads_resume(s);
	while (!*quit) {
		control_once(s, dp);
		if (*dump) {
			*dump = 0;
			dp_threads_pause(s);
			datapath_print_stats(dp, stderr);
			dp_threads_resume(s);
		}
	}
	dp_threads_pause(s);
}

/* Busy share of thread @t since it started, in percent. */
static double busy_percent(const struct dp_threads *s, const struct dp_thread *t)
{
	double elapsed = (double)(now_ns() - s->start_ns) / 1e9 * cycles_per_second();

	return elapsed > 0 ? 100.0 * (double)(t->busy_all + t->stats.busy_cycles) / elapsed : 0;
}

/** dp_threads_show() - each thread: its CPU, busy share and ports */
void dp_threads_show(const struct dp_threads *s, FILE *out)
{
	const struct bridge *b = s->bridge;
	unsigned int i, k;

	for (i = 0; i < s->n; i++) {
		const struct dp_thread *t = &s->t[i];

		fprintf(out, "thread %u: cpu %d, busy %.1f%%, ports", i, t->cpu,
			busy_percent(s, t));
		for (k = 0; k < b->nports; k++)
			if (s->owner[b->port[k]->idx] == (int)i)
				fprintf(out, " %s", b->port[k]->name);
		fprintf(out, "\n  parked %llu times\n", (unsigned long long)t->parks);
	}
	fprintf(out, "control events: %llu with every thread parked, %llu with "
		"only a port's users stopped\n", (unsigned long long)s->pauses,
		(unsigned long long)s->port_pauses);
	if (s->lb_timer.fn)
		fprintf(out, "automatic rebalancing: on, %llu so far\n",
			(unsigned long long)s->auto_rebalances);
}

/** dp_threads_port_show() - the thread polling @port's receive queues */
void dp_threads_port_show(const struct dp_threads *s, const struct port *port,
			  FILE *out)
{
	int t = s->owner[port->idx];

	if (t < 0)
		fprintf(out, "  queues: not polled\n");
	else
		fprintf(out, "  queues: thread %d (cpu %d)%s, %llu contended sends\n",
			t, s->t[t].cpu, s->pin[port->idx] >= 0 ? ", pinned" : "",
			(unsigned long long)s->tx_contended[port->idx]);
}

/** dp_threads_rebalance() - reassign every port by the load measured since */
void dp_threads_rebalance(struct dp_threads *s)
{
	s->rebalance = true;
}

/**
 * dp_threads_pin() - have @port's receive queues polled by thread @thread
 * @s:		the threads
 * @port:	a port of the bridge
 * @thread:	a thread's index, or -1 to let the load decide
 *
 * Applied at the next placement (dp_threads_rebalance()).
 *
 * Return: 0, or -ERANGE for a thread that does not exist
 */
int dp_threads_pin(struct dp_threads *s, const struct port *port, int thread)
{
	if (thread >= (int)s->n || thread < -1)
		return -ERANGE;
	s->pin[port->idx] = thread;
	return 0;
}
