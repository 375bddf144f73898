#!/usr/bin/env python3
"""VXLAN ports (vxlan:REMOTE,vni=N[,local=IP][,port=P]) against the kernel.

- Encapsulation and decapsulation checked byte by byte with plain UDP
  sockets on loopback addresses (no guest).
- Two guests: g1 on vmswitch A, which has a VXLAN port to a Linux vxlan
  device (VNI 42) in a namespace, bridged with 10.0.0.254/24, and a second
  VXLAN port (VNI 7, UDP port 4790, on 127.0.0.1) to vmswitch B, where g2
  is. g1 reaches the namespace (ping, iperf3 both ways); g2 and g1 ping
  each other through both switches.

The guests have TSO: the switch cuts their segments into MSS-sized frames
with full checksums before encapsulating them (gso_segmented).

The namespace's veth has TX checksum offload off: a local sender's inner
TCP checksum would otherwise reach our UDP socket unfinished (a NIC fills it
in before the wire). Needs root (the sending socket is a raw socket).
"""

import json
import os
import shutil
import socket
import struct
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import Guest  # noqa: E402
from hostutil import ensure_packages  # noqa: E402
from netns import guest_talks_to, in_ns, iperf3_server, netns, sh, veth_to_netns, wait_switch_ready  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, test  # noqa: E402

RUN = "/tmp/vmsw-vxlan"
NS = "vmsw-vx"


def setup():
    require_root()
    ensure_packages(["iperf3", "ethtool", "iproute2"])
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)


def vxlan(vni, frame, flags=0x08):
    return struct.pack("!B3xI", flags, vni << 8) + frame


