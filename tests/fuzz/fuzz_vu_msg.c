/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vu_msg.c - libFuzzer target for the vhost-user message path
 *
 * The input is a list of records. Each record is written into one end of a
 * socketpair with one sendmsg(), with 0..12 fds (eventfds, memfds of a chosen
 * size, or pipes) attached as SCM_RIGHTS. The other end is drained with
 * vu_msg_read() + vu_dev_handle() against a real vu_dev, exactly as
 * port_vhost's on_socket() does. A failure resets the device (a frontend
 * reconnecting) and reading carries on, so state built before the failure
 * does not stop the rest of the input from being explored.
 *
 * Record layout (little endian):
 *   u8  ctl	bits 0-3: number of fds (0..15, capped at 12)
 *		bits 4-7: fd i < 4 is a "memory" fd when bit 4+i is set,
 *			  otherwise an eventfd; fds 4.. are eventfds
 *   u8  mem	bits 0-3: memfd size (index into mem_sizes[])
 *		bit 4:    the "memory" fds are pipes (not regular files)
 *		bit 5:    the "memory" fds are the same memfd sent N times
 *   u16 len	bytes of stream data that follow (truncated at the end)
 *   len bytes
 *
 * After every handled message, every started ring of a healthy device is
 * checked: its three parts must lie inside the mapped guest memory with the
 * sizes the ring will actually touch (vr->event_idx decides that), and the
 * ring is then touched as the datapath would (avail count, kick enable,
 * publish, notify). A ring that points outside its memory aborts.
 *
 * At the end of each input the device is reset, everything closed, and the
 * number of open fds must equal the number when the input began.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "fuzz_log.h"
#include "fuzz_util.h"
#include "vhost/vu_dev.h"

#define MAX_RECORD_FDS	12
#define MAX_MESSAGES	512	/* per input: bounds the time of one run */

static const off_t mem_sizes[16] = {
	65536, 4096, 1 << 20, 0, 12345, 2 << 20, 8192, 131072,
	4095, 65536 + 100, 16384, 3 << 12, 1, 262144, 32768, 65536,
};


static void on_started(struct vu_dev *d, struct vu_vq *q) { (void)d, (void)q; }
static void on_stopping(struct vu_dev *d, struct vu_vq *q) { (void)d, (void)q; }

static const struct vu_dev_ops ops = { on_started, on_stopping, NULL };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_log_setup();
	return 0;
}

/* One "memory" fd as selected by @mem. */
static int make_mem_fd(uint8_t mem, int *shared)
{
	int fd, p[2];

	if (mem & 0x10) {
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		close(p[1]);
		return p[0];
	}
	if (mem & 0x20 && *shared >= 0)
		return dup(*shared);
	fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, mem_sizes[mem & 0xf]) < 0)
		abort();
	if (mem & 0x20)
		*shared = dup(fd);
	return fd;
}

/* Send @len bytes with the fds described by @ctl/@mem; returns bytes sent. */
static ssize_t send_record(int sock, uint8_t ctl, uint8_t mem,
			   const uint8_t *data, size_t len)
{
	char control[CMSG_SPACE(MAX_RECORD_FDS * sizeof(int))];
	unsigned int nfds = ctl & 0xf, i;
	int fds[MAX_RECORD_FDS], shared = -1;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > MAX_RECORD_FDS)
		nfds = MAX_RECORD_FDS;
	if (!len)		/* fds need at least one byte to ride on */
		nfds = 0;
	for (i = 0; i < nfds; i++) {
		if (i < 4 && ctl & (0x10 << i))
			fds[i] = make_mem_fd(mem, &shared);
		else
			fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fds[i] < 0)
			abort();
	}
	if (shared >= 0)
		close(shared);
	if (nfds) {
		struct cmsghdr *cm;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (i = 0; i < nfds; i++)	/* in flight now (or refused): ours go */
		close(fds[i]);
	return n;
}

/* Read and throw away the replies, so the reply socket never fills up. */
static void drain_replies(int sock)
{
	char buf[4096];

	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Is [p, p + len) inside one mapped region of @m (host addresses)? */
static bool host_range_ok(const struct guest_mem *m, const void *p, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < m->nregions; i++) {
		const struct guest_region *r = &m->region[i];
		uintptr_t off = (uintptr_t)p - (uintptr_t)r->host;

		if ((uintptr_t)p >= (uintptr_t)r->host && off < r->size &&
		    len <= r->size - off)
			return true;
	}
	return false;
}

