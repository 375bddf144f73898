/* SPDX-License-Identifier: MIT */
/*
 * test_vring_packed.c - packed ring walking, validation, completion and
 * event suppression, against a driver played here over fake guest memory
 */
#include <errno.h>
#include <sys/eventfd.h>

#include "fakemem.h"
#include "unit.h"
#include "vhost/vring_packed.h"

#define PAGE		4096ull
#define LOG_BYTES	((FAKE_GPA + 2 * FAKE_HALF) / PAGE / 8 + 1)

#define F_NEXT		VRING_DESC_F_NEXT
#define F_WRITE		VRING_DESC_F_WRITE
#define F_INDIRECT	VRING_DESC_F_INDIRECT

/* One buffer the driver adds: where, how long, which flags of its own. */
struct seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

/* The driver's side of one packed ring, and the device's ring over it. */
struct drv {
	struct fake f;
	struct vring_packed vr;
	uint16_t num;
	uint64_t desc_gpa, driver_gpa, device_gpa;
	uint16_t next;		/* next slot to make available */
	bool wrap;		/* its wrap counter */
	uint16_t used_next;	/* next slot to read a completion from */
	bool used_wrap;
};

static struct vring_chain chain;
static struct drv drv;

static void drv_init(struct drv *d, uint16_t num, bool event_idx, bool in_order)
{
	struct vring_packed_addr a;

	fake_init(&d->f, 8, false);	/* memory; its split ring is not used */
	d->num = num;
	d->desc_gpa = fake_alloc(&d->f, vring_packed_desc_size(num));
	d->driver_gpa = fake_alloc(&d->f, 4);
	d->device_gpa = fake_alloc(&d->f, 4);
	d->next = d->used_next = 0;
	d->wrap = d->used_wrap = true;
	a.desc = guest_mem_gpa_range(&d->f.mem, d->desc_gpa, vring_packed_desc_size(num));
	a.driver = guest_mem_gpa_range(&d->f.mem, d->driver_gpa, 4);
	a.device = guest_mem_gpa_range(&d->f.mem, d->device_gpa, 4);
	if (!a.desc || !a.driver || !a.device)
		abort();
	d->vr.call_fd = -1;	/* drv_destroy() left the rest for init */
	if (vring_packed_init(&d->vr, &a, num, 1u << 15, event_idx, in_order, &d->f.mem))
		abort();
}

static void drv_destroy(struct drv *d)
{
	vring_packed_free(&d->vr);
	fake_destroy(&d->f);
}

static struct vring_packed_desc *slot(struct drv *d, uint16_t i)
{
	return (struct vring_packed_desc *)fake_ptr(&d->f, d->desc_gpa) + i;
}

static struct vring_packed_event *driver_area(struct drv *d)
{
	return fake_ptr(&d->f, d->driver_gpa);
}

static struct vring_packed_event *device_area(struct drv *d)
{
	return fake_ptr(&d->f, d->device_gpa);
}

static uint16_t avail_bits(bool wrap)
{
	return wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}

/*
 * Make a chain of @n buffers available as a driver does: buffer id in the
 * last descriptor, every descriptor but the head flagged first, the head's
 * flags last. Returns the head's slot.
 */
static uint16_t drv_add(struct drv *d, const struct seg *s, unsigned int n,
			uint16_t id)
{
	uint16_t head = d->next, head_flags = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct vring_packed_desc *p = slot(d, d->next);
		uint16_t flags = s[i].flags | (i + 1 < n ? F_NEXT : 0) | avail_bits(d->wrap);

		p->addr = s[i].addr;
		p->len = s[i].len;
		p->id = i + 1 == n ? id : 0xdead;
		if (i)
			p->flags = flags;
		else
			head_flags = flags;
		vring_packed_advance(&d->next, &d->wrap, 1, d->num);
	}
	__atomic_store_n(&slot(d, head)->flags, head_flags, __ATOMIC_RELEASE);
	return head;
}

/* One buffer of @len bytes at a fresh address. */
static uint16_t drv_add_one(struct drv *d, uint32_t len, uint16_t flags, uint16_t id)
{
	struct seg s = { fake_alloc(&d->f, len), len, flags };

	return drv_add(d, &s, 1, id);
}