def udp_from(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    return s


@test
def vxlan_encap_decap_on_loopback():
    """Header checks on receipt (counted bad_encap); the header we send."""
    setup()
    with ExitStack() as s:
        listener = s.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        listener.bind(("127.0.0.4", 4798))
        listener.settimeout(5)
        sw = wait_switch_ready(s.enter_context(Switch(
            ["a=vxlan:127.0.0.2,vni=5,local=127.0.0.1,port=4799",
             "b=vxlan:127.0.0.4,vni=6,local=127.0.0.1,port=4798"], name="vxlan-lo")))
        frame = bytes.fromhex("ffffffffffff 020000000001 88b5") + b"vmswitch-vxlan" * 4
        good = s.enter_context(udp_from("127.0.0.2"))
        good.sendto(vxlan(5, frame), ("127.0.0.1", 4799))
        data, (src, sport) = listener.recvfrom(65536)
        flags, vni = struct.unpack("!B3xI", data[:8])
        print(f"  flooded to port b: {len(data)} bytes from {src}:{sport}, "
              f"flags {flags:#x}, vni {vni >> 8}")
        check(src == "127.0.0.1" and 49152 <= sport <= 65535,
              f"source {src}:{sport}, expected 127.0.0.1 and a port >= 49152")
        check(flags == 0x08 and vni == 6 << 8 and data[8:] == frame,
              f"bad encapsulation: {data[:24].hex()}")
        good.sendto(vxlan(9, frame), ("127.0.0.1", 4799))		# wrong VNI
        good.sendto(vxlan(5, frame, flags=0), ("127.0.0.1", 4799))	# no I flag
        good.sendto(b"\x08\0\0", ("127.0.0.1", 4799))			# short
        s.enter_context(udp_from("127.0.0.3")).sendto(vxlan(5, frame), ("127.0.0.1", 4799))
        time.sleep(0.5)
        st = sw.stats()["ports"]
        check(st["a"]["rx_packets"] == 1 and st["b"]["tx_packets"] == 1,
              f"expected one frame through: {st}")
        check(st["a"]["drops"] == {"bad_encap": 4}, f"a's drops: {st['a']['drops']}")
        out = sw.output()
        check("1 wrong vni, 2 malformed, 1 from other hosts" in out,
              f"per-cause counts missing: {out[-600:]}")


@test
def vxlan_ipv6_in_namespace():
    """The same over IPv6 (the kernel fills in the UDP checksum IPv6 requires)."""
    setup()
    with ExitStack() as s:
        netns(s, "vmsw-vx6")
        for a in ("fd00::1", "fd00::2", "fd00::4"):
            sh("ip", "-n", "vmsw-vx6", "addr", "add", f"{a}/128", "dev", "lo", "nodad")
        sw = wait_switch_ready(s.enter_context(Switch(
            ["a=vxlan:fd00::2,vni=5,local=fd00::1,port=4799",
             "b=vxlan:fd00::4,vni=6,local=fd00::1,port=4798"], name="vxlan-v6",
            prefix=in_ns("vmsw-vx6"))))
        script = ("import socket, struct\n"
                  "l = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
                  "l.bind(('fd00::4', 4798)); l.settimeout(5)\n"
                  "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
                  "s.bind(('fd00::2', 0))\n"
                  "f = bytes.fromhex('ffffffffffff02000000000188b5') + b'v6' * 30\n"
                  "s.sendto(struct.pack('!B3xI', 8, 5 << 8) + f, ('fd00::1', 4799))\n"
                  "d, a = l.recvfrom(9000)\n"
                  "print('ok' if d == struct.pack('!B3xI', 8, 6 << 8) + f else d.hex())\n")
        out = sh(*in_ns("vmsw-vx6", sys.executable, "-c", script))
        check(out.strip() == "ok", f"IPv6 frame not carried: {out}")
        st = sw.stats()["ports"]
        check(st["a"]["rx_packets"] == 1 and st["b"]["tx_packets"] == 1, f"counters: {st}")


def port_json(sw, port):
    """The port's counters from `ctl stats --json`."""
    rc, out, err = sw.ctl("stats", "--json")
    check(rc == 0, f"ctl stats --json failed: {err}")
    return next(p for p in json.loads(out)["ports"] if p["name"] == port)


def kernel_vtep(stack):
    """NS with a Linux vxlan device (VNI 42) and 10.0.0.254 on a bridge over it."""
    veth_to_netns(stack, NS, "vmsw-vx0", "vmsw-vx1", "192.168.77.2/24",
                  here_addr="192.168.77.1/24", offloads=("tx", "off"))
    for cmd in (["ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote",
                 "192.168.77.1", "local", "192.168.77.2", "dstport", "4789"],
                ["ip", "link", "add", "br0", "type", "bridge"],
                ["ip", "link", "set", "vx0", "master", "br0"],
                ["ip", "addr", "add", "10.0.0.254/24", "dev", "br0"],
                ["ip", "link", "set", "vx0", "up"],
                ["ip", "link", "set", "br0", "up"]):
        sh("ip", "netns", "exec", NS, *cmd)


@test
def vxlan_guests_via_kernel_vtep_and_second_switch():
    """g1 <-> Linux vxlan (ping, iperf3); g2 on a second vmswitch <-> g1 (ping)."""
    setup()
    with ExitStack() as s:
        kernel_vtep(s)
        a = wait_switch_ready(s.enter_context(Switch(
            [f"vm1=vhost-user:{RUN}/vm1.sock",
             "kern=vxlan:192.168.77.2,vni=42,local=192.168.77.1",
             "peer=vxlan:127.0.0.2,vni=7,local=127.0.0.1,port=4790"], name="vxlan-a")))
        b = wait_switch_ready(s.enter_context(Switch(
            [f"vm2=vhost-user:{RUN}/vm2.sock",
             "peer=vxlan:127.0.0.1,vni=7,local=127.0.0.2,port=4790"], name="vxlan-b")))
        g1 = s.enter_context(Guest("g1-vxlan", f"{RUN}/vm1.sock", "52:54:00:00:00:01",
                                   "10.0.0.1/24"))
        g2 = s.enter_context(Guest("g2-vxlan", f"{RUN}/vm2.sock", "52:54:00:00:00:02",
                                   "10.0.0.2/24"))
        g1.wait_ready()
        g2.wait_ready()
        sent, got = g2.ping("10.0.0.1", count=20, interval=0.1)
        check(sent == 20 and got == 20, f"g2 -> g1 over vmswitch VXLAN: {got}/{sent}")
        sent, got = g1.ping("10.0.0.2", count=10, interval=0.1)
        check(sent == 10 and got == 10, f"g1 -> g2 over vmswitch VXLAN: {got}/{sent}")
        guest_talks_to(s, g1, NS, "10.0.0.254", "kernel vxlan")
        sa, sb = a.stats()["ports"], b.stats()["ports"]
        check(sa["kern"]["rx_packets"] > 1000 and sa["kern"]["tx_packets"] > 1000,
              f"kern counters did not see the traffic: {sa['kern']}")
        check(sb["peer"]["rx_packets"] >= 30 and sb["peer"]["tx_packets"] >= 30,
              f"peer counters: {sb['peer']}")
        kern = port_json(a, "kern")
        print(f"  guest TSO frames segmented for VXLAN: {kern['gso_segmented']}, "
              f"{kern['tx_packets']} frames encapsulated")
        check(kern["gso_segmented"] > 0, "no guest TSO frame was segmented for VXLAN")
        check(kern["tx_bytes"] <= kern["tx_packets"] * 1518,
              "inner frames over the MTU were encapsulated")
        # Cutting a burst of 64 KiB frames may overrun the port's 256-frame tx
        # link (a frame whose segments do not all fit is dropped whole): rare.
        full = kern["drops"]["link_full"]
        check(full * 100 <= kern["tx_packets"],
              f"{full} frames dropped link_full of {kern['tx_packets']} sent")
        sa["kern"]["drops"].pop("link_full", None)
        for name, st in (("a kern", sa["kern"]), ("a peer", sa["peer"]),
                         ("b peer", sb["peer"])):
            check(not st["drops"], f"{name} dropped frames: {st['drops']}")


if __name__ == "__main__":
    main()
