/* SPDX-License-Identifier: MIT */
/* util.h - small helpers shared by every module */
#ifndef VMSW_UTIL_H
#define VMSW_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

/* A macro's value as a string literal. */
#define VMSW_STR_(x)	#x
#define VMSW_STR(x)	VMSW_STR_(x)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Compiler-only barrier: x86 keeps loads and stores in order except store->load. */
#define barrier()	__asm__ __volatile__("" ::: "memory")

/* Ordering against the guest, which runs on another CPU. */
#define smp_rmb()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)

/* A single read or write of a field the guest may change at any time. */
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))

static inline int is_power_of_2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* True when [a, a+len) wraps around the 64-bit address space. */
static inline int range_overflows(uint64_t a, uint64_t len)
{
	return a + len < a;
}

#endif /* VMSW_UTIL_H */
