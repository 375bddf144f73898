#!/usr/bin/env python3
"""AF_XDP ports (afxdp:IFNAME) against the real kernel, on veth pairs.

Each test makes its own namespaces and veth pairs and removes them. The
switch's end of a veth stays in the root namespace, up and without an
address; the far end sits in a namespace with an address. The far end has
TX checksum offload turned off: a veth hands frames over with the checksum
still to be filled in, and an AF_XDP socket receives only the bytes (a real
NIC receives complete frames from the wire).

AF_XDP has no offloads: a guest's TSO frames are cut into MSS-sized frames
with full checksums by the switch before they are sent (gso_segmented).

Needs root, libxdp-dev and libbpf-dev (installed here, and vmswitch rebuilt
if it was built without them); skips visibly when XDP cannot attach.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import Guest  # noqa: E402
from hostutil import ensure_packages, repo_path  # noqa: E402
from netns import guest_talks_to, iperf3_server, ns_ping, sh  # noqa: E402
from switch import Switch, binary  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

RUN = "/tmp/vmsw-afxdp"
NOT_BUILT = "built without AF_XDP"


def afxdp_built():
    """True if the vmswitch under test has AF_XDP (an empty spec fails differently)."""
    r = subprocess.run([binary(), "run", "--port", "probe=afxdp:"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return NOT_BUILT not in r.stdout


def setup():
    """Root, packages, and a vmswitch with AF_XDP (rebuilt if it lacks it)."""
    require_root()
    ensure_packages(["libxdp-dev", "libbpf-dev", "iperf3", "ethtool", "iputils-ping"])
    if not afxdp_built():
        b = os.environ.get("B", "build")
        sh("make", "-C", repo_path("."), f"B={b}")
        check(afxdp_built(), "vmswitch still lacks AF_XDP after installing libxdp-dev")


def veth_to_netns(stack, ns, sw_end, addr):
    """Namespace ns with the far end of a veth pair at addr; sw_end stays here."""
    sh("ip", "netns", "del", ns, check_rc=False)
    sh("ip", "link", "del", sw_end, check_rc=False)
    sh("ip", "netns", "add", ns)
    stack.callback(sh, "ip", "netns", "del", ns, check_rc=False)
    sh("ip", "link", "add", sw_end, "type", "veth", "peer", "name", "far", "netns", ns)
    stack.callback(sh, "ip", "link", "del", sw_end, check_rc=False)
    sh("ip", "link", "set", sw_end, "up")
    sh("ip", "netns", "exec", ns, "ethtool", "-K", "far", "tx", "off")
    sh("ip", "-n", ns, "addr", "add", addr, "dev", "far")
    sh("ip", "-n", ns, "link", "set", "far", "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")


def start_switch(stack, ports, name):
    """vmswitch with ports; skip the test if the AF_XDP socket cannot attach."""
    sw = Switch(ports, name=name)
    try:
        sw.start()
    except RuntimeError:
        out = sw.output()
        sw.stop()
        if "cannot open an AF_XDP socket" in out:
            skip("XDP cannot attach here: " + out.strip().splitlines()[-1])
        raise
    stack.callback(sw.stop)
    time.sleep(0.5)
    check(sw.alive(), f"vmswitch exited: {sw.output()}")
    return sw


def afxdp_mode(sw, port):
    """The mode line the port prints, e.g. 'native mode, copy'."""
    m = re.search(rf"port {port}: AF_XDP on \S+ queue \d+, (.*)", sw.output())
    return m.group(1) if m else "?"


def xdp_attached(ifname):
    return "xdp" in sh("ip", "link", "show", ifname, check_rc=False)


@test
def afxdp_two_namespaces_native_and_generic():
    """Namespace to namespace through two AF_XDP ports, one in each XDP mode."""
    setup()
    with ExitStack() as s:
        veth_to_netns(s, "afx-a", "afx-sw-a", "10.0.7.1/24")
        veth_to_netns(s, "afx-b", "afx-sw-b", "10.0.7.2/24")
        sw = start_switch(s, ["a=afxdp:afx-sw-a", "b=afxdp:afx-sw-b,mode=generic"],
                          "afxdp-ns")
        print(f"  port a: {afxdp_mode(sw, 'a')}; port b: {afxdp_mode(sw, 'b')}")
        check("generic mode" in afxdp_mode(sw, "b"), "mode=generic not honoured")
        sent, got = ns_ping("afx-a", "10.0.7.2")
        check(got == sent, f"ping a -> b: {got}/{sent} replies")
        iperf3_server(s, "afx-b")
        out = sh("ip", "netns", "exec", "afx-a", "iperf3", "-c", "10.0.7.2", "-t", "3", "-J")
        bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
        print(f"  iperf3 a -> b: {bps / 1e6:.0f} Mbit/s")
        check(bps > 10e6, f"iperf3 a -> b only {bps / 1e6:.1f} Mbit/s")
        st = sw.stats()["ports"]
        check(st["a"]["rx_packets"] > 1000 and st["b"]["tx_packets"] > 1000,
              f"counters did not see the traffic: {st}")
        check(not st["a"]["drops"] and not st["b"]["drops"], f"drops: {st}")
        # Frames over b's MTU (1500) are dropped and counted, not sent.
        sh("ip", "link", "set", "afx-sw-a", "mtu", "3500")
        sh("ip", "-n", "afx-a", "link", "set", "far", "mtu", "3500")
        sh("ip", "netns", "exec", "afx-a", "ping", "-c", "5", "-i", "0.1", "-s", "3000",
           "-M", "dont", "-W", "1", "10.0.7.2", check_rc=False)
        big = sw.stats()["ports"]["b"]["drops"].get("too_big", 0)
        check(big >= 5, f"only {big} frames over the MTU counted too_big")
        sw.stop()
        check(not xdp_attached("afx-sw-a") and not xdp_attached("afx-sw-b"),
              "XDP program still attached after vmswitch stopped")


def port_json(sw, port):
    """The port's counters from `ctl stats --json`."""
    rc, out, err = sw.ctl("stats", "--json")
    check(rc == 0, f"ctl stats --json failed: {err}")
    return next(p for p in json.loads(out)["ports"] if p["name"] == port)


