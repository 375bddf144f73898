/* SPDX-License-Identifier: MIT */
/*
 * policy.h - what a port does to frames on their way in and out, beyond
 * switching: VLAN tags, allowed source MACs, pcap filters, token-bucket
 * policing, MTU, mirroring and capture.
 *
 * Ingress sees the frame as it arrived at the port and leaves it untagged
 * with p->vlan set; egress sees it untagged and leaves it as the port sends
 * it. A port with nothing configured costs one flag test per packet.
 */
#ifndef VMSW_POLICY_H
#define VMSW_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pkt/drop.h"
#include "pkt/packet.h"
#include "policy/port_options.h"

struct bpf_program;

struct token_bucket {
	uint64_t rate;		/* bytes per second; 0: unlimited */
	uint64_t burst;		/* bytes */
	uint64_t tokens;	/* bytes available */
	uint64_t last;		/* TSC of the last refill */
};

struct capture {
	void *file;		/* pcap_dumper_t of the file being written */
	void *dead;		/* pcap_t the dumper belongs to */
	struct bpf_program *filter;	/* NULL: every frame */
	uint64_t remaining;	/* frames still to write; 0: unlimited */
	uint64_t written;
};

struct policy {
	bool active_in;		/* anything to do at ingress */
	bool active_out;	/* anything to do at egress */
	struct port_options opt;
	struct bpf_program *ingress;	/* compiled ingress_filter, or NULL */
	struct bpf_program *egress;
	struct token_bucket rx_police;
	struct token_bucket tx_police;
	bool mirror;		/* opt.mirror names a port that exists (the
				 * switch resolves it and sends the copies) */
	struct capture capture;
};

int policy_set(struct policy *pol, const struct port_options *opt, char *why,
	       size_t whylen);
void policy_clear(struct policy *pol);
int policy_capture_start(struct policy *pol, const char *file,
			 const char *filter, uint64_t count, char *why,
			 size_t whylen);
void policy_capture_stop(struct policy *pol);
void policy_update_active(struct policy *pol);
bool policy_ingress(struct policy *pol, struct packet *p, uint64_t now,
		    enum port_drop *why);
bool policy_egress(struct policy *pol, struct packet *p, uint64_t now,
		   enum port_drop *why);
void policy_egress_finish(struct policy *pol, struct packet *p);
void policy_capture(struct policy *pol, const struct packet *p);
bool policy_vlan_member(const struct policy *pol, uint16_t vlan);
int policy_compile(const char *expr, struct bpf_program **out, char *why,
		   size_t whylen);
void policy_free_filter(struct bpf_program **prog);

#endif /* VMSW_POLICY_H */
