/* SPDX-License-Identifier: MIT */
/*
 * test_evloop.c - the event loop: fd events, timers, and handlers removed
 * (and freed, or re-added) by an earlier callback of the same epoll batch
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/evloop.h"
#include "unit.h"

/*
 * A handler embedded away from the start of its owner, like a port's: once
 * the owner is freed, the allocator's own words land before it, so a loop
 * that still used it would find it intact and call it (or ASan says so).
 */
struct owner {
	char other_state[64];
	struct ev_handler ev;
	int fd;
};

static struct owner *owners[2], *replacement;
static int calls, stale_calls;
static int fresh_fd = -1;

/* A new owner watching a readable eventfd (@readable) or a silent one. */
static struct owner *owner_new(ev_fn *fn, bool readable)
{
	struct owner *o = malloc(sizeof(*o));

	if (!o)
		abort();
	memset(o, 0, sizeof(*o));
	o->fd = eventfd(readable, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->fd < 0 || evloop_add(&o->ev, o->fd, fn, EPOLLIN) < 0)
		abort();
	return o;
}

static void owner_free(struct owner *o)
{
	evloop_del(&o->ev);
	close(o->fd);
	free(o);
}

static struct owner *other_than(struct ev_handler *h)
{
	return owners[0] && &owners[0]->ev == h ? owners[1] : owners[0];
}

static void count_stale(struct ev_handler *h, uint32_t events)
{
	(void)h, (void)events;
	stale_calls++;
}

/*
 * Whichever runs first removes and frees the other, then allocates a new
 * owner of the same size on a silent fd, as a reload replacing a port does
 * (the allocator tends to hand back the memory just freed).
 */
static void frees_other(struct ev_handler *h, uint32_t events)
{
	struct owner *other = other_than(h);

	(void)events;
	calls++;
	if (other) {
		owners[other == owners[1]] = NULL;
		owner_free(other);
		replacement = owner_new(count_stale, false);
	}
}

/* Whichever runs first removes the other and watches a new fd with it. */
static void readds_other(struct ev_handler *h, uint32_t events)
{
	struct owner *other = other_than(h);

	(void)events;
	calls++;
	if (other && fresh_fd < 0) {
		evloop_del(&other->ev);
		fresh_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);	/* silent */
		if (fresh_fd < 0 ||
		    evloop_add(&other->ev, fresh_fd, count_stale, EPOLLIN) < 0)
			abort();
	}
}

TEST(handler_freed_earlier_in_the_batch_is_not_called)
{
	CHECK_EQ(evloop_init(), 0);
	calls = stale_calls = 0;
	replacement = NULL;
	owners[0] = owner_new(frees_other, true);
	owners[1] = owner_new(frees_other, true);
	/* Both fds are readable: one epoll batch holds both events. */
	CHECK_EQ(evloop_run_once(0), 2);
	CHECK_EQ(calls, 1);
	CHECK_EQ(stale_calls, 0);	/* the freed owner's event went nowhere */
	CHECK(!owners[0] != !owners[1]);	/* exactly one is left */
	owner_free(owners[0] ? owners[0] : owners[1]);
	if (replacement)
		owner_free(replacement);
	owners[0] = owners[1] = replacement = NULL;
	evloop_destroy();
}

TEST(handler_readded_in_the_batch_gets_no_stale_event)
{
	CHECK_EQ(evloop_init(), 0);
	calls = stale_calls = 0;
	fresh_fd = -1;
	owners[0] = owner_new(readds_other, true);
	owners[1] = owner_new(readds_other, true);
	CHECK_EQ(evloop_run_once(0), 2);
	CHECK_EQ(calls, 1);
	CHECK_EQ(stale_calls, 0);	/* the new fd never fired */
	/* The re-added handler works: its new fd fires once written. */
	CHECK_EQ(eventfd_write(fresh_fd, 1), 0);
	evloop_run_once(0);
	CHECK_EQ(stale_calls, 1);
	owner_free(owners[0]);
	owner_free(owners[1]);
	close(fresh_fd);
	owners[0] = owners[1] = NULL;
	evloop_destroy();
}

