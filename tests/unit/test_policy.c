/* SPDX-License-Identifier: MIT */
/* test_policy.c - VLAN tags, anti-spoofing, filters and policing at a port */
#include <string.h>

#include "core/cycles.h"
#include "ports/port.h"
#include "unit.h"

static const struct port_ops fake_ops = { .type = "fake" };

static struct packet *frame(const char *src_last, bool tagged, uint16_t vid)
{
	struct packet *p = packet_alloc();
	uint8_t *d = p->data;

	memset(d, 0, 64);
	memcpy(d, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(d + 6, "\x02\x00\x00\x00\x00", 5);
	d[11] = (uint8_t)*src_last;
	if (tagged) {
		d[12] = 0x81;
		d[13] = 0x00;
		d[14] = (uint8_t)(vid >> 8);
		d[15] = (uint8_t)vid;
		d[16] = 0x08;
	} else {
		d[12] = 0x08;
	}
	p->len = 64;
	return p;
}

static void set(struct port *port, const char *key, const char *value)
{
	struct port_options o = port->policy.opt;
	char why[128];

	CHECK_EQ(port_options_set(&o, key, value, why, sizeof(why)), 0);
	CHECK_EQ(policy_set(&port->policy, &o, why, sizeof(why)), 0);
}

TEST(access_port_tags_inside_only)
{
	struct port port;
	struct packet *p;

	port_init(&port, "a", &fake_ops);
	set(&port, "vlan", "10");
	p = frame("\x01", false, 0);
	CHECK(port_policy_in(&port, p, cycles_now()));
	CHECK_EQ(p->vlan, 10);
	CHECK(port_policy_out(&port, p, cycles_now()));		/* untagged on the way out */
	CHECK_EQ(p->len, 64);
	p->vlan = 11;
	CHECK(!port_policy_out(&port, p, cycles_now()));	/* other VLAN: not a member */
	packet_free(p);
	p = frame("\x01", true, 10);
	CHECK(!port_policy_in(&port, p, cycles_now()));	/* tagged frames refused */
	CHECK_EQ(port.stats.drops[DROP_VLAN], 2);
	packet_free(p);
	policy_clear(&port.policy);
}

TEST(trunk_port_pops_and_pushes_tags)
{
	struct port port;
	struct packet *p;

	port_init(&port, "t", &fake_ops);
	set(&port, "trunk", "10,20-22");
	p = frame("\x01", true, 21);
	CHECK(port_policy_in(&port, p, cycles_now()));
	CHECK_EQ(p->vlan, 21);
	CHECK_EQ(p->len, 60);
	CHECK_EQ(p->data[12], 0x08);		/* tag gone, ethertype back */
	CHECK(port_policy_out(&port, p, cycles_now()));
	CHECK_EQ(p->len, 64);
	CHECK_EQ(p->data[12], 0x81);
	CHECK_EQ(p->data[15], 21);
	packet_free(p);
	p = frame("\x01", true, 30);
	CHECK(!port_policy_in(&port, p, cycles_now()));
	packet_free(p);
	p = frame("\x01", false, 0);
	CHECK(!port_policy_in(&port, p, cycles_now()));	/* no native VLAN */
	packet_free(p);
	policy_clear(&port.policy);
}

TEST(spoofed_and_filtered_frames_dropped)
{
	struct port port;
	struct packet *p;
	struct port_options o = { 0 };
	char why[128];

	port_init(&port, "s", &fake_ops);
	set(&port, "allowed_macs", "02:00:00:00:00:01");
	p = frame("\x01", false, 0);
	CHECK(port_policy_in(&port, p, cycles_now()));
	packet_free(p);
	p = frame("\x07", false, 0);
	CHECK(!port_policy_in(&port, p, cycles_now()));
	CHECK_EQ(port.stats.drops[DROP_SPOOFED], 1);
	packet_free(p);
	set(&port, "ingress_filter", "not ip");
	p = frame("\x01", false, 0);		/* ethertype 0x0800: IPv4 */
	CHECK(!port_policy_in(&port, p, cycles_now()));
	CHECK_EQ(port.stats.drops[DROP_FILTERED], 1);
	packet_free(p);
	strcpy(o.ingress_filter, "not ( icmp");
	CHECK(policy_set(&port.policy, &o, why, sizeof(why)) != 0);
	CHECK(strstr(why, "syntax error") != NULL);
	CHECK(port.policy.ingress != NULL);	/* the old filter stays */
	policy_clear(&port.policy);
}

TEST(policer_passes_burst_then_drops)
{
	struct port port;
	unsigned int i, passed = 0;

	port_init(&port, "p", &fake_ops);
	set(&port, "rx_rate", "8K");		/* 1000 bytes/s */
	set(&port, "rx_burst", "640");
	for (i = 0; i < 20; i++) {
		struct packet *p = frame("\x01", false, 0);

		passed += port_policy_in(&port, p, cycles_now());
		packet_free(p);
	}
	CHECK_EQ(passed, 10);			/* 640 bytes of burst, 64 each */
	CHECK_EQ(port.stats.drops[DROP_POLICED], 10);
	policy_clear(&port.policy);
}

static void pool(void) __attribute__((constructor));
static void pool(void)
{
	if (packet_pool_init(64))
		abort();
}

UNIT_MAIN(T(access_port_tags_inside_only), T(trunk_port_pops_and_pushes_tags),
	  T(spoofed_and_filtered_frames_dropped), T(policer_passes_burst_then_drops))
