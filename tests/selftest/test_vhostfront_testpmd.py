#!/usr/bin/python3
"""Self-test of tests/lib/vhostfront.py against DPDK testpmd's vhost-user back-end.

testpmd (io forwarding) bridges its vhost-user ports 0 and 1, so frames sent by
a NetDevice on socket a must come out, byte for byte, on the NetDevice on
socket b.  No vmswitch involved.
Run: python3 tests/selftest/test_vhostfront_testpmd.py [name-filter ...]
"""

import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from testlib import check, main, test  # noqa: E402
from testpmd import TestPmd  # noqa: E402
from vhostfront import (  # noqa: E402
    DEFAULT_NET_FEATURES, VHOST_USER_GET_FEATURES, VHOST_USER_NEED_REPLY_MASK,
    VHOST_USER_PROTOCOL_F_REPLY_ACK, VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION,
    VIRTIO_F_ANY_LAYOUT, VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_F_RING_PACKED, VIRTIO_RING_F_INDIRECT_DESC, ConnectionClosed, Frontend, GuestMemory,
    NetDevice, U64, bit, make_frame, packed_base_decode)

SOCKDIR = "/tmp/vf"
SOCKETS = [f"{SOCKDIR}/a.sock", f"{SOCKDIR}/b.sock"]
SIZES = (64, 1518, 9000)
BATCH = 32


@contextlib.contextmanager
def testpmd_pair(queues=1, a_kwargs=None, b_kwargs=None, **kwargs):
    """Start testpmd and yield NetDevices (a, b) on its ports 0 and 1.

    kwargs go to both NetDevices, a_kwargs/b_kwargs to one of them.
    """
    with TestPmd(SOCKETS, name="vhostfront", queues=queues):
        with contextlib.ExitStack() as stack:
            devs = []
            for sock, extra in zip(SOCKETS, (a_kwargs or {}, b_kwargs or {})):
                dev = NetDevice.connect(sock, queue_pairs=queues, **kwargs, **extra)
                stack.callback(dev.close)
                devs.append(dev)
            yield devs


def transfer(src, dst, frames, queue=0, **send_kwargs):
    """Send frames from src in batches; require them all, identical and in order, on dst."""
    for start in range(0, len(frames), BATCH):
        batch = frames[start:start + BATCH]
        for frame in batch:
            src.send_frame(frame, queue=queue, **send_kwargs)
        got = dst.recv_frames(timeout=3.0, count=len(batch), queue=queue)
        check(len(got) == len(batch),
              f"batch at {start}: received {len(got)} of {len(batch)} frames")
        for k, (sent, received) in enumerate(zip(batch, got)):
            check(sent == received,
                  f"frame {start + k} ({len(sent)} B) differs: got {len(received)} B")
    check(src.wait_tx_done(2.0, queue), f"{src.tx_in_flight(queue)} TX chains never completed")
    check(dst.recv_frames(timeout=0.2, queue=queue) == [], "unexpected extra frames")


def wait_forwarding(src, dst, timeout=20.0):
    """Probe frames from src until one reaches dst. testpmd in client mode
    (net_vhost) drops what it receives for a port whose rings it has not yet
    taken up, which it does on its own schedule after the rings start."""
    probe, deadline = make_frame(64, 0xfffe), time.monotonic() + timeout
    while not dst.recv_frames(timeout=0.5):
        check(time.monotonic() < deadline, f"testpmd forwarded nothing in {timeout} s")
        src.send_frame(probe)
    check(src.wait_tx_done(2.0), "probe TX chains never completed")
    dst.recv_frames(timeout=0.5)	# a second probe that crossed


def frames_of(sizes, per_size=20):
    """per_size distinct test frames for each size."""
    return [make_frame(size, seq) for size in sizes for seq in range(per_size)]


