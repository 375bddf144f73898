/* SPDX-License-Identifier: MIT */
/* cmds.c - what the control socket's commands do: show, stats, fdb, ports */
#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "core/cycles.h"
#include "core/log.h"
#include "core/words.h"
#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "switch/threads.h"

#define CTL_MAX_ARGS	256	/* words in one request (a long filter has many) */

struct cmd {
	struct vmswitch *vs;
	int argc;
	char **argv;
	bool json;
	json_object *list;	/* the array a --json listing fills */
	FILE *out;
	char *why;
	size_t whylen;
};

static int fail(struct cmd *c, int rc, const char *fmt, const char *arg)
{
	snprintf(c->why, c->whylen, fmt, arg);
	return rc;
}

/* ---- show and stats ------------------------------------------------------ */

static const char *port_state(struct port *port)
{
	if (port->ops->state)
		return port->ops->state(port);
	return port->up ? "up" : "down";
}

static void options_text(const struct port_options *o, FILE *out)
{
	if (o->vlan_mode == VLAN_ACCESS)
		fprintf(out, " vlan=%u", o->access_vlan);
	if (o->vlan_mode == VLAN_TRUNK)
		fprintf(out, " trunk");
	if (o->nmacs)
		fprintf(out, " allowed_macs=%u", o->nmacs);
	if (*o->ingress_filter)
		fprintf(out, " ingress_filter=\"%s\"", o->ingress_filter);
	if (*o->egress_filter)
		fprintf(out, " egress_filter=\"%s\"", o->egress_filter);
	if (o->rx_rate)
		fprintf(out, " rx_rate=%llu", (unsigned long long)o->rx_rate);
	if (o->tx_rate)
		fprintf(out, " tx_rate=%llu", (unsigned long long)o->tx_rate);
	if (*o->mirror)
		fprintf(out, " mirror=%s", o->mirror);
	if (o->mtu)
		fprintf(out, " mtu=%u", o->mtu);
}

static void json_set(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

static void json_set_u64(json_object *o, const char *key, uint64_t v)
{
	json_set(o, key, json_object_new_uint64(v));
}

static void json_set_str(json_object *o, const char *key, const char *v)
{
	json_set(o, key, json_object_new_string(v));
}

static const char *vlan_mode_name(enum vlan_mode m)
{
	return m == VLAN_ACCESS ? "access" : m == VLAN_TRUNK ? "trunk" : "none";
}

static json_object *traffic_json(uint64_t rx_packets, uint64_t rx_bytes,
				 uint64_t tx_packets, uint64_t tx_bytes)
{
	json_object *o = json_object_new_object();

	json_set_u64(o, "rx_packets", rx_packets);
	json_set_u64(o, "rx_bytes", rx_bytes);
	json_set_u64(o, "tx_packets", tx_packets);
	json_set_u64(o, "tx_bytes", tx_bytes);
	return o;
}

/* Counters of @port into its object @o: totals, drops by reason, queues. */
static void port_counters_json(struct port *port, json_object *o)
{
	const struct port_stats *s = &port->stats;
	struct port_queue_stats q[16];
	json_object *drops = json_object_new_object();
	json_object *queues = json_object_new_array();
	unsigned int i, nq;

	json_set_u64(o, "rx_packets", s->rx_packets);
	json_set_u64(o, "rx_bytes", s->rx_bytes);
	json_set_u64(o, "tx_packets", s->tx_packets);
	json_set_u64(o, "tx_bytes", s->tx_bytes);
	json_set_u64(o, "gso_segmented", s->gso_segmented);
	json_set_u64(o, "csum_completed", s->csum_completed);
	for (i = 0; i < DROP_MAX; i++)
		json_set_u64(drops, port_drop_names[i], s->drops[i]);
	json_set(o, "drops", drops);
	nq = port->ops->queues ? port->ops->queues(port, q, 16) : 0;
	for (i = 0; i < nq; i++)
		json_object_array_add(queues, traffic_json(q[i].rx_packets, q[i].rx_bytes,
							   q[i].tx_packets, q[i].tx_bytes));
	json_set(o, "queues", queues);
}

static json_object *port_json(struct port *port, bool counters)
{
	const struct port_options *o = &port->policy.opt;
	json_object *j = json_object_new_object();

	json_set_str(j, "name", port->name);
	json_set_str(j, "type", port->ops->type);
	json_set_str(j, "state", port_state(port));
	json_set(j, "up", json_object_new_boolean(port->up));
	json_set_str(j, "vlan_mode", vlan_mode_name(o->vlan_mode));
	json_set_u64(j, "vlan", o->access_vlan);
	json_set_u64(j, "mtu", o->mtu);
	json_set_str(j, "mirror", o->mirror);
	json_set_str(j, "ingress_filter", o->ingress_filter);
	json_set_str(j, "egress_filter", o->egress_filter);
	json_set_u64(j, "rx_rate", o->rx_rate);
	json_set_u64(j, "tx_rate", o->tx_rate);
	if (counters)
		port_counters_json(port, j);
	return j;
}

/* Print @o on one line and free it. */
static void json_print(struct cmd *c, json_object *o)
{
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), c->out);
	fputc('\n', c->out);
	json_object_put(o);
}

