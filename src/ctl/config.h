/* SPDX-License-Identifier: MIT */
/*
 * config.h - the declarative config file (libconfig syntax):
 *
 *   ports = (
 *     { name = "vm1"; type = "vhost-user"; path = "/run/vmswitch/vm1.sock";
 *       queues = 2; vlan = 10; },
 *     { name = "up"; type = "afpacket"; interface = "eth1"; trunk = [10, 20]; }
 *   );
 *
 * Each port's type-specific keys become the same spec the --port option
 * takes; the keys every port shares become struct port_options.
 */
#ifndef VMSW_CONFIG_H
#define VMSW_CONFIG_H

#include <stddef.h>

#include "policy/port_options.h"

#define CONFIG_SPEC_MAX	640

struct port_config {
	char name[PORT_NAME_MAX];
	char spec[CONFIG_SPEC_MAX];	/* "NAME=TYPE:ARGS", as for --port */
	struct port_options opt;
	int line;			/* where the port is defined */
};

struct config {
	struct port_config *port;
	unsigned int nports;
	char cpus[256];		/* "cpus" (run --cpus), "" if not set */
	bool auto_rebalance;	/* "auto_rebalance" (run --auto-rebalance) */
};

int config_load(const char *path, struct config *cfg, char *why, size_t whylen);
void config_free(struct config *cfg);
const struct port_config *config_find(const struct config *cfg, const char *name);

#endif /* VMSW_CONFIG_H */
