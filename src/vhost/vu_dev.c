/* SPDX-License-Identifier: MIT */
/* vu_dev.c - vhost-user device state and one handler per message */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/byteorder.h"
#include "core/log.h"
#include "vhost/virtio_net.h"
#include "vhost/vu_dev.h"


typedef int vu_handler_fn(struct vu_dev *dev, struct vu_msg *m,
			  union vu_payload *reply);

/**
 * struct vu_handler - how to check and run one request
 * @fn:		handler: <0 -errno, 0 done, >0 size of the reply body
 * @size:	exact payload size (or minimum with @size_is_min)
 * @max_fds:	fds the request may carry
 */
struct vu_handler {
	vu_handler_fn *fn;
	uint32_t size;
	bool size_is_min;
	uint8_t max_fds;
};

/**
 * vu_dev_offered_features() - the virtio and vhost bits we implement
 *
 * USO is left out: QEMU 7.2 and DPDK 22.11 know no USO feature, so nothing
 * here could negotiate it. UFO never (Linux stopped making UFO frames).
 */
uint64_t vu_dev_offered_features(void)
{
	return VU_OFFLOAD_FEATURES |
	       1ull << VIRTIO_F_VERSION_1 |
	       1ull << VIRTIO_NET_F_MRG_RXBUF |
	       1ull << VIRTIO_RING_F_INDIRECT_DESC |
	       1ull << VIRTIO_RING_F_EVENT_IDX |
	       1ull << VIRTIO_F_ANY_LAYOUT |
	       1ull << VIRTIO_NET_F_GUEST_ANNOUNCE |
	       1ull << VIRTIO_NET_F_MQ |
	       1ull << VIRTIO_F_IN_ORDER |
	       1ull << VIRTIO_F_RING_PACKED |
	       1ull << VHOST_F_LOG_ALL |
	       1ull << VHOST_USER_F_PROTOCOL_FEATURES;
}

/** vu_dev_offered_protocol_features() - the protocol bits we implement */
uint64_t vu_dev_offered_protocol_features(void)
{
	return 1ull << VHOST_USER_PROTOCOL_F_MQ |
	       1ull << VHOST_USER_PROTOCOL_F_LOG_SHMFD |
	       1ull << VHOST_USER_PROTOCOL_F_RARP |
	       1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK;
}

/** vu_dev_has() - was virtio/vhost feature bit @feature negotiated? */
bool vu_dev_has(const struct vu_dev *dev, unsigned int feature)
{
	return dev->features & (1ull << feature);
}

static bool has_protocol(const struct vu_dev *dev, unsigned int feature)
{
	return dev->protocol_features & (1ull << feature);
}

/**
 * vu_dev_fail() - the frontend broke a rule: mark the device broken
 * @dev:	device; its owner closes the connection
 * @fmt:	what happened
 */
