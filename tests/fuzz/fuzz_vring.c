/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vring.c - libFuzzer target for the split-ring walker and the
 * virtio-net copy code over fuzzed guest memory
 *
 * Guest memory is two memfd-backed regions mapped by the real
 * guest_mem_map(), each then moved (mremap) between two PROT_NONE guard
 * pages, so a read or write one byte outside a region faults at once. ASan
 * covers our own heap and stack. Region 0 holds the ring at its start;
 * both hold buffers. Region 1 follows region 0 in guest-physical space (a
 * buffer may cross the edge and be split), or sits elsewhere.
 *
 * Input layout:
 *   [0]     log2 of the ring size (& 7: 1..128)
 *   [1]     flags: 1 EVENT_IDX, 2 12-byte header (else 10), 4 call fd,
 *           8 region 1 not contiguous with region 0, 16 legacy: hdr 10
 *   [2..3]  used->idx (and SET_VRING_BASE) at start, little endian
 *   [4]     number of operation bytes that follow (capped at MAX_OPS)
 *   ops     one byte each, some with one argument byte (see run_op())
 *   rest    guest memory image: copied from GPA REGION0_GPA on (descriptor
 *           table, avail ring, used ring, then buffers and indirect tables);
 *           memory past the image is zero
 *
 * GPAs: region 0 is [0x10000, 0x14000), region 1 [0x14000, 0x16000) or
 * [0x40000, 0x42000). The descriptor table starts at 0x10000, the avail
 * ring right after it, the used ring after that (4-byte aligned).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "fuzz_log.h"
#include "pkt/packet.h"
#include "vhost/guest_mem.h"
#include "vhost/virtio_net.h"
#include "vhost/vring.h"

#define PAGE		4096ull
#define REGION0_GPA	0x10000ull
#define REGION0_SIZE	(4 * PAGE)
#define REGION1_GPA	(REGION0_GPA + REGION0_SIZE)
#define REGION1_FAR	0x40000ull
#define REGION1_SIZE	(2 * PAGE)
#define MAX_OPS		64

static struct guest_mem mem;
static uint8_t *guard[2][2];		/* PROT_NONE pages around each region */
static int call_fd = -1;
static struct packet pkt;
static struct vring_chain chain[2];
static unsigned int caps;	/* offloads negotiated in this run */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const uint64_t sizes[2] = { REGION0_SIZE, REGION1_SIZE };
	struct guest_region_desc d[2] = {
		{ REGION0_GPA, REGION0_SIZE, 0x7f0000000000ull, 0 },
		{ REGION1_GPA, REGION1_SIZE, 0x7f1000000000ull, 0 },
	};
	int fds[2];
	char why[128];
	unsigned int i;

	(void)argc, (void)argv;
	fuzz_log_setup();
	for (i = 0; i < 2; i++) {
		fds[i] = memfd_create("fuzz-guest", MFD_CLOEXEC);
		if (fds[i] < 0 || ftruncate(fds[i], (off_t)sizes[i]) < 0)
			abort();
	}
	if (guest_mem_map(&mem, d, fds, 2, why, sizeof(why))) {
		dprintf(2, "guest_mem_map: %s\n", why);
		abort();
	}
	for (i = 0; i < 2; i++) {
		struct guest_region *r = &mem.region[i];
		uint8_t *res, *moved;

		/* The mapping is exactly the region: offset 0, whole pages. */
		if (r->map_len != sizes[i] || r->host != r->map)
			abort();
		res = mmap(NULL, r->map_len + 2 * PAGE, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (res == MAP_FAILED)
			abort();
		guest_mem_untrack(r);
		moved = mremap(r->map, r->map_len, r->map_len,
			       MREMAP_MAYMOVE | MREMAP_FIXED, res + PAGE);
		if (moved != res + PAGE)
			abort();
		r->map = r->host = moved;
		guest_mem_track(r);
		guard[i][0] = res;
		guard[i][1] = res + PAGE + r->map_len;
		close(fds[i]);
	}
	call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pkt.data = pkt.buf + PACKET_HEADROOM;
	if (packet_pool_init(4))	/* large frames take a large buffer */
		abort();
	return 0;
}

static inline uint8_t *gpa_host(uint64_t gpa)
{
	if (gpa - REGION0_GPA < REGION0_SIZE)
		return mem.region[0].host + (gpa - REGION0_GPA);
	return mem.region[1].host + (gpa - mem.region[1].gpa);
}

/* A frame of @len bytes for delivery; contents do not matter to the ring. */
static void make_packet(unsigned int len, bool partial)
{
	if (len > PACKET_DATA_MAX)
		len = PACKET_DATA_MAX;
	memset(pkt.data, 0xa5, len);
	pkt.len = len;
	pkt.ofl = (struct pkt_offload){ 0 };
	if (partial && (caps & PKT_OFL_CSUM))	/* a header with NEEDS_CSUM */
		pkt.ofl = (struct pkt_offload){ .csum = PKT_CSUM_PARTIAL,
						.csum_start = 34, .csum_offset = 16 };
}

/* Is every iovec of @c inside guest memory? (The walker's own promise.) */
static void check_chain(const struct vring_chain *c)
{
	unsigned int i, j;
	uint64_t total = 0;

	if (c->niov > VRING_CHAIN_MAX_IOV)
		abort();
	for (i = 0; i < c->niov; i++) {
		const uint8_t *b = c->iov[i].iov_base;
		bool ok = false;

		for (j = 0; j < mem.nregions; j++) {
			const struct guest_region *r = &mem.region[j];

			if (b >= r->host && c->iov[i].iov_len <= r->size &&
			    (uint64_t)(b - r->host) <= r->size - c->iov[i].iov_len)
				ok = true;
		}
		if (!ok) {
			dprintf(2, "BUG: iov %u outside guest memory\n", i);
			abort();
		}
		total += c->iov[i].iov_len;
	}
	if (total != c->len) {
		dprintf(2, "BUG: chain len %u, iovecs hold %llu\n", c->len,
			(unsigned long long)total);
		abort();
	}
}