/* The ports a command names (all when @name is NULL); -ENOENT if none. */
static int each_port(struct cmd *c, const char *name,
		     void (*fn)(struct cmd *c, struct port *port))
{
	struct bridge *b = &c->vs->bridge;
	unsigned int i;
	bool found = false;

	for (i = 0; i < b->nports; i++) {
		if (name && strcmp(b->port[i]->name, name) != 0)
			continue;
		fn(c, b->port[i]);
		found = true;
	}
	if (name && !found)
		return fail(c, -ENOENT, "no port %s", name);
	return 0;
}

static void show_one(struct cmd *c, struct port *port)
{
	if (c->json) {
		json_object_array_add(c->list, port_json(port, false));
		return;
	}
	fprintf(c->out, "port %s (%s): %s", port->name, port->ops->type,
		port_state(port));
	options_text(&port->policy.opt, c->out);
	fputc('\n', c->out);
	if (c->vs->dp.threads)
		dp_threads_port_show(c->vs->dp.threads, port, c->out);
	if (port->ops->show)
		port->ops->show(port, c->out);
}

static void stats_one(struct cmd *c, struct port *port)
{
	if (c->json)
		json_object_array_add(c->list, port_json(port, true));
	else
		port_print_stats(port, c->out);
}

static json_object *switch_json(const struct bridge *b)
{
	json_object *o = json_object_new_object();
	struct fdb_stats mac;

	fdb_stats_get(&b->fdb, &mac);
	json_set_u64(o, "unicast", b->stats.unicast);
	json_set_u64(o, "flooded", b->stats.flooded);
	json_set_u64(o, "filtered", b->stats.filtered);
	json_set_u64(o, "mac_entries", fdb_entries(&b->fdb));
	json_set_u64(o, "mac_learned", mac.learned);
	json_set_u64(o, "mac_moved", mac.moved);
	json_set_u64(o, "mac_aged", mac.aged);
	return o;
}

static json_object *datapath_json(struct datapath *dp)
{
	struct datapath_stats *s = &dp->stats;
	json_object *o = json_object_new_object();

	json_set_u64(o, "busy_packets", s->busy_packets);
	json_set_u64(o, "busy_cycles", s->busy_cycles);
	json_set(o, "busy_cycles_per_packet", json_object_new_double(
		 s->busy_packets ? (double)s->busy_cycles / (double)s->busy_packets : 0.0));
	json_set_u64(o, "tsc_hz", cycles_per_second());
	json_set_u64(o, "passes", s->passes);
	json_set_u64(o, "sleeps", s->sleeps);
	json_set_u64(o, "poll_window_us",
		     dp->poll_window * 1000000 / cycles_per_second());
	json_set_u64(o, "longest_pause_us", s->max_pause_ns / 1000);
	s->max_pause_ns = 0;	/* the next read covers the time since */
	return o;
}

static json_object *control_json(const struct ctl_stats *s)
{
	json_object *o = json_object_new_object();

	json_set_u64(o, "connections", s->accepted);
	json_set_u64(o, "requests", s->requests);
	json_set_u64(o, "errors", s->errors);
	json_set_u64(o, "too_long", s->too_long);
	json_set_u64(o, "timeouts", s->timeouts);
	json_set_u64(o, "refused", s->refused);
	json_set_u64(o, "write_errors", s->write_errors);
	return o;
}

