#!/usr/bin/env python3
"""Hostile guests on packed virtqueues (issue 15): test_hostile.py's setup, packed rings.

The environment is test_hostile.py's (its Env, its @attack checks): a vmswitch
whose ports are

* ``evil``: the attacker, our Python frontend in packed mode
  (NetDevice(packed=True), tests/lib/vhostfront.py PackedVirtqueue);
* ``b`` and ``c``: the dpdk-testpmd pair forwarding to each other throughout;
* ``w``: the split-ring witness;
* ``p2``: a second packed port, for packed <-> packed traffic;
* ``off``: a port with ``packed=off``, which must not offer bit 34.

After each attack the checks of test_hostile.py's @attack hold: vmswitch
alive, b <-> c never stalled, no fd or mapping leaked; each case checks its own
outcome: the connection closed with the fault counted (``closed N times for a
broken rule, last: ...`` in the port's counters, naming the rule) and an
invalid_descriptor drop, or, for legal input, frames intact.

The ring rules are doc/design.md's "Packed rings" (src/vhost/vring_packed.c):
ids below the ring size and not in use, chains bounded by the free ring,
availability by the wrap bits, INDIRECT alone and not nested, WRITE by
direction, every buffer inside guest memory, the vhost-user base's two halves.

Run: python3 tests/integ/test_hostile_packed.py [name-filter ...]
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import resource  # noqa: E402

import testlib  # noqa: E402
import test_hostile as H  # noqa: E402

# Importing test_hostile registered its own cases: this file runs only its own.
testlib.TESTS.clear()

from testlib import TestFailure, check, main  # noqa: E402
from vhostfront import (  # noqa: E402
    DEFAULT_GPA, DEFAULT_NET_FEATURES, DEFAULT_QVA_OFFSET, U64, VHOST_USER_SET_FEATURES,
    VHOST_USER_SET_VRING_BASE, VHOST_USER_SET_VRING_NUM, VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE, VRING_PACKED_DESC, VRING_PACKED_DESC_F_WRAPS, VRING_STATE,
    Frontend, GuestMemory, NetDevice, VhostUserError, bit, make_frame, packed_base,
    packed_base_decode, packed_wrap_flags)

from test_hostile import (  # noqa: E402
    MAC_E, MAC_W, expect_fault, forwards, frame_to_w, good_frame, put, refused,
    region_end, send_quietly, wait_closed)

RUN = "/tmp/vmsw-hostile-packed"
SOCK = {name: os.path.join(RUN, f"{name}.sock") for name in ("evil", "b", "c", "w", "p2", "off")}
SOCK_OPTS = {"off": ",packed=off"}
MAC_P2 = bytes.fromhex("02000000e005")
PACKED = bit(VIRTIO_F_RING_PACKED)

ENV = H.Env(name="hostile-packed", run=RUN, socks=SOCK, opts=SOCK_OPTS)
attack = H.make_attack(lambda: ENV)


# =============================================================================
# helpers
# =============================================================================

def pdev(env, **kwargs):
    """A running packed-ring attacker on the evil port whose MAC the switch knows."""
    dev = env.evil_dev(packed=True, **kwargs)
    check(dev.has(VIRTIO_F_RING_PACKED) and dev.tx[0].packed, "packed rings not negotiated")
    return dev


def ptx(dev, descs, kick=True, **kwargs):
    """Raw TX descriptors (addr, len, id, flags) at the next slots, head flags last
    (PackedVirtqueue.make_available(): wrap bits added unless wrap_bits=False)."""
    vq = dev.tx[0]
    slots = vq.make_available(descs, **kwargs)
    if kick:
        vq.kick(force=True)
    return slots


def pfault(env, what, build, rule, drop="invalid_descriptor", **devargs):
    """A running packed attacker writes a broken TX ring: closed, counted, rule named."""
    dev = pdev(env, **devargs)
    before = env.port()
    build(dev)
    st = expect_fault(env, dev.fe, before, what, drop)
    check(rule in st.get("last_fault", ""),
          f"{what}: the fault does not name '{rule}': {st.get('last_fault')}")
    env.close_evil()
    return st


def nothing_to_w(env, what):
    got = env.drain_w(quiet=0.3)
    check(not got, f"{what}: the witness received {len(got)} frames")


def one(dev, data=None, bid=None, flags=0):
    """One TX descriptor (addr, len, id, flags) holding data (a good frame)."""
    data = good_frame() if data is None else data
    vq = dev.tx[0]
    bid = vq.free_ids[-1] if bid is None else bid
    return (put(dev, data), len(data), bid, flags)


def settle_tx(dev, timeout=5):
    """Wait until the device completed every TX chain in flight, raw ones included."""
    vq, deadline = dev.tx[0], time.monotonic() + timeout
    while vq.in_flight and time.monotonic() < deadline:
        vq.wait_used(0.05)
        for head, _ in vq.get_used():
            buf = dev._tx_bufs[0].pop(head, None)
            if buf:
                dev.pool.put(*buf)
    check(not vq.in_flight, f"{len(vq.in_flight)} TX chains not completed")


def move_tx_to(dev, slot):
    """Send legal frames to the witness until the TX ring's next slot is slot."""
    vq = dev.tx[0]
    k = 0
    while vq.next_avail != slot:
        dev.send_frame(frame_to_w(0x5800 + k), timeout=5)
        k += 1
        settle_tx(dev)
    env_frames = ENV.drain_w(quiet=0.2)
    check(len(env_frames) == k, f"moving the ring: {len(env_frames)} of {k} frames arrived")


