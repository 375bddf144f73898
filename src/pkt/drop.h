/* SPDX-License-Identifier: MIT */
/*
 * drop.h - why a packet was dropped
 *
 * Every layer that refuses a frame names one of these reasons; the port the
 * frame came from or was meant for counts it (struct port_stats).
 */
#ifndef VMSW_DROP_H
#define VMSW_DROP_H

enum port_drop {
	DROP_INVALID_DESC,	/* the guest broke a ring rule (device closed) */
	DROP_RUNT,		/* shorter than header + Ethernet header */
	DROP_TOO_BIG,		/* frame over PACKET_DATA_MAX */
	DROP_BAD_HEADER,	/* virtio-net header asks for an offload not negotiated */
	DROP_SEGMENTS,		/* chain with more segments than we handle */
	DROP_NO_PACKET,		/* packet pool empty */
	DROP_QUEUE_DISABLED,	/* sent on a disabled queue: drained */
	DROP_LINK_FULL,		/* the port's tx link was full */
	DROP_NO_RX_BUFFER,	/* the guest posted no usable receive buffer */
	DROP_PORT_DOWN,		/* the port was not connected */
	DROP_VLAN,		/* VLAN not allowed on the port */
	DROP_SPOOFED,		/* source MAC not in the port's allowed list */
	DROP_FILTERED,		/* refused by the ingress or egress filter */
	DROP_POLICED,		/* over the port's rx or tx rate */
	DROP_BAD_ENCAP,		/* tunnel datagram malformed, wrong VNI or sender */
	DROP_TX_ERROR,		/* the kernel refused to send it (not "queue full") */
	DROP_NO_VTEP,		/* EVPN VXLAN: no VTEP to send it to yet */
	DROP_RX_BUFFER_UNUSABLE, /* a guest receive chain no frame fits in:
				  * returned empty (counts chains, not frames) */
	DROP_MAX
};

/* Names for counters and logs ("link_full"). */
extern const char *const port_drop_names[DROP_MAX];

#endif /* VMSW_DROP_H */
