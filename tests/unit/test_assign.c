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

TEST(busiest_thread_load)
{
	struct assign_item it[3] = {
		{ .load = 30, .thread = 0 }, { .load = 50, .thread = 1 },
		{ .load = 40, .thread = 0 },
	};

	CHECK_EQ(assign_busiest(it, 3, 2), 70);
	CHECK_EQ(assign_busiest(it, 3, 1), 70);	/* thread 1 is not there */
}

TEST(two_busy_queues_on_one_thread_even_out)
{
	/* Both busy queues on thread 0, the idle pinned ones on thread 1. */
	struct assign_item it[4] = {
		{ .load = 100, .pin = ASSIGN_NONE, .thread = 0 },
		{ .load = 90, .pin = ASSIGN_NONE, .thread = 0 },
		{ .load = 0, .pin = 1, .thread = 1 }, { .load = 0, .pin = 1, .thread = 1 },
	};

	CHECK(assign_would_even_out(it, 4, 2, 25));	/* 190 -> 100 */
	CHECK(!assign_would_even_out(it, 4, 2, 50));	/* 47% only */
	CHECK_EQ(it[1].thread, 0);			/* unchanged */
}

TEST(nothing_gained_nothing_moves)
{
	/* Balanced already, or one queue that cannot be split, or idle. */
	struct assign_item even[2] = {
		{ .load = 100, .pin = ASSIGN_NONE, .thread = 0 },
		{ .load = 90, .pin = ASSIGN_NONE, .thread = 1 },
	};
	struct assign_item one[2] = {
		{ .load = 100, .pin = ASSIGN_NONE, .thread = 0 },
		{ .load = 0, .pin = ASSIGN_NONE, .thread = 1 },
	};
	struct assign_item idle[2] = {
		{ .pin = ASSIGN_NONE, .thread = 0 }, { .pin = ASSIGN_NONE, .thread = 0 },
	};
	struct assign_item pinned[2] = {
		{ .load = 100, .pin = 0, .thread = 0 }, { .load = 90, .pin = 0, .thread = 0 },
	};

	CHECK(!assign_would_even_out(even, 2, 2, 25));
	CHECK(!assign_would_even_out(one, 2, 2, 25));
	CHECK(!assign_would_even_out(idle, 2, 2, 25));
	CHECK(!assign_would_even_out(pinned, 2, 2, 25));
}

UNIT_MAIN(T(largest_first_onto_least_loaded), T(new_queues_spread_by_count),
	  T(pins_hold_and_count_as_load), T(pin_beyond_the_threads_is_ignored),
	  T(busiest_thread_load), T(two_busy_queues_on_one_thread_even_out),
	  T(nothing_gained_nothing_moves))
