/* SPDX-License-Identifier: MIT */
/*
 * vring_packed.c - packed virtqueue, device side: find available chains,
 * walk them, publish completions, event suppression, the vhost-user base
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhost/vring_packed.h"

/** vring_packed_desc_size() - bytes of the descriptor ring for @num slots */
uint64_t vring_packed_desc_size(unsigned int num)
{
	return 16ull * num;
}

/* A slot position as off_wrap and each half of the base write it. */
static uint16_t pos_encode(uint16_t idx, bool wrap)
{
	return (uint16_t)(idx | (wrap ? 1u << VRING_PACKED_WRAP_SHIFT : 0u));
}

static int pos_decode(uint16_t pos, unsigned int num, uint16_t *idx, bool *wrap)
{
	*idx = pos & VRING_PACKED_IDX_MASK;
	*wrap = pos >> VRING_PACKED_WRAP_SHIFT;
	return *idx < num ? 0 : -EINVAL;
}

/*
 * A position on a line of 2 * @num slots that wraps: two laps tell every
 * (index, wrap) pair apart, and the driver and the device are never more
 * than one lap apart.
 */
static unsigned int pos_line(uint16_t pos, unsigned int num)
{
	return (pos & VRING_PACKED_IDX_MASK) + (pos >> VRING_PACKED_WRAP_SHIFT ? num : 0);
}

/* Slots from @from forward to @to, both encoded positions. */
static unsigned int pos_distance(uint16_t from, uint16_t to, unsigned int num)
{
	unsigned int m = 2 * num;

	return (pos_line(to, num) % m + m - pos_line(from, num) % m) % m;
}

/* Move slot @idx back by @n (<= @num), flipping @wrap when it wraps. */
static void retreat(uint16_t *idx, bool *wrap, unsigned int n, unsigned int num)
{
	if (*idx >= n) {
		*idx = (uint16_t)(*idx - n);
	} else {
		*idx = (uint16_t)(*idx + num - n);
		*wrap = !*wrap;
	}
}

/* Fill the three tracking arrays of @num entries each, in one block. */
static int alloc_tracking(struct vring_packed *vr, unsigned int num)
{
	size_t each = sizeof(*vr->pending) + sizeof(*vr->buf) + sizeof(*vr->slot);
	uint8_t *block = calloc(num, each);

	if (!block)
		return -ENOMEM;
	vr->pending = (struct vring_packed_used *)block;
	vr->buf = (struct vring_packed_buf *)(block + num * sizeof(*vr->pending));
	vr->slot = (struct vring_packed_slot *)(vr->buf + num);
	return 0;
}

/*
 * The base as SET_VRING_BASE sends it: avail position in the low half,
 * used position in the high half. A zero high half (DPDK virtio-user sends
 * just 1 << 15) means the used position is the avail one.
 */
static int base_decode(uint32_t base, unsigned int num, uint16_t pos[2])
{
	uint16_t idx;
	bool wrap;

	pos[0] = (uint16_t)base;
	pos[1] = base >> 16 ? (uint16_t)(base >> 16) : pos[0];
	if (pos_decode(pos[0], num, &idx, &wrap) || pos_decode(pos[1], num, &idx, &wrap))
		return -EINVAL;
	return pos_distance(pos[1], pos[0], num) <= num ? 0 : -EINVAL;
}

/** vring_packed_base_valid() - can a ring of @num slots start at @base? */
bool vring_packed_base_valid(uint32_t base, unsigned int num)
{
	uint16_t pos[2];

	return num && num <= VRING_MAX_SIZE && !base_decode(base, num, pos);
}

/**
 * vring_packed_init() - start using a translated packed ring
 * @vr:		ring state: zeroed before its first init; a later init
 *		replaces the tracking arrays and keeps the call fd
 * @a:		host addresses of the three parts, already range-checked
 * @num:	ring size, 1 to VRING_MAX_SIZE
 * @base:	as sent in SET_VRING_BASE (base_decode())
 * @event_idx:	VIRTIO_RING_F_EVENT_IDX negotiated
 * @in_order:	VIRTIO_F_IN_ORDER negotiated
 * @mem:	memory table the descriptors are translated with
 *
 * A packed ring keeps no index in shared memory: the base is the only
 * truth. Slots between its used and avail positions were taken by an
 * earlier backend and are never completed (@vr->base_mismatch says so).
 *
 * Return: 0, -EINVAL for a size or base out of range, -ENOMEM
 */
