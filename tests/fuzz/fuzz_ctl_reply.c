/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ctl_reply.c - libFuzzer target for the client's reading of replies
 *
 * `vmswitch ctl top` parses the switch's `stats --json` answer with json-c
 * (top_parse()). The switch could be another version, or something else on
 * the socket: the input is any reply text. It must be parsed, or refused
 * with -EINVAL, without a crash, leak or overrun, and every row it returns
 * must hold a terminated name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/top.h"

#define ROWS	8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct top_row rows[ROWS];
	uint64_t time_ns;
	int n, i;

	n = top_parse((const char *)data, size, rows, ROWS, &time_ns);
	if (n > ROWS)
		abort();
	for (i = 0; i < n; i++)
		if (!memchr(rows[i].name, '\0', sizeof(rows[i].name)))
			abort();
	return 0;
}
