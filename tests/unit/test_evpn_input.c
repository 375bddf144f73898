/* SPDX-License-Identifier: MIT */
/*
 * test_evpn_input.c - neighbour messages as zebra's would arrive, into an
 * EVPN VNI (no kernel devices: the VNI's ifindexes are made up): remote
 * MACs and flood-list members come and go; other devices, other kinds of
 * entry and malformed messages are ignored and counted.
 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "evpn/evpn.h"
#include "evpn/nl_neigh.h"
#include "ports/port_vxlan.h"
#include "testaddr.h"
#include "unit.h"

#define VX_IFINDEX	7
#define ADV_IFINDEX	8

static char buf[8192] __attribute__((aligned(4)));

/* One message: @type on @ifindex, @mac (NULL: none), @dst (NULL: none). */
static struct nlmsghdr *neigh(uint16_t type, int ifindex, const char *mac,
			      const char *dst, uint8_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	uint8_t m[6];
	struct in_addr a;

	nlh->nlmsg_type = type;
	nd->ndm_family = AF_BRIDGE;
	nd->ndm_ifindex = ifindex;
	nd->ndm_flags = flags;
	if (mac) {
		sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2],
		       &m[3], &m[4], &m[5]);
		mnl_attr_put(nlh, NDA_LLADDR, 6, m);
	}
	if (dst) {
		inet_pton(AF_INET, dst, &a);
		mnl_attr_put(nlh, NDA_DST, 4, &a);
	}
	return nlh;
}

static void feed(struct evpn *e, const struct nlmsghdr *nlh)
{
	evpn_input(e, nlh, nlh->nlmsg_len);
}

struct fixture {
	struct evpn e;
	struct evpn_vni v;
	struct port *port;
	struct vx_remotes *r;
};

static int setup(struct fixture *f)
{
	char why[200];

	memset(f, 0, sizeof(*f));
	if (port_create("ev=vxlan:vni=100,local=192.0.2.1,evpn", &f->port, why,
			sizeof(why)))
		return -1;
	f->v.port = f->port;
	f->v.vni = 100;
	f->v.dev.vx_ifindex = VX_IFINDEX;
	f->v.dev.adv_ifindex = ADV_IFINDEX;
	f->e.vni[0] = &f->v;
	f->e.nvni = 1;
	f->r = port_vxlan_evpn(f->port);
	return 0;
}

TEST(remote_macs_and_flood_list_follow_zebra)
{
	static struct fixture f;
	union vx_addr h2 = v4("192.0.2.2"), h3 = v4("192.0.2.3");
	const union vx_addr *to[VX_VTEP_MAX];
	const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 2 };

	CHECK_EQ(setup(&f), 0);
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", "192.0.2.2",
			 NTF_SELF | NTF_EXT_LEARNED));
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "00:00:00:00:00:00", "192.0.2.2", NTF_SELF));
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "00:00:00:00:00:00", "192.0.2.3", NTF_SELF));
	CHECK_EQ(vx_remotes_targets(f.r, mac, to), 1);
	CHECK(vx_addr_equal(to[0], &h2));
	CHECK_EQ(f.r->nflood, 2);
	CHECK_EQ(f.e.stats.remote_added, 1);
	CHECK_EQ(f.e.stats.flood_added, 2);
	/* It moves to h3; then h2 leaves the flood list; then the MAC goes. */
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", "192.0.2.3",
			 NTF_SELF | NTF_EXT_LEARNED));
	CHECK_EQ(vx_remotes_targets(f.r, mac, to), 1);
	CHECK(vx_addr_equal(to[0], &h3));
	feed(&f.e, neigh(RTM_DELNEIGH, VX_IFINDEX, "00:00:00:00:00:00", "192.0.2.2", NTF_SELF));
	CHECK(!vx_remotes_known(f.r, &h2));
	feed(&f.e, neigh(RTM_DELNEIGH, VX_IFINDEX, "52:54:00:00:00:02", "192.0.2.3",
			 NTF_SELF | NTF_EXT_LEARNED));
	CHECK_EQ(f.r->macs.count, 0);
	CHECK_EQ(f.r->nflood, 1);
	CHECK_EQ(f.e.stats.remote_removed, 1);
	CHECK_EQ(f.e.stats.flood_removed, 1);
	CHECK_EQ(f.e.stats.malformed + f.e.stats.other_devices, 0);
	port_destroy(f.port);
}

TEST(other_entries_are_ignored_and_counted)
{
	static struct fixture f;

	CHECK_EQ(setup(&f), 0);
	/* Another device; our advertise device (our own entries echoed). */
	feed(&f.e, neigh(RTM_NEWNEIGH, 99, "52:54:00:00:00:02", "192.0.2.2", NTF_EXT_LEARNED));
	feed(&f.e, neigh(RTM_NEWNEIGH, ADV_IFINDEX, "52:54:00:00:00:03", NULL, NTF_MASTER));
	CHECK_EQ(f.e.stats.other_devices, 1);
	/* On vmsw-vx: no dst; not extern_learn; a multicast MAC. */
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", NULL, NTF_SELF));
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", "192.0.2.2", NTF_SELF));
	feed(&f.e, neigh(RTM_NEWNEIGH, VX_IFINDEX, "01:00:5e:00:00:01", "192.0.2.2",
			 NTF_EXT_LEARNED));
	CHECK_EQ(f.e.stats.skipped, 3);
	CHECK_EQ(f.r->macs.count, 0);
	CHECK_EQ(f.r->nflood, 0);
	port_destroy(f.port);
}

TEST(malformed_messages_are_counted)
{
	static struct fixture f;
	struct nlmsghdr *nlh;
	struct nlattr *a;

	CHECK_EQ(setup(&f), 0);
	/* A 5-byte MAC. */
	nlh = neigh(RTM_NEWNEIGH, VX_IFINDEX, NULL, "192.0.2.2", NTF_EXT_LEARNED);
	mnl_attr_put(nlh, NDA_LLADDR, 5, "abcde");
	feed(&f.e, nlh);
	/* A 3-byte address. */
	nlh = neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", NULL, NTF_EXT_LEARNED);
	mnl_attr_put(nlh, NDA_DST, 3, "abc");
	feed(&f.e, nlh);
	/* An attribute longer than the message. */
	nlh = neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", "192.0.2.2",
		    NTF_EXT_LEARNED);
	a = (struct nlattr *)((char *)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg)));
	a->nla_len = 200;
	feed(&f.e, nlh);
	/* No ndmsg at all; a negative ifindex. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	feed(&f.e, nlh);
	feed(&f.e, neigh(RTM_NEWNEIGH, -3, "52:54:00:00:00:02", "192.0.2.2", NTF_EXT_LEARNED));
	CHECK_EQ(f.e.stats.malformed, 5);
	/* A message cut short: its header says more than was received. */
	nlh = neigh(RTM_NEWNEIGH, VX_IFINDEX, "52:54:00:00:00:02", "192.0.2.2", NTF_EXT_LEARNED);
	evpn_input(&f.e, nlh, nlh->nlmsg_len - 4);
	CHECK_EQ(f.e.stats.malformed, 6);
	CHECK_EQ(f.r->macs.count, 0);
	port_destroy(f.port);
}

UNIT_MAIN(T(remote_macs_and_flood_list_follow_zebra),
	  T(other_entries_are_ignored_and_counted), T(malformed_messages_are_counted))