int vring_packed_init(struct vring_packed *vr, const struct vring_packed_addr *a,
		      unsigned int num, uint32_t base, bool event_idx,
		      bool in_order, const struct guest_mem *mem)
{
	int call_fd = vr->call_fd;
	uint16_t pos[2];

	if (!num || num > VRING_MAX_SIZE || base_decode(base, num, pos))
		return -EINVAL;
	vring_packed_free(vr);
	*vr = (struct vring_packed){ 0 };
	vr->call_fd = call_fd;
	if (alloc_tracking(vr, num))
		return -ENOMEM;
	vr->desc = a->desc;
	vr->driver = a->driver;
	vr->device = a->device;
	vr->mem = mem;
	vr->num = (uint16_t)num;
	vr->event_idx = event_idx;
	vr->in_order = in_order;
	pos_decode(pos[0], num, &vr->last_avail, &vr->avail_wrap);
	pos_decode(pos[1], num, &vr->used_idx, &vr->used_wrap);
	vr->scan_idx = vr->last_avail;
	vr->scan_wrap = vr->avail_wrap;
	vr->owned = pos_distance(pos[1], pos[0], num);
	vr->base_mismatch = vr->owned != 0;
	return 0;
}

/* ---- a base that does not fit the ring ----------------------------------
 *
 * QEMU 7.2 keeps no packed ring position for a backend that vanished
 * (virtio_queue_packed_restore_last_avail_idx() is empty): a restarted
 * switch is given the base of the ring's last start, after a boot 0 wrap 1
 * whatever the ring has done since. The descriptors' flags tell more. The
 * AVAIL bit of a slot is the wrap counter of the lap it was last written
 * in, by the driver (available) or by the device (used), so the driver's
 * next slot is where that bit changes. Every slot from the device's
 * position to the driver's was made available and not used since.
 */

static uint16_t slot_flags(const struct vring_packed *vr, unsigned int i)
{
	return le16_to_cpu(READ_ONCE(vr->desc[i].flags));
}

static bool slot_available(const struct vring_packed *vr, unsigned int i, bool wrap)
{
	return (slot_flags(vr, i) & VRING_PACKED_DESC_F_WRAPS) ==
	       vring_packed_wrap_flags(wrap);
}

/* The driver's next slot, encoded; -EINVAL if the laps change more than once. */
static int driver_position(const struct vring_packed *vr, uint16_t *pos)
{
	bool first = slot_flags(vr, 0) & VRING_PACKED_DESC_F_AVAIL, prev = first;
	unsigned int i, at = 0, changes = 0;

	for (i = 1; i < vr->num; i++) {
		bool lap = slot_flags(vr, i) & VRING_PACKED_DESC_F_AVAIL;

		if (lap != prev) {
			changes++;
			at = i;
		}
		prev = lap;
	}
	if (changes > 1)
		return -EINVAL;
	/* Slots before the change are this lap's; none: the next lap starts. */
	*pos = changes ? pos_encode((uint16_t)at, first) : pos_encode(0, !first);
	return 0;
}

/*
 * Can the device be at @dev with the driver at @drv? Every slot between
 * must be available, and the one before @dev must not be (unless the ring
 * is all available): a device in the middle of the available run would
 * leave the buffers before it unused for ever (a stale base on a receive
 * ring the guest keeps full).
 */
static bool device_fits(const struct vring_packed *vr, uint16_t dev, uint16_t drv)
{
	unsigned int n = pos_distance(dev, drv, vr->num), k;
	uint16_t idx;
	bool wrap;

	if (n > vr->num)
		return false;
	pos_decode(dev, vr->num, &idx, &wrap);
	if (n < vr->num) {
		uint16_t prev = idx;
		bool prev_wrap = wrap;

		retreat(&prev, &prev_wrap, 1, vr->num);
		if (slot_available(vr, prev, prev_wrap))
			return false;
	}
	for (k = 0; k < n; k++) {
		if (!slot_available(vr, idx, wrap))
			return false;
		vring_packed_advance(&idx, &wrap, 1, vr->num);
	}
	return true;
}

