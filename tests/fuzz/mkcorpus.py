#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

The seeds are small valid inputs in each target's input format (see the
comments at the top of fuzz_vu_msg.c and fuzz_vring.c). They are committed;
this script documents how they were made and rebuilds them after a format
change:  python3 tests/fuzz/mkcorpus.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- fuzz_vu_msg: records of (ctl, mem, len16, bytes) ------------------------

GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
NEED_REPLY = 0x8
FEATURES = (1 << 32 | 1 << 15 | 1 << 28 | 1 << 29 | 1 << 27 | 1 << 30 | 1 << 22)
PROTOCOL = 0x9                      # MQ | REPLY_ACK
QVA = 0x7f0000000000
MEM_64K = 0                         # mem_sizes[0] in fuzz_vu_msg.c


def rec(payload, nfds=0, memfds=0, mem=MEM_64K):
    """One record: payload bytes with nfds fds, the first ones memfds (bitmask)."""
    return struct.pack("<BBH", nfds | memfds << 4, mem, len(payload)) + payload


def msg(req, payload=b"", flags=0, size=None):
    size = len(payload) if size is None else size
    return struct.pack("=III", req, 1 | flags, size) + payload


def u64(req, v, flags=0):
    return msg(req, struct.pack("=Q", v), flags)


def state(req, index, num, flags=0):
    return msg(req, struct.pack("=II", index, num), flags)


def mem_table(regions, flags=NEED_REPLY, nregions=None):
    body = struct.pack("=II", len(regions) if nregions is None else nregions, 0)
    for gpa, size, qva, off in regions:
        body += struct.pack("=QQQQ", gpa, size, qva, off)
    return msg(SET_MEM_TABLE, body, flags)


def ring_addr(index, base):
    """Ring index at QVA base: desc, then avail +4 KiB, used +8 KiB (size 256)."""
    return msg(SET_VRING_ADDR, struct.pack("=IIQQQQ", index, 0, base, base + 8192,
                                           base + 4096, 0), NEED_REPLY)


def setup_ring(index, num=256, kick=True):
    base = QVA + index * 16384
    out = rec(state(SET_VRING_NUM, index, num, NEED_REPLY))
    out += rec(state(SET_VRING_BASE, index, 0, NEED_REPLY))
    out += rec(ring_addr(index, base))
    if kick:
        out += rec(u64(SET_VRING_KICK, index), nfds=1)
    else:
        out += rec(u64(SET_VRING_KICK, index | 0x100))
    return out


def qemu_startup(features=FEATURES, rings=2, regions=None, memfds=1):
    out = rec(msg(GET_FEATURES))
    out += rec(msg(GET_PROTOCOL_FEATURES))
    out += rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    out += rec(msg(GET_QUEUE_NUM))
    out += rec(msg(SET_OWNER))
    out += rec(msg(GET_FEATURES))
    for i in range(rings):
        out += rec(u64(SET_VRING_CALL, i), nfds=1)
        out += rec(u64(SET_VRING_ERR, i), nfds=1)
    for i in range(rings):
        out += rec(state(SET_VRING_ENABLE, i, 1))
    out += rec(u64(SET_FEATURES, features))
    regions = regions or [(0, 65536, QVA, 0)]
    out += rec(mem_table(regions), nfds=len(regions), memfds=memfds)
    for i in range(rings):
        out += setup_ring(i)
    return out


