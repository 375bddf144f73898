/* SPDX-License-Identifier: MIT */
/* test_vu.c - vhost-user message parsing and handling, malformed input */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"
#include "vhost/virtio_net.h"
#include "vhost/vu_dev.h"

static int started, stopping;

static void on_started(struct vu_dev *d, struct vu_vq *q) { (void)d, (void)q; started++; }
static void on_stopping(struct vu_dev *d, struct vu_vq *q) { (void)d, (void)q; stopping++; }

static const struct vu_dev_ops ops = { on_started, on_stopping, NULL };

struct conn {
	int fe;			/* frontend end */
	int be;			/* backend end */
	struct vu_dev dev;
	struct vu_reader r;
};

static void conn_open(struct conn *c)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	c->fe = sv[0];
	c->be = sv[1];
	vu_dev_init(&c->dev, "test", 4, &ops, NULL);
	memset(&c->r, 0, sizeof(c->r));
	started = stopping = 0;
}

static void conn_close(struct conn *c)
{
	vu_reader_reset(&c->r);
	vu_dev_reset(&c->dev);
	close(c->fe);
	close(c->be);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void send_raw(struct conn *c, const void *buf, size_t len,
		     const int *fds, unsigned int nfds)
{
	char control[CMSG_SPACE(256 * sizeof(int))] = { 0 };
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	if (sendmsg(c->fe, &mh, 0) != (ssize_t)len)
		abort();
}

static void send_msg(struct conn *c, uint32_t req, uint32_t flags,
		     const void *payload, uint32_t size, const int *fds,
		     unsigned int nfds)
{
	uint8_t buf[sizeof(struct vu_hdr) + sizeof(union vu_payload)];
	struct vu_hdr h = { req, VHOST_USER_VERSION | flags, size };

	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), payload, size);
	send_raw(c, buf, sizeof(h) + size, fds, nfds);
}

