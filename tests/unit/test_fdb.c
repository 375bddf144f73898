/* SPDX-License-Identifier: MIT */
/*
 * test_fdb.c - MAC table: learn, move, age, flush, many entries, chains into
 * the spare tail, and threads learning and looking up while another ages.
 *
 * vmsw-tsan: the ThreadSanitizer pass (make check TSAN=1) runs this file.
 */
#include <pthread.h>
#include <time.h>

#include "switch/fdb.h"
#include "testaddr.h"
#include "unit.h"

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
	CHECK_EQ(fdb_check(&t), 0);
	fdb_destroy(&t);
}

/* The home bucket fdb.c picks for @mac on VLAN 0 (its Fibonacci hash). */
static uint32_t home_of(const struct fdb *t, const uint8_t *mac)
{
	uint64_t h = fdb_key(mac, 0) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32) & t->bmask;
}

/*
 * MACs that all want the last home bucket: the first FDB_WAYS stay there,
 * the next ones overflow into the spare tail, and once that is full too
 * learning refuses. Deleting from the home bucket keeps the tail findable.
 */
TEST(overflow_fills_the_tail_then_refuses)
{
	uint32_t fit = FDB_WAYS * (1 + FDB_TAIL), n, i, found = 0;
	uint32_t mac_n[FDB_WAYS * (1 + FDB_TAIL) + 8];
	struct fdb t;
	uint8_t m[6];

	fdb_init(&t, 1000, 300);
	for (n = 0, i = 0; i < fit + 8; n++) {
		mac_of(n, m);
		if (home_of(&t, m) == t.bmask)
			mac_n[i++] = n;
	}
	for (i = 0; i < fit + 8; i++) {
		mac_of(mac_n[i], m);
		fdb_learn(&t, m, 0, (uint16_t)(i < FDB_WAYS ? 1 : 2), 0);
	}
	CHECK_EQ(t.count, fit);
	CHECK_EQ(t.stats.full, 8);
	CHECK_EQ(t.bucket[t.bmask].overflow, fit - FDB_WAYS);
	CHECK_EQ(fdb_check(&t), 0);
	CHECK_EQ(fdb_flush_port(&t, 1), FDB_WAYS);	/* the home bucket's */
	CHECK_EQ(t.bucket[t.bmask].overflow, fit - FDB_WAYS);
	for (i = FDB_WAYS; i < fit; i++) {
		mac_of(mac_n[i], m);
		found += fdb_lookup(&t, m, 0) == 2;
	}
	CHECK_EQ(found, fit - FDB_WAYS);
	mac_of(mac_n[fit], m);		/* refused before, now home has room */
	fdb_learn(&t, m, 0, 3, 0);
	CHECK_EQ(fdb_lookup(&t, m, 0), 3);
	CHECK_EQ(fdb_check(&t), 0);
	CHECK_EQ(fdb_flush_all(&t), fit - FDB_WAYS + 1);
	CHECK_EQ(t.bucket[t.bmask].overflow, 0);
	CHECK_EQ(fdb_check(&t), 0);
	fdb_destroy(&t);
}

/* ---- threads ------------------------------------------------------------- */

/*
 * MAC n (VLAN n % 3) is only ever learned on ports 4n to 4n + 3, so a port
 * outside those, or an answer on another VLAN, is a torn or mixed-up read.
 */
#define ST_MACS		96	/* three times the limit: learning meets it */
#define ST_LIMIT	32
#define ST_LEARNERS	3
#define ST_MS		1000

struct stress {
	struct fdb t;
	uint32_t now;		/* seconds, advanced by the ager */
	int stop;
	unsigned long bad;	/* answers naming a port the MAC never had */
	unsigned long lookups;
};

static uint16_t st_vlan(uint32_t n)
{
	return (uint16_t)(n % 3);
}

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

