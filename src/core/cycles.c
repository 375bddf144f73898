/* SPDX-License-Identifier: MIT */
/* cycles.c - calibrate the TSC against the monotonic clock, once */
#include "core/cycles.h"

/**
 * cycles_per_second() - TSC frequency, measured over 20 ms on first use
 *
 * Return: cycles per second (never 0)
 */
uint64_t cycles_per_second(void)
{
	static uint64_t hz;
	struct timespec pause = { 0, 20L * 1000 * 1000 };
	uint64_t c0, t0, c1, t1;

	if (hz)
		return hz;
	c0 = cycles_now();
	t0 = now_ns();
	nanosleep(&pause, NULL);
	c1 = cycles_now();
	t1 = now_ns();
	hz = (c1 - c0) * 1000000000u / (t1 - t0 ? t1 - t0 : 1);
	if (!hz)
		hz = 1;
	return hz;
}
