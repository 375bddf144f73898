/* SPDX-License-Identifier: MIT */
/*
 * test_offload_path.c - offloaded frames along the datapath (issue 12): a
 * guest's TX chain with a virtio-net header into a packet (caps, large
 * buffers, refusals), the port layer making a frame fit its destination
 * (segment, complete the checksum, pass whole), and a packet into a
 * guest's receive buffers with the header that describes it. Results are
 * checked with tests/unit/frames.h, which sums bytes on its own.
 */
#include <errno.h>

#include "core/byteorder.h"
#include "fakemem.h"
#include "frames.h"
#include "pkt/packet.h"
#include "ports/port.h"
#include "unit.h"
#include "vhost/virtio_net.h"

#define ALL_TX	(PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_TSO6 | PKT_OFL_ECN)
#define MSS	1448

static struct vring_chain chain[2];
static uint8_t frame[PACKET_LARGE_MAX + 64];
static struct fr_info fi;

/* A port whose far end takes nothing now (a full kernel queue). */
static unsigned int tx_none(struct port *port)
{
	(void)port;
	return 0;
}

/* A port whose far end takes everything queued. */
static unsigned int tx_all(struct port *port)
{
	unsigned int n = link_count(&port->tx);

	port_tx_sent(port, n);
	return n;
}

static const struct port_ops fake_ops = { .type = "fake", .tx = tx_none };
static const struct port_ops draining_ops = { .type = "draining", .tx = tx_all };

/* The header a Linux guest sends with a GSO frame built by fr_build(). */
static struct virtio_net_hdr gso_hdr(bool ipv6, uint16_t mss)
{
	struct virtio_net_hdr h = { 0 };

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h.hdr_len = cpu_to_le16((uint16_t)fi.hlen);
	h.gso_size = cpu_to_le16(mss);
	h.csum_start = cpu_to_le16((uint16_t)fi.l4);
	h.csum_offset = cpu_to_le16(16);
	return h;
}

static struct virtio_net_hdr csum_hdr(void)
{
	struct virtio_net_hdr h = { 0 };

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = cpu_to_le16((uint16_t)fi.l4);
	h.csum_offset = cpu_to_le16(16);
	return h;
}

/*
 * Put header + frame into guest memory as one chain at descriptor @head,
 * in pieces of at most @piece bytes (the first piece holds 5 header bytes
 * only, so the header spans descriptors), or in one descriptor if @piece
 * is 0, and pop it.
 */
static int pop_chain(struct fake *f, uint16_t head, const struct virtio_net_hdr *h,
		     const uint8_t *fr, uint32_t len, uint32_t piece)
{
	uint64_t gpa = fake_alloc(f, 12 + len);
	uint8_t *b = fake_ptr(f, gpa);
	uint32_t off = 0, total = 12 + len, take;
	uint16_t d = head;

	memcpy(b, h, 12);
	memcpy(b + 12, fr, len);
	while (off < total) {
		if (!piece)
			take = total;	/* one descriptor */
		else
			take = off ? MIN(piece, total - off) : 5;
		fake_set_desc(f, d, gpa + off, take,
			      off + take < total ? VRING_DESC_F_NEXT : 0,
			      (uint16_t)(d + 1));
		off += take;
		d++;
	}
	fake_publish(f, head);
	if (vring_avail_count(&f->vr) != 1)
		return -1;
	return vring_pop(&f->vr, &chain[0], false);
}

/* A TCP frame of @payload bytes in frame[], pseudo-header sum in the field. */
static uint32_t tcp_frame(bool ipv6, uint32_t payload, uint8_t flags)
{
	struct fr_spec s = { .ipv6 = ipv6, .payload = payload, .flags = flags,
			     .ip_id = 0xfffe, .seq = 0xffffff00u,
			     .csum = FR_CSUM_PSEUDO };

	return fr_build(frame, &s, &fi);
}

