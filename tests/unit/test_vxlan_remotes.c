/* SPDX-License-Identifier: MIT */
/*
 * test_vxlan_remotes.c - the EVPN VXLAN port's table: the MAC map under it
 * (set, get, delete with chains shifting back), remote MACs and VTEPs, the
 * flood list, and where each kind of frame goes (the replication decision).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/macmap.h"
#include "ports/vxlan_remotes.h"
#include "testaddr.h"
#include "unit.h"

TEST(macmap_set_get_del)
{
	struct macmap m;
	uint8_t a[6], b[6];
	uint16_t v = 0;

	CHECK_EQ(macmap_init(&m, 8), 0);
	mac_of(1, a);
	mac_of(2, b);
	CHECK(!macmap_get(&m, a, &v));
	CHECK_EQ(macmap_set(&m, a, 7), 0);
	CHECK(macmap_get(&m, a, &v) && v == 7);
	CHECK_EQ(macmap_set(&m, a, 9), 0);	/* update, not a second entry */
	CHECK(macmap_get(&m, a, &v) && v == 9);
	CHECK_EQ(m.count, 1);
	CHECK_EQ(macmap_del(&m, b), -ENOENT);
	CHECK_EQ(macmap_del(&m, a), 0);
	CHECK(!macmap_get(&m, a, NULL));
	CHECK_EQ(m.count, 0);
	macmap_destroy(&m);
}

/* Fill to the limit, delete every other entry, and find all the rest. */
TEST(macmap_churn_keeps_chains)
{
	struct macmap m;
	uint8_t mac[6];
	uint32_t i, limit;
	uint16_t v;
	int bad = 0;

	CHECK_EQ(macmap_init(&m, 1000), 0);
	limit = (m.mask + 1) / 2;
	for (i = 0; i < limit; i++) {
		mac_of(i, mac);
		CHECK_EQ(macmap_set(&m, mac, (uint16_t)i), 0);
	}
	mac_of(limit, mac);
	CHECK_EQ(macmap_set(&m, mac, 0), -ENOSPC);
	for (i = 0; i < limit; i += 2) {
		mac_of(i, mac);
		CHECK_EQ(macmap_del(&m, mac), 0);
	}
	for (i = 0; i < limit; i++) {
		mac_of(i, mac);
		if (macmap_get(&m, mac, &v) != (i & 1) || ((i & 1) && v != (uint16_t)i))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(m.count, limit / 2);
	macmap_destroy(&m);
}

TEST(remote_macs_and_vteps)
{
	static struct vx_remotes r;
	union vx_addr h1 = v4("192.0.2.1"), h2 = v4("192.0.2.2"), h3 = v4("192.0.2.3");
	const union vx_addr *to[VX_VTEP_MAX];
	uint8_t a[6], b[6];

	CHECK_EQ(vx_remotes_init(&r), 0);
	mac_of(1, a);
	mac_of(2, b);
	CHECK_EQ(vx_remotes_mac_set(&r, a, &h1), 0);
	CHECK_EQ(vx_remotes_mac_set(&r, b, &h1), 0);
	CHECK(vx_remotes_known(&r, &h1));
	CHECK(!vx_remotes_known(&r, &h2));
	CHECK_EQ(vx_remotes_targets(&r, a, to), 1);
	CHECK(vx_addr_equal(to[0], &h1));
	/* A MAC that moves goes to its new VTEP; the old one stays for b. */
	CHECK_EQ(vx_remotes_mac_set(&r, a, &h2), 0);
	CHECK_EQ(vx_remotes_targets(&r, a, to), 1);
	CHECK(vx_addr_equal(to[0], &h2));
	CHECK(vx_remotes_known(&r, &h1));
	CHECK_EQ(vx_remotes_mac_del(&r, b), 0);
	CHECK(!vx_remotes_known(&r, &h1));	/* nothing refers to it now */
	CHECK_EQ(vx_remotes_mac_del(&r, b), -ENOENT);
	CHECK_EQ(vx_remotes_flood_del(&r, &h3), -ENOENT);
	vx_remotes_destroy(&r);
}

TEST(replication_decision)
{
	static struct vx_remotes r;
	union vx_addr h1 = v4("192.0.2.1"), h2 = v4("192.0.2.2"), h3 = v4("192.0.2.3");
	const union vx_addr *to[VX_VTEP_MAX];
	const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t mcast[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	uint8_t known[6], unknown[6];

	CHECK_EQ(vx_remotes_init(&r), 0);
	mac_of(1, known);
	mac_of(99, unknown);
	CHECK_EQ(vx_remotes_targets(&r, bcast, to), 0);	/* no flood list yet */
	CHECK_EQ(vx_remotes_flood_add(&r, &h1), 0);
	CHECK_EQ(vx_remotes_flood_add(&r, &h2), 0);
	CHECK_EQ(vx_remotes_flood_add(&r, &h2), 0);	/* twice is once */
	CHECK_EQ(vx_remotes_mac_set(&r, known, &h3), 0);
	CHECK_EQ(vx_remotes_targets(&r, known, to), 1);
	CHECK(vx_addr_equal(to[0], &h3));
	CHECK_EQ(vx_remotes_targets(&r, unknown, to), 2);
	CHECK_EQ(vx_remotes_targets(&r, mcast, to), 2);
	CHECK_EQ(vx_remotes_targets(&r, bcast, to), 2);
	CHECK((vx_addr_equal(to[0], &h1) && vx_addr_equal(to[1], &h2)) ||
	      (vx_addr_equal(to[0], &h2) && vx_addr_equal(to[1], &h1)));
	CHECK(vx_remotes_known(&r, &h3));	/* takes datagrams from h3 too */
	CHECK_EQ(vx_remotes_flood_del(&r, &h1), 0);
	CHECK_EQ(vx_remotes_targets(&r, bcast, to), 1);
	CHECK(vx_addr_equal(to[0], &h2));
	CHECK(!vx_remotes_known(&r, &h1));
	vx_remotes_destroy(&r);
}

TEST(vtep_table_full)
{
	static struct vx_remotes r;
	union vx_addr a = v4("10.0.0.0");
	unsigned int i;
	int rc = 0;

	CHECK_EQ(vx_remotes_init(&r), 0);
	for (i = 0; i < VX_VTEP_MAX && !rc; i++) {
		a.v4.sin_addr.s_addr = htonl(0x0a000000u + i);
		rc = vx_remotes_flood_add(&r, &a);
	}
	CHECK_EQ(rc, 0);
	a.v4.sin_addr.s_addr = htonl(0x0b000000u);
	CHECK_EQ(vx_remotes_flood_add(&r, &a), -ENOSPC);
	a.sa.sa_family = AF_UNSPEC;
	CHECK_EQ(vx_remotes_flood_add(&r, &a), -EAFNOSUPPORT);
	vx_remotes_destroy(&r);
}

UNIT_MAIN(T(macmap_set_get_del), T(macmap_churn_keeps_chains),
	  T(remote_macs_and_vteps), T(replication_decision), T(vtep_table_full))
