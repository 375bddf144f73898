/*
 * wake_probe - the CPU cost of one eventfd wake-up on this machine (bench.py's
 * cpu_rate section prints it beside the switches as their floor).
 *
 * A child pinned to CPU 1 sleeps in epoll_wait on an eventfd; the parent,
 * pinned to CPU 0, writes the eventfd every PERIOD_US. After each wake the
 * child may spin SPIN_US (a poll window). The child prints its own CPU time
 * (CLOCK_THREAD_CPUTIME_ID) per wake-up and as a share of a core:
 *
 *   wake_probe PERIOD_US [SPIN_US [SECONDS]]
 *   -> wakes=N cpu_ns=N seconds=S
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

int main(int argc, char **argv)
{
	long period_us = argc > 1 ? atol(argv[1]) : 1000;
	long spin_us = argc > 2 ? atol(argv[2]) : 0;
	double secs = argc > 3 ? atof(argv[3]) : 5.0;
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t one = 1, end;
	struct timespec next;
	pid_t pid;

	if (efd < 0 || period_us <= 0 || secs <= 0) {
		fprintf(stderr, "usage: wake_probe PERIOD_US [SPIN_US [SECONDS]]\n");
		return 2;
	}
	pid = fork();
	if (pid == 0) {
		struct epoll_event ev = { .events = EPOLLIN }, out;
		uint64_t c0, n = 0, v, stop;
		int ep = epoll_create1(0);

		pin(1);
		epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
		c0 = ns(CLOCK_THREAD_CPUTIME_ID);
		stop = ns(CLOCK_MONOTONIC) + (uint64_t)(secs * 1e9);
		while (ns(CLOCK_MONOTONIC) < stop) {
			if (epoll_wait(ep, &out, 1, 100) == 1 && read(efd, &v, 8) == 8) {
				uint64_t until = ns(CLOCK_MONOTONIC) + spin_us * 1000ull;

				n++;
				while (spin_us && ns(CLOCK_MONOTONIC) < until)
					;
			}
		}
		printf("wakes=%llu cpu_ns=%llu seconds=%.3f\n", (unsigned long long)n,
		       (unsigned long long)(ns(CLOCK_THREAD_CPUTIME_ID) - c0), secs);
		return 0;
	}
	if (pid < 0)
		return 1;
	pin(0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	end = ns(CLOCK_MONOTONIC) + (uint64_t)(secs * 1e9);
	while (ns(CLOCK_MONOTONIC) < end) {
		next.tv_nsec += period_us * 1000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		if (write(efd, &one, 8) != 8)
			break;
	}
	waitpid(pid, NULL, 0);
	return 0;
}
