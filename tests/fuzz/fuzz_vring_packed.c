/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vring_packed.c - libFuzzer target for the packed-ring walker: a
 * fuzzed descriptor ring, event areas and buffers, driven by a fuzzed
 * sequence of device operations, with the ring's own bookkeeping checked
 * after each one
 *
 * Guest memory is one memfd-backed region mapped by the real
 * guest_mem_map(), then moved (mremap) between two PROT_NONE guard pages,
 * so a read or write one byte outside it faults at once.
 *
 * Besides the ring's own operations, frames go both ways through the
 * virtio-net layer over the packed ring: a guest TX chain copied into a
 * packet (vnet_chain_to_packet()) and a packet delivered into receive
 * buffers (vnet_packet_to_guest_packed(), mergeable or not).
 *
 * Input layout:
 *   [0]     ring size - 1 (& 63: 1..64, any value, not only powers of two)
 *   [1]     flags: 1 EVENT_IDX, 2 IN_ORDER, 4 call fd, 8 mergeable
 *   [2..5]  SET_VRING_BASE value, little endian
 *   [6]     number of operation bytes that follow (capped at MAX_OPS)
 *   ops     one byte each (see run_op())
 *   rest    guest memory image from GPA REGION_GPA on: the descriptor ring
 *           (16 bytes a slot), the driver area, the device area, then
 *           buffers and indirect tables; memory past the image is zero
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_log.h"
#include "pkt/packet.h"
#include "vhost/guest_mem.h"
#include "vhost/virtio_net.h"
#include "vhost/vring_packed.h"

#define PAGE		4096ull
#define REGION_GPA	0x10000ull
#define REGION_SIZE	(4 * PAGE)
#define MAX_OPS		64

static struct guest_mem mem;
static int call_fd = -1;
static struct vring_chain chain;
static struct vring_chain scratch[2];
static struct packet pkt;
static bool mergeable;
static struct vring_packed vr;
static uint16_t popped[VRING_PACKED_SCAN_MAX * 2];	/* ids not pushed yet */
static unsigned int npopped;
static bool can_unpop;		/* the last pop is on top and not pushed */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct guest_region_desc d = { REGION_GPA, REGION_SIZE, 0x7f0000000000ull, 0 };
	struct guest_region *r = &mem.region[0];
	int fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	char why[128];
	uint8_t *res, *moved;

	(void)argc, (void)argv;
	fuzz_log_setup();
	if (fd < 0 || ftruncate(fd, (off_t)REGION_SIZE) < 0 ||
	    guest_mem_map(&mem, &d, &fd, 1, why, sizeof(why)))
		abort();
	if (r->map_len != REGION_SIZE || r->host != r->map)
		abort();
	res = mmap(NULL, REGION_SIZE + 2 * PAGE, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		abort();
	guest_mem_untrack(r);
	moved = mremap(r->map, REGION_SIZE, REGION_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
		       res + PAGE);
	if (moved != res + PAGE)
		abort();
	r->map = r->host = moved;
	guest_mem_track(r);
	close(fd);
	call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pkt.data = pkt.buf + PACKET_HEADROOM;
	if (packet_pool_init(4))
		abort();
	return 0;
}

/* What the ring's state must always satisfy, whatever the guest wrote. */
static void check_invariants(void)
{
	if (vr.last_avail >= vr.num || vr.used_idx >= vr.num ||
	    vr.scan_idx >= vr.num || vr.owned > vr.num ||
	    vr.avail_descs > vr.owned || vr.npending > vr.num)
		abort();
}

/* Pop one chain; a pop that consumed it leaves its id to push. */
static int op_pop(bool writable)
{
	int rc;

	if (npopped == sizeof(popped) / sizeof(popped[0]))
		return 0;
	rc = vring_packed_pop(&vr, &chain, writable);
	if (rc == -EIO)
		return rc;
	if (chain.head >= vr.num)
		abort();	/* a consumed chain always has a valid id */
	popped[npopped++] = chain.head;
	can_unpop = true;
	return 0;
}

/* Guest TX: pop a chain, copy its frame into a packet, complete it. */
static int op_guest_tx(void)
{
	struct packet *p;
	int rc = vring_packed_pop(&vr, &chain, false);

	if (rc == -EIO)
		return rc;
	if (!rc && (p = packet_alloc())) {
		vnet_chain_to_packet(&chain, 12, 0, p, false);
		packet_free(p);
	}
	vring_packed_push(&vr, chain.head, 0);
	can_unpop = false;
	return 0;
}

/* Guest RX: a frame of a length from @arg into the receive buffers. */
static int op_guest_rx(uint8_t arg)
{
	unsigned int len = 14u + arg * 37u;
	int rc;

	memset(pkt.data, 0xa5, len);
	pkt.len = len;
	pkt.ofl = (struct pkt_offload){ 0 };
	rc = vnet_packet_to_guest_packed(&vr, scratch, &pkt, 12, mergeable, 0);
	can_unpop = false;
	return rc == -EIO ? rc : 0;
}

/* One operation; -EIO ends the run (the device would be broken). */
static int run_op(uint8_t op)
{
	int rc = 0;

	switch (op % 12) {
	case 0:
		rc = vring_packed_avail_count(&vr);
		break;
	case 1:
	case 2:
		if (vring_packed_avail_left(&vr))
			rc = op_pop(op % 12 == 2);
		break;
	case 3:
		if (npopped)
			vring_packed_push(&vr, popped[--npopped], op >> 4);
		can_unpop = false;
		break;
	case 4:
		vring_packed_publish(&vr);
		can_unpop = false;
		break;
	case 5:
		if (can_unpop) {	/* the chain popped last goes back */
			vring_packed_unpop(&vr, 1);
			npopped--;
			can_unpop = false;
		}
		break;
	case 6:
		vring_packed_notify(&vr);
		break;
	case 7:
		vring_packed_kick_enable(&vr, op & 16);
		break;
	case 8:
		vring_packed_empty_pushed(&vr, 1);
		break;
	case 9:
		vring_packed_publish(&vr);
		vring_packed_notify(&vr);
		can_unpop = false;
		break;
	case 10:
		if (vring_packed_avail_left(&vr))
			rc = op_guest_tx();
		break;
	default:
		rc = op_guest_rx(op >> 4);
		break;
	}
	return rc < 0 ? rc : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int num, nops, i, flags;
	uint8_t *host = mem.region[0].host;
	struct vring_packed_addr a;
	uint32_t base;

	if (size < 7)
		return 0;
	num = (data[0] & 63) + 1u;
	flags = data[1];
	memcpy(&base, data + 2, 4);
	nops = data[6] < MAX_OPS ? data[6] : MAX_OPS;
	data += 7;
	size -= 7;
	if (nops > size)
		nops = (unsigned int)size;
	memset(host, 0, REGION_SIZE);
	memcpy(host, data + nops, MIN(size - nops, REGION_SIZE));
	a.desc = (struct vring_packed_desc *)host;
	a.driver = (struct vring_packed_event *)(host + vring_packed_desc_size(num));
	a.device = a.driver + 1;
	vr.call_fd = flags & 4 ? call_fd : -1;
	mergeable = flags & 8;
	npopped = 0;
	can_unpop = false;
	if (vring_packed_init(&vr, &a, num, base, flags & 1, flags & 2, &mem))
		return 0;
	for (i = 0; i < nops; i++) {
		if (run_op(data[i]))
			break;
		check_invariants();
	}
	return 0;
}
