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
from hostutil import wait_for_path  # noqa: E402
from testlib import check, main, require_root, test  # noqa: E402
from testpmd import TestPmd  # noqa: E402

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


if __name__ == "__main__":
    main()
