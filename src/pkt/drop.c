/* SPDX-License-Identifier: MIT */
/* drop.c - the names of the drop reasons, as counters and metrics show them */
#include "pkt/drop.h"

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
	[DROP_NO_VTEP] = "no_vtep",
	[DROP_RX_BUFFER_UNUSABLE] = "unusable_rx_buffer",
};
