/* SPDX-License-Identifier: MIT */
/* policy.c - per-port VLANs, anti-spoofing, filters, policing, MTU, capture */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/cycles.h"
#include "core/util.h"
#include "policy/policy.h"

#define ETH_P_8021Q_HI	0x81
#define ETH_P_8021Q_LO	0x00
#define VLAN_HLEN	4

/**
 * policy_compile() - compile a pcap-filter expression for Ethernet frames
 * @expr:	e.g. "not icmp"
 * @out:	the program, freed with policy_free_filter()
 * @why:	libpcap's message on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -EINVAL
 */
int policy_compile(const char *expr, struct bpf_program **out, char *why,
		   size_t whylen)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, PACKET_LARGE_MAX);
	struct bpf_program *prog = calloc(1, sizeof(*prog));
	int rc = 0;

	if (!dead || !prog) {
		snprintf(why, whylen, "out of memory");
		rc = -ENOMEM;
	} else if (pcap_compile(dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(why, whylen, "filter '%s': %s", expr, pcap_geterr(dead));
		rc = -EINVAL;
	}
	if (dead)
		pcap_close(dead);
	if (rc) {
		free(prog);
		prog = NULL;
	}
	*out = prog;
	return rc;
}

void policy_free_filter(struct bpf_program **prog)
{
	if (!*prog)
		return;
	pcap_freecode(*prog);
	free(*prog);
	*prog = NULL;
}

static bool filter_pass(const struct bpf_program *prog, const struct packet *p)
{
	return bpf_filter(prog->bf_insns, p->data, p->len, p->len) != 0;
}

static void bucket_set(struct token_bucket *tb, uint64_t rate_bps,
		       uint64_t burst)
{
	tb->rate = rate_bps / 8;
	/* Default burst: 10 ms worth, at least two jumbo frames. */
	tb->burst = burst ? burst : MAX(tb->rate / 100, 2ull * PACKET_DATA_MAX);
	tb->tokens = tb->burst;
	tb->last = cycles_now();
}

/* Take @len bytes from the bucket; false when it is empty (drop). */
static bool bucket_take(struct token_bucket *tb, uint32_t len, uint64_t now)
{
	unsigned __int128 add;

	add = (unsigned __int128)(now - tb->last) * tb->rate / cycles_per_second();
	if (add) {
		tb->tokens = MIN(tb->burst, tb->tokens + (uint64_t)MIN(add, tb->burst));
		tb->last = now;
	}
	if (tb->tokens < len)
		return false;
	tb->tokens -= len;
	return true;
}

/** policy_update_active() - recompute the fast-path flags after a change */
void policy_update_active(struct policy *pol)
{
	const struct port_options *o = &pol->opt;

	pol->active_in = o->mtu || o->vlan_mode != VLAN_NONE || o->nmacs ||
			 pol->ingress || pol->rx_police.rate || pol->mirror ||
			 pol->capture.file;
	pol->active_out = o->mtu || o->vlan_mode != VLAN_NONE || pol->egress ||
			  pol->tx_police.rate || pol->mirror || pol->capture.file;
}

/**
 * policy_set() - apply @opt: compile filters, reset buckets
 * @pol:	policy of one port; unchanged on failure
 * @opt:	new options (the mirror port is resolved by the caller)
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno
 */
int policy_set(struct policy *pol, const struct port_options *opt, char *why,
	       size_t whylen)
{
	struct bpf_program *in = NULL, *out = NULL;

	if (*opt->ingress_filter &&
	    policy_compile(opt->ingress_filter, &in, why, whylen))
		return -EINVAL;
	if (*opt->egress_filter &&
	    policy_compile(opt->egress_filter, &out, why, whylen)) {
		policy_free_filter(&in);
		return -EINVAL;
	}
	policy_free_filter(&pol->ingress);
	policy_free_filter(&pol->egress);
	pol->ingress = in;
	pol->egress = out;
	pol->opt = *opt;
	bucket_set(&pol->rx_police, opt->rx_rate, opt->rx_burst);
	bucket_set(&pol->tx_police, opt->tx_rate, opt->tx_burst);
	policy_update_active(pol);
	return 0;
}

/** policy_clear() - free everything @pol holds */
void policy_clear(struct policy *pol)
{
	policy_capture_stop(pol);
	policy_free_filter(&pol->ingress);
	policy_free_filter(&pol->egress);
	memset(pol, 0, sizeof(*pol));
}

/** policy_vlan_member() - may frames of @vlan leave through this port? */
bool policy_vlan_member(const struct policy *pol, uint16_t vlan)
{
	switch (pol->opt.vlan_mode) {
	case VLAN_ACCESS:
		return vlan == pol->opt.access_vlan;
	case VLAN_TRUNK:
		return vlan && vlan_in_trunk(&pol->opt, vlan);
	default:
		return vlan == 0;
	}
}

static bool is_tagged(const struct packet *p)
{
	return p->len >= ETH_HLEN_MIN + VLAN_HLEN && p->data[12] == ETH_P_8021Q_HI &&
	       p->data[13] == ETH_P_8021Q_LO;
}

