/* SPDX-License-Identifier: MIT */
/* port.c - port specs, the type registry and counters */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "port.h"

const char *const port_drop_names[DROP_MAX] = {
	[DROP_INVALID_DESC] = "invalid_descriptor",
	[DROP_RUNT] = "runt",
	[DROP_TOO_BIG] = "too_big",
	[DROP_BAD_HEADER] = "bad_header",
	[DROP_SEGMENTS] = "too_many_segments",
	[DROP_NO_PACKET] = "no_packet_buffer",
	[DROP_QUEUE_DISABLED] = "queue_disabled",
	[DROP_LINK_FULL] = "link_full",
	[DROP_NO_RX_BUFFER] = "no_rx_buffer",
	[DROP_PORT_DOWN] = "port_down",
	[DROP_VLAN] = "vlan",
	[DROP_SPOOFED] = "spoofed",
	[DROP_FILTERED] = "filtered",
	[DROP_POLICED] = "policed",
	[DROP_BAD_ENCAP] = "bad_encap",
	[DROP_TX_ERROR] = "tx_error",
};

struct port_type {
	const char *name;
	int (*create)(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen);
};

static const struct port_type port_types[] = {
	{ "vhost-user", port_vhost_create },
	{ "afxdp", port_afxdp_create },
	{ "tap", port_tap_create },
	{ "afpacket", port_afpacket_create },
	{ "vxlan", port_vxlan_create },
};

unsigned int port_active_gen;

/** port_init() - common fields of a new port; polled unless the type says not */
void port_init(struct port *port, const char *name, const struct port_ops *ops)
{
	memset(port, 0, sizeof(*port));
	snprintf(port->name, sizeof(port->name), "%s", name);
	port->ops = ops;
	port->active = true;
}

static bool valid_name(const char *name, size_t len)
{
	size_t i;

	if (!len || len >= PORT_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/**
 * port_create() - make a port from "NAME=TYPE:ARGS"
 * @spec:	port specification, e.g. "vm1=vhost-user:/run/vmswitch/vm1.sock"
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno
 */
int port_create(const char *spec, struct port **out, char *why, size_t whylen)
{
	const char *eq = strchr(spec, '='), *colon;
	char name[PORT_NAME_MAX];
	size_t i, tlen;

	if (!eq || !valid_name(spec, (size_t)(eq - spec))) {
		snprintf(why, whylen, "'%s': expected NAME=TYPE:ARGS with a name of "
			 "letters, digits, '-', '_' or '.'", spec);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
	colon = strchr(eq + 1, ':');
	tlen = colon ? (size_t)(colon - eq - 1) : strlen(eq + 1);
	for (i = 0; i < ARRAY_SIZE(port_types); i++) {
		if (strlen(port_types[i].name) == tlen &&
		    !strncmp(port_types[i].name, eq + 1, tlen))
			return port_types[i].create(name, colon ? colon + 1 : "",
						    out, why, whylen);
	}
	snprintf(why, whylen, "port %s: unknown type '%.*s' (known: vhost-user, "
		 "afxdp, tap, afpacket, vxlan)", name, (int)tlen, eq + 1);
	return -EINVAL;
}

/** port_destroy() - free a port and everything its policy holds */
void port_destroy(struct port *port)
{
	policy_clear(&port->policy);
	port->ops->destroy(port);
}

/** port_print_stats() - counters of @port, then its type's own view */
void port_print_stats(struct port *port, FILE *out)
{
	const struct port_stats *s = &port->stats;
	int i;

	fprintf(out, "port %s (%s): %s\n", port->name, port->ops->type,
		port->up ? "up" : "down");
	fprintf(out, "  rx %llu packets %llu bytes, tx %llu packets %llu bytes, "
		"%u queued to send\n",
		(unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes,
		(unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
		link_count(&port->tx));
	for (i = 0; i < DROP_MAX; i++)
		if (s->drops[i])
			fprintf(out, "  drop %s %llu\n", port_drop_names[i],
				(unsigned long long)s->drops[i]);
	if (port->ops->show)
		port->ops->show(port, out);
}