@test
def vf_negotiation_defaults():
    with testpmd_pair() as (a, b):
        for flag in (VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_RING_F_EVENT_IDX,
                     VIRTIO_RING_F_INDIRECT_DESC):
            check(a.has(flag), f"feature bit {flag} not negotiated: {a.features:#x}")
        check(a.hdr_len == 12, f"header length {a.hdr_len}")
        check(a.fe.reply_ack, "REPLY_ACK not negotiated")
        check(a.queue_num and a.queue_num >= 1, f"GET_QUEUE_NUM said {a.queue_num}")


@test
def vf_frames_mrg_on():
    with testpmd_pair() as (a, b):
        transfer(a, b, frames_of(SIZES))
        transfer(b, a, frames_of(SIZES))


@test
def vf_frames_mrg_on_reassembles_jumbo():
    with testpmd_pair() as (a, b):
        a.send_frame(make_frame(9000, 1))
        packets = b.recv_packets(timeout=3.0, count=1)
        check(len(packets) == 1, f"received {len(packets)} packets")
        expected = -(-(9000 + 12) // b.rx_buf_size)
        check(packets[0].num_buffers == expected,
              f"num_buffers {packets[0].num_buffers}, expected {expected}")
        check(packets[0].frame == make_frame(9000, 1), "jumbo frame differs")


@test
def vf_frames_mrg_off():
    features = DEFAULT_NET_FEATURES & ~bit(VIRTIO_NET_F_MRG_RXBUF)
    with testpmd_pair(features=features) as (a, b):
        check(not a.has(VIRTIO_NET_F_MRG_RXBUF) and a.hdr_len == 12, f"features {a.features:#x}")
        transfer(a, b, frames_of(SIZES))


@test
def vf_frames_legacy_10_byte_header():
    features = DEFAULT_NET_FEATURES & ~(bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_F_VERSION_1))
    with testpmd_pair(features=features) as (a, b):
        check(a.hdr_len == 10, f"header length {a.hdr_len}")
        transfer(a, b, frames_of(SIZES))


@test
def vf_frames_legacy_header_without_any_layout():
    features = DEFAULT_NET_FEATURES & ~(bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_F_VERSION_1)
                                        | bit(VIRTIO_F_ANY_LAYOUT))
    with testpmd_pair(features=features) as (a, b):
        transfer(a, b, frames_of((64, 1518)))


@test
def vf_tx_split_chains():
    with testpmd_pair() as (a, b):
        transfer(a, b, frames_of(SIZES, 5), split=3)
        transfer(a, b, frames_of((1518,), 5), split=[5, 7, 100])   # header split over 2 descriptors
        transfer(a, b, frames_of((64,), 5), split=[1] * 40)


@test
def vf_tx_indirect():
    with testpmd_pair() as (a, b):
        transfer(a, b, frames_of(SIZES, 5), indirect=True)
        transfer(a, b, frames_of(SIZES, 5), indirect=True, split=4)


@test
def vf_dpdk_flavor_without_event_idx():
    features = DEFAULT_NET_FEATURES & ~bit(VIRTIO_RING_F_EVENT_IDX)
    with testpmd_pair(features=features, flavor="dpdk") as (a, b):
        check(not a.has(VIRTIO_RING_F_EVENT_IDX), "EVENT_IDX negotiated")
        transfer(a, b, frames_of(SIZES))


@test
def vf_nofd_kick_and_call():
    with testpmd_pair(kick_fd=False, call_fd=False) as (a, b):
        transfer(a, b, frames_of((64, 1518)))


@test
def vf_many_frames_wrap_ring():
    with testpmd_pair(queue_size=64) as (a, b):
        transfer(a, b, frames_of((64,), 1000))
        check(a.tx[0].avail_idx == 1000, f"TX avail idx {a.tx[0].avail_idx}")


