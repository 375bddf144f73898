#!/usr/bin/env python3
"""vmswitch with real QEMU 7.2 guests (TCG, Debian cloud kernel, busybox).

Each test boots its own guests on its own vmswitch; guests are 10.0.0.N/24
with MAC 52:54:00:00:00:0N.
"""

import os
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import BackgroundPing  # noqa: E402
from guestnet import guest, ip, mac_bytes, no_loss, pcap_frames, sock_dir, switch  # noqa: E402
from testlib import check, main, test  # noqa: E402

AFTER_REBOOT = 6         # seconds a ping stream runs on after a reboot completed


@test
def two_guests_ping_and_iperf3():
    d = sock_dir("two")
    with ExitStack() as s:
        sw = switch(s, d, 2, "two")
        g1, g2 = guest(s, d, 1), guest(s, d, 2)
        g1.wait_ready()
        g2.wait_ready()
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))
        g2.iperf3_server()
        up = g1.iperf3_client(ip(2), seconds=4)
        down = g1.iperf3_client(ip(2), seconds=4, reverse=True)
        print(f"  iperf3 g1->g2 {up['bits_per_second'] / 1e6:.0f} Mbit/s, "
              f"g2->g1 {down['bits_per_second'] / 1e6:.0f} Mbit/s")
        check(up["bits_per_second"] > 1e6 and down["bits_per_second"] > 1e6,
              "iperf3 throughput below 1 Mbit/s")
        st = sw.stats()["ports"]
        check(st["vm1"]["tx_packets"] > 1000 and st["vm2"]["tx_packets"] > 1000,
              f"counters did not see the traffic: {st}")
        check(not st["vm1"]["drops"].get("invalid_descriptor"), "guest flagged as broken")


@test
def three_guests_unicast_not_flooded():
    """Once g1 and g2 are learned, none of their unicast exchange reaches g3: a
    capture on vm3 holds only multicast and broadcast frames (and, as a control
    that the capture works, g1's ping to g3 afterwards)."""
    d = sock_dir("three")
    with ExitStack() as s:
        sw = switch(s, d, 3, "three")
        gs = [guest(s, d, n) for n in (1, 2, 3)]
        for g in gs:
            g.wait_ready()
        no_loss(gs[0], ip(2), count=5)	# learns g1 and g2
        # Every frame the switch gives vm3 during the exchange is captured.
        pcap = os.path.join(d, "vm3.pcap")
        code, _, err = sw.ctl("capture", "vm3", pcap)
        check(code == 0, f"capture refused: {err}")
        before = sw.stats()
        no_loss(gs[0], ip(2), count=50)
        after = sw.stats()
        no_loss(gs[0], ip(3), count=1)	# the control: this must be in the capture
        code, _, err = sw.ctl("capture", "stop", "vm3")
        check(code == 0, f"capture stop refused: {err}")
        third = after["ports"]["vm3"]["tx_packets"] - before["ports"]["vm3"]["tx_packets"]
        uni = after["switch"]["unicast"] - before["switch"]["unicast"]
        mac3 = mac_bytes(gs[2].mac)
        to_g3 = [f for f in pcap_frames(pcap) if f[6:12] != mac3]
        control = [f for f in to_g3 if f[:6] == mac3]
        leaked = [f for f in to_g3 if not f[0] & 1 and f[:6] != mac3]	# unicast, not for g3
        print(f"  100 unicast frames g1<->g2: {uni} switched as unicast, {third} reached g3; "
              f"captured for g3: {len(to_g3) - len(control)} during the exchange, "
              f"{len(leaked)} of them unicast, then {len(control)} of g1's ping to g3")
        check(uni >= 100, f"only {uni} frames switched as known unicast")
        check(control, "the capture missed g1's ping to g3 itself, so it shows nothing")
        check(len(to_g3) - len(control) >= third,
              f"the capture holds {len(to_g3) - len(control)} frames for g3 during the "
              f"exchange, the counters say {third}")
        # Not one unicast frame may reach g3 (the old limit was 29 of 100). What
        # does reach it is multicast: measured in 7 runs, 7 to 9 frames, every one
        # IPv6 link-up chatter of the guests (MLD reports to 33:33:00:00:00:16,
        # router solicitations to 33:33:00:00:00:02), none of the exchange.
        check(not leaked, f"{len(leaked)} unicast frames reached g3, e.g. "
                          f"{leaked[0][:14].hex() if leaked else ''}")
        check(after["switch"]["macs"] >= 2, "MAC table did not learn")
        cpu = sw.cpu_seconds()
        time.sleep(5)
        idle = (sw.cpu_seconds() - cpu) / 5
        print(f"  idle with three guests attached: {idle * 100:.1f}% of a core")
        check(idle < 0.05, f"idle switch used {idle * 100:.0f}% of a core")


