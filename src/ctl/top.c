/* SPDX-License-Identifier: MIT */
/*
 * top.c - `vmswitch ctl top`: ask for `stats --json` once a second and
 * show packets, bits and drops per second for every port. VMSWITCH_TOP_N
 * limits the refreshes (for scripts and tests).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/client.h"
#include "core/cycles.h"
#include "ctl/top.h"
#include "ports/port.h"

#define TOP_PORTS	PORT_MAX

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_uint64(v);
}

/* Sum of the port object's "drops": {reason: count, ...}. */
static uint64_t drops_sum(json_object *port)
{
	json_object *drops;
	uint64_t sum = 0;

	if (!json_object_object_get_ex(port, "drops", &drops) ||
	    !json_object_is_type(drops, json_type_object))
		return 0;
	json_object_object_foreach(drops, reason, count) {
		(void)reason;
		if (json_object_is_type(count, json_type_int))
			sum += json_object_get_uint64(count);
	}
	return sum;
}

static bool row_from_json(json_object *port, struct top_row *row)
{
	json_object *name;

	if (!json_object_is_type(port, json_type_object) ||
	    !json_object_object_get_ex(port, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return false;
	snprintf(row->name, sizeof(row->name), "%s", json_object_get_string(name));
	row->rx_packets = get_u64(port, "rx_packets");
	row->rx_bytes = get_u64(port, "rx_bytes");
	row->tx_packets = get_u64(port, "tx_packets");
	row->tx_bytes = get_u64(port, "tx_bytes");
	row->drops = drops_sum(port);
	return true;
}

/**
 * top_parse() - the ports of a `stats --json` answer
 * @text:	the answer (need not be terminated)
 * @len:	its length
 * @rows:	filled with one row per port
 * @max:	rows available
 * @time_ns:	set to the switch's clock when it read the counters, 0 if
 *		the answer does not say (an older switch)
 *
 * Return: rows filled, or -EINVAL if @text is not such an answer
 */
int top_parse(const char *text, size_t len, struct top_row *rows,
	      unsigned int max, uint64_t *time_ns)
{
	json_tokener *tok = json_tokener_new();
	json_object *root, *ports;
	unsigned int n = 0;
	size_t i;

	if (!tok)
		return -ENOMEM;
	root = len <= INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	json_tokener_free(tok);
	if (!root || !json_object_object_get_ex(root, "ports", &ports) ||
	    !json_object_is_type(ports, json_type_array)) {
		json_object_put(root);
		return -EINVAL;
	}
	for (i = 0; i < json_object_array_length(ports) && n < max; i++)
		n += row_from_json(json_object_array_get_idx(ports, i), &rows[n]);
	*time_ns = get_u64(root, "time_ns");
	json_object_put(root);
	return (int)n;
}

static int sample(const char *path, struct top_row *rows, unsigned int *n,
		  uint64_t *time_ns)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return 2;
	rc = ctl_ask(path, "stats --json", f);
	fclose(f);
	if (!rc) {
		int got = top_parse(buf, len, rows, TOP_PORTS, time_ns);

		if (got < 0) {
			fprintf(stderr, "vmswitch ctl top: unexpected answer to stats --json\n");
			rc = 2;
		} else {
			*n = (unsigned int)got;
		}
	}
	free(buf);
	return rc;
}

static const struct top_row *find(const struct top_row *rows, unsigned int n,
				  const char *name)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

/* Counters that went back: the port was deleted and added again since. */
static bool went_back(const struct top_row *a, const struct top_row *b)
{
	return a->rx_packets < b->rx_packets || a->rx_bytes < b->rx_bytes ||
	       a->tx_packets < b->tx_packets || a->tx_bytes < b->tx_bytes ||
	       a->drops < b->drops;
}

static void render(const struct top_row *now, unsigned int n,
		   const struct top_row *before, unsigned int nb, double dt)
{
	unsigned int i;

	printf("\033[H\033[2Jvmswitch top (per second)\n\n%-16s %12s %12s %12s %12s %10s\n",
	       "PORT", "RX pps", "RX Mbit/s", "TX pps", "TX Mbit/s", "drops/s");
	for (i = 0; i < n; i++) {
		const struct top_row *b = find(before, nb, now[i].name), *a = &now[i];

		if (!b || went_back(a, b))
			b = a;
		printf("%-16s %12.0f %12.1f %12.0f %12.1f %10.0f\n", a->name,
		       (a->rx_packets - b->rx_packets) / dt,
		       (a->rx_bytes - b->rx_bytes) * 8 / dt / 1e6,
		       (a->tx_packets - b->tx_packets) / dt,
		       (a->tx_bytes - b->tx_bytes) * 8 / dt / 1e6,
		       (a->drops - b->drops) / dt);
	}
	fflush(stdout);
}

/*
 * Seconds between two samples: by the switch's clock when it read the
 * counters (a client kept waiting for a CPU would skew its own), else by
 * ours when the answers came.
 */
static double interval_s(uint64_t at0, uint64_t at1, uint64_t seen0, uint64_t seen1)
{
	if (at0 && at1 > at0)
		return (double)(at1 - at0) / 1e9;
	return (double)(seen1 - seen0) / 1e9;
}

/** ctl_top() - refresh until interrupted. Return: exit status */
int ctl_top(const char *path)
{
	static struct top_row rows[2][TOP_PORTS];
	const char *limit = getenv("VMSWITCH_TOP_N");
	long left = limit ? atol(limit) : -1;
	unsigned int n[2] = { 0, 0 }, cur = 0;
	uint64_t at[2], seen[2];	/* the switch's clock; ours */

	if (sample(path, rows[cur], &n[cur], &at[cur]))
		return 2;
	seen[cur] = now_ns();
	while (left--) {
		sleep(1);
		cur ^= 1;
		if (sample(path, rows[cur], &n[cur], &at[cur]))
			return 2;
		seen[cur] = now_ns();
		render(rows[cur], n[cur], rows[cur ^ 1], n[cur ^ 1],
		       interval_s(at[cur ^ 1], at[cur], seen[cur ^ 1], seen[cur]));
	}
	return 0;
}