/* The next completion as the driver reads it; @ndesc: its buffer's slots. */
static bool drv_used(struct drv *d, uint16_t *id, uint32_t *len, uint16_t ndesc)
{
	const struct vring_packed_desc *p = slot(d, d->used_next);
	uint16_t flags = __atomic_load_n(&p->flags, __ATOMIC_ACQUIRE);
	uint16_t want = d->used_wrap ? VRING_PACKED_DESC_F_WRAPS : 0;

	if ((flags & VRING_PACKED_DESC_F_WRAPS) != want)
		return false;
	*id = p->id;
	*len = p->len;
	vring_packed_advance(&d->used_next, &d->used_wrap, ndesc, d->num);
	return true;
}

/* Count, pop, push @len, publish: one buffer through the device. */
static int device_round(struct drv *d, bool writable, uint32_t len)
{
	int rc = vring_packed_avail_count(&d->vr);

	if (rc <= 0)
		return rc ? rc : -ENOBUFS;
	rc = vring_packed_pop(&d->vr, &chain, writable);
	if (rc)
		return rc;
	vring_packed_push(&d->vr, chain.head, len);
	return vring_packed_publish(&d->vr) ? 0 : -EINVAL;
}

TEST(single_buffer_round_trip)
{
	uint16_t id = 0;
	uint32_t len = 0;

	drv_init(&drv, 256, false, false);
	drv_add_one(&drv, 100, 0, 7);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_avail_left(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.head, 7);
	CHECK_EQ(chain.len, 100);
	CHECK_EQ(chain.niov, 1);
	CHECK_EQ(vring_packed_avail_left(&drv.vr), 0);
	vring_packed_push(&drv.vr, 7, 0);
	CHECK(!drv_used(&drv, &id, &len, 1));	/* nothing before publish */
	CHECK(vring_packed_publish(&drv.vr));
	CHECK(!vring_packed_publish(&drv.vr));
	CHECK(drv_used(&drv, &id, &len, 1));
	CHECK_EQ(id, 7);
	CHECK_EQ(len, 0);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 0);
	drv_destroy(&drv);
}

TEST(wrap_around_both_counters_odd_size)
{
	unsigned int i;
	uint16_t id = 0;
	uint32_t len = 0;

	drv_init(&drv, 5, false, false);	/* not a power of two */
	for (i = 0; i < 23; i++) {
		drv_add_one(&drv, 64, F_WRITE, (uint16_t)(i % 5));
		CHECK_EQ(device_round(&drv, true, 50 + i), 0);
		CHECK(drv_used(&drv, &id, &len, 1));
		CHECK_EQ(id, i % 5);
		CHECK_EQ(len, 50 + i);
		CHECK_EQ(drv.vr.avail_wrap, drv.wrap);
		CHECK_EQ(drv.vr.used_wrap, drv.used_wrap);
	}
	/* 23 slots: four laps and three slots; the counters flipped 4 times. */
	CHECK_EQ(drv.vr.last_avail, 3);
	CHECK(drv.vr.avail_wrap);
	CHECK_EQ(vring_packed_base(&drv.vr), 3u | 1u << 15 | (3u | 1u << 15) << 16);
	drv_destroy(&drv);
}

TEST(chain_across_ring_end)
{
	struct seg s[3];
	uint16_t id = 0;
	uint32_t len = 0;
	unsigned int i;

	drv_init(&drv, 4, false, false);
	for (i = 0; i < 2; i++) {
		drv_add_one(&drv, 64, 0, 0);
		CHECK_EQ(device_round(&drv, false, 0), 0);
		CHECK(drv_used(&drv, &id, &len, 1));
	}
	for (i = 0; i < 3; i++)
		s[i] = (struct seg){ fake_alloc(&drv.f, 100), 100 + i, 0 };
	CHECK_EQ(drv_add(&drv, s, 3, 3), 2);	/* slots 2, 3, then 0 of lap 2 */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.niov, 3);
	CHECK_EQ(chain.len, 303);
	CHECK_EQ(drv.vr.last_avail, 1);
	CHECK(!drv.vr.avail_wrap);
	vring_packed_push(&drv.vr, 3, 0);
	CHECK(vring_packed_publish(&drv.vr));
	CHECK(drv_used(&drv, &id, &len, 3));
	CHECK_EQ(id, 3);
	CHECK_EQ(drv.vr.used_idx, 1);
	CHECK(!drv.vr.used_wrap);
	CHECK_EQ(drv.used_next, 1);
	drv_destroy(&drv);
}