@test
def multiqueue_guest_uses_two_queue_pairs():
    d = sock_dir("mq")
    with ExitStack() as s:
        sw = switch(s, d, 2, "mq")
        g1 = guest(s, d, 1, queues=2)
        g2 = guest(s, d, 2, queues=2)
        g1.wait_ready()
        g2.wait_ready()
        for g in (g1, g2):
            g.run("ethtool -L eth0 combined 2", check=True)
        no_loss(g1, ip(2))
        g2.iperf3_server()
        g1.iperf3_client(ip(2), seconds=4, parallel=8)
        q = sw.stats()["ports"]["vm1"]["queues"]
        print(f"  vm1 queue counters: {q}")
        for d in ("rx", "tx"):
            a, b = q.get((0, d), 0), q.get((1, d), 0)
            check(min(a, b) > 0.05 * (a + b),
                  f"{d} traffic not spread over both queue pairs: {q}")


@test
def guest_reboot_while_other_pings():
    """One ping stream g1 -> g2, every 0.2 s, across g2's reboot: it must go
    unanswered while g2 is down and be answered, without loss, once g2's reboot
    completed (its shell is back). Replies from before the reboot prove nothing."""
    d = sock_dir("reboot")
    with ExitStack() as s:
        switch(s, d, 2, "reboot")
        g1, g2 = guest(s, d, 1), guest(s, d, 2)
        g1.wait_ready()
        g2.wait_ready()
        no_loss(g1, ip(2), count=5)
        stream = BackgroundPing(g1, ip(2), interval=0.2)
        stream.start()
        time.sleep(2)
        g2.reboot()
        stream.mark()
        print(f"  g2 rebooted in {g2.boot_seconds:.1f} s")
        time.sleep(AFTER_REBOOT)
        stream.check_resumed(stream.stop(), "g1 -> g2", AFTER_REBOOT)
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))


@test
def guest_driver_reload_resumes_traffic():
    d = sock_dir("reload")
    with ExitStack() as s:
        switch(s, d, 2, "reload")
        g1, g2 = guest(s, d, 1), guest(s, d, 2)
        g1.wait_ready()
        g2.wait_ready()
        no_loss(g1, ip(2), count=5)
        # Unbinding the driver resets the rings; binding it again restarts them.
        g2.run("rmmod virtio_net && insmod /lib/modules/virtio_net.ko && sleep 1 && "
               f"ip addr add {ip(2)}/24 dev eth0 && ip link set eth0 up && sleep 2",
               timeout=60, check=True)
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))


@test
def switch_killed_and_restarted_under_running_guests():
    d = sock_dir("restart")
    with ExitStack() as s:
        sw = switch(s, d, 2, "restart")
        g1 = guest(s, d, 1, reconnect=True)
        g2 = guest(s, d, 2, reconnect=True)
        g1.wait_ready()
        g2.wait_ready()
        no_loss(g1, ip(2), count=5)
        sw.kill()
        time.sleep(1)
        sw.start()
        deadline = time.monotonic() + 40
        got = 0
        while time.monotonic() < deadline and not got:
            got = g1.ping(ip(2), count=2, interval=0.5)[1]
        check(got > 0, "no ping reply within 40 s of the restart")
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))


@test
def switch_as_client_of_qemu_server_sockets():
    d = sock_dir("client")
    with ExitStack() as s:
        g1 = guest(s, d, 1, server=True)
        g2 = guest(s, d, 2, server=True)
        time.sleep(1)
        switch(s, d, 2, "client", client=True)
        g1.wait_ready()
        g2.wait_ready()
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))


if __name__ == "__main__":
    main()
