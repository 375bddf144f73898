/* SPDX-License-Identifier: MIT */
/*
 * fuzz_evpn_neigh.c - libFuzzer target for rtnetlink neighbour messages as
 * EVPN reads them from its netlink socket
 *
 * The input is what one recv() returned: netlink messages back to back.
 * Each is read by nl_neigh_parse(), and the whole buffer goes through
 * evpn_input() into an EVPN VNI on an EVPN VXLAN port that was never
 * started (its shadow devices' ifindexes are 7 and 8, made up; nothing
 * touches the kernel). Checked on every input:
 *   - nl_neigh_parse() returns 0, -ENOENT or -EINVAL, and what it accepts
 *     has a plausible ifindex and an IPv4, IPv6 or no address;
 *   - the port's table stays consistent: each VTEP's MAC count is the
 *     number of MACs pointing at it, the flood list names distinct VTEPs
 *     marked flood, and no slot is in use without a reason;
 *   - the port is freed without a leak (LeakSanitizer).
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "evpn/evpn.h"
#include "evpn/nl_neigh.h"
#include "fuzz_log.h"
#include "ports/port_vxlan.h"

#define INPUT_MAX	65536

static void bug(const char *what)
{
	dprintf(2, "BUG: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_log_setup();
	return 0;
}

static void check_parse(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;
	struct nl_neigh n;

	for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		int rc = nl_neigh_parse(nlh, &n);

		if (rc && rc != -ENOENT && rc != -EINVAL)
			bug("nl_neigh_parse: another error");
		if (!rc && (!n.ifindex || n.ifindex > 0x7fffffffu))
			bug("nl_neigh_parse: accepted a bad ifindex");
		if (!rc && n.dst.sa.sa_family != AF_UNSPEC &&
		    n.dst.sa.sa_family != AF_INET && n.dst.sa.sa_family != AF_INET6)
			bug("nl_neigh_parse: a dst of another family");
	}
}

static uint32_t macs_at[VX_VTEP_MAX];	/* MACs pointing at each VTEP */

static void count_at(const uint8_t *mac, uint16_t val, void *arg)
{
	(void)mac, (void)arg;
	if (val >= VX_VTEP_MAX)
		bug("a MAC points past the VTEP table");
	macs_at[val]++;
}

static void check_table(const struct vx_remotes *r)
{
	unsigned int i, k, on_list;

	memset(macs_at, 0, sizeof(macs_at));
	macmap_walk(&r->macs, count_at, NULL);
	for (i = 0; i < VX_VTEP_MAX; i++) {
		const struct vx_vtep *t = &r->vtep[i];

		if (macs_at[i] != t->macs)
			bug("a VTEP's MAC count is wrong");
		for (k = 0, on_list = 0; k < r->nflood; k++)
			on_list += r->flood[k] == i;
		if (on_list != (t->flood ? 1u : 0u))
			bug("the flood list and the VTEP's flag disagree");
		if (t->addr.sa.sa_family == AF_UNSPEC && (t->macs || t->flood))
			bug("a free VTEP slot in use");
		if (t->addr.sa.sa_family != AF_UNSPEC && !t->macs && !t->flood)
			bug("a VTEP slot kept for nothing");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[INPUT_MAX] __attribute__((aligned(8)));
	static struct evpn e;
	static struct evpn_vni v;
	struct port *port;
	char why[200];

	if (size > INPUT_MAX)
		return 0;
	memcpy(buf, data, size);	/* netlink messages are 4-byte aligned */
	check_parse(buf, size);
	if (port_create("ev=vxlan:vni=100,local=192.0.2.1,evpn", &port, why, sizeof(why)))
		bug(why);
	memset(&e, 0, sizeof(e));
	memset(&v, 0, sizeof(v));
	v.port = port;
	v.vni = 100;
	v.dev.vx_ifindex = 7;
	v.dev.adv_ifindex = 8;
	e.vni[0] = &v;
	e.nvni = 1;
	evpn_input(&e, buf, size);
	check_table(port_vxlan_evpn(port));
	port_destroy(port);
	return 0;
}