@test
def vf_two_regions_gpa_contiguous_qva_apart():
    for shared_fd in (False, True):
        mems = [GuestMemory.split(shared_fd=shared_fd) for _ in SOCKETS]
        try:
            with testpmd_pair(a_kwargs=dict(memory=mems[0]),
                              b_kwargs=dict(memory=mems[1])) as (a, b):
                transfer(a, b, frames_of(SIZES, 5))
                # A TX buffer straddling the GPA boundary between the two regions.
                frame = make_frame(1518, 7)
                boundary = mems[0].regions[0].gpa_end
                gpa = boundary - 700
                mems[0].write(gpa, bytes(a.hdr_len) + frame)
                a.tx[0].add_chain([(gpa, a.hdr_len + len(frame), False)])
                a.tx[0].kick()
                got = b.recv_frames(timeout=3.0, count=1)
                check(got == [frame],
                      f"shared_fd={shared_fd}: straddling frame not received intact")
        finally:
            for mem in mems:
                mem.close()


@test
def vf_multiqueue_two_pairs():
    with testpmd_pair(queues=2) as (a, b):
        check(len(a.rx) == 2 and len(a.tx) == 2, "expected two queue pairs")
        transfer(a, b, frames_of((64, 1518), 10), queue=0)
        transfer(a, b, frames_of((64, 1518), 10), queue=1)


@test
def vf_listen_mode_backend_connects():
    with contextlib.ExitStack() as stack:
        listeners = [Frontend.listen(sock) for sock in SOCKETS]
        for listener in listeners:
            stack.callback(listener.close)
        stack.enter_context(TestPmd(SOCKETS, name="vhostfront", client=True))
        devs = []
        for listener in listeners:
            dev = NetDevice(listener.accept(timeout=20.0))
            stack.callback(dev.close)
            dev.start()
            devs.append(dev)
        wait_forwarding(devs[0], devs[1])
        transfer(devs[0], devs[1], frames_of((64, 1518), 10))


@test
def vf_get_vring_base_after_traffic():
    with testpmd_pair() as (a, b):
        transfer(a, b, frames_of((64,), 10))
        bases = a.stop()
        check(bases[1] == 10, f"TX vring base {bases[1]}, expected 10")


@test
def vf_interrupt_suppression():
    with testpmd_pair() as (a, b):
        transfer(a, b, frames_of((64,), 10))
        check(b.rx[0].interrupts > 0, "no call interrupts with interrupts enabled")
        b.rx[0].set_interrupts(False)
        before = b.rx[0].interrupts
        a.send_frame(make_frame(64, 1))
        check(b.rx[0].wait_used(3.0), "frame not delivered")
        check(b.rx[0].interrupts == before, "interrupt despite used_event suppression")


@test
def vf_raw_unknown_request_with_need_reply_is_nacked():
    with testpmd_pair() as (a, b):
        a.fe.send_raw(99, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK)
        reply = a.fe.recv_reply(2.0)
        check((reply.request, reply.flags, reply.size) == (99, 0x5, 8), f"reply {reply}")
        check(U64.unpack(reply.payload)[0] != 0, "unknown request acked as success")
        check(not a.fe.is_closed(0.2), "connection closed")


def answering(path, timeout=20.0):
    """A connection testpmd has taken up (it answers GET_FEATURES): it may
    drop a new one while it still tears down the one before, on a loaded
    machine, which would look like the attack closing it."""
    deadline = time.monotonic() + timeout
    while True:
        fe = Frontend.connect(path)
        try:
            fe.get_features()
            return fe
        except (ConnectionClosed, TimeoutError):
            fe.close()
            check(time.monotonic() < deadline, f"testpmd did not answer on {path} in {timeout} s")
            time.sleep(0.1)


