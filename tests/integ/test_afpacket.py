#!/usr/bin/env python3
"""AF_PACKET ports (afpacket:IFNAME) on veth pairs against the real kernel.

The switch's end of each veth stays in the root namespace, up and without an
address; the far end sits in a namespace made here, with an address. With
offloads (the default) the port has PACKET_VNET_HDR both ways, so the veths
keep TSO, GSO and GRO on and 64 KiB TCP segments cross whole. A port with
offloads=off gets MTU-sized frames only: its far end has TSO and GSO off,
and the switch completes partial checksums (TP_STATUS_CSUMNOTREADY) for it.
Two cases check what the kernel hands the port: TSO frames whose VLAN tag is
in the skb's metadata (the header's csum_start then counts from the untagged
frame), and UDP GSO (GSO_UDP_L4) from a UDP_SEGMENT sender.
Needs root.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import Guest  # noqa: E402
from hostutil import ensure_packages  # noqa: E402
from netns import guest_talks_to, in_ns, iperf3_server, ns_ping, sh, veth_to_netns, wait_switch_ready  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

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


# ---- VLAN tags and UDP GSO from the kernel --------------------------------

TCP_PORT, UDP_PORT = 5301, 5302
TCP_BYTES = 24 << 20
# Receives one TCP connection to its end; prints "<bytes> <sha256>".
TCP_SINK = """
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1]))); s.listen(1); print("listening", flush=True)
c, _ = s.accept(); c.settimeout(30); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""
# Sends argv[3] seeded random bytes to argv[1]:argv[2].
TCP_SOURCE = """
import random, socket, sys
data = random.Random(12).randbytes(int(sys.argv[3]))
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
c.sendall(data); c.close()
"""
# UDP with UDP_SEGMENT: argv[3] sends of argv[4] segments of argv[5] bytes each;
# segment i of send k starts with (k, i) and is seeded pattern after that.
UDP_SOURCE = """
import socket, struct, sys, time
dst, port, sends, segs, size = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 103, size)   # UDP_SEGMENT
for k in range(sends):
    buf = b"".join(struct.pack("!HH", k, i) + bytes((k + i + j) % 251 for j in range(size - 4))
                   for i in range(segs))
    s.sendto(buf, (dst, port))
    time.sleep(0.002)
"""
# Counts datagrams until 2 s of silence: "<n> <good> <sizes seen>".
UDP_SINK = """
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("", int(sys.argv[1]))); size = int(sys.argv[2]); print("listening", flush=True)
s.settimeout(20); n = good = 0; sizes = set(); seen = set()
while True:
    try:
        d = s.recv(1 << 16)
    except socket.timeout:
        break
    s.settimeout(2); n += 1; sizes.add(len(d))
    k, i = struct.unpack("!HH", d[:4])
    if len(d) == size and (k, i) not in seen and \
            d[4:] == bytes((k + i + j) % 251 for j in range(size - 4)):
        good += 1
    seen.add((k, i))
print(n, good, ",".join(map(str, sorted(sizes))) or "-", flush=True)
"""