/* Let the backend read and handle everything sent; returns the last rc. */
static int pump(struct conn *c)
{
	int rc;

	while ((rc = vu_msg_read(c->be, &c->r)) == 1) {
		rc = vu_dev_handle(&c->dev, &c->r.msg, c->be);
		vu_reader_reset(&c->r);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* Read one reply: returns its payload size, or -1 if none. */
static int reply(struct conn *c, struct vu_hdr *h, void *payload)
{
	ssize_t n = recv(c->fe, h, sizeof(*h), MSG_DONTWAIT);

	if (n != sizeof(*h))
		return -1;
	if (h->size && recv(c->fe, payload, h->size, MSG_DONTWAIT) != h->size)
		return -1;
	return (int)h->size;
}

static uint64_t call_u64(struct conn *c, uint32_t req)
{
	struct vu_hdr h;
	uint64_t v = 0;

	send_msg(c, req, 0, NULL, 0, NULL, 0);
	CHECK_EQ(pump(c), 0);
	CHECK_EQ(reply(c, &h, &v), 8);
	CHECK_EQ(h.flags, 0x5);
	CHECK_EQ(h.request, req);
	return v;
}

/* Everything offered but packed rings (negotiate_packed() adds them). */
static void negotiate_features(struct conn *c, bool packed)
{
	uint64_t f = call_u64(c, VHOST_USER_GET_FEATURES);
	uint64_t pf = call_u64(c, VHOST_USER_GET_PROTOCOL_FEATURES);

	if (!packed)
		f &= ~(1ull << VIRTIO_F_RING_PACKED);

	send_msg(c, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &pf, 8, NULL, 0);
	send_msg(c, VHOST_USER_SET_FEATURES, 0, &f, 8, NULL, 0);
	CHECK_EQ(pump(c), 0);
}

static void negotiate(struct conn *c)
{
	negotiate_features(c, false);
}

/* Send with NEED_REPLY and return the ack value (0 ok), or -1 without one. */
static int64_t acked(struct conn *c, uint32_t req, const void *payload,
		     uint32_t size, const int *fds, unsigned int nfds)
{
	struct vu_hdr h;
	uint64_t v;

	send_msg(c, req, VHOST_USER_NEED_REPLY_FLAG, payload, size, fds, nfds);
	pump(c);
	if (reply(c, &h, &v) != 8)
		return -1;
	return (int64_t)v;
}

TEST(features_reply_exact)
{
	struct conn c;
	uint64_t f;

	conn_open(&c);
	f = call_u64(&c, VHOST_USER_GET_FEATURES);
	CHECK(f & (1ull << 32));	/* VERSION_1 */
	CHECK(f & (1ull << 15));	/* MRG_RXBUF */
	CHECK(f & (1ull << 22));	/* MQ */
	CHECK(!(f & (1ull << 40)));	/* never RING_RESET */
	CHECK_EQ(call_u64(&c, VHOST_USER_GET_QUEUE_NUM), 4);
	CHECK(f & (1ull << 26));	/* LOG_ALL: migration */
	CHECK(f & (1ull << 34));	/* RING_PACKED */
	CHECK_EQ(call_u64(&c, VHOST_USER_GET_PROTOCOL_FEATURES), 0xf);
	conn_close(&c);
}

TEST(message_in_pieces)
{
	struct conn c;
	struct vu_hdr h = { VHOST_USER_GET_FEATURES, 1, 0 };

	conn_open(&c);
	send_raw(&c, &h, 5, NULL, 0);
	CHECK_EQ(vu_msg_read(c.be, &c.r), 0);
	send_raw(&c, (char *)&h + 5, 7, NULL, 0);
	CHECK_EQ(vu_msg_read(c.be, &c.r), 1);
	CHECK_EQ(c.r.msg.hdr.request, VHOST_USER_GET_FEATURES);
	conn_close(&c);
}

TEST(oversized_and_closed)
{
	struct conn c;
	struct vu_hdr h = { VHOST_USER_SET_FEATURES, 1, 100000 };

	conn_open(&c);
	send_raw(&c, &h, sizeof(h), NULL, 0);
	CHECK_EQ(vu_msg_read(c.be, &c.r), -EMSGSIZE);
	conn_close(&c);
	conn_open(&c);
	close(c.fe);
	c.fe = open("/dev/null", 0);
	CHECK_EQ(vu_msg_read(c.be, &c.r), -EPIPE);
	conn_close(&c);
}

TEST(many_fds_are_closed)
{
	struct conn c;
	int fds[200], before, i;
	uint64_t v = 0x100;

	conn_open(&c);
	before = open_fds();
	for (i = 0; i < 200; i++)
		fds[i] = eventfd(0, 0);
	send_msg(&c, VHOST_USER_SET_VRING_CALL, 0, &v, 8, fds, 200);
	for (i = 0; i < 200; i++)
		close(fds[i]);
	CHECK_EQ(pump(&c), -EIO);	/* no ack asked: the device breaks */
	CHECK(c.dev.broken);
	CHECK_EQ(open_fds(), before);
	conn_close(&c);
}

TEST(unknown_request)
{
	struct conn c;
	uint64_t v = 0;

	conn_open(&c);
	negotiate(&c);
	CHECK_EQ(acked(&c, 99, &v, 8, NULL, 0), 1);	/* nacked, still open */
	CHECK(!c.dev.broken);
	send_msg(&c, 1234, 0, &v, 8, NULL, 0);
	CHECK_EQ(pump(&c), -EIO);			/* no ack: closed */
	conn_close(&c);
}

TEST(bad_ring_messages)
{
	struct conn c;
	struct vu_vring_state s;
	struct vu_vring_addr a = { 0 };
	uint64_t v;

	conn_open(&c);
	negotiate(&c);
	s = (struct vu_vring_state){ 0xffffffff, 256 };
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	s = (struct vu_vring_state){ 8, 256 };	/* 4 pairs: rings 0..7 */
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	s = (struct vu_vring_state){ 0, 3 };
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	s.num = 0;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	s.num = 65536;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	CHECK_EQ(c.dev.vq[0].num, 0);		/* nothing refused was kept */
	s.num = 256;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 0);
	a.index = 0x10000;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 1);
	v = 0x100 | 300;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_KICK, &v, 8, NULL, 0), 1);
	/* A kick before memory and addresses: the device is broken. */
	v = 0x100;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_KICK, &v, 8, NULL, 0), 1);
	CHECK(c.dev.broken);
	conn_close(&c);
}