void vu_dev_fail(struct vu_dev *dev, const char *fmt, ...)
{
	bool was = false;
	va_list ap;

	/* Threads sending to several rings may fail at once: the first tells. */
	if (!__atomic_compare_exchange_n(&dev->broken, &was, true, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vsnprintf(dev->broken_why, sizeof(dev->broken_why), fmt, ap);
	va_end(ap);
	err("port %s: %s", dev->name, dev->broken_why);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Take fd @i out of @m: the caller owns it now. */
static int take_fd(struct vu_msg *m, unsigned int i)
{
	int fd = m->fds[i];

	m->fds[i] = -1;
	return fd;
}

/** vu_dev_init() - an unconnected device with @queue_pairs queue pairs */
void vu_dev_init(struct vu_dev *dev, const char *name, unsigned int queue_pairs,
		 const struct vu_dev_ops *ops, void *owner)
{
	unsigned int i;

	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	dev->max_queue_pairs = queue_pairs;
	dev->ops = ops;
	dev->owner = owner;
	dev->hdr_len = 10;
	dev->offered = vu_dev_offered_features();
	for (i = 0; i < VU_MAX_VQS; i++) {
		struct vu_vq *vq = &dev->vq[i];

		vq->dev = dev;
		vq->index = i;
		vq->kick_fd = vq->err_fd = vq->call_fd = -1;
		vq->kick_ev.fd = -1;
	}
}

static unsigned int nvqs(const struct vu_dev *dev)
{
	return 2 * dev->max_queue_pairs;
}

/* Host addresses of a ring's three parts: split or packed (vq->packed). */
struct vq_parts {
	void *desc;
	void *driver;		/* split: avail ring; packed: driver event area */
	void *device;		/* split: used ring; packed: device event area */
};

/* @vq's parts for its layout, each range inside one region and aligned. */
static int vq_translate(struct vu_dev *dev, struct vu_vq *vq,
			struct vq_parts *a)
{
	bool ev = vu_dev_has(dev, VIRTIO_RING_F_EVENT_IDX);
	uint64_t driver = vq->packed ? sizeof(struct vring_packed_event) :
				       vring_avail_size(vq->num, ev);
	uint64_t device = vq->packed ? sizeof(struct vring_packed_event) :
				       vring_used_size(vq->num, ev);

	a->desc = guest_mem_qva_range(&dev->mem, vq->addr.desc_user_addr,
				      16ull * vq->num);
	a->driver = guest_mem_qva_range(&dev->mem, vq->addr.avail_user_addr, driver);
	a->device = guest_mem_qva_range(&dev->mem, vq->addr.used_user_addr, device);
	if (!a->desc || !a->driver || !a->device)
		return -EFAULT;
	/* What we write is written with aligned stores the guest reads. */
	if ((uintptr_t)a->desc % 16 || (uintptr_t)a->driver % (vq->packed ? 4 : 2) ||
	    (uintptr_t)a->device % 4)
		return -EFAULT;
	return 0;
}

/* Point @vq's started ring at @a (a new memory table or SET_VRING_ADDR). */
static void vq_point(struct vu_vq *vq, const struct vq_parts *a)
{
	if (vq->packed) {
		vq->vp.desc = a->desc;
		vq->vp.driver = a->driver;
		vq->vp.device = a->device;
	} else {
		vq->vr.desc = a->desc;
		vq->vr.avail = a->driver;
		vq->vr.used = a->device;
	}
}

/* A packed ring's own guest-physical addresses, for the log (0: none). */
static uint64_t host_gpa(const struct guest_mem *mem, const void *p)
{
	uint64_t gpa;

	return guest_mem_host_gpa(mem, p, &gpa) ? 0 : gpa;
}

/*
 * A started ring is logged while LOG_ALL is negotiated, a log is mapped and
 * its SET_VRING_ADDR asked for it; re-evaluated whenever one of them changes.
 */
static void vq_update_log(struct vu_dev *dev, struct vu_vq *vq)
{
	bool on = vq->started && vu_dev_has(dev, VHOST_F_LOG_ALL) &&
		  dev->log.bits && (vq->addr.flags & VHOST_VRING_F_LOG);

	if (!vq->packed) {
		vq->vr.log = on ? &dev->log : NULL;
		vq->vr.log_used_gpa = vq->addr.log_guest_addr;
		return;
	}
	/*
	 * Used descriptors are written into the descriptor ring, which
	 * log_guest_addr (QEMU: the device area) does not cover: log the
	 * ring and the device area at their own addresses.
	 */
	vq->vp.log = on ? &dev->log : NULL;
	vq->vp.log_desc_gpa = host_gpa(&dev->mem, vq->vp.desc);
	vq->vp.log_device_gpa = host_gpa(&dev->mem, vq->vp.device);
}

static void update_logs(struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < VU_MAX_VQS; i++)
		vq_update_log(dev, &dev->vq[i]);
}

/** vu_dev_logging() - is any ring of @dev being logged for migration? */
bool vu_dev_logging(const struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < VU_MAX_VQS; i++)
		if (dev->vq[i].started &&
		    (dev->vq[i].packed ? dev->vq[i].vp.log : dev->vq[i].vr.log))
			return true;
	return false;
}

/* A split ring resumes where used->idx in guest memory says. */
static void vq_init_split(struct vu_dev *dev, struct vu_vq *vq,
			  const struct vq_parts *p)
{
	struct vring_addr a = { p->desc, p->driver, p->device };

	vring_init(&vq->vr, &a, vq->num, (uint16_t)vq->base,
		   vu_dev_has(dev, VIRTIO_RING_F_EVENT_IDX), &dev->mem);
	vq->vr.call_fd = vq->call_fd;
	if (vq->vr.base_mismatch)
		info("port %s: ring %u resumes at used index %u (base was %u)",
		     dev->name, vq->index, vq->vr.last_avail, vq->base);
}

/* A packed ring has no index in shared memory: it resumes at the base. */
static int vq_init_packed(struct vu_dev *dev, struct vu_vq *vq,
			  const struct vq_parts *p)
{
	struct vring_packed_addr a = { p->desc, p->driver, p->device };
	uint32_t found;
	int rc;

	vq->vp = (struct vring_packed){ 0 };	/* the union held a split ring */
	if (!vq->base_set)
		vq->base = VRING_PACKED_BASE_RESET;
	rc = vring_packed_init(&vq->vp, &a, vq->num, vq->base,
			       vu_dev_has(dev, VIRTIO_RING_F_EVENT_IDX),
			       vu_dev_has(dev, VIRTIO_F_IN_ORDER), &dev->mem);
	if (rc) {
		vu_dev_fail(dev, "ring %u: packed base %#x does not fit a ring of %u%s",
			    vq->index, vq->base, vq->num, rc == -ENOMEM ? " (no memory)" : "");
		return rc;
	}
	if (vring_packed_base_from_ring(&vq->vp, &found)) {
		warn("port %s: packed ring %u: base %#x does not fit the ring's flags "
		     "(a restarted switch gets the frontend's stale base); resuming at "
		     "slot %u wrap %u, found from the descriptors", dev->name, vq->index,
		     vq->base, found & VRING_PACKED_IDX_MASK,
		     (found >> VRING_PACKED_WRAP_SHIFT) & 1);
		vq->base = found;
		rc = vring_packed_init(&vq->vp, &a, vq->num, found,
				       vu_dev_has(dev, VIRTIO_RING_F_EVENT_IDX),
				       vu_dev_has(dev, VIRTIO_F_IN_ORDER), &dev->mem);
		if (rc) {
			vu_dev_fail(dev, "ring %u: no memory to restart it", vq->index);
			return rc;
		}
	}
	vq->vp.call_fd = vq->call_fd;
	if (vq->vp.base_mismatch)
		info("port %s: packed ring %u resumes with %u slots the frontend "
		     "never saw completed (base %#x)", dev->name, vq->index,
		     (unsigned int)vq->vp.owned, vq->base);
	return 0;
}

static int vq_start(struct vu_dev *dev, struct vu_vq *vq)
{
	struct vq_parts a;

	if (!vq->num || !vq->addr_set || !dev->mem.nregions) {
		vu_dev_fail(dev, "ring %u kicked before its size, addresses and memory were set",
			    vq->index);
		return -EINVAL;
	}
	vq->packed = vu_dev_has(dev, VIRTIO_F_RING_PACKED);
	if (!vq->packed && !is_power_of_2(vq->num)) {
		vu_dev_fail(dev, "split ring %u of size %u (not a power of two)",
			    vq->index, vq->num);
		return -EINVAL;
	}
	if (vq_translate(dev, vq, &a)) {
		vu_dev_fail(dev, "ring %u addresses outside guest memory or misaligned",
			    vq->index);
		return -EFAULT;
	}
	if (!vq->packed)
		vq_init_split(dev, vq, &a);
	else if (vq_init_packed(dev, vq, &a))
		return -EINVAL;
	vq->started = true;
	vq_update_log(dev, vq);
	dev->ops->vq_started(dev, vq);
	return 0;
}

/* Stop @vq without losing its place: GET_VRING_BASE semantics. */
static void vq_stop(struct vu_dev *dev, struct vu_vq *vq)
{
	if (vq->started) {
		dev->ops->vq_stopping(dev, vq);
		vq->started = false;
		vq->base_set = true;
		if (vq->packed) {
			vq->base = vring_packed_base(&vq->vp);
			vring_packed_free(&vq->vp);
			vq->vp.log = NULL;
		} else {
			vq->base = vq->vr.last_avail;
			vq->vr.log = NULL;
		}
	}
	close_fd(&vq->kick_fd);
	vq->polled = false;
}

/** vu_dev_reset() - back to the unconnected state: rings, fds, memory */
void vu_dev_reset(struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < VU_MAX_VQS; i++) {
		struct vu_vq *vq = &dev->vq[i];

		vq_stop(dev, vq);
		close_fd(&vq->err_fd);
		close_fd(&vq->call_fd);
		vq->num = 0;
		vq->base = 0;
		vq->base_set = false;
		vq->addr_set = false;
		vq->enabled = false;
	}
	guest_mem_unmap(&dev->mem);
	dirty_log_unmap(&dev->log);
	dev->features = 0;
	dev->protocol_features = 0;
	dev->features_set = false;
	dev->hdr_len = 10;
	dev->mergeable = false;
	dev->rx_offloads = 0;
	dev->tx_offloads = 0;
	dev->broken = false;
	dev->broken_why[0] = '\0';
}

