/* SPDX-License-Identifier: MIT */
/* test_assign.c - receive queues onto datapath threads by load, pins first */
#include "switch/assign.h"
#include "unit.h"

TEST(largest_first_onto_least_loaded)
{
	struct assign_item it[4] = {
		{ .load = 10, .pin = ASSIGN_NONE }, { .load = 100, .pin = ASSIGN_NONE },
		{ .load = 60, .pin = ASSIGN_NONE }, { .load = 50, .pin = ASSIGN_NONE },
	};

	assign_threads(it, 4, 2);
	/* 100 -> 0; 60 -> 1; 50 -> 1 (60 < 100); 10 -> 0 (100 < 110) */
	CHECK_EQ(it[1].thread, 0);
	CHECK_EQ(it[2].thread, 1);
	CHECK_EQ(it[3].thread, 1);
	CHECK_EQ(it[0].thread, 0);
}

TEST(new_queues_spread_by_count)
{
	struct assign_item it[4] = {
		{ .pin = ASSIGN_NONE }, { .pin = ASSIGN_NONE },
		{ .pin = ASSIGN_NONE }, { .pin = ASSIGN_NONE },
	};
	unsigned int on0 = 0, i;

	assign_threads(it, 4, 2);
	for (i = 0; i < 4; i++)
		on0 += it[i].thread == 0;
	CHECK_EQ(on0, 2);
}

TEST(pins_hold_and_count_as_load)
{
	struct assign_item it[3] = {
		{ .load = 5, .pin = 1 }, { .load = 100, .pin = 1 },
		{ .load = 50, .pin = ASSIGN_NONE },
	};

	assign_threads(it, 3, 2);
	CHECK_EQ(it[0].thread, 1);
	CHECK_EQ(it[1].thread, 1);
	CHECK_EQ(it[2].thread, 0);	/* thread 1 carries 105 already */
}

TEST(pin_beyond_the_threads_is_ignored)
{
	struct assign_item it[1] = { { .load = 1, .pin = 7 } };

	assign_threads(it, 1, 2);
	CHECK(it[0].thread == 0 || it[0].thread == 1);
}

UNIT_MAIN(T(largest_first_onto_least_loaded), T(new_queues_spread_by_count),
	  T(pins_hold_and_count_as_load), T(pin_beyond_the_threads_is_ignored))
