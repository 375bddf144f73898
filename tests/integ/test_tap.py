#!/usr/bin/env python3
"""tap ports (tap:IFNAME): a QEMU guest reaches the host's own network stack.

vmswitch runs inside a namespace made here, so the tap it creates lives
there, away from the host's routes and addresses; the test gives the tap
10.0.0.254/24 and runs an iperf3 server beside it. Needs root.
"""

import os
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import Guest  # noqa: E402
from hostutil import ensure_packages  # noqa: E402
from netns import guest_talks_to, in_ns, iperf3_server, netns, sh, wait_switch_ready  # noqa: E402
from switch import Switch, binary  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

RUN = "/tmp/vmsw-tap"
NS = "vmsw-tap"


def setup():
    require_root()
    if not os.path.exists("/dev/net/tun"):
        skip("no /dev/net/tun")
    ensure_packages(["iperf3", "iproute2"])
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)


def switch_in_ns(stack, ports, name):
    """vmswitch running inside NS (its taps are created there)."""
    return wait_switch_ready(stack.enter_context(Switch(ports, name=name,
                                                        prefix=in_ns(NS))))


@test
def tap_guest_pings_and_iperf3_host():
    """Guest on vhost-user <-> the host stack on tap: ping and iperf3 both ways."""
    setup()
    with ExitStack() as s:
        netns(s, NS)
        sw = switch_in_ns(s, [f"vm1=vhost-user:{RUN}/vm1.sock", "host=tap:vmswtap0"],
                          "tap")
        sh(*in_ns(NS, "ip", "addr", "add", "10.0.0.254/24", "dev", "vmswtap0"))
        check("UP" in sh(*in_ns(NS, "ip", "link", "show", "vmswtap0")),
              "vmswitch did not bring the tap up")
        g = s.enter_context(Guest("g1-tap", f"{RUN}/vm1.sock", "52:54:00:00:00:01",
                                  "10.0.0.1/24"))
        g.wait_ready()
        guest_talks_to(s, g, NS, "10.0.0.254", "host")
        st = sw.stats()["ports"]["host"]
        check(st["state"] == "up", f"tap port is {st['state']}")
        check(st["rx_packets"] > 1000 and st["tx_packets"] > 1000,
              f"tap counters did not see the traffic: {st}")
        check(not st["drops"], f"tap port dropped frames: {st['drops']}")


@test
def tap_mtu_option_and_bad_specs():
    """tap:IF,mtu=N sets the kernel MTU; bad specs fail at startup with a reason."""
    setup()
    with ExitStack() as s:
        netns(s, NS)
        switch_in_ns(s, ["host=tap:vmswtap1,mtu=9000"], "tap-mtu")
        link = sh(*in_ns(NS, "ip", "link", "show", "vmswtap1"))
        check(re.search(r"mtu 9000\b", link) and "UP" in link, f"tap not set up: {link}")
    for spec, why in (("t=tap:", "expected tap:IFNAME"),
                      ("t=tap:vmswtap2,mtu=20", "mtu must be"),
                      ("t=tap:a/b", "expected tap:IFNAME"),
                      ("t=tap:vmswtap2,speed=1", "unknown option")):
        r = subprocess.run([binary(), "run", "--ctl-socket", f"{RUN}/ctl.sock",
                            "--port", spec], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=20)
        check(r.returncode != 0 and why in r.stdout, f"{spec}: unclear error: {r.stdout}")


if __name__ == "__main__":
    main()