TEST(chain_with_csum_header_needs_the_caps)
{
	struct fake f;
	struct virtio_net_hdr h;
	struct packet *p = packet_alloc();
	uint32_t len = tcp_frame(false, 300, FR_TCP_ACK);

	fake_init(&f, 64, false);
	h = csum_hdr();
	CHECK_EQ(pop_chain(&f, 0, &h, frame, len, 0), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, PKT_OFL_CSUM, p, true), 0);
	CHECK_EQ(p->len, len);
	CHECK(!p->ext);			/* offloaded frames are copied whole */
	CHECK(!memcmp(p->data, frame, len));
	CHECK_EQ(p->ofl.csum, PKT_CSUM_PARTIAL);
	CHECK_EQ(p->ofl.gso_type, PKT_GSO_NONE);
	CHECK_EQ(p->ofl.csum_start, fi.l4);
	CHECK_EQ(p->ofl.csum_offset, 16);
	packet_free(p);
	/* The same header from a guest that did not negotiate CSUM. */
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 10, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, 0, p, true), -EPROTO);
	packet_free(p);
	/* GSO without TSO4 in the caps (only CSUM). */
	p = packet_alloc();
	len = tcp_frame(false, 3000, FR_TCP_ACK);
	h = gso_hdr(false, MSS);
	CHECK_EQ(pop_chain(&f, 20, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, PKT_OFL_CSUM, p, true), -EPROTO);
	packet_free(p);
	/* DATA_VALID from a guest is not believed. */
	p = packet_alloc();
	len = tcp_frame(false, 300, FR_TCP_ACK);
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	CHECK_EQ(pop_chain(&f, 30, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), 0);
	CHECK_EQ(p->ofl.csum, PKT_CSUM_NONE);
	CHECK(!pkt_offloaded(p));
	packet_free(p);
	fake_destroy(&f);
}

TEST(gso_frame_over_9216_bytes_goes_into_a_large_buffer)
{
	struct fake f;
	struct virtio_net_hdr h;
	struct packet *p = packet_alloc();
	unsigned int large_before = packet_pool.nlarge_free;
	uint32_t len = tcp_frame(false, 30000, FR_TCP_ACK | FR_TCP_PSH);
	uint8_t *ip;

	CHECK(len > PACKET_DATA_MAX);
	fake_init(&f, 256, false);
	h = gso_hdr(false, MSS);
	h.hdr_len = cpu_to_le16(3);	/* a hint only */
	/* The guest's IPv4 header checksum is wrong: receivers see a good one. */
	frame[fi.l3 + 10] ^= 0x5a;
	CHECK_EQ(pop_chain(&f, 0, &h, frame, len, 1000), 0);
	CHECK(chain[0].niov > 20);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), 0);
	CHECK(p->large != NULL);
	CHECK_EQ(packet_pool.nlarge_free, large_before - 1);
	CHECK_EQ(p->len, len);
	CHECK(!p->ext);
	CHECK(!memcmp(p->data + fi.l4, frame + fi.l4, len - fi.l4));
	ip = p->data + fi.l3;
	CHECK(fr_ip_ok(p->data, &fi));
	CHECK(!fr_ip_ok(frame, &fi));
	CHECK_EQ(ip[10] ^ frame[fi.l3 + 10], 0x5a);	/* only the checksum moved */
	CHECK_EQ(p->ofl.gso_type, PKT_GSO_TCPV4);
	CHECK_EQ(p->ofl.gso_size, MSS);
	CHECK_EQ(p->ofl.l4_off, fi.l4);
	CHECK_EQ(p->ofl.l4_hlen, 20);
	CHECK_EQ(pkt_offload_nsegs(&p->ofl, p->len), (30000 + MSS - 1) / MSS);
	packet_free(p);
	CHECK_EQ(packet_pool.nlarge_free, large_before);
	fake_destroy(&f);
}

TEST(large_pool_running_dry_is_enobufs)
{
	struct packet *hold[PACKET_LARGE_POOL] = { 0 };
	struct virtio_net_hdr h;
	struct fake f;
	struct packet *p;
	uint64_t short_before = packet_pool.large_short;
	uint32_t len = tcp_frame(false, 12000, FR_TCP_ACK);
	unsigned int i, n = PACKET_LARGE_POOL;

	CHECK_EQ(packet_pool.nlarge_free, n);
	for (i = 0; i < n; i++) {
		hold[i] = packet_alloc();
		CHECK_EQ(packet_make_large(hold[i]), 0);
	}
	CHECK_EQ(packet_pool.nlarge_free, 0);
	fake_init(&f, 64, false);
	h = gso_hdr(false, MSS);
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 0, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), -ENOBUFS);
	CHECK_EQ(packet_pool.large_short, short_before + 1);
	CHECK(!p->large);
	packet_free(p);
	/* A frame that fits a normal buffer still goes. */
	p = packet_alloc();
	len = tcp_frame(false, 5000, FR_TCP_ACK);
	CHECK_EQ(pop_chain(&f, 10, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), 0);
	CHECK(!p->large);
	packet_free(p);
	/* One buffer back: the large frame fits again. */
	packet_free(hold[--n]);
	p = packet_alloc();
	len = tcp_frame(false, 12000, FR_TCP_ACK);
	CHECK_EQ(pop_chain(&f, 20, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), 0);
	CHECK(p->large != NULL);
	packet_free(p);
	while (n)
		packet_free(hold[--n]);
	CHECK_EQ(packet_pool.nlarge_free, PACKET_LARGE_POOL);
	fake_destroy(&f);
}