/*
 * One operation; returns false once the ring is faulted (the port would
 * break the device and stop using the ring).
 */
static bool run_op(struct vring *vr, uint8_t op, uint8_t arg, unsigned int hdr_len)
{
	int rc;

	switch (op & 7) {
	case 0:		/* how many chains are there */
		return vring_avail_count(vr) >= 0;
	case 1:		/* guest TX: pop, copy into a packet, complete */
	case 2:		/* guest RX buffer taken raw (as a flood would not) */
		if (!vring_avail_left(vr) && vring_avail_count(vr) < 0)
			return false;
		if (!vring_avail_left(vr))
			return true;
		rc = vring_pop(vr, &chain[0], (op & 7) == 2);
		if (rc == -EIO)
			return false;
		if (rc == 0) {
			check_chain(&chain[0]);
			if ((op & 7) == 1) {
				struct packet *p = packet_alloc();

				vnet_chain_to_packet(&chain[0], hdr_len, caps, p, false);
				packet_free(p);
			}
		} else if (rc != -E2BIG) {
			abort();	/* vring_pop promises 0, -E2BIG or -EIO */
		}
		vring_push(vr, chain[0].head, 0);
		return true;
	case 3:		/* deliver a frame, mergeable */
	case 4:		/* deliver a frame, one chain */
		make_packet(14u + (arg >> 1) * 74u, arg & 1);
		rc = vnet_packet_to_guest(vr, chain, &pkt, hdr_len, (op & 7) == 3, caps);
		if (rc == -EIO)
			return false;
		if (rc && rc != -ENOBUFS && rc != -EMSGSIZE)
			abort();
		return true;
	case 5:		/* end of burst */
		if (vring_publish(vr))
			vring_notify(vr);
		return true;
	case 6:		/* before and after sleeping */
		vring_kick_enable(vr, arg & 1);
		return true;
	default: {	/* the guest changes avail->idx or a ring slot meanwhile */
		uint16_t *p = (op & 0x80) ? &vr->avail->idx
					  : &vr->avail->ring[arg & (vr->num - 1)];

		*p = (op & 0x80) ? (uint16_t)(*p + (arg & 0x7f)) : (uint16_t)(arg >> 1);
		return true;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vring_addr a;
	struct vring vr;
	unsigned int num, nops, hdr_len, i;
	uint64_t avail_gpa, used_gpa, img;
	bool event_idx;
	uint16_t used_idx;
	const uint8_t *ops;
	uint8_t flags;

	if (size < 5)
		return 0;
	num = 1u << (data[0] & 7);
	flags = data[1];
	used_idx = (uint16_t)(data[2] | data[3] << 8);
	nops = data[4] < MAX_OPS ? data[4] : MAX_OPS;
	if (nops > size - 5)
		nops = (unsigned int)(size - 5);
	ops = data + 5;
	event_idx = flags & 1;
	hdr_len = flags & 2 ? 12 : 10;
	caps = flags & 16 ? PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_TSO6 | PKT_OFL_ECN : 0;
	mem.region[1].gpa = flags & 8 ? REGION1_FAR : REGION1_GPA;

	/* The guest memory image. */
	memset(mem.region[0].host, 0, REGION0_SIZE);
	memset(mem.region[1].host, 0, REGION1_SIZE);
	img = size - 5 - nops;
	if (img > REGION0_SIZE + REGION1_SIZE)
		img = REGION0_SIZE + REGION1_SIZE;
	memcpy(mem.region[0].host, data + 5 + nops, MIN(img, REGION0_SIZE));
	if (img > REGION0_SIZE)
		memcpy(mem.region[1].host, data + 5 + nops + REGION0_SIZE,
		       img - REGION0_SIZE);

	/* The ring, laid out as a driver would, checked as vq_translate does. */
	avail_gpa = REGION0_GPA + 16ull * num;
	used_gpa = (avail_gpa + vring_avail_size(num, event_idx) + 3) & ~3ull;
	a.desc = guest_mem_gpa_range(&mem, REGION0_GPA, 16ull * num);
	a.avail = guest_mem_gpa_range(&mem, avail_gpa, vring_avail_size(num, event_idx));
	a.used = guest_mem_gpa_range(&mem, used_gpa, vring_used_size(num, event_idx));
	if (!a.desc || !a.avail || !a.used)
		abort();
	((struct vring_used *)gpa_host(used_gpa))->idx = used_idx;
	vr.call_fd = flags & 4 ? call_fd : -1;
	vring_init(&vr, &a, num, used_idx, event_idx, &mem);

	for (i = 0; i < nops; i++) {
		uint8_t op = ops[i], arg = i + 1 < nops ? ops[i + 1] : 0;

		/* Ops 3, 4, 6 and 7 take an argument byte. */
		if ((op & 7) == 3 || (op & 7) == 4 || (op & 7) >= 6)
			i++;
		if (!run_op(&vr, op, arg, hdr_len))
			break;
	}
	/* The end of a burst always publishes. */
	if (!vr.fault && vring_publish(&vr))
		vring_notify(&vr);
	if (call_fd >= 0) {
		eventfd_t v;

		eventfd_read(call_fd, &v);
	}
	return 0;
}