static int self_calls;

/* A handler that removes itself; the other event of the batch still runs. */
static void removes_itself(struct ev_handler *h, uint32_t events)
{
	(void)events;
	self_calls++;
	evloop_del(h);
}

TEST(handler_removing_itself_leaves_the_rest_of_the_batch)
{
	struct ev_handler a, b;
	int fa = eventfd(1, EFD_NONBLOCK), fb = eventfd(1, EFD_NONBLOCK);

	CHECK_EQ(evloop_init(), 0);
	self_calls = 0;
	CHECK_EQ(evloop_add(&a, fa, removes_itself, EPOLLIN), 0);
	CHECK_EQ(evloop_add(&b, fb, removes_itself, EPOLLIN), 0);
	CHECK_EQ(evloop_run_once(0), 2);
	CHECK_EQ(self_calls, 2);
	CHECK_EQ(a.fd, -1);
	CHECK_EQ(evloop_run_once(0), 0);	/* nothing watched any more */
	evloop_del(&a);				/* harmless twice */
	close(fa);
	close(fb);
	evloop_destroy();
}

static int timer_calls;

static void on_timer(struct ev_timer *t)
{
	(void)t;
	timer_calls++;
}

TEST(timers_fire_once_and_cancel)
{
	struct ev_timer t1 = { 0 }, t2 = { 0 };

	CHECK_EQ(evloop_init(), 0);
	timer_calls = 0;
	evloop_timer_arm(&t1, on_timer, 0);
	evloop_timer_arm(&t2, on_timer, 0);
	evloop_timer_cancel(&t2);
	evloop_run_once(0);
	CHECK_EQ(timer_calls, 1);
	evloop_run_once(0);
	CHECK_EQ(timer_calls, 1);
	evloop_destroy();
}

static void count_call(struct ev_handler *h, uint32_t events)
{
	eventfd_t v;

	(void)events;
	eventfd_read(h->fd, &v);
	calls++;
}

/* Events taken first, their scope asked, then dispatched (threads.c). */
TEST(taken_events_share_a_scope_or_none)
{
	static int port_a, port_b;
	struct ev_ready r;
	struct owner *o[2];

	CHECK_EQ(evloop_init(), 0);
	o[0] = owner_new(count_call, true);
	o[1] = owner_new(count_call, true);
	o[0]->ev.scope = o[1]->ev.scope = &port_a;
	calls = 0;
	CHECK_EQ(evloop_take(&r, 0), 2);
	CHECK(evloop_ready_scope(&r) == &port_a);
	CHECK_EQ(calls, 0);			/* nothing ran yet */
	evloop_dispatch(&r);
	CHECK_EQ(calls, 2);
	CHECK_EQ(evloop_take(&r, 0), 0);	/* both emptied */
	CHECK(evloop_ready_scope(&r) == NULL);	/* none taken: no scope */

	o[1]->ev.scope = &port_b;		/* two ports: every thread */
	eventfd_write(o[0]->fd, 1);
	eventfd_write(o[1]->fd, 1);
	CHECK_EQ(evloop_take(&r, 0), 2);
	CHECK(evloop_ready_scope(&r) == NULL);
	evloop_dispatch(&r);
	o[1]->ev.scope = NULL;			/* one of anything: every thread */
	eventfd_write(o[0]->fd, 1);
	eventfd_write(o[1]->fd, 1);
	CHECK_EQ(evloop_take(&r, 0), 2);
	CHECK(evloop_ready_scope(&r) == NULL);
	evloop_dispatch(&r);
	CHECK_EQ(calls, 6);
	owner_free(o[0]);
	owner_free(o[1]);
	evloop_destroy();
}

UNIT_MAIN(T(handler_freed_earlier_in_the_batch_is_not_called),
	  T(handler_readded_in_the_batch_gets_no_stale_event),
	  T(handler_removing_itself_leaves_the_rest_of_the_batch),
	  T(timers_fire_once_and_cancel), T(taken_events_share_a_scope_or_none))
