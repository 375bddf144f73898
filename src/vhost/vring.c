/* SPDX-License-Identifier: MIT */
/* vring.c - split virtqueue, device side: pop chains, notify the guest */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vhost/vring.h"

/** vring_avail_size() - bytes of the avail ring for @num entries */
uint64_t vring_avail_size(unsigned int num, bool event_idx)
{
	return 4 + 2ull * num + (event_idx ? 2 : 0);
}

/** vring_used_size() - bytes of the used ring for @num entries */
uint64_t vring_used_size(unsigned int num, bool event_idx)
{
	return 4 + 8ull * num + (event_idx ? 2 : 0);
}

/**
 * vring_init() - start using a translated ring
 * @vr:		ring state to fill
 * @a:		host addresses of the three parts, already range-checked
 * @num:	ring size, a power of two <= VRING_MAX_SIZE
 * @base:	next avail index, as sent in SET_VRING_BASE
 * @event_idx:	VIRTIO_RING_F_EVENT_IDX negotiated
 * @mem:	memory table the descriptors are translated with
 *
 * The used index is read from guest memory, not assumed: after a reconnect
 * or a guest driver reset it is the only truth (rust-vmm/vhost #180).
 * Everything we ever took from the ring was completed before we stopped, so
 * the next chain to take is the one after the last completed.
 */
void vring_init(struct vring *vr, const struct vring_addr *a, unsigned int num,
		uint16_t base, bool event_idx, const struct guest_mem *mem)
{
	int call_fd = vr->call_fd;

	*vr = (struct vring){ 0 };
	vr->desc = a->desc;
	vr->avail = a->avail;
	vr->used = a->used;
	vr->mem = mem;
	vr->num = (uint16_t)num;	/* 32768 fits; the mask is num - 1 */
	vr->event_idx = event_idx;
	vr->call_fd = call_fd;
	vr->used_idx = le16_to_cpu(READ_ONCE(a->used->idx));
	vr->used_published = vr->used_idx;
	vr->last_avail = vr->used_idx;
	vr->avail_shadow = vr->used_idx;
	vr->base_mismatch = base != vr->used_idx;
}

/**
 * vring_avail_count() - how many chains the guest has made available
 * @vr:		ring
 *
 * Return: count, or -EIO if the guest moved avail->idx more than the ring size
 */
int vring_avail_count(struct vring *vr)
{
	uint16_t idx = le16_to_cpu(__atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE));
	uint16_t n = idx - vr->last_avail;

	if (unlikely(n > vr->num)) {
		vr->fault = "avail index moved by more than the ring size";
		return -EIO;
	}
	vr->avail_shadow = idx;
	return n;
}

static int chain_fault(struct vring *vr, const char *why)
{
	vr->fault = why;
	return -EIO;
}

/* Switch the walk to an indirect table; checks the table descriptor @d. */
static int enter_indirect(struct vring *vr, const struct vring_desc_cpu *d,
			  const struct vring_desc **table, unsigned int *size)
{
	if (d->flags & VRING_DESC_F_NEXT)
		return chain_fault(vr, "descriptor has both INDIRECT and NEXT");
	if (!d->len || d->len % sizeof(struct vring_desc))
		return chain_fault(vr, "indirect table length not a multiple of 16");
	if (d->len / sizeof(struct vring_desc) > VRING_MAX_SIZE)
		return chain_fault(vr, "indirect table longer than 32768 entries");
	*table = guest_mem_gpa_range(vr->mem, d->addr, d->len);
	if (!*table)
		return chain_fault(vr, "indirect table outside guest memory");
	*size = d->len / sizeof(struct vring_desc);
	return 0;
}

/*
 * Walk the chain from @idx in @table. Every index is bounded by the table,
 * every step by a counter (no loops), every range translated in full.
 */
static int chain_walk(struct vring *vr, struct vring_chain *c,
		      struct vring_desc_cpu d, bool writable)
{
	const uint16_t want = writable ? VRING_DESC_F_WRITE : 0;
	const struct vring_desc *table = vr->desc;
	unsigned int size = vr->num, steps = 0;
	bool indirect = false, too_many = false;
	uint64_t total = 0;
	uint16_t idx;

	for (;;) {
		int n;

		if (++steps > size)
			return chain_fault(vr, "descriptor chain loops or exceeds ring size");
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect)
				return chain_fault(vr, "nested indirect table");
			if (enter_indirect(vr, &d, &table, &size))
				return -EIO;
			indirect = true;
			steps = 0;
			d = desc_read(&table[0]);
			continue;
		}
		if ((d.flags & VRING_DESC_F_WRITE) != want)
			return chain_fault(vr, writable ?
				"read-only descriptor in a receive chain" :
				"device-writable descriptor in a transmit chain");
		total += d.len;
		if (total > UINT32_MAX)
			return chain_fault(vr, "chain longer than 4 GiB");
		n = guest_mem_gpa_iov(vr->mem, d.addr, d.len, c->iov + c->niov,
				      VRING_CHAIN_MAX_IOV - c->niov);
		if (n == -EFAULT)
			return chain_fault(vr, "descriptor outside guest memory");
		if (n < 0)
			too_many = true;	/* legal but beyond us: drop it */
		else
			c->niov += n;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= size)
			return chain_fault(vr, "next index beyond the table");
		d = desc_read(&table[idx]);
	}
	c->len = (uint32_t)total;
	return too_many ? -E2BIG : 0;
}

