/* SPDX-License-Identifier: MIT */
/* test_copy.c - copy_bytes() at every size around its boundaries */
#include "core/copy.h"
#include "unit.h"

TEST(every_size_up_to_300)
{
	uint8_t src[320], dst[320];
	size_t n, i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 13 + 5);
	for (n = 0; n <= 300; n++) {
		memset(dst, 0xaa, sizeof(dst));
		copy_bytes(dst + 1, src + 3, n);	/* unaligned both sides */
		CHECK_EQ(dst[0], 0xaa);
		CHECK(memcmp(dst + 1, src + 3, n) == 0);
		CHECK_EQ(dst[n + 1], 0xaa);	/* nothing written past the end */
	}
}

UNIT_MAIN(T(every_size_up_to_300))