TEST(indirect_table)
{
	uint64_t table = 0;
	struct vring_packed_desc *t;
	struct seg s;
	uint32_t i;

	drv_init(&drv, 8, false, false);
	table = fake_alloc(&drv.f, 3ull * 16);
	t = fake_ptr(&drv.f, table);
	for (i = 0; i < 3; i++)
		t[i] = (struct vring_packed_desc){ fake_alloc(&drv.f, 64), 10 + i, 0, F_WRITE };
	t[1].flags |= F_NEXT;	/* ignored inside a table */
	s = (struct seg){ table, 48, F_INDIRECT };
	drv_add(&drv, &s, 1, 5);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	CHECK_EQ(chain.head, 5);
	CHECK_EQ(chain.niov, 3);
	CHECK_EQ(chain.len, 33);
	CHECK_EQ(drv.vr.last_avail, 1);	/* an indirect buffer takes one slot */
	drv_destroy(&drv);
}

TEST(out_of_order_completion_skips_by_chain_length)
{
	struct seg s[2];
	uint16_t id = 0;
	uint32_t len = 0;

	drv_init(&drv, 8, false, false);
	s[0] = (struct seg){ fake_alloc(&drv.f, 64), 64, 0 };
	s[1] = (struct seg){ fake_alloc(&drv.f, 64), 64, 0 };
	drv_add(&drv, s, 2, 1);		/* slots 0-1 */
	drv_add_one(&drv, 64, 0, 2);	/* slot 2 */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 2);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.head, 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.head, 2);
	vring_packed_push(&drv.vr, 2, 0);	/* the later one first */
	vring_packed_push(&drv.vr, 1, 0);
	CHECK(vring_packed_publish(&drv.vr));
	CHECK(drv_used(&drv, &id, &len, 1));
	CHECK_EQ(id, 2);
	CHECK(drv_used(&drv, &id, &len, 2));
	CHECK_EQ(id, 1);
	CHECK_EQ(drv.vr.used_idx, 3);
	CHECK_EQ(drv.vr.owned, 0);
	drv_destroy(&drv);
}

TEST(in_order_transmit_batch_one_used_descriptor)
{
	struct seg s[2];
	uint16_t id = 0;
	uint32_t len = 0;
	unsigned int i;

	drv_init(&drv, 8, false, true);
	drv_add_one(&drv, 64, 0, 4);			/* slot 0 */
	s[0] = (struct seg){ fake_alloc(&drv.f, 64), 64, 0 };
	s[1] = (struct seg){ fake_alloc(&drv.f, 64), 64, 0 };
	drv_add(&drv, s, 2, 6);				/* slots 1-2 */
	drv_add_one(&drv, 64, 0, 0);			/* slot 3 */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 3);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
		vring_packed_push(&drv.vr, chain.head, 0);
	}
	CHECK(vring_packed_publish(&drv.vr));
	/* One used descriptor at slot 0, the last buffer's id; 1-3 untouched. */
	CHECK(drv_used(&drv, &id, &len, 4));
	CHECK_EQ(id, 0);
	CHECK_EQ(slot(&drv, 3)->flags & VRING_PACKED_DESC_F_WRAPS,
		 VRING_PACKED_DESC_F_AVAIL);
	CHECK_EQ(drv.vr.used_idx, 4);
	/* Receive completions keep one used descriptor each: lengths differ. */
	drv_add_one(&drv, 64, F_WRITE, 1);
	drv_add_one(&drv, 64, F_WRITE, 2);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 2);
	for (i = 0; i < 2; i++) {
		CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
		vring_packed_push(&drv.vr, chain.head, 30 + i);
	}
	CHECK(vring_packed_publish(&drv.vr));
	CHECK(drv_used(&drv, &id, &len, 1));
	CHECK_EQ(id, 1);
	CHECK_EQ(len, 30);
	CHECK(drv_used(&drv, &id, &len, 1));
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 31);
	drv_destroy(&drv);
}