/* The first of the available slots just behind the driver's. */
static uint16_t device_position(const struct vring_packed *vr, uint16_t drv)
{
	uint16_t idx, prev;
	bool wrap, prev_wrap;
	unsigned int k;

	pos_decode(drv, vr->num, &idx, &wrap);
	for (k = 0; k < vr->num; k++) {
		prev = idx;
		prev_wrap = wrap;
		retreat(&prev, &prev_wrap, 1, vr->num);
		if (!slot_available(vr, prev, prev_wrap))
			break;
		idx = prev;
		wrap = prev_wrap;
	}
	return pos_encode(idx, wrap);
}

/**
 * vring_packed_base_from_ring() - check a started ring's position against
 * its descriptors' flags
 * @vr:		ring just initialised from a base
 * @base:	set to a base found from the flags when the ring proves the
 *		given one wrong (avail and used halves equal: whatever an
 *		earlier backend had taken is offered again)
 *
 * Only a position the flags contradict is replaced, so a right base (a
 * fresh ring, a migration, a frontend that keeps its state) is kept. The
 * position found assumes the earlier backend completed in order and one
 * slot per chain (a Linux guest with indirect descriptors); guest memory is
 * only read.
 *
 * Return: true if @base was set
 */
bool vring_packed_base_from_ring(const struct vring_packed *vr, uint32_t *base)
{
	uint16_t drv, dev;

	if (driver_position(vr, &drv))
		return false;	/* the flags do not tell: keep the base */
	if (device_fits(vr, pos_encode(vr->last_avail, vr->avail_wrap), drv))
		return false;
	dev = device_position(vr, drv);
	*base = dev | (uint32_t)dev << 16;
	return true;
}

/** vring_packed_free() - give back the tracking arrays (the ring stays mapped) */
void vring_packed_free(struct vring_packed *vr)
{
	free(vr->pending);
	vr->pending = NULL;
	vr->buf = NULL;
	vr->slot = NULL;
	vr->npending = 0;
}

/**
 * vring_packed_base() - the base for GET_VRING_BASE: avail position in the
 * low half, used position in the high half (index | wrap << 15 each)
 * @vr:		a stopped ring, completions published
 */
uint32_t vring_packed_base(const struct vring_packed *vr)
{
	return pos_encode(vr->last_avail, vr->avail_wrap) |
	       (uint32_t)pos_encode(vr->used_idx, vr->used_wrap) << 16;
}

static int ring_fault(struct vring_packed *vr, const char *why)
{
	vr->fault = why;
	return -EIO;
}

/**
 * vring_packed_avail_count() - how many whole chains the guest has made
 * available, looking at most VRING_PACKED_SCAN_MAX chains ahead
 * @vr:		ring
 *
 * Only the flags are looked at (acquire loads); pops read each descriptor
 * again, once, and decide from that copy. The driver makes a chain's head
 * available last, so a chain that runs into a slot not available, or past
 * the slots the device does not hold, is a fault.
 *
 * Return: chains available and not taken, or -EIO
 */
int vring_packed_avail_count(struct vring_packed *vr)
{
	/* Locals, written back once: the loop stays in registers. */
	const struct vring_packed_desc *desc = vr->desc;
	uint16_t num = vr->num, pos = vr->scan_idx;
	uint16_t want = vring_packed_wrap_flags(vr->scan_wrap);
	unsigned int free = num - vr->owned, chains = vr->avail_chains;
	unsigned int k = 0;	/* slots looked at */
	unsigned int seen = 0;	/* of them, in whole chains */
	uint16_t idx;
	bool wrap;

	while (k < free && (k != seen || chains < VRING_PACKED_SCAN_MAX)) {
		uint16_t flags = le16_to_cpu(__atomic_load_n(&desc[pos].flags,
							     __ATOMIC_ACQUIRE));

		if ((flags & VRING_PACKED_DESC_F_WRAPS) != want)
			break;
		k++;
		if (++pos == num) {
			pos = 0;
			want ^= VRING_PACKED_DESC_F_WRAPS;
		}
		if (!(flags & VRING_DESC_F_NEXT)) {
			seen = k;
			chains++;
		}
	}
	idx = vr->scan_idx;
	wrap = vr->scan_wrap;
	vring_packed_advance(&idx, &wrap, seen, num);
	vr->scan_idx = idx;
	vr->scan_wrap = wrap;
	vr->owned += seen;
	vr->avail_descs = (uint16_t)(vr->avail_descs + seen);
	vr->avail_chains = (uint16_t)chains;
	if (k != seen)	/* the driver makes a chain's head available last */
		return ring_fault(vr, k == free ? "descriptor chain longer than the free ring" :
					"descriptor chain runs into a slot not made available");
	return (int)chains;
}