def exchange(env, a, b, n, sizes, mac_a, mac_b, what, **send_kwargs):
    """n frames a -> b of each size, all arriving intact and in order."""
    frames = [make_frame(size, k, src=mac_a, dst=mac_b) for size in sizes for k in range(n)]
    got = []
    for start in range(0, len(frames), 16):
        for f in frames[start:start + 16]:
            a.send_frame(f, timeout=5, **send_kwargs)
        deadline = time.monotonic() + 10
        want = min(start + 16, len(frames))
        while len(got) < want and time.monotonic() < deadline:
            got += b.recv_frames(timeout=0.5, count=want - len(got))
    check(len(got) == len(frames), f"{what}: {len(got)} of {len(frames)} frames arrived")
    bad = [k for k, (x, y) in enumerate(zip(frames, got)) if x != y]
    check(not bad, f"{what}: {len(bad)} frames differ or are out of order (first: {bad[:3]})")
    check(a.wait_tx_done(5), f"{what}: TX chains not completed")


# =============================================================================
# negotiation and the packed=off option
# =============================================================================

@attack
def pk_offered_and_packed_off(env):
    """Bit 34 is offered on a plain port and not on one with packed=off; there a
    packed-only frontend gets no bit 34 (start() refuses) and SET_FEATURES with it
    is nacked (REPLY_ACK) and closes the connection without."""
    fe = env.evil_fe()
    check(fe.get_features() & PACKED, "vhost-user port does not offer VIRTIO_F_RING_PACKED")
    env.close_evil()
    off = env.track(Frontend.connect(env.sock["off"]))
    offered = off.get_features()
    check(not offered & PACKED, f"packed=off port offers bit 34 ({offered:#x})")
    off.set_protocol_features(off.get_protocol_features())
    refused(env, off, VHOST_USER_SET_FEATURES, U64.pack(offered | PACKED),
            what="SET_FEATURES with bit 34 on packed=off")
    env.close_evil()
    dev = env.track(NetDevice(Frontend.connect(env.sock["off"]), packed=True))
    try:
        dev.start()
        raise TestFailure("a packed frontend started on a packed=off port")
    except VhostUserError as e:
        H.say(f"packed=off: {e}")
    env.close_evil()
    before = env.port("off")
    fe = env.track(Frontend.connect(env.sock["off"]))
    send_quietly(fe, VHOST_USER_SET_FEATURES, U64.pack(offered | PACKED))
    check(wait_closed(fe), "SET_FEATURES with bit 34 on packed=off: connection kept")
    check(env.port("off")["faults"] > before["faults"], "packed=off: no fault counted")
    env.close_evil()
    # A split frontend on the packed=off port still forwards.
    dev = env.evil_dev(port="off", mac=bytes.fromhex("02000000e004"))
    check(not dev.has(VIRTIO_F_RING_PACKED), "split device negotiated bit 34")


# =============================================================================
# legal: sizes, positions, traffic with split guests
# =============================================================================

@attack
def pk_exchange_with_split(env):
    """Sanity: the packed attacker and the split witness exchange frames of 60 to
    9000 bytes both ways through the switch (TX in one descriptor, over 3, and
    indirect; mergeable RX over several packed buffers): all intact, in order, no
    fault."""
    dev = pdev(env)
    before = env.port()
    sizes = (60, 64, 200, 1514, 1518, 4000, 9000)
    exchange(env, dev, env.w, 8, sizes, MAC_E, MAC_W, "packed -> split")
    exchange(env, dev, env.w, 4, sizes, MAC_E, MAC_W, "packed -> split, 3 descriptors",
             split=3)
    exchange(env, dev, env.w, 4, sizes, MAC_E, MAC_W, "packed -> split, indirect",
             split=4, indirect=True)
    exchange(env, env.w, dev, 8, sizes, MAC_W, MAC_E, "split -> packed")
    check(env.port()["faults"] == before["faults"], "a fault was counted")
    check(not wait_closed(dev.fe, 0), "the connection was closed")


@attack
def pk_exchange_packed_packed_odd_ring(env):
    """Packed <-> packed: the attacker with rings of 100 slots, a second packed guest
    (p2) with rings of 256; 300 frames each way wrap the 100-slot rings three times,
    with IN_ORDER if the switch offers it (one used descriptor per TX batch)."""
    features = DEFAULT_NET_FEATURES | PACKED | bit(VIRTIO_F_IN_ORDER)
    dev = pdev(env, queue_size=100, features=features)
    p2 = env.evil_dev(port="p2", mac=MAC_P2, packed=True)
    H.say(f"IN_ORDER {'negotiated' if dev.has(VIRTIO_F_IN_ORDER) else 'not offered'}")
    exchange(env, dev, p2, 100, (64, 700, 1518), MAC_E, MAC_P2, "100-slot -> 256-slot")
    exchange(env, p2, dev, 100, (64, 700, 1518), MAC_P2, MAC_E, "256-slot -> 100-slot")
    tx = dev.tx[0]
    H.say(f"100-slot TX ring at slot {tx.next_avail}, wrap {int(tx.avail_wrap)}")
    forwards(env, dev)


