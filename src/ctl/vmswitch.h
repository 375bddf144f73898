/* SPDX-License-Identifier: MIT */
/*
 * vmswitch.h - the running switch as the control plane sees it: ports added,
 * removed and changed at run time, and the config file applied by
 * difference (ports that did not change are not touched)
 */
#ifndef VMSW_VMSWITCH_H
#define VMSW_VMSWITCH_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl/config.h"
#include "evpn/evpn.h"
#include "switch/bridge.h"
#include "switch/datapath.h"

struct vmswitch {
	struct bridge bridge;
	struct datapath dp;
	struct evpn evpn;		/* EVPN VXLAN ports' control plane */
	const char *config_path;	/* NULL: ports come from --port only */
	struct config cfg;		/* the config file as last applied */
	bool from_config[PORT_MAX];	/* by port->idx */
};

int vmswitch_add_port(struct vmswitch *vs, const char *spec,
		      const struct port_options *opt, bool from_config,
		      char *why, size_t whylen);
int vmswitch_del_port(struct vmswitch *vs, const char *name, char *why,
		      size_t whylen);
int vmswitch_set_option(struct vmswitch *vs, const char *name, const char *key,
			const char *value, char *why, size_t whylen);
int vmswitch_reload(struct vmswitch *vs, char *why, size_t whylen);
void vmswitch_destroy(struct vmswitch *vs);

#endif /* VMSW_VMSWITCH_H */