def vu_msg_seeds():
    seeds = {}
    seeds["get_features"] = rec(msg(GET_FEATURES))
    seeds["qemu_startup"] = qemu_startup() + rec(state(GET_VRING_BASE, 0, 0)) + \
        rec(state(GET_VRING_BASE, 1, 0))
    # DPDK virtio-user order: owner first, calls before features, enable last.
    d = rec(msg(SET_OWNER)) + rec(msg(GET_FEATURES)) + rec(msg(GET_PROTOCOL_FEATURES))
    d += rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    for i in range(2):
        d += rec(u64(SET_VRING_CALL, i), nfds=1)
    d += rec(u64(SET_FEATURES, FEATURES & ~(1 << 29)))
    d += rec(mem_table([(0, 65536, QVA, 0)]), nfds=1, memfds=1)
    for i in range(2):
        d += setup_ring(i)
    for i in range(2):
        d += rec(state(SET_VRING_ENABLE, i, 1))
    seeds["dpdk_startup"] = d
    # Reconfigure while running: features, addresses, memory, call fd again.
    r = qemu_startup()
    r += rec(u64(SET_FEATURES, FEATURES))
    r += rec(ring_addr(0, QVA))
    r += rec(mem_table([(0, 65536, QVA, 0)]), nfds=1, memfds=1)
    r += rec(u64(SET_VRING_CALL, 1), nfds=1)
    r += rec(u64(SET_VRING_KICK, 0), nfds=1)
    r += rec(msg(RESET_OWNER))
    seeds["reconfigure_running"] = r
    # Two regions from one memfd, rings polled (NOFD kicks).
    t = rec(msg(GET_FEATURES)) + rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    t += rec(u64(SET_FEATURES, FEATURES))
    t += rec(mem_table([(0, 32768, QVA, 0), (0x100000, 32768, QVA + 32768, 32768)]),
             nfds=2, memfds=3, mem=MEM_64K | 0x20)
    t += setup_ring(0, num=64, kick=False) + setup_ring(1, num=64, kick=False)
    seeds["two_regions_polled"] = t
    # Refused requests, each acked so the device lives on.
    b = rec(msg(GET_FEATURES)) + rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    b += rec(mem_table([]))
    b += rec(mem_table([(0, 65536, QVA, 0)] * 8, nregions=9), nfds=8, memfds=0xf)
    b += rec(mem_table([(0, 1 << 20, QVA, 0)]), nfds=1, memfds=1)       # beyond its fd
    b += rec(mem_table([(0, 4096, QVA, (1 << 64) - 100)]), nfds=1, memfds=1)
    b += rec(mem_table([(0, 4096, QVA, 0)]), nfds=1, memfds=1, mem=0x10)  # a pipe
    b += rec(state(SET_VRING_NUM, 0xffffffff, 256, NEED_REPLY))
    b += rec(state(SET_VRING_NUM, 0, 3, NEED_REPLY))
    b += rec(state(SET_VRING_NUM, 0, 65536, NEED_REPLY))
    b += rec(msg(99, b"\0" * 8, NEED_REPLY))
    b += rec(u64(SET_VRING_CALL, 0, NEED_REPLY), nfds=12)
    b += rec(msg(SET_VRING_NUM, b"\0" * 4, NEED_REPLY))
    b += rec(state(GET_VRING_BASE, 5, 0))
    b += rec(msg(SET_FEATURES, b"", size=100000))                      # oversized
    seeds["refused_requests"] = b
    # Regression (fixed in 320a4dc): EVENT_IDX acked off while ring 0 runs,
    # then its used ring moved to end exactly at the region's end; the ring
    # kept event_idx and would touch 2 bytes past the mapping.
    e = qemu_startup()
    e += rec(u64(SET_FEATURES, FEATURES & ~(1 << 29)))
    e += rec(msg(SET_VRING_ADDR, struct.pack("=IIQQQQ", 0, 0, QVA, QVA + 65536 - 2052,
                                             QVA + 4096, 0), NEED_REPLY))
    seeds["regress_event_idx_off_while_running"] = e
    return seeds


# ---- fuzz_vring: header, ops, memory image -----------------------------------

R0 = 0x10000
NEXT, WRITE, INDIRECT = 1, 2, 4


