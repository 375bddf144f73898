/* SPDX-License-Identifier: MIT */
/* test_vring.c - split ring walking, validation and completion */
#include <errno.h>
#include <sys/eventfd.h>

#include "fakemem.h"
#include "pkt/packet.h"
#include "unit.h"
#include "vhost/virtio_net.h"

static struct vring_chain chain[2];

/* A TX buffer: 12-byte zero header then @len frame bytes of a pattern. */
static uint64_t tx_buffer(struct fake *f, uint32_t len)
{
	uint64_t gpa = fake_alloc(f, 12 + len);
	uint8_t *b = fake_ptr(f, gpa);
	uint32_t i;

	memset(b, 0, 12);
	for (i = 0; i < len; i++)
		b[12 + i] = (uint8_t)(i * 7 + 1);
	return gpa;
}

static bool frame_ok(const uint8_t *d, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (d[i] != (uint8_t)(i * 7 + 1))
			return false;
	return true;
}

TEST(tx_single_descriptor)
{
	struct fake f;
	struct packet *p;

	fake_init(&f, 256, false);
	fake_set_desc(&f, 0, tx_buffer(&f, 60), 72, 0, 0);
	fake_publish(&f, 0);
	CHECK_EQ(vring_avail_count(&f.vr), 1);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	CHECK_EQ(chain[0].len, 72);
	p = packet_alloc();
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), 0);
	CHECK_EQ(p->len, 60);
	CHECK(frame_ok(p->data, 60));
	packet_free(p);
	fake_destroy(&f);
}

TEST(tx_header_in_own_descriptors)
{
	struct fake f;
	uint64_t buf, b;
	struct packet *p;

	fake_init(&f, 256, false);
	buf = tx_buffer(&f, 100);
	b = buf;
	/* Header split over two descriptors (7 + 5 bytes), then the frame. */
	fake_set_desc(&f, 5, b, 7, VRING_DESC_F_NEXT, 9);
	fake_set_desc(&f, 9, b + 7, 5, VRING_DESC_F_NEXT, 2);
	fake_set_desc(&f, 2, b + 12, 100, 0, 0);
	fake_publish(&f, 5);
	CHECK_EQ(vring_avail_count(&f.vr), 1);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	CHECK_EQ(chain[0].niov, 3);
	p = packet_alloc();
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), 0);
	CHECK_EQ(p->len, 100);
	CHECK(frame_ok(p->data, 100));
	packet_free(p);
	fake_destroy(&f);
}

TEST(tx_indirect_table)
{
	struct fake f;
	uint64_t table, buf;
	struct vring_desc *t;
	struct packet *p;

	fake_init(&f, 256, false);
	buf = tx_buffer(&f, 200);
	table = fake_alloc(&f, 3ull * 16);
	t = fake_ptr(&f, table);
	t[0] = (struct vring_desc){ buf, 12, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ buf + 12, 100, VRING_DESC_F_NEXT, 2 };
	t[2] = (struct vring_desc){ buf + 112, 100, 0, 0 };
	fake_set_desc(&f, 3, table, 48, VRING_DESC_F_INDIRECT, 0);
	fake_publish(&f, 3);
	CHECK_EQ(vring_avail_count(&f.vr), 1);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	p = packet_alloc();
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), 0);
	CHECK_EQ(p->len, 200);
	CHECK(frame_ok(p->data, 200));
	packet_free(p);
	fake_destroy(&f);
}

/* Pop one chain at @head and expect a guest fault. */
static void expect_fault(struct fake *f, uint16_t head, bool writable)
{
	fake_publish(f, head);
	CHECK_EQ(vring_avail_count(&f->vr), 1);
	CHECK_EQ(vring_pop(&f->vr, &chain[0], writable), -EIO);
	CHECK(f->vr.fault != NULL);
}

