/* SPDX-License-Identifier: MIT */
/*
 * unit.h - a tiny unit-test harness: TEST() functions, CHECK() assertions,
 * SKIP("reason") to skip a test saying why, and a main() that runs them all,
 * prints "PASS name", "FAIL name" or "SKIP name: reason" for each, and ends
 * with "N passed, N failed, N skipped" (tests/run.py sums these lines).
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
static const char *unit_skipped_now;	/* the reason, once SKIP() ran */

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

/* Skip the rest of the current test; reason says why (not empty). */
#define SKIP(reason)							\
	do {								\
		unit_skipped_now = (reason);				\
		return;							\
	} while (0)

#define TEST(name) static void name(void)
#define T(name) { #name, name }

/* Each test file ends with UNIT_MAIN(T(a), T(b), ...). */
#define UNIT_MAIN(...)							\
	int main(void)							\
	{								\
		static const struct unit_test tests[] = { __VA_ARGS__ }; \
		unsigned int i, pass = 0, fail = 0, skip = 0;		\
									\
		for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) { \
			unit_failed_now = 0;				\
			unit_skipped_now = NULL;			\
			tests[i].fn();					\
			if (!unit_failed_now && unit_skipped_now &&	\
			    !unit_skipped_now[0]) {			\
				printf("  SKIP() without a reason\n");	\
				unit_failed_now = 1;			\
			}						\
			if (unit_failed_now) {				\
				printf("FAIL %s\n", tests[i].name);	\
				fail++;					\
			} else if (unit_skipped_now) {			\
				printf("SKIP %s: %s\n", tests[i].name,	\
				       unit_skipped_now);		\
				skip++;					\
			} else {					\
				printf("PASS %s\n", tests[i].name);	\
				pass++;					\
			}						\
		}							\
		printf("%u passed, %u failed, %u skipped\n", pass, fail, skip); \
		return fail ? 1 : 0;					\
	}

#endif /* VMSW_UNIT_H */
