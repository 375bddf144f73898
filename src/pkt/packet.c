/* SPDX-License-Identifier: MIT */
/* packet.c - the packet pool, allocated once at startup */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pkt/packet.h"

struct packet_pool packet_pool;

/**
 * packet_pool_init() - allocate @npackets buffers and the free list
 * @npackets:	pool size; bounds the packets in flight in the whole switch
 *
 * The buffers are mapped lazily by the kernel, so an idle pool costs little
 * resident memory.
 *
 * Return: 0 or -ENOMEM
 */
int packet_pool_init(unsigned int npackets)
{
	size_t bytes = (size_t)npackets * sizeof(struct packet);
	unsigned int i;

	packet_pool.mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (packet_pool.mem == MAP_FAILED)
		return -ENOMEM;
	packet_pool.free = calloc(npackets, sizeof(struct packet *));
	/* Borrowing stops for the pass when this list is full. */
	packet_pool.borrowed = calloc(npackets, sizeof(struct packet *));
	if (!packet_pool.free || !packet_pool.borrowed) {
		free(packet_pool.free);
		free(packet_pool.borrowed);
		munmap(packet_pool.mem, bytes);
		return -ENOMEM;
	}
	/* Hand out low addresses first: the hot set stays compact. */
	for (i = 0; i < npackets; i++)
		packet_pool.free[i] = &packet_pool.mem[npackets - 1 - i];
	packet_pool.nfree = npackets;
	packet_pool.size = npackets;
	return 0;
}

/** packet_pool_destroy() - release the pool; every packet must be back */
void packet_pool_destroy(void)
{
	munmap(packet_pool.mem, (size_t)packet_pool.size * sizeof(struct packet));
	free(packet_pool.free);
	free(packet_pool.borrowed);
	packet_pool = (struct packet_pool){ 0 };
}

/**
 * packet_settle() - end of a pass: every borrowed frame still held by the
 * switch gets its tail copied in, so the guests may have their buffers back
 *
 * A borrowed packet that was freed (and perhaps reused) has ext cleared.
 */
void packet_settle(void)
{
	unsigned int i;

	for (i = 0; i < packet_pool.nborrowed; i++)
		packet_linearize(packet_pool.borrowed[i]);
	packet_pool.nborrowed = 0;
}

/**
 * packet_clone() - copy a packet into a new buffer (for flooding)
 * @p:		packet to copy, still owned by the caller
 *
 * Return: the copy, owned by the caller, or NULL when the pool is empty
 */
struct packet *packet_clone(const struct packet *p)
{
	struct packet *c = packet_alloc();

	if (!c)
		return NULL;
	memcpy(c->data, p->data, packet_head_len(p));
	if (p->ext)
		memcpy(c->data + packet_head_len(p), p->ext, p->ext_len);
	c->len = p->len;
	c->in_port = p->in_port;
	c->in_queue = p->in_queue;
	c->vlan = p->vlan;
	c->hash = p->hash;
	return c;
}
