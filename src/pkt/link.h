/* SPDX-License-Identifier: MIT */
/*
 * link.h - a fixed-size ring of packet pointers joining two stages
 *
 * A link is single-producer, single-consumer. Putting a packet hands it to
 * the consumer; a full link refuses it and the producer drops and counts.
 */
#ifndef VMSW_LINK_H
#define VMSW_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt/packet.h"

#define LINK_SIZE	256	/* power of two */

struct link {
	uint32_t head;		/* next slot to read; free-running */
	uint32_t tail;		/* next slot to write; free-running */
	struct packet *slot[LINK_SIZE];
};

static inline unsigned int link_count(const struct link *l)
{
	return l->tail - l->head;
}

static inline bool link_empty(const struct link *l)
{
	return l->head == l->tail;
}

static inline bool link_full(const struct link *l)
{
	return link_count(l) == LINK_SIZE;
}

static inline unsigned int link_room(const struct link *l)
{
	return LINK_SIZE - link_count(l);
}

/** link_put() - enqueue @p; the caller must have checked link_full() */
static inline void link_put(struct link *l, struct packet *p)
{
	l->slot[l->tail++ & (LINK_SIZE - 1)] = p;
}

/** link_get() - dequeue the oldest packet; the link must not be empty */
static inline struct packet *link_get(struct link *l)
{
	return l->slot[l->head++ & (LINK_SIZE - 1)];
}

/** link_peek() - the packet @i places from the front, still queued */
static inline struct packet *link_peek(const struct link *l, unsigned int i)
{
	return l->slot[(l->head + i) & (LINK_SIZE - 1)];
}

/** link_flush() - free every queued packet; returns how many */
static inline unsigned int link_flush(struct link *l)
{
	unsigned int n = 0;

	while (!link_empty(l)) {
		packet_free(link_get(l));
		n++;
	}
	return n;
}

/** link_flush_home() - link_flush() from a thread the packets may not belong to */
static inline unsigned int link_flush_home(struct link *l)
{
	unsigned int n = 0;

	while (!link_empty(l)) {
		packet_free_home(link_get(l));
		n++;
	}
	return n;
}

/** link_move() - move every packet of @from behind those of @to, in order */
static inline void link_move(struct link *to, struct link *from)
{
	while (!link_empty(from) && !link_full(to))
		link_put(to, link_get(from));
}

#endif /* VMSW_LINK_H */