TEST(fault_descriptor_loop)
{
	struct fake f;
	uint64_t b;

	fake_init(&f, 8, false);
	b = tx_buffer(&f, 64);
	fake_set_desc(&f, 0, b, 20, VRING_DESC_F_NEXT, 1);
	fake_set_desc(&f, 1, b, 20, VRING_DESC_F_NEXT, 0);
	expect_fault(&f, 0, false);
	fake_destroy(&f);
}

TEST(fault_head_and_next_out_of_range)
{
	struct fake f;
	uint64_t b;

	fake_init(&f, 8, false);
	expect_fault(&f, 8, false);
	b = tx_buffer(&f, 64);
	fake_set_desc(&f, 1, b, 20, VRING_DESC_F_NEXT, 200);
	expect_fault(&f, 1, false);
	fake_destroy(&f);
}

TEST(fault_outside_memory)
{
	struct fake f;

	fake_init(&f, 8, false);
	fake_set_desc(&f, 0, 0x1000, 64, 0, 0);		/* below region 0 */
	expect_fault(&f, 0, false);
	fake_set_desc(&f, 1, FAKE_GPA + 2 * FAKE_HALF - 10, 64, 0, 0); /* past end */
	expect_fault(&f, 1, false);
	fake_set_desc(&f, 2, FAKE_GPA, 0xffffffff, 0, 0);
	expect_fault(&f, 2, false);
	fake_set_desc(&f, 3, 0xfffffffffffffff0ull, 64, 0, 0);	/* wraps */
	expect_fault(&f, 3, false);
	fake_destroy(&f);
}

TEST(buffer_across_region_edge_is_split)
{
	struct fake f;
	uint64_t gpa = FAKE_GPA + FAKE_HALF - 40;
	uint8_t *b;
	struct packet *p;
	uint32_t i;

	fake_init(&f, 8, false);
	b = fake_ptr(&f, gpa);
	memset(b, 0, 12);
	for (i = 0; i < 100; i++)
		b[12 + i] = (uint8_t)(i * 7 + 1);
	fake_set_desc(&f, 0, gpa, 112, 0, 0);
	fake_publish(&f, 0);
	CHECK_EQ(vring_avail_count(&f.vr), 1);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	CHECK_EQ(chain[0].niov, 2);
	CHECK_EQ(chain[0].iov[0].iov_len, 40);
	p = packet_alloc();
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), 0);
	CHECK(frame_ok(p->data, 100));
	packet_free(p);
	fake_destroy(&f);
}

TEST(fault_indirect_rules)
{
	struct fake f;
	uint64_t table, b;
	struct vring_desc *t;

	fake_init(&f, 8, false);
	b = tx_buffer(&f, 64);
	table = fake_alloc(&f, 64);
	t = fake_ptr(&f, table);
	t[0] = (struct vring_desc){ b, 76, 0, 0 };
	fake_set_desc(&f, 0, table, 17, VRING_DESC_F_INDIRECT, 0); /* not 16n */
	expect_fault(&f, 0, false);
	fake_set_desc(&f, 1, table, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 2);
	expect_fault(&f, 1, false);
	t[0] = (struct vring_desc){ table, 16, VRING_DESC_F_INDIRECT, 0 }; /* nested */
	fake_set_desc(&f, 2, table, 16, VRING_DESC_F_INDIRECT, 0);
	expect_fault(&f, 2, false);
	fake_set_desc(&f, 3, FAKE_GPA + 2 * FAKE_HALF - 8, 16, VRING_DESC_F_INDIRECT, 0);
	expect_fault(&f, 3, false);
	fake_destroy(&f);
}

TEST(fault_direction)
{
	struct fake f;
	uint64_t b;

	fake_init(&f, 8, false);
	b = tx_buffer(&f, 64);
	fake_set_desc(&f, 0, b, 76, VRING_DESC_F_WRITE, 0);
	expect_fault(&f, 0, false);	/* device-writable in a TX chain */
	fake_set_desc(&f, 1, b, 76, 0, 0);
	expect_fault(&f, 1, true);	/* read-only in an RX chain */
	fake_destroy(&f);
}

