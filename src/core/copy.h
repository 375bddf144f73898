/* SPDX-License-Identifier: MIT */
/*
 * copy.h - frame copies without a library call for the small sizes
 *
 * Most frames a switch copies are short. For 16 to 128 bytes two
 * fixed-size copies that may overlap in the middle do the job inline;
 * longer frames go to memcpy, whose loop is the best there is for them.
 */
#ifndef VMSW_COPY_H
#define VMSW_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void copy_bytes(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n >= 16 && n <= 32) {
		memcpy(d, s, 16);
		memcpy(d + n - 16, s + n - 16, 16);
	} else if (n > 32 && n <= 64) {
		memcpy(d, s, 32);
		memcpy(d + n - 32, s + n - 32, 32);
	} else if (n > 64 && n <= 128) {
		memcpy(d, s, 64);
		memcpy(d + n - 64, s + n - 64, 64);
	} else {
		memcpy(d, s, n);
	}
}

#endif /* VMSW_COPY_H */