/* The walk's running totals over one chain. */
struct walk {
	uint64_t total;		/* bytes */
	bool too_many;		/* more segments than VRING_CHAIN_MAX_IOV */
};

/* One buffer of a chain, translated whole into @c's iovecs. */
static int add_buffer(struct vring_packed *vr, struct vring_chain *c,
		      const struct vring_packed_desc_cpu *d, bool writable,
		      struct walk *w)
{
	int n;

	if (!(d->flags & VRING_DESC_F_WRITE) != !writable)
		return ring_fault(vr, writable ?
			"read-only descriptor in a receive chain" :
			"device-writable descriptor in a transmit chain");
	w->total += d->len;
	if (w->total > UINT32_MAX)
		return ring_fault(vr, "chain longer than 4 GiB");
	n = guest_mem_gpa_iov(vr->mem, d->addr, d->len, c->iov + c->niov,
			      VRING_CHAIN_MAX_IOV - c->niov);
	if (n == -EFAULT)
		return ring_fault(vr, "descriptor outside guest memory");
	if (n < 0)
		w->too_many = true;	/* legal but beyond us: drop it */
	else
		c->niov += n;
	return 0;
}

/* An indirect table entry, read once; no ordering needed past the ring's. */
static struct vring_packed_desc_cpu table_read(const struct vring_packed_desc *d)
{
	struct vring_packed_desc_cpu copy;

	memcpy(&copy, d, sizeof(copy));
	barrier();
	if (VU_HOST_BIG_ENDIAN) {
		copy.addr = le64_to_cpu(copy.addr);
		copy.len = le32_to_cpu(copy.len);
		copy.flags = le16_to_cpu(copy.flags);
	}
	return copy;
}

/*
 * The buffers of indirect table @d: len / 16 descriptors in order. Only
 * WRITE counts inside a table (NEXT and the id are ignored, as the spec
 * says); another INDIRECT is refused.
 */
static int add_indirect(struct vring_packed *vr, struct vring_chain *c,
			const struct vring_packed_desc_cpu *d, bool writable,
			struct walk *w)
{
	const struct vring_packed_desc *table;
	unsigned int i, n;
	int rc;

	if (d->flags & VRING_DESC_F_NEXT)
		return ring_fault(vr, "descriptor has both INDIRECT and NEXT");
	if (!d->len || d->len % sizeof(*table))
		return ring_fault(vr, "indirect table length not a multiple of 16");
	n = d->len / sizeof(*table);
	if (n > VRING_MAX_SIZE)
		return ring_fault(vr, "indirect table longer than 32768 entries");
	table = guest_mem_gpa_range(vr->mem, d->addr, d->len);
	if (!table)
		return ring_fault(vr, "indirect table outside guest memory");
	for (i = 0; i < n; i++) {
		struct vring_packed_desc_cpu t = table_read(&table[i]);

		if (t.flags & VRING_DESC_F_INDIRECT)
			return ring_fault(vr, "nested indirect table");
		/*
		 * DPDK 22.11's virtio driver presets every entry of its packed
		 * transmit tables to WRITE and rewrites all but the first, the
		 * header's (vring_desc_init_indirect_packed()). A buffer we only
		 * read may say it is writable: that endangers nothing, so it is
		 * tolerated here; a read-only buffer in a receive chain is not.
		 */
		if (!writable)
			t.flags &= (uint16_t)~VRING_DESC_F_WRITE;
		rc = add_buffer(vr, c, &t, writable, w);
		if (rc)
			return rc;
	}
	return 0;
}

