/* SPDX-License-Identifier: MIT */
/* evloop.c - epoll wrapper and timers */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/cycles.h"
#include "core/evloop.h"

/*
 * struct ev_batch - the events of one epoll_wait() being dispatched. A
 * callback may remove (and free) the owner of a handler whose event comes
 * later in the same batch: evloop_del() clears that handler's entries here,
 * so the loop never touches it again. Batches nest if a callback runs the
 * loop itself.
 */
struct ev_batch {
	struct epoll_event *ev;
	int n;
	struct ev_batch *outer;
};

static int epfd = -1;
static struct ev_timer *timers;	/* unsorted: there are only a few */
static struct ev_batch *dispatching;	/* innermost batch, NULL: none */

/** evloop_init() - create the epoll instance. Return: 0 or -errno */
int evloop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

void evloop_destroy(void)
{
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
	timers = NULL;
}

/**
 * evloop_add() - watch @fd and call @fn with the ready events
 * @h:		handler embedded in the owner; must stay valid until evloop_del()
 * @fd:		file descriptor, still owned by the caller
 * @fn:		callback
 * @events:	EPOLLIN and friends
 *
 * Return: 0 or -errno
 */
int evloop_add(struct ev_handler *h, int fd, ev_fn *fn, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	h->fn = fn;
	h->fd = fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		h->fd = -1;
		return -errno;
	}
	return 0;
}

/**
 * evloop_mod() - watch other events on @h's fd (e.g. EPOLLOUT while a port
 * has frames the kernel could not take yet)
 * @h:		handler added with evloop_add()
 * @events:	the new event mask
 *
 * Return: 0 or -errno
 */