TEST(large_frame_without_gso_is_emsgsize)
{
	struct virtio_net_hdr h = { 0 };
	unsigned int large_before = packet_pool.nlarge_free;
	uint32_t len = tcp_frame(false, 10000, FR_TCP_ACK);
	struct fake f;
	struct packet *p;

	fake_init(&f, 64, false);
	/* No header at all. */
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 0, &h, frame, len, 0), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), -EMSGSIZE);
	packet_free(p);
	/* A checksum request is no reason to be long. */
	h = csum_hdr();
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 10, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), -EMSGSIZE);
	packet_free(p);
	/* GSO asked, but the guest negotiated no segmentation. */
	h = gso_hdr(false, MSS);
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 20, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, PKT_OFL_CSUM, p, true), -EMSGSIZE);
	packet_free(p);
	/* GSO, but longer than PACKET_LARGE_MAX. */
	len = tcp_frame(false, PACKET_LARGE_MAX - 50, FR_TCP_ACK);
	CHECK(len > PACKET_LARGE_MAX);
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 30, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), -EMSGSIZE);
	packet_free(p);
	/* GSO whose segments would not fit a packet: no port could take them. */
	len = tcp_frame(false, 30000, FR_TCP_ACK);
	h = gso_hdr(false, PACKET_DATA_MAX - 40);
	p = packet_alloc();
	CHECK_EQ(pop_chain(&f, 40, &h, frame, len, 4096), 0);
	CHECK_EQ(vnet_chain_to_packet(&chain[0], 12, ALL_TX, p, true), -EMSGSIZE);
	packet_free(p);
	CHECK_EQ(packet_pool.nlarge_free, large_before);
	fake_destroy(&f);
}

/* A packet holding frame[] with the offload state a guest's header gives. */
static struct packet *offloaded_packet(const struct virtio_net_hdr *h, uint32_t len)
{
	struct packet *p = packet_alloc();
	const char *why;

	if (len > PACKET_DATA_MAX && packet_make_large(p))
		abort();
	memcpy(p->data, frame, len);
	p->len = len;
	p->in_port = 0;
	if (pkt_offload_from_vnet_hdr(h, p->data, len, ALL_TX, &p->ofl, &why)) {
		printf("  refused: %s\n", why);
		abort();
	}
	return p;
}

static void fake_port(struct port *port, unsigned int offloads)
{
	port_init(port, "p", &fake_ops);
	port->up = true;
	port->tx_offloads = offloads;
}

/*
 * The segments on @port's tx link are the frame in frame[] (described by
 * fi) cut at @mss: lengths, ids, seq, flags, checksums (complete, or the
 * pseudo-header sum when @partial), payload. They are taken off the link.
 */
static void check_segments(struct port *port, uint32_t len, uint16_t mss,
			   bool ipv6, bool partial)
{
	uint32_t payload = len - fi.hlen, n = (payload + mss - 1) / mss, i;
	uint8_t flags0 = frame[fi.l4 + 13];
	struct fr_info si = fi;

	CHECK_EQ(link_count(&port->tx), n);
	for (i = 0; i < n && link_count(&port->tx); i++) {
		struct packet *s = link_get(&port->tx);
		uint32_t plen = i + 1 < n ? mss : payload - i * mss;
		uint8_t want = flags0;

		si.len = s->len;
		CHECK_EQ(s->len, fi.hlen + plen);
		CHECK(!memcmp(s->data, frame, fi.l3));	/* Ethernet header */
		CHECK(!memcmp(s->data + fi.hlen, frame + fi.hlen + (size_t)i * mss, plen));
		if (ipv6) {
			CHECK_EQ(fr_get16(s->data + fi.l3 + 4), s->len - fi.l4);
		} else {
			CHECK_EQ(fr_get16(s->data + fi.l3 + 2), s->len - fi.l3);
			CHECK_EQ(fr_get16(s->data + fi.l3 + 4),
				 (fr_get16(frame + fi.l3 + 4) + i) & 0xffff);
			CHECK(fr_ip_ok(s->data, &si));
		}
		CHECK_EQ(fr_get32(s->data + fi.l4 + 4),
			 (uint32_t)(fr_get32(frame + fi.l4 + 4) + i * mss));
		if (i + 1 < n)
			want &= (uint8_t)~(FR_TCP_FIN | FR_TCP_PSH);
		if (i)
			want &= (uint8_t)~FR_TCP_CWR;
		CHECK_EQ(s->data[fi.l4 + 13], want);
		CHECK_EQ(s->ofl.gso_type, PKT_GSO_NONE);
		if (partial) {
			CHECK_EQ(s->ofl.csum, PKT_CSUM_PARTIAL);
			CHECK_EQ(s->ofl.csum_start, fi.l4);
			CHECK_EQ(s->ofl.csum_offset, 16);
			CHECK_EQ(fr_get16(s->data + fi.l4 + 16),
				 fr_fold(fr_pseudo(s->data, &si, s->len - fi.l4)));
		} else {
			CHECK(fr_l4_ok(s->data, &si));
			CHECK(s->ofl.csum != PKT_CSUM_PARTIAL);
		}
		packet_free(s);
	}
}

