/* SPDX-License-Identifier: MIT */
/*
 * dp_thread.c - one datapath thread: poll the ports it owns, switch onto
 * its own tx links, send them under each destination's lock, settle what
 * it borrowed; sleep on its own kick fds; park when the control thread asks
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/cycles.h"
#include "core/log.h"
#include "switch/threads.h"

#define SLEEP_MAX_MS		1000
#define SLEEP_STAGED_MS		1	/* frames wait for a guest's buffers */
#define WAKE_FDS_MAX		(2 * 64)

/** dp_thread_tx_lock() - take @port's egress-state lock */
void dp_thread_tx_lock(struct dp_threads *s, struct port *port)
{
	pthread_spin_lock(&s->tx_lock[port->idx]);
}

void dp_thread_tx_unlock(struct dp_threads *s, struct port *port)
{
	pthread_spin_unlock(&s->tx_lock[port->idx]);
}

/* Take the locks of @port's queues in @mask, lowest first; count waiting. */
static void txq_lock(struct dp_threads *s, struct port *port, uint32_t mask)
{
	for (; mask; mask &= mask - 1) {
		pthread_spinlock_t *l = &s->txq_lock[port->idx][__builtin_ctz(mask)];

		if (pthread_spin_trylock(l) == 0)
			continue;
		__atomic_fetch_add(&s->tx_contended[port->idx], 1, __ATOMIC_RELAXED);
		pthread_spin_lock(l);
	}
}

static void txq_unlock(struct dp_threads *s, struct port *port, uint32_t mask)
{
	for (; mask; mask &= mask - 1)
		pthread_spin_unlock(&s->txq_lock[port->idx][__builtin_ctz(mask)]);
}

#define TXQ_ALL	((uint32_t)((1ull << PORT_TXQ_MAX) - 1))

/** dp_thread_txqs_lock() - take every queue lock of @port: no thread sends */
void dp_thread_txqs_lock(struct dp_threads *s, struct port *port)
{
	unsigned int q;

	for (q = 0; q < PORT_TXQ_MAX; q++)
		pthread_spin_lock(&s->txq_lock[port->idx][q]);
}

void dp_thread_txqs_unlock(struct dp_threads *s, struct port *port)
{
	txq_unlock(s, port, TXQ_ALL);
}

/*
 * The queues thread @t sends through when a port has @nq (at least one).
 * With at least as many queues as threads, each thread has its own (thread
 * i of n: queues i, i + n, ...), so no two threads wait for each other;
 * with fewer, thread i shares queue i % nq, and waiting is counted.
 */
static uint32_t own_txqs(const struct dp_thread *t, unsigned int nq)
{
	unsigned int n = t->set->n, q;
	uint32_t mask = 0;

	if (nq < n)
		return 1u << (t->index % nq);
	for (q = t->index; q < nq; q += n)
		mask |= 1u << q;
	return mask;
}

static unsigned int tx_queues(struct port *port)
{
	unsigned int nq = port->ops->tx_queues ? port->ops->tx_queues(port) : 1;

	return MAX(1u, MIN(nq, (unsigned int)PORT_TXQ_MAX));
}

/*
 * Lock and return this thread's queues of @port. Their number changes
 * only under every queue's lock (the port quiesced), so it is read again
 * once they are held.
 */
static uint32_t lock_own_txqs(struct dp_thread *t, struct port *port)
{
	for (;;) {
		unsigned int nq = tx_queues(port);
		uint32_t mask = own_txqs(t, nq);

		txq_lock(t->set, port, mask);
		if (tx_queues(port) == nq)
			return mask;
		txq_unlock(t->set, port, mask);
	}
}

static void pass_lock(void *ctx, struct port *port)
{
	dp_thread_tx_lock(ctx, port);
}

static void pass_unlock(void *ctx, struct port *port)
{
	dp_thread_tx_unlock(ctx, port);
}

/*
 * Watch @fd for reading; a closed or odd fd is skipped (polled anyway).
 * @eventfd: empty it when it wakes us; a socket or tap stays readable
 * while frames wait, and only the port's rx may read it.
 */
static void watch(struct dp_thread *t, int fd, bool eventfd)
{
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = (uint32_t)fd | (uint64_t)eventfd << 32 };

	epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * After a pause: the ports may have changed, and so may their kick fds.
 * A new epoll set each time: a kick fd may have been closed and its
 * number reused while the thread was parked.
 */
