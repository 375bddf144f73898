/* SPDX-License-Identifier: MIT */
/*
 * fuzz_port_spec.c - libFuzzer target for port specs ("NAME=TYPE:ARGS")
 * of every type, and the options every port shares ("key=value")
 *
 * The first line of the input is a spec for port_create(), which parses it
 * with the type's own parser (vhost-user, tap, afpacket, afxdp, vxlan) and
 * allocates the port; nothing is started, so no port needs a device or
 * privileges. Every further line is one "key=value" option for
 * port_options_set() (the value may hold blanks, as a filter does), and the
 * options are then applied to the port with policy_set(), which compiles
 * the filters. Checked on every input:
 *   - port_create() and port_options_set() return 0 or a -errno, and a
 *     failure says why;
 *   - creating a port opens nothing (no fd before ->start);
 *   - a port made from "NAME=TYPE:..." is called NAME, has type TYPE and
 *     every operation the loop calls; ->show, ->state and ->queues work on
 *     a port never started;
 *   - port_destroy() frees everything (LeakSanitizer) and closes everything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_log.h"
#include "fuzz_util.h"
#include "ports/port.h"

#define MAX_OPTIONS	16
#define LINE_MAX_BYTES	1024

static void bug(const char *what, const char *line)
{
	dprintf(2, "BUG: %s ('%s')\n", what, line);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_log_setup();
	return 0;
}

/* The next line of [*p, end) into @buf as a string; false at the end. */
static bool next_line(const char **p, const char *end, char *buf, size_t len)
{
	const char *nl;
	size_t n;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*p += n + 1;
	if (n >= len)
		n = len - 1;
	memcpy(buf, *p - n - 1, n);
	buf[n] = '\0';
	return true;
}

static void check_result(int rc, const char *why, const char *line)
{
	if (rc > 0 || rc < -4095)
		bug("result neither 0 nor a -errno", line);
	if (rc && rc != -ENOMEM && !*why)
		bug("refused without a reason", line);
}

/* What a port made from @spec must be. */
static void check_port(struct port *port, const char *spec)
{
	const char *eq = strchr(spec, '=');
	const struct port_ops *ops = port->ops;
	size_t nlen = (size_t)(eq - spec), tlen = strlen(ops->type);
	struct port_queue_stats q[16];
	char *text = NULL;
	size_t len;
	FILE *out;

	if (strlen(port->name) != nlen || strncmp(port->name, spec, nlen) != 0)
		bug("port not called by the spec's name", spec);
	if (strncmp(eq + 1, ops->type, tlen) != 0 || eq[1 + tlen] != ':')
		bug("port not of the spec's type", spec);
	if (!ops->start || !ops->rx || !ops->tx || !ops->sleep_prepare ||
	    !ops->sleep_finish || !ops->destroy)
		bug("port type without an operation the loop calls", spec);
	out = open_memstream(&text, &len);
	if (!out)
		abort();
	port_print_stats(port, out);
	if (ops->state)
		fprintf(out, "%s\n", ops->state(port));
	if (ops->queues && ops->queues(port, q, 16) > 16)
		bug("more queues than asked for", spec);
	fclose(out);
	free(text);
}

/* The option lines after the spec, then applied to @port (may be NULL). */
static void apply_options(struct port *port, const char **p, const char *end)
{
	struct port_options opt = { 0 };
	char line[LINE_MAX_BYTES], why[256];
	int n = 0, rc;

	while (n++ < MAX_OPTIONS && next_line(p, end, line, sizeof(line))) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		why[0] = '\0';
		rc = port_options_set(&opt, line, eq + 1, why, sizeof(why));
		if (rc != -ENOENT)
			check_result(rc, why, line);
	}
	if (!port)
		return;
	why[0] = '\0';
	rc = policy_set(&port->policy, &opt, why, sizeof(why));
	check_result(rc, why, "policy_set");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	char spec[LINE_MAX_BYTES], why[256] = "";
	struct port *port = NULL;
	int baseline = fuzz_count_fds(), rc;

	if (!next_line(&p, end, spec, sizeof(spec)))
		return 0;
	rc = port_create(spec, &port, why, sizeof(why));
	check_result(rc, why, spec);
	fuzz_check_fds(baseline, "after port_create (nothing may be opened)");
	if (!rc)
		check_port(port, spec);
	apply_options(rc ? NULL : port, &p, end);
	if (!rc)
		port_destroy(port);
	fuzz_check_fds(baseline, "after port_destroy");
	return 0;
}