@attack
def pk_chains_across_ring_end(env):
    """Legal: on rings of 7 slots, TX chains of 3 descriptors and indirect tables
    cross the ring end again and again, and 4000-byte frames fill 2 mergeable RX
    buffers each, across the end too: all intact, in order, no fault."""
    dev = pdev(env, queue_size=7)
    before = env.port()
    exchange(env, dev, env.w, 15, (64, 1514), MAC_E, MAC_W, "3-descriptor chains", split=3)
    exchange(env, dev, env.w, 10, (200,), MAC_E, MAC_W, "indirect", split=2, indirect=True)
    frames = [make_frame(4000, k, src=MAC_W, dst=MAC_E) for k in range(20)]
    for k, f in enumerate(frames):
        env.w.send_frame(f, timeout=5)
        packets = dev.recv_packets(timeout=5, count=1)
        check(len(packets) == 1 and packets[0].frame == f, f"4000-byte frame {k} lost or changed")
        check(packets[0].num_buffers == 2, f"frame {k}: num_buffers {packets[0].num_buffers}")
    check(env.port()["faults"] == before["faults"], "a fault was counted")


@attack
def pk_ring_sizes_not_power_of_two(env):
    """Ring sizes that are not powers of two work with packed rings (README: any
    size to 32768): 1, 3 and 100, frames both ways past several wraps."""
    for size, count in ((1, 6), (3, 12), (100, 250)):
        dev = pdev(env, queue_size=size)
        for k in range(count):
            dev.send_frame(frame_to_w(0x5a00 + k), timeout=5)
            got = env.w.recv_frames(timeout=5, count=1)
            check(got == [frame_to_w(0x5a00 + k)], f"ring of {size}: frame {k} to w lost")
        for k in range(count):
            f = make_frame(100 + k, k, src=MAC_W, dst=MAC_E)
            env.w.send_frame(f, timeout=5)
            got = dev.recv_frames(timeout=5, count=1)
            check(got == [f], f"ring of {size}: frame {k} from w lost or changed")
        H.say(f"ring of {size}: {count} frames each way")
        env.close_evil()


@attack
def pk_vring_base_positions(env):
    """Legal bases: start mid-ring just before the wrap (avail = used = 250, wrap 1),
    and DPDK's form (high half 0: used = avail); frames cross the wrap; GET_VRING_BASE
    answers both halves at our positions."""
    for what, pos, high_zero in (("mid-ring", (250, True), False),
                                 ("wrap 0", (10, False), False),
                                 ("high half 0", (200, True), True)):
        dev = env.track(NetDevice(Frontend.connect(env.sock["evil"]), packed=True))
        real = dev.fe.set_vring_base

        def base_at(index, num, need_reply=False, pos=pos, high_zero=high_zero):
            vq = dev._vring(index)
            vq.set_position(*pos)
            value = packed_base(pos[0], pos[1], pos[0], pos[1])
            return real(index, value & 0xffff if high_zero else value, need_reply)
        dev.fe.set_vring_base = base_at
        dev.start()
        env.hello(dev, MAC_E)
        forwards(env, dev, n=20, tag=0x5b00)
        for k in range(20):
            f = make_frame(90, k, src=MAC_W, dst=MAC_E)
            env.w.send_frame(f, timeout=5)
            check(dev.recv_frames(timeout=5, count=1) == [f], f"{what}: frame {k} lost")
        settle_tx(dev)
        tx = dev.tx[0]
        want = packed_base(tx.next_avail, tx.avail_wrap, tx.next_used, tx.used_wrap)
        got = dev.fe.get_vring_base(1)
        check(got == want, f"{what}: GET_VRING_BASE {got:#x} ({packed_base_decode(got)}), "
                           f"expected {want:#x}")
        H.say(f"{what}: TX base after 21 frames {got:#x}")
        env.close_evil()


@attack
def pk_no_vring_base(env):
    """A packed frontend that never sends SET_VRING_BASE (the protocol does not make
    it mandatory), its RX ring already full when the ring starts (as a guest
    driver's is at DRIVER_OK): the rings start where virtio says a ring starts,
    slot 0 with both wrap counters 1, and frames pass both ways; GET_VRING_BASE
    then answers our positions."""
    rx_full_at_start(env, send_base=False)


@attack
def pk_rx_full_at_start(env):
    """The control for pk_no_vring_base: the same RX ring full at its start, with
    SET_VRING_BASE sent (0x80008000, as QEMU does): frames pass both ways."""
    rx_full_at_start(env, send_base=True)


