/* SPDX-License-Identifier: MIT */
/* fdb.c - MAC learning table, shared by the datapath threads (see fdb.h) */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "switch/fdb.h"

/*
 * A lookup that finds its bucket being written spins this many times, then
 * yields the CPU between reads: the writer may have been preempted. It never
 * gives up, so a known MAC is never flooded because of a concurrent writer;
 * writers are rare (a new MAC, a move, a delete), as a refresh takes no lock.
 */
#define READ_SPINS	128

/*
 * Every field of a bucket is read by threads that hold no lock, so each
 * access is a single relaxed atomic (a plain load or store on x86); the
 * sequence count orders them.
 */
#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v)	__atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED)
#define SUB(x, v)	__atomic_fetch_sub(&(x), (v), __ATOMIC_RELAXED)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	barrier();
#endif
}

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
	size_t size;

	while (slots < 2ull * max_entries && slots < (1u << 30))
		slots <<= 1;
	*t = (struct fdb){ 0 };
	size = ((size_t)slots / FDB_WAYS + FDB_TAIL) * sizeof(*t->bucket);
	t->bucket = aligned_alloc(sizeof(*t->bucket), size);
	if (!t->bucket)
		return -ENOMEM;
	memset(t->bucket, 0, size);
	t->mask = slots - 1;
	t->bmask = slots / FDB_WAYS - 1;
	t->limit = max_entries;
	t->aging_s = aging_s;
	return 0;
}

void fdb_destroy(struct fdb *t)
{
	free(t->bucket);
	t->bucket = NULL;
}

/* Home buckets and the spare tail after them. */
static inline uint32_t nbuckets(const struct fdb *t)
{
	return t->bmask + 1 + FDB_TAIL;
}

/* Fibonacci hashing: multiply, keep the top bits' worth via the mask. */
static inline uint32_t home(const struct fdb *t, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & t->bmask;
}

/* The way of @bk holding @key (0: a free way), or -1. */
static inline int way_of(const struct fdb_bucket *bk, uint64_t key)
{
	unsigned int w;

	for (w = 0; w < FDB_WAYS; w++)
		if (LOAD(bk->key[w]) == key)
			return (int)w;
	return -1;
}

/* ---- lock-free reading --------------------------------------------------- */

enum { FOUND, ABSENT, MORE, BUSY };

/* What the entry a lookup found said, and where it is. */
struct fdb_hit {
	uint16_t port;
	uint32_t seen;
	uint32_t bucket;
	unsigned int way;
};

/*
 * One read of @bk for @key: FOUND (*hit filled; hit->seen and hit->way only
 * if @seen), ABSENT, MORE (absent, but entries overflowed past this bucket),
 * or BUSY when a writer held or changed the bucket meanwhile.
 */
static inline int read_once(const struct fdb_bucket *bk, uint64_t key,
			    struct fdb_hit *hit, const bool seen)
{
	uint32_t seq = __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE);
	int way = way_of(bk, key), rc = FOUND;

	if (likely(way >= 0)) {
		hit->port = LOAD(bk->port[way]);
		if (seen) {
			hit->seen = LOAD(bk->seen[way]);
			hit->way = (unsigned int)way;
		}
	} else {
		rc = LOAD(bk->overflow) ? MORE : ABSENT;
	}
	/* Pairs with the writer's release fence in bucket_lock(). */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (unlikely((seq & 1) || LOAD(bk->seq) != seq))
		return BUSY;
	return rc;
}

/* Wait a little for a bucket's writer (see READ_SPINS). */
static void wait_for_writer(unsigned int *spins)
{
	if (++*spins % READ_SPINS)
		cpu_relax();
	else
		sched_yield();
}

/*
 * find()'s long way, out of line: along the chain past the home bucket,
 * and reading a bucket again for as long as a writer has it.
 */
static int __attribute__((noinline))
find_chain(const struct fdb *t, uint64_t key, struct fdb_hit *hit, bool seen)
{
	uint32_t b = home(t, key), end = nbuckets(t);
	unsigned int spins = 0;
	int rc;

	while (b < end) {
		rc = read_once(&t->bucket[b], key, hit, seen);
		if (rc == MORE) {
			b++;
		} else if (rc != BUSY) {
			hit->bucket = b;
			return rc;
		} else {
			wait_for_writer(&spins);
		}
	}
	return ABSENT;
}

/* Look for @key without locks: in its home bucket, or along its chain. */
static inline int find(const struct fdb *t, uint64_t key, struct fdb_hit *hit,
		       const bool seen)
{
	uint32_t h = home(t, key);
	int rc = read_once(&t->bucket[h], key, hit, seen);

	if (likely(rc == FOUND || rc == ABSENT)) {
		hit->bucket = h;
		return rc;
	}
	return find_chain(t, key, hit, seen);
}

