/* SPDX-License-Identifier: MIT */
/* macmap.c - MAC address -> 16-bit value (see macmap.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/macmap.h"

static uint64_t mac_key(const uint8_t *mac)
{
	uint64_t k = 0;

	memcpy(&k, mac, 6);
	return k | 1ull << 63;
}

static uint32_t home(const struct macmap *m, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & m->mask;
}

/* The slot holding @key, or the empty slot ending its chain. */
static uint32_t find_slot(const struct macmap *m, uint64_t key)
{
	uint32_t i = home(m, key);

	while (m->key[i] && m->key[i] != key)
		i = (i + 1) & m->mask;
	return i;
}

/** macmap_init() - room for @max_entries MACs. Return: 0 or -ENOMEM */
int macmap_init(struct macmap *m, uint32_t max_entries)
{
	uint32_t slots = 16;

	while (slots < 2 * (uint64_t)max_entries && slots < 1u << 30)
		slots <<= 1;
	*m = (struct macmap){ .mask = slots - 1 };
	m->key = calloc(slots, sizeof(*m->key));
	m->val = calloc(slots, sizeof(*m->val));
	if (!m->key || !m->val) {
		macmap_destroy(m);
		return -ENOMEM;
	}
	return 0;
}

void macmap_destroy(struct macmap *m)
{
	free(m->key);
	free(m->val);
	*m = (struct macmap){ 0 };
}

/** macmap_set() - add or update @mac. Return: 0 or -ENOSPC (half full) */
int macmap_set(struct macmap *m, const uint8_t *mac, uint16_t val)
{
	uint64_t key = mac_key(mac);
	uint32_t i = find_slot(m, key);

	if (!m->key[i]) {
		if (m->count >= (m->mask + 1) / 2)
			return -ENOSPC;
		m->key[i] = key;
		m->count++;
	}
	m->val[i] = val;
	return 0;
}

/** macmap_get() - is @mac there; its value into @val (may be NULL) */
bool macmap_get(const struct macmap *m, const uint8_t *mac, uint16_t *val)
{
	uint32_t i = find_slot(m, mac_key(mac));

	if (!m->key[i])
		return false;
	if (val)
		*val = m->val[i];
	return true;
}

/* May the entry at @j, whose home is @h, move back into the hole at @hole? */
static bool may_fill(uint32_t hole, uint32_t h, uint32_t j)
{
	/* Yes unless its home lies cyclically in (hole, j]. */
	if (hole <= j)
		return h <= hole || h > j;
	return h <= hole && h > j;
}

/** macmap_del() - forget @mac. Return: 0 or -ENOENT */
int macmap_del(struct macmap *m, const uint8_t *mac)
{
	uint32_t hole = find_slot(m, mac_key(mac)), j = hole;

	if (!m->key[hole])
		return -ENOENT;
	/* Shift the rest of the chain back so that no probe stops early. */
	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->key[j])
			break;
		if (may_fill(hole, home(m, m->key[j]), j)) {
			m->key[hole] = m->key[j];
			m->val[hole] = m->val[j];
			hole = j;
		}
	}
	m->key[hole] = 0;
	m->count--;
	return 0;
}

/** macmap_walk() - call @fn for each entry; @fn must not change @m */
void macmap_walk(const struct macmap *m,
		 void (*fn)(const uint8_t *mac, uint16_t val, void *arg), void *arg)
{
	uint32_t i;

	for (i = 0; m->key && i <= m->mask; i++) {
		if (m->key[i]) {
			uint8_t mac[8];

			memcpy(mac, &m->key[i], 8);
			fn(mac, m->val[i], arg);
		}
	}
}