def rx_full_at_start(env, send_base):
    dev = env.track(NetDevice(Frontend.connect(env.sock["evil"]), packed=True))
    if not send_base:
        dev.fe.set_vring_base = lambda index, num, need_reply=False: None
    posted, real_kick = {}, dev.fe.set_vring_kick

    def kick_after_posting(index, fd=None, need_reply=False):
        if index == 0:
            vq, size = dev.rx[0], dev.rx_buf_size
            for _ in range(vq.num_free):
                gpa, capacity = dev.pool.get(size)
                posted[vq.add_chain([(gpa, size, True)])] = (gpa, capacity, size)
        return real_kick(index, fd, need_reply)
    dev.fe.set_vring_kick = kick_after_posting
    dev.start()
    dev._rx_bufs[0].update(posted)
    env.hello(dev, MAC_E)
    forwards(env, dev, n=5, tag=0x5f80)
    f = make_frame(90, 0x5f90, src=MAC_W, dst=MAC_E)
    env.w.send_frame(f, timeout=5)
    check(dev.recv_frames(timeout=5, count=1) == [f], "frame to the packed guest lost")
    settle_tx(dev)
    tx = dev.tx[0]
    want = packed_base(tx.next_avail, tx.avail_wrap, tx.next_used, tx.used_wrap)
    got = dev.fe.get_vring_base(1)
    check(got == want, f"GET_VRING_BASE {got:#x}, expected {want:#x}")


# =============================================================================
# control plane: sizes, bases, addresses
# =============================================================================

def ack_fe(env, features):
    """A raw connection with REPLY_ACK and the given features set."""
    fe = env.evil_ack_fe()
    fe.get_features()
    check(fe.set_features(features, need_reply=True) == 0, f"features {features:#x} nacked")
    return fe


@attack
def pk_ring_size_refused(env):
    """With packed rings SET_VRING_NUM 0, 32769, 65536 and 2^32-1 are nacked, 100,
    3 and 32768 taken; without bit 34, 100 is still nacked (split rings want powers
    of two); a kick of a ring whose size was refused closes with a fault."""
    fe = ack_fe(env, DEFAULT_NET_FEATURES | PACKED)
    for num in (0, 32769, 65536, 0xffff_ffff):
        refused(env, fe, VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(1, num),
                what=f"packed SET_VRING_NUM {num}")
    for num in (100, 3, 32768, 1):
        ack = fe.set_vring_num(1, num, need_reply=True)
        check(ack == 0, f"packed SET_VRING_NUM {num} nacked ({ack})")
    env.close_evil()
    fe = ack_fe(env, DEFAULT_NET_FEATURES)
    refused(env, fe, VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(1, 100),
            what="split SET_VRING_NUM 100")
    env.close_evil()
    for num in (0, 32769):
        dev = env.track(NetDevice(Frontend.connect(env.sock["evil"]), packed=True))
        real = dev.fe.set_vring_num
        dev.fe.set_vring_num = lambda index, n, need_reply=False, num=num: (
            real(index, num if index == 1 else n, need_reply))
        before = env.port()
        try:
            dev.start()
        except (VhostUserError, OSError, TimeoutError):
            pass
        st = expect_fault(env, dev.fe, before, f"packed ring 1 kicked with size {num}")
        check("SET_VRING_NUM" in st.get("last_fault", ""),
              f"size {num}: the fault is not the size: {st.get('last_fault')}")
        env.close_evil()


@attack
def pk_size_then_split_features(env):
    """SET_FEATURES with bit 34, SET_VRING_NUM 100 (taken), then SET_FEATURES without
    bit 34 before the ring starts: a split ring of 100 must not start; the kick
    closes the connection with a fault (or the size is nacked)."""
    dev = env.track(NetDevice(Frontend.connect(env.sock["evil"]), queue_size=128))
    fe = dev.fe
    real_num, real_features = fe.set_vring_num, fe.set_features

    def features_then_num(features, need_reply=False):
        real_features(features | PACKED)
        for index in range(2):
            real_num(index, 100)
        return real_features(features, need_reply)
    fe.set_features = features_then_num
    fe.set_vring_num = lambda index, num, need_reply=False: None   # keep the 100
    before = env.port()
    try:
        dev.start()
    except (VhostUserError, OSError, TimeoutError):
        pass
    if wait_closed(fe, 2):
        st = env.port()
        check(st["faults"] > before["faults"], "closed without a fault counted")
        check("power of two" in st.get("last_fault", ""),
              f"the fault does not say why: {st.get('last_fault')}")
        H.say(f"closed, fault: {st.get('last_fault')}")
        return
    # Still open: the switch must not run a split ring of 100 slots. Show it.
    ok = True
    try:
        forwards(env, dev, n=3)
    except (TestFailure, VhostUserError, OSError) as e:
        ok = False
        H.say(f"no traffic: {e}")
    raise TestFailure("a split ring of 100 slots (size taken under bit 34, then bit 34 "
                      f"dropped) started without a fault; traffic {'passed' if ok else 'failed'}")


