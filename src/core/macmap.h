/* SPDX-License-Identifier: MIT */
/*
 * macmap.h - a small map from MAC address to a 16-bit value, for the
 * control plane (EVPN's remote MACs, the MACs it exported): open addressing
 * with linear probing, deletion by shifting the chain back (no tombstones),
 * a fixed capacity chosen at init and at most half of it used. One thread.
 */
#ifndef VMSW_MACMAP_H
#define VMSW_MACMAP_H

#include <stdbool.h>
#include <stdint.h>

struct macmap {
	uint64_t *key;		/* MAC in bits 0-47, bit 63 set; 0: empty */
	uint16_t *val;
	uint32_t mask;		/* slots - 1 */
	uint32_t count;
};

int macmap_init(struct macmap *m, uint32_t max_entries);
void macmap_destroy(struct macmap *m);
int macmap_set(struct macmap *m, const uint8_t *mac, uint16_t val);
bool macmap_get(const struct macmap *m, const uint8_t *mac, uint16_t *val);
int macmap_del(struct macmap *m, const uint8_t *mac);
void macmap_walk(const struct macmap *m,
		 void (*fn)(const uint8_t *mac, uint16_t val, void *arg), void *arg);

#endif /* VMSW_MACMAP_H */
