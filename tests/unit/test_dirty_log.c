/* SPDX-License-Identifier: MIT */
/*
 * test_dirty_log.c - the migration log: mapping and its checks, the bit
 * arithmetic, and exact coverage: every page the switch writes into a
 * guest, and no other, is marked
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fakemem.h"
#include "pkt/packet.h"
#include "unit.h"
#include "vhost/dirty_log.h"
#include "vhost/virtio_net.h"

#define PAGE		4096ull
#define LOG_BYTES	((FAKE_GPA + 2 * FAKE_HALF) / PAGE / 8 + 1)

static struct vring_chain chain[2];
static uint8_t bitmap[LOG_BYTES];

static int log_file(uint64_t size)
{
	int fd = memfd_create("log", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	return fd;
}

static bool page_set(const uint8_t *bits, uint64_t gpa)
{
	uint64_t page = gpa / PAGE;

	return bits[page / 8] & (1u << (page % 8));
}

/* The pages of [gpa, gpa + len) into @want. */
static void want_range(uint8_t *want, uint64_t gpa, uint64_t len)
{
	uint64_t p;

	for (p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		want[p / 8] |= (uint8_t)(1u << (p % 8));
}

TEST(map_checks_and_replaces)
{
	struct dirty_log l = { 0 };
	char why[128];
	int fd = log_file(8192), fd2 = log_file(4096);
	uint8_t *old;

	CHECK_EQ(dirty_log_map(&l, fd, 0, 0, why, sizeof(why)), -EINVAL);
	CHECK_EQ(dirty_log_map(&l, fd, 8192, 1, why, sizeof(why)), -EINVAL);
	CHECK_EQ(dirty_log_map(&l, fd, 4096, ~0ull - 100, why, sizeof(why)), -EINVAL);
	CHECK_EQ(dirty_log_map(&l, fd, ~0ull, 4096, why, sizeof(why)), -EINVAL);
	CHECK(!l.bits);
	CHECK_EQ(dirty_log_map(&l, fd, 4096, 4096, why, sizeof(why)), 0);
	CHECK_EQ(l.size, 4096);
	old = l.bits;
	CHECK_EQ(dirty_log_map(&l, fd2, 4096, 0, why, sizeof(why)), 0);
	CHECK(l.bits != old);
	dirty_log_range(&l, 0x5000, 1);
	CHECK(page_set(l.bits, 0x5000));
	dirty_log_unmap(&l);
	close(fd);
	close(fd2);
}

TEST(bits_and_bounds)
{
	uint8_t bits[2] = { 0 };
	struct dirty_log l = { .bits = bits, .size = 2 };

	dirty_log_range(&l, 0x0fff, 2);		/* pages 0 and 1 */
	CHECK_EQ(bits[0], 0x03);
	dirty_log_range(&l, 15 * PAGE, PAGE);	/* page 15 only */
	CHECK_EQ(bits[1], 0x80);
	CHECK_EQ(l.pages, 3);
	dirty_log_range(&l, 16 * PAGE, 1);	/* page 16: beyond 2 bytes */
	dirty_log_range(&l, ~0ull - 10, 100);	/* wraps */
	CHECK_EQ(l.beyond, 2);
	dirty_log_range(&l, 0, 0);
	CHECK_EQ(l.pages, 3);
}

/* More distinct 64-page words than the cache holds: flushed as it fills. */
TEST(collect_merges_and_flushes_when_full)
{
	static uint8_t bits[1024];
	struct dirty_log l = { .bits = bits, .size = sizeof(bits) };
	struct dirty_log_word cache[4];
	unsigned int n = 0, i;

	memset(bits, 0, sizeof(bits));
	for (i = 0; i < 10; i++)			/* pages 0, 64, ..., 576 */
		n = dirty_log_collect(&l, cache, n, 4, (uint64_t)i * 64 * PAGE, 1);
	n = dirty_log_collect(&l, cache, n, 4, 576 * PAGE + 1, PAGE);	/* 576, 577 */
	CHECK(n <= 4);
	dirty_log_flush(&l, cache, n);
	for (i = 0; i < 10; i++)
		CHECK(page_set(bits, (uint64_t)i * 64 * PAGE));
	CHECK(page_set(bits, 577 * PAGE));
	CHECK(!page_set(bits, 578 * PAGE));
	CHECK(!page_set(bits, 1 * PAGE));
	n = dirty_log_collect(&l, cache, 0, 4, 8192 * PAGE, 1);	/* byte 1024: beyond */
	CHECK_EQ(n, 0);
	CHECK_EQ(l.beyond, 1);
}

/* A ring of @f logged into the static bitmap, used ring at its GPA. */
static struct dirty_log *log_ring(struct fake *f, struct dirty_log *l)
{
	memset(bitmap, 0, sizeof(bitmap));
	*l = (struct dirty_log){ .bits = bitmap, .size = sizeof(bitmap) };
	f->vr.log = l;
	f->vr.log_used_gpa = f->used_gpa;
	return l;
}

static struct packet *frame(uint32_t len)
{
	struct packet *p = packet_alloc();

	memset(p->data, 0x5a, len);
	p->len = len;
	return p;
}

/* Exactly the pages written and no others: buffers, used entries, index. */
TEST(rx_writes_exactly_logged)
{
	uint8_t want[LOG_BYTES] = { 0 };
	struct dirty_log l;
	struct fake f;
	struct packet *p;
	uint64_t buf[3];
	unsigned int i;

	fake_init(&f, 16, false);
	log_ring(&f, &l);
	/* Buffers straddling page edges, far from the rings. */
	f.alloc = FAKE_GPA + 5 * PAGE - 100;
	for (i = 0; i < 3; i++) {
		buf[i] = fake_alloc(&f, 600);
		fake_set_desc(&f, (uint16_t)i, buf[i], 600, VRING_DESC_F_WRITE, 0);
		fake_publish(&f, (uint16_t)i);
		f.alloc += 3 * PAGE;
	}
	p = frame(1400);	/* 1412 with the header: three 600-byte chains */
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	CHECK(vring_publish(&f.vr));
	want_range(want, buf[0], 600);
	want_range(want, buf[1], 600);
	want_range(want, buf[2], 212);
	want_range(want, f.used_gpa + 4, 24);	/* three used entries */
	want_range(want, f.used_gpa + 2, 2);		/* used->idx */
	CHECK(!memcmp(bitmap, want, sizeof(want)));
	CHECK_EQ(l.beyond, 0);
	packet_free(p);
	fake_destroy(&f);
}

/* Nothing is logged while the ring is not (one branch, no bits). */
TEST(unlogged_ring_writes_no_bits)
{
	struct dirty_log l;
	struct fake f;
	struct packet *p;
	uint64_t buf;

	fake_init(&f, 16, false);
	log_ring(&f, &l);
	f.vr.log = NULL;
	buf = fake_alloc(&f, 2048);
	fake_set_desc(&f, 0, buf, 2048, VRING_DESC_F_WRITE, 0);
	fake_publish(&f, 0);
	p = frame(1000);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	vring_publish(&f.vr);
	CHECK_EQ(l.pages, 0);
	packet_free(p);
	fake_destroy(&f);
}

/* A guest's TX ring: buffers are only read, so only the used ring is marked. */
TEST(tx_ring_logs_used_ring_only)
{
	uint8_t want[LOG_BYTES] = { 0 };
	struct dirty_log l;
	struct fake f;
	uint64_t buf;

	fake_init(&f, 16, false);
	log_ring(&f, &l);
	f.alloc = FAKE_GPA + 9 * PAGE;
	buf = fake_alloc(&f, 256);
	fake_set_desc(&f, 0, buf, 256, 0, 0);
	fake_publish(&f, 0);
	CHECK_EQ(vring_avail_count(&f.vr), 1);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	vring_push(&f.vr, chain[0].head, 0);
	vring_publish(&f.vr);
	want_range(want, f.used_gpa + 4, 8);
	want_range(want, f.used_gpa + 2, 2);
	CHECK(!memcmp(bitmap, want, sizeof(want)));
	CHECK(!page_set(bitmap, buf));
	fake_destroy(&f);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	if (packet_pool_init(64))
		abort();
}

UNIT_MAIN(T(map_checks_and_replaces), T(bits_and_bounds),
	  T(collect_merges_and_flushes_when_full),
	  T(rx_writes_exactly_logged), T(unlogged_ring_writes_no_bits),
	  T(tx_ring_logs_used_ring_only))