@test
def afxdp_guest_reaches_namespace():
    """A QEMU guest on vhost-user pings and runs iperf3 against a namespace on AF_XDP;
    the guest's TSO frames are segmented in software for the port."""
    setup()
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    with ExitStack() as s:
        veth_to_netns(s, "afx-g", "afx-sw-g", "10.0.0.254/24")
        sw = start_switch(s, [f"vm1=vhost-user:{RUN}/vm1.sock", "up=afxdp:afx-sw-g"],
                          "afxdp-guest")
        mode = afxdp_mode(sw, "up")
        print(f"  AF_XDP on veth: {mode}")
        g = s.enter_context(Guest("g1-afxdp", f"{RUN}/vm1.sock", "52:54:00:00:00:01",
                                  "10.0.0.1/24"))
        g.wait_ready()
        guest_talks_to(s, g, "afx-g", "10.0.0.254", "namespace")
        st = sw.stats()["ports"]["up"]
        check(st["rx_packets"] > 1000 and st["tx_packets"] > 1000,
              f"afxdp counters did not see the traffic: {st}")
        check(not st["drops"].get("too_big"), f"frames dropped as too big: {st}")
        js = port_json(sw, "up")
        print(f"  guest TSO frames segmented for AF_XDP: {js['gso_segmented']}, "
              f"frames sent {js['tx_packets']}, "
              f"{js['tx_bytes'] / max(js['tx_packets'], 1):.0f} bytes on average")
        check(js["gso_segmented"] > 0, "no guest TSO frame was segmented for AF_XDP")
        check(js["tx_bytes"] <= js["tx_packets"] * 1518,
              "frames over the MTU went out of the AF_XDP port")
        full, bad = js["drops"]["link_full"], js["drops"]["bad_header"]
        check(bad == 0 and full * 100 <= js["tx_packets"],
              f"drops: {bad} bad_header, {full} link_full of {js['tx_packets']} sent")


@test
def afxdp_bad_interface_fails_clearly():
    """A missing interface stops the switch at startup with a reason."""
    setup()
    r = subprocess.run([binary(), "run", "--port", "x=afxdp:afx-missing0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=20)
    check(r.returncode != 0, "vmswitch started without the interface")
    check("cannot open an AF_XDP socket on afx-missing0" in r.stdout and
          "No such device" in r.stdout, f"unclear error: {r.stdout}")


if __name__ == "__main__":
    main()
