#!/usr/bin/env python3
"""AF_PACKET ports (afpacket:IFNAME) on veth pairs against the real kernel.

The switch's end of each veth stays in the root namespace, up and without an
address; the far end sits in a namespace made here, with an address. With
offloads (the default) the port has PACKET_VNET_HDR both ways, so the veths
keep TSO, GSO and GRO on and 64 KiB TCP segments cross whole. A port with
offloads=off gets MTU-sized frames only: its far end has TSO and GSO off,
and the switch completes partial checksums (TP_STATUS_CSUMNOTREADY) for it.
Needs root.
"""

import os
import re
import shutil
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import Guest  # noqa: E402
from hostutil import ensure_packages  # noqa: E402
from netns import guest_talks_to, in_ns, iperf3_server, ns_ping, sh, veth_to_netns, wait_switch_ready  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, test  # noqa: E402

RUN = "/tmp/vmsw-afpacket"
NO_TSO = ("tso", "off", "gso", "off")
GRO_TSO = ("tso", "on", "gso", "on", "gro", "on")


def setup():
    require_root()
    ensure_packages(["iperf3", "ethtool", "iproute2", "iputils-ping"])
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)


def iperf3_ns(src_ns, server, reverse=False):
    """iperf3 from src_ns to server for 3 s; Mbit/s received."""
    out = sh(*in_ns(src_ns, "iperf3", "-c", server, "-t", "3", *(["-R"] if reverse else [])))
    m = re.findall(r"([\d.]+) ([MG])bits/sec.*receiver", out)
    val, unit = m[-1]
    return float(val) * (1000 if unit == "G" else 1)


def checksums_completed(sw, ifname):
    """Partial checksums from the kernel (CSUMNOTREADY) completed on ifname's port."""
    m = re.search(rf"afpacket {ifname}: .* (\d+) checksums completed", sw.ctl("show")[1])
    return int(m.group(1)) if m else 0


def port_json(sw, port):
    """The port's counters from `ctl stats --json`."""
    return sw.ports_json()[port]


def large_frames(sw, port):
    """(frames over 9216 bytes received, sent) by an afpacket port with offloads."""
    rc, out, err = sw.ctl("show")
    check(rc == 0, f"ctl show failed: {err}")
    m = re.search(rf"port {port} \(afpacket\).*?vnet header, offloads csum tso4 tso6 ecn "
                  rf"\(and uso received\), (\d+) frames over \d+ bytes received, (\d+) sent",
                  out, re.DOTALL)
    check(m, f"port {port} shows no offloads: {out}")
    return int(m.group(1)), int(m.group(2))


def no_drops(st, what):
    drops = {k: v for k, v in st["drops"].items() if v}
    check(not drops, f"{what} dropped frames: {drops}")


@test
def afpacket_two_namespaces():
    """Namespace to namespace through two afpacket ports, a without offloads (TSO
    off on its veth, checksums completed here), b with; frames over the MTU counted."""
    setup()
    with ExitStack() as s:
        veth_to_netns(s, "vmsw-afa", "vmsw-afa", "far", "10.0.8.1/24", offloads=NO_TSO)
        veth_to_netns(s, "vmsw-afb", "vmsw-afb", "far", "10.0.8.2/24", offloads=NO_TSO)
        sw = wait_switch_ready(s.enter_context(
            Switch(["a=afpacket:vmsw-afa,offloads=off", "b=afpacket:vmsw-afb"],
                   name="afpacket-ns")))
        sent, got = ns_ping("vmsw-afa", "10.0.8.2")
        check(got == sent, f"ping a -> b: {got}/{sent} replies")
        iperf3_server(s, "vmsw-afb")
        up, down = iperf3_ns("vmsw-afa", "10.0.8.2"), iperf3_ns("vmsw-afa", "10.0.8.2", True)
        print(f"  iperf3 a -> b {up:.0f} Mbit/s, b -> a {down:.0f} Mbit/s")
        check(up > 10 and down > 10, "iperf3 below 10 Mbit/s")
        st = sw.stats()["ports"]
        check(st["a"]["rx_packets"] > 1000 and st["b"]["tx_packets"] > 1000,
              f"counters did not see the traffic: {st}")
        check(not st["a"]["drops"] and not st["b"]["drops"], f"drops: {st}")
        check(checksums_completed(sw, "vmsw-afa") > 0, "no partial checksum was completed")
        # b's partial checksums reach a (no offloads) unfinished: completed for it.
        done = port_json(sw, "a")["csum_completed"]
        check(done > 0, "no partial checksum from b was completed for a")
        check("afpacket vmsw-afa: no offloads (offloads=off)" in sw.ctl("show")[1],
              "ctl show does not say that a has no offloads")
        # a's side takes 3500-byte frames; b's interface MTU (1500) does not.
        sh("ip", "link", "set", "vmsw-afa", "mtu", "3500")
        sh("ip", "-n", "vmsw-afa", "link", "set", "far", "mtu", "3500")
        time.sleep(1.5)	# the port looks at its interface's MTU once a second
        ns_ping("vmsw-afa", "10.0.8.2", count=5, size=3000)
        big = sw.stats()["ports"]["b"]["drops"].get("too_big", 0)
        check(big >= 5, f"only {big} frames over b's MTU counted too_big")