TEST(unpop_unpush_and_empty)
{
	struct seg s[2];
	uint16_t id = 0;
	uint32_t len = 0;

	drv_init(&drv, 4, false, false);
	drv_add_one(&drv, 64, F_WRITE, 0);		/* slot 0 */
	drv_add_one(&drv, 64, F_WRITE, 1);		/* slot 1 */
	s[0] = (struct seg){ fake_alloc(&drv.f, 64), 64, F_WRITE };
	s[1] = (struct seg){ fake_alloc(&drv.f, 64), 64, F_WRITE };
	drv_add(&drv, s, 2, 2);				/* slots 2-3 */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 3);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	vring_packed_push(&drv.vr, chain.head, 64);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	vring_packed_push(&drv.vr, chain.head, 64);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	CHECK_EQ(chain.head, 2);
	CHECK_EQ(drv.vr.last_avail, 0);
	CHECK(!drv.vr.avail_wrap);
	/* The merged-frame undo: every chain back, every completion back. */
	vring_packed_unpop(&drv.vr, 3);
	vring_packed_unpush(&drv.vr, 2);
	CHECK_EQ(drv.vr.last_avail, 0);
	CHECK(drv.vr.avail_wrap);
	CHECK_EQ(drv.vr.used_idx, 0);
	CHECK_EQ(vring_packed_avail_left(&drv.vr), 3);
	CHECK(!vring_packed_publish(&drv.vr));
	/* Seen again, the same ids; the last chain's slot count came back. */
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	CHECK_EQ(chain.head, 0);
	vring_packed_push(&drv.vr, 0, 64);
	vring_packed_unpop(&drv.vr, 0);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	vring_packed_push(&drv.vr, 1, 64);
	vring_packed_empty_pushed(&drv.vr, 1);
	CHECK(vring_packed_publish(&drv.vr));
	CHECK(drv_used(&drv, &id, &len, 1));
	CHECK_EQ(len, 64);
	CHECK(drv_used(&drv, &id, &len, 1));
	CHECK_EQ(id, 1);
	CHECK_EQ(len, 0);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	CHECK_EQ(chain.head, 2);
	CHECK_EQ(chain.niov, 2);
	drv_destroy(&drv);
}

TEST(need_event_arithmetic)
{
	const uint16_t W = 1u << 15;

	/* Same lap: [old, new) holds the event or not. */
	CHECK(vring_packed_need_event(5, W | 2, W | 1, W | 3));
	CHECK(vring_packed_need_event(5, W | 1, W | 1, W | 3));
	CHECK(!vring_packed_need_event(5, W | 3, W | 1, W | 3));
	CHECK(!vring_packed_need_event(5, W | 0, W | 1, W | 3));
	/* Across the end: old at slot 3 of lap 1, new at slot 2 of lap 2. */
	CHECK(vring_packed_need_event(5, W | 4, W | 3, 2));
	CHECK(vring_packed_need_event(5, 0, W | 3, 2));
	CHECK(vring_packed_need_event(5, 1, W | 3, 2));
	CHECK(!vring_packed_need_event(5, 2, W | 3, 2));
	CHECK(!vring_packed_need_event(5, W | 2, W | 3, 2));	/* a lap behind */
	/* A whole lap published: every slot but new's is passed. */
	CHECK(vring_packed_need_event(5, W | 4, W | 1, 1));
	CHECK(!vring_packed_need_event(5, 1, W | 1, 1));
	/* An offset beyond the ring asks for nothing sensible, and is safe. */
	(void)vring_packed_need_event(5, 0x7fff, W | 1, W | 3);
}

static uint64_t calls(int fd)
{
	eventfd_t v = 0;

	return eventfd_read(fd, &v) == 0 ? v : 0;
}

TEST(notify_follows_driver_event_area)
{
	int fd = eventfd(0, EFD_NONBLOCK);
	struct vring_packed_event *ev;

	drv_init(&drv, 8, true, false);
	drv.vr.call_fd = fd;
	ev = driver_area(&drv);
	ev->flags = VRING_PACKED_EVENT_F_DISABLE;
	CHECK_EQ(device_round(&drv, false, 0), -ENOBUFS);
	drv_add_one(&drv, 64, 0, 0);
	CHECK_EQ(device_round(&drv, false, 0), 0);
	CHECK_EQ(vring_packed_notify(&drv.vr), 0);
	CHECK_EQ(calls(fd), 0);
	ev->flags = VRING_PACKED_EVENT_F_ENABLE;
	drv_add_one(&drv, 64, 0, 1);
	CHECK_EQ(device_round(&drv, false, 0), 0);
	CHECK_EQ(vring_packed_notify(&drv.vr), 0);
	CHECK_EQ(calls(fd), 1);
	/* DESC: interrupt when the used descriptor at slot 3 is written. */
	ev->off_wrap = 3 | 1u << 15;
	ev->flags = VRING_PACKED_EVENT_F_DESC;
	drv_add_one(&drv, 64, 0, 2);
	CHECK_EQ(device_round(&drv, false, 0), 0);	/* slot 2 */
	CHECK_EQ(vring_packed_notify(&drv.vr), 0);
	CHECK_EQ(calls(fd), 0);
	drv_add_one(&drv, 64, 0, 3);
	CHECK_EQ(device_round(&drv, false, 0), 0);	/* slot 3 */
	CHECK_EQ(vring_packed_notify(&drv.vr), 0);
	CHECK_EQ(calls(fd), 1);
	drv_destroy(&drv);
	close(fd);
}