TEST(enqueue_segments_for_a_port_without_offloads)
{
	struct virtio_net_hdr h;
	unsigned int nfree = packet_pool.nfree, nlarge = packet_pool.nlarge_free;
	struct port port;
	struct packet *p;
	uint32_t len;
	bool ipv6;

	for (ipv6 = false; ; ipv6 = true) {
		len = tcp_frame(ipv6, 40000, FR_TCP_ACK | FR_TCP_PSH | FR_TCP_FIN);
		h = gso_hdr(ipv6, MSS);
		fake_port(&port, 0);
		p = offloaded_packet(&h, len);
		port_enqueue(&port, p);
		CHECK_EQ(port.stats.gso_segmented, 1);
		CHECK_EQ(port.stats.csum_completed, 0);
		check_segments(&port, len, MSS, ipv6, false);
		if (ipv6)
			break;
	}
	CHECK_EQ(packet_pool.nfree, nfree);
	CHECK_EQ(packet_pool.nlarge_free, nlarge);
}

TEST(enqueue_segments_with_partial_csums_for_a_csum_only_port)
{
	struct virtio_net_hdr h;
	struct port port;
	uint32_t len = tcp_frame(false, 20000, FR_TCP_ACK | FR_TCP_CWR | FR_TCP_PSH);

	h = gso_hdr(false, 1000);
	h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	fake_port(&port, PKT_OFL_CSUM | PKT_OFL_TSO4);	/* TSO4 but not ECN */
	port_enqueue(&port, offloaded_packet(&h, len));
	CHECK_EQ(port.stats.gso_segmented, 1);
	check_segments(&port, len, 1000, false, true);
	/* CSUM only: segmented too, checksums left to the port. */
	h = gso_hdr(false, 1000);
	fake_port(&port, PKT_OFL_CSUM);
	port_enqueue(&port, offloaded_packet(&h, len));
	check_segments(&port, len, 1000, false, true);
}

TEST(enqueue_passes_whole_to_a_port_with_the_offload)
{
	struct virtio_net_hdr h;
	struct port port;
	struct packet *p, *q;
	uint32_t len = tcp_frame(true, 20000, FR_TCP_ACK);

	h = gso_hdr(true, MSS);
	fake_port(&port, PKT_OFL_CSUM | PKT_OFL_TSO6);
	p = offloaded_packet(&h, len);
	port_enqueue(&port, p);
	CHECK_EQ(link_count(&port.tx), 1);
	q = link_get(&port.tx);
	CHECK(q == p);
	CHECK_EQ(q->ofl.gso_type, PKT_GSO_TCPV6);
	CHECK(!memcmp(q->data, frame, len));
	CHECK_EQ(port.stats.gso_segmented + port.stats.csum_completed, 0);
	packet_free(q);
	/* TSO4 is not TSO6. */
	fake_port(&port, PKT_OFL_CSUM | PKT_OFL_TSO4);
	port_enqueue(&port, offloaded_packet(&h, len));
	check_segments(&port, len, MSS, true, true);
}