TEST(get_vring_base_before_setup)
{
	struct conn c;
	struct vu_vring_state s = { 1, 0 }, out = { 0, 0 };
	struct vu_hdr h;

	conn_open(&c);
	send_msg(&c, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
	CHECK_EQ(pump(&c), 0);
	CHECK_EQ(reply(&c, &h, &out), 8);
	CHECK_EQ(out.index, 1);
	CHECK_EQ(out.num, 0);
	conn_close(&c);
}

/* A memory table of @n regions over one memfd of @fdsize bytes. */
static int64_t mem_table(struct conn *c, unsigned int n, unsigned int nfds,
			 uint64_t size, uint64_t offset, off_t fdsize)
{
	struct vu_mem_table t = { .nregions = n };
	int fd = memfd_create("g", 0), fds[VU_MAX_FDS + 1];
	unsigned int i;
	int64_t rc;

	if (ftruncate(fd, fdsize) < 0)
		abort();
	for (i = 0; i < VU_MEM_MAX_REGIONS && i < n; i++)
		t.region[i] = (struct vu_mem_region){ i * size, size,
						      0x10000000 + i * size, offset };
	for (i = 0; i < nfds; i++)
		fds[i] = fd;
	rc = acked(c, VHOST_USER_SET_MEM_TABLE, &t,
		   8 + MIN(n, 8u) * sizeof(t.region[0]), fds, nfds);
	close(fd);
	return rc;
}

TEST(bad_memory_tables)
{
	struct conn c;
	int before;

	conn_open(&c);
	negotiate(&c);
	before = open_fds();
	CHECK_EQ(mem_table(&c, 0, 0, 4096, 0, 1 << 20), 1);
	CHECK_EQ(mem_table(&c, 9, 8, 4096, 0, 1 << 20), 1);
	CHECK_EQ(mem_table(&c, 2, 1, 4096, 0, 1 << 20), 1);	/* fd count */
	CHECK_EQ(mem_table(&c, 1, 1, 4096, UINT64_MAX - 100, 1 << 20), 1);
	CHECK_EQ(mem_table(&c, 1, 1, 2 << 20, 0, 1 << 20), 1);	/* beyond fd */
	CHECK_EQ(c.dev.mem.nregions, 0);
	CHECK_EQ(open_fds(), before);
	CHECK_EQ(mem_table(&c, 2, 2, 1 << 19, 0, 1 << 20), 0);
	CHECK_EQ(c.dev.mem.nregions, 2);
	CHECK_EQ(mem_table(&c, 1, 1, 1 << 20, 0, 1 << 20), 0);	/* replaced */
	CHECK_EQ(c.dev.mem.nregions, 1);
	CHECK(!c.dev.broken);
	conn_close(&c);
	CHECK_EQ(open_fds(), before - 2);	/* socketpair closed too */
}

TEST(ring_starts_and_stops_keeping_its_place)
{
	struct conn c;
	struct vu_vring_state s = { 1, 256 }, out = { 0, 0 };
	struct vu_vring_addr a = { .index = 1 };
	struct vu_hdr h;
	int kick = eventfd(0, 0);
	uint64_t v = 1;

	conn_open(&c);
	negotiate(&c);
	CHECK_EQ(mem_table(&c, 1, 1, 1 << 20, 0, 1 << 20), 0);
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 0);
	s.num = 7;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0), 0);
	a.desc_user_addr = 0x10000000;
	a.avail_user_addr = 0x10001000;
	a.used_user_addr = 0x10002000;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	s.num = 1;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_ENABLE, &s, 8, NULL, 0), 0);
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_KICK, &v, 8, &kick, 1), 0);
	CHECK(c.dev.vq[1].started && c.dev.vq[1].enabled);
	CHECK_EQ(started, 1);
	/* The ring's layout depends on EVENT_IDX: no feature change while it runs. */
	v = c.dev.features ^ (1ull << 29);
	CHECK_EQ(acked(&c, VHOST_USER_SET_FEATURES, &v, 8, NULL, 0), 1);
	v = c.dev.features;
	CHECK_EQ(acked(&c, VHOST_USER_SET_FEATURES, &v, 8, NULL, 0), 0);
	/* Fresh memory: used->idx is 0, which wins over the base of 7. */
	CHECK_EQ(c.dev.vq[1].vr.last_avail, 0);
	c.dev.vq[1].vr.last_avail = 42;
	s = (struct vu_vring_state){ 1, 0 };
	send_msg(&c, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
	CHECK_EQ(pump(&c), 0);
	CHECK_EQ(reply(&c, &h, &out), 8);
	CHECK_EQ(out.num, 42);
	CHECK_EQ(stopping, 1);
	CHECK(!c.dev.vq[1].started);
	CHECK(c.dev.vq[1].enabled);	/* enable state survives a stop */
	close(kick);
	conn_close(&c);
}