/**
 * fdb_lookup() - where does @mac live?
 *
 * Return: port index, or FDB_NO_PORT when unknown (flood)
 */
uint16_t fdb_lookup(const struct fdb *t, const uint8_t *mac, uint16_t vlan)
{
	struct fdb_hit hit;

	if (find(t, fdb_key(mac, vlan), &hit, false) == FOUND)
		return hit.port;
	return FDB_NO_PORT;
}

/* ---- bucket locks -------------------------------------------------------- */

/* Take @bk: its sequence count goes odd. */
static void bucket_lock(struct fdb_bucket *bk)
{
	unsigned int spins = 0;
	uint32_t seq;

	for (;;) {
		seq = LOAD(bk->seq);
		if (!(seq & 1) &&
		    __atomic_compare_exchange_n(&bk->seq, &seq, seq + 1, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			break;
		wait_for_writer(&spins);
	}
	/* A reader that sees a store made under the lock sees the odd count. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void bucket_unlock(struct fdb_bucket *bk)
{
	__atomic_store_n(&bk->seq, LOAD(bk->seq) + 1, __ATOMIC_RELEASE);
}

/* Lock bucket @b for a write, unless it is @h, which the caller holds. */
static inline void lock_other(struct fdb *t, uint32_t b, uint32_t h)
{
	if (b != h)
		bucket_lock(&t->bucket[b]);
}

static inline void unlock_other(struct fdb *t, uint32_t b, uint32_t h)
{
	if (b != h)
		bucket_unlock(&t->bucket[b]);
}

/* ---- changes, under the lock of the key's home bucket @h ----------------- */

/*
 * Where @key is stored: 0 with *bp and *wp set, or -ENOENT. Exact without
 * locking the other buckets: only holders of @h's lock add or remove @key,
 * and while @key lies beyond a bucket, that bucket's overflow stays nonzero.
 */
static int find_locked(const struct fdb *t, uint32_t h, uint64_t key,
		       uint32_t *bp, unsigned int *wp)
{
	uint32_t b, end = nbuckets(t);

	for (b = h; b < end; b++) {
		const struct fdb_bucket *bk = &t->bucket[b];
		int way = way_of(bk, key);

		if (way >= 0) {
			*bp = b;
			*wp = (unsigned int)way;
			return 0;
		}
		if (!LOAD(bk->overflow))
			break;
	}
	return -ENOENT;
}

/* Take the overflow counts of an entry stored at @end back off [@h, @end). */
static void unpass(struct fdb *t, uint32_t h, uint32_t end)
{
	uint32_t b;

	for (b = h; b < end; b++) {
		struct fdb_bucket *bk = &t->bucket[b];

		lock_other(t, b, h);
		STORE(bk->overflow, LOAD(bk->overflow) - 1);
		unlock_other(t, b, h);
	}
}

/*
 * Store @key in the first bucket from @h with a free way, counting it as
 * overflow on each full bucket it passes. Return: 0, or -ENOSPC when even
 * the spare tail is full.
 */
static int insert_locked(struct fdb *t, uint32_t h, uint64_t key,
			 uint16_t port, uint32_t now)
{
	uint32_t b, end = nbuckets(t);

	for (b = h; b < end; b++) {
		struct fdb_bucket *bk = &t->bucket[b];
		int way;

		lock_other(t, b, h);
		way = way_of(bk, 0);
		if (way >= 0) {
			STORE(bk->port[way], port);
			STORE(bk->seen[way], now);
			STORE(bk->key[way], key);
			unlock_other(t, b, h);
			return 0;
		}
		STORE(bk->overflow, LOAD(bk->overflow) + 1);
		unlock_other(t, b, h);
	}
	unpass(t, h, end);
	return -ENOSPC;
}

/* A new MAC, within the limit. */
static void add_locked(struct fdb *t, uint32_t h, uint64_t key, uint16_t port,
		       uint32_t now)
{
	/* Reserve first: learners on other buckets may add at the same time. */
	if (ADD(t->count, 1) >= t->limit ||
	    insert_locked(t, h, key, port, now)) {
		SUB(t->count, 1);
		ADD(t->stats.full, 1);
		return;
	}
	ADD(t->stats.learned, 1);
}

/* A known MAC seen again: move it to @port, note the time. */
static void update_locked(struct fdb *t, uint32_t h, uint32_t b,
			  unsigned int way, uint16_t port, uint32_t now)
{
	struct fdb_bucket *bk = &t->bucket[b];

	lock_other(t, b, h);
	if (LOAD(bk->port[way]) != port) {
		STORE(bk->port[way], port);
		ADD(t->stats.moved, 1);
	}
	if (LOAD(bk->seen[way]) != now)
		STORE(bk->seen[way], now);
	unlock_other(t, b, h);
}

/*
 * Delete the entry at @b's @way. The counts go first, so the locks are
 * taken in increasing order; the entry is unreachable from the first one.
 */
static void remove_locked(struct fdb *t, uint32_t h, uint32_t b,
			  unsigned int way)
{
	struct fdb_bucket *bk = &t->bucket[b];

	unpass(t, h, b);
	lock_other(t, b, h);
	STORE(bk->key[way], 0);
	unlock_other(t, b, h);
	SUB(t->count, 1);
}

/* Learning's slow half: a new MAC or a move. */
static void __attribute__((noinline))
learn_locked(struct fdb *t, uint64_t key, uint16_t port, uint32_t now)
{
	uint32_t h = home(t, key), b;
	unsigned int way;

	bucket_lock(&t->bucket[h]);
	if (!find_locked(t, h, key, &b, &way))
		update_locked(t, h, b, way, port, now);
	else
		add_locked(t, h, key, port, now);
	bucket_unlock(&t->bucket[h]);
}

/**
 * fdb_learn() - @mac was seen arriving on @port
 * @t:		table
 * @mac:	source MAC (unicast; the caller checks)
 * @vlan:	VLAN of the frame
 * @port:	port index
 * @now:	current time in seconds
 *
 * A MAC already on @port costs one lock-free read, and in its first frame
 * of a second one store of the time, without a lock: only aging reads the
 * time, under the home bucket's lock, and a store that lands after the
 * entry went (or on its successor in the slot) only delays that aging.
 */
void fdb_learn(struct fdb *t, const uint8_t *mac, uint16_t vlan, uint16_t port,
	       uint32_t now)
{
	uint64_t key = fdb_key(mac, vlan);
	struct fdb_hit hit;

	if (likely(find(t, key, &hit, true) == FOUND && hit.port == port)) {
		if (unlikely(hit.seen != now))
			STORE(t->bucket[hit.bucket].seen[hit.way], now);
		return;
	}
	learn_locked(t, key, port, now);
}

/* ---- aging and flushing -------------------------------------------------- */

/* Is the entry at @bk's @way to go? @arg: the time, or a port. */
typedef bool doomed_fn(const struct fdb *t, const struct fdb_bucket *bk,
		       unsigned int way, uint32_t arg);

static bool silent(const struct fdb *t, const struct fdb_bucket *bk,
		   unsigned int way, uint32_t now)
{
	return now - LOAD(bk->seen[way]) >= t->aging_s;
}

static bool on_port(const struct fdb *t, const struct fdb_bucket *bk,
		    unsigned int way, uint32_t port)
{
	(void)t;
	return LOAD(bk->port[way]) == port;
}

static bool any(const struct fdb *t, const struct fdb_bucket *bk,
		unsigned int way, uint32_t arg)
{
	(void)t, (void)bk, (void)way, (void)arg;
	return true;
}

/*
 * Remove @key from @b's @way if it is still there and still doomed: the
 * look without a lock only picked it out, and learning may have moved,
 * refreshed or replaced it since. Return: entries removed (0 or 1)
 */
static unsigned int remove_if(struct fdb *t, uint32_t b, unsigned int way,
			      uint64_t key, doomed_fn *doomed, uint32_t arg)
{
	const struct fdb_bucket *bk = &t->bucket[b];
	uint32_t h = home(t, key);
	unsigned int removed = 0;

	bucket_lock(&t->bucket[h]);
	if (LOAD(bk->key[way]) == key && doomed(t, bk, way, arg)) {
		remove_locked(t, h, b, way);
		removed = 1;
	}
	bucket_unlock(&t->bucket[h]);
	return removed;
}

/*
 * Remove the doomed entries of bucket @b. Return: how many. Always inlined,
 * so that each caller's @doomed is too: aging reads every bucket each second.
 */
static inline __attribute__((always_inline)) unsigned int
sweep_bucket(struct fdb *t, uint32_t b, doomed_fn *doomed, uint32_t arg)
{
	const struct fdb_bucket *bk = &t->bucket[b];
	unsigned int way, removed = 0;

	for (way = 0; way < FDB_WAYS; way++) {
		uint64_t key = LOAD(bk->key[way]);

		if (key && doomed(t, bk, way, arg))
			removed += remove_if(t, b, way, key, doomed, arg);
	}
	return removed;
}

/**
 * fdb_age() - forget MACs silent for aging_s, scanning @nslots slots
 * @t:		table
 * @now:	current time in seconds
 * @nslots:	how much of the table to scan in this call (incremental);
 *		mask + 1 or more scans all of it, the spare tail included
 *
 * One thread ages at a time (the sweep position is not shared).
 *
 * Return: entries removed
 */
unsigned int fdb_age(struct fdb *t, uint32_t now, uint32_t nslots)
{
	uint32_t end = nbuckets(t), b = LOAD(t->sweep_pos), n;
	unsigned int removed = 0;

	n = nslots > t->mask ? end : (nslots + FDB_WAYS - 1) / FDB_WAYS;
	while (n--) {
		removed += sweep_bucket(t, b, silent, now);
		b = b + 1 < end ? b + 1 : 0;
	}
	STORE(t->sweep_pos, b);
	ADD(t->stats.aged, removed);
	return removed;
}

/* Remove every entry @doomed picks. Return: how many */
static unsigned int sweep_all(struct fdb *t, doomed_fn *doomed, uint32_t arg)
{
	uint32_t b, end = nbuckets(t);
	unsigned int removed = 0;

	for (b = 0; b < end; b++)
		removed += sweep_bucket(t, b, doomed, arg);
	return removed;
}

/** fdb_flush_port() - forget every MAC learned on @port. Return: removed */
unsigned int fdb_flush_port(struct fdb *t, uint16_t port)
{
	return sweep_all(t, on_port, port);
}

/** fdb_flush_all() - forget every MAC. Return: removed */
unsigned int fdb_flush_all(struct fdb *t)
{
	return sweep_all(t, any, 0);
}

/* ---- reading the whole table --------------------------------------------- */

/* The entries of @bk, read consistently. Return: how many */
static unsigned int read_entries(const struct fdb_bucket *bk,
				 struct fdb_entry *e)
{
	unsigned int spins = 0;

	for (;;) {
		uint32_t seq = __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE);
		unsigned int w, n = 0;

		for (w = 0; !(seq & 1) && w < FDB_WAYS; w++) {
			e[n].key = LOAD(bk->key[w]);
			e[n].port = LOAD(bk->port[w]);
			e[n].seen = LOAD(bk->seen[w]);
			n += e[n].key != 0;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(seq & 1) && LOAD(bk->seq) == seq)
			return n;
		wait_for_writer(&spins);
	}
}

/**
 * fdb_walk() - call @fn for every entry (a copy), bucket by bucket
 *
 * Each bucket is read at one moment; the table as a whole may change
 * between buckets.
 */
void fdb_walk(const struct fdb *t,
	      void (*fn)(const struct fdb_entry *e, void *arg), void *arg)
{
	uint32_t b, end = nbuckets(t);

	for (b = 0; b < end; b++) {
		struct fdb_entry e[FDB_WAYS];
		unsigned int i, n = read_entries(&t->bucket[b], e);

		for (i = 0; i < n; i++)
			fn(&e[i], arg);
	}
}

/** fdb_entries() - how many MACs the table holds now */
uint32_t fdb_entries(const struct fdb *t)
{
	return LOAD(t->count);
}

/** fdb_stats_get() - the counters, read from any thread */
void fdb_stats_get(const struct fdb *t, struct fdb_stats *out)
{
	out->learned = LOAD(t->stats.learned);
	out->moved = LOAD(t->stats.moved);
	out->aged = LOAD(t->stats.aged);
	out->full = LOAD(t->stats.full);
}

/* Count @key, stored in bucket @b, on the buckets it passed. */
static int check_entry(const struct fdb *t, uint32_t b, unsigned int way,
		       uint64_t key, uint32_t *passed)
{
	uint32_t h = home(t, key), fb, x;
	unsigned int fw;

	/* Found from its home at its own slot: reachable, and not twice. */
	if (h > b || find_locked(t, h, key, &fb, &fw) || fb != b || fw != way)
		return -EUCLEAN;
	for (x = h; x < b; x++)
		passed[x]++;
	return 0;
}

/**
 * fdb_check() - is the table whole? For tests, while no thread changes it
 *
 * Every bucket unlocked, every entry found from its home at its own slot
 * (so no key twice), each bucket's overflow the number of entries stored
 * past it from before it, and the count the number of entries.
 *
 * Return: 0, -EUCLEAN when something is off, or -ENOMEM
 */
int fdb_check(const struct fdb *t)
{
	uint32_t b, end = nbuckets(t), n = 0;
	uint32_t *passed = calloc(end, sizeof(*passed));
	unsigned int way;
	int rc = 0;

	if (!passed)
		return -ENOMEM;
	for (b = 0; b < end && !rc; b++) {
		const struct fdb_bucket *bk = &t->bucket[b];

		if (LOAD(bk->seq) & 1)
			rc = -EUCLEAN;
		for (way = 0; way < FDB_WAYS && !rc; way++) {
			uint64_t key = LOAD(bk->key[way]);

			n += key != 0;
			if (key)
				rc = check_entry(t, b, way, key, passed);
		}
	}
	for (b = 0; b < end && !rc; b++)
		if (passed[b] != LOAD(t->bucket[b].overflow))
			rc = -EUCLEAN;
	if (!rc && n != LOAD(t->count))
		rc = -EUCLEAN;
	free(passed);
	return rc;
}
