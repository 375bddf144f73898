/* SPDX-License-Identifier: MIT */
/*
 * evloop.h - epoll for file descriptors plus a short list of timers
 *
 * Control-plane events (sockets, kicks while sleeping) and periodic work
 * (reconnect retries, MAC aging) go through here. The datapath itself polls
 * rings; it only asks the loop to sleep when there is nothing to do.
 */
#ifndef VMSW_EVLOOP_H
#define VMSW_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ev_handler;
typedef void ev_fn(struct ev_handler *h, uint32_t events);

/**
 * struct ev_handler - embed in the object that owns the fd
 * @fn:		called with the ready events
 * @fd:		watched fd, -1: none
 * @scope:	what @fn changes, for a caller that runs the events with
 *		other threads stopped: NULL (the default) for anything; else
 *		the one object its owner names (a port), so that only what
 *		uses that object need stop (evloop_ready_scope())
 */
struct ev_handler {
	ev_fn *fn;
	int fd;
	void *scope;
};

#define EVLOOP_MAX_EVENTS	64

/** struct ev_ready - fd events taken from epoll, not dispatched yet */
struct ev_ready {
	struct epoll_event ev[EVLOOP_MAX_EVENTS];
	int n;
};

struct ev_timer;
typedef void ev_timer_fn(struct ev_timer *t);

/** struct ev_timer - a one-shot timer; re-arm from the callback to repeat */
struct ev_timer {
	ev_timer_fn *fn;
	uint64_t deadline_ns;	/* 0: not armed */
	struct ev_timer *next;
};

int evloop_init(void);
void evloop_destroy(void);
int evloop_add(struct ev_handler *h, int fd, ev_fn *fn, uint32_t events);
int evloop_mod(struct ev_handler *h, uint32_t events);
void evloop_del(struct ev_handler *h);
void evloop_timer_arm(struct ev_timer *t, ev_timer_fn *fn, uint64_t delay_ns);
void evloop_timer_cancel(struct ev_timer *t);
int evloop_run_once(int timeout_ms);
int evloop_fd(void);
int evloop_next_timer_ms(void);
int evloop_run_timed(int timeout_ms, uint64_t *work_ns);
int evloop_take(struct ev_ready *r, int timeout_ms);
void *evloop_ready_scope(const struct ev_ready *r);
uint64_t evloop_dispatch(struct ev_ready *r);

#endif /* VMSW_EVLOOP_H */