TEST(fault_avail_index_jump)
{
	struct fake f;

	fake_init(&f, 8, false);
	fake_avail(&f)->idx = 9;
	CHECK_EQ(vring_avail_count(&f.vr), -EIO);
	fake_avail(&f)->idx = 8;
	CHECK_EQ(vring_avail_count(&f.vr), 8);
	fake_destroy(&f);
}

TEST(tx_short_chain_is_a_runt)
{
	struct fake f;
	struct packet *p;

	fake_init(&f, 8, false);
	fake_set_desc(&f, 0, tx_buffer(&f, 10), 11, 0, 0);	/* < header */
	fake_set_desc(&f, 1, tx_buffer(&f, 10), 22, 0, 0);	/* < header + 14 */
	fake_publish(&f, 0);
	fake_publish(&f, 1);
	CHECK_EQ(vring_avail_count(&f.vr), 2);
	p = packet_alloc();
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), -EINVAL);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), -EINVAL);
	packet_free(p);
	fake_destroy(&f);
}

/* Post @n receive buffers of @size bytes each; returns the first GPA. */
static uint64_t post_rx(struct fake *f, unsigned int n, uint32_t size)
{
	uint64_t first = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t gpa = fake_alloc(f, size);
		uint16_t d = (uint16_t)((f->avail_idx) % f->num);

		if (!i)
			first = gpa;
		fake_set_desc(f, d, gpa, size, VRING_DESC_F_WRITE, 0);
		fake_publish(f, d);
	}
	return first;
}

static struct packet *pattern_packet(uint16_t len)
{
	struct packet *p = packet_alloc();
	uint16_t i;

	for (i = 0; i < len; i++)
		p->data[i] = (uint8_t)(i * 7 + 1);
	p->len = len;
	return p;
}

/* Pop a one-descriptor TX chain holding a @len-byte frame into a packet. */
static struct packet *pop_tx_frame(struct fake *f, uint16_t head, uint32_t len,
				   bool borrow, uint64_t *gpa)
{
	struct packet *p = packet_alloc();

	*gpa = tx_buffer(f, len);
	fake_set_desc(f, head, *gpa, 12 + len, 0, 0);
	fake_publish(f, head);
	CHECK_EQ(vring_avail_count(&f->vr), 1);
	CHECK_EQ(vring_pop(&f->vr, &chain[0], false), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, borrow), 0);
	return p;
}

TEST(tx_large_frame_is_borrowed_small_is_copied)
{
	struct fake f;
	struct packet *big, *small, *c;
	uint64_t gpa, gpa2;

	fake_init(&f, 256, false);
	small = pop_tx_frame(&f, 0, PACKET_BORROW_MIN, true, &gpa2);
	CHECK(!small->ext);
	CHECK(frame_ok(small->data, PACKET_BORROW_MIN));
	big = pop_tx_frame(&f, 1, 1500, true, &gpa);
	CHECK_EQ(big->len, 1500);
	CHECK_EQ(packet_head_len(big), PACKET_HEAD);
	CHECK(big->ext && big->ext_len == 1500 - PACKET_HEAD);
	CHECK(frame_ok(big->data, PACKET_HEAD));
	CHECK_EQ(packet_pool.nborrowed, 1);
	/* A clone is a whole private copy. */
	c = packet_clone(big);
	CHECK(!c->ext);
	CHECK(frame_ok(c->data, 1500));
	/* The guest rewrites its buffer: the head we decided on stays ours. */
	memset(fake_ptr(&f, gpa), 0xee, 12 + PACKET_HEAD);
	CHECK(frame_ok(big->data, PACKET_HEAD));
	packet_settle();	/* still held: the tail is copied in */
	CHECK(!big->ext);
	CHECK(frame_ok(big->data, 1500));
	CHECK_EQ(packet_pool.nborrowed, 0);
	packet_pool.held = false;
	packet_free(c);
	packet_free(big);
	packet_free(small);
	fake_destroy(&f);
}

