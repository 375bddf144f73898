/* SPDX-License-Identifier: MIT */
/*
 * top.c - `vmswitch ctl top`: ask for `stats --json` once a second and
 * show packets, bits and drops per second for every port. VMSWITCH_TOP_N
 * limits the refreshes (for scripts and tests).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/client.h"
#include "ctl/top.h"
#include "ports/port.h"

#define TOP_PORTS	PORT_MAX

struct top_row {
	char name[PORT_NAME_MAX];
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops;
};

static uint64_t field(const char *obj, const char *key)
{
	const char *p = strstr(obj, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* Sum of the numbers in the port object's "drops":{...}. */
static uint64_t drops(const char *obj)
{
	const char *p = strstr(obj, "\"drops\":{"), *end;
	uint64_t sum = 0;

	if (!p)
		return 0;
	end = strchr(p, '}');
	for (p = strchr(p, ':') + 1; (p = strchr(p, ':')) && p < end; p++)
		sum += strtoull(p + 1, NULL, 10);
	return sum;
}

/* Ports out of our own `stats --json` answer. */
static unsigned int parse(char *json, struct top_row *rows)
{
	unsigned int n = 0;
	char *p = json;

	while (n < TOP_PORTS && (p = strstr(p, "{\"name\":\""))) {
		char *name = p + 9, *q = strchr(name, '"'), *next;

		if (!q)
			break;
		next = strstr(q, "{\"name\":\"");
		if (next)
			next[-1] = '\0';	/* the ',' before the next object */
		snprintf(rows[n].name, sizeof(rows[n].name), "%.*s", (int)(q - name), name);
		rows[n].rx_packets = field(q, "\"rx_packets\":");
		rows[n].rx_bytes = field(q, "\"rx_bytes\":");
		rows[n].tx_packets = field(q, "\"tx_packets\":");
		rows[n].tx_bytes = field(q, "\"tx_bytes\":");
		rows[n].drops = drops(q);
		n++;
		if (!next)
			break;
		p = next;
	}
	return n;
}

static int sample(const char *path, struct top_row *rows, unsigned int *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	rc = ctl_ask(path, "stats --json", f);
	fclose(f);
	if (!rc)
		*n = parse(buf, rows);
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

/** ctl_top() - refresh until interrupted. Return: exit status */
int ctl_top(const char *path)
{
	static struct top_row rows[2][TOP_PORTS];
	const char *limit = getenv("VMSWITCH_TOP_N");
	long left = limit ? atol(limit) : -1;
	unsigned int n[2] = { 0, 0 }, cur = 0;
	struct timespec t0, t1;

	if (sample(path, rows[cur], &n[cur]))
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left--) {
		sleep(1);
		cur ^= 1;
		if (sample(path, rows[cur], &n[cur]))
			return 2;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		render(rows[cur], n[cur], rows[cur ^ 1], n[cur ^ 1],
		       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		t0 = t1;
	}
	return 0;
}