static void strip_tag(struct packet *p)
{
	memmove(p->data + VLAN_HLEN, p->data, 12);
	p->data += VLAN_HLEN;
	p->len -= VLAN_HLEN;
	if (pkt_offloaded(p))
		pkt_offload_move(&p->ofl, -VLAN_HLEN);
}

static void push_tag(struct packet *p, uint16_t vlan)
{
	p->data -= VLAN_HLEN;
	memmove(p->data, p->data + VLAN_HLEN, 12);
	p->data[12] = ETH_P_8021Q_HI;
	p->data[13] = ETH_P_8021Q_LO;
	p->data[14] = (uint8_t)(vlan >> 8) & 0x0f;
	p->data[15] = (uint8_t)vlan;
	p->len += VLAN_HLEN;
	if (pkt_offloaded(p))
		pkt_offload_move(&p->ofl, VLAN_HLEN);
}

/* Set p->vlan from the port's mode and the frame's tag; false: not allowed. */
static bool vlan_in(const struct port_options *o, struct packet *p)
{
	uint16_t vid;

	switch (o->vlan_mode) {
	case VLAN_ACCESS:
		if (is_tagged(p))
			return false;
		p->vlan = o->access_vlan;
		return true;
	case VLAN_TRUNK:
		if (!is_tagged(p))
			return false;
		vid = (uint16_t)((p->data[14] & 0x0f) << 8 | p->data[15]);
		if (!vid || !vlan_in_trunk(o, vid))
			return false;
		strip_tag(p);
		p->vlan = vid;
		return true;
	default:
		p->vlan = 0;
		return true;
	}
}

static bool mac_allowed(const struct port_options *o, const uint8_t *smac)
{
	unsigned int i;

	for (i = 0; i < o->nmacs; i++)
		if (!memcmp(o->macs[i], smac, 6))
			return true;
	return false;
}

/* A GSO frame is judged by the frames it will be cut into. */
static bool over_mtu(const struct port_options *o, const struct packet *p)
{
	uint32_t len = p->len;

	if (unlikely(p->ofl.gso_type != PKT_GSO_NONE))
		len = MIN(len, pkt_offload_hlen(&p->ofl) + p->ofl.gso_size);
	return o->mtu && len > (uint32_t)o->mtu + ETH_HLEN_MIN +
				 (is_tagged(p) ? VLAN_HLEN : 0);
}

/**
 * policy_ingress() - everything a port's policy does to a frame it received
 * @pol:	the ingress port's policy
 * @p:		the frame as it arrived; untagged and with p->vlan on return
 * @now:	TSC at the start of the pass (the policer's clock)
 * @why:	set to the reason when the frame is refused
 *
 * Return: true to switch it; false to drop it (the caller counts and frees)
 */
bool policy_ingress(struct policy *pol, struct packet *p, uint64_t now,
		    enum port_drop *why)
{
	const struct port_options *o = &pol->opt;

	packet_linearize(p);	/* filters and captures see the whole frame */
	if (pol->capture.file)
		policy_capture(pol, p);
	if (over_mtu(o, p))
		*why = DROP_TOO_BIG;
	else if (!vlan_in(o, p))
		*why = DROP_VLAN;
	else if (o->nmacs && !mac_allowed(o, p->data + 6))
		*why = DROP_SPOOFED;
	else if (pol->ingress && !filter_pass(pol->ingress, p))
		*why = DROP_FILTERED;
	else if (pol->rx_police.rate && !bucket_take(&pol->rx_police, p->len, now))
		*why = DROP_POLICED;
	else
		return true;
	return false;
}

/**
 * policy_egress() - the checks a port's policy makes before sending a frame
 * @pol:	the egress port's policy
 * @p:		untagged frame of VLAN p->vlan, owned by the caller
 * @now:	TSC at the start of the pass
 * @why:	set to the reason when the frame is refused
 *
 * A frame that passes is mirrored untagged by the caller, then handed to
 * policy_egress_finish().
 *
 * Return: true to send it; false to drop it (the caller counts and frees)
 */
bool policy_egress(struct policy *pol, struct packet *p, uint64_t now,
		   enum port_drop *why)
{
	const struct port_options *o = &pol->opt;

	packet_linearize(p);
	if (!policy_vlan_member(pol, p->vlan))
		*why = DROP_VLAN;
	else if (over_mtu(o, p))
		*why = DROP_TOO_BIG;
	else if (pol->egress && !filter_pass(pol->egress, p))
		*why = DROP_FILTERED;
	else if (pol->tx_police.rate && !bucket_take(&pol->tx_police, p->len, now))
		*why = DROP_POLICED;
	else
		return true;
	return false;
}

/** policy_egress_finish() - tag @p for a trunk port and capture it as sent */
void policy_egress_finish(struct policy *pol, struct packet *p)
{
	if (pol->opt.vlan_mode == VLAN_TRUNK)
		push_tag(p, p->vlan);
	if (pol->capture.file)
		policy_capture(pol, p);
}
