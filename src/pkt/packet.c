/* SPDX-License-Identifier: MIT */
/* packet.c - the packet pool, allocated once at startup */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pkt/packet.h"

struct packet_pool packet_pool;

#define LARGE_BUF_SIZE	(PACKET_HEADROOM + PACKET_LARGE_MAX)

/* The large pool: PACKET_LARGE_POOL buffers, touched only when used. */
static int large_pool_init(void)
{
	unsigned int i, n = PACKET_LARGE_POOL;

	packet_pool.large_mem = mmap(NULL, (size_t)n * LARGE_BUF_SIZE,
				     PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				     -1, 0);
	if (packet_pool.large_mem == MAP_FAILED) {
		packet_pool.large_mem = NULL;
		return -ENOMEM;
	}
	packet_pool.large_free = calloc(n, sizeof(uint8_t *));
	if (!packet_pool.large_free) {
		munmap(packet_pool.large_mem, (size_t)n * LARGE_BUF_SIZE);
		packet_pool.large_mem = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		packet_pool.large_free[i] =
			packet_pool.large_mem + (size_t)(n - 1 - i) * LARGE_BUF_SIZE;
	packet_pool.nlarge_free = n;
	packet_pool.large_size = n;
	return 0;
}

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
	if (large_pool_init()) {
		packet_pool_destroy();
		return -ENOMEM;
	}
	return 0;
}

/** packet_pool_destroy() - release the pool; every packet must be back */
void packet_pool_destroy(void)
{
	munmap(packet_pool.mem, (size_t)packet_pool.size * sizeof(struct packet));
	free(packet_pool.free);
	free(packet_pool.borrowed);
	if (packet_pool.large_mem)
		munmap(packet_pool.large_mem,
		       (size_t)packet_pool.large_size * LARGE_BUF_SIZE);
	free(packet_pool.large_free);
	packet_pool = (struct packet_pool){ 0 };
}

/**
 * packet_make_large() - move empty packet @p's frame into a large buffer
 * @p:		packet from packet_alloc(), nothing in it yet
 *
 * Up to PACKET_LARGE_MAX bytes then fit at p->data. packet_free() gives
 * the buffer back.
 *
 * Return: 0, or -ENOBUFS when the large pool is empty (counted)
 */
int packet_make_large(struct packet *p)
{
	if (p->large)
		return 0;
	if (unlikely(!packet_pool.nlarge_free)) {
		packet_pool.large_short++;
		return -ENOBUFS;
	}
	p->large = packet_pool.large_free[--packet_pool.nlarge_free];
	p->data = p->large + PACKET_HEADROOM;
	return 0;
}

/** packet_large_put() - @p's large buffer back to its pool; @p keeps its own */
void packet_large_put(struct packet *p)
{
	packet_pool.large_free[packet_pool.nlarge_free++] = p->large;
	p->large = NULL;
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
	if (p->len > PACKET_DATA_MAX && packet_make_large(c)) {
		packet_free(c);
		return NULL;
	}
	memcpy(c->data, p->data, packet_head_len(p));
	if (p->ext)
		memcpy(c->data + packet_head_len(p), p->ext, p->ext_len);
	c->len = p->len;
	c->in_port = p->in_port;
	c->in_queue = p->in_queue;
	c->vlan = p->vlan;
	c->hash = p->hash;
	c->ofl = p->ofl;
	return c;
}
