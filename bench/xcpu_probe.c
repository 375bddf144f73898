/* SPDX-License-Identifier: MIT */
/*
 * xcpu_probe.c - how long a cache line takes to go from CPU 0 to CPU 1 and
 * back, in TSC cycles (median of 7 trials).
 *
 * On this kind of virtual machine the answer flips between ~250 and ~900
 * cycles, presumably as the host moves the vCPUs, and the vhost-user loops
 * of the benchmark (cache lines crossing between two CPUs) flip between a
 * fast and a 1.5-3x slower state too. The benchmark runs this before and
 * after each run and leaves runs with a slow answer out of its medians; a
 * probe between runs does not catch every flip inside one.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

#define BOUNCES	100000
#define TRIALS	7

static volatile uint64_t ball __attribute__((aligned(64)));

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* CPU 0 answers every odd value with the next even one. */
static void *answer(void *arg)
{
	uint64_t last = (uint64_t)TRIALS * BOUNCES * 2;

	(void)arg;
	pin(0);
	for (uint64_t v = 1; v < last; v += 2) {
		while (ball != v)
			_mm_pause();
		ball = v + 1;
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	double rtt[TRIALS];
	uint64_t v = 0;
	pthread_t t;

	pin(1);
	if (pthread_create(&t, NULL, answer, NULL))
		return 1;
	for (int i = 0; i < TRIALS; i++) {
		uint64_t t0 = __rdtsc();

		for (int n = 0; n < BOUNCES; n++) {
			ball = v + 1;
			v += 2;
			while (ball != v)
				_mm_pause();
		}
		rtt[i] = (double)(__rdtsc() - t0) / BOUNCES;
	}
	pthread_join(t, NULL);
	qsort(rtt, TRIALS, sizeof(rtt[0]), cmp);
	printf("%.0f\n", rtt[TRIALS / 2]);
	return 0;
}