class Image:
    """Guest memory from GPA R0 with a ring of num entries at its start."""

    def __init__(self, log2num, event_idx):
        self.num = 1 << log2num
        self.mem = bytearray(0x6000)        # regions 0 and 1, contiguous
        self.avail = R0 + 16 * self.num
        self.used = (self.avail + 4 + 2 * self.num + (2 if event_idx else 0) + 3) & ~3
        self.avail_idx = 0

    def put(self, gpa, data):
        self.mem[gpa - R0:gpa - R0 + len(data)] = data

    def desc(self, i, addr, length, flags=0, nxt=0, table=None):
        base = R0 if table is None else table
        self.put(base + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def publish(self, head):
        self.put(self.avail + 4 + 2 * (self.avail_idx % self.num), struct.pack("<H", head))
        self.avail_idx += 1
        self.put(self.avail + 2, struct.pack("<H", self.avail_idx))

    def used_event(self, v):
        self.put(self.avail + 4 + 2 * self.num, struct.pack("<H", v))

    def trimmed(self):
        return bytes(self.mem).rstrip(b"\0")


def vring_input(log2num, flags, ops, img, used_idx=0):
    return struct.pack("<BBHB", log2num, flags, used_idx, len(ops)) + bytes(ops) + img.trimmed()


def frame(n):
    return bytes(12) + bytes((i * 7 + 1) & 0xff for i in range(n))


def vring_seeds():
    seeds = {}
    # TX: one descriptor, a header split over two, an indirect table.
    m = Image(3, False)
    m.put(0x10400, frame(60))
    m.desc(0, 0x10400, 72)
    m.put(0x10500, frame(100))
    m.desc(1, 0x10500, 7, NEXT, 2)
    m.desc(2, 0x10507, 5, NEXT, 3)
    m.desc(3, 0x1050c, 100)
    m.put(0x10600, frame(200))
    m.desc(0, 0x10600, 12, NEXT, 1, table=0x10700)
    m.desc(1, 0x1060c, 100, NEXT, 2, table=0x10700)
    m.desc(2, 0x10670, 100, 0, 0, table=0x10700)
    m.desc(4, 0x10700, 48, INDIRECT)
    for h in (0, 1, 4):
        m.publish(h)
    seeds["tx_three_chains"] = vring_input(3, 2, [0, 1, 1, 1, 5], m)
    # RX: four writable buffers; a mergeable frame over three, then a small one.
    m = Image(3, False)
    for i in range(4):
        m.desc(i, 0x11000 + 0x200 * i, 512, WRITE)
        m.publish(i)
    seeds["rx_mergeable"] = vring_input(3, 2, [0, 3, 30, 3, 1, 5, 6, 1], m)
    seeds["rx_single"] = vring_input(3, 0, [0, 4, 10, 4, 200, 5], m)
    # RX chain of two WRITE descriptors in an indirect table, EVENT_IDX + call fd.
    m = Image(4, True)
    m.desc(0, 0x12000, 100, WRITE | NEXT, 1, table=0x12800)
    m.desc(1, 0x12100, 1600, WRITE, 0, table=0x12800)
    m.desc(0, 0x12800, 32, INDIRECT)
    m.publish(0)
    m.used_event(0)
    seeds["rx_indirect_event_idx"] = vring_input(4, 1 | 2 | 4, [0, 3, 20, 5, 6, 1, 6, 0], m)
    # TX buffer that crosses from region 0 into region 1.
    m = Image(2, False)
    m.put(0x13f80, frame(200))
    m.desc(0, 0x13f80, 212)
    m.publish(0)
    seeds["tx_across_regions"] = vring_input(2, 2, [0, 1, 5], m)
    # The guest moves avail->idx while we work; used->idx starts at 65530.
    m = Image(3, True)
    for i in range(8):
        m.desc(i, 0x11000 + 0x100 * i, 256, WRITE)
    m.mem[m.avail + 2 - R0:m.avail + 4 - R0] = struct.pack("<H", 65530 + 3)
    for i in range(8):
        m.put(m.avail + 4 + 2 * i, struct.pack("<H", i))
    seeds["rx_wrapping_idx"] = vring_input(3, 1 | 2, [0, 3, 5, 3, 6, 5, 0x87, 2, 0, 3, 9, 5],
                                           m, used_idx=65530)
    return seeds


def main():
    for target, seeds in (("fuzz_vu_msg", vu_msg_seeds()), ("fuzz_vring", vring_seeds())):
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
