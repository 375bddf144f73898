/* SPDX-License-Identifier: MIT */
/*
 * fdb.h - the MAC table: (VLAN, MAC) -> port, with aging, shared by threads
 *
 * Buckets of four entries, one cache line each, so a lookup touches one
 * line in the common case. A key lives in its home bucket or, when that is
 * full, in the first bucket after it with room; each bucket counts the
 * entries that passed it full (overflow), so a lookup goes on to the next
 * bucket only while that count is nonzero. Entries never move once written:
 * deleting one clears its slot and takes its count back off the buckets it
 * passed, so lookups never slow down with churn and need no tombstones.
 *
 * Threads. Lookups take no lock: each bucket has a sequence count, odd
 * while a writer holds the bucket, and a reader that sees it change reads
 * again until it does not (spinning, then yielding), so a known MAC never
 * floods because a writer was busy. Writers take per-bucket locks (the
 * sequence count itself, made odd by a CAS), always in increasing bucket
 * order, and every change to a key (learn, move, delete) holds the lock of
 * the key's home bucket, so two threads never insert one MAC twice. The
 * once-a-second refresh of an entry's time is a lone store, no lock. Buckets do not wrap around: a tail of spare
 * buckets after the last home takes its overflow, which keeps the lock
 * order a plain increasing index. fdb_age() is run by one thread at a time;
 * everything else may run on any thread at once.
 */
#ifndef VMSW_FDB_H
#define VMSW_FDB_H

#include <stdbool.h>
#include <stdint.h>

#define FDB_NO_PORT	0xffff
#define FDB_WAYS	4	/* entries per bucket */
#define FDB_TAIL	16	/* spare buckets after the last home bucket */

/* One cache line: read under @seq, written under its lock. */
struct fdb_bucket {
	uint32_t seq;		/* odd while a writer holds the bucket */
	uint32_t overflow;	/* entries homed before here, stored after */
	uint16_t port[FDB_WAYS];
	uint32_t seen[FDB_WAYS];	/* last time the MAC sent, in seconds */
	uint64_t key[FDB_WAYS];	/* fdb_key(); 0: empty */
} __attribute__((aligned(64)));

/* One entry as fdb_walk() shows it. */
struct fdb_entry {
	uint64_t key;		/* MAC in bits 0-47, VLAN in 48-59 */
	uint16_t port;
	uint32_t seen;
};

/* Bumped with relaxed atomics from any thread; read with fdb_stats_get(). */
struct fdb_stats {
	uint64_t learned;
	uint64_t moved;
	uint64_t aged;
	uint64_t full;		/* learning refused: table at its limit */
};

struct fdb {
	struct fdb_bucket *bucket;	/* home buckets, then FDB_TAIL spares */
	uint32_t bmask;		/* home buckets - 1 */
	uint32_t mask;		/* home slots - 1 (FDB_WAYS per bucket) */
	uint32_t limit;		/* at most half the home slots are used */
	uint32_t aging_s;
	/*
	 * What learning and aging write comes 64 bytes after what every lookup
	 * reads, so the two never share a cache line (an alignment would do
	 * it too, but would align every struct holding a table).
	 */
	char apart[64];
	uint32_t count;		/* entries; read with fdb_entries() */
	uint32_t sweep_pos;	/* bucket where the aging sweep resumes */
	struct fdb_stats stats;
};

int fdb_init(struct fdb *t, uint32_t max_entries, uint32_t aging_s);
void fdb_destroy(struct fdb *t);
void fdb_learn(struct fdb *t, const uint8_t *mac, uint16_t vlan, uint16_t port,
	       uint32_t now);
uint16_t fdb_lookup(const struct fdb *t, const uint8_t *mac, uint16_t vlan);
unsigned int fdb_age(struct fdb *t, uint32_t now, uint32_t nslots);
unsigned int fdb_flush_port(struct fdb *t, uint16_t port);
unsigned int fdb_flush_all(struct fdb *t);
void fdb_walk(const struct fdb *t,
	      void (*fn)(const struct fdb_entry *e, void *arg), void *arg);
uint32_t fdb_entries(const struct fdb *t);
void fdb_stats_get(const struct fdb *t, struct fdb_stats *out);
int fdb_check(const struct fdb *t);

static inline uint64_t fdb_key(const uint8_t *mac, uint16_t vlan)
{
	uint64_t k = 0;

	__builtin_memcpy(&k, mac, 6);
	return k | (uint64_t)(vlan & 0xfff) << 48 | 1ull << 63;
}

#endif /* VMSW_FDB_H */