TEST(kick_enable_writes_device_area)
{
	struct vring_packed_event *ev;

	drv_init(&drv, 8, false, false);
	ev = device_area(&drv);
	vring_packed_kick_enable(&drv.vr, false);
	CHECK_EQ(ev->flags, VRING_PACKED_EVENT_F_DISABLE);
	vring_packed_kick_enable(&drv.vr, true);
	CHECK_EQ(ev->flags, VRING_PACKED_EVENT_F_ENABLE);
	drv_destroy(&drv);

	drv_init(&drv, 3, true, false);
	ev = device_area(&drv);
	drv_add_one(&drv, 64, 0, 0);
	drv_add_one(&drv, 64, 0, 1);
	drv_add_one(&drv, 64, 0, 2);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 3);
	vring_packed_kick_enable(&drv.vr, true);
	/* The first slot not seen: slot 0 of the second lap. */
	CHECK_EQ(ev->flags, VRING_PACKED_EVENT_F_DESC);
	CHECK_EQ(ev->off_wrap, 0);
	vring_packed_kick_enable(&drv.vr, false);
	CHECK_EQ(ev->flags, VRING_PACKED_EVENT_F_DISABLE);
	drv_destroy(&drv);
}

TEST(base_encoding)
{
	struct vring_packed vr = { .call_fd = -1 };
	struct vring_packed_addr a = { 0 };

	/* DPDK virtio-user: 1 << 15, high half zero: used = avail. */
	CHECK_EQ(vring_packed_init(&vr, &a, 256, 1u << 15, false, false, NULL), 0);
	CHECK_EQ(vr.last_avail, 0);
	CHECK(vr.avail_wrap);
	CHECK_EQ(vr.used_idx, 0);
	CHECK(vr.used_wrap);
	CHECK(!vr.base_mismatch);
	CHECK_EQ(vring_packed_base(&vr), (1u << 15) | (1u << 31));
	/* QEMU: both halves. Avail 10 lap 0, used 250 lap 1: 16 slots apart. */
	CHECK_EQ(vring_packed_init(&vr, &a, 256, 10u | (250u | 1u << 15) << 16,
				   false, false, NULL), 0);
	CHECK_EQ(vr.last_avail, 10);
	CHECK(!vr.avail_wrap);
	CHECK_EQ(vr.used_idx, 250);
	CHECK(vr.used_wrap);
	CHECK_EQ(vr.owned, 16);
	CHECK(vr.base_mismatch);
	CHECK_EQ(vring_packed_base(&vr), 10u | (250u | 1u << 15) << 16);
	/* Out of range: an index beyond the ring, used ahead of avail, size. */
	CHECK_EQ(vring_packed_init(&vr, &a, 256, 256, false, false, NULL), -EINVAL);
	CHECK_EQ(vring_packed_init(&vr, &a, 256, 1u << 15 | (300u << 16), false, false,
				   NULL), -EINVAL);
	CHECK_EQ(vring_packed_init(&vr, &a, 256, 5u | (6u | 1u << 15) << 16, false,
				   false, NULL), 0);	/* used a lap behind: 255 apart */
	CHECK_EQ(vring_packed_init(&vr, &a, 256, (5u | 1u << 15) | (6u | 1u << 15) << 16,
				   false, false, NULL), -EINVAL);	/* used ahead */
	CHECK_EQ(vring_packed_init(&vr, &a, 0, 1u << 15, false, false, NULL), -EINVAL);
	CHECK_EQ(vring_packed_init(&vr, &a, 32769, 1u << 15, false, false, NULL), -EINVAL);
	vring_packed_free(&vr);
}

/* A new device over the same ring, started from @base (a backend restart). */
static void drv_restart(struct drv *d, uint32_t base)
{
	struct vring_packed_addr a = {
		guest_mem_gpa_range(&d->f.mem, d->desc_gpa, vring_packed_desc_size(d->num)),
		guest_mem_gpa_range(&d->f.mem, d->driver_gpa, 4),
		guest_mem_gpa_range(&d->f.mem, d->device_gpa, 4),
	};

	if (vring_packed_init(&d->vr, &a, d->num, base, false, false, &d->f.mem))
		abort();
}

/*
 * A restarted backend given the boot base (QEMU 7.2) on a ring in its
 * second lap: the flags contradict the base and show the device's slot;
 * a fresh ring and a right base are left alone.
 */
