/* SPDX-License-Identifier: MIT */
/* log.h - leveled logging to stderr, with a rate limit for guest-triggered messages */
#ifndef VMSW_LOG_H
#define VMSW_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define info(...)	log_msg(LOG_INFO, __VA_ARGS__)
/* Compiled in but skipped cheaply unless -v -v; arguments stay type-checked. */
#define debug(...)						\
	do {							\
		if (log_threshold >= LOG_DEBUG)			\
			log_msg(LOG_DEBUG, __VA_ARGS__);	\
	} while (0)

/**
 * struct ratelimit - allow @burst messages per second, count the rest
 */
struct ratelimit {
	uint64_t window_start;
	unsigned int printed;
	unsigned int suppressed;
};

bool ratelimit_ok(struct ratelimit *rl);

#endif /* VMSW_LOG_H */