static void refresh(struct dp_thread *t)
{
	struct dp_threads *s = t->set;
	struct bridge *b = s->bridge;
	int fds[WAKE_FDS_MAX];
	unsigned int i, k, n;

	t->nown = t->nall = 0;
	for (i = 0; i < b->nports; i++) {
		struct port *port = b->port[i];

		if (!port_is_active(port))
			continue;
		t->all[t->nall++] = port;
		if (s->owner[port->idx] == (int)t->index)
			t->own[t->nown++] = port;
	}
	if (t->epfd >= 0)
		close(t->epfd);
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return;		/* the thread polls without sleeping */
	watch(t, t->wake_fd, true);
	for (i = 0; i < t->nown; i++) {
		const struct port_ops *ops = t->own[i]->ops;

		if (!ops->wake_fds)
			continue;	/* polled, never slept on */
		n = ops->wake_fds(t->own[i], fds, WAKE_FDS_MAX);
		for (k = 0; k < n; k++)
			watch(t, fds[k], ops->wake_eventfds);
	}
}

/*
 * The quiescent point, between two passes: nothing borrowed, no lock
 * held. Wait there while the control thread changes what the threads use.
 */
static void park(struct dp_thread *t)
{
	struct dp_threads *s = t->set;

	pthread_mutex_lock(&s->lock);
	t->parked = true;
	t->parks++;
	s->nparked++;
	pthread_cond_broadcast(&s->cond);
	while (__atomic_load_n(&t->pause, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&s->cond, &s->lock);
	s->nparked--;
	t->parked = false;
	pthread_mutex_unlock(&s->lock);
	refresh(t);
}

/*
 * Send this thread's frames for @port through its own queues. Under their
 * locks the frames are made fit for the port onto the thread's @prep link
 * (or, for a port with one transmit link, onto port->tx, empty when taken
 * and when given back), sent, and what the port did not take returns to
 * the stage link in the same order, ahead of anything queued later. While
 * the control thread runs the port's own events (it holds every lock),
 * the frames wait here rather than the thread spinning.
 */
static unsigned int send_staged(struct dp_thread *t, struct port *port)
{
	struct link *stage = &t->stage[port->idx];
	struct port_txq q = { &port->tx, 0 };
	uint32_t mask;
	unsigned int n;

	if (__atomic_load_n(&t->set->quiesced[port->idx], __ATOMIC_RELAXED))
		return 0;
	mask = lock_own_txqs(t, port);
	if (port->ops->tx_from)
		q = (struct port_txq){ &t->prep, mask };
	while (!link_empty(stage))
		port_enqueue_txq(port, q, link_get(stage));
	n = q.mask ? port->ops->tx_from(port, q.mask, q.link) : port->ops->tx(port);
	link_move(stage, q.link);
	txq_unlock(t->set, port, mask);
	return n;
}

/* The pass borrowed frames: copy in the tails, give the guests their buffers. */
static void settle(struct dp_thread *t)
{
	unsigned int i;

	packet_settle();
	packet_pool.held = false;
	for (i = 0; i < t->nown; i++)
		if (t->own[i]->ops->settle)
			t->own[i]->ops->settle(t->own[i]);
}

/* One pass over the thread's ports; returns packets received plus sent. */
static unsigned int pass(struct dp_thread *t)
{
	struct bridge *b = t->set->bridge;
	unsigned int i, rx = 0, tx = 0;

	t->pass.now = cycles_now();
	for (i = 0; i < t->nown; i++) {
		struct port *port = t->own[i];
		uint64_t t0 = cycles_now();
		unsigned int n = port->ops->rx(port, t->set->burst);

		/* Injected frames (a RARP) arrive without ops->rx. */
		if (!link_empty(&port->rx))
			bridge_forward_staged(b, &t->pass, port);
		if (n)
			t->port_cycles[port->idx] += cycles_now() - t0;
		rx += n;
	}
	for (i = 0; i < t->nall; i++)
		if (!link_empty(&t->stage[t->all[i]->idx]))
			tx += send_staged(t, t->all[i]);
	if (unlikely(packet_pool.held))
		settle(t);
	t->stats.passes++;
	t->stats.busy_packets += rx;
	return rx + tx;
}

static bool any_staged(const struct dp_thread *t)
{
	unsigned int i;

	for (i = 0; i < t->nall; i++)
		if (!link_empty(&t->stage[t->all[i]->idx]))
			return true;
	return false;
}

/* Empty the eventfds that woke us; the pass polls their ports next. */
static void drain(const struct epoll_event *ev, int n)
{
	eventfd_t v;
	int i;

	for (i = 0; i < n; i++)
		if (ev[i].data.u64 >> 32)
			eventfd_read((int)(uint32_t)ev[i].data.u64, &v);
}

/*
 * A port's sleep bookkeeping may touch what its senders use (an AF_XDP
 * port reaps its transmit completions there): under its one queue's lock,
 * unless the port keeps its transmit queues out of it (ops->tx_from).
 */
static void sleep_lock(struct dp_threads *s, struct port *port)
{
	if (!port->ops->tx_from)
		pthread_spin_lock(&s->txq_lock[port->idx][0]);
}

static void sleep_unlock(struct dp_threads *s, struct port *port)
{
	if (!port->ops->tx_from)
		pthread_spin_unlock(&s->txq_lock[port->idx][0]);
}

/* Ask the thread's ports for kicks, then wait for one or for the control thread. */
static void sleep_until_kicked(struct dp_thread *t)
{
	struct epoll_event ev[64];
	bool pending = false;
	unsigned int i;
	int n;

	for (i = 0; i < t->nown; i++) {
		sleep_lock(t->set, t->own[i]);
		pending |= t->own[i]->ops->sleep_prepare(t->own[i]);
		sleep_unlock(t->set, t->own[i]);
	}
	if (!pending && t->epfd >= 0 &&
	    !__atomic_load_n(&t->pause, __ATOMIC_ACQUIRE)) {
		t->stats.sleeps++;
		n = epoll_wait(t->epfd, ev, 64,
			       any_staged(t) ? SLEEP_STAGED_MS : SLEEP_MAX_MS);
		if (n > 0)
			drain(ev, n);
	}
	for (i = 0; i < t->nown; i++) {
		sleep_lock(t->set, t->own[i]);
		t->own[i]->ops->sleep_finish(t->own[i]);
		sleep_unlock(t->set, t->own[i]);
	}
}

/* The poll window adapts as in the single thread (datapath.c). */
static void adapt_window(struct dp_thread *t, uint64_t gap, bool slept)
{
	struct dp_threads *s = t->set;

	if (slept)
		t->poll_window = MAX(s->poll_min, t->poll_window / 2);
	else if (gap > t->poll_window / 2)
		t->poll_window = MIN(s->poll_max, t->poll_window * 2);
}

static void pin_to_cpu(struct dp_thread *t)
{
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc)
		warn("datapath thread %u: cannot pin to CPU %d: %s", t->index,
		     t->cpu, strerror(rc));
}