TEST(borrowed_frame_goes_to_guest_in_one_copy)
{
	struct fake f, g;
	struct packet *p;
	uint64_t gpa, rx;

	fake_init(&f, 256, false);
	fake_init(&g, 16, false);
	p = pop_tx_frame(&f, 0, 1500, true, &gpa);
	CHECK(p->ext);
	rx = post_rx(&g, 1, 2048);
	CHECK_EQ(vnet_packet_to_guest(&g.vr, chain, p, 12, true, 0), 0);
	CHECK(p->ext);		/* delivered without bringing the tail in */
	vring_publish(&g.vr);
	CHECK_EQ(fake_used(&g)->ring[0].len, 1512);
	CHECK_EQ(((struct virtio_net_hdr *)fake_ptr(&g, rx))->num_buffers, 1);
	CHECK(frame_ok(fake_ptr(&g, rx + 12), 1500));
	/* Freed before the pass ends: settle has nothing left to copy. */
	packet_free(p);
	packet_settle();
	packet_pool.held = false;
	fake_destroy(&g);
	fake_destroy(&f);
}

TEST(borrowed_frame_into_split_buffers_is_linearized)
{
	struct fake f, g;
	struct packet *p;
	uint64_t gpa, rx;
	uint8_t out[1512];

	fake_init(&f, 256, false);
	fake_init(&g, 16, false);
	p = pop_tx_frame(&f, 0, 1500, true, &gpa);
	rx = post_rx(&g, 2, 1024);
	CHECK_EQ(vnet_packet_to_guest(&g.vr, chain, p, 12, true, 0), 0);
	CHECK(!p->ext);
	memcpy(out, fake_ptr(&g, rx), 1024);
	memcpy(out + 1024, fake_ptr(&g, rx + 1024), 1512 - 1024);
	CHECK(frame_ok(out + 12, 1500));
	packet_free(p);
	packet_settle();
	packet_pool.held = false;
	fake_destroy(&g);
	fake_destroy(&f);
}

TEST(rx_mergeable_spans_buffers)
{
	struct fake f;
	struct packet *p = pattern_packet(3000);
	uint8_t out[3012];
	uint64_t gpa;
	unsigned int i, off = 0;

	fake_init(&f, 16, false);
	gpa = post_rx(&f, 4, 1024);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	CHECK(vring_publish(&f.vr));
	CHECK_EQ(fake_used(&f)->idx, 3);
	for (i = 0; i < 3; i++) {
		struct vring_used_elem *e = &fake_used(&f)->ring[i];

		CHECK_EQ(e->len, i < 2 ? 1024 : 3012 - 2048);
		memcpy(out + off, fake_ptr(&f, gpa + i * 1024ull), e->len);
		off += e->len;
	}
	CHECK_EQ(((struct virtio_net_hdr *)out)->num_buffers, 3);
	CHECK(frame_ok(out + 12, 3000));
	packet_free(p);
	fake_destroy(&f);
}

TEST(rx_mergeable_too_few_buffers_rewinds)
{
	struct fake f;
	struct packet *p = pattern_packet(3000);

	fake_init(&f, 16, false);
	post_rx(&f, 2, 1024);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), -ENOBUFS);
	CHECK_EQ(f.vr.last_avail, 0);
	CHECK_EQ(f.vr.used_idx, 0);
	CHECK(!vring_publish(&f.vr));
	post_rx(&f, 1, 1024);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	CHECK_EQ(f.vr.used_idx, 3);
	packet_free(p);
	fake_destroy(&f);
}

TEST(rx_single_buffer_too_small_is_kept)
{
	struct fake f;
	struct packet *big = pattern_packet(1500), *small = pattern_packet(60);
	uint64_t gpa;

	fake_init(&f, 16, false);
	gpa = post_rx(&f, 1, 1000);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, big, 12, false, 0), -EMSGSIZE);
	CHECK_EQ(f.vr.last_avail, 0);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, small, 12, false, 0), 0);
	vring_publish(&f.vr);
	CHECK_EQ(fake_used(&f)->ring[0].len, 72);
	CHECK(frame_ok(fake_ptr(&f, gpa + 12), 60));
	packet_free(big);
	packet_free(small);
	fake_destroy(&f);
}

