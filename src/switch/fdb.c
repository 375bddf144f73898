/* SPDX-License-Identifier: MIT */
/* fdb.c - MAC learning table */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "switch/fdb.h"

/**
 * fdb_init() - an empty table for up to @max_entries MACs
 * @t:		table
 * @max_entries: learning limit; slots are twice that, rounded up to 2^n
 * @aging_s:	seconds after which a silent MAC is forgotten
 *
 * Return: 0 or -ENOMEM
 */
int fdb_init(struct fdb *t, uint32_t max_entries, uint32_t aging_s)
{
	uint32_t slots = 64;

	while (slots < 2ull * max_entries && slots < (1u << 30))
		slots <<= 1;
	*t = (struct fdb){ 0 };
	t->slot = calloc(slots, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->mask = slots - 1;
	t->limit = max_entries;
	t->aging_s = aging_s;
	return 0;
}

void fdb_destroy(struct fdb *t)
{
	free(t->slot);
	t->slot = NULL;
}

/* Fibonacci hashing: multiply, keep the top bits' worth via the mask. */
static inline uint32_t home(const struct fdb *t, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & t->mask;
}

/* Slot holding @key, or the empty slot where it would go. */
static inline uint32_t probe(const struct fdb *t, uint64_t key)
{
	uint32_t i = home(t, key);

	while (t->slot[i].key && t->slot[i].key != key)
		i = (i + 1) & t->mask;
	return i;
}

/**
 * fdb_learn() - @mac was seen arriving on @port
 * @t:		table
 * @mac:	source MAC (unicast; the caller checks)
 * @vlan:	VLAN of the frame
 * @port:	port index
 * @now:	current time in seconds
 */
void fdb_learn(struct fdb *t, const uint8_t *mac, uint16_t vlan, uint16_t port,
	       uint32_t now)
{
	uint64_t key = fdb_key(mac, vlan);
	struct fdb_entry *e = &t->slot[probe(t, key)];

	if (likely(e->key == key)) {
		if (unlikely(e->port != port)) {
			e->port = port;
			t->stats.moved++;
		}
		if (e->seen != now)	/* avoid dirtying the line every packet */
			e->seen = now;
		return;
	}
	if (t->count >= t->limit) {
		t->stats.full++;
		return;
	}
	e->key = key;
	e->port = port;
	e->seen = now;
	t->count++;
	t->stats.learned++;
}

/**
 * fdb_lookup() - where does @mac live?
 *
 * Return: port index, or FDB_NO_PORT when unknown (flood)
 */
uint16_t fdb_lookup(const struct fdb *t, const uint8_t *mac, uint16_t vlan)
{
	uint64_t key = fdb_key(mac, vlan);
	const struct fdb_entry *e = &t->slot[probe(t, key)];

	return e->key == key ? e->port : FDB_NO_PORT;
}

/* Is @k cyclically in (@i, @j]? */
static inline bool between(uint32_t i, uint32_t k, uint32_t j)
{
	return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

/* Remove slot @i, shifting back entries whose probe passed through it. */
static void remove_slot(struct fdb *t, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->slot[j].key)
			break;
		if (!between(i, home(t, t->slot[j].key), j)) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	t->slot[i].key = 0;
	t->count--;
}

/**
 * fdb_age() - forget MACs silent for aging_s, scanning @nslots slots
 * @t:		table
 * @now:	current time in seconds
 * @nslots:	how much of the table to scan in this call (incremental)
 *
 * Return: entries removed
 */
unsigned int fdb_age(struct fdb *t, uint32_t now, uint32_t nslots)
{
	unsigned int removed = 0;

	if (nslots > t->mask + 1)
		nslots = t->mask + 1;
	while (nslots--) {
		uint32_t i = t->sweep_pos;
		struct fdb_entry *e = &t->slot[i];

		/* A shifted-in entry is checked on the next pass over i. */
		if (e->key && now - e->seen >= t->aging_s) {
			remove_slot(t, i);
			removed++;
		}
		t->sweep_pos = (i + 1) & t->mask;
	}
	t->stats.aged += removed;
	return removed;
}

/** fdb_flush_port() - forget every MAC learned on @port. Return: removed */
unsigned int fdb_flush_port(struct fdb *t, uint16_t port)
{
	unsigned int removed = 0;
	uint32_t i = 0;

	while (i <= t->mask) {
		if (t->slot[i].key && t->slot[i].port == port) {
			remove_slot(t, i);	/* slot i may now hold another */
			removed++;
			continue;
		}
		i++;
	}
	return removed;
}

/** fdb_flush_all() - forget every MAC. Return: removed */
unsigned int fdb_flush_all(struct fdb *t)
{
	unsigned int removed = t->count;

	memset(t->slot, 0, ((size_t)t->mask + 1) * sizeof(*t->slot));
	t->count = 0;
	return removed;
}