static void loop(struct dp_thread *t)
{
	uint64_t idle_since = cycles_now();
	bool slept = false;

	while (!__atomic_load_n(&t->set->quit, __ATOMIC_ACQUIRE)) {
		uint64_t t0 = cycles_now(), t1;

		if (__atomic_load_n(&t->pause, __ATOMIC_ACQUIRE)) {
			park(t);
			continue;
		}
		if (pass(t)) {
			t1 = cycles_now();
			t->stats.busy_cycles += t1 - t0;
			adapt_window(t, t0 - idle_since, slept);
			slept = false;
			idle_since = t1;
		} else if (!t->set->busy_poll && t0 - idle_since > t->poll_window) {
			sleep_until_kicked(t);
			slept = true;
			idle_since = cycles_now();
		}
	}
}

/**
 * dp_thread_main() - a datapath thread's life
 * @arg:	its struct dp_thread, with @stage allocated; the thread's pool
 *		is made here, @pool and @start_rc set before it first parks
 *
 * The thread starts parked: the control thread assigns the ports first.
 * It ends when told to quit, after the control thread removed the ports
 * (their links may hold packets of its pool until then).
 *
 * Return: NULL
 */
void *dp_thread_main(void *arg)
{
	struct dp_thread *t = arg;

	pin_to_cpu(t);
	t->start_rc = packet_pool_init(t->set->pool);
	port_stage = t->stage;
	t->pool = &packet_pool;
	t->pass = (struct bridge_pass){ .stage = t->stage, .lock = pass_lock,
					.unlock = pass_unlock, .ctx = t->set };
	park(t);
	if (!t->start_rc)
		loop(t);
	/* The control thread removed every port first: the links are empty. */
	port_stage = NULL;
	if (!t->start_rc)
		packet_pool_destroy();
	return NULL;
}