/* Post one receive chain of a single @size-byte buffer; returns its GPA. */
static uint64_t post_rx_one(struct fake *f, uint32_t size)
{
	return post_rx(f, 1, size);
}

static uint32_t used_len(struct fake *f, uint16_t slot)
{
	return fake_used(f)->ring[slot % f->num].len;
}

TEST(rx_chain_too_short_for_any_frame_is_returned_empty)
{
	struct fake f;
	struct packet *p = pattern_packet(60);
	uint64_t gpa;

	/* Mergeable: chains shorter than the header (0 and 4 bytes). */
	fake_init(&f, 16, false);
	post_rx_one(&f, 0);
	post_rx_one(&f, 4);
	gpa = post_rx_one(&f, 2048);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	CHECK_EQ(f.vr.unusable, 2);
	CHECK(vring_publish(&f.vr));
	CHECK_EQ(fake_used(&f)->idx, 3);
	CHECK_EQ(used_len(&f, 0), 0);
	CHECK_EQ(used_len(&f, 1), 0);
	CHECK_EQ(used_len(&f, 2), 72);
	CHECK(frame_ok(fake_ptr(&f, gpa + 12), 60));
	fake_destroy(&f);

	/* Without mergeable buffers: shorter than header + Ethernet header. */
	fake_init(&f, 16, false);
	post_rx_one(&f, 12 + 13);
	gpa = post_rx_one(&f, 100);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, false, 0), 0);
	CHECK_EQ(f.vr.unusable, 1);
	vring_publish(&f.vr);
	CHECK_EQ(used_len(&f, 0), 0);
	CHECK_EQ(used_len(&f, 1), 72);
	CHECK(frame_ok(fake_ptr(&f, gpa + 12), 60));
	packet_free(p);
	fake_destroy(&f);
}

TEST(rx_mergeable_empty_later_chain_returns_the_frames_chains_empty)
{
	struct fake f;
	struct packet *p = pattern_packet(1500);
	uint8_t out[1512];
	uint64_t gpa;

	fake_init(&f, 16, false);
	post_rx_one(&f, 1024);
	post_rx_one(&f, 0);
	gpa = post_rx_one(&f, 2048);
	/*
	 * 1024 bytes go into the first chain, then the empty one ends it:
	 * both are completed empty, and the frame goes into the third.
	 */
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	CHECK_EQ(f.vr.unusable, 1);
	CHECK_EQ(f.vr.last_avail, 3);
	vring_publish(&f.vr);
	CHECK_EQ(fake_used(&f)->idx, 3);
	CHECK_EQ(used_len(&f, 0), 0);	/* in order, both empty */
	CHECK_EQ(used_len(&f, 1), 0);
	CHECK_EQ(used_len(&f, 2), 1512);
	memcpy(out, fake_ptr(&f, gpa), sizeof(out));
	CHECK_EQ(((struct virtio_net_hdr *)out)->num_buffers, 1);
	CHECK(frame_ok(out + 12, 1500));
	packet_free(p);
	fake_destroy(&f);
}

TEST(rx_chain_with_too_many_segments_is_returned_empty)
{
	struct fake f;
	struct packet *p = pattern_packet(60);
	uint16_t i, n = VRING_CHAIN_MAX_IOV + 1;
	uint64_t gpa;

	/* Descriptors 0..n-1: one legal chain of more segments than we take. */
	fake_init(&f, 128, false);
	gpa = fake_alloc(&f, 64ull * n);
	for (i = 0; i < n; i++)
		fake_set_desc(&f, i, gpa + 64ull * i, 64,
			      VRING_DESC_F_WRITE | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			      (uint16_t)(i + 1));
	fake_publish(&f, 0);
	gpa = fake_alloc(&f, 2048);
	fake_set_desc(&f, n, gpa, 2048, VRING_DESC_F_WRITE, 0);
	fake_publish(&f, n);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0), 0);
	CHECK_EQ(f.vr.unusable, 1);
	vring_publish(&f.vr);
	CHECK_EQ(used_len(&f, 0), 0);
	CHECK_EQ(used_len(&f, 1), 72);
	CHECK(frame_ok(fake_ptr(&f, gpa + 12), 60));
	packet_free(p);
	fake_destroy(&f);
}