@attack
def pk_bad_vring_base(env):
    """SET_VRING_BASE values a packed ring of 256 cannot take: avail index 256 or
    0x7fff, used index 300, used half more than a lap from the avail half: refused
    (at the message or at the kick), the connection closed with a fault."""
    cases = [("avail idx 256", packed_base(256, True, 0, True)),
             ("avail idx 0x7fff", packed_base(0x7fff, True, 0, True)),
             ("used idx 300", packed_base(0, True, 300, True)),
             ("used ahead of avail", packed_base(0, True, 10, True)),
             ("used a lap and more behind", packed_base(10, False, 5, True))]
    for what, value in cases:
        dev = env.track(NetDevice(Frontend.connect(env.sock["evil"]), packed=True))
        real = dev.fe.set_vring_base
        dev.fe.set_vring_base = lambda index, num, need_reply=False, value=value: (
            real(index, value if index == 1 else num, need_reply))
        before = env.port()
        try:
            dev.start()
        except (VhostUserError, OSError, TimeoutError):
            pass
        st = expect_fault(env, dev.fe, before, f"SET_VRING_BASE {what} ({value:#x})")
        check("SET_VRING_BASE" in st.get("last_fault", ""),
              f"{what}: the fault is not the base: {st.get('last_fault')}")
        env.close_evil()
    # The base before the size (it cannot be checked yet): the kick refuses it.
    for what, value in cases[::3]:
        dev = env.track(NetDevice(Frontend.connect(env.sock["evil"]), packed=True))
        real_num, real_base = dev.fe.set_vring_num, dev.fe.set_vring_base

        def base_first(index, num, need_reply=False, value=value):
            if index == 1:
                real_base(index, value)
            return real_num(index, num, need_reply)
        dev.fe.set_vring_num = base_first
        dev.fe.set_vring_base = lambda index, num, need_reply=False: (
            None if index == 1 else real_base(index, num, need_reply))
        before = env.port()
        try:
            dev.start()
        except (VhostUserError, OSError, TimeoutError):
            pass
        st = expect_fault(env, dev.fe, before, f"SET_VRING_BASE {what} before the size")
        check("base" in st.get("last_fault", ""),
              f"{what} before the size: the fault is not the base: {st.get('last_fault')}")
        env.close_evil()
    # With REPLY_ACK the same bases are nacked and the connection kept.
    fe = ack_fe(env, DEFAULT_NET_FEATURES | PACKED)
    check(fe.set_vring_num(1, 256, need_reply=True) == 0, "SET_VRING_NUM 256 nacked")
    for what, value in cases:
        refused(env, fe, VHOST_USER_SET_VRING_BASE, VRING_STATE.pack(1, value),
                what=f"SET_VRING_BASE {what} with NEED_REPLY")
    check(not wait_closed(fe, 0.1), "closed after nacked bases")


@attack
def pk_ring_addr_outside_memory(env):
    """Packed ring parts outside guest memory or misaligned: the descriptor ring
    straddling the region end, the driver area (avail field) outside memory, the
    device area (used field) at 2^64-4, the ring at a GPA instead of a QVA, the ring
    8 bytes off 16: the kick that starts the ring closes the connection."""
    qend = DEFAULT_GPA + DEFAULT_QVA_OFFSET + (64 << 20)
    cases = [("ring straddles the region end", dict(desc=qend - 16 * 128)),
             ("ring is a GPA, not a QVA", dict(desc=DEFAULT_GPA)),
             ("driver area outside memory", dict(avail=0x1000)),
             ("device area at 2^64-4", dict(used=(1 << 64) - 4)),
             ("device area straddles the region end", dict(used=qend - 2)),
             ("ring misaligned", dict(desc_plus=8))]
    for what, bad in cases:
        fe = Frontend.connect(env.sock["evil"])
        dev = env.track(NetDevice(fe, packed=True))
        real = fe.set_vring_addr

        def evil_addr(index, desc, used, avail, log=0, flags=0, need_reply=False, bad=bad):
            if index == 1:
                desc = bad.get("desc", desc + bad.get("desc_plus", 0))
                used = bad.get("used", used)
                avail = bad.get("avail", avail)
            return real(index, desc, used, avail, log, flags, need_reply)
        fe.set_vring_addr = evil_addr
        before = env.port()
        try:
            dev.start()
        except (VhostUserError, OSError, TimeoutError):
            pass
        expect_fault(env, fe, before, what)
        env.close_evil()


# =============================================================================
# datapath: raw packed descriptors
# =============================================================================

@attack
def pk_event_areas_garbage(env):
    """Legal but odd: the driver event area says flags 3 (reserved), or DESC with an
    off_wrap index beyond the ring; the driver scribbles over the device's area.
    Interrupts are the switch's guess, never a fault: frames still arrive both ways."""
    dev = pdev(env)
    before = env.port()
    rx = dev.rx[0]
    for k, (off_wrap, flags) in enumerate(((0, 3), (0x7fff, 2), (0xffff, 2), (300, 2))):
        rx.set_driver_event(off_wrap, flags)
        dev.tx[0]._device16[1] = 0xffff
        dev.tx[0]._device16[0] = 0xffff
        f = make_frame(150, 0x5e80 + k, src=MAC_W, dst=MAC_E)
        env.w.send_frame(f, timeout=5)
        got = dev.recv_frames(timeout=5, count=1)
        check(got == [f], f"driver area off_wrap {off_wrap:#x} flags {flags}: frame lost")
        dev.send_frame(frame_to_w(0x5e90 + k))
        dev.tx[0].kick(force=True)
        check(env.w.recv_frames(timeout=5, count=1) == [frame_to_w(0x5e90 + k)],
              f"device area scribbled: frame {k} to w lost")
    check(env.port()["faults"] == before["faults"], "a fault was counted")
    check(not wait_closed(dev.fe, 0.1), "the connection was closed")


