/* SPDX-License-Identifier: MIT */
/* fuzz_log.h - the fuzz targets' log set-up */
#ifndef VMSW_FUZZ_LOG_H
#define VMSW_FUZZ_LOG_H

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

/*
 * Our log lines go to /dev/null (sanitizers write to fd 2 directly);
 * VMSW_FUZZ_LOG=0..3 shows them, up to that level (3: every message).
 */
static inline void fuzz_log_setup(void)
{
	const char *level = getenv("VMSW_FUZZ_LOG");

	if (level) {
		log_threshold = (enum log_level)atoi(level);
	} else {
		FILE *null = fopen("/dev/null", "w");

		if (null)
			stderr = null;
		log_threshold = LOG_ERR;
	}
}

#endif /* VMSW_FUZZ_LOG_H */