int evloop_mod(struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (h->fd < 0)
		return -EBADF;
	return epoll_ctl(epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0 ? -errno : 0;
}

/* Forget @h's events still waiting in the batches being dispatched. */
static void batch_forget(const struct ev_handler *h)
{
	struct ev_batch *b;
	int i;

	for (b = dispatching; b; b = b->outer)
		for (i = 0; i < b->n; i++)
			if (b->ev[i].data.ptr == h)
				b->ev[i].data.ptr = NULL;
}

/**
 * evloop_del() - stop watching; safe to call on an unwatched handler
 * @h:		handler added with evloop_add()
 *
 * No callback runs for @h afterwards, not even for an event already taken
 * from epoll in the batch being dispatched: the owner may free @h (or add it
 * again with another fd) as soon as this returns.
 */
void evloop_del(struct ev_handler *h)
{
	if (h->fd < 0)
		return;
	batch_forget(h);
	epoll_ctl(epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->fd = -1;
}

static void timer_unlink(struct ev_timer *t)
{
	struct ev_timer **pp;

	for (pp = &timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
}

/** evloop_timer_arm() - call @fn once, @delay_ns from now (re-arms if armed) */
void evloop_timer_arm(struct ev_timer *t, ev_timer_fn *fn, uint64_t delay_ns)
{
	if (t->deadline_ns)
		timer_unlink(t);
	t->fn = fn;
	t->deadline_ns = now_ns() + delay_ns;
	if (!t->deadline_ns)
		t->deadline_ns = 1;
	t->next = timers;
	timers = t;
}

void evloop_timer_cancel(struct ev_timer *t)
{
	if (!t->deadline_ns)
		return;
	timer_unlink(t);
	t->deadline_ns = 0;
}

/* Fire expired timers; return ms until the next one (-1: none). */
/* Due timers run; the thread CPU time their callbacks took is added to *@work_ns. */
static int run_timers(uint64_t *work_ns)
{
	uint64_t now = now_ns(), next = UINT64_MAX, t0;
	struct ev_timer *t;

restart:
	for (t = timers; t; t = t->next) {
		if (t->deadline_ns <= now) {
			timer_unlink(t);
			t->deadline_ns = 0;
			t0 = thread_cpu_ns();
			t->fn(t);	/* may arm or cancel any timer */
			*work_ns += thread_cpu_ns() - t0;
			goto restart;
		}
		if (t->deadline_ns < next)
			next = t->deadline_ns;
	}
	if (next == UINT64_MAX)
		return -1;
	return (int)((next - now + 999999) / 1000000);
}

/**
 * evloop_take() - wait up to @timeout_ms for fd events and take them,
 * without running their callbacks (timers are not looked at)
 * @r:		filled with the events
 * @timeout_ms:	as epoll_wait()
 *
 * Dispatch them (evloop_dispatch()) before anything else can remove a
 * handler: only a batch being dispatched forgets removed handlers.
 *
 * Return: number of events taken, or -errno (EINTR is not an error)
 */
int evloop_take(struct ev_ready *r, int timeout_ms)
{
	r->n = epoll_wait(epfd, r->ev, EVLOOP_MAX_EVENTS, timeout_ms);
	if (r->n >= 0)
		return r->n;
	r->n = 0;
	return errno == EINTR ? 0 : -errno;
}

/**
 * evloop_ready_scope() - the scope every taken event's handler shares
 * (struct ev_handler), or NULL: none taken, or not all of one scope
 */
void *evloop_ready_scope(const struct ev_ready *r)
{
	void *scope = NULL;
	int i;

	for (i = 0; i < r->n; i++) {
		const struct ev_handler *h = r->ev[i].data.ptr;

		if (!h->scope || (scope && h->scope != scope))
			return NULL;
		scope = h->scope;
	}
	return scope;
}

/**
 * evloop_dispatch() - run the callbacks of the events taken in @r
 *
 * Return: the thread CPU time they took, in ns (0 when none ran)
 */
uint64_t evloop_dispatch(struct ev_ready *r)
{
	struct ev_batch batch = { .ev = r->ev, .n = r->n, .outer = dispatching };
	uint64_t t0;
	int i;

	if (!r->n)
		return 0;
	dispatching = &batch;
	t0 = thread_cpu_ns();
	for (i = 0; i < r->n; i++) {
		struct ev_handler *h = r->ev[i].data.ptr;

		/* NULL: an earlier callback of this batch removed it. */
		if (h)
			h->fn(h, r->ev[i].events);
	}
	dispatching = batch.outer;
	r->n = 0;
	return thread_cpu_ns() - t0;
}

/**
 * evloop_run_timed() - run due timers, then wait for fd events
 * @timeout_ms:	longest wait; 0 polls, -1 waits until an event or timer
 * @work_ns:	set to the thread CPU time the callbacks took (0 when none
 *		ran: the clock is read only around callbacks, so an empty
 *		poll costs no clock reads)
 *
 * Return: number of fd events handled, or -errno (EINTR is not an error)
 */
int evloop_run_timed(int timeout_ms, uint64_t *work_ns)
{
	struct ev_ready r;
	int next_timer, n;

	*work_ns = 0;
	next_timer = run_timers(work_ns);
	if (next_timer >= 0 && (timeout_ms < 0 || next_timer < timeout_ms))
		timeout_ms = next_timer;
	n = evloop_take(&r, timeout_ms);
	if (n > 0)
		*work_ns += evloop_dispatch(&r);
	return n;
}

/**
 * evloop_fd() - the epoll fd, readable when an event is ready: a thread
 * can wait for one with poll() and dispatch later (evloop_run_timed(0))
 */
int evloop_fd(void)
{
	return epfd;
}

/** evloop_next_timer_ms() - ms until the next timer is due; -1: none armed */
int evloop_next_timer_ms(void)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	struct ev_timer *t;

	for (t = timers; t; t = t->next)
		if (t->deadline_ns < next)
			next = t->deadline_ns;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/** evloop_run_once() - evloop_run_timed() without the measurement */
int evloop_run_once(int timeout_ms)
{
	uint64_t work_ns;

	return evloop_run_timed(timeout_ms, &work_ns);
}
