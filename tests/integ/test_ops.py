#!/usr/bin/env python3
"""Operating vmswitch: config file, live reload, ctl, VLANs, filters,
policing and capture, with real QEMU guests (10.0.0.N/24)."""

import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import Guest  # noqa: E402
from hostutil import ensure_packages  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from vhostfront import NetDevice  # noqa: E402

RUN = "/tmp/vmsw-ops"


def workdir(name):
    d = os.path.join(RUN, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def ip(n):
    return f"10.0.0.{n}"


def port_conf(d, n, extra=""):
    return (f'  {{ name = "vm{n}"; type = "vhost-user"; path = "{d}/vm{n}.sock"; '
            f'{extra} }}')


def write_conf(path, entries):
    with open(path + ".tmp", "w") as f:
        f.write("# vmswitch test config\nports = (\n" + ",\n".join(entries) + "\n);\n")
    os.replace(path + ".tmp", path)


def start(stack, d, name, entries):
    conf = os.path.join(d, "vmswitch.conf")
    write_conf(conf, entries)
    return stack.enter_context(Switch([], name=name, args=["--config", conf])), conf


def guests(stack, d, ns):
    gs = []
    for n in ns:
        g = Guest(f"ops{n}-{os.path.basename(d)}", os.path.join(d, f"vm{n}.sock"),
                  f"52:54:00:00:01:{n:02x}", f"{ip(n)}/24")
        stack.enter_context(g)
        gs.append(g)
    for g in gs:
        g.wait_ready()
    return gs


@test
def vlans_isolate_two_pairs_of_guests():
    d = workdir("vlan")
    with ExitStack() as s:
        sw, _ = start(s, d, "ops-vlan", [port_conf(d, 1, "vlan = 10;"),
                                         port_conf(d, 2, "vlan = 10;"),
                                         port_conf(d, 3, "vlan = 20;"),
                                         port_conf(d, 4, "vlan = 20;")])
        g1, g2, g3, g4 = guests(s, d, (1, 2, 3, 4))
        sent, got = g1.ping(ip(2), count=5, interval=0.2)
        check(got == sent, f"vlan 10: g1 -> g2 {got}/{sent}")
        sent, got = g3.ping(ip(4), count=5, interval=0.2)
        check(got == sent, f"vlan 20: g3 -> g4 {got}/{sent}")
        # Capture what reaches vm3: nothing g1 sends (VLAN 10) may be in it.
        pcap = os.path.join(d, "vm3.pcap")
        code, _, err = sw.ctl("capture", "vm3", pcap)
        check(code == 0, f"capture refused: {err}")
        for a, b in ((g1, 3), (g1, 4), (g3, 1), (g4, 2)):
            sent, got = a.ping(ip(b), count=3, interval=0.2, wait=1)
            check(got == 0, f"{a.name} reached {ip(b)} across VLANs")
        sw.ctl("capture", "stop", "vm3")
        ensure_packages(["tcpdump"])
        out = subprocess.run(["tcpdump", "-e", "-n", "-r", pcap], capture_output=True,
                             text=True).stdout
        check(g1.mac not in out, f"frames from VLAN 10 reached a VLAN 20 port:\n{out}")
        check(g4.mac in out, "the capture saw nothing at all (VLAN 20 traffic expected)")
        code, out, _ = sw.ctl("fdb", "show")
        check(code == 0 and "  10  " in out and "  20  " in out,
              f"fdb show lacks per-VLAN entries:\n{out}")


@test
def filter_blocks_icmp_not_tcp():
    d = workdir("filter")
    with ExitStack() as s:
        sw, _ = start(s, d, "ops-filter", [port_conf(d, 1), port_conf(d, 2)])
        g1, g2 = guests(s, d, (1, 2))
        sent, got = g1.ping(ip(2), count=3, interval=0.2)
        check(got == sent, "ping failed before the filter")
        code, _, err = sw.ctl("port", "set", "vm2", "ingress_filter=not icmp")
        check(code == 0, f"port set failed: {err}")
        sent, got = g1.ping(ip(2), count=5, interval=0.2, wait=1)
        check(got == 0, f"ICMP passed the filter: {got}/{sent}")
        g1.iperf3_server()
        r = g2.iperf3_client(ip(1), seconds=3)
        check(r["bits_per_second"] > 1e6, "TCP blocked by an ICMP filter")
        filtered = sw.stats()["ports"]["vm2"]["drops"].get("filtered", 0)
        check(filtered >= 5, f"only {filtered} frames counted as filtered")


@test
def policer_holds_iperf3_to_its_rate():
    d = workdir("police")
    rate = 20e6
    with ExitStack() as s:
        sw, _ = start(s, d, "ops-police", [port_conf(d, 1, 'rx_rate = "20M"; rx_burst = "1M";'),
                                           port_conf(d, 2)])
        g1, g2 = guests(s, d, (1, 2))
        g2.iperf3_server()
        r = g1.iperf3_client(ip(2), seconds=8)
        bps = r["bits_per_second"]
        print(f"  iperf3 through a 20 Mbit/s policer: {bps / 1e6:.1f} Mbit/s")
        check(0.9 * rate <= bps <= 1.1 * rate, f"{bps / 1e6:.1f} Mbit/s is not 20 +- 10%")
        policed = sw.stats()["ports"]["vm1"]["drops"].get("policed", 0)
        check(policed > 0, "no frame counted as policed")


@test
def capture_is_read_back_by_tcpdump():
    ensure_packages(["tcpdump"])
    d = workdir("capture")
    pcap = os.path.join(d, "vm1.pcap")
    with ExitStack() as s:
        sw, _ = start(s, d, "ops-capture", [port_conf(d, 1), port_conf(d, 2)])
        g1, g2 = guests(s, d, (1, 2))
        code, _, err = sw.ctl("capture", "vm1", pcap, "icmp", "--count", "10")
        check(code == 0, f"capture refused: {err}")
        g1.ping(ip(2), count=5, interval=0.2)
        time.sleep(0.5)
    out = subprocess.run(["tcpdump", "-n", "-r", pcap], capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if "ICMP" in line]
    check(len(lines) == 10, f"tcpdump read {len(lines)} ICMP frames:\n{out.stdout}{out.stderr}")
    check(sum("echo request" in line for line in lines) == 5 and
          sum("echo reply" in line for line in lines) == 5, "not 5 requests and 5 replies")


@test
def mirror_copies_a_ports_traffic():
    d = workdir("mirror")
    with ExitStack() as s:
        sw, _ = start(s, d, "ops-mirror", [port_conf(d, 1), port_conf(d, 2),
                                           port_conf(d, 9)])
        mon = NetDevice.connect(os.path.join(d, "vm9.sock"))
        s.callback(mon.close)
        g1, g2 = guests(s, d, (1, 2))
        g1.ping(ip(2), count=2, interval=0.2)	# learn both MACs first
        mon.recv_frames(timeout=1)		# drop the floods seen so far
        code, _, err = sw.ctl("port", "set", "vm1", "mirror=vm9")
        check(code == 0, f"port set mirror failed: {err}")
        g1.ping(ip(2), count=5, interval=0.2)
        frames = mon.recv_frames(timeout=3)
        icmp = [f for f in frames if len(f) > 34 and f[12:14] == b"\x08\x00" and f[23] == 1]
        print(f"  mirror port saw {len(icmp)} ICMP frames of vm1's 10")
        check(len(icmp) == 10, f"{len(icmp)} ICMP frames mirrored, expected 10")


def pinger(g, target, count, result):
    result.append(g.ping(target, count=count, interval=0.05, wait=1))


@test
def live_reload_loses_no_ping():
    d = workdir("reload")
    with ExitStack() as s:
        sw, conf = start(s, d, "ops-reload", [port_conf(d, 1), port_conf(d, 2)])
        g1, g2 = guests(s, d, (1, 2))
        g1.ping(ip(2), count=2, interval=0.2)
        result = []
        t = threading.Thread(target=pinger, args=(g1, ip(2), 200, result))
        t.start()
        for step in range(4):
            extra = [port_conf(d, n) for n in range(3, 3 + step % 2 * 4)]
            write_conf(conf, [port_conf(d, 1), port_conf(d, 2)] + extra)
            code, _, err = sw.ctl("reload")
            check(code == 0, f"reload {step} failed: {err}")
            time.sleep(1.5)
        # A bad file is refused with file, line and field, and changes nothing.
        write_conf(conf, [port_conf(d, 1), port_conf(d, 2), port_conf(d, 8, "vlan = 99999;")])
        code, _, err = sw.ctl("reload")
        check(code != 0 and "vmswitch.conf:5" in err and "vlan" in err,
              f"bad config not refused clearly: {code} {err!r}")
        t.join()
        sent, got = result[0]
        print(f"  pings during 4 reloads and a refused one: {got}/{sent}")
        check(sent == got, f"{sent - got} pings lost during reloads")
        _, out, _ = sw.ctl("show")
        check("port vm8" not in out and "port vm1" in out, "refused config was applied")
        check(sw.stats()["ports"]["vm1"].get("faults", 0) == 0, "unchanged port reconnected")


if __name__ == "__main__":
    main()