/* The vring index of a ring message, checked as a full u32 (CVE-2020-10723). */
static struct vu_vq *msg_vq(struct vu_dev *dev, uint32_t index)
{
	if (index >= nvqs(dev))
		return NULL;
	return &dev->vq[index];
}

static bool any_started(const struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < VU_MAX_VQS; i++)
		if (dev->vq[i].started)
			return true;
	return false;
}

static int reply_u64(union vu_payload *reply, uint64_t v)
{
	reply->u64 = v;
	return sizeof(reply->u64);
}

static int get_features(struct vu_dev *dev, struct vu_msg *m,
			union vu_payload *reply)
{
	uint64_t f = dev->offered;

	(void)m;
	if (dev->max_queue_pairs < 2)
		f &= ~(1ull << VIRTIO_NET_F_MQ);
	return reply_u64(reply, f);
}

static int set_features(struct vu_dev *dev, struct vu_msg *m,
			union vu_payload *reply)
{
	uint64_t f = m->p.u64, offered = dev->offered;
	unsigned int i;

	(void)reply;
	if (f & ~offered) {
		warn("port %s: frontend acked features %#llx we do not offer",
		     dev->name, (unsigned long long)(f & ~offered));
		return -EINVAL;
	}
	/* A legacy device is in the guest's (= host's) order: core/byteorder.h. */
	if (VU_HOST_BIG_ENDIAN && !(f & (1ull << VIRTIO_F_VERSION_1))) {
		warn("port %s: legacy (pre-1.0) device on a big-endian host",
		     dev->name);
		return -EINVAL;
	}
	/*
	 * Ring layout and header size follow the features: not while running.
	 * Migration turns LOG_ALL on and off under running rings, and QEMU
	 * aborts the guest if that is refused.
	 */
	if ((f ^ dev->features) & ~(1ull << VHOST_F_LOG_ALL) && any_started(dev)) {
		warn("port %s: SET_FEATURES %#llx while rings run", dev->name,
		     (unsigned long long)f);
		return -EBUSY;
	}
	dev->features = f;
	dev->features_set = true;
	dev->hdr_len = vnet_hdr_len(f);
	dev->mergeable = f & (1ull << VIRTIO_NET_F_MRG_RXBUF);
	dev->rx_offloads = pkt_offload_caps_tx(f);
	dev->tx_offloads = pkt_offload_caps_rx(f);
	update_logs(dev);
	/* Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE. */
	if (!(f & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		for (i = 0; i < VU_MAX_VQS; i++)
			dev->vq[i].enabled = true;
	return 0;
}

static int set_owner(struct vu_dev *dev, struct vu_msg *m,
		     union vu_payload *reply)
{
	(void)dev, (void)m, (void)reply;
	return 0;
}

/* Deprecated: treated as "stop every ring", keeping the connection. */
static int reset_owner(struct vu_dev *dev, struct vu_msg *m,
		       union vu_payload *reply)
{
	unsigned int i;

	(void)m, (void)reply;
	for (i = 0; i < VU_MAX_VQS; i++)
		vq_stop(dev, &dev->vq[i]);
	return 0;
}

/* Are all started rings inside @mem? (Checked before switching to it.) */
static bool rings_fit(struct vu_dev *dev, const struct guest_mem *mem)
{
	struct guest_mem saved = dev->mem;
	struct vq_parts a;
	bool ok = true;
	unsigned int i;

	dev->mem = *mem;
	for (i = 0; i < nvqs(dev) && ok; i++)
		if (dev->vq[i].started && vq_translate(dev, &dev->vq[i], &a))
			ok = false;
	dev->mem = saved;
	return ok;
}

/* Point every started ring at the current mapping, keeping its indexes. */
static int retranslate_rings(struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < nvqs(dev); i++) {
		struct vu_vq *vq = &dev->vq[i];
		struct vq_parts a;

		if (!vq->started)
			continue;
		if (vq_translate(dev, vq, &a)) {
			vu_dev_fail(dev, "ring %u not in guest memory", i);
			return -EFAULT;
		}
		vq_point(vq, &a);
		vq_update_log(dev, vq);	/* a packed ring's addresses may have moved */
	}
	return 0;
}

/*
 * The datapath runs in this thread, so nothing uses the old mapping while
 * this runs: map the new table, switch, unmap the old one, re-point the
 * rings, and only then let the dispatcher ack.
 */
static int set_mem_table(struct vu_dev *dev, struct vu_msg *m,
			 union vu_payload *reply)
{
	struct guest_region_desc d[GUEST_MEM_MAX_REGIONS];
	const struct vu_mem_table *t = &m->p.mem;
	struct guest_mem fresh = { 0 };
	char why[128];
	unsigned int i;
	int rc;

