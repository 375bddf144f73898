#!/usr/bin/env python3
"""tap ports (tap:IFNAME): a QEMU guest reaches the host's own network stack.

vmswitch runs inside a namespace made here, so the tap it creates lives
there, away from the host's routes and addresses; the test gives the tap
10.0.0.254/24 and runs an iperf3 server beside it. The guest has TSO and
checksum offload (vhost-user); the tap takes both (TUNSETOFFLOAD) unless
the port says offloads=off, and then the switch segments for it. Needs root.
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


def port_json(sw, port):
    """The port's counters from `ctl stats --json`."""
    return sw.ports_json()[port]


def tap_show(sw, port):
    """(offloads words, frames over 9216 bytes read, written) from `ctl show`."""
    rc, out, err = sw.ctl("show")
    check(rc == 0, f"ctl show failed: {err}")
    m = re.search(rf"port {port} \(tap\).*?vnet header \d+ bytes, ([^,]+), (\d+) frames "
                  rf"over \d+ bytes read, (\d+) written", out, re.DOTALL)
    check(m, f"no tap line for {port} in: {out}")
    return m.group(1), int(m.group(2)), int(m.group(3))


def iperf3_measured(sw, g, port, reverse):
    """Guest iperf3 against the tap's server for 4 s; (Mbit/s, the port's
    counter deltas: rx/tx packets and bytes, frames over 9216 bytes)."""
    before, show0 = port_json(sw, port), tap_show(sw, port)
    r = g.iperf3_client("10.0.0.254", seconds=4, reverse=reverse)
    after, show1 = port_json(sw, port), tap_show(sw, port)
    d = {k: after[k] - before[k] for k in ("rx_packets", "rx_bytes", "tx_packets",
                                           "tx_bytes", "gso_segmented")}
    d["large_read"], d["large_written"] = show1[1] - show0[1], show1[2] - show0[2]
    return r["bits_per_second"] / 1e6, d


@test
def tap_guest_pings_and_iperf3_host():
    """Guest on vhost-user <-> the host stack on a tap with offloads=off: ping and
    iperf3 both ways; the switch segments the guest's TSO frames for the tap."""
    setup()
    with ExitStack() as s:
        netns(s, NS)
        sw = switch_in_ns(s, [f"vm1=vhost-user:{RUN}/vm1.sock",
                              "host=tap:vmswtap0,offloads=off"], "tap")
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
        # Cutting a burst of 64 KiB frames may overrun the tap's 256-frame tx
        # link (prepare.c drops a frame whose segments do not all fit): TCP
        # recovers, but it must stay rare.
        full = st["drops"].get("link_full", 0)
        other = {k: v for k, v in st["drops"].items() if k != "link_full"}
        print(f"  TSO frames dropped whole for want of room on the tap's link: {full}")
        check(not other and full * 100 <= st["tx_packets"],
              f"tap port dropped frames: {st['drops']} of {st['tx_packets']} sent")
        words, read, written = tap_show(sw, "host")
        check(words == "no offloads (offloads=off)", f"ctl show says {words!r}")
        check(read == 0 and written == 0,
              f"frames over 9216 bytes crossed a tap without offloads: {read}, {written}")
        seg = port_json(sw, "host")["gso_segmented"]
        print(f"  guest TSO frames segmented for the tap: {seg}")
        check(seg > 0, "no guest TSO frame was segmented for the tap")


@test
def tap_guest_tso_both_ways():
    """Guest <-> host stack on a tap with offloads: 64 KiB TCP segments cross
    whole both ways (iperf3), none segmented by the switch, nothing dropped."""
    setup()
    with ExitStack() as s:
        netns(s, NS)
        sw = switch_in_ns(s, [f"vm1=vhost-user:{RUN}/vm1.sock", "host=tap:vmswtap0"],
                          "tap-tso")
        sh(*in_ns(NS, "ip", "addr", "add", "10.0.0.254/24", "dev", "vmswtap0"))
        words = tap_show(sw, "host")[0]
        check(words == "offloads csum tso4 tso6 ecn", f"ctl show says {words!r}")
        g = s.enter_context(Guest("g1-tap-tso", f"{RUN}/vm1.sock", "52:54:00:00:00:01",
                                  "10.0.0.1/24"))
        g.wait_ready()
        iperf3_server(s, NS)
        up, du = iperf3_measured(sw, g, "host", reverse=False)
        down, dd = iperf3_measured(sw, g, "host", reverse=True)
        avg_up = du["tx_bytes"] / max(du["tx_packets"], 1)
        avg_down = dd["rx_bytes"] / max(dd["rx_packets"], 1)
        print(f"  iperf3 guest -> host {up:.0f} Mbit/s ({du['large_written']} frames "
              f"over 9216 bytes written to the tap, {avg_up:.0f} bytes on average); "
              f"host -> guest {down:.0f} Mbit/s ({dd['large_read']} read, "
              f"{avg_down:.0f} bytes on average)")
        check(up > 100 and down > 100, f"iperf3 below 100 Mbit/s: {up:.0f}, {down:.0f}")
        check(du["large_written"] > 100 and avg_up > 9000,
              f"guest -> host: {du['large_written']} large frames, "
              f"{avg_up:.0f} bytes on average: TSO frames did not cross whole")
        check(dd["large_read"] > 100 and avg_down > 9000,
              f"host -> guest: {dd['large_read']} large frames, "
              f"{avg_down:.0f} bytes on average: TSO frames did not cross whole")
        st = port_json(sw, "host")
        check(st["gso_segmented"] == 0, f"{st['gso_segmented']} frames segmented for the tap")
        drops = {k: v for k, v in st["drops"].items() if v}
        check(not drops, f"tap port dropped frames: {drops}")


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
                      ("t=tap:vmswtap2,speed=1", "unknown option"),
                      ("t=tap:vmswtap2,offloads=maybe", "unknown option")):
        r = subprocess.run([binary(), "run", "--ctl-socket", f"{RUN}/ctl.sock",
                            "--port", spec], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=20)
        check(r.returncode != 0 and why in r.stdout, f"{spec}: unclear error: {r.stdout}")


if __name__ == "__main__":
    main()