@test
def afpacket_namespaces_gro_tso_on():
    """Namespace to namespace through two afpacket ports, GRO, TSO and GSO on
    both veths: 64 KiB segments cross whole both ways, nothing dropped."""
    setup()
    with ExitStack() as s:
        veth_to_netns(s, "vmsw-afa", "vmsw-afa", "far", "10.0.8.1/24", offloads=GRO_TSO)
        veth_to_netns(s, "vmsw-afb", "vmsw-afb", "far", "10.0.8.2/24", offloads=GRO_TSO)
        for dev in ("vmsw-afa", "vmsw-afb"):
            sh("ethtool", "-K", dev, "gro", "on")
        sw = wait_switch_ready(s.enter_context(
            Switch(["a=afpacket:vmsw-afa", "b=afpacket:vmsw-afb"], name="afpacket-tso")))
        iperf3_server(s, "vmsw-afb")
        up, down = iperf3_ns("vmsw-afa", "10.0.8.2"), iperf3_ns("vmsw-afa", "10.0.8.2", True)
        (a_rx, a_tx), (b_rx, b_tx) = large_frames(sw, "a"), large_frames(sw, "b")
        print(f"  iperf3 a -> b {up:.0f} Mbit/s, b -> a {down:.0f} Mbit/s; frames over "
              f"9216 bytes: a received {a_rx} sent {a_tx}, b received {b_rx} sent {b_tx}")
        check(up > 500 and down > 500, "iperf3 below 500 Mbit/s")
        check(min(a_rx, a_tx, b_rx, b_tx) > 100, "64 KiB frames did not cross both ways")
        for name in ("a", "b"):
            st = port_json(sw, name)
            no_drops(st, f"port {name}")
            check(st["gso_segmented"] == 0, f"{name}: {st['gso_segmented']} frames segmented")


@test
def afpacket_guest_reaches_namespace():
    """A QEMU guest pings and runs iperf3 against a namespace behind afpacket,
    GRO, TSO and GSO on the veth: TSO frames cross whole both ways."""
    setup()
    with ExitStack() as s:
        veth_to_netns(s, "vmsw-afg", "vmsw-afg", "far", "10.0.0.254/24", offloads=GRO_TSO)
        sh("ethtool", "-K", "vmsw-afg", "gro", "on")
        sw = s.enter_context(Switch([f"vm1=vhost-user:{RUN}/vm1.sock",
                                     "up=afpacket:vmsw-afg"], name="afpacket-guest"))
        g = s.enter_context(Guest("g1-afpacket", f"{RUN}/vm1.sock", "52:54:00:00:00:01",
                                  "10.0.0.1/24"))
        g.wait_ready()
        guest_talks_to(s, g, "vmsw-afg", "10.0.0.254", "namespace")
        st = sw.stats()["ports"]["up"]
        check(st["rx_packets"] > 1000 and st["tx_packets"] > 1000,
              f"afpacket counters did not see the traffic: {st}")
        check(not st["drops"], f"afpacket port dropped frames: {st['drops']}")
        got, sent = large_frames(sw, "up")
        print(f"  frames over 9216 bytes: {got} from the namespace, {sent} from the guest")
        check(got > 100 and sent > 100, "64 KiB frames did not cross both ways")
        seg = port_json(sw, "up")["gso_segmented"] + port_json(sw, "vm1")["gso_segmented"]
        check(seg == 0, f"{seg} frames segmented: a peer lacked offloads")
        # Jumbo frames from the guest are over the veth's 1500 MTU.
        g.run("ip link set eth0 mtu 9000", check=True)
        g.run("ping -c 3 -i 0.2 -W 1 -s 4000 10.0.0.254")
        big = sw.stats()["ports"]["up"]["drops"].get("too_big", 0)
        print(f"  4000-byte pings from a 9000-MTU guest: {big} dropped as too_big")
        check(big >= 3, f"only {big} frames over the MTU counted too_big")


if __name__ == "__main__":
    main()
