/* SPDX-License-Identifier: MIT */
/*
 * port_options.h - what every port can be configured with, whatever its
 * type: VLAN membership, allowed source MACs, filters, policing, mirroring,
 * MTU. Set from the config file, `vmswitch ctl port set`, or defaults.
 */
#ifndef VMSW_PORT_OPTIONS_H
#define VMSW_PORT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PORT_NAME_MAX		32
#define PORT_MAX_MACS		16
#define PORT_FILTER_MAX		256
#define VLAN_MAX		4095
#define PORT_MTU_MIN		68
#define PORT_MTU_MAX		9198
/* Largest rate (bit/s) or burst (bytes), 1000G: the policer never nears 2^64 */
#define PORT_SIZE_MAX		1000000000000ull

enum vlan_mode {
	VLAN_NONE,		/* untagged frames only, no tag handling */
	VLAN_ACCESS,		/* untagged at the port, tag @access_vlan inside */
	VLAN_TRUNK,		/* tagged at the port, VLANs in @trunk_vlans */
};

struct port_options {
	uint16_t mtu;			/* IP MTU; 0: up to PACKET_DATA_MAX */
	enum vlan_mode vlan_mode;
	uint16_t access_vlan;
	uint64_t trunk_vlans[(VLAN_MAX + 64) / 64];	/* bitmap */
	unsigned int nmacs;		/* 0: any source MAC */
	uint8_t macs[PORT_MAX_MACS][6];
	char ingress_filter[PORT_FILTER_MAX];	/* pcap-filter syntax */
	char egress_filter[PORT_FILTER_MAX];
	uint64_t rx_rate;		/* bits/s from the port; 0: no limit */
	uint64_t rx_burst;		/* bytes */
	uint64_t tx_rate;		/* bits/s to the port */
	uint64_t tx_burst;
	char mirror[PORT_NAME_MAX];	/* copy rx and tx to this port */
};

static inline bool vlan_in_trunk(const struct port_options *o, uint16_t vlan)
{
	return o->trunk_vlans[vlan / 64] & (1ull << (vlan % 64));
}

static inline void vlan_trunk_add(struct port_options *o, uint16_t vlan)
{
	o->trunk_vlans[vlan / 64] |= 1ull << (vlan % 64);
}

int port_options_set(struct port_options *o, const char *key, const char *value,
		     char *why, size_t whylen);
bool port_options_equal(const struct port_options *a,
			const struct port_options *b);
int parse_size(const char *s, uint64_t *out);
bool port_name_valid(const char *name, size_t len);
int parse_mac(const char *s, uint8_t mac[6]);

#endif /* VMSW_PORT_OPTIONS_H */