/* Record a chain of @n slots with buffer id @id as taken into @c. */
static void take_chain(struct vring_packed *vr, struct vring_chain *c, uint16_t id,
		       uint16_t n, bool writable)
{
	uint16_t end = vr->last_avail;
	bool wrap = vr->avail_wrap;

	vring_packed_advance(&end, &wrap, n - 1u, vr->num);
	vr->slot[end] = (struct vring_packed_slot){ id, n };
	vring_packed_advance(&vr->last_avail, &vr->avail_wrap, n, vr->num);
	vr->avail_descs -= n;
	if (vr->avail_chains)
		vr->avail_chains--;
	vr->buf[id].ndesc = n;
	vr->buf[id].flags = VRING_PACKED_BUF_IN_USE |
			    (writable ? VRING_PACKED_BUF_WRITABLE : 0);
	c->head = id;
}

/**
 * vring_packed_pop_walk() - the general case of vring_packed_pop(): chains
 * of several descriptors, indirect tables, buffers across regions, and
 * every fault
 * @vr:		ring
 * @c:		to fill
 * @d:		the descriptor at @vr->last_avail, as vring_packed_pop() read
 *		it (read once)
 * @writable:	as for vring_packed_pop()
 *
 * Slots are taken only among those the count saw available, so a chain is
 * bounded by the ring. The buffer id is the last descriptor's. An indirect
 * descriptor is a buffer of its own, never part of a chain.
 *
 * Return: as vring_packed_pop()
 */
int vring_packed_pop_walk(struct vring_packed *vr, struct vring_chain *c,
			  struct vring_packed_desc_cpu d, bool writable)
{
	uint16_t idx = vr->last_avail, n = 0;
	bool wrap = vr->avail_wrap;
	struct walk w = { 0 };
	int rc;

	c->niov = 0;
	c->len = 0;
	for (;;) {
		if (n == vr->avail_descs)
			return ring_fault(vr, n ? "descriptor chain runs past the slots made available" :
						  "ring popped with no descriptor available");
		if ((d.flags & VRING_PACKED_DESC_F_WRAPS) != vring_packed_wrap_flags(wrap))
			return ring_fault(vr, "descriptor taken back after it was made available");
		if ((d.flags & VRING_DESC_F_INDIRECT) && n)
			return ring_fault(vr, "indirect descriptor inside a chain");
		if (d.flags & VRING_DESC_F_INDIRECT)
			rc = add_indirect(vr, c, &d, writable, &w);
		else
			rc = add_buffer(vr, c, &d, writable, &w);
		if (rc)
			return rc;
		n++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		vring_packed_advance(&idx, &wrap, 1, vr->num);
		d = vring_packed_desc_read(&vr->desc[idx]);
	}
	if (d.id >= vr->num)
		return ring_fault(vr, "buffer id beyond the ring size");
	if (vr->buf[d.id].flags)
		return ring_fault(vr, "buffer id reused while in use");
	c->len = (uint32_t)w.total;
	take_chain(vr, c, d.id, n, writable);
	return w.too_many ? -E2BIG : 0;
}

/**
 * vring_packed_unpop() - give back the last @n chains popped (not
 * published); they are seen again
 * @vr:		ring
 * @n:		chains
 */
void vring_packed_unpop(struct vring_packed *vr, uint16_t n)
{
	while (n--) {
		uint16_t end = vr->last_avail;
		bool wrap = vr->avail_wrap;
		struct vring_packed_slot s;

		retreat(&end, &wrap, 1, vr->num);
		s = vr->slot[end];
		retreat(&vr->last_avail, &vr->avail_wrap, s.ndesc, vr->num);
		vr->avail_descs += s.ndesc;
		vr->avail_chains++;
		vr->buf[s.id].flags = 0;
	}
}

/** vring_packed_unpush() - take back the last @n completions not yet published */
void vring_packed_unpush(struct vring_packed *vr, uint16_t n)
{
	for (; n && vr->npending; n--) {
		const struct vring_packed_used *u = &vr->pending[--vr->npending];

		vr->used_idx = u->slot;
		vr->used_wrap = u->wrap;
		vr->buf[u->id].flags &= (uint16_t)~VRING_PACKED_BUF_PUSHED;
	}
}

/**
 * vring_packed_empty_pushed() - turn the last @n unpublished completions
 * into empty ones (length 0), e.g. the chains of a frame that cannot be
 * finished
 * @vr:		ring
 * @n:		completions, at most those pushed since the last publish
 */
