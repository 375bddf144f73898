/* SPDX-License-Identifier: MIT */
/*
 * unit.h - a tiny unit-test harness: TEST() functions, CHECK() assertions,
 * and a main() that runs them all and prints "N passed, N failed".
 */
#ifndef VMSW_UNIT_H
#define VMSW_UNIT_H

#include <stdio.h>
#include <stdlib.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

static int unit_failed_now;

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			printf("  %s:%d: CHECK(%s) failed\n", __FILE__,	\
			       __LINE__, #cond);			\
			unit_failed_now = 1;				\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long _a = (long long)(a), _b = (long long)(b);	\
		if (_a != _b) {						\
			printf("  %s:%d: %s == %lld, expected %s == %lld\n", \
			       __FILE__, __LINE__, #a, _a, #b, _b);	\
			unit_failed_now = 1;				\
		}							\
	} while (0)

#define TEST(name) static void name(void)
#define T(name) { #name, name }

/* Each test file ends with UNIT_MAIN(T(a), T(b), ...). */
#define UNIT_MAIN(...)							\
	int main(void)							\
	{								\
		static const struct unit_test tests[] = { __VA_ARGS__ }; \
		unsigned int i, pass = 0, fail = 0;			\
									\
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) { \
			unit_failed_now = 0;				\
			tests[i].fn();					\
			printf("%s %s\n", unit_failed_now ? "FAIL" : "PASS", \
			       tests[i].name);				\
			if (unit_failed_now)				\
				fail++;					\
			else						\
				pass++;					\
		}							\
		printf("%u passed, %u failed\n", pass, fail);		\
		return fail ? 1 : 0;					\
	}

#endif /* VMSW_UNIT_H */