	(void)reply;
	if (t->nregions < 1 || t->nregions > VU_MEM_MAX_REGIONS) {
		warn("port %s: memory table with %u regions", dev->name,
		     t->nregions);
		return -EINVAL;
	}
	if (m->hdr.size < 8 + t->nregions * sizeof(t->region[0]) ||
	    m->nfds != t->nregions) {
		warn("port %s: memory table of %u regions with %u fds, %u bytes",
		     dev->name, t->nregions, m->nfds, m->hdr.size);
		return -EINVAL;
	}
	for (i = 0; i < t->nregions; i++) {
		d[i].gpa = t->region[i].guest_phys_addr;
		d[i].size = t->region[i].memory_size;
		d[i].qva = t->region[i].userspace_addr;
		d[i].mmap_offset = t->region[i].mmap_offset;
	}
	rc = guest_mem_map(&fresh, d, m->fds, t->nregions, why, sizeof(why));
	if (rc) {
		warn("port %s: memory table refused: %s", dev->name, why);
		return rc;
	}
	if (!rings_fit(dev, &fresh)) {
		warn("port %s: memory table refused: running rings not in it",
		     dev->name);
		guest_mem_unmap(&fresh);
		return -EINVAL;
	}
	guest_mem_unmap(&dev->mem);
	dev->mem = fresh;
	return retranslate_rings(dev);
}

static int set_vring_num(struct vu_dev *dev, struct vu_msg *m,
			 union vu_payload *reply)
{
	struct vu_vq *vq = msg_vq(dev, m->p.state.index);
	uint32_t num = m->p.state.num;

