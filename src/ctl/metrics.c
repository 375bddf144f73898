/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - the switch's counters in the Prometheus text format, version
 * 0.0.4: every family has its HELP and TYPE lines and its samples together;
 * counters end in _total, times are in seconds.
 *
 * Label values need no escaping: port names are letters, digits, '-', '_'
 * and '.' (port_name_valid()), and the reasons and kinds are fixed words.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/cycles.h"
#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "pkt/packet.h"

#define METRICS_QUEUES_MAX	16	/* queue pairs a port has at most */

/**
 * struct u64_metric - a family whose value is a uint64_t field of a struct
 * @name:	metric name
 * @type:	"counter" or "gauge"
 * @help:	the HELP text
 * @off:	offset of the field in its struct
 */
struct u64_metric {
	const char *name;
	const char *type;
	const char *help;
	size_t off;
};

#define COUNTER(n, s, f, h)	{ n, "counter", h, offsetof(s, f) }

static const struct u64_metric port_counters[] = {
	COUNTER("vmswitch_port_rx_packets_total", struct port_stats, rx_packets,
		"Frames the switch received from the port."),
	COUNTER("vmswitch_port_rx_bytes_total", struct port_stats, rx_bytes,
		"Bytes of the frames the switch received from the port."),
	COUNTER("vmswitch_port_tx_packets_total", struct port_stats, tx_packets,
		"Frames the switch sent to the port."),
	COUNTER("vmswitch_port_tx_bytes_total", struct port_stats, tx_bytes,
		"Bytes of the frames the switch sent to the port."),
	COUNTER("vmswitch_port_gso_segmented_total", struct port_stats, gso_segmented,
		"Large TCP frames the switch segmented for the port (offload done here)."),
	COUNTER("vmswitch_port_csum_completed_total", struct port_stats, csum_completed,
		"Partial checksums the switch completed for the port (offload done here)."),
};

static const struct u64_metric queue_counters[] = {
	COUNTER("vmswitch_port_queue_rx_packets_total", struct port_queue_stats, rx_packets,
		"Frames the switch received from one queue pair of the port."),
	COUNTER("vmswitch_port_queue_rx_bytes_total", struct port_queue_stats, rx_bytes,
		"Bytes the switch received from one queue pair of the port."),
	COUNTER("vmswitch_port_queue_tx_packets_total", struct port_queue_stats, tx_packets,
		"Frames the switch sent to one queue pair of the port."),
	COUNTER("vmswitch_port_queue_tx_bytes_total", struct port_queue_stats, tx_bytes,
		"Bytes the switch sent to one queue pair of the port."),
};

static const struct u64_metric mac_table_counters[] = {
	COUNTER("vmswitch_mac_table_learned_total", struct fdb_stats, learned,
		"MAC addresses learned."),
	COUNTER("vmswitch_mac_table_moved_total", struct fdb_stats, moved,
		"Learned MAC addresses seen again on another port."),
	COUNTER("vmswitch_mac_table_aged_total", struct fdb_stats, aged,
		"MAC addresses forgotten after --mac-aging seconds of silence."),
	COUNTER("vmswitch_mac_table_full_total", struct fdb_stats, full,
		"MAC addresses not learned because the table was at its limit."),
};

static const struct u64_metric datapath_counters[] = {
	COUNTER("vmswitch_datapath_busy_packets_total", struct datapath_stats, busy_packets,
		"Frames received in loop passes that moved frames."),
	COUNTER("vmswitch_datapath_passes_total", struct datapath_stats, passes,
		"Passes of the datapath loop over the ports."),
	COUNTER("vmswitch_datapath_sleeps_total", struct datapath_stats, sleeps,
		"Times the datapath loop slept waiting for a kick."),
};

