/* SPDX-License-Identifier: MIT */
/*
 * vu_dev.h - a vhost-user device: negotiated state, memory, rings, and the
 * handler for each frontend message
 *
 * The device does no I/O of its own. Its owner (the vhost-user port) feeds
 * it complete messages, sends the replies it produces, and is told through
 * vu_dev_ops when a ring starts or stops, so it can watch the kick fd. That
 * keeps this file testable with plain function calls.
 */
#ifndef VMSW_VU_DEV_H
#define VMSW_VU_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/evloop.h"
#include "vhost/dirty_log.h"
#include "vhost/guest_mem.h"
#include "vhost/ring.h"
#include "vhost/vu_msg.h"

#define VU_MAX_QUEUE_PAIRS	16
#define VU_MAX_VQS		(2 * VU_MAX_QUEUE_PAIRS)

#define VHOST_USER_F_PROTOCOL_FEATURES	30
#define VHOST_USER_PROTOCOL_F_MQ	0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD	1
#define VHOST_USER_PROTOCOL_F_RARP	2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK	3
#define VHOST_F_LOG_ALL			26
#define VHOST_VRING_F_LOG		1

struct vu_dev;

/**
 * struct vu_vq - one virtqueue: what the frontend set up, and its ring
 * @vr:		the datapath's ring state if split, valid only while @started
 * @vp:		the same if packed
 * @ring:	either, for vhost/ring.h
 * @packed:	@vp is the ring (VIRTIO_F_RING_PACKED negotiated at start)
 * @call_fd:	eventfd from SET_VRING_CALL, -1: none; the started ring has a copy
 * @num:	ring size from SET_VRING_NUM; 0: unset
 * @base:	from SET_VRING_BASE. Split: the next avail index (used->idx
 *		wins at start). Packed: avail index and wrap counter (bit 15)
 *		in the low half, used index and wrap counter in the high half:
 *		the ring has no index in shared memory, so this is its state
 * @base_set:	@base came from SET_VRING_BASE or a stop; a packed ring
 *		without one starts as a reset ring does (slot 0, wrap 1)
 * @addr_set:	SET_VRING_ADDR arrived
 * @addr:	the ring's frontend (QEMU virtual) addresses from SET_VRING_ADDR
 * @kick_fd:	eventfd the guest kicks, from SET_VRING_KICK; -1: none (polled)
 * @err_fd:	eventfd from SET_VRING_ERR, -1: none
 * @enabled:	SET_VRING_ENABLE state; survives a stop
 * @started:	between SET_VRING_KICK and GET_VRING_BASE: the datapath may
 *		use @vr
 * @polled:	started with NOFD: no kicks will come, the loop must poll it
 * @kick_ev:	event-loop registration of @kick_fd, for the owner's use
 * @dev:	the device it belongs to
 * @index:	queue index: even = guest TX (our rx), odd = guest RX (our tx)
 */
struct vu_vq {
	union {
		struct vring vr;
		struct vring_packed vp;
		union vring_any ring;
	};
	bool packed;
	int call_fd;
	uint32_t num;
	uint32_t base;
	bool base_set;
	bool addr_set;
	struct vu_vring_addr addr;
	int kick_fd;
	int err_fd;
	bool enabled;
	bool started;
	bool polled;
	struct ev_handler kick_ev;
	struct vu_dev *dev;
	unsigned int index;
};

/** struct vu_dev_ops - how the device tells its owner about rings */
struct vu_dev_ops {
	void (*vq_started)(struct vu_dev *dev, struct vu_vq *vq);
	void (*vq_stopping)(struct vu_dev *dev, struct vu_vq *vq);
	/* SEND_RARP: announce @mac as if the guest had sent a RARP */
	void (*send_rarp)(struct vu_dev *dev, const uint8_t mac[6]);
};

struct vu_dev {
	const char *name;	/* for log lines: the port name */
	uint64_t features;	/* acked by SET_FEATURES */
	uint64_t protocol_features;
	bool features_set;
	unsigned int hdr_len;	/* virtio-net header: 10 or 12 */
	bool mergeable;		/* VIRTIO_NET_F_MRG_RXBUF acked */
	uint64_t offered;	/* features offered: vu_dev_offered_features()
				 * less what the port turned off */
	unsigned int rx_offloads; /* PKT_OFL_* the guest may ask on transmit */
	unsigned int tx_offloads; /* PKT_OFL_* the guest takes on receive */
	unsigned int max_queue_pairs;
	struct guest_mem mem;
	struct dirty_log log;	/* SET_LOG_BASE's, while migrating */
	uint64_t rarps;		/* SEND_RARP requests */
	struct vu_vq vq[VU_MAX_VQS];
	bool broken;
	char broken_why[160];
	const struct vu_dev_ops *ops;
	void *owner;
};

/*
 * vu_dev_broken() - has the frontend broken a rule (vu_dev_fail())? For the
 * datapath, where the threads polling and sending to the device may set it
 * at the same time; the control thread reads @broken_why once they paused.
 */
static inline bool vu_dev_broken(const struct vu_dev *dev)
{
	return __atomic_load_n(&dev->broken, __ATOMIC_RELAXED);
}

uint64_t vu_dev_offered_features(void);
uint64_t vu_dev_offered_protocol_features(void);
void vu_dev_init(struct vu_dev *dev, const char *name, unsigned int queue_pairs,
		 const struct vu_dev_ops *ops, void *owner);
void vu_dev_reset(struct vu_dev *dev);
int vu_dev_handle(struct vu_dev *dev, struct vu_msg *msg, int sock);
void vu_dev_fail(struct vu_dev *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool vu_dev_has(const struct vu_dev *dev, unsigned int feature);
bool vu_dev_logging(const struct vu_dev *dev);

#endif /* VMSW_VU_DEV_H */