TEST(base_from_ring_after_restart)
{
	uint32_t found = 0, right = 2u | 2u << 16;	/* slot 2, wrap 0, both halves */
	unsigned int i;
	uint16_t id;
	uint32_t len;

	drv_init(&drv, 5, false, false);
	CHECK(!vring_packed_base_from_ring(&drv.vr, &found));	/* fresh */
	for (i = 0; i < 7; i++) {
		drv_add_one(&drv, 64, 0, (uint16_t)(i % 5));
		CHECK_EQ(device_round(&drv, false, 0), 0);
		CHECK(drv_used(&drv, &id, &len, 1));
	}
	drv_add_one(&drv, 64, 0, 0);	/* slots 2 and 3 of lap 2, not taken */
	drv_add_one(&drv, 64, 0, 1);
	CHECK_EQ(vring_packed_base(&drv.vr), right);
	drv_restart(&drv, right);
	CHECK(!vring_packed_base_from_ring(&drv.vr, &found));
	drv_restart(&drv, 1u << 15 | 1u << 31);		/* the boot base */
	CHECK(vring_packed_base_from_ring(&drv.vr, &found));
	CHECK_EQ(found, right);
	drv_restart(&drv, found);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 2);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.head, 0);
	drv_destroy(&drv);

	/*
	 * A receive ring the guest keeps full: the boot base lies inside the
	 * run of available slots (every slot from it to the driver's is
	 * available), but so is the one before it: the device is further back.
	 */
	drv_init(&drv, 8, false, false);
	for (i = 0; i < 10; i++) {
		drv_add_one(&drv, 64, F_WRITE, (uint16_t)(i % 8));
		CHECK_EQ(device_round(&drv, true, 60), 0);
		CHECK(drv_used(&drv, &id, &len, 1));
	}
	for (i = 0; i < 8; i++)		/* slots 2..7 of lap 2, 0..1 of lap 3 */
		drv_add_one(&drv, 64, F_WRITE, (uint16_t)i);
	drv_restart(&drv, VRING_PACKED_BASE_RESET);
	CHECK(vring_packed_base_from_ring(&drv.vr, &found));
	CHECK_EQ(found, 2u | 2u << 16);		/* slot 2, wrap 0 */
	drv_restart(&drv, found);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 8);
	drv_destroy(&drv);
}

TEST(buffer_across_region_edge_is_split)
{
	drv_init(&drv, 8, false, false);
	{
		struct seg s = { FAKE_GPA + FAKE_HALF - 40, 100, 0 };

		drv_add(&drv, &s, 1, 0);
	}
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.niov, 2);
	CHECK_EQ(chain.iov[0].iov_len, 40);
	CHECK_EQ(chain.len, 100);
	drv_destroy(&drv);
}

TEST(too_many_segments_consumed)
{
	uint64_t table;
	struct vring_packed_desc *t;
	struct seg s;
	unsigned int i;

	drv_init(&drv, 8, false, false);
	table = fake_alloc(&drv.f, 70ull * 16);
	t = fake_ptr(&drv.f, table);
	for (i = 0; i < 70; i++)
		t[i] = (struct vring_packed_desc){ fake_alloc(&drv.f, 4), 4, 0, 0 };
	s = (struct seg){ table, 70 * 16, F_INDIRECT };
	drv_add(&drv, &s, 1, 3);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), -E2BIG);
	CHECK_EQ(chain.head, 3);
	vring_packed_push(&drv.vr, 3, 0);
	CHECK(vring_packed_publish(&drv.vr));
	drv_destroy(&drv);
}

/* Pop the next chain and expect a guest fault. */
static void expect_pop_fault(struct drv *d, bool writable)
{
	CHECK_EQ(vring_packed_pop(&d->vr, &chain, writable), -EIO);
	CHECK(d->vr.fault != NULL);
	d->vr.fault = NULL;
}

/* Count, then pop one buffer added with @s, expecting a fault. */
static void expect_fault_one(const struct seg *s, uint16_t id, bool writable)
{
	drv_init(&drv, 8, false, false);
	drv_add(&drv, s, 1, id);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	expect_pop_fault(&drv, writable);
	drv_destroy(&drv);
}

TEST(fault_buffer_id_out_of_range_and_reused)
{
	drv_init(&drv, 8, false, false);
	drv_add_one(&drv, 64, 0, 8);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	expect_pop_fault(&drv, false);
	drv_destroy(&drv);

	drv_init(&drv, 8, false, false);
	drv_add_one(&drv, 64, 0, 3);
	drv_add_one(&drv, 64, 0, 3);	/* again, before its completion */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 2);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	expect_pop_fault(&drv, false);
	/* After the completion is published, the id is the driver's again. */
	drv_destroy(&drv);
	drv_init(&drv, 8, false, false);
	drv_add_one(&drv, 64, 0, 3);
	CHECK_EQ(device_round(&drv, false, 0), 0);
	drv_add_one(&drv, 64, 0, 3);
	CHECK_EQ(device_round(&drv, false, 0), 0);
	drv_destroy(&drv);
}