static const struct u64_metric control_counters[] = {
	COUNTER("vmswitch_control_connections_total", struct ctl_stats, accepted,
		"Connections the control socket accepted."),
	COUNTER("vmswitch_control_requests_total", struct ctl_stats, requests,
		"Complete requests the control socket executed."),
	COUNTER("vmswitch_control_errors_total", struct ctl_stats, errors,
		"Control requests answered with an error."),
	COUNTER("vmswitch_control_too_long_total", struct ctl_stats, too_long,
		"Control requests refused for their length."),
	COUNTER("vmswitch_control_timeouts_total", struct ctl_stats, timeouts,
		"Control connections closed at their deadline."),
	COUNTER("vmswitch_control_refused_total", struct ctl_stats, refused,
		"Control connections closed at once: too many were open."),
	COUNTER("vmswitch_control_write_errors_total", struct ctl_stats, write_errors,
		"Control clients gone before their answer was sent."),
};

/* One family's HELP and TYPE lines. */
static void family(FILE *out, const char *name, const char *type,
		   const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t field(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/* Families without labels, each the field @m[i].off of @base. */
static void plain_families(FILE *out, const struct u64_metric *m, size_t n,
			   const void *base)
{
	size_t i;

	for (i = 0; i < n; i++) {
		family(out, m[i].name, m[i].type, m[i].help);
		fprintf(out, "%s %llu\n", m[i].name,
			(unsigned long long)field(base, m[i].off));
	}
}

static void port_state_families(FILE *out, const struct bridge *b)
{
	unsigned int i;

	family(out, "vmswitch_port_info", "gauge",
	       "Always 1; the port's type in a label.");
	for (i = 0; i < b->nports; i++)
		fprintf(out, "vmswitch_port_info{port=\"%s\",type=\"%s\"} 1\n",
			b->port[i]->name, b->port[i]->ops->type);
	family(out, "vmswitch_port_up", "gauge",
	       "1 if the port can take frames now (its peer is connected and ready).");
	for (i = 0; i < b->nports; i++)
		fprintf(out, "vmswitch_port_up{port=\"%s\"} %d\n", b->port[i]->name,
			b->port[i]->up ? 1 : 0);
}

static void port_counter_families(FILE *out, const struct bridge *b)
{
	size_t m;
	unsigned int i;

	for (m = 0; m < sizeof(port_counters) / sizeof(port_counters[0]); m++) {
		family(out, port_counters[m].name, "counter", port_counters[m].help);
		for (i = 0; i < b->nports; i++)
			fprintf(out, "%s{port=\"%s\"} %llu\n", port_counters[m].name,
				b->port[i]->name, (unsigned long long)
				field(&b->port[i]->stats, port_counters[m].off));
	}
}

static void drop_family(FILE *out, const struct bridge *b)
{
	unsigned int i, d;

	family(out, "vmswitch_port_drops_total", "counter",
	       "Frames the port dropped, by reason (rx_buffer_unusable counts "
	       "guest receive chains returned empty).");
	for (i = 0; i < b->nports; i++)
		for (d = 0; d < DROP_MAX; d++)
			fprintf(out, "vmswitch_port_drops_total{port=\"%s\",reason=\"%s\"} %llu\n",
				b->port[i]->name, port_drop_names[d],
				(unsigned long long)b->port[i]->stats.drops[d]);
}

/* The queue pairs' counters of @port for the metric @m. */
static void queue_samples(FILE *out, struct port *port,
			  const struct u64_metric *m)
{
	struct port_queue_stats q[METRICS_QUEUES_MAX];
	unsigned int i, n;

	n = port->ops->queues ? port->ops->queues(port, q, METRICS_QUEUES_MAX) : 0;
	for (i = 0; i < n; i++)
		fprintf(out, "%s{port=\"%s\",queue=\"%u\"} %llu\n", m->name,
			port->name, i, (unsigned long long)field(&q[i], m->off));
}

static void queue_families(FILE *out, const struct bridge *b)
{
	size_t m;
	unsigned int i;

	for (m = 0; m < sizeof(queue_counters) / sizeof(queue_counters[0]); m++) {
		family(out, queue_counters[m].name, "counter", queue_counters[m].help);
		for (i = 0; i < b->nports; i++)
			queue_samples(out, b->port[i], &queue_counters[m]);
	}
}

static void bridge_families(FILE *out, const struct bridge *b)
{
	struct fdb_stats mac;

	fdb_stats_get(&b->fdb, &mac);
	family(out, "vmswitch_bridge_frames_total", "counter",
	       "Frames the learning bridge switched, by decision: unicast to one "
	       "port, flooded, or filtered (destination on the port it came from).");
	fprintf(out, "vmswitch_bridge_frames_total{decision=\"unicast\"} %llu\n"
		"vmswitch_bridge_frames_total{decision=\"flooded\"} %llu\n"
		"vmswitch_bridge_frames_total{decision=\"filtered\"} %llu\n",
		(unsigned long long)b->stats.unicast,
		(unsigned long long)b->stats.flooded,
		(unsigned long long)b->stats.filtered);
	family(out, "vmswitch_mac_table_entries", "gauge", "MAC addresses in the table.");
	fprintf(out, "vmswitch_mac_table_entries %u\n", fdb_entries(&b->fdb));
	family(out, "vmswitch_mac_table_limit", "gauge",
	       "Most MAC addresses the table takes (--mac-table).");
	fprintf(out, "vmswitch_mac_table_limit %u\n", b->fdb.limit);
	plain_families(out, mac_table_counters,
		       sizeof(mac_table_counters) / sizeof(mac_table_counters[0]),
		       &mac);
}

/* Wall-clock time the loop started: now less the monotonic time since. */
static double start_time_s(const struct datapath *dp)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 -
	       (double)(now_ns() - dp->start_ns) / 1e9;
}

/*
 * Busy time in seconds, not TSC cycles: the TSC ticks at a fixed rate, so
 * its cycles are a clock, and seconds compare across machines.
 */
static void datapath_families(FILE *out, const struct datapath *dp)
{
	family(out, "vmswitch_datapath_busy_seconds_total", "counter",
	       "Time the datapath loop spent in passes that moved frames.");
	fprintf(out, "vmswitch_datapath_busy_seconds_total %.9f\n",
		(double)dp->stats.busy_cycles / (double)cycles_per_second());
	plain_families(out, datapath_counters,
		       sizeof(datapath_counters) / sizeof(datapath_counters[0]),
		       &dp->stats);
	family(out, "vmswitch_start_time_seconds", "gauge",
	       "When the switch started, in seconds since the Unix epoch.");
	fprintf(out, "vmswitch_start_time_seconds %.3f\n", start_time_s(dp));
}

static void packet_pool_families(FILE *out)
{
	family(out, "vmswitch_packet_buffers", "gauge",
	       "Packet buffers in the pool (--packets), by pool: normal or large.");
	fprintf(out, "vmswitch_packet_buffers{pool=\"normal\"} %u\n"
		"vmswitch_packet_buffers{pool=\"large\"} %u\n",
		packet_pool.size, packet_pool.large_size);
	family(out, "vmswitch_packet_buffers_free", "gauge",
	       "Packet buffers free now, by pool: normal or large.");
	fprintf(out, "vmswitch_packet_buffers_free{pool=\"normal\"} %u\n"
		"vmswitch_packet_buffers_free{pool=\"large\"} %u\n",
		packet_pool.nfree, packet_pool.nlarge_free);
}

/**
 * metrics_write() - every counter of the switch in the Prometheus text format
 * @vs:		the switch
 * @out:	where the text goes
 */
void metrics_write(struct vmswitch *vs, FILE *out)
{
	const struct bridge *b = &vs->bridge;

	port_state_families(out, b);
	port_counter_families(out, b);
	drop_family(out, b);
	queue_families(out, b);
	bridge_families(out, b);
	datapath_families(out, &vs->dp);
	packet_pool_families(out);
	plain_families(out, control_counters,
		       sizeof(control_counters) / sizeof(control_counters[0]),
		       ctl_get_stats());
}
