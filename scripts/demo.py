#!/usr/bin/env python3
"""make demo: two tiny QEMU guests get their Ethernet from vmswitch.

Installs what is missing (qemu-system-x86, busybox-static, iperf3, a Debian
cloud kernel via apt-get download), starts build/vmswitch with its built-in
default ports, boots one guest on each, and shows them pinging each other and
running iperf3 through the switch. Everything is stopped again at the end.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))

from guest import Guest  # noqa: E402
from guestimg import ensure_assets  # noqa: E402
from hostutil import ensure_packages  # noqa: E402
from switch import Switch  # noqa: E402


def say(text):
    print(f"demo: {text}", flush=True)


def main():
    if os.geteuid() != 0:
        sys.exit("demo: run as root (it installs packages and uses /run/vmswitch)")
    say("installing what is missing (qemu-system-x86, busybox-static, iperf3, a cloud kernel)")
    ensure_packages(["qemu-system-x86", "busybox-static", "iperf3"])
    ensure_assets()
    sw = Switch([], name="demo")	# no --port: the built-in default
    sw.start()
    for path in ("/run/vmswitch/vm1.sock", "/run/vmswitch/vm2.sock"):
        while not os.path.exists(path):
            time.sleep(0.1)
    say(f"vmswitch is running (log: {sw.logpath}); booting two guests")
    guests = [Guest(f"demo-vm{n}", f"/run/vmswitch/vm{n}.sock", f"52:54:00:00:00:0{n}",
                    f"10.0.0.{n}/24", reconnect=True) for n in (1, 2)]
    try:
        for g in guests:
            g.start()
        for g in guests:
            g.wait_ready()
            say(f"{g.name} ({g.ip}) is up after {g.boot_seconds:.1f} s")
        vm1, vm2 = guests
        sent, got = vm1.ping("10.0.0.2", count=10, interval=0.2)
        say(f"vm1 -> vm2 ping: {got}/{sent} replies")
        sent2, got2 = vm2.ping("10.0.0.1", count=10, interval=0.2)
        say(f"vm2 -> vm1 ping: {got2}/{sent2} replies")
        vm2.iperf3_server()
        up = vm1.iperf3_client("10.0.0.2", seconds=5)
        down = vm1.iperf3_client("10.0.0.2", seconds=5, reverse=True)
        say(f"iperf3 TCP vm1 -> vm2: {up['bits_per_second'] / 1e6:.0f} Mbit/s")
        say(f"iperf3 TCP vm2 -> vm1: {down['bits_per_second'] / 1e6:.0f} Mbit/s")
        st = sw.stats()
        for name, p in st["ports"].items():
            say(f"port {name}: rx {p['rx_packets']} packets, tx {p['tx_packets']} packets, "
                f"drops {sum(p['drops'].values())}")
        ok = got == sent and got2 == sent2
        say("guests (TCG, no KVM) are slow; the throughput is theirs, not the switch's")
        say("SUCCESS: two guests talk through vmswitch" if ok else "FAILED: ping lost packets")
        return 0 if ok else 1
    finally:
        for g in guests:
            g.stop()
        sw.stop()


if __name__ == "__main__":
    sys.exit(main())