TEST(rx_long_run_of_unusable_chains_is_taken_a_few_at_a_time)
{
	struct fake f;
	struct packet *p = pattern_packet(60);
	unsigned int i, calls = 0;
	int rc;

	fake_init(&f, 64, false);
	for (i = 0; i < 20; i++)
		post_rx_one(&f, 0);
	post_rx_one(&f, 2048);
	/* A bounded number per call: the rest waits, as for a full ring. */
	while ((rc = vnet_packet_to_guest(&f.vr, chain, p, 12, true, 0)) == -ENOBUFS &&
	       ++calls < 10)
		CHECK(f.vr.unusable <= 8 * calls);
	CHECK_EQ(rc, 0);
	CHECK_EQ(calls, 2);
	CHECK_EQ(f.vr.unusable, 20);
	vring_publish(&f.vr);
	CHECK_EQ(fake_used(&f)->idx, 21);
	CHECK_EQ(used_len(&f, 20), 72);
	packet_free(p);
	fake_destroy(&f);
}

TEST(index_wraparound_at_65535)
{
	struct fake f;
	unsigned int i;
	struct packet *p;

	fake_init(&f, 4, false);
	/* Pretend 65534 chains went by: used and avail sit just below wrap. */
	fake_used(&f)->idx = 65534;
	f.avail_idx = 65534;
	fake_avail(&f)->idx = 65534;
	f.vr.used_idx = f.vr.used_published = f.vr.last_avail = 65534;
	p = packet_alloc();
	for (i = 0; i < 6; i++) {
		fake_set_desc(&f, (uint16_t)(i % 4), tx_buffer(&f, 50), 62, 0, 0);
		fake_publish(&f, (uint16_t)(i % 4));
		CHECK_EQ(vring_avail_count(&f.vr), 1);
		CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
		CHECK_EQ(chain[0].head, i % 4);
		CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), 0);
		vring_push(&f.vr, chain[0].head, 0);
		vring_publish(&f.vr);
	}
	CHECK_EQ(fake_used(&f)->idx, 4);	/* 65534 + 6 wraps to 4 */
	packet_free(p);
	fake_destroy(&f);
}

TEST(event_idx_arithmetic)
{
	CHECK(vring_need_event(0, 1, 0));
	CHECK(!vring_need_event(1, 1, 0));
	CHECK(vring_need_event(65535, 0, 65535));	/* across the wrap */
	CHECK(vring_need_event(65534, 2, 65530));
	CHECK(!vring_need_event(3, 2, 65530));
	CHECK(vring_need_event(5, 10, 0));
	CHECK(!vring_need_event(10, 10, 0));
}

static uint64_t calls(int fd)
{
	eventfd_t v = 0;

	if (eventfd_read(fd, &v) < 0)
		return 0;
	return v;
}

TEST(event_idx_interrupt_suppression)
{
	struct fake f;
	int fd = eventfd(0, EFD_NONBLOCK);

	fake_init(&f, 8, true);
	f.vr.call_fd = fd;
	*(uint16_t *)&fake_avail(&f)->ring[8] = 1;	/* used_event: after 2nd */
	vring_push(&f.vr, 0, 0);
	vring_publish(&f.vr);
	vring_notify(&f.vr);
	CHECK_EQ(calls(fd), 1);		/* the first notify always signals */
	vring_push(&f.vr, 1, 0);
	vring_publish(&f.vr);
	vring_notify(&f.vr);
	CHECK_EQ(calls(fd), 1);		/* used idx passed used_event = 1 */
	vring_push(&f.vr, 2, 0);
	vring_publish(&f.vr);
	vring_notify(&f.vr);
	CHECK_EQ(calls(fd), 0);		/* guest did not ask again */
	close(fd);
	fake_destroy(&f);
}

