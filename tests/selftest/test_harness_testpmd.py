#!/usr/bin/python3
"""Harness self-test: two guests talk through DPDK testpmd instead of vmswitch.

testpmd's io forwarding bridges its vhost-user port 0 and port 1, so this checks
the guest image, the Guest class and the test framework without the switch.
Run: python3 tests/selftest/test_harness_testpmd.py [name-filter ...]
"""

import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import BackgroundPing, Guest  # noqa: E402
from guestnet import OptGuest  # noqa: E402
from hostutil import wait_for_path  # noqa: E402
from testlib import check, main, require_root, test  # noqa: E402
from testpmd import TestPmd  # noqa: E402
from vuproxy import FRESH_BASE, VuProxy, describe_base, ring_position  # noqa: E402

SOCKDIR = "/tmp/h"
IPS = ["10.0.0.1", "10.0.0.2"]
BOOT_TIMEOUT = 180
IPERF_SECONDS = 5
AFTER_REBOOT = 6         # seconds the ping stream runs on after the reboot completed


def make_guests(**kwargs):
    """Guest objects vm1 and vm2 on SOCKDIR/vm1.sock and SOCKDIR/vm2.sock."""
    return [Guest(f"vm{n}", f"{SOCKDIR}/vm{n}.sock", f"52:54:00:00:00:0{n}", f"{ip}/24",
                  **kwargs)
            for n, ip in enumerate(IPS, 1)]


@contextlib.contextmanager
def testpmd_and_guests(queues=1, qemu_server=False):
    """Yield two booted guests connected through testpmd.

    By default testpmd listens and QEMU connects; with qemu_server=True QEMU
    listens and testpmd connects as a client.
    """
    guests = make_guests(queues=queues, server=qemu_server)
    pmd = TestPmd([g.sock for g in guests], name="harness", queues=queues, client=qemu_server)
    with contextlib.ExitStack() as stack:
        if not qemu_server:
            stack.enter_context(pmd)
        for guest in guests:
            stack.enter_context(guest)
        if qemu_server:
            for guest in guests:
                wait_for_path(guest.sock, 30, guest.proc)
            stack.enter_context(pmd)
        for guest in guests:
            guest.wait_ready(BOOT_TIMEOUT)
            print(f"  {guest.name} booted in {guest.boot_seconds:.1f}s")
        yield guests


def check_ping(src, dst_ip, count=5):
    """Ping dst_ip from src and require 0% loss."""
    sent, received = src.ping(dst_ip, count=count, interval=0.2)
    check(sent == count and received == count,
          f"{src.name} -> {dst_ip}: {received}/{sent} replies")


@test
def harness_ping_both_ways():
    require_root()
    with testpmd_and_guests() as (vm1, vm2):
        check_ping(vm1, IPS[1])
        check_ping(vm2, IPS[0])


@test
def harness_iperf3_both_ways():
    require_root()
    with testpmd_and_guests() as (vm1, vm2):
        vm2.iperf3_server()
        for reverse in (False, True):
            result = vm1.iperf3_client(IPS[1], seconds=IPERF_SECONDS, reverse=reverse)
            direction = "vm2->vm1" if reverse else "vm1->vm2"
            print(f"  iperf3 {direction}: {result['bits_per_second'] / 1e6:.0f} Mbit/s, "
                  f"{result['retransmits']} retransmits")
            check(result["bits_per_second"] > 0, f"no throughput {direction}")


@test
def harness_guest_reboot_while_other_pings():
    """vm2's one ping stream to vm1 goes unanswered while vm1 reboots and is answered
    again, without loss, once the reboot completed (not just before it)."""
    require_root()
    with testpmd_and_guests() as (vm1, vm2):
        stream = BackgroundPing(vm2, IPS[0], interval=0.2)
        stream.start()
        time.sleep(2)
        vm1.reboot(BOOT_TIMEOUT)
        stream.mark()
        print(f"  vm1 rebooted in {vm1.boot_seconds:.1f}s")
        time.sleep(AFTER_REBOOT)
        stream.check_resumed(stream.stop(), "vm2 -> vm1", AFTER_REBOOT)
        check_ping(vm1, IPS[1])
        check_ping(vm2, IPS[0])


@test
def harness_multiqueue():
    require_root()
    with testpmd_and_guests(queues=2) as (vm1, vm2):
        for guest in (vm1, vm2):
            guest.run("ethtool -L eth0 combined 2", check=True)
            _, channels = guest.run("ethtool -l eth0")
            check(channels.count("Combined:\t2") == 2, f"{guest.name}: {channels}")
        check_ping(vm1, IPS[1])
        check_ping(vm2, IPS[0])


