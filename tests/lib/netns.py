"""Network namespaces, veth pairs and host-side servers for the port tests.

Everything made here is registered on the caller's ExitStack and removed with
it; names are deleted first in case an earlier run was killed halfway.
"""

import re
import subprocess
import time

from hostutil import stop_process

IPERF3_PORT = 5201


def sh(*cmd, check_rc=True):
    """Run a command; return its stdout (stderr merged)."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check_rc and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stdout}")
    return r.stdout


def netns(stack, ns):
    """A fresh namespace ns with lo up, deleted when stack closes."""
    sh("ip", "netns", "del", ns, check_rc=False)
    sh("ip", "netns", "add", ns)
    stack.callback(sh, "ip", "netns", "del", ns, check_rc=False)
    sh("ip", "-n", ns, "link", "set", "lo", "up")


def in_ns(ns, *cmd):
    """argv running cmd inside ns."""
    return ["ip", "netns", "exec", ns, *cmd]


def veth_to_netns(stack, ns, here, far, far_addr, here_addr=None, offloads=()):
    """A veth pair: here stays in this namespace (up, here_addr if given), far
    goes to ns (made here) with far_addr. offloads: ethtool -K words for far,
    e.g. ("tso", "off", "gso", "off")."""
    netns(stack, ns)
    sh("ip", "link", "del", here, check_rc=False)
    sh("ip", "link", "add", here, "type", "veth", "peer", "name", far, "netns", ns)
    stack.callback(sh, "ip", "link", "del", here, check_rc=False)
    if here_addr:
        sh("ip", "addr", "add", here_addr, "dev", here)
    sh("ip", "link", "set", here, "up")
    if offloads:
        sh(*in_ns(ns, "ethtool", "-K", far, *offloads))
    sh("ip", "-n", ns, "addr", "add", far_addr, "dev", far)
    sh("ip", "-n", ns, "link", "set", far, "up")


def ns_ping(ns, target, count=20, size=None):
    """Ping from ns; return (sent, received)."""
    extra = ["-s", str(size), "-M", "dont"] if size else []
    out = sh(*in_ns(ns, "ping", "-c", str(count), "-i", "0.1", "-W", "2", *extra, target),
             check_rc=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    return (int(m.group(1)), int(m.group(2))) if m else (count, 0)


def iperf3_server(stack, ns):
    """An iperf3 server in ns for the rest of the test."""
    proc = subprocess.Popen(in_ns(ns, "iperf3", "-s"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    stack.callback(stop_process, proc)
    for _ in range(50):
        if f":{IPERF3_PORT}" in sh(*in_ns(ns, "ss", "-ltn")):
            return
        time.sleep(0.1)
    raise RuntimeError(f"iperf3 server in {ns} did not start")


def wait_switch_ready(sw, timeout=10):
    """Wait until sw (a started Switch) has started all its ports."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "switching between" in sw.output():
            return sw
        if not sw.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"vmswitch did not start: {sw.output()}")


def guest_talks_to(stack, guest, ns, target, what):
    """Guest pings target 20/20 and runs iperf3 both ways with an iperf3 server in ns."""
    from testlib import check
    sent, got = guest.ping(target, count=20, interval=0.1)
    check(sent == 20 and got == 20, f"{guest.name} -> {what}: {got}/{sent} replies")
    iperf3_server(stack, ns)
    up = guest.iperf3_client(target, seconds=4)
    down = guest.iperf3_client(target, seconds=4, reverse=True)
    print(f"  iperf3 {guest.name} -> {what} {up['bits_per_second'] / 1e6:.0f} Mbit/s, "
          f"back {down['bits_per_second'] / 1e6:.0f} Mbit/s")
    check(up["bits_per_second"] > 1e6 and down["bits_per_second"] > 1e6,
          "iperf3 throughput below 1 Mbit/s")
