#!/usr/bin/env python3
"""Churn: 1000 connect / negotiate / traffic / disconnect cycles against one vmswitch.

One vmswitch with two ports. A peer (our Python frontend, tests/lib/vhostfront.py)
stays connected to port b for the whole run. Each cycle a fresh NetDevice with
its own 4 MiB memfd connects to port a, negotiates (QEMU order; every 4th cycle
DPDK order, every 3rd cycle with two memory regions), sends 4 frames to the peer
and receives 2 from it, then disconnects: every other cycle after GET_VRING_BASE
on every ring (a clean stop), otherwise by just closing the socket.

Before the cycles, 512 frames to the peer touch each of its RX buffers once
(see prime()). After cycle 10 and after the last cycle the switch's open fds (/proc/PID/fd)
and VmRSS (/proc/PID/status) are sampled: the fd count must be the same and
VmRSS may grow by at most RSS_MARGIN_KB. Every frame must arrive intact, no
connection may be closed for a fault, and no frame may be dropped.

Environment: CHURN_CYCLES (default 1000).
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from vhostfront import (ConnectionClosed, Frontend, GuestMemory, NetDevice,  # noqa: E402
                        make_frame)

RUN = "/tmp/vmsw-churn"
CYCLES = int(os.environ.get("CHURN_CYCLES", "1000"))
WARMUP = 10
RSS_MARGIN_KB = 256
MAC_A = b"\x02\x00\x00\x00\x0c\x01"
MAC_B = b"\x02\x00\x00\x00\x0c\x02"


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_status(pid, key):
    """A kB figure from /proc/PID/status (VmRSS, RssAnon, RssShmem, ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sample(sw):
    pid = sw.proc.pid
    return dict(fds=proc_fds(pid), rss=proc_status(pid, "VmRSS"),
                anon=proc_status(pid, "RssAnon"), shmem=proc_status(pid, "RssShmem"),
                maps=sum(1 for _ in open(f"/proc/{pid}/maps")))


def connect(path, cycle):
    """A new device on path; retried while the switch still holds the last one.

    The switch refuses a second frontend while it has not yet seen the previous
    connection close; that is a race of the test, not a failure.
    """
    deadline = time.monotonic() + 5
    retries = 0
    while True:
        mem = GuestMemory.split(4 << 20) if cycle % 3 == 0 else GuestMemory.simple(4 << 20)
        dev = NetDevice(Frontend.connect(path), memory=mem, queue_size=64,
                        flavor="dpdk" if cycle % 4 == 0 else "qemu")
        dev.own_memory = True       # dev.close() unmaps and closes it
        try:
            dev.start()
            return dev, retries
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError, TimeoutError):
            dev.close()
            retries += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def one_cycle(path, peer, cycle, counts):
    dev, retries = connect(path, cycle)
    counts["retries"] += retries
    try:
        sent = [make_frame(64 + 300 * i, cycle * 8 + i, src=MAC_A, dst=MAC_B) for i in range(4)]
        for f in sent:
            dev.send_frame(f)
        got = peer.recv_frames(timeout=2, count=len(sent))
        check(got == sent, f"cycle {cycle}: peer got {len(got)} of {len(sent)} frames "
                           f"({sum(a == b for a, b in zip(got, sent))} intact)")
        back = [make_frame(100 + 700 * i, cycle * 8 + 4 + i, src=MAC_B, dst=MAC_A)
                for i in range(2)]
        for f in back:
            peer.send_frame(f)
        got = dev.recv_frames(timeout=2, count=len(back))
        check(got == back, f"cycle {cycle}: device got {len(got)} of {len(back)} frames")
        check(dev.wait_tx_done(timeout=2), f"cycle {cycle}: TX chains not completed")
        if cycle % 2:
            dev.stop()          # GET_VRING_BASE on every ring, then close
        counts["frames"] += len(sent) + len(back)
    finally:
        dev.close()
        peer.reclaim_tx()


def prime(path, peer):
    """Touch every RX buffer of the peer once (2 x its ring of 1500-byte frames).

    The switch's RSS includes the pages of guest memory it has touched; the
    peer stays mapped throughout, so its buffers must all have been written
    once before the first sample, or their first touch would look like growth.
    """
    dev, _ = connect(path, 1)
    try:
        for i in range(2 * 256):
            dev.send_frame(make_frame(1500, i, src=MAC_A, dst=MAC_B))
            if i % 32 == 31:
                peer.recv_frames(timeout=2, count=32)
        dev.wait_tx_done(timeout=2)
    finally:
        dev.close()


@test
def churn_fds_and_rss_stable():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    a, b = os.path.join(RUN, "a.sock"), os.path.join(RUN, "b.sock")
    counts = dict(retries=0, frames=0)
    with Switch([f"a=vhost-user:{a}", f"b=vhost-user:{b}"], name="churn", args=["-q"]) as sw:
        peer = NetDevice.connect(b, memory=GuestMemory.simple(16 << 20), queue_size=256)
        peer.own_memory = True
        try:
            prime(a, peer)
            start = time.monotonic()
            for cycle in range(CYCLES):
                one_cycle(a, peer, cycle, counts)
                if cycle + 1 == WARMUP:
                    time.sleep(0.2)     # let the switch handle the last close
                    early = sample(sw)
                    t_early = time.monotonic() - start
            elapsed = time.monotonic() - start
            time.sleep(0.2)
            late = sample(sw)
            check(sw.alive(), "vmswitch died")
            st = sw.stats()["ports"]
        finally:
            peer.close()
    print(f"  {CYCLES} cycles in {elapsed:.1f} s ({1000 * elapsed / CYCLES:.1f} ms per cycle; "
          f"first {WARMUP}: {t_early:.2f} s), {counts['frames']} frames, "
          f"{counts['retries']} connects retried while the switch saw the last close")
    for k in ("fds", "rss", "anon", "shmem", "maps"):
        print(f"  after {WARMUP} cycles {k} {early[k]}, after {CYCLES}: {late[k]}"
              + (" kB" if k in ("rss", "anon", "shmem") else ""))
    print(f"  port a: rx {st['a'].get('rx_packets')} tx {st['a'].get('tx_packets')} "
          f"drops {st['a']['drops']} faults {st['a']['faults']}; "
          f"port b: rx {st['b'].get('rx_packets')} tx {st['b'].get('tx_packets')} "
          f"drops {st['b']['drops']}")
    check(late["fds"] == early["fds"], f"open fds {early['fds']} -> {late['fds']}")
    check(late["maps"] == early["maps"], f"mappings {early['maps']} -> {late['maps']}")
    check(late["rss"] - early["rss"] <= RSS_MARGIN_KB,
          f"VmRSS grew {early['rss']} -> {late['rss']} kB (margin {RSS_MARGIN_KB} kB)")
    check(st["a"]["faults"] == 0, f"port a closed for a fault: {st['a'].get('last_fault')}")
    check(st["a"].get("rx_packets") == 4 * CYCLES + 512 and st["b"].get("rx_packets") == 2 * CYCLES,
          "switch counters do not match the frames sent")
    check(not st["a"]["drops"] and not st["b"]["drops"],
          f"drops: a {st['a']['drops']} b {st['b']['drops']}")


if __name__ == "__main__":
    main()