@test
def harness_qemu_as_vhost_server():
    require_root()
    with testpmd_and_guests(qemu_server=True) as (vm1, vm2):
        check_ping(vm1, IPS[1])
        check_ping(vm2, IPS[0])


@test
def harness_qemu_reconnects_after_backend_restart():
    require_root()
    guests = make_guests(reconnect=True)
    with contextlib.ExitStack() as stack:
        for guest in guests:  # QEMU keeps retrying until testpmd's sockets exist
            stack.enter_context(guest)
        with TestPmd([g.sock for g in guests], name="harness"):
            for guest in guests:
                guest.wait_ready(BOOT_TIMEOUT)
            check_ping(guests[0], IPS[1])
        with TestPmd([g.sock for g in guests], name="harness"):
            _, received = guests[0].ping(IPS[1], count=20, interval=0.5)
            check(received > 0, "no replies after the backend restarted")
            check_ping(guests[0], IPS[1])
            check_ping(guests[1], IPS[0])


@test
def harness_qemu_packed_backend_restart_gets_the_boot_base():
    """What QEMU 7.2 gives a backend restarted under packed-ring guests, seen
    without vmswitch: testpmd's vhost offers VIRTIO_F_RING_PACKED, the guests'
    devices have packed=on, and a recording proxy sits between each QEMU and
    testpmd. QEMU keeps no packed ring position while a backend runs
    (virtio_queue_packed_restore_last_avail_idx() is empty when GET_VRING_BASE
    fails), so after the restart it sends the base it sent at boot, a ring
    just reset (0x80008000), although the rings moved on: the new backend
    cannot resume from it (DPDK reads the wrong slots; nothing passes), but a
    driver reload in the guest, which resets the rings, recovers."""
    require_root()
    with contextlib.ExitStack() as stack:
        pmd = TestPmd([f"{SOCKDIR}/vm1.sock", f"{SOCKDIR}/vm2.sock"], name="harness")
        stack.callback(pmd.stop)
        pmd.start()
        proxies = [stack.enter_context(VuProxy(f"{SOCKDIR}/q{n}.sock", f"{SOCKDIR}/vm{n}.sock"))
                   for n in (1, 2)]
        guests = [OptGuest(f"vm{n}", f"{SOCKDIR}/q{n}.sock", f"52:54:00:00:00:0{n}",
                           f"{ip}/24", reconnect=True, device_opts="packed=on")
                  for n, ip in enumerate(IPS, 1)]
        for guest in guests:
            stack.enter_context(guest)
        for guest in guests:
            guest.wait_ready(BOOT_TIMEOUT)
        for proxy in proxies:
            acked = [int.from_bytes(m.payload[:8], "little") for m in proxy.transcript(1)
                     if m.to_backend and m.request == 2]
            check(acked and acked[-1] & 1 << 34, f"packed ring not negotiated: {acked}")
        check_ping(guests[0], IPS[1])
        guests[1].iperf3_server()
        guests[0].iperf3_client(IPS[1], seconds=1)  # every ring laps
        rings = [[ring_position(p.ring_descs(1, r)) for r in (0, 1)] for p in proxies]
        first = [p.vring_bases(1) for p in proxies]
        pmd.stop()
        time.sleep(1)
        pmd.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not all(len(p.vring_bases(2)) >= 2
                                                      for p in proxies):
            time.sleep(0.2)
        second = [p.vring_bases(2) for p in proxies]
        for n, (a, b, pos) in enumerate(zip(first, second, rings), 1):
            for ring in (0, 1):
                print(f"  vm{n} ring {ring}: base at boot {describe_base(a.get(ring, 0))}, "
                      f"after the restart {describe_base(b.get(ring, 0))}; at the stop the "
                      f"device stood at slot {pos[ring][2]} wrap {pos[ring][3]}")
        check(all(len(b) >= 2 for b in second), f"no ring set up after the restart: {second}")
        check(first == second and all(v == FRESH_BASE for b in second for v in b.values()),
              f"bases at boot {first}, after the restart {second}")
        check(any(pos[2:] != (0, 1) for g in rings for pos in g),
              f"no ring had moved on from slot 0 wrap 1: {rings}")
        _, received = guests[0].ping(IPS[1], count=4, interval=0.5)
        print(f"  after the restart, before a driver reload: {received}/4 replies")
        for guest, ip in zip(guests, IPS):
            guest.run("rmmod virtio_net && insmod /lib/modules/virtio_net.ko && sleep 1 && "
                      f"ip addr add {ip}/24 dev eth0 && ip link set eth0 up && sleep 2",
                      timeout=60, check=True)
        check_ping(guests[0], IPS[1])
        check_ping(guests[1], IPS[0])


if __name__ == "__main__":
    main()
