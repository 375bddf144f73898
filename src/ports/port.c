/* SPDX-License-Identifier: MIT */
/* port.c - port specs, the type registry and counters */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "ports/port.h"

struct port_type {
	const char *name;
	const char *first;	/* what ARGS begin with */
	int (*create)(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen);
};

static const struct port_type port_types[] = {
	{ "vhost-user", "PATH", port_vhost_create },
	{ "afxdp", "IFNAME", port_afxdp_create },
	{ "tap", "IFNAME", port_tap_create },
	{ "afpacket", "IFNAME", port_afpacket_create },
	{ "vxlan", "REMOTE", port_vxlan_create },
};

unsigned int port_active_gen;
bool port_rx_injected;
bool port_threaded;
__thread struct link *port_stage;
int port_control_fd = -1;

/**
 * port_want_control() - from a datapath thread: have ops->control run on
 * the control thread (e.g. to close a connection whose guest broke a rule:
 * other threads may be transmitting to it)
 * @port:	port with an ops->control
 */
void port_want_control(struct port *port)
{
	__atomic_store_n(&port->want_control, true, __ATOMIC_RELEASE);
	eventfd_write(port_control_fd, 1);
}

/** port_init() - common fields of a new port; polled unless the type says not */
void port_init(struct port *port, const char *name, const struct port_ops *ops)
{
	memset(port, 0, sizeof(*port));
	snprintf(port->name, sizeof(port->name), "%s", name);
	port->ops = ops;
	port->active = true;
}

/*
 * ARGS of @type, checked for what every type needs before its own parser
 * sees them: a first argument (PATH, IFNAME, REMOTE), then options.
 */
static int create_typed(const struct port_type *type, const char *name,
			const char *args, struct port **out, char *why,
			size_t whylen)
{
	if (!*args || *args == ',') {
		snprintf(why, whylen, "port %s: expected %s:%s[,OPTION]...",
			 name, type->name, type->first);
		return -EINVAL;
	}
	return type->create(name, args, out, why, whylen);
}

/**
 * port_create() - make a port from "NAME=TYPE:ARGS"
 * @spec:	port specification, e.g. "vm1=vhost-user:/run/vmswitch/vm1.sock"
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Only parses and allocates: nothing is opened until ops->start.
 *
 * Return: 0 or -errno
 */
int port_create(const char *spec, struct port **out, char *why, size_t whylen)
{
	const char *eq = strchr(spec, '='), *colon;
	char name[PORT_NAME_MAX];
	size_t i, tlen;

	if (!eq || !port_name_valid(spec, (size_t)(eq - spec))) {
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
			return create_typed(&port_types[i], name,
					    colon ? colon + 1 : "", out, why, whylen);
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
	if (s->gso_segmented || s->csum_completed)
		fprintf(out, "  offloads done here: %llu frames segmented, %llu "
			"checksums completed\n", (unsigned long long)s->gso_segmented,
			(unsigned long long)s->csum_completed);
	for (i = 0; i < DROP_MAX; i++)
		if (s->drops[i])
			fprintf(out, "  drop %s %llu\n", port_drop_names[i],
				(unsigned long long)s->drops[i]);
	if (port->ops->show)
		port->ops->show(port, out);
}

/* Copy @p to the mirror port @to, untouched otherwise. */
static void mirror(struct port *to, const struct packet *p)
{
	struct link *l = port_stage ? &port_stage[to->idx] : &to->tx;
	struct packet *c;

	if (!port_is_up(to) || link_full(l)) {
		port_drop(to, port_is_up(to) ? DROP_LINK_FULL : DROP_PORT_DOWN, 1);
		return;
	}
	c = packet_clone(p);
	if (!c) {
		port_drop(to, DROP_NO_PACKET, 1);
		return;
	}
	if (port_stage)
		link_put(l, c);	/* prepared when the thread sends it */
	else
		port_enqueue(to, c);
}

/**
 * port_policy_in() - apply @port's ingress policy to a frame it received
 * @port:	ingress port
 * @p:		the frame; untagged and with p->vlan on return
 * @now:	TSC at the start of the pass
 *
 * Return: true to switch it; false if it was dropped (counted on @port;
 *	   the caller frees it)
 */
bool port_policy_in(struct port *port, struct packet *p, uint64_t now)
{
	enum port_drop why;

	if (!policy_ingress(&port->policy, p, now, &why)) {
		port_drop(port, why, 1);
		return false;
	}
	if (port->mirror)
		mirror(port->mirror, p);
	return true;
}

/**
 * port_policy_out() - apply @port's egress policy to a frame for it
 * @port:	egress port
 * @p:		untagged frame of VLAN p->vlan, owned by the caller; tagged
 *		for a trunk on return
 * @now:	TSC at the start of the pass
 *
 * Return: true to send it; false if it was dropped (counted on @port)
 */
bool port_policy_out(struct port *port, struct packet *p, uint64_t now)
{
	enum port_drop why;

	if (!policy_egress(&port->policy, p, now, &why)) {
		port_drop(port, why, 1);
		return false;
	}
	if (port->mirror)
		mirror(port->mirror, p);
	policy_egress_finish(&port->policy, p);
	return true;
}
