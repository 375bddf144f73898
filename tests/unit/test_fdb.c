/* SPDX-License-Identifier: MIT */
/* test_fdb.c - MAC table: learn, move, age, flush, many entries */
#include "switch/fdb.h"
#include "unit.h"

static void mac_of(uint32_t n, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0;
	mac[2] = (uint8_t)(n >> 24);
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

TEST(learn_lookup_move)
{
	struct fdb t;
	uint8_t a[6], b[6];

	fdb_init(&t, 16, 300);
	mac_of(1, a);
	mac_of(2, b);
	CHECK_EQ(fdb_lookup(&t, a, 0), FDB_NO_PORT);
	fdb_learn(&t, a, 0, 3, 10);
	CHECK_EQ(fdb_lookup(&t, a, 0), 3);
	CHECK_EQ(fdb_lookup(&t, b, 0), FDB_NO_PORT);
	CHECK_EQ(fdb_lookup(&t, a, 7), FDB_NO_PORT);	/* per VLAN */
	fdb_learn(&t, a, 0, 5, 11);
	CHECK_EQ(fdb_lookup(&t, a, 0), 5);
	CHECK_EQ(t.stats.moved, 1);
	CHECK_EQ(t.count, 1);
	fdb_destroy(&t);
}

TEST(aging_forgets_silent_macs)
{
	struct fdb t;
	uint8_t a[6], b[6];

	fdb_init(&t, 16, 300);
	mac_of(1, a);
	mac_of(2, b);
	fdb_learn(&t, a, 0, 1, 0);
	fdb_learn(&t, b, 0, 2, 200);
	CHECK_EQ(fdb_age(&t, 299, t.mask + 1), 0);
	CHECK_EQ(fdb_age(&t, 300, t.mask + 1), 1);
	CHECK_EQ(fdb_lookup(&t, a, 0), FDB_NO_PORT);
	CHECK_EQ(fdb_lookup(&t, b, 0), 2);
	fdb_learn(&t, b, 0, 2, 450);	/* refreshed: survives */
	CHECK_EQ(fdb_age(&t, 600, t.mask + 1), 0);
	CHECK_EQ(fdb_age(&t, 750, t.mask + 1), 1);
	CHECK_EQ(t.count, 0);
	fdb_destroy(&t);
}

TEST(many_entries_and_deletion_keep_lookups_right)
{
	struct fdb t;
	uint8_t m[6];
	uint32_t i;
	int bad = 0;

	fdb_init(&t, 100000, 300);
	for (i = 0; i < 100000; i++) {
		mac_of(i, m);
		fdb_learn(&t, m, 0, (uint16_t)(i % 64), i % 2 ? 0 : 200);
	}
	CHECK_EQ(t.count, 100000);
	/* Age out the odd half; the even half must all still be found. */
	fdb_age(&t, 350, t.mask + 1);
	CHECK_EQ(t.count, 50000);
	for (i = 0; i < 100000; i++) {
		mac_of(i, m);
		if (fdb_lookup(&t, m, 0) != (i % 2 ? FDB_NO_PORT : i % 64))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(fdb_flush_port(&t, 2), (100000 - 2 + 63) / 64);
	mac_of(2, m);
	CHECK_EQ(fdb_lookup(&t, m, 0), FDB_NO_PORT);
	mac_of(4, m);
	CHECK_EQ(fdb_lookup(&t, m, 0), 4);
	fdb_destroy(&t);
}

TEST(limit_refuses_new_macs)
{
	struct fdb t;
	uint8_t m[6];
	uint32_t i;

	fdb_init(&t, 10, 300);
	for (i = 0; i < 20; i++) {
		mac_of(i, m);
		fdb_learn(&t, m, 0, 1, 0);
	}
	CHECK_EQ(t.count, 10);
	CHECK_EQ(t.stats.full, 10);
	fdb_destroy(&t);
}

UNIT_MAIN(T(learn_lookup_move), T(aging_forgets_silent_macs),
	  T(many_entries_and_deletion_keep_lookups_right),
	  T(limit_refuses_new_macs))