static void control_print(const struct ctl_stats *s, FILE *out)
{
	fprintf(out, "control: %llu connections, %llu requests, %llu errors, "
		"%llu too long, %llu timed out, %llu refused, %llu write errors\n",
		(unsigned long long)s->accepted, (unsigned long long)s->requests,
		(unsigned long long)s->errors, (unsigned long long)s->too_long,
		(unsigned long long)s->timeouts, (unsigned long long)s->refused,
		(unsigned long long)s->write_errors);
}

static int cmd_show(struct cmd *c)
{
	int rc;

	c->list = c->json ? json_object_new_array() : NULL;
	rc = each_port(c, c->argc > 1 ? c->argv[1] : NULL, show_one);
	if (c->json)
		json_print(c, c->list);
	else if (!rc && c->argc == 1 && c->vs->dp.threads)
		dp_threads_show(c->vs->dp.threads, c->out);
	if (!c->json && !rc && c->argc == 1)
		evpn_show(&c->vs->evpn, c->out);
	return rc;
}

static int cmd_stats(struct cmd *c)
{
	json_object *o;
	int rc;

	if (!c->json) {
		rc = each_port(c, c->argc > 1 ? c->argv[1] : NULL, stats_one);
		if (!rc && c->argc == 1) {
			datapath_print_stats_loop(&c->vs->dp, c->out);
			control_print(ctl_get_stats(), c->out);
		}
		return rc;
	}
	c->list = json_object_new_array();
	rc = each_port(c, c->argc > 1 ? c->argv[1] : NULL, stats_one);
	o = json_object_new_object();
	json_set(o, "ports", c->list);
	json_set(o, "switch", switch_json(&c->vs->bridge));
	json_set(o, "datapath", datapath_json(&c->vs->dp));
	json_set(o, "control", control_json(ctl_get_stats()));
	/* When the counters were read, for rates that the client's own
	 * scheduling does not skew (ctl top). */
	json_set_u64(o, "time_ns", now_ns());
	json_print(c, o);
	return rc;
}

/* ---- fdb ------------------------------------------------------------------ */

/* fdb_walk()'s callback: one line or JSON object per entry. */
static void fdb_entry_out(const struct fdb_entry *e, void *arg)
{
	struct cmd *c = arg;
	const struct bridge *b = &c->vs->bridge;
	const struct port *port = b->slot[e->port];
	uint16_t vlan = (uint16_t)(e->key >> 48) & 0xfff;
	uint32_t age = b->now_s - e->seen;
	uint8_t m[6];
	char mac[18];
	json_object *o;

	memcpy(m, &e->key, 6);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
		 m[0], m[1], m[2], m[3], m[4], m[5]);
	if (!c->json) {
		fprintf(c->out, "%4u  %s  %-16s %u\n", vlan, mac,
			port ? port->name : "?", age);
		return;
	}
	o = json_object_new_object();
	json_set_str(o, "mac", mac);
	json_set_u64(o, "vlan", vlan);
	json_set_str(o, "port", port ? port->name : "?");
	json_set_u64(o, "age", age);
	json_object_array_add(c->list, o);
}

static void removed_out(struct cmd *c, unsigned int n)
{
	json_object *o;

	if (!c->json) {
		fprintf(c->out, "%u entries removed\n", n);
		return;
	}
	o = json_object_new_object();
	json_set_u64(o, "removed", n);
	json_print(c, o);
}

static int cmd_fdb(struct cmd *c)
{
	struct fdb *t = &c->vs->bridge.fdb;
	const char *sub = c->argc > 1 ? c->argv[1] : "show";
	struct port *port = NULL;

	if (!strcmp(sub, "flush")) {
		if (c->argc > 2) {
			port = bridge_find(&c->vs->bridge, c->argv[2]);
			if (!port)
				return fail(c, -ENOENT, "no port %s", c->argv[2]);
			removed_out(c, fdb_flush_port(t, port->idx));
		} else {
			removed_out(c, fdb_flush_all(t));
		}
		return 0;
	}
	if (strcmp(sub, "show") != 0)
		return fail(c, -EINVAL, "fdb %s: expected show or flush", sub);
	if (c->json)
		c->list = json_object_new_array();
	else
		fputs("VLAN  MAC                PORT             AGE\n", c->out);
	fdb_walk(t, fdb_entry_out, c);
	if (c->json)
		json_print(c, c->list);
	return 0;
}

