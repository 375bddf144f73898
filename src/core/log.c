/* SPDX-License-Identifier: MIT */
/* log.c - leveled logging to stderr */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/cycles.h"
#include "core/log.h"

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARN] = "warning",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/**
 * log_msg() - print one line to stderr with a timestamp and level
 * @level:	severity; lines above log_threshold are dropped
 * @fmt:	printf format, without trailing newline
 */
void log_msg(enum log_level level, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (level > log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%ld.%03ld vmswitch %s: ", (long)ts.tv_sec,
		ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define RATELIMIT_BURST		10
#define RATELIMIT_WINDOW_NS	1000000000ull

/**
 * ratelimit_ok() - may a message be printed now?
 * @rl:		per-source state, zero-initialised
 *
 * Return: true for the first RATELIMIT_BURST calls of each second
 */
bool ratelimit_ok(struct ratelimit *rl)
{
	uint64_t now = now_ns();

	if (now - rl->window_start > RATELIMIT_WINDOW_NS) {
		if (rl->suppressed)
			log_msg(LOG_WARN, "%u similar messages suppressed",
				rl->suppressed);
		rl->window_start = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < RATELIMIT_BURST) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
