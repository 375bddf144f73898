/* SPDX-License-Identifier: MIT */
/* packet.c - the packet pool, allocated once at startup */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pkt/packet.h"

__thread struct packet_pool packet_pool;

/* Every live pool, for packet_free_home(): control path only. */
#define POOLS_MAX	65
static struct packet_pool *pools[POOLS_MAX];
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;

static void pools_set(struct packet_pool *old, struct packet_pool *new)
{
	unsigned int i;

	pthread_mutex_lock(&pools_lock);
	for (i = 0; i < POOLS_MAX; i++)
		if (pools[i] == old) {
			pools[i] = new;
			break;
		}
	pthread_mutex_unlock(&pools_lock);
}

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
 * packet_pool_init() - allocate this thread's pool
 * @npackets:	pool size; bounds the packets in flight in the thread
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
	pools_set(NULL, &packet_pool);
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
	pools_set(&packet_pool, NULL);
	packet_pool = (struct packet_pool){ 0 };
}

static bool holds(const void *a, size_t size, const void *mem, unsigned int n)
{
	return mem && (const uint8_t *)a >= (const uint8_t *)mem &&
	       (const uint8_t *)a < (const uint8_t *)mem + (size_t)n * size;
}

/* The live pool whose buffers (@large: large buffers) hold @a, or NULL. */
static struct packet_pool *pool_of(const void *a, bool large)
{
	unsigned int i;

	for (i = 0; i < POOLS_MAX; i++) {
		struct packet_pool *pp = pools[i];

		if (pp && (large ? holds(a, LARGE_BUF_SIZE, pp->large_mem, pp->large_size) :
				   holds(a, sizeof(struct packet), pp->mem, pp->size)))
			return pp;
	}
	return NULL;
}

/**
 * packet_free_home() - packet_free() into the pool @p came from
 * @p:		packet of any pool; its pool's thread must be paused (or be
 *		this one)
 *
 * For the control thread, which frees what a removed port still held.
 * Slow (a search of the pools): never on the data path.
 */
void packet_free_home(struct packet *p)
{
	struct packet_pool *pp;

	pthread_mutex_lock(&pools_lock);
	p->ext = NULL;
	if (p->large) {
		pp = pool_of(p->large, true);
		pp = pp ? pp : &packet_pool;
		pp->large_free[pp->nlarge_free++] = p->large;
		p->large = NULL;
	}
	pp = pool_of(p, false);
	pp = pp ? pp : &packet_pool;
	pp->free[pp->nfree++] = p;
	pthread_mutex_unlock(&pools_lock);
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
