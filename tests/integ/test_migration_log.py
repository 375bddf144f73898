#!/usr/bin/env python3
"""The migration log, exactly, from our own frontend (what no real peer can
check): after SET_LOG_BASE, LOG_ALL and the rings' LOG flag, every page the
switch writes into the guest is marked and no other; hostile log messages
are refused or close only their own connection, leaking no fd.

Frames reach the logged device over every delivery path: small (copied) and
large (borrowed from the sender and copied once) frames, mergeable buffers
spanning several chains, one buffer per frame without MRG_RXBUF, and two
queue pairs. Its own transmit ring is logged too (used ring only: buffers
the guest sends are only read).
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from dirtylog import PAGE, set_log_base, start_logging  # noqa: E402
from vhostfront import (DEFAULT_NET_FEATURES, DEFAULT_PROTOCOL_FEATURES,  # noqa: E402
                        VHOST_USER_PROTOCOL_F_LOG_SHMFD, VIRTIO_NET_F_MRG_RXBUF,
                        VIRTIO_RING_F_EVENT_IDX, NetDevice, bit, make_frame)

RUN = "/tmp/vmsw-miglog"
# Without EVENT_IDX the only ring field written beside the entries is
# used->flags, on the page of used->idx: the expected set is exact.
FEATURES = DEFAULT_NET_FEATURES & ~bit(VIRTIO_RING_F_EVENT_IDX)
PROTOCOL = DEFAULT_PROTOCOL_FEATURES | bit(VHOST_USER_PROTOCOL_F_LOG_SHMFD)
MA, MB = b"\x02\x00\x00\x00\x6c\x01", b"\x02\x00\x00\x00\x6c\x02"
SIZES = [60, 200, 300, 1000, 1514, 4000, 9000]


def workdir(name):
    d = os.path.join(RUN, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def pages(gpa, length):
    return set(range(gpa // PAGE, (gpa + length - 1) // PAGE + 1)) if length else set()


def logged(log):
    out = set()
    for i, byte in enumerate(bytes(log)):
        for b in range(8):
            if byte & (1 << b):
                out.add(i * 8 + b)
    return out


def used_since(vq, start):
    """[(slot, id, len)] of the used entries from free-running index start on."""
    end = vq.read_used_idx()
    return [(i, *vq.read_used_elem(i)) for i in range(start, start + ((end - start) & 0xffff))]


def packed_used_since(vq, start):
    """[(slot, id, len)] of the used descriptors from position start on (one
    slot per chain: this test's chains are single buffers, without IN_ORDER)."""
    (i, wrap), out = start, []
    for _ in range(vq.size):
        if (i, wrap) == (vq.next_avail, vq.avail_wrap) or \
                not vq.is_used(vq.read_flags(i), wrap):
            break
        _, length, bid, _ = vq.read_desc(i)
        out.append((i, bid, length))
        i, wrap = vq.advance(i, wrap)
    return out


def position(dev, vq):
    """Where the device's completions continue: used->idx, or a packed ring's
    next used slot and wrap counter."""
    return (vq.next_used, vq.used_wrap) if dev.packed else vq.read_used_idx()


def packed_expected(dev, rx_start, tx_start):
    """As expected(), for packed rings: RX buffers, and the slots of the
    descriptor ring the used descriptors were written into."""
    want = set()
    for q in range(dev.queue_pairs):
        for vq, start, is_rx in ((dev.rx[q], rx_start[q], True), (dev.tx[q], tx_start[q], False)):
            for slot, bid, length in packed_used_since(vq, start):
                want |= pages(vq.desc_gpa + 16 * slot, 16)
                if is_rx:
                    want |= pages(dev._rx_bufs[q][bid][0], length)
    return want


def expected(dev, rx_start, tx_start):
    """The pages the switch wrote since the starts: RX buffers (as long as it
    said), the used entries it filled and the pages of used->idx/flags."""
    if dev.packed:
        return packed_expected(dev, rx_start, tx_start)
    want = set()
    for q in range(dev.queue_pairs):
        for vq, start, is_rx in ((dev.rx[q], rx_start[q], True), (dev.tx[q], tx_start[q], False)):
            used = used_since(vq, start)
            for slot, head, length in used:
                want |= pages(vq.used_gpa + 4 + 8 * (slot % vq.size), 8)
                if is_rx:
                    want |= pages(dev._rx_bufs[q][head][0], length)
            if used:
                want |= pages(vq.used_gpa, 4)
    return want


def settle(devs, seconds=0.5):
    """Wait until no used index (or packed ring slot) moves for a while."""
    last = None
    while True:
        now = [vq.read_used_idx() if not d.packed else
               [vq.read_flags(i) for i in range(vq.size)]
               for d in devs for vq in d.rx + d.tx]
        if now == last:
            return
        last = now
        time.sleep(seconds)


def run_paths(name, **dev_kw):
    """b sends SIZES (and a few flows) to the logged a, a sends two to b."""
    d = workdir(name)
    pa, pb = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    # --poll: a sleeping switch writes used->flags on every ring, which is
    # logged too but would make the expected set depend on timing.
    # Two queue pairs: one thread (no VMSW_RUN_ARGS), which spreads b's flows
    # over both of a's RX rings; with datapath threads b's thread would use
    # one ring of its own, and the log of the other would go unchecked.
    with Switch([f"a=vhost-user:{pa}", f"b=vhost-user:{pb}"], name=f"miglog-{name}",
                args=["--poll"], env_args=dev_kw.get("queue_pairs", 1) == 1) as sw:
        features = dev_kw.pop("features", FEATURES)
        a = NetDevice.connect(pa, features=features, protocol_features=PROTOCOL, **dev_kw)
        b = NetDevice.connect(pb)
        try:
            # Both MACs learned, then the log starts clean.
            a.send_frame(make_frame(60, 0, src=MA, dst=MB))
            b.send_frame(make_frame(60, 0, src=MB, dst=MA))
            check(b.recv_frames(timeout=3, count=1), "no frame crossed to b before logging")
            check(any(a.recv_frames(timeout=2, count=1, queue=q) for q in range(a.queue_pairs)),
                  "no frame crossed to a before logging")
            a.reclaim_tx()
            b.reclaim_tx()
            log = start_logging(a)
            settle([a, b])
            log[:] = bytes(len(log))
            rx0 = [position(a, vq) for vq in a.rx]
            tx0 = [position(a, vq) for vq in a.tx]
            sent = []
            for i, size in enumerate(SIZES * 2):
                # Several sources: with two queue pairs both RX queues are used.
                f = make_frame(size, i + 1, src=MB[:5] + bytes([0x10 + i % 4]), dst=MA)
                sent.append(f)
                b.send_frame(f)
                b.wait_tx_done(2)
                b.reclaim_tx()
            for i in range(2):
                a.send_frame(make_frame(100, 100 + i, src=MA, dst=MB))
            settle([a, b])
            want = expected(a, rx0, tx0)
            got = logged(log)
            queues = [q for q in range(a.queue_pairs)
                      if (packed_used_since if a.packed else used_since)(a.rx[q], rx0[q])]
            frames = []
            for q in range(a.queue_pairs):
                frames += a.recv_frames(timeout=3, count=None, queue=q)
            print(f"  {name}: {len(frames)} frames to the logged port over queue(s) "
                  f"{queues}, {len(want)} pages written, {len(got)} logged")
            check(sorted(frames) == sorted(sent), "frames arrived changed or missing")
            check(not (want - got), f"pages written but not logged: "
                  f"{sorted(hex(p * PAGE) for p in want - got)[:8]}")
            check(not (got - want), f"pages logged but not written: "
                  f"{sorted(hex(p * PAGE) for p in got - want)[:8]}")
            if dev_kw.get("queue_pairs", 1) > 1:
                check(len(queues) == 2, f"only queue(s) {queues} carried frames")
            code, show, _ = sw.ctl("show", "a")
            check("logging on" in show, f"ctl show does not say a is logged: {show}")
        finally:
            a.close()
            b.close()


@test
def log_covers_mergeable_small_and_borrowed_frames():
    run_paths("mrg", rx_buf_size=2048)


@test
def log_covers_one_buffer_per_frame():
    run_paths("nomrg", features=FEATURES & ~bit(VIRTIO_NET_F_MRG_RXBUF), rx_buf_size=9216)


@test
def log_covers_packed_rings():
    """A packed device: the used descriptors go into the descriptor ring
    (at its own address, not log_guest_addr, which is the device area's),
    and every slot written and every receive buffer filled is logged, and no
    other page. Mergeable buffers, small, large and borrowed frames."""
    run_paths("packed", rx_buf_size=2048, packed=True)


@test
def log_covers_two_queue_pairs():
    run_paths("mq", queue_pairs=2, rx_buf_size=2048)


@test
def log_too_small_for_memory_skips_and_counts():
    """A log covering only the first 256 KiB of guest-physical space (the
    buffers lie far above): frames are still delivered, the writes outside
    the log are skipped and counted, nothing is written past it."""
    d = workdir("small")
    pa, pb = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    with Switch([f"a=vhost-user:{pa}", f"b=vhost-user:{pb}"], name="miglog-small") as sw:
        a = NetDevice.connect(pa, features=FEATURES, protocol_features=PROTOCOL)
        b = NetDevice.connect(pb)
        try:
            a.send_frame(make_frame(60, 0, src=MA, dst=MB))
            check(b.recv_frames(timeout=3, count=1), "no frame crossed to b")
            spill = start_logging(a, size=8, file_size=4096)
            frames = [make_frame(500, i, src=MB, dst=MA) for i in range(5)]
            for f in frames:
                b.send_frame(f)
            got = a.recv_frames(timeout=3, count=5)
            check(got == frames, f"{len(got)} of 5 frames delivered under a small log")
            _, show, _ = sw.ctl("show", "a")
            line = next((ln.strip() for ln in show.splitlines() if "migration:" in ln), "")
            print(f"  {line}")
            outside = int(line.split(" outside")[0].split()[-1]) if "outside" in line else 0
            check(outside > 0, f"writes outside the log were not counted: {line!r}")
            check(not any(spill[8:]), "bytes past the 8-byte log were written")
        finally:
            a.close()
            b.close()


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@test
def hostile_log_messages_refused_without_fd_leak():
    d = workdir("hostile")
    pa, pb = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    with Switch([f"a=vhost-user:{pa}", f"b=vhost-user:{pb}"], name="miglog-hostile") as sw:
        pid = sw.proc.pid
        b = NetDevice.connect(pb)
        base = None
        cases = [
            ("size 0", dict(size=0), "refused"),
            ("offset + size wraps (CVE-2020-10722)", dict(size=1 << 63, offset=1 << 63), "refused"),
            ("size beyond the file", dict(size=1 << 20), "refused"),
            ("offset beyond the file", dict(size=8, offset=1 << 20), "refused"),
            ("two fds", dict(size=64, nfds=2), "closed"),
            ("no fd", dict(size=64, nfds=0), "closed"),
            ("15-byte payload", dict(payload=b"\x00" * 15), "closed"),
            ("17-byte payload", dict(payload=b"\x00" * 17), "closed"),
        ]
        for what, kw, outcome in cases:
            a = NetDevice.connect(pa, features=FEATURES, protocol_features=PROTOCOL)
            if base is None:
                base = fd_count(pid)
            fds = [os.memfd_create("vmsw-log", os.MFD_CLOEXEC) for _ in range(kw.get("nfds", 1))]
            for fd in fds:
                os.ftruncate(fd, 4096)
            payload = kw.get("payload")
            if payload is not None:
                fds = fds[:1]
            r = set_log_base(a, kw.get("size", 64), kw.get("offset", 0), fds=fds, payload=payload)
            for fd in fds:
                os.close(fd)
            got = "closed" if r is None else ("refused" if r else "accepted")
            print(f"  {what}: {got}")
            check(got == outcome, f"{what}: {got}, expected {outcome}")
            a.close()
            time.sleep(0.3)
        # The other port kept working, and nothing stayed open.
        b.send_frame(make_frame(60, 1, src=MB, dst=MB))
        check(b.wait_tx_done(2), "port b stopped working")
        a = NetDevice.connect(pa, features=FEATURES, protocol_features=PROTOCOL)
        leaked = fd_count(pid) - base
        a.close()
        b.close()
        check(leaked == 0, f"{leaked} fds leaked by the hostile log messages")


@test
def log_before_protocol_feature_closes_the_connection():
    d = workdir("noshm")
    pa = os.path.join(d, "a.sock")
    with Switch([f"a=vhost-user:{pa}"], name="miglog-noshm"):
        a = NetDevice.connect(pa)       # LOG_SHMFD not negotiated
        fd = os.memfd_create("vmsw-log", os.MFD_CLOEXEC)
        os.ftruncate(fd, 4096)
        r = set_log_base(a, 64, fds=[fd])
        os.close(fd)
        check(r is None, f"SET_LOG_BASE without LOG_SHMFD was answered {r}")
        a.close()


if __name__ == "__main__":
    main()