	(void)reply;
	/* Packed rings may have any size. Split ones a power of two: checked
	 * here and again at start, in case the features change in between. */
	if (!vq || vq->started || !num || num > VRING_MAX_SIZE ||
	    (!vu_dev_has(dev, VIRTIO_F_RING_PACKED) && !is_power_of_2(num))) {
		warn("port %s: SET_VRING_NUM ring %u size %u refused", dev->name,
		     m->p.state.index, num);
		return -EINVAL;
	}
	vq->num = num;
	return 0;
}

static int set_vring_addr(struct vu_dev *dev, struct vu_msg *m,
			  union vu_payload *reply)
{
	struct vu_vq *vq = msg_vq(dev, m->p.addr.index);
	struct vu_vring_addr old;

	(void)reply;
	if (!vq || m->p.addr.flags & ~VHOST_VRING_F_LOG) {
		warn("port %s: SET_VRING_ADDR ring %u refused", dev->name,
		     m->p.addr.index);
		return -EINVAL;
	}
	/* A running ring keeps its indexes: migration sets the LOG flag so. */
	old = vq->addr;
	vq->addr = m->p.addr;
	vq->addr_set = true;
	if (vq->started && retranslate_rings(dev)) {
		vq->addr = old;
		return -EFAULT;
	}
	vq_update_log(dev, vq);
	return 0;
}

static int set_vring_base(struct vu_dev *dev, struct vu_msg *m,
			  union vu_payload *reply)
{
	struct vu_vq *vq = msg_vq(dev, m->p.state.index);
	bool packed = vu_dev_has(dev, VIRTIO_F_RING_PACKED);