/*
 * A packed ring: any size, the base in both halves (avail and used index,
 * wrap counters in bit 15), given back as it is by GET_VRING_BASE; a base
 * that does not fit the ring is refused.
 */
TEST(packed_ring_keeps_its_base)
{
	struct conn c;
	struct vu_vring_state s = { 1, 100 }, out = { 0, 0 };
	struct vu_vring_addr a = { .index = 1 };
	struct vu_hdr h;
	int kick = eventfd(0, 0);
	uint64_t v = 1;
	uint32_t base = (1u << 15 | 37) | (1u << 15 | 37) << 16;

	conn_open(&c);
	negotiate_features(&c, true);
	CHECK(vu_dev_has(&c.dev, VIRTIO_F_RING_PACKED));
	CHECK_EQ(mem_table(&c, 1, 1, 1 << 20, 0, 1 << 20), 0);
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 0);
	s.num = 100;			/* index 100 of a ring of 100 */
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0), 1);
	s.num = base;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_BASE, &s, 8, NULL, 0), 0);
	a.desc_user_addr = 0x10000000;
	a.avail_user_addr = 0x10001000;
	a.used_user_addr = 0x10001004;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_KICK, &v, 8, &kick, 1), 0);
	CHECK(c.dev.vq[1].started && c.dev.vq[1].packed);
	CHECK_EQ(c.dev.vq[1].vp.num, 100);
	CHECK_EQ(c.dev.vq[1].vp.last_avail, 37);
	CHECK(c.dev.vq[1].vp.avail_wrap);
	s = (struct vu_vring_state){ 1, 0 };
	send_msg(&c, VHOST_USER_GET_VRING_BASE, 0, &s, 8, NULL, 0);
	CHECK_EQ(pump(&c), 0);
	CHECK_EQ(reply(&c, &h, &out), 8);
	CHECK_EQ(out.num, base);
	CHECK(!c.dev.vq[1].started);
	CHECK(c.dev.vq[1].vp.buf == NULL);	/* tracking freed at the stop */
	close(kick);
	conn_close(&c);
}

/* Without packed rings negotiated a ring size must be a power of two. */
TEST(split_ring_size_power_of_two)
{
	struct conn c;
	struct vu_vring_state s = { 0, 100 };

	conn_open(&c);
	negotiate(&c);
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	s.num = 128;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 0);
	s.num = 0;
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_NUM, &s, 8, NULL, 0), 1);
	conn_close(&c);
}

TEST(call_and_kick_fds_must_be_eventfds)
{
	struct conn c;
	int p[2], ev = eventfd(0, 0), before;
	uint64_t v = 0;

	CHECK_EQ(pipe(p), 0);
	conn_open(&c);
	negotiate(&c);
	before = open_fds();
	/* A full blocking pipe as call fd would hang the loop in a write. */
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_CALL, &v, 8, &p[1], 1), 1);
	CHECK_EQ(c.dev.vq[0].call_fd, -1);
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_KICK, &v, 8, &p[0], 1), 1);
	CHECK_EQ(c.dev.vq[0].kick_fd, -1);
	CHECK_EQ(open_fds(), before);		/* the refused fds are closed */
	CHECK_EQ(acked(&c, VHOST_USER_SET_VRING_CALL, &v, 8, &ev, 1), 0);
	CHECK(c.dev.vq[0].call_fd >= 0);
	CHECK(!c.dev.broken);
	close(p[0]);
	close(p[1]);
	close(ev);
	conn_close(&c);
}

UNIT_MAIN(T(features_reply_exact), T(message_in_pieces),
	  T(oversized_and_closed), T(many_fds_are_closed), T(unknown_request),
	  T(bad_ring_messages), T(get_vring_base_before_setup),
	  T(bad_memory_tables), T(ring_starts_and_stops_keeping_its_place),
	  T(packed_ring_keeps_its_base), T(split_ring_size_power_of_two),
	  T(call_and_kick_fds_must_be_eventfds))
