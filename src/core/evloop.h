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

struct ev_handler;
typedef void ev_fn(struct ev_handler *h, uint32_t events);

/** struct ev_handler - embed in the object that owns the fd */
struct ev_handler {
	ev_fn *fn;
	int fd;
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

#endif /* VMSW_EVLOOP_H */