/**
 * vring_pop_walk() - the general case of vring_pop(): chains of several
 * descriptors, indirect tables, buffers across regions, and every fault
 * @vr:		ring, last_avail already advanced past @c->head
 * @c:		head set
 * @d:		the head descriptor, as vring_pop() read it (read once)
 * @writable:	as for vring_pop()
 *
 * Return: as vring_pop()
 */
int vring_pop_walk(struct vring *vr, struct vring_chain *c,
		   struct vring_desc_cpu d, bool writable)
{
	c->niov = 0;
	c->len = 0;
	return chain_walk(vr, c, d, writable);
}

/**
 * vring_empty_pushed() - turn the last @n unpublished completions into
 * empty ones (length 0), e.g. the chains of a frame that cannot be finished
 * @vr:		ring
 * @n:		completions, at most those pushed since the last publish
 */
void vring_empty_pushed(struct vring *vr, uint16_t n)
{
	for (; n; n--) {
		uint16_t slot = (uint16_t)(vr->used_idx - n) & (vr->num - 1);

		vr->used->ring[slot].len = cpu_to_le32(0);
	}
}

/* Should the guest be interrupted for the completions published since? */
static bool need_call(struct vring *vr)
{
	uint16_t old = vr->signalled_used, new_idx = vr->used_idx;
	bool valid = vr->signalled_valid;

	if (!vr->event_idx)
		return !(le16_to_cpu(READ_ONCE(vr->avail->flags)) & VRING_AVAIL_F_NO_INTERRUPT);
	vr->signalled_used = new_idx;
	vr->signalled_valid = true;
	if (!valid)
		return true;
	return vring_need_event(le16_to_cpu(READ_ONCE(*vring_used_event(vr))),
				new_idx, old);
}

/**
 * vring_notify() - interrupt the guest if it asked for it
 * @vr:		ring, completions already published
 *
 * Return: 0, or -errno if the call fd refused the write (a full eventfd
 * counter, -EAGAIN, is not an error: an interrupt is pending anyway)
 */
int vring_notify(struct vring *vr)
{
	/*
	 * Order the used->idx store before the read of used_event / flags;
	 * pairs with the guest's barrier between writing used_event and
	 * re-reading used->idx (the lost-interrupt race).
	 */
	smp_mb();
	if (vr->call_fd >= 0 && need_call(vr))
		return vring_signal(vr->call_fd);
	return 0;
}

/**
 * vring_signal() - write the guest's call eventfd (either ring layout)
 * @call_fd:	the ring's call fd
 *
 * Return: 0, or -errno if the fd refused the write (a full eventfd counter,
 * -EAGAIN, is not an error: an interrupt is pending anyway)
 */
int vring_signal(int call_fd)
{
	if (unlikely(eventfd_write(call_fd, 1) < 0) && errno != EAGAIN)
		return -errno;
	return 0;
}

/**
 * vring_kick_enable() - ask the guest to kick (or not) when it adds buffers
 * @vr:		ring
 * @enable:	true before sleeping; false while polling
 *
 * After enabling, the caller must re-check vring_avail_count(): a buffer
 * added just before the guest saw the request brings no kick.
 */
void vring_kick_enable(struct vring *vr, bool enable)
{
	if (vr->event_idx) {
		/* While polling, avail_event is left behind: no kicks. */
		if (enable)
			WRITE_ONCE(*vring_avail_event(vr), cpu_to_le16(vr->last_avail));
	} else {
		WRITE_ONCE(vr->used->flags,
			   cpu_to_le16(enable ? 0 : VRING_USED_F_NO_NOTIFY));
	}
	smp_mb();
	if (unlikely(vr->log)) {
		/* used->flags, or avail_event behind the used ring's entries. */
		uint64_t off = vr->event_idx ? 4 + 8ull * vr->num : 0;

		dirty_log_range(vr->log, vr->log_used_gpa + off, 2);
	}
}

/*
 * Migration logging: what the switch wrote into guest memory is marked in
 * vr->log, after the write. Used-ring writes are logged at the guest-physical
 * address the frontend gave for the used ring (log_guest_addr), buffer
 * writes at the address of each buffer.
 */

/* Note a write of [@gpa, @gpa + @len) for the next vring_log_used(). */
static void log_collect(struct vring *vr, uint64_t gpa, uint64_t len)
{
	vr->log_cached = dirty_log_collect(vr->log, vr->log_cache, vr->log_cached,
					   VRING_LOG_CACHE, gpa, len);
}

/**
 * vring_log_used() - before used->idx moves: log the burst's buffer writes
 * and the used entries written since the last publish
 */
void vring_log_used(struct vring *vr)
{
	uint16_t i;

	for (i = vr->used_published; i != vr->used_idx; i++)
		log_collect(vr, vr->log_used_gpa + 4 + 8ull * (i & (vr->num - 1)), 8);
	dirty_log_flush(vr->log, vr->log_cache, vr->log_cached);
	vr->log_cached = 0;
}

/** vring_log_used_idx() - log used->idx, just published */
void vring_log_used_idx(struct vring *vr)
{
	dirty_log_range(vr->log, vr->log_used_gpa + 2, 2);
}

/**
 * vring_log_chain() - log the first @len bytes written into chain @c
 * @vr:		the ring @c was popped from (its memory table)
 * @c:		a translated chain
 * @len:	bytes written from the start of the chain
 */
void vring_log_chain(struct vring *vr, const struct vring_chain *c, uint32_t len)
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