/*
 * What the datapath would do next with every started ring, after first
 * checking that each part it touches is in guest memory with the sizes the
 * ring state implies (not the sizes the features imply now).
 */
static void check_and_touch_rings(struct vu_dev *dev)
{
	unsigned int i;

	if (dev->broken)
		return;		/* the port disconnects first */
	for (i = 0; i < VU_MAX_VQS; i++) {
		struct vu_vq *vq = &dev->vq[i];
		struct vring *vr = &vq->vr;

		if (!vq->started)
			continue;
		if (i >= 2 * dev->max_queue_pairs) {
			dprintf(2, "BUG: ring %u started beyond %u queue pairs\n",
				i, dev->max_queue_pairs);
			abort();
		}
		if (vr->mem != &dev->mem || vr->num != vq->num ||
		    !host_range_ok(&dev->mem, vr->desc, 16ull * vr->num) ||
		    !host_range_ok(&dev->mem, vr->avail,
				   vring_avail_size(vr->num, vr->event_idx)) ||
		    !host_range_ok(&dev->mem, vr->used,
				   vring_used_size(vr->num, vr->event_idx))) {
			dprintf(2, "BUG: started ring %u (size %u, event_idx %d) "
				"lies outside guest memory: desc %p avail %p used %p\n",
				i, vr->num, vr->event_idx, (void *)vr->desc,
				(void *)vr->avail, (void *)vr->used);
			abort();
		}
		if (vring_avail_count(vr) < 0)
			continue;	/* a guest fault; the ring is not used */
		vring_kick_enable(vr, true);
		vring_kick_enable(vr, false);
		vring_push(vr, 0, 0);
		vring_unpush(vr, 1);
		vring_publish(vr);
		vring_notify(vr);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vu_reader reader;
	struct vu_dev dev;
	unsigned int messages = 0;
	size_t pos = 0;
	int sv[2], rc, qp, baseline_fds;

	/*
	 * Counted per input: LeakSanitizer's checks between inputs may leave
	 * fds of their own open, and those are not ours to account for.
	 */
	baseline_fds = fuzz_count_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* The port's queue pairs: 4 by default, 1 or 16 now and then. */
	qp = size && data[0] == 0xff ? 16 : size && data[0] == 0xfe ? 1 : 4;
	vu_dev_init(&dev, "fuzz", (unsigned int)qp, &ops, NULL);
	memset(&reader, 0, sizeof(reader));

	while (pos < size) {
		uint8_t ctl = data[pos], mem = pos + 1 < size ? data[pos + 1] : 0;
		size_t len = 0;

		if (pos + 4 <= size)
			len = data[pos + 2] | (size_t)data[pos + 3] << 8;
		pos = pos + 4 <= size ? pos + 4 : size;
		if (len > size - pos)
			len = size - pos;
		if (send_record(sv[0], ctl, mem, data + pos, len) < 0 && len)
			break;	/* socket buffer full: stop here */
		pos += len;

		for (;;) {
			rc = vu_msg_read(sv[1], &reader);
			if (rc <= 0)
				break;
			rc = vu_dev_handle(&dev, &reader.msg, sv[1]);
			vu_reader_reset(&reader);
			drain_replies(sv[0]);
			if (rc < 0 || ++messages >= MAX_MESSAGES)
				break;
			check_and_touch_rings(&dev);
		}
		if (rc < 0) {
			/* What disconnect() does; then a new session begins. */
			vu_reader_reset(&reader);
			vu_dev_reset(&dev);
		}
		if (messages >= MAX_MESSAGES)
			break;
	}

	vu_reader_reset(&reader);
	vu_dev_reset(&dev);
	close(sv[0]);
	close(sv[1]);
	if (dev.mem.nregions) {
		dprintf(2, "BUG: memory still mapped after vu_dev_reset\n");
		abort();
	}
	fuzz_check_fds(baseline_fds, "after an input");
	return 0;
}