	(void)reply;
	/* A packed base is checked against the size if it came first (QEMU
	 * and DPDK send the size first), else when the ring starts. */
	if (!vq || vq->started || (!packed && m->p.state.num > 0xffff) ||
	    (packed && vq->num && !vring_packed_base_valid(m->p.state.num, vq->num))) {
		warn("port %s: SET_VRING_BASE ring %u base %#x refused", dev->name,
		     m->p.state.index, m->p.state.num);
		return -EINVAL;
	}
	vq->base = m->p.state.num;
	vq->base_set = true;
	return 0;
}

static int get_vring_base(struct vu_dev *dev, struct vu_msg *m,
			  union vu_payload *reply)
{
	struct vu_vq *vq = msg_vq(dev, m->p.state.index);

	if (!vq) {
		vu_dev_fail(dev, "GET_VRING_BASE for ring %u", m->p.state.index);
		return -EINVAL;
	}
	vq_stop(dev, vq);
	reply->state.index = vq->index;
	reply->state.num = vq->base;
	return sizeof(reply->state);
}

/* The ring and fd of SET_VRING_KICK/CALL/ERR; -1 fd for NOFD. */
static struct vu_vq *fd_msg_vq(struct vu_dev *dev, struct vu_msg *m, int *fd)
{
	uint64_t v = m->p.u64;
	bool nofd = v & VHOST_USER_VRING_NOFD;
	struct vu_vq *vq;

	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD))
		return NULL;
	vq = msg_vq(dev, (uint32_t)(v & VHOST_USER_VRING_IDX_MASK));
	if (!vq || (nofd ? m->nfds != 0 : m->nfds != 1))
		return NULL;
	*fd = nofd ? -1 : take_fd(m, 0);
	return vq;
}

/*
 * Is @fd an eventfd? The protocol says kick and call fds are; a pipe or a
 * socket in their place could block the loop in the write of an interrupt.
 * Without /proc there is no telling, and it is taken on trust.
 */