/* ---- ports ---------------------------------------------------------------- */

/*
 * The "key=value" setting at argv[*i]; words after it without '=' belong to
 * the value ("ingress_filter=not icmp" arrives as two words).
 */
static int next_setting(struct cmd *c, int *i, char **key, char *value,
			size_t len)
{
	char *eq = strchr(c->argv[*i], '=');

	if (!eq)
		return fail(c, -EINVAL, "expected key=value, not '%s'", c->argv[*i]);
	*eq = '\0';
	*key = c->argv[*i];
	if ((size_t)snprintf(value, len, "%s", eq + 1) >= len)
		return fail(c, -E2BIG, "value of %s too long", *key);
	while (*i + 1 < c->argc && !strchr(c->argv[*i + 1], '=')) {
		size_t used = strlen(value);

		if ((size_t)snprintf(value + used, len - used, " %s",
				     c->argv[++*i]) >= len - used)
			return fail(c, -E2BIG, "value of %s too long", *key);
	}
	return 0;
}

static int cmd_port(struct cmd *c)
{
	struct port_options opt = { 0 };
	char value[PORT_FILTER_MAX], *key;
	int rc, i;

	if (c->argc < 3)
		return fail(c, -EINVAL, "%s", "usage: port add NAME=TYPE:ARGS [key=value]... | "
			    "port del NAME | port set NAME key=value...");
	if (!strcmp(c->argv[1], "del"))
		return vmswitch_del_port(c->vs, c->argv[2], c->why, c->whylen);
	if (strcmp(c->argv[1], "add") != 0 && strcmp(c->argv[1], "set") != 0)
		return fail(c, -EINVAL, "port %s: expected add, del or set", c->argv[1]);
	if (!strcmp(c->argv[1], "set") && !bridge_find(&c->vs->bridge, c->argv[2]))
		return fail(c, -ENOENT, "no port %s", c->argv[2]);
	for (i = 3; i < c->argc; i++) {
		rc = next_setting(c, &i, &key, value, sizeof(value));
		if (!rc && !strcmp(c->argv[1], "add")) {
			rc = port_options_set(&opt, key, value, c->why, c->whylen);
			if (rc == -ENOENT)
				rc = fail(c, -EINVAL, "unknown option %s", key);
		} else if (!rc) {
			rc = vmswitch_set_option(c->vs, c->argv[2], key, value, c->why,
						 c->whylen);
		}
		if (rc)
			return rc;
	}
	if (!strcmp(c->argv[1], "add"))
		return vmswitch_add_port(c->vs, c->argv[2], &opt, false, c->why,
					 c->whylen);
	return 0;
}

/* capture PORT FILE [FILTER...] [--count N] | capture stop PORT */
static int cmd_capture(struct cmd *c)
{
	char filter[PORT_FILTER_MAX] = "", *words[CTL_MAX_ARGS];
	uint64_t count = 0;
	struct port *port;
	int i, nwords = 0;

	if (c->argc >= 3 && !strcmp(c->argv[1], "stop")) {
		port = bridge_find(&c->vs->bridge, c->argv[2]);
		if (!port)
			return fail(c, -ENOENT, "no port %s", c->argv[2]);
		if (c->json) {
			json_object *o = json_object_new_object();

			json_set_u64(o, "written", port->policy.capture.written);
			json_print(c, o);
		} else {
			fprintf(c->out, "%llu frames written\n",
				(unsigned long long)port->policy.capture.written);
		}
		policy_capture_stop(&port->policy);
		return 0;
	}
	if (c->argc < 3)
		return fail(c, -EINVAL, "%s", "usage: capture PORT FILE [FILTER] [--count N] | "
			    "capture stop PORT");
	port = bridge_find(&c->vs->bridge, c->argv[1]);
	if (!port)
		return fail(c, -ENOENT, "no port %s", c->argv[1]);
	for (i = 3; i < c->argc; i++) {
		if (!strcmp(c->argv[i], "--count") && i + 1 < c->argc) {
			if (parse_size(c->argv[++i], &count))
				return fail(c, -EINVAL, "--count %s: not a frame count",
					    c->argv[i]);
			continue;
		}
		words[nwords++] = c->argv[i];
	}
	if (words_join(filter, sizeof(filter), words, nwords))
		return fail(c, -EINVAL, "%s", "filter too long");
	return policy_capture_start(&port->policy, c->argv[2], filter, count,
				    c->why, c->whylen);
}