TEST(fault_chain_longer_than_ring)
{
	struct seg s[4];
	unsigned int i;

	drv_init(&drv, 4, false, false);
	for (i = 0; i < 4; i++)
		s[i] = (struct seg){ fake_alloc(&drv.f, 16), 16, 0 };
	drv_add(&drv, s, 4, 0);
	slot(&drv, 3)->flags |= F_NEXT;	/* the last one goes on: a loop */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), -EIO);
	CHECK(drv.vr.fault != NULL);
	drv_destroy(&drv);
}

TEST(fault_chain_into_slot_not_available)
{
	struct seg s[2];

	drv_init(&drv, 8, false, false);
	s[0] = (struct seg){ fake_alloc(&drv.f, 16), 16, 0 };
	s[1] = (struct seg){ fake_alloc(&drv.f, 16), 16, 0 };
	drv_add(&drv, s, 2, 0);
	slot(&drv, 1)->flags = 0;	/* lap 1 wants AVAIL: this one has neither */
	CHECK_EQ(vring_packed_avail_count(&drv.vr), -EIO);
	drv_destroy(&drv);
}

TEST(fault_descriptor_taken_back_and_pop_without_count)
{
	drv_init(&drv, 8, false, false);
	expect_pop_fault(&drv, false);		/* nothing counted */
	drv_add_one(&drv, 64, 0, 0);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	slot(&drv, 0)->flags = VRING_PACKED_DESC_F_WRAPS;	/* "used" */
	expect_pop_fault(&drv, false);
	drv_destroy(&drv);
}

TEST(held_slot_not_taken_again)
{
	drv_init(&drv, 2, false, false);
	drv_add_one(&drv, 64, 0, 0);
	drv_add_one(&drv, 64, 0, 1);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 2);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	/* A driver whose wrap counter jumps: slot 0 "available" in lap 2
	 * while the device still holds it. It is not seen. */
	drv_add_one(&drv, 64, 0, 0);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 0);
	vring_packed_push(&drv.vr, 0, 0);
	vring_packed_push(&drv.vr, 1, 0);
	CHECK(vring_packed_publish(&drv.vr));
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 0);	/* completion over it */
	drv_destroy(&drv);
}

TEST(fault_indirect_rules)
{
	uint64_t table, b;
	struct vring_packed_desc *t;
	struct seg s;

	drv_init(&drv, 8, false, false);
	b = fake_alloc(&drv.f, 64);
	table = fake_alloc(&drv.f, 64);
	drv_destroy(&drv);

	s = (struct seg){ table, 17, F_INDIRECT };		/* not 16n */
	expect_fault_one(&s, 0, false);
	s = (struct seg){ table, 0, F_INDIRECT };		/* empty */
	expect_fault_one(&s, 0, false);
	s = (struct seg){ FAKE_GPA + 2 * FAKE_HALF - 8, 16, F_INDIRECT };
	expect_fault_one(&s, 0, false);				/* outside */

	/* INDIRECT with NEXT */
	drv_init(&drv, 8, false, false);
	{
		struct seg two[2] = { { table, 16, F_INDIRECT }, { b, 16, 0 } };

		t = fake_ptr(&drv.f, table);
		t[0] = (struct vring_packed_desc){ b, 16, 0, 0 };
		drv_add(&drv, two, 2, 0);
	}
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	expect_pop_fault(&drv, false);
	drv_destroy(&drv);

	/* INDIRECT at the end of a chain */
	drv_init(&drv, 8, false, false);
	{
		struct seg two[2] = { { b, 16, 0 }, { table, 16, F_INDIRECT } };

		t = fake_ptr(&drv.f, table);
		t[0] = (struct vring_packed_desc){ b, 16, 0, 0 };
		drv_add(&drv, two, 2, 0);
	}
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	expect_pop_fault(&drv, false);
	drv_destroy(&drv);

	/* nested */
	drv_init(&drv, 8, false, false);
	t = fake_ptr(&drv.f, table);
	t[0] = (struct vring_packed_desc){ table, 16, 0, F_INDIRECT };
	s = (struct seg){ table, 16, F_INDIRECT };
	drv_add(&drv, &s, 1, 0);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	expect_pop_fault(&drv, false);
	drv_destroy(&drv);

	/* direction inside a table: a read-only buffer in a receive table is a
	 * fault; WRITE on a transmit table's entry is tolerated (DPDK 22.11
	 * leaves it on the header entry) and the buffer is only read */
	drv_init(&drv, 8, false, false);
	t = fake_ptr(&drv.f, table);
	t[0] = (struct vring_packed_desc){ b, 16, 0, 0 };
	drv_add(&drv, &s, 1, 0);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	expect_pop_fault(&drv, true);
	drv_destroy(&drv);
	drv_init(&drv, 8, false, false);
	t = fake_ptr(&drv.f, table);
	t[0] = (struct vring_packed_desc){ b, 16, 0, F_WRITE };
	drv_add(&drv, &s, 1, 0);
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, false), 0);
	CHECK_EQ(chain.len, 16);
	drv_destroy(&drv);
}