void vring_packed_empty_pushed(struct vring_packed *vr, uint16_t n)
{
	unsigned int i = vr->npending;

	for (; n && i; n--)
		vr->pending[--i].len = 0;
}

/* Write the used descriptor of completion @u, flags aside, with buffer id @id. */
static void write_used_one(struct vring_packed_desc *desc,
			   const struct vring_packed_used *u, uint16_t id)
{
	WRITE_ONCE(desc[u->slot].id, cpu_to_le16(id));
	WRITE_ONCE(desc[u->slot].len, cpu_to_le32(u->len));
}

/*
 * Write the ids and lengths of the pending completions' used descriptors
 * (not their flags), and give the ids back. With IN_ORDER, a run of
 * transmit completions gets one used descriptor, at the run's first slot,
 * with its last buffer's id; the others are marked not written.
 */
static void write_used(struct vring_packed *vr)
{
	struct vring_packed_desc *desc = vr->desc;
	struct vring_packed_used *pending = vr->pending;
	struct vring_packed_buf *bufs = vr->buf;
	unsigned int n = vr->npending, owned = vr->owned, i, head = 0;

	for (i = 0; i < n; i++) {
		bufs[pending[i].id].flags = 0;
		owned -= pending[i].ndesc;
	}
	vr->owned = owned;
	if (!vr->in_order) {
		for (i = 0; i < n; i++) {
			pending[i].write = true;
			write_used_one(desc, &pending[i], pending[i].id);
		}
		return;
	}
	for (i = 1; i <= n; i++) {
		if (i < n && pending[i].batchable && pending[head].batchable) {
			pending[i].write = false;
			continue;
		}
		pending[head].write = true;
		write_used_one(desc, &pending[head], pending[i - 1].id);
		head = i;
	}
}

/* Migration log: note a write of [@gpa, @gpa + @len) for the next flush. */
static void log_collect(struct vring_packed *vr, uint64_t gpa, uint64_t len)
{
	vr->log_cached = dirty_log_collect(vr->log, vr->log_cache, vr->log_cached,
					   VRING_LOG_CACHE, gpa, len);
}

/* Before the flags: the burst's buffer pages and the used slots. */
static void log_used(struct vring_packed *vr)
{
	unsigned int i;

	for (i = 0; i < vr->npending; i++)
		if (vr->pending[i].write)
			log_collect(vr, vr->log_desc_gpa + 16ull * vr->pending[i].slot, 16);
	dirty_log_flush(vr->log, vr->log_cache, vr->log_cached);
	vr->log_cached = 0;
}

/* After the flags: the used slots again (their flags are the index). */
static void log_used_flags(struct vring_packed *vr)
{
	unsigned int i;

	for (i = 0; i < vr->npending; i++)
		if (vr->pending[i].write)
			dirty_log_range(vr->log, vr->log_desc_gpa + 16ull * vr->pending[i].slot, 16);
}

/* The flags of a used descriptor written while our wrap counter is @wrap. */
static le16 used_flags(bool wrap)
{
	return cpu_to_le16(wrap ? VRING_PACKED_DESC_F_WRAPS : 0);
}

/**
 * vring_packed_publish() - make the completions pushed since the last
 * publish visible to the guest
 * @vr:		ring
 *
 * Ids and lengths first, a release fence, then the flags, the first
 * completion's last: the driver reads in order from there, so it sees the
 * burst whole or not at all.
 *
 * Return: true if anything was published
 */
bool vring_packed_publish(struct vring_packed *vr)
{
	struct vring_packed_desc *desc = vr->desc;
	const struct vring_packed_used *pending = vr->pending;
	unsigned int n = vr->npending, i;

	if (!n)
		return false;
	write_used(vr);
	if (unlikely(vr->log))
		log_used(vr);
	smp_wmb();	/* pairs with the driver's acquire of the flags */
	for (i = n - 1; i > 0; i--)
		if (pending[i].write)
			WRITE_ONCE(desc[pending[i].slot].flags, used_flags(pending[i].wrap));
	__atomic_store_n(&desc[pending[0].slot].flags, used_flags(pending[0].wrap),
			 __ATOMIC_RELEASE);
	if (unlikely(vr->log))
		log_used_flags(vr);
	vr->npending = 0;
	return true;
}