static int cmd_reload(struct cmd *c)
{
	return vmswitch_reload(c->vs, c->why, c->whylen);
}

/* "PORT=THREAD" or "PORT=any": pin a port's receive queues, or unpin them. */
static int pin_port(struct cmd *c, struct dp_threads *s, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[PORT_NAME_MAX], *end;
	struct port *port;
	long t = -1;

	if (!eq || (size_t)(eq - arg) >= sizeof(name))
		return fail(c, -EINVAL, "rebalance: expected PORT=THREAD, not '%s'", arg);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	port = bridge_find(&c->vs->bridge, name);
	if (!port)
		return fail(c, -ENOENT, "no port %s", name);
	if (strcmp(eq + 1, "any") != 0) {
		t = strtol(eq + 1, &end, 10);
		if (!eq[1] || *end || t < 0 || t > INT_MAX)
			return fail(c, -EINVAL, "rebalance: '%s' is not a thread", eq + 1);
	}
	if (dp_threads_pin(s, port, (int)t))
		return fail(c, -ERANGE, "rebalance: there is no thread %s", eq + 1);
	return 0;
}

/*
 * Place the receive queues on the datapath threads again, by the load
 * measured since the last placement and the pins given; done when the
 * command's pause ends.
 */
static int cmd_rebalance(struct cmd *c)
{
	int i, rc;

	if (!c->vs->dp.threads) {
		fprintf(c->out, "one thread (no --cpus): nothing to balance\n");
		return 0;
	}
	for (i = 1; i < c->argc; i++)
		if ((rc = pin_port(c, c->vs->dp.threads, c->argv[i])))
			return rc;
	dp_threads_rebalance(c->vs->dp.threads);
	fprintf(c->out, "queues placed again by load when this command ends\n");
	return 0;
}

/* Prometheus text format (metrics.c); `vmswitch exporter` relays it. */
static int cmd_metrics(struct cmd *c)
{
	if (c->json)
		return fail(c, -EINVAL, "%s", "metrics is Prometheus text; no --json");
	metrics_write(c->vs, c->out);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct cmd *c);
} commands[] = {
	{ "show", cmd_show }, { "stats", cmd_stats }, { "fdb", cmd_fdb },
	{ "port", cmd_port }, { "capture", cmd_capture }, { "reload", cmd_reload },
	{ "metrics", cmd_metrics }, { "rebalance", cmd_rebalance },
};

/* Split @line at blanks; "--json" anywhere sets c->json. */
static int split(struct cmd *c, char *line, char **argv)
{
	char *tok, *save;

	c->argc = 0;
	c->argv = argv;
	for (tok = strtok_r(line, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (!strcmp(tok, "--json"))
			c->json = true;
		else if (c->argc == CTL_MAX_ARGS)
			return fail(c, -E2BIG, "%s", "more than " VMSW_STR(CTL_MAX_ARGS)
				    " words in one request");
		else
			argv[c->argc++] = tok;
	}
	return 0;
}

/**
 * ctl_execute() - run one control command
 * @vs:		the switch
 * @line:	the request, e.g. "stats vm1 --json" (modified)
 * @out:	where the answer goes
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno
 */
int ctl_execute(struct vmswitch *vs, char *line, FILE *out, char *why,
		size_t whylen)
{
	struct cmd c = { .vs = vs, .out = out, .why = why, .whylen = whylen };
	char *argv[CTL_MAX_ARGS];
	size_t i;

	if (split(&c, line, argv))
		return -E2BIG;
	if (!c.argc)
		return fail(&c, -EINVAL, "%s", "empty command");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, c.argv[0]))
			return commands[i].fn(&c);
	return fail(&c, -EINVAL, "unknown command '%s' (show, stats, fdb, port, "
		    "capture, reload, metrics, rebalance)", c.argv[0]);
}
