/* SPDX-License-Identifier: MIT */
/* test_bridge.c - learning, flooding, never back to the ingress port */
#include "switch/bridge.h"
#include "unit.h"

static const struct port_ops fake_ops = { .type = "fake" };

struct setup {
	struct bridge b;
	struct port port[3];
};

static void setup_bridge(struct setup *s)
{
	unsigned int i;

	bridge_init(&s->b, 64, 300);
	for (i = 0; i < 3; i++) {
		port_init(&s->port[i], "p", &fake_ops);
		s->port[i].up = true;
		bridge_add_port(&s->b, &s->port[i]);
	}
}

static void teardown(struct setup *s)
{
	unsigned int i;

	for (i = 0; i < 3; i++) {
		link_flush(&s->port[i].rx);
		link_flush(&s->port[i].tx);
	}
	bridge_destroy(&s->b);
}

/* Queue a frame on @src port's rx link with the given last bytes of the MACs. */
static void queue(struct setup *s, unsigned int src, uint8_t dst_last,
		  uint8_t src_last, bool bcast)
{
	struct packet *p = packet_alloc();
	uint8_t dst[6] = { 2, 0, 0, 0, 0, dst_last };
	uint8_t smac[6] = { 2, 0, 0, 0, 0, src_last };

	if (bcast)
		memset(dst, 0xff, 6);
	memcpy(p->data, dst, 6);
	memcpy(p->data + 6, smac, 6);
	p->len = 60;
	p->in_port = (uint16_t)src;
	link_put(&s->port[src].rx, p);
}

/* Frame from @src port, switched at once. */
static void send(struct setup *s, unsigned int src, uint8_t dst_last,
		 uint8_t src_last, bool bcast)
{
	queue(s, src, dst_last, src_last, bcast);
	bridge_forward(&s->b, &s->port[src]);
}

TEST(unknown_unicast_floods_then_learns)
{
	struct setup s;

	setup_bridge(&s);
	send(&s, 0, 0xb, 0xa, false);	/* A -> B, B unknown: flood */
	CHECK_EQ(link_count(&s.port[0].tx), 0);
	CHECK_EQ(link_count(&s.port[1].tx), 1);
	CHECK_EQ(link_count(&s.port[2].tx), 1);
	send(&s, 1, 0xa, 0xb, false);	/* B -> A: A was learned on port 0 */
	CHECK_EQ(link_count(&s.port[0].tx), 1);
	CHECK_EQ(link_count(&s.port[2].tx), 1);
	send(&s, 0, 0xb, 0xa, false);	/* A -> B: now unicast to port 1 */
	CHECK_EQ(link_count(&s.port[1].tx), 2);
	CHECK_EQ(link_count(&s.port[2].tx), 1);
	CHECK_EQ(s.b.stats.unicast, 2);
	CHECK_EQ(s.b.stats.flooded, 1);
	teardown(&s);
}

TEST(broadcast_goes_everywhere_but_ingress)
{
	struct setup s;
	unsigned int free_before = packet_pool.nfree;

	setup_bridge(&s);
	send(&s, 2, 0, 0xc, true);
	CHECK_EQ(link_count(&s.port[0].tx), 1);
	CHECK_EQ(link_count(&s.port[1].tx), 1);
	CHECK_EQ(link_count(&s.port[2].tx), 0);
	CHECK_EQ(packet_pool.nfree, free_before - 2);
	teardown(&s);
	CHECK_EQ(packet_pool.nfree, free_before);
}

TEST(frame_to_own_port_is_filtered)
{
	struct setup s;

	setup_bridge(&s);
	send(&s, 0, 0xb, 0xa, false);
	send(&s, 0, 0xa, 0xb, false);	/* B moved to port 0; A lives on 0 */
	CHECK_EQ(link_count(&s.port[0].tx), 0);
	CHECK_EQ(s.b.stats.filtered, 1);
	teardown(&s);
}

TEST(down_port_and_full_link_count_drops)
{
	struct setup s;
	unsigned int i;

	setup_bridge(&s);
	s.port[2].up = false;
	send(&s, 0, 0, 0xa, true);
	CHECK_EQ(s.port[2].stats.drops[DROP_PORT_DOWN], 0); /* not flooded to */
	send(&s, 1, 0xa, 0xb, false);
	for (i = 0; i < LINK_SIZE + 5; i++)
		send(&s, 1, 0xa, 0xb, false);
	CHECK_EQ(link_count(&s.port[0].tx), LINK_SIZE);
	CHECK_EQ(s.port[0].stats.drops[DROP_LINK_FULL], 6);
	teardown(&s);
}

static void pool(void) __attribute__((constructor));
static void pool(void)
{
	if (packet_pool_init(1024))
		abort();
}

/* One burst: a MAC moving mid-burst is seen by the frames after it. */
TEST(mac_move_inside_a_burst)
{
	struct setup s;

	setup_bridge(&s);
	send(&s, 1, 0xa, 0xb, false);	/* B learned on port 1 */
	queue(&s, 0, 0xb, 0xa, false);	/* A -> B: port 1 */
	queue(&s, 0, 0xb, 0xa, false);	/* again, from the burst's memory */
	queue(&s, 0, 0xb, 0xb, false);	/* B now sends from port 0 ... */
	queue(&s, 0, 0xb, 0xa, false);	/* ... so A -> B stays on port 0 */
	bridge_forward(&s.b, &s.port[0]);
	CHECK_EQ(link_count(&s.port[1].tx), 2);
	CHECK_EQ(s.b.stats.filtered, 2);
	CHECK_EQ(s.b.fdb.stats.moved, 1);
	teardown(&s);
}

UNIT_MAIN(T(unknown_unicast_floods_then_learns), T(mac_move_inside_a_burst),
	  T(broadcast_goes_everywhere_but_ingress),
	  T(frame_to_own_port_is_filtered), T(down_port_and_full_link_count_drops))