/**
 * vring_packed_need_event() - the EVENT_IDX test of a packed ring: did the
 * used descriptors written from @old_pos up to @new_pos pass @event?
 * @num:	ring size
 * @event:	the driver's off_wrap (slot index | wrap << 15)
 * @old_pos:	used position at the last interrupt, encoded alike
 * @new_pos:	used position now, encoded alike
 *
 * Each position goes on a line of two laps (pos_line()); the question is
 * the split ring's: is @event in [@old_pos, @new_pos), counted from @old_pos.
 */
bool vring_packed_need_event(unsigned int num, uint16_t event, uint16_t old_pos,
			     uint16_t new_pos)
{
	return pos_distance(old_pos, event, num) < pos_distance(old_pos, new_pos, num);
}

/* Should the guest be interrupted for the completions published since? */
static bool need_call(struct vring_packed *vr)
{
	uint16_t flags = le16_to_cpu(__atomic_load_n(&vr->driver->flags, __ATOMIC_ACQUIRE)) &
			 VRING_PACKED_EVENT_F_MASK;
	uint16_t old = vr->signalled, now = pos_encode(vr->used_idx, vr->used_wrap);
	bool valid = vr->signalled_valid;

	if (!vr->event_idx)
		return flags != VRING_PACKED_EVENT_F_DISABLE;
	vr->signalled = now;
	vr->signalled_valid = true;
	if (flags != VRING_PACKED_EVENT_F_DESC)
		return flags != VRING_PACKED_EVENT_F_DISABLE;
	if (!valid)
		return true;
	return vring_packed_need_event(vr->num, le16_to_cpu(READ_ONCE(vr->driver->off_wrap)),
				       old, now);
}

/**
 * vring_packed_notify() - interrupt the guest if it asked for it
 * @vr:		ring, completions already published
 *
 * Return: 0, or -errno if the call fd refused the write (a full eventfd
 * counter, -EAGAIN, is not an error: an interrupt is pending anyway)
 */
int vring_packed_notify(struct vring_packed *vr)
{
	/* The flags stores before the read of the driver's event area. */
	smp_mb();
	if (vr->call_fd >= 0 && need_call(vr))
		return vring_signal(vr->call_fd);
	return 0;
}

/**
 * vring_packed_kick_enable() - ask the guest to kick (or not) when it makes
 * buffers available
 * @vr:		ring
 * @enable:	true before sleeping; false while polling
 *
 * With EVENT_IDX the kick is asked for at the first slot the count has not
 * seen. After enabling, the caller must re-check vring_packed_avail_count().
 */
void vring_packed_kick_enable(struct vring_packed *vr, bool enable)
{
	uint16_t flags = VRING_PACKED_EVENT_F_DISABLE;

	if (enable && vr->event_idx) {
		WRITE_ONCE(vr->device->off_wrap,
			   cpu_to_le16(pos_encode(vr->scan_idx, vr->scan_wrap)));
		smp_wmb();	/* the offset before the flags that point at it */
		flags = VRING_PACKED_EVENT_F_DESC;
	} else if (enable) {
		flags = VRING_PACKED_EVENT_F_ENABLE;
	}
	WRITE_ONCE(vr->device->flags, cpu_to_le16(flags));
	smp_mb();
	if (unlikely(vr->log))
		dirty_log_range(vr->log, vr->log_device_gpa, sizeof(*vr->device));
}

/**
 * vring_packed_log_chain() - log the first @len bytes written into chain @c
 * @vr:		the ring @c was popped from (its memory table)
 * @c:		a translated chain
 * @len:	bytes written from the start of the chain
 */
void vring_packed_log_chain(struct vring_packed *vr, const struct vring_chain *c,
			    uint32_t len)
{
	unsigned int i;
	uint64_t gpa;

	for (i = 0; i < c->niov && len; i++) {
		uint32_t n = (uint32_t)MIN(c->iov[i].iov_len, len);

		if (guest_mem_host_gpa(vr->mem, c->iov[i].iov_base, &gpa) == 0)
			log_collect(vr, gpa, n);
		else
			vr->log->beyond++;
		len -= n;
	}
}