TEST(enqueue_completes_a_partial_csum_for_a_port_without_csum)
{
	struct virtio_net_hdr h;
	struct port port;
	struct packet *p;
	uint32_t len = tcp_frame(false, 1000, FR_TCP_ACK);

	h = csum_hdr();
	CHECK(!fr_l4_ok(frame, &fi));
	fake_port(&port, 0);
	port_enqueue(&port, offloaded_packet(&h, len));
	CHECK_EQ(port.stats.csum_completed, 1);
	CHECK_EQ(port.stats.gso_segmented, 0);
	CHECK_EQ(link_count(&port.tx), 1);
	p = link_get(&port.tx);
	CHECK(fr_l4_ok(p->data, &fi));
	CHECK(fr_ip_ok(p->data, &fi));
	CHECK_EQ(p->ofl.csum, PKT_CSUM_VALID);
	CHECK(!memcmp(p->data, frame, fi.l4 + 16));
	CHECK(!memcmp(p->data + fi.l4 + 18, frame + fi.l4 + 18, len - fi.l4 - 18));
	packet_free(p);
	/* A port that takes NEEDS_CSUM gets it as it is. */
	fake_port(&port, PKT_OFL_CSUM);
	port_enqueue(&port, offloaded_packet(&h, len));
	CHECK_EQ(port.stats.csum_completed, 0);
	p = link_get(&port.tx);
	CHECK_EQ(p->ofl.csum, PKT_CSUM_PARTIAL);
	CHECK(!memcmp(p->data, frame, len));
	packet_free(p);
	/* A GSO frame whose payload fits one segment is one partial frame. */
	len = tcp_frame(false, MSS, FR_TCP_ACK);
	h = gso_hdr(false, MSS);
	fake_port(&port, 0);
	port_enqueue(&port, offloaded_packet(&h, len));
	CHECK_EQ(port.stats.csum_completed, 1);
	CHECK_EQ(port.stats.gso_segmented, 0);
	CHECK_EQ(link_count(&port.tx), 1);
	p = link_get(&port.tx);
	CHECK(fr_l4_ok(p->data, &fi));
	packet_free(p);
}

/* Queue @n small frames on @port's tx link. */
static void fill_link(struct port *port, unsigned int n)
{
	while (n--) {
		struct packet *p = packet_alloc();

		p->len = 60;
		link_put(&port->tx, p);
	}
}

TEST(enqueue_segments_only_what_the_link_holds)
{
	struct virtio_net_hdr h;
	struct port port;
	unsigned int nfree = packet_pool.nfree;
	uint32_t len = tcp_frame(false, 9000, FR_TCP_ACK);

	h = gso_hdr(false, 100);	/* 90 segments */
	fake_port(&port, 0);
	fill_link(&port, LINK_SIZE - 50);
	port_enqueue(&port, offloaded_packet(&h, len));
	CHECK_EQ(port.stats.drops[DROP_LINK_FULL], 1);
	CHECK_EQ(port.stats.gso_segmented, 0);
	CHECK_EQ(link_count(&port.tx), LINK_SIZE - 50);
	link_flush(&port.tx);
	CHECK_EQ(packet_pool.nfree, nfree);
}

/* Short of room, the link is sent first: the frame is cut, not dropped. */
TEST(enqueue_sends_the_link_to_make_room_for_segments)
{
	struct virtio_net_hdr h = gso_hdr(false, 100);	/* 90 segments */
	struct port port;
	unsigned int nfree = packet_pool.nfree;
	uint32_t len = tcp_frame(false, 9000, FR_TCP_ACK);

	fake_port(&port, 0);
	port.ops = &draining_ops;
	fill_link(&port, LINK_SIZE - 50);
	port_enqueue(&port, offloaded_packet(&h, len));
	CHECK_EQ(port.stats.drops[DROP_LINK_FULL], 0);
	CHECK_EQ(port.stats.tx_packets, LINK_SIZE - 50);
	CHECK_EQ(port.stats.gso_segmented, 1);
	CHECK_EQ(link_count(&port.tx), 90);
	link_flush(&port.tx);
	CHECK_EQ(packet_pool.nfree, nfree);
}

/* Post @n receive buffers of @size bytes; returns the first GPA. */
static uint64_t post_rx(struct fake *f, unsigned int n, uint32_t size)
{
	uint64_t first = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t gpa = fake_alloc(f, size);
		uint16_t d = (uint16_t)(f->avail_idx % f->num);

		if (!i)
			first = gpa;
		fake_set_desc(f, d, gpa, size, VRING_DESC_F_WRITE, 0);
		fake_publish(f, d);
	}
	return first;
}