static bool is_eventfd(int fd)
{
	char path[40], link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

/* The ring of SET_VRING_KICK/CALL and its fd (-1: NOFD), checked. */
static struct vu_vq *eventfd_msg_vq(struct vu_dev *dev, struct vu_msg *m,
				    int *fd)
{
	const char *name = vu_request_name(m->hdr.request);
	struct vu_vq *vq = fd_msg_vq(dev, m, fd);

	if (!vq) {
		warn("port %s: malformed %s", dev->name, name);
		return NULL;
	}
	if (*fd >= 0 && !is_eventfd(*fd)) {
		warn("port %s: %s for ring %u with an fd that is not an eventfd",
		     dev->name, name, vq->index);
		close_fd(fd);
		return NULL;
	}
	return vq;
}

static int set_vring_kick(struct vu_dev *dev, struct vu_msg *m,
			  union vu_payload *reply)
{
	struct vu_vq *vq;
	int fd;

	(void)reply;
	vq = eventfd_msg_vq(dev, m, &fd);
	if (!vq)
		return -EINVAL;
	vq_stop(dev, vq);	/* a new kick fd restarts the ring */
	vq->kick_fd = fd;
	vq->polled = fd < 0;
	return vq_start(dev, vq);
}

static int set_vring_call(struct vu_dev *dev, struct vu_msg *m,
			  union vu_payload *reply)
{
	struct vu_vq *vq;
	int fd;

	(void)reply;
	vq = eventfd_msg_vq(dev, m, &fd);
	if (!vq)
		return -EINVAL;
	/* May arrive while the ring runs: the next notify uses the new fd. */
	close_fd(&vq->call_fd);
	vq->call_fd = fd;
	if (vq->started && vq->packed)
		vq->vp.call_fd = fd;
	else if (vq->started)
		vq->vr.call_fd = fd;
	return 0;
}

static int set_vring_err(struct vu_dev *dev, struct vu_msg *m,
			 union vu_payload *reply)
{
	struct vu_vq *vq;
	int fd;

	(void)reply;
	vq = fd_msg_vq(dev, m, &fd);
	if (!vq) {
		warn("port %s: malformed SET_VRING_ERR", dev->name);
		return -EINVAL;
	}
	close_fd(&vq->err_fd);
	vq->err_fd = fd;
	return 0;
}

static int get_protocol_features(struct vu_dev *dev, struct vu_msg *m,
				 union vu_payload *reply)
{
	(void)dev, (void)m;
	return reply_u64(reply, vu_dev_offered_protocol_features());
}

static int set_protocol_features(struct vu_dev *dev, struct vu_msg *m,
				 union vu_payload *reply)
{
	(void)reply;
	if (m->p.u64 & ~vu_dev_offered_protocol_features()) {
		warn("port %s: protocol features %#llx not offered", dev->name,
		     (unsigned long long)m->p.u64);
		return -EINVAL;
	}
	dev->protocol_features = m->p.u64;
	return 0;
}

static int get_queue_num(struct vu_dev *dev, struct vu_msg *m,
			 union vu_payload *reply)
{
	(void)m;
	return reply_u64(reply, dev->max_queue_pairs);
}

static int set_vring_enable(struct vu_dev *dev, struct vu_msg *m,
			    union vu_payload *reply)
{
	struct vu_vq *vq = msg_vq(dev, m->p.state.index);

	(void)reply;
	if (!vq || m->p.state.num > 1) {
		warn("port %s: SET_VRING_ENABLE ring %u value %u refused",
		     dev->name, m->p.state.index, m->p.state.num);
		return -EINVAL;
	}
	/* Kept whether or not the ring is set up yet (QEMU sends it early). */
	vq->enabled = m->p.state.num;
	return 0;
}

/*
 * The migration log. QEMU waits for a reply whenever LOG_SHMFD was
 * negotiated, REPLY_ACK or not; a refusal is answered (not a broken
 * device), and QEMU then fails the migration, not the guest.
 */
static int set_log_base(struct vu_dev *dev, struct vu_msg *m,
			union vu_payload *reply)
{
	char why[128];
	int rc;

	if (!has_protocol(dev, VHOST_USER_PROTOCOL_F_LOG_SHMFD) || m->nfds != 1) {
		warn("port %s: SET_LOG_BASE with %u fds%s", dev->name, m->nfds,
		     has_protocol(dev, VHOST_USER_PROTOCOL_F_LOG_SHMFD) ? "" :
		     " before LOG_SHMFD was negotiated");
		return -EINVAL;
	}
	rc = dirty_log_map(&dev->log, m->fds[0], m->p.log.mmap_size,
			   m->p.log.mmap_offset, why, sizeof(why));
	if (rc) {
		warn("port %s: SET_LOG_BASE refused: %s", dev->name, why);
		reply->u64 = 1;
	} else {
		info("port %s: migration log of %llu bytes", dev->name,
		     (unsigned long long)dev->log.size);
		reply->u64 = 0;
	}
	update_logs(dev);
	return sizeof(reply->u64);
}

/* After a migration: announce the guest's MAC (accepted at any time). */
static int send_rarp(struct vu_dev *dev, struct vu_msg *m,
		     union vu_payload *reply)
{
	uint8_t mac[6];

	(void)reply;
	memcpy(mac, &m->p.u64, 6);
	dev->rarps++;
	if (dev->ops->send_rarp)
		dev->ops->send_rarp(dev, mac);
	return 0;
}

static const struct vu_handler handlers[VHOST_USER_MAX_KNOWN] = {
	[VHOST_USER_GET_FEATURES] = { get_features, 0, true, 0 },
	[VHOST_USER_SET_FEATURES] = { set_features, 8, false, 0 },
	[VHOST_USER_SET_OWNER] = { set_owner, 0, true, 0 },
	[VHOST_USER_RESET_OWNER] = { reset_owner, 0, true, 0 },
	[VHOST_USER_SET_MEM_TABLE] = { set_mem_table, 8, true, VU_MAX_FDS },
	[VHOST_USER_SET_VRING_NUM] = { set_vring_num, 8, false, 0 },
	[VHOST_USER_SET_VRING_ADDR] = { set_vring_addr, 40, false, 0 },
	[VHOST_USER_SET_VRING_BASE] = { set_vring_base, 8, false, 0 },
	[VHOST_USER_GET_VRING_BASE] = { get_vring_base, 8, false, 0 },
	[VHOST_USER_SET_VRING_KICK] = { set_vring_kick, 8, false, 1 },
	[VHOST_USER_SET_VRING_CALL] = { set_vring_call, 8, false, 1 },
	[VHOST_USER_SET_VRING_ERR] = { set_vring_err, 8, false, 1 },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = { get_protocol_features, 0, true, 0 },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = { set_protocol_features, 8, false, 0 },
	[VHOST_USER_GET_QUEUE_NUM] = { get_queue_num, 0, true, 0 },
	[VHOST_USER_SET_VRING_ENABLE] = { set_vring_enable, 8, false, 0 },
	[VHOST_USER_SET_LOG_BASE] = { set_log_base, 16, false, 1 },
	[VHOST_USER_SEND_RARP] = { send_rarp, 8, false, 0 },
};

/* Check the request against its table entry; 0 if it may run. */
static int check_msg(struct vu_dev *dev, const struct vu_msg *m,
		     const struct vu_handler *h)
{
	const char *name = vu_request_name(m->hdr.request);

	if ((m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		warn("port %s: %s with protocol version %u", dev->name, name,
		     m->hdr.flags & VHOST_USER_VERSION_MASK);
		return -EPROTO;
	}
	if (!h->fn) {
		warn("port %s: request %u (%s) not supported", dev->name,
		     m->hdr.request, name);
		return -ENOTSUP;
	}
	if (m->nfds > h->max_fds || m->fds_dropped) {
		warn("port %s: %s with %u fds", dev->name, name,
		     m->nfds + m->fds_dropped);
		return -EINVAL;
	}
	if (h->size_is_min ? m->hdr.size < h->size : m->hdr.size != h->size) {
		warn("port %s: %s with a %u-byte payload", dev->name, name,
		     m->hdr.size);
		return -EINVAL;
	}
	return 0;
}

/**
 * vu_dev_handle() - run one complete message and send its reply
 * @dev:	device
 * @msg:	the message; its fds are closed or taken over here
 * @sock:	where replies go
 *
 * A failed request that the frontend asked to be acked is answered with a
 * nonzero ack and the device carries on; any other failure breaks it.
 *
 * Return: 0 to keep the connection, -errno to close it
 */
int vu_dev_handle(struct vu_dev *dev, struct vu_msg *msg, int sock)
{
	uint32_t req = msg->hdr.request;
	const struct vu_handler *h = req < VHOST_USER_MAX_KNOWN ?
				     &handlers[req] : &handlers[0];
	bool ack = (msg->hdr.flags & VHOST_USER_NEED_REPLY_FLAG) &&
		   has_protocol(dev, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	union vu_payload reply;
	int rc;

	debug("port %s: %s size %u fds %u", dev->name, vu_request_name(req),
	      msg->hdr.size, msg->nfds);
	rc = check_msg(dev, msg, h);
	if (!rc)
		rc = h->fn(dev, msg, &reply);
	vu_msg_close_fds(msg);
	if (rc > 0)
		return vu_msg_reply(sock, req, &reply, (uint32_t)rc);
	if (ack) {
		uint64_t status = rc < 0;
		int wrc = vu_msg_reply(sock, req, &status, sizeof(status));

		return dev->broken ? -EIO : wrc;
	}
	if (rc < 0)
		vu_dev_fail(dev, "%s failed (%s)", vu_request_name(req),
			    strerror(-rc));
	return dev->broken ? -EIO : 0;
}
