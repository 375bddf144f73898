/* SPDX-License-Identifier: MIT */
/* vmswitch.c - add, remove and change ports at run time; reload the config */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "ctl/vmswitch.h"
#include "switch/threads.h"

/* Point every port's mirror at the port it names (ports come and go). */
static void resolve_mirrors(struct vmswitch *vs)
{
	struct bridge *b = &vs->bridge;
	unsigned int i;

	for (i = 0; i < b->nports; i++) {
		struct port *port = b->port[i];
		struct policy *pol = &port->policy;

		port->mirror = *pol->opt.mirror ? bridge_find(b, pol->opt.mirror) : NULL;
		if (port->mirror == port)
			port->mirror = NULL;
		pol->mirror = port->mirror != NULL;
		policy_update_active(pol);
	}
}

/* The port of @port's type already on @port's endpoint (socket path), if any. */
static struct port *endpoint_user(const struct bridge *b, struct port *port)
{
	const char *mine;
	unsigned int i;

	if (!port->ops->endpoint)
		return NULL;
	mine = port->ops->endpoint(port);
	for (i = 0; i < b->nports; i++)
		if (b->port[i]->ops == port->ops &&
		    !strcmp(b->port[i]->ops->endpoint(b->port[i]), mine))
			return b->port[i];
	return NULL;
}

/**
 * vmswitch_add_port() - create, configure and start a port
 * @vs:		switch
 * @spec:	"NAME=TYPE:ARGS"
 * @opt:	options every port type shares, or NULL for none
 * @from_config: the config file owns it (reload may change or remove it)
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno; nothing is left behind on failure
 */
int vmswitch_add_port(struct vmswitch *vs, const char *spec,
		      const struct port_options *opt, bool from_config,
		      char *why, size_t whylen)
{
	static const struct port_options none;
	struct port *port, *other;
	int rc;

	rc = port_create(spec, &port, why, whylen);
	if (rc)
		return rc;
	if (bridge_find(&vs->bridge, port->name)) {
		snprintf(why, whylen, "port %s exists already", port->name);
		port_destroy(port);
		return -EEXIST;
	}
	other = endpoint_user(&vs->bridge, port);
	if (other) {
		snprintf(why, whylen, "port %s: %s is already used by port %s",
			 port->name, port->ops->endpoint(port), other->name);
		port_destroy(port);
		return -EADDRINUSE;
	}
	rc = policy_set(&port->policy, opt ? opt : &none, why, whylen);
	if (!rc)
		rc = bridge_add_port(&vs->bridge, port);
	if (rc) {
		if (rc == -ENOSPC)
			snprintf(why, whylen, "at most %d ports", PORT_MAX);
		port_destroy(port);
		return rc;
	}
	rc = port->ops->start(port);
	if (rc) {
		snprintf(why, whylen, "port %s: cannot start: %s", port->name,
			 strerror(-rc));
		bridge_remove_port(&vs->bridge, port);
		port_destroy(port);
		return rc;
	}
	rc = evpn_port_added(&vs->evpn, &vs->bridge, port, why, whylen);
	if (rc) {
		bridge_remove_port(&vs->bridge, port);
		port_destroy(port);
		return rc;
	}
	vs->from_config[port->idx] = from_config;
	resolve_mirrors(vs);
	info("port %s added", port->name);
	return 0;
}

/** vmswitch_del_port() - stop and remove a port. Return: 0 or -ENOENT */
int vmswitch_del_port(struct vmswitch *vs, const char *name, char *why,
		      size_t whylen)
{
	struct port *port = bridge_find(&vs->bridge, name);
	char gone[PORT_NAME_MAX];

	if (!port) {
		snprintf(why, whylen, "no port %s", name);
		return -ENOENT;
	}
	/* @name may be the port's own name, freed below. */
	snprintf(gone, sizeof(gone), "%s", port->name);
	evpn_port_removed(&vs->evpn, port);
	bridge_remove_port(&vs->bridge, port);
	vs->from_config[port->idx] = false;
	port_destroy(port);
	resolve_mirrors(vs);
	info("port %s removed", gone);
	return 0;
}

static int apply_options(struct vmswitch *vs, struct port *port,
			 const struct port_options *opt, char *why, size_t whylen)
{
	int rc = policy_set(&port->policy, opt, why, whylen);

	if (!rc)
		resolve_mirrors(vs);
	return rc;
}

/**
 * vmswitch_set_option() - change one shared option of a running port
 * @vs:		switch
 * @name:	port
 * @key:	option (vlan, trunk, allowed_macs, ..., see port_options_set)
 * @value:	new value
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno; the port keeps its old options on failure
 */
int vmswitch_set_option(struct vmswitch *vs, const char *name, const char *key,
			const char *value, char *why, size_t whylen)
{
	struct port *port = bridge_find(&vs->bridge, name);
	struct port_options opt;
	int rc;

	if (!port) {
		snprintf(why, whylen, "no port %s", name);
		return -ENOENT;
	}
	opt = port->policy.opt;
	rc = port_options_set(&opt, key, value, why, whylen);
	if (rc == -ENOENT)
		snprintf(why, whylen, "unknown option %s", key);
	if (rc)
		return rc;
	return apply_options(vs, port, &opt, why, whylen);
}

/* Bring one port of the new config in: keep, change options, or replace. */
static void reload_port(struct vmswitch *vs, const struct port_config *pc)
{
	const struct port_config *old = config_find(&vs->cfg, pc->name);
	struct port *port = bridge_find(&vs->bridge, pc->name);
	char why[256];

	if (port && old && !strcmp(old->spec, pc->spec)) {
		if (!port_options_equal(&old->opt, &pc->opt) &&
		    apply_options(vs, port, &pc->opt, why, sizeof(why)))
			err("reload: %s", why);
		return;		/* same port: connection and queues kept */
	}
	if (port && vmswitch_del_port(vs, pc->name, why, sizeof(why)))
		err("reload: %s", why);
	if (vmswitch_add_port(vs, pc->spec, &pc->opt, true, why, sizeof(why)))
		err("reload: %s", why);
}

/**
 * vmswitch_reload() - read the config file again and apply the differences
 * @vs:		switch with a config file
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * A file that does not parse or check changes nothing.
 *
 * Return: 0 or -errno
 */
int vmswitch_reload(struct vmswitch *vs, char *why, size_t whylen)
{
	struct config fresh;
	unsigned int i;

	if (!vs->config_path) {
		snprintf(why, whylen, "no config file (start with --config FILE)");
		return -ENOENT;
	}
	if (config_load(vs->config_path, &fresh, why, whylen))
		return -EINVAL;
	/* Ports the file no longer has (only those it created). */
	for (i = 0; i < vs->bridge.nports; i++) {
		struct port *port = vs->bridge.port[i];
		char reason[128];

		if (vs->from_config[port->idx] && !config_find(&fresh, port->name) &&
		    !vmswitch_del_port(vs, port->name, reason, sizeof(reason)))
			i--;	/* the list moved down */
	}
	for (i = 0; fresh.port && i < fresh.nports; i++)
		reload_port(vs, &fresh.port[i]);
	config_free(&vs->cfg);
	vs->cfg = fresh;
	info("reloaded %s: %u ports", vs->config_path, vs->bridge.nports);
	return 0;
}

/** vmswitch_destroy() - remove every port */
void vmswitch_destroy(struct vmswitch *vs)
{
	while (vs->bridge.nports) {
		struct port *port = vs->bridge.port[0];

		evpn_port_removed(&vs->evpn, port);
		bridge_remove_port(&vs->bridge, port);
		port_destroy(port);
	}
	config_free(&vs->cfg);
}
