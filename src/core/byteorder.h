/* SPDX-License-Identifier: MIT */
/*
 * byteorder.h - the byte order of what guests share with us
 *
 * Virtio 1.0 and later lay out rings and the virtio-net header in little
 * endian (virtio 1.2 §1.4, §2.7). Fields of that layout are declared le16,
 * le32 or le64 and read and written only through these accessors, which
 * compile to nothing on a little-endian host (x86, arm64).
 *
 * Legacy (pre-1.0) devices use the guest's native order instead. QEMU only
 * starts a legacy vhost-user device whose guest order differs from the
 * host's when the backend offers CROSS_ENDIAN, which we do not; so a legacy
 * guest is native-endian here. On a little-endian host that is little
 * endian and these accessors are right for it too. On a big-endian host
 * they would not be: there vu_dev refuses a device without VERSION_1
 * (VU_HOST_BIG_ENDIAN below).
 *
 * vhost-user messages themselves are in the host's order (both ends run on
 * one machine) and are not converted.
 */
#ifndef VMSW_BYTEORDER_H
#define VMSW_BYTEORDER_H

#include <endian.h>
#include <stdint.h>

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

#define VU_HOST_BIG_ENDIAN	(__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)

/* For static initialisers, where a function call is not a constant. */
#define LE16_CONST(x)	((le16)(VU_HOST_BIG_ENDIAN ? __builtin_bswap16(x) : (x)))

static inline uint16_t le16_to_cpu(le16 v) { return le16toh(v); }
static inline uint32_t le32_to_cpu(le32 v) { return le32toh(v); }
static inline uint64_t le64_to_cpu(le64 v) { return le64toh(v); }
static inline le16 cpu_to_le16(uint16_t v) { return htole16(v); }
static inline le32 cpu_to_le32(uint32_t v) { return htole32(v); }
static inline le64 cpu_to_le64(uint64_t v) { return htole64(v); }

#endif /* VMSW_BYTEORDER_H */
