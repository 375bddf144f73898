/* SPDX-License-Identifier: MIT */
/*
 * vu_msg.h - vhost-user messages on the wire: layout, reading, replying
 *
 * A message is a 12-byte header and a payload of hdr.size bytes, with file
 * descriptors as SCM_RIGHTS on the same stream. Reading is incremental and
 * never blocks, so a frontend that stops mid-message stalls only itself.
 */
#ifndef VMSW_VU_MSG_H
#define VMSW_VU_MSG_H

#include <stdint.h>
#include <sys/types.h>

enum vu_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_MAX_KNOWN = 20,
};

#define VHOST_USER_VERSION		0x1
#define VHOST_USER_VERSION_MASK		0x3
#define VHOST_USER_REPLY_FLAG		0x4
#define VHOST_USER_NEED_REPLY_FLAG	0x8

/* Payload of SET_VRING_KICK/CALL/ERR. */
#define VHOST_USER_VRING_IDX_MASK	0xff
#define VHOST_USER_VRING_NOFD		0x100

#define VU_MAX_FDS		8	/* one per memory region at most */
#define VU_MEM_MAX_REGIONS	8

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region region[VU_MEM_MAX_REGIONS];
};

/* SET_LOG_BASE */
struct vu_log_base {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

union vu_payload {
	uint64_t u64;
	struct vu_log_base log;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	uint8_t raw[sizeof(struct vu_mem_table)];
};

struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload p;
	int fds[VU_MAX_FDS];
	unsigned int nfds;
	unsigned int fds_dropped;	/* fds beyond VU_MAX_FDS, already closed */
};

/** struct vu_reader - a message being assembled from the socket */
struct vu_reader {
	struct vu_msg msg;
	size_t got;		/* bytes of header + payload received */
};

void vu_reader_reset(struct vu_reader *r);
int vu_msg_read(int sock, struct vu_reader *r);
void vu_msg_close_fds(struct vu_msg *m);
int vu_msg_reply(int sock, uint32_t request, const void *payload, uint32_t size);
const char *vu_request_name(uint32_t request);

#endif /* VMSW_VU_MSG_H */
