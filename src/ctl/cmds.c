/* SPDX-License-Identifier: MIT */
/* ctl_cmds.c - what the control socket's commands do: show, stats, fdb, ports */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/cycles.h"
#include "core/log.h"
#include "core/words.h"
#include "ctl/ctl.h"

#define CTL_MAX_ARGS	32

struct cmd {
	struct vmswitch *vs;
	int argc;
	char **argv;
	bool json;
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

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
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

static void port_json(struct port *port, FILE *out, bool counters)
{
	const struct port_stats *s = &port->stats;
	const struct port_options *o = &port->policy.opt;
	struct port_queue_stats q[16];
	unsigned int i, nq;

	fprintf(out, "{\"name\":");
	json_string(out, port->name);
	fprintf(out, ",\"type\":\"%s\",\"state\":\"%s\",\"up\":%s", port->ops->type,
		port_state(port), port->up ? "true" : "false");
	fprintf(out, ",\"vlan_mode\":\"%s\",\"vlan\":%u,\"mtu\":%u,\"mirror\":",
		o->vlan_mode == VLAN_ACCESS ? "access" :
		o->vlan_mode == VLAN_TRUNK ? "trunk" : "none", o->access_vlan, o->mtu);
	json_string(out, o->mirror);
	fprintf(out, ",\"ingress_filter\":");
	json_string(out, o->ingress_filter);
	fprintf(out, ",\"egress_filter\":");
	json_string(out, o->egress_filter);
	fprintf(out, ",\"rx_rate\":%llu,\"tx_rate\":%llu",
		(unsigned long long)o->rx_rate, (unsigned long long)o->tx_rate);
	if (counters) {
		fprintf(out, ",\"rx_packets\":%llu,\"rx_bytes\":%llu,"
			"\"tx_packets\":%llu,\"tx_bytes\":%llu,\"drops\":{",
			(unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes,
			(unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes);
		for (i = 0; i < DROP_MAX; i++)
			fprintf(out, "%s\"%s\":%llu", i ? "," : "", port_drop_names[i],
				(unsigned long long)s->drops[i]);
		fprintf(out, "},\"queues\":[");
		nq = port->ops->queues ? port->ops->queues(port, q, 16) : 0;
		for (i = 0; i < nq; i++)
			fprintf(out, "%s{\"rx_packets\":%llu,\"rx_bytes\":%llu,"
				"\"tx_packets\":%llu,\"tx_bytes\":%llu}", i ? "," : "",
				(unsigned long long)q[i].rx_packets,
				(unsigned long long)q[i].rx_bytes,
				(unsigned long long)q[i].tx_packets,
				(unsigned long long)q[i].tx_bytes);
		fputc(']', out);
	}
	fputc('}', out);
}

/* The ports a command names (all when @name is NULL); -ENOENT if none. */
static int each_port(struct cmd *c, const char *name,
		     void (*fn)(struct cmd *c, struct port *port, bool first))
{
	struct bridge *b = &c->vs->bridge;
	unsigned int i;
	bool first = true;

	for (i = 0; i < b->nports; i++) {
		if (name && strcmp(b->port[i]->name, name) != 0)
			continue;
		fn(c, b->port[i], first);
		first = false;
	}
	if (name && first)
		return fail(c, -ENOENT, "no port %s", name);
	return 0;
}

static void show_one(struct cmd *c, struct port *port, bool first)
{
	if (c->json) {
		fputs(first ? "" : ",", c->out);
		port_json(port, c->out, false);
		return;
	}
	fprintf(c->out, "port %s (%s): %s", port->name, port->ops->type,
		port_state(port));
	options_text(&port->policy.opt, c->out);
	fputc('\n', c->out);
	if (port->ops->show)
		port->ops->show(port, c->out);
}

static void stats_one(struct cmd *c, struct port *port, bool first)
{
	if (c->json) {
		fputs(first ? "" : ",", c->out);
		port_json(port, c->out, true);
	} else {
		port_print_stats(port, c->out);
	}
}

static void datapath_json(struct vmswitch *vs, FILE *out)
{
	const struct datapath_stats *s = &vs->dp.stats;
	const struct bridge *b = &vs->bridge;

	fprintf(out, ",\"switch\":{\"unicast\":%llu,\"flooded\":%llu,\"filtered\":%llu,"
		"\"mac_entries\":%u,\"mac_learned\":%llu,\"mac_moved\":%llu,"
		"\"mac_aged\":%llu},\"datapath\":{\"busy_packets\":%llu,"
		"\"busy_cycles\":%llu,\"busy_cycles_per_packet\":%.1f,"
		"\"tsc_hz\":%llu,\"passes\":%llu,\"sleeps\":%llu}",
		(unsigned long long)b->stats.unicast, (unsigned long long)b->stats.flooded,
		(unsigned long long)b->stats.filtered, b->fdb.count,
		(unsigned long long)b->fdb.stats.learned,
		(unsigned long long)b->fdb.stats.moved,
		(unsigned long long)b->fdb.stats.aged,
		(unsigned long long)s->busy_packets, (unsigned long long)s->busy_cycles,
		s->busy_packets ? (double)s->busy_cycles / s->busy_packets : 0.0,
		(unsigned long long)cycles_per_second(),
		(unsigned long long)s->passes, (unsigned long long)s->sleeps);
}

static int cmd_show(struct cmd *c)
{
	int rc;

	fputs(c->json ? "[" : "", c->out);
	rc = each_port(c, c->argc > 1 ? c->argv[1] : NULL, show_one);
	fputs(c->json ? "]\n" : "", c->out);
	return rc;
}

static int cmd_stats(struct cmd *c)
{
	int rc;

	if (!c->json) {
		rc = each_port(c, c->argc > 1 ? c->argv[1] : NULL, stats_one);
		if (!rc && c->argc == 1)
			datapath_print_stats_loop(&c->vs->dp, c->out);
		return rc;
	}
	fputs("{\"ports\":[", c->out);
	rc = each_port(c, c->argc > 1 ? c->argv[1] : NULL, stats_one);
	fputc(']', c->out);
	datapath_json(c->vs, c->out);
	fputs("}\n", c->out);
	return rc;
}

/* ---- fdb ------------------------------------------------------------------ */

static void fdb_entry_out(struct cmd *c, const struct fdb_entry *e, bool first)
{
	const struct bridge *b = &c->vs->bridge;
	const struct port *port = b->slot[e->port];
	uint8_t mac[6];
	uint16_t vlan = (uint16_t)(e->key >> 48) & 0xfff;
	uint32_t age = b->now_s - e->seen;

	memcpy(mac, &e->key, 6);
	if (c->json)
		fprintf(c->out, "%s{\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\","
			"\"vlan\":%u,\"port\":\"%s\",\"age\":%u}", first ? "" : ",",
			mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], vlan,
			port ? port->name : "?", age);
	else
		fprintf(c->out, "%4u  %02x:%02x:%02x:%02x:%02x:%02x  %-16s %u\n", vlan,
			mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
			port ? port->name : "?", age);
}

static int cmd_fdb(struct cmd *c)
{
	struct fdb *t = &c->vs->bridge.fdb;
	const char *sub = c->argc > 1 ? c->argv[1] : "show";
	struct port *port = NULL;
	bool first = true;
	uint32_t i;

	if (!strcmp(sub, "flush")) {
		if (c->argc > 2) {
			port = bridge_find(&c->vs->bridge, c->argv[2]);
			if (!port)
				return fail(c, -ENOENT, "no port %s", c->argv[2]);
			fprintf(c->out, "%u entries removed\n", fdb_flush_port(t, port->idx));
		} else {
			fprintf(c->out, "%u entries removed\n", fdb_flush_all(t));
		}
		return 0;
	}
	if (strcmp(sub, "show") != 0)
		return fail(c, -EINVAL, "fdb %s: expected show or flush", sub);
	fputs(c->json ? "[" : "VLAN  MAC                PORT             AGE\n", c->out);
	for (i = 0; i <= t->mask; i++) {
		if (!t->slot[i].key)
			continue;
		fdb_entry_out(c, &t->slot[i], first);
		first = false;
	}
	fputs(c->json ? "]\n" : "", c->out);
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
	snprintf(value, len, "%s", eq + 1);
	while (*i + 1 < c->argc && !strchr(c->argv[*i + 1], '=')) {
		size_t used = strlen(value);

		snprintf(value + used, len - used, " %s", c->argv[++*i]);
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
		fprintf(c->out, "%llu frames written\n",
			(unsigned long long)port->policy.capture.written);
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
			count = strtoull(c->argv[++i], NULL, 10);
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

/* Prometheus text format. */
static int cmd_metrics(struct cmd *c)
{
	const struct bridge *b = &c->vs->bridge;
	unsigned int i, d;

	fputs("# TYPE vmswitch_port_rx_packets_total counter\n"
	      "# TYPE vmswitch_port_tx_packets_total counter\n"
	      "# TYPE vmswitch_port_rx_bytes_total counter\n"
	      "# TYPE vmswitch_port_tx_bytes_total counter\n"
	      "# TYPE vmswitch_port_drops_total counter\n"
	      "# TYPE vmswitch_port_up gauge\n", c->out);
	for (i = 0; i < b->nports; i++) {
		const struct port *p = b->port[i];
		const struct port_stats *s = &p->stats;

		fprintf(c->out, "vmswitch_port_up{port=\"%s\"} %d\n", p->name, p->up);
		fprintf(c->out, "vmswitch_port_rx_packets_total{port=\"%s\"} %llu\n",
			p->name, (unsigned long long)s->rx_packets);
		fprintf(c->out, "vmswitch_port_tx_packets_total{port=\"%s\"} %llu\n",
			p->name, (unsigned long long)s->tx_packets);
		fprintf(c->out, "vmswitch_port_rx_bytes_total{port=\"%s\"} %llu\n",
			p->name, (unsigned long long)s->rx_bytes);
		fprintf(c->out, "vmswitch_port_tx_bytes_total{port=\"%s\"} %llu\n",
			p->name, (unsigned long long)s->tx_bytes);
		for (d = 0; d < DROP_MAX; d++)
			fprintf(c->out, "vmswitch_port_drops_total{port=\"%s\",reason=\"%s\"} %llu\n",
				p->name, port_drop_names[d], (unsigned long long)s->drops[d]);
	}
	fprintf(c->out, "# TYPE vmswitch_mac_entries gauge\nvmswitch_mac_entries %u\n"
		"# TYPE vmswitch_busy_cycles_total counter\nvmswitch_busy_cycles_total %llu\n"
		"# TYPE vmswitch_busy_packets_total counter\nvmswitch_busy_packets_total %llu\n",
		b->fdb.count, (unsigned long long)c->vs->dp.stats.busy_cycles,
		(unsigned long long)c->vs->dp.stats.busy_packets);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct cmd *c);
} commands[] = {
	{ "show", cmd_show }, { "stats", cmd_stats }, { "fdb", cmd_fdb },
	{ "port", cmd_port }, { "capture", cmd_capture }, { "reload", cmd_reload },
	{ "metrics", cmd_metrics },
};

/* Split @line at blanks; "--json" anywhere sets c->json. */
static void split(struct cmd *c, char *line, char **argv)
{
	char *tok, *save;

	c->argc = 0;
	c->argv = argv;
	for (tok = strtok_r(line, " \t\r\n", &save); tok && c->argc < CTL_MAX_ARGS;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (!strcmp(tok, "--json"))
			c->json = true;
		else
			argv[c->argc++] = tok;
	}
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

	split(&c, line, argv);
	if (!c.argc)
		return fail(&c, -EINVAL, "%s", "empty command");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, c.argv[0]))
			return commands[i].fn(&c);
	return fail(&c, -EINVAL, "unknown command '%s' (show, stats, fdb, port, "
		    "capture, reload, metrics)", c.argv[0]);
}