def ns_python(ns, code, *args):
    """A Python process running code in ns (stdout piped, text)."""
    return subprocess.Popen(in_ns(ns, sys.executable, "-c", code, *map(str, args)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_listening(proc):
    line = proc.stdout.readline()
    if not line.startswith("listening"):
        check(False, f"sink did not start: {line}{proc.stdout.read()}")


def finish(proc, what, timeout=60):
    """What a helper printed (a few lines: they fit the pipe); it must exit 0.
    Not communicate(timeout=): it would miss what readline() buffered."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        check(False, f"{what} did not finish in {timeout} s: {proc.stdout.read()}")
    out = proc.stdout.read()
    proc.stdout.close()
    check(proc.returncode == 0, f"{what} exited {proc.returncode}: {out}")
    return out.strip()


def result_of(proc, what, fields):
    """The helper's last line split into fields values (it must print them)."""
    out = finish(proc, what)
    got = out.splitlines()[-1].split() if out else []
    check(len(got) == fields, f"{what} printed {out!r}, {fields} fields expected")
    return got


def csum_errors(ns):
    """{'Ip'|'Tcp'|'Udp': InCsumErrors} of ns (per-namespace /proc/net/snmp)."""
    rows = [line.split() for line in sh(*in_ns(ns, "cat", "/proc/net/snmp")).splitlines()]
    out = {}
    for head, vals in zip(rows[::2], rows[1::2]):
        if "InCsumErrors" in head:
            out[head[0].rstrip(":")] = int(vals[head.index("InCsumErrors")])
    return out


def tcp_transfer(src_ns, dst_ns, dst_ip):
    """TCP_BYTES of seeded random data src_ns -> dst_ns; True if they all arrived intact."""
    import hashlib
    import random
    sink = ns_python(dst_ns, TCP_SINK, TCP_PORT)
    wait_listening(sink)
    src = ns_python(src_ns, TCP_SOURCE, dst_ip, TCP_PORT, TCP_BYTES)
    finish(src, f"TCP source in {src_ns}")
    got = result_of(sink, f"TCP sink in {dst_ns}", 2)
    want = hashlib.sha256(random.Random(12).randbytes(TCP_BYTES)).hexdigest()
    print(f"  TCP {src_ns} -> {dst_ns}: {got[0]} of {TCP_BYTES} bytes, "
          f"sha256 {'matches' if got[1:] == [want] else 'DIFFERS'}")
    return got == [str(TCP_BYTES), want]


# tc programs for a VLAN interface without the 8021q module: push tag 100 on
# egress (into the skb's metadata, as a VLAN device on a veth does), pop it on
# ingress.
VLAN_BPF = r"""
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("push") int vlan_push(struct __sk_buff *skb)
{
	bpf_skb_vlan_push(skb, bpf_htons(0x8100), 100);
	return TC_ACT_OK;
}

SEC("pop") int vlan_pop(struct __sk_buff *skb)
{
	if (skb->vlan_present)
		bpf_skb_vlan_pop(skb);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
"""


def vlan_100_on(ns, dev):
    """dev in ns sends and receives on VLAN 100 (tc BPF), or skip."""
    if not shutil.which("clang"):
        skip("no clang to build the tc VLAN program (the kernel has no 8021q)")
    src, obj = os.path.join(RUN, "vlan.c"), os.path.join(RUN, "vlan.o")
    with open(src, "w") as f:
        f.write(VLAN_BPF)
    arch = sh("cc", "-print-multiarch").strip()
    sh("clang", "-O2", "-target", "bpf", f"-I/usr/include/{arch}", "-c", src, "-o", obj)
    sh(*in_ns(ns, "tc", "qdisc", "add", "dev", dev, "clsact"))
    for hook, sec in (("egress", "push"), ("ingress", "pop")):
        sh(*in_ns(ns, "tc", "filter", "add", "dev", dev, hook, "bpf", "da", "obj", obj,
                  "sec", sec))


@test
def afpacket_vlan_tagged_tso_to_access_port():
    """TCP from a VLAN interface (tag in the skb's metadata, TSO, partial
    checksums) into a trunk afpacket port, out of an access port without
    offloads: the kernel's csum_start counts from the untagged frame, the port
    puts the tag back and moves it. The receiver verifies every checksum (rx
    checksumming off on its veth): data intact both ways, no checksum errors."""
    setup()
    with ExitStack() as s:
        veth_to_netns(s, "vmsw-afva", "vmsw-afva", "far", "10.0.9.1/24",
                      offloads=GRO_TSO + ("rx", "off"))
        vlan_100_on("vmsw-afva", "far")
        veth_to_netns(s, "vmsw-afvb", "vmsw-afvb", "far", "10.0.9.2/24",
                      offloads=NO_TSO + ("rx", "off"))
        sw = wait_switch_ready(s.enter_context(
            Switch(["a=afpacket:vmsw-afva", "b=afpacket:vmsw-afvb,offloads=off"],
                   name="afpacket-vlan")))
        for port, opt in (("a", "trunk=100"), ("b", "vlan=100")):
            rc, _, err = sw.ctl("port", "set", port, opt)
            check(rc == 0, f"port set {port} {opt}: {err}")
        sent, got = ns_ping("vmsw-afva", "10.0.9.2", count=5)
        check(got == sent, f"ping over VLAN 100: {got}/{sent} replies")
        before = {ns: csum_errors(ns) for ns in ("vmsw-afva", "vmsw-afvb")}
        ok_ab = tcp_transfer("vmsw-afva", "vmsw-afvb", "10.0.9.2")
        ok_ba = tcp_transfer("vmsw-afvb", "vmsw-afva", "10.0.9.1")
        after = {ns: csum_errors(ns) for ns in before}
        a_rx, _ = large_frames(sw, "a")
        st = {p: port_json(sw, p) for p in "ab"}
        print(f"  a received {a_rx} tagged TSO frames over 9216 bytes; b: "
              f"{st['b']['gso_segmented']} segmented, {st['b']['csum_completed']} "
              f"checksums completed; TCP checksum errors in the receivers "
              f"{[before[ns]['Tcp'] for ns in before]} -> {[after[ns]['Tcp'] for ns in after]}")
        check(ok_ab and ok_ba, "TCP data did not arrive intact")
        check(after == before, f"the receivers counted checksum errors: {before} -> {after}")
        # 24 MiB from a came as 403 frames over 9216 bytes (how many depends on
        # TCP's window); 100 is what the other GRO/TSO cases ask too.
        check(a_rx > 100, f"only {a_rx} large frames from the tagged TSO sender")
        check(st["b"]["gso_segmented"] >= a_rx, "b got TSO frames unsegmented")
        for p in "ab":
            no_drops(st[p], f"port {p}")


@test
def afpacket_udp_gso_from_kernel():
    """UDP_SEGMENT sends (40 segments of 1200 bytes each) in a namespace reach
    the afpacket port as one UDP GSO frame each (GSO_UDP_L4); the switch cuts
    them for the other afpacket port, with and without offloads. The receiver
    verifies UDP checksums (rx checksumming off) and gets every datagram once,
    1200 bytes, content intact."""
    setup()
    sends, segs, size = 200, 40, 1200
    for b_opts in ("", ",offloads=off"):
        with ExitStack() as s:
            veth_to_netns(s, "vmsw-afua", "vmsw-afua", "far", "10.0.10.1/24",
                          offloads=GRO_TSO + ("tx-udp-segmentation", "on"))
            veth_to_netns(s, "vmsw-afub", "vmsw-afub", "far", "10.0.10.2/24",
                          offloads=NO_TSO + ("rx", "off"))
            sw = wait_switch_ready(s.enter_context(
                Switch(["a=afpacket:vmsw-afua", f"b=afpacket:vmsw-afub{b_opts}"],
                       name="afpacket-uso")))
            sent, got = ns_ping("vmsw-afua", "10.0.10.2", count=3)
            check(got == sent, f"ping: {got}/{sent} replies")
            before = csum_errors("vmsw-afub")
            sink = ns_python("vmsw-afub", UDP_SINK, UDP_PORT, size)
            wait_listening(sink)
            finish(ns_python("vmsw-afua", UDP_SOURCE, "10.0.10.2", UDP_PORT, sends, segs, size),
                   "UDP_SEGMENT sender")
            n, good, sizes = result_of(sink, "UDP sink", 3)
            after = csum_errors("vmsw-afub")
            a_rx, _ = large_frames(sw, "a")
            st = {p: port_json(sw, p) for p in "ab"}
            print(f"  b{b_opts or ' (offloads on)'}: {n} datagrams ({good} intact, sizes "
                  f"{sizes}) of {sends * segs}; a received {a_rx} frames over 9216 bytes, "
                  f"b segmented {st['b']['gso_segmented']}; UDP checksum errors "
                  f"{before.get('Udp')} -> {after.get('Udp')}")
            check(int(n) == int(good) == sends * segs,
                  f"{n} datagrams, {good} intact, {sends * segs} sent")
            check(sizes == str(size), f"datagram sizes {sizes}")
            check(after == before, f"checksum errors {before} -> {after}")
            # Each send is one 48 000-byte GSO frame at the port, none cut on the way.
            check(a_rx == sends, f"{a_rx} UDP GSO frames arrived whole, {sends} sent")
            check(st["b"]["gso_segmented"] == sends, f"b: {st['b']['gso_segmented']} "
                  f"frames segmented, {sends} expected")
            for p in "ab":
                no_drops(st[p], f"port {p}")


if __name__ == "__main__":
    main()