@test
def vf_raw_bad_messages_close_connection():
    with TestPmd(SOCKETS, name="vhostfront"):
        cases = {
            "unknown request without NEED_REPLY": lambda fe: fe.send_raw(99),
            "size field 0x10000": lambda fe: fe.send_raw(VHOST_USER_SET_VRING_NUM,
                                                         size_override=0x10000),
            "vring index 1000": lambda fe: fe.set_vring_num(1000, 256),
            "GET_FEATURES with 2 fds": lambda fe: fe.send_raw(VHOST_USER_GET_FEATURES,
                                                              fds=[efd, efd]),
        }
        efd = os.eventfd(0)
        try:
            for what, attack in cases.items():
                with answering(SOCKETS[0]) as fe:
                    attack(fe)
                    check(fe.is_closed(2.0), f"{what}: connection still open")
        finally:
            os.close(efd)


@test
def vf_raw_short_payload_is_nacked_with_reply_ack():
    with testpmd_pair() as (a, b):
        check(a.fe.protocol_features & bit(VHOST_USER_PROTOCOL_F_REPLY_ACK), "no REPLY_ACK")
        a.fe.send_raw(VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK,
                      b"\0" * 4)
        ack = U64.unpack(a.fe.expect_reply(VHOST_USER_SET_VRING_NUM, 8))[0]
        check(ack != 0, "4-byte SET_VRING_NUM acked as success")
        try:
            a.fe.get_features()
        except ConnectionClosed:
            check(False, "connection closed after a nacked message")


# --- packed rings (VIRTIO_F_RING_PACKED): DPDK's vhost library serves them ---------


@test
def vf_packed_frames_and_wrap():
    """Packed rings both ways: sizes to 9000 (mergeable RX), 1000 frames through a
    ring of 100 (not a power of two) wrapping both counters many times."""
    with testpmd_pair(packed=True) as (a, b):
        check(a.has(VIRTIO_F_RING_PACKED) and a.tx[0].packed, f"features {a.features:#x}")
        transfer(a, b, frames_of(SIZES))
        transfer(b, a, frames_of(SIZES))
    with testpmd_pair(packed=True, queue_size=100) as (a, b):
        transfer(a, b, frames_of((64,), 1000))
        transfer(b, a, frames_of((1518,), 300))
        tx = a.tx[0]
        check((tx.next_avail, tx.avail_wrap, tx.next_used, tx.used_wrap) == (0, True, 0, True),
              f"TX positions after 10 laps: avail {tx.next_avail}/{tx.avail_wrap}, "
              f"used {tx.next_used}/{tx.used_wrap}")


@test
def vf_packed_chains_indirect_no_event_idx():
    """Packed TX chains over several descriptors (across the ring end), indirect
    tables, and the dpdk flavor without EVENT_IDX (kicks by ENABLE/DISABLE)."""
    with testpmd_pair(packed=True, queue_size=50) as (a, b):   # 50 RX buffers: no 9000s
        transfer(a, b, frames_of((64, 1518), 20), split=3)
        transfer(a, b, frames_of((64,), 5), split=[1] * 40)
        transfer(a, b, frames_of((64, 1518), 10), indirect=True, split=4)
    with testpmd_pair(packed=True) as (a, b):
        transfer(a, b, frames_of(SIZES, 10), split=3)
        transfer(a, b, frames_of(SIZES, 10), indirect=True, split=4)
    features = DEFAULT_NET_FEATURES & ~bit(VIRTIO_RING_F_EVENT_IDX)
    with testpmd_pair(packed=True, features=features, flavor="dpdk") as (a, b):
        check(not a.has(VIRTIO_RING_F_EVENT_IDX), "EVENT_IDX negotiated")
        transfer(a, b, frames_of(SIZES))


@test
def vf_packed_get_vring_base():
    """GET_VRING_BASE of a packed ring: avail idx | wrap << 15 (DPDK answers the low half)."""
    with testpmd_pair(packed=True, queue_size=64) as (a, b):
        transfer(a, b, frames_of((64,), 100))
        bases = a.stop()
        (idx, wrap), _ = packed_base_decode(bases[1])
        check((idx, wrap) == (100 - 64, False), f"TX vring base {bases[1]:#x}")


if __name__ == "__main__":
    main()
