/* SPDX-License-Identifier: MIT */
/*
 * fdb.h - the MAC table: (VLAN, MAC) -> port, with aging
 *
 * Open addressing with linear probing over 16-byte entries, so a lookup
 * touches one cache line in the common case. Deletion shifts later entries
 * back (no tombstones), so lookups never slow down with churn.
 */
#ifndef VMSW_FDB_H
#define VMSW_FDB_H

#include <stdbool.h>
#include <stdint.h>

#define FDB_NO_PORT	0xffff

struct fdb_entry {
	uint64_t key;		/* MAC in bits 0-47, VLAN in 48-59; 0: empty */
	uint16_t port;
	uint16_t pad;
	uint32_t seen;		/* last time the MAC sent, in seconds */
};

struct fdb_stats {
	uint64_t learned;
	uint64_t moved;
	uint64_t aged;
	uint64_t full;		/* learning refused: table at its limit */
};

struct fdb {
	struct fdb_entry *slot;
	uint32_t mask;		/* slots - 1 */
	uint32_t count;
	uint32_t limit;		/* at most half the slots are used */
	uint32_t aging_s;
	uint32_t sweep_pos;	/* where the incremental aging sweep resumes */
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

static inline uint64_t fdb_key(const uint8_t *mac, uint16_t vlan)
{
	uint64_t k = 0;

	__builtin_memcpy(&k, mac, 6);
	return k | (uint64_t)(vlan & 0xfff) << 48 | 1ull << 63;
}

#endif /* VMSW_FDB_H */
