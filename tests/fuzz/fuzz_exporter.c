/* SPDX-License-Identifier: MIT */
/*
 * fuzz_exporter.c - libFuzzer target for what `vmswitch exporter` parses
 * itself (HTTP is libmicrohttpd's)
 *
 * Each input is given whole to both:
 *  - exporter_split_listen(), as the --listen argument (up to its first
 *    NUL): "ADDR:PORT", "[V6]:PORT" or ":PORT". What it accepts must be a
 *    terminated host without brackets, a colon in it only if the input had
 *    brackets, and a port of 1 to 5 digits up to 65535;
 *  - exporter_answer_from_reply(), as the control socket's reply: a 200
 *    carries exactly the bytes after "OK\n", anything else is a 502 whose
 *    body is one line. No crash, leak or overrun either way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/exporter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_listen(const uint8_t *data, size_t size)
{
	char *spec = strndup((const char *)data, size);
	char host[EXPORTER_HOST_MAX], port[EXPORTER_PORT_MAX];
	size_t n;

	if (!spec)
		return;
	if (!exporter_split_listen(spec, host, port)) {
		if (!memchr(host, '\0', sizeof(host)) || strpbrk(host, "[]"))
			abort();
		if (strchr(host, ':') && spec[0] != '[')
			abort();
		n = strspn(port, "0123456789");
		if (n < 1 || n > 5 || port[n] || strtoul(port, NULL, 10) > 65535)
			abort();
	}
	free(spec);
}

static void check_reply(const uint8_t *data, size_t size)
{
	struct exporter_answer a;
	char *reply = malloc(size ? size : 1);

	if (!reply)
		return;
	memcpy(reply, data, size);
	if (exporter_answer_from_reply(reply, size, &a))
		return;
	if (a.status == 200) {
		if (size < 3 || memcmp(data, "OK\n", 3) != 0 || a.len != size - 3 ||
		    memcmp(a.body, data + 3, a.len) != 0)
			abort();
	} else if (a.status != 502 || !a.len || a.body[a.len - 1] != '\n' ||
		   memchr(a.body, '\n', a.len) != a.body + a.len - 1) {
		abort();
	}
	free(a.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_listen(data, size);
	check_reply(data, size);
	return 0;
}