@attack
def pk_buffer_id_out_of_range(env):
    """TX buffer ids at or beyond the ring size: 256 and 0xffff on a ring of 256, 100
    on a ring of 100, and in the last descriptor of a chain."""
    for bid, size in ((256, 256), (0xffff, 256), (100, 100)):
        pfault(env, f"id {bid} on a ring of {size}",
               lambda d, bid=bid: ptx(d, [one(d, bid=bid)]), "buffer id", queue_size=size)

    def chain(d):
        data = good_frame()
        buf = put(d, data)
        ptx(d, [(buf, 12, 3, VRING_DESC_F_NEXT), (buf + 12, len(data) - 12, 256, 0)])
    pfault(env, "id 256 in the last descriptor of a chain", chain, "buffer id")
    nothing_to_w(env, "ids out of range")


@attack
def pk_buffer_id_reused_while_in_use(env):
    """Two TX chains made available together with the same buffer id (the second
    written first, the first's head last, so one pass sees both)."""
    def same_id(d, chained=False):
        vq = d.tx[0]
        data = good_frame()
        bid = vq.free_ids[-1]
        i0, w0 = vq.next_avail, vq.avail_wrap
        slots = []
        idx, wrap = i0, w0
        for _ in range(3 if chained else 2):
            slots.append((idx, wrap))
            idx, wrap = vq.advance(idx, wrap)
        first = slots[:2] if chained else slots[:1]
        second = slots[len(first):]
        for i, w in second:
            vq.write_desc(i, put(d, data), len(data), bid, packed_wrap_flags(w))
        for k, (i, w) in enumerate(reversed(first)):
            last = k == 0
            flags = packed_wrap_flags(w) | (0 if last else VRING_DESC_F_NEXT)
            length = len(data) - 12 if chained and last else (12 if chained else len(data))
            vq.write_desc(i, put(d, data), length, bid, flags)
        vq.next_avail, vq.avail_wrap = idx, wrap
        vq.kick(force=True)
    pfault(env, "id reused by the next chain", same_id, "reused")
    pfault(env, "id of a 2-descriptor chain reused", lambda d: same_id(d, True), "reused")


@attack
def pk_chain_longer_than_ring(env):
    """A chain whose every descriptor has NEXT: the whole ring of 8 (across its end),
    the whole ring of 256, a ring of 100: longer than the free ring."""
    def loop(d):
        vq = d.tx[0]
        buf = put(d, good_frame())
        ptx(d, [(buf, 8, 0, VRING_DESC_F_NEXT)] * vq.size)
    for size in (8, 256, 100):
        pfault(env, f"NEXT on all {size} slots", loop, "longer than the free ring",
               queue_size=size)


@attack
def pk_wrap_counter_jumps(env):
    """Wrap bits that jump: a chain running into a descriptor with the next lap's
    bits, with neither bit, with both (looks used), and a chain across the ring end
    whose descriptors after the end keep the old lap's bits: each a fault."""
    data = good_frame()

    def into(bits):
        def build(d):
            vq = d.tx[0]
            _, wrap = vq.advance(vq.next_avail, vq.avail_wrap)
            second = {"next lap": packed_wrap_flags(not wrap), "neither": 0,
                      "both": VRING_PACKED_DESC_F_WRAPS}[bits]
            buf = put(d, data)
            vq.make_available([(buf, 12, 0, VRING_DESC_F_NEXT | packed_wrap_flags(vq.avail_wrap)),
                               (buf + 12, len(data) - 12, 0, second)], wrap_bits=False)
            vq.kick(force=True)
        return build
    for bits in ("next lap", "neither", "both"):
        pfault(env, f"chain into a slot with {bits} wrap bits", into(bits),
               "not made available")

    def across_end(d):
        move_tx_to(d, 7)
        vq = d.tx[0]
        buf = put(d, data)
        old = packed_wrap_flags(vq.avail_wrap)        # lap 1 bits on all three
        vq.make_available([(buf, 12, 0, VRING_DESC_F_NEXT | old),
                           (buf + 12, 20, 0, VRING_DESC_F_NEXT | old),
                           (buf + 32, len(data) - 32, 0, old)], wrap_bits=False)
        vq.kick(force=True)
    pfault(env, "chain across the ring end keeping the old wrap bits", across_end,
           "not made available", queue_size=8)