TEST(to_guest_writes_the_gso_header)
{
	struct fake f;
	struct virtio_net_hdr h, got;
	struct packet *p;
	uint32_t len = tcp_frame(false, 20000, FR_TCP_ACK), i, nbufs, copied = 0;
	uint64_t gpa;
	uint8_t *out = malloc(len);

	fake_init(&f, 64, false);
	nbufs = (12 + len + 2047) / 2048;
	gpa = post_rx(&f, nbufs + 2, 2048);
	h = gso_hdr(false, MSS);
	p = offloaded_packet(&h, len);
	/* A guest without TSO4 cannot take it: the port should have segmented. */
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true, PKT_OFL_CSUM), -EPROTO);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, true,
				      PKT_OFL_CSUM | PKT_OFL_TSO4), 0);
	CHECK(vring_publish(&f.vr));
	CHECK_EQ(fake_used(&f)->idx, nbufs);
	memcpy(&got, fake_ptr(&f, gpa), 12);
	CHECK_EQ(got.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ(got.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK_EQ(le16_to_cpu(got.gso_size), MSS);
	CHECK_EQ(le16_to_cpu(got.csum_start), fi.l4);
	CHECK_EQ(le16_to_cpu(got.csum_offset), 16);
	CHECK_EQ(le16_to_cpu(got.hdr_len), fi.hlen);
	CHECK_EQ(le16_to_cpu(got.num_buffers), nbufs);
	/* The buffers were allocated one after the other: one run of bytes. */
	for (i = 0; i < nbufs; i++) {
		uint32_t ulen = fake_used(&f)->ring[i].len;
		uint32_t skip = i ? 0 : 12;

		CHECK(ulen <= 2048);
		memcpy(out + copied, (uint8_t *)fake_ptr(&f, gpa + 2048ull * i) + skip,
		       ulen - skip);
		copied += ulen - skip;
	}
	CHECK_EQ(copied, len);
	CHECK(!memcmp(out, frame, len));
	packet_free(p);
	free(out);
	fake_destroy(&f);
}

TEST(to_guest_writes_csum_flags)
{
	struct fake f;
	struct virtio_net_hdr h, got;
	struct packet *p;
	uint32_t len = tcp_frame(true, 500, FR_TCP_ACK);
	uint64_t gpa;

	fake_init(&f, 64, false);
	/* Partial checksum to a guest with GUEST_CSUM, non-mergeable. */
	gpa = post_rx(&f, 1, 4096);
	h = csum_hdr();
	p = offloaded_packet(&h, len);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, false, PKT_OFL_CSUM), 0);
	memcpy(&got, fake_ptr(&f, gpa), 12);
	CHECK_EQ(got.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK_EQ(got.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	CHECK_EQ(le16_to_cpu(got.csum_start), fi.l4);
	CHECK_EQ(le16_to_cpu(got.csum_offset), 16);
	CHECK(!memcmp(fake_ptr(&f, gpa + 12), frame, len));
	/* ...but not to one without. */
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, false, 0), -EPROTO);
	/* Verified: DATA_VALID with GUEST_CSUM, nothing without. */
	p->ofl.csum = PKT_CSUM_VALID;
	gpa = post_rx(&f, 2, 4096);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, false, PKT_OFL_CSUM), 0);
	memcpy(&got, fake_ptr(&f, gpa), 12);
	CHECK_EQ(got.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	CHECK_EQ(vnet_packet_to_guest(&f.vr, chain, p, 12, false, 0), 0);
	memcpy(&got, fake_ptr(&f, gpa + 4096), 12);
	CHECK_EQ(got.flags, 0);
	CHECK_EQ(got.gso_type, 0);
	CHECK(vring_publish(&f.vr));
	CHECK_EQ(fake_used(&f)->idx, 3);
	packet_free(p);
	fake_destroy(&f);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	if (packet_pool_init(1024))
		abort();
}

UNIT_MAIN(T(chain_with_csum_header_needs_the_caps),
	  T(gso_frame_over_9216_bytes_goes_into_a_large_buffer),
	  T(large_pool_running_dry_is_enobufs),
	  T(large_frame_without_gso_is_emsgsize),
	  T(enqueue_segments_for_a_port_without_offloads),
	  T(enqueue_segments_with_partial_csums_for_a_csum_only_port),
	  T(enqueue_passes_whole_to_a_port_with_the_offload),
	  T(enqueue_completes_a_partial_csum_for_a_port_without_csum),
	  T(enqueue_segments_only_what_the_link_holds),
	  T(enqueue_sends_the_link_to_make_room_for_segments),
	  T(to_guest_writes_the_gso_header),
	  T(to_guest_writes_csum_flags))