/* Is @got a right answer for MAC @n on VLAN @vlan? */
static bool answer_ok(uint32_t n, uint16_t vlan, uint16_t got)
{
	if (got == FDB_NO_PORT)
		return true;
	return vlan == st_vlan(n) && got / 4 == n;
}

static void *learner(void *arg)
{
	struct stress *s = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed;
	unsigned long bad = 0, lookups = 0;
	uint8_t m[6];

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		uint32_t n = rnd(&seed) % ST_MACS, i;

		mac_of(n, m);
		fdb_learn(&s->t, m, st_vlan(n),
			  (uint16_t)(4 * n + rnd(&seed) % 4),
			  __atomic_load_n(&s->now, __ATOMIC_RELAXED));
		for (i = 0; i < 4; i++) {	/* lookups outnumber learning */
			uint32_t k = rnd(&seed) % ST_MACS;
			uint16_t vlan = st_vlan(k) + (rnd(&seed) % 8 == 0);

			mac_of(k, m);
			bad += !answer_ok(k, vlan, fdb_lookup(&s->t, m, vlan));
			lookups++;
		}
	}
	__atomic_fetch_add(&s->bad, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->lookups, lookups, __ATOMIC_RELAXED);
	return NULL;
}

/* Sweeps, a second passing every few sweeps, and now and then a flush. */
static void *ager(void *arg)
{
	struct stress *s = arg;
	uint64_t seed = 7;
	uint32_t i;

	for (i = 1; !__atomic_load_n(&s->stop, __ATOMIC_RELAXED); i++) {
		if (i % 16 == 0)
			__atomic_fetch_add(&s->now, 1, __ATOMIC_RELAXED);
		fdb_age(&s->t, __atomic_load_n(&s->now, __ATOMIC_RELAXED), 64);
		if (i % 2 == 0)
			fdb_flush_port(&s->t,
				       (uint16_t)(rnd(&seed) % (4 * ST_MACS)));
		if (i % 128 == 0)
			fdb_flush_all(&s->t);
	}
	return NULL;
}

struct walk_check {
	const struct fdb *t;
	unsigned long bad;	/* entries with a wrong port, or not found */
};

/* fdb_walk()'s callback: each entry has a port its MAC had, and is found. */
static void entry_ok(const struct fdb_entry *e, void *arg)
{
	struct walk_check *wc = arg;
	uint16_t vlan = (uint16_t)(e->key >> 48 & 0xfff);
	uint8_t m[6];
	uint32_t n;

	__builtin_memcpy(m, &e->key, 6);
	n = (uint32_t)m[2] << 24 | (uint32_t)m[3] << 16 |
	    (uint32_t)m[4] << 8 | m[5];
	if (!answer_ok(n, vlan, e->port) ||
	    fdb_lookup(wc->t, m, vlan) != e->port)
		wc->bad++;
}

TEST(threads_learn_look_up_and_age)
{
	struct timespec pause = { .tv_sec = ST_MS / 1000,
				  .tv_nsec = ST_MS % 1000 * 1000000L };
	pthread_t th[ST_LEARNERS + 1];
	struct stress s = { .now = 1 };
	struct walk_check wc = { .t = &s.t };
	struct fdb_stats st;
	unsigned int i, n;

	fdb_init(&s.t, ST_LIMIT, 3);
	for (i = 0; i < ST_LEARNERS; i++)
		pthread_create(&th[i], NULL, learner, &s);
	pthread_create(&th[ST_LEARNERS], NULL, ager, &s);
	nanosleep(&pause, NULL);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i <= ST_LEARNERS; i++)
		pthread_join(th[i], NULL);

	fdb_stats_get(&s.t, &st);
	printf("  %lu lookups; %llu learned, %llu moved, %llu aged, %llu refused; "
	       "%u entries\n", s.lookups, (unsigned long long)st.learned,
	       (unsigned long long)st.moved, (unsigned long long)st.aged,
	       (unsigned long long)st.full, fdb_entries(&s.t));
	CHECK_EQ(s.bad, 0);
	CHECK(s.lookups > 1000);
	CHECK(st.learned > 0 && st.moved > 0 && st.aged > 0);
	CHECK_EQ(fdb_check(&s.t), 0);
	fdb_walk(&s.t, entry_ok, &wc);
	CHECK_EQ(wc.bad, 0);
	n = fdb_entries(&s.t);
	CHECK_EQ(fdb_flush_all(&s.t), n);
	CHECK_EQ(fdb_entries(&s.t), 0);
	CHECK_EQ(fdb_check(&s.t), 0);
	fdb_destroy(&s.t);
}