@attack
def pk_wrap_bits_ahead_not_taken(env):
    """Legal: a descriptor ahead with the next lap's wrap bits is not available, so
    not taken (no fault, nothing forwarded); rewritten with this lap's bits it is."""
    dev = pdev(env)
    vq = dev.tx[0]
    before = env.port()
    data = good_frame(0x5c00)
    i, wrap = vq.next_avail, vq.avail_wrap
    bid = vq.free_ids[-1]
    vq.make_available([(put(dev, data), len(data), bid, packed_wrap_flags(not wrap))],
                      wrap_bits=False)
    vq.kick(force=True)
    nothing_to_w(env, "next lap's bits")
    check(not wait_closed(dev.fe, 0.2), "closed for a descriptor not yet available")
    check(env.port()["faults"] == before["faults"], "a fault was counted")
    vq.write_desc(i, flags=packed_wrap_flags(wrap))
    vq.kick(force=True)
    got = env.w.recv_frames(timeout=5, count=1)
    check(got == [data[12:]], f"the corrected descriptor was not forwarded ({len(got)})")
    settle_tx(dev)
    forwards(env, dev)


@attack
def pk_indirect_rules(env):
    """INDIRECT inside an indirect table, INDIRECT with NEXT, INDIRECT after NEXT,
    table lengths 17 and 0, a table outside memory: faults. A WRITE entry in a TX
    table is tolerated (DPDK's driver writes them): forwarded."""
    data = good_frame()

    def table(d, entries, flags=VRING_DESC_F_INDIRECT, length=None, extra=()):
        t = b"".join(VRING_PACKED_DESC.pack(*e) for e in entries)
        ptx(d, [(put(d, t), len(t) if length is None else length, 0, flags), *extra])

    def nested(d):
        inner = VRING_PACKED_DESC.pack(put(d, data), len(data), 0, 0)
        table(d, [(put(d, inner), 16, 0, VRING_DESC_F_INDIRECT)])
    pfault(env, "indirect inside indirect", nested, "nested indirect")
    pfault(env, "INDIRECT|NEXT", lambda d: table(
        d, [(put(d, data), len(data), 0, 0)], VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
        extra=[(put(d, data), 16, 0, 0)]), "INDIRECT and NEXT")

    def after_next(d):
        t = VRING_PACKED_DESC.pack(put(d, data), len(data), 0, 0)
        ptx(d, [(put(d, data), 12, 0, VRING_DESC_F_NEXT), (put(d, t), 16, 0, VRING_DESC_F_INDIRECT)])
    pfault(env, "INDIRECT after NEXT", after_next, "indirect descriptor inside a chain")
    for length in (17, 0):
        pfault(env, f"indirect table length {length}", lambda d, length=length: table(
            d, [(put(d, data), len(data), 0, 0)] * 2, length=length), "multiple of 16")
    pfault(env, "indirect table outside memory",
           lambda d: ptx(d, [(0x1000, 32, 0, VRING_DESC_F_INDIRECT)]), "outside guest memory")
    # Tolerated (vring_packed.c: DPDK 22.11's driver presets its TX tables to
    # WRITE): a TX table entry marked WRITE is only read; the frame goes through.
    dev = pdev(env)
    before = env.port()
    frame = H.HDR + frame_to_w(0x5d40)
    buf = put(dev, frame)
    table(dev, [(buf, 12, 0, 0), (buf + 12, len(frame) - 12, 0, VRING_DESC_F_WRITE)])
    check(env.w.recv_frames(timeout=5, count=1) == [frame[12:]],
          "a TX table entry marked WRITE: the frame was not forwarded")
    settle_tx(dev)
    check(env.port()["faults"] == before["faults"], "WRITE in a TX table counted a fault")


@attack
def pk_tx_write_flag(env):
    """Device-writable (WRITE) descriptors in a TX chain: alone, and second in a chain."""
    data = good_frame()
    pfault(env, "WRITE TX descriptor",
           lambda d: ptx(d, [one(d, flags=VRING_DESC_F_WRITE)]), "device-writable")

    def second(d):
        buf = put(d, data)
        ptx(d, [(buf, 12, 0, VRING_DESC_F_NEXT),
                (buf + 12, len(data) - 12, d.tx[0].free_ids[-1], VRING_DESC_F_WRITE)])
    pfault(env, "read + WRITE TX chain", second, "device-writable")
    nothing_to_w(env, "WRITE TX descriptors")


@attack
def pk_rx_read_only(env):
    """Read-only RX buffers (no WRITE), alone and after a WRITE one: the switch faults
    the port and writes neither the buffer nor a used descriptor."""
    for what, chain in (("read-only RX buffer", [0]),
                        ("WRITE then read-only", [VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0])):
        dev = pdev(env, rx_buf_size=0)          # no RX buffers posted at start
        vq = dev.rx[0]
        pattern = bytes([0xa5]) * 2048
        bufs = [put(dev, pattern) for _ in chain]
        vq.make_available([(b, 2048, 7, f) for b, f in zip(bufs, chain)])
        vq.kick(force=True)
        flags = [vq.read_flags(i) for i in range(len(chain))]
        before = env.port()
        env.w.send_frame(make_frame(200, 0x5d00, src=MAC_W, dst=MAC_E))
        st = expect_fault(env, dev.fe, before, what, "invalid_descriptor")
        check("read-only" in st.get("last_fault", ""), f"{what}: fault {st.get('last_fault')}")
        for b in bufs:
            check(dev.memory.read(b, 2048) == pattern, f"{what}: the switch wrote into it")
        check([vq.read_flags(i) for i in range(len(chain))] == flags,
              f"{what}: the switch wrote a used descriptor")
        env.close_evil()