TEST(fault_direction_and_memory)
{
	struct seg s;

	s = (struct seg){ FAKE_GPA + 0x10000, 64, F_WRITE };
	expect_fault_one(&s, 0, false);		/* device-writable in a TX chain */
	s = (struct seg){ FAKE_GPA + 0x10000, 64, 0 };
	expect_fault_one(&s, 0, true);		/* read-only in an RX chain */
	s = (struct seg){ 0x1000, 64, 0 };
	expect_fault_one(&s, 0, false);		/* below region 0 */
	s = (struct seg){ FAKE_GPA + 2 * FAKE_HALF - 10, 64, 0 };
	expect_fault_one(&s, 0, false);		/* past the end */
	s = (struct seg){ 0xfffffffffffffff0ull, 64, 0 };
	expect_fault_one(&s, 0, false);		/* wraps */
}

static bool page_set(const uint8_t *bits, uint64_t gpa)
{
	uint64_t page = gpa / PAGE;

	return bits[page / 8] & (1u << (page % 8));
}

TEST(dirty_log_covers_used_slots_buffers_and_device_area)
{
	static uint8_t bitmap[LOG_BYTES];
	struct dirty_log l = { .bits = bitmap, .size = LOG_BYTES };
	uint64_t buf_gpa;

	drv_init(&drv, 8, false, false);
	drv.vr.log = &l;
	drv.vr.log_desc_gpa = drv.desc_gpa;
	drv.vr.log_device_gpa = drv.device_gpa;
	buf_gpa = FAKE_GPA + 0x40000;
	{
		struct seg s = { buf_gpa, 64, F_WRITE };

		drv_add(&drv, &s, 1, 0);
	}
	CHECK_EQ(vring_packed_avail_count(&drv.vr), 1);
	CHECK_EQ(vring_packed_pop(&drv.vr, &chain, true), 0);
	memset(chain.iov[0].iov_base, 1, 64);
	vring_packed_log_chain(&drv.vr, &chain, 64);
	vring_packed_push(&drv.vr, chain.head, 64);
	CHECK(!page_set(l.bits, buf_gpa));
	CHECK(vring_packed_publish(&drv.vr));
	CHECK(page_set(l.bits, buf_gpa));
	CHECK(page_set(l.bits, drv.desc_gpa));
	CHECK(!page_set(l.bits, FAKE_GPA + 0x80000));
	memset(l.bits, 0, LOG_BYTES);
	vring_packed_kick_enable(&drv.vr, true);
	CHECK(page_set(l.bits, drv.device_gpa));
	CHECK_EQ(l.beyond, 0);
	drv_destroy(&drv);
}

UNIT_MAIN(T(single_buffer_round_trip), T(wrap_around_both_counters_odd_size),
	  T(chain_across_ring_end), T(indirect_table),
	  T(out_of_order_completion_skips_by_chain_length),
	  T(in_order_transmit_batch_one_used_descriptor),
	  T(unpop_unpush_and_empty), T(need_event_arithmetic),
	  T(notify_follows_driver_event_area), T(kick_enable_writes_device_area),
	  T(base_encoding), T(base_from_ring_after_restart), T(buffer_across_region_edge_is_split),
	  T(too_many_segments_consumed),
	  T(fault_buffer_id_out_of_range_and_reused),
	  T(fault_chain_longer_than_ring), T(fault_chain_into_slot_not_available),
	  T(fault_descriptor_taken_back_and_pop_without_count),
	  T(held_slot_not_taken_again), T(fault_indirect_rules),
	  T(fault_direction_and_memory),
	  T(dirty_log_covers_used_slots_buffers_and_device_area))