/*
 * A MAC that stays on its port is found by every lookup while other threads
 * learn, move, refresh and delete the MACs around it (the table is small, so
 * its bucket is among those written). A lookup that gave up on a busy bucket
 * would answer "unknown" and flood a known MAC.
 */
#define RES_MAC		ST_MACS		/* outside the churned ones */
#define RES_PORT	(4 * RES_MAC)

struct resident {
	struct stress *s;
	unsigned long misses, lookups;
};

static void *resident_reader(void *arg)
{
	struct resident *r = arg;
	uint8_t m[6];

	mac_of(RES_MAC, m);
	while (!__atomic_load_n(&r->s->stop, __ATOMIC_RELAXED)) {
		uint32_t now = __atomic_load_n(&r->s->now, __ATOMIC_RELAXED);

		fdb_learn(&r->s->t, m, st_vlan(RES_MAC), RES_PORT, now);
		r->misses += fdb_lookup(&r->s->t, m, st_vlan(RES_MAC)) != RES_PORT;
		r->lookups++;
	}
	return NULL;
}

/* Learning and deleting, but never flushing everything or the resident's port. */
static void *churner(void *arg)
{
	struct stress *s = arg;
	uint64_t seed = 11;
	uint32_t i;

	for (i = 1; !__atomic_load_n(&s->stop, __ATOMIC_RELAXED); i++) {
		if (i % 64 == 0)
			__atomic_fetch_add(&s->now, 1, __ATOMIC_RELAXED);
		fdb_flush_port(&s->t, (uint16_t)(rnd(&seed) % (4 * ST_MACS)));
	}
	return NULL;
}

TEST(known_mac_found_while_its_neighbours_change)
{
	struct timespec pause = { .tv_sec = ST_MS / 1000,
				  .tv_nsec = ST_MS % 1000 * 1000000L };
	struct stress s = { .now = 1 };
	struct resident r = { .s = &s };
	pthread_t th[ST_LEARNERS + 2];
	unsigned int i;
	uint8_t m[6];

	fdb_init(&s.t, ST_LIMIT, 1000);
	mac_of(RES_MAC, m);	/* before the others fill the table to its limit */
	fdb_learn(&s.t, m, st_vlan(RES_MAC), RES_PORT, s.now);
	for (i = 0; i < ST_LEARNERS; i++)
		pthread_create(&th[i], NULL, learner, &s);
	pthread_create(&th[ST_LEARNERS], NULL, churner, &s);
	pthread_create(&th[ST_LEARNERS + 1], NULL, resident_reader, &r);
	nanosleep(&pause, NULL);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < ST_LEARNERS + 2; i++)
		pthread_join(th[i], NULL);
	printf("  resident MAC: %lu lookups, %lu missed\n", r.lookups, r.misses);
	CHECK(r.lookups > 1000);
	CHECK_EQ(r.misses, 0);
	CHECK_EQ(s.bad, 0);
	CHECK_EQ(fdb_check(&s.t), 0);
	fdb_destroy(&s.t);
}

UNIT_MAIN(T(learn_lookup_move), T(aging_forgets_silent_macs),
	  T(many_entries_and_deletion_keep_lookups_right),
	  T(limit_refuses_new_macs), T(overflow_fills_the_tail_then_refuses),
	  T(threads_learn_look_up_and_age),
	  T(known_mac_found_while_its_neighbours_change))