@attack
def pk_rx_buffer_ids(env):
    """RX buffers with a buffer id beyond the ring, and 5 RX buffers sharing one id
    that a 9000-byte frame needs together (mergeable: popped in one go): faults."""
    for what, ids, size, rule in (("RX id 256", [256], 200, "buffer id beyond"),
                                  ("5 RX buffers with id 7", [7] * 5, 9000, "reused")):
        dev = pdev(env, rx_buf_size=0)
        vq = dev.rx[0]
        for bid in ids:
            vq.make_available([(put(dev, bytes(2048)), 2048, bid, VRING_DESC_F_WRITE)])
        vq.kick(force=True)
        before = env.port()
        env.w.send_frame(make_frame(size, 0x5d80, src=MAC_W, dst=MAC_E))
        st = expect_fault(env, dev.fe, before, what, "invalid_descriptor")
        check(rule in st.get("last_fault", ""), f"{what}: fault {st.get('last_fault')}")
        env.close_evil()


@attack
def pk_desc_outside_memory(env):
    """TX buffers outside guest memory: below it, at its end, at 2^64-64, straddling
    the region end, spanning the hole between two regions."""
    n = len(good_frame())
    for what, addr in (("below the region", 0x1000), ("at the region end", None),
                       ("at 2^64-64", (1 << 64) - 64)):
        pfault(env, f"buffer {what}", lambda d, addr=addr: ptx(
            d, [(region_end(d) if addr is None else addr, n, 0, 0)]), "outside guest memory")
    pfault(env, "buffer straddles the region end",
           lambda d: ptx(d, [(region_end(d) - 32, n, 0, 0)]), "outside guest memory")
    pfault(env, "second buffer of a chain past the end", lambda d: ptx(
        d, [(put(d, good_frame()), 12, 0, VRING_DESC_F_NEXT), (region_end(d) - 8, n, 0, 0)]),
        "outside guest memory")
    hole = GuestMemory([(DEFAULT_GPA, 32 << 20, DEFAULT_GPA + DEFAULT_QVA_OFFSET),
                        (DEFAULT_GPA + (64 << 20), 32 << 20,
                         DEFAULT_GPA + (64 << 20) + DEFAULT_QVA_OFFSET)])
    env.keep(hole)
    end1 = DEFAULT_GPA + (32 << 20)
    pfault(env, "buffer spans the hole between two regions",
           lambda d: ptx(d, [(end1 - 32, (32 << 20) + 64, 0, 0)]), "outside guest memory",
           memory=hole)
    nothing_to_w(env, "buffers outside memory")


@attack
def pk_desc_spans_two_regions(env):
    """Legal: a packed TX buffer across two GPA-contiguous regions whose QVAs are far
    apart is forwarded intact."""
    mem = GuestMemory.split()
    env.keep(mem)
    dev = pdev(env, memory=mem)
    mid = mem.regions[1].gpa
    data = good_frame(0x5e00)
    mem.write(mid - 50, data)
    before = env.port()
    ptx(dev, [(mid - 50, len(data), dev.tx[0].free_ids[-1], 0)])
    got = env.w.recv_frames(timeout=5, count=1)
    check(got == [data[12:]], f"the witness got {len(got)} frames, or a changed one")
    check(env.port()["faults"] == before["faults"], "faulted on a legal buffer")
    settle_tx(dev)


@attack
def pk_long_legal_chain(env):
    """Legal but beyond 64 segments: a 100-descriptor packed chain is dropped and
    counted too_many_segments, completed, the connection kept; 64 are forwarded."""
    dev = pdev(env)
    before = env.port()
    data = H.HDR + frame_to_w(0x5f00, size=200)
    buf = put(dev, data)
    step = len(data) // 100
    descs = []
    bid = dev.tx[0].free_ids[-1]
    for i in range(100):
        last = i == 99
        descs.append((buf + step * i, len(data) - step * i if last else step, bid,
                      0 if last else VRING_DESC_F_NEXT))
    ptx(dev, descs)
    settle_tx(dev)
    check(not wait_closed(dev.fe, 0.2), "a long legal chain closed the connection")
    st = env.port()
    dropped = st["drops"].get("too_many_segments", 0) - before["drops"].get("too_many_segments", 0)
    check(dropped == 1, f"{dropped} too_many_segments drops, 1 expected ({st['drops']})")
    nothing_to_w(env, "100-descriptor chain")
    frame = frame_to_w(0x5f01, 200)
    dev.send_frame(frame, split=64)
    check(env.w.recv_frames(timeout=5, count=1) == [frame], "64-descriptor frame lost")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    try:
        main()
    finally:
        ENV.down()