TEST(no_interrupt_flag_without_event_idx)
{
	struct fake f;
	int fd = eventfd(0, EFD_NONBLOCK);

	fake_init(&f, 8, false);
	f.vr.call_fd = fd;
	fake_avail(&f)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vring_push(&f.vr, 0, 0);
	vring_publish(&f.vr);
	vring_notify(&f.vr);
	CHECK_EQ(calls(fd), 0);
	fake_avail(&f)->flags = 0;
	vring_notify(&f.vr);
	CHECK_EQ(calls(fd), 1);
	close(fd);
	fake_destroy(&f);
}

TEST(kick_suppression)
{
	struct fake f;

	fake_init(&f, 8, false);
	vring_kick_enable(&f.vr, false);
	CHECK_EQ(fake_used(&f)->flags, VRING_USED_F_NO_NOTIFY);
	vring_kick_enable(&f.vr, true);
	CHECK_EQ(fake_used(&f)->flags, 0);
	fake_destroy(&f);
	fake_init(&f, 8, true);
	f.vr.last_avail = 5;
	vring_kick_enable(&f.vr, true);
	CHECK_EQ(*(uint16_t *)&fake_used(&f)->ring[8], 5);
	fake_destroy(&f);
}

TEST(truncated_guest_memory_is_survived)
{
	struct fake f;
	struct packet *p;

	fake_init(&f, 8, false);
	CHECK_EQ(guest_mem_catch_sigbus(), 0);
	fake_set_desc(&f, 0, FAKE_GPA + FAKE_HALF + 8192, 200, 0, 0);
	fake_publish(&f, 0);
	/* The frontend shrinks the file: the buffer is now past its end. */
	CHECK_EQ(ftruncate(f.fd, 8192), 0);
	CHECK_EQ(vring_avail_count(&f.vr), 1);
	CHECK_EQ(vring_pop(&f.vr, &chain[0], false), 0);
	p = packet_alloc();
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, false), 0);	/* reads zeros */
	CHECK(guest_mem_faulted(&f.mem));
	CHECK_EQ(guest_mem_faults, 1);
	packet_free(p);
	guest_mem_unmap(&f.mem);
	CHECK_EQ(guest_mem_faults, 0);
	munmap(f.view, 2 * FAKE_HALF);
	close(f.fd);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	if (packet_pool_init(64))
		abort();
}

UNIT_MAIN(T(tx_single_descriptor), T(tx_header_in_own_descriptors),
	  T(tx_indirect_table), T(fault_descriptor_loop),
	  T(fault_head_and_next_out_of_range), T(fault_outside_memory),
	  T(buffer_across_region_edge_is_split), T(fault_indirect_rules),
	  T(fault_direction), T(fault_avail_index_jump),
	  T(tx_short_chain_is_a_runt), T(rx_mergeable_spans_buffers),
	  T(rx_mergeable_too_few_buffers_rewinds),
	  T(rx_single_buffer_too_small_is_kept),
	  T(rx_chain_too_short_for_any_frame_is_returned_empty),
	  T(rx_mergeable_empty_later_chain_returns_the_frames_chains_empty),
	  T(rx_chain_with_too_many_segments_is_returned_empty),
	  T(rx_long_run_of_unusable_chains_is_taken_a_few_at_a_time),
	  T(index_wraparound_at_65535),
	  T(event_idx_arithmetic), T(event_idx_interrupt_suppression),
	  T(no_interrupt_flag_without_event_idx), T(kick_suppression),
	  T(truncated_guest_memory_is_survived),
	  T(tx_large_frame_is_borrowed_small_is_copied),
	  T(borrowed_frame_goes_to_guest_in_one_copy),
	  T(borrowed_frame_into_split_buffers_is_linearized))
