#!/usr/bin/env python3
"""BGP EVPN through FRR: vmswitch hosts learn each other's guests.

Three hosts as network namespaces on an underlay bridge (in vmsw-evul):
vmsw-evh1 and vmsw-evh2 (172.31.0.1 and .2) run vmswitch with an EVPN
VXLAN port (vxlan:vni=100,local=VTEP,evpn) and a guest: a namespace
(vmsw-evg1, vmsw-evg2) behind a veth pair whose host end is an afpacket
port. vmsw-evh3 (172.31.0.3) is a plain Linux host: a kernel VXLAN device
(VNI 100, port 4789) in a bridge with 10.100.0.3. Every host runs FRR's
zebra and bgpd (iBGP full mesh, address-family l2vpn evpn,
advertise-all-vni); on the vmswitch hosts zebra sees the shadow devices as
an ordinary EVPN VTEP. Checked:
- the guests reach each other and the Linux host (ping);
- a second VNI (200) on the vmswitch hosts, a second EVPN port and guest
  each, in VLAN 200 of the switch: its guests reach each other and not
  those of VNI 100 (same IP subnet);
- the vmswitch hosts' BGP tables list both guest MACs as type-2 routes and
  all three hosts as type-3 routes, and each switch took the other
  switch's guest MAC from the kernel;
- once learned, unicast to the other guest reaches only its host (the Linux
  host's VXLAN counters stay flat);
- a guest moved from host 1 to host 2 (its port deleted on host 1, a new
  one on host 2) is reached there within seconds;
- a host whose FRR stops is withdrawn: its guest's MAC and its VTEP leave
  the other switch's table;
- the shadow devices go when the ports go.

FRR comes from Debian's frr package (installed if missing). Needs root.
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

from hostutil import ensure_packages  # noqa: E402
from netns import in_ns, netns, ns_ping, sh, wait_switch_ready  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

RUN = "/tmp/vmsw-evpn"
FRR = "/usr/lib/frr"
VNI = 100
HOSTS = {  # name: (underlay address, guest namespace, guest address, guest MAC)
    "vmsw-evh1": ("172.31.0.1", "vmsw-evg1", "10.100.0.1", "52:54:00:00:01:01"),
    "vmsw-evh2": ("172.31.0.2", "vmsw-evg2", "10.100.0.2", "52:54:00:00:02:01"),
}
VNI200_GUESTS = {  # host: (guest namespace, address, MAC), VNI 200
    "vmsw-evh1": ("vmsw-evg3", "10.100.0.11", "52:54:00:00:01:02"),
    "vmsw-evh2": ("vmsw-evg4", "10.100.0.12", "52:54:00:00:02:02"),
}
LINUX_HOST, LINUX_VTEP, LINUX_ADDR = "vmsw-evh3", "172.31.0.3", "10.100.0.3"
UNDERLAY = "vmsw-evul"
VTEPS = [v for v, *_ in HOSTS.values()] + [LINUX_VTEP]

BGPD_CONF = """\
frr defaults datacenter
hostname {host}
log file {dir}/bgpd.log
router bgp 65000
 bgp router-id {vtep}
 no bgp default ipv4-unicast
{neighbors} address-family l2vpn evpn
{activate}  advertise-all-vni
 exit-address-family
"""


def bgpd_conf(host, d, vtep):
    """iBGP to every other VTEP, EVPN only."""
    peers = [p for p in VTEPS if p != vtep]
    neighbors = "".join(f" neighbor {p} remote-as 65000\n neighbor {p} timers 1 3\n"
                        f" neighbor {p} timers connect 1\n" for p in peers)
    activate = "".join(f"  neighbor {p} activate\n" for p in peers)
    return BGPD_CONF.format(host=host, dir=d, vtep=vtep, neighbors=neighbors,
                            activate=activate)


def setup():
    require_root()
    ensure_packages(["frr", "iproute2"])
    if not os.path.exists(f"{FRR}/zebra"):
        skip(f"no {FRR}/zebra after installing frr")
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)


def underlay(stack):
    """The host namespaces, each with "ul" on a bridge in UNDERLAY."""
    netns(stack, UNDERLAY)
    sh("ip", "-n", UNDERLAY, "link", "add", "ulbr", "type", "bridge")
    sh("ip", "-n", UNDERLAY, "link", "set", "ulbr", "up")
    for i, (h, a) in enumerate(zip([*HOSTS, LINUX_HOST], VTEPS)):
        netns(stack, h)
        sh("ip", "-n", UNDERLAY, "link", "add", f"p{i}", "type", "veth", "peer", "name", "ul",
           "netns", h)
        sh("ip", "-n", UNDERLAY, "link", "set", f"p{i}", "master", "ulbr", "up")
        sh("ip", "-n", h, "addr", "add", f"{a}/24", "dev", "ul")
        sh("ip", "-n", h, "link", "set", "ul", "up")


def linux_vtep():
    """LINUX_HOST: a kernel VXLAN device in a bridge holding LINUX_ADDR."""
    for cmd in (["link", "add", "vx100", "type", "vxlan", "id", str(VNI), "local",
                 LINUX_VTEP, "dstport", "4789", "nolearning"],
                ["link", "add", "br100", "type", "bridge"],
                ["link", "set", "vx100", "master", "br100", "up"],
                ["addr", "add", f"{LINUX_ADDR}/24", "dev", "br100"],
                ["link", "set", "br100", "up"]):
        sh("ip", "-n", LINUX_HOST, *cmd)


def guest(stack, host, gns, addr, mac, dev="g"):
    """Guest namespace gns behind veth dev (host side, an afpacket port)."""
    netns(stack, gns)
    sh("ip", "-n", host, "link", "add", dev, "type", "veth", "peer", "name", "eth0",
       "netns", gns)
    sh("ip", "-n", host, "link", "set", dev, "up")
    sh("ip", "-n", gns, "link", "set", "eth0", "address", mac)
    sh("ip", "-n", gns, "addr", "add", f"{addr}/24", "dev", "eth0")
    sh("ip", "-n", gns, "link", "set", "eth0", "up")


def vni200(stack, sw, host, vtep):
    """VNI 200 beside 100 on a vmswitch host: its own EVPN port (UDP port
    4790: one socket per port) and guest, both in VLAN 200 of the switch."""
    gns, addr, mac = VNI200_GUESTS[host]
    guest(stack, host, gns, addr, mac, dev="g200")
    for spec in (f"ev200=vxlan:vni=200,local={vtep},port=4790,evpn", "g200=afpacket:g200"):
        rc, out, err = sw.ctl("port", "add", spec, "vlan=200")
        check(rc == 0, f"port add {spec}: {out} {err}")


def frr_dir(host):
    return f"{RUN}/{host}"


def start_frr(stack, host, vtep):
    """zebra and bgpd in host's namespace, with their files in frr_dir(host)."""
    d = frr_dir(host)
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/bgpd.conf", "w") as f:
        f.write(bgpd_conf(host, d, vtep))
    open(f"{d}/zebra.conf", "w").close()
    shutil.chown(d, "frr", "frr")
    for name in ("bgpd.conf", "zebra.conf"):
        shutil.chown(f"{d}/{name}", "frr", "frr")
    common = ["-d", "-N", host, "-z", f"{d}/zserv.api", "--vty_socket", d]
    stack.callback(stop_frr, host)
    sh(*in_ns(host, f"{FRR}/zebra", *common, "-i", f"{d}/zebra.pid",
              "-f", f"{d}/zebra.conf"))
    wait_file(f"{d}/zserv.api")
    sh(*in_ns(host, f"{FRR}/bgpd", *common, "-i", f"{d}/bgpd.pid",
              "-f", f"{d}/bgpd.conf"))


def stop_frr(host):
    """SIGTERM the daemons started for host (by their pid files), and wait."""
    for daemon in ("bgpd", "zebra"):
        path = f"{frr_dir(host)}/{daemon}.pid"
        try:
            pid = int(open(path).read().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            continue
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.05)
        try:
            os.unlink(path)
        except OSError:
            pass


def wait_file(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        check(time.monotonic() < deadline, f"{path} did not appear")
        time.sleep(0.1)


def vtysh(host, cmd):
    r = subprocess.run(["vtysh", "--vty_socket", frr_dir(host), "-c", cmd],
                       capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr


def evpn_state(sw, port="ev"):
    """(remote MACs, flood-list VTEPs) of an EVPN port, from `ctl show PORT`."""
    rc, out, err = sw.ctl("show", port)
    m = re.search(r"evpn: (\d+) remote MACs, (\d+) VTEPs on the flood list", out)
    check(rc == 0 and m, f"no evpn line in ctl show: {out} {err}")
    return int(m.group(1)), int(m.group(2))


def wait_for(what, cond, timeout=30, state=lambda: ""):
    """Wait for cond(); on a timeout fail saying what, and state() then."""
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, f"timed out waiting for {what}: {state()}")
        time.sleep(0.5)


def host_state(host, sw):
    """What the switch and the kernel hold, for a failure message."""
    return (sw.ctl("show")[1] + sh("bridge", "-n", host, "fdb", "show", "dev", f"vmsw-vx{VNI}") +
            sh("bridge", "-n", host, "fdb", "show", "dev", f"vmsw-ad{VNI}"))


def linux_rx_packets():
    """Packets the Linux host's VXLAN device received."""
    out = json.loads(sh("ip", "-n", LINUX_HOST, "-s", "-j", "link", "show", "vx100"))
    return out[0]["stats64"]["rx"]["packets"]


def move_guest(stack, switches, h_from, h_to, gns, addr, mac):
    """The guest leaves h_from (its port goes, as when a VM migrates) and comes
    back on h_to with its MAC and address; the Linux host reaches it there."""
    rc, out, err = switches[h_from].ctl("port", "del", "g")
    check(rc == 0, f"port del g on {h_from}: {out} {err}")
    sh("ip", "netns", "del", gns)
    guest(stack, h_to, gns, addr, mac, dev="gm")
    rc, out, err = switches[h_to].ctl("port", "add", "gm=afpacket:gm")
    check(rc == 0, f"port add gm on {h_to}: {out} {err}")
    start = time.monotonic()
    sh(*in_ns(gns, "ping", "-c", "1", "-W", "1", LINUX_ADDR), check_rc=False)
    vtep = HOSTS[h_to][0]
    wait_for(f"the Linux host to learn {mac} at {h_to}",
             lambda: f"{mac} dst {vtep}" in sh("bridge", "-n", LINUX_HOST, "fdb", "show",
                                               "dev", "vx100"),
             timeout=15, state=lambda: sh("bridge", "-n", LINUX_HOST, "fdb", "show"))
    sent, got = ns_ping(LINUX_HOST, addr, count=5)
    print(f"  {gns} moved from {h_from} to {h_to}: reached there after "
          f"{time.monotonic() - start:.1f} s")
    check(got == sent, f"the Linux host -> {addr} after the move: {got}/{sent}")


def routes_listed(out, macs, vteps):
    """Every MAC as a type-2 route and every VTEP as a type-3 route in out."""
    return all(f"[2]:[0]:[48]:[{m}]" in out for m in macs) and \
        all(f"[3]:[0]:[32]:[{v}]" in out for v in vteps)


@test
def evpn_hosts_and_a_linux_host_through_frr():
    """Guests reach each other and a Linux VTEP; routes; withdrawal when FRR stops."""
    setup()
    with ExitStack() as s:
        underlay(s)
        switches = {}
        for host, (vtep, gns, addr, mac) in HOSTS.items():
            guest(s, host, gns, addr, mac)
            switches[host] = wait_switch_ready(s.enter_context(Switch(
                [f"ev=vxlan:vni={VNI},local={vtep},evpn", "g=afpacket:g"],
                name=host, prefix=in_ns(host))))
            vni200(s, switches[host], host, vtep)
            out = sh("ip", "-n", host, "-d", "link", "show", f"vmsw-vx{VNI}")
            check(f"vxlan id {VNI} local {vtep}" in out and "nolearning" in out,
                  f"shadow VXLAN device on {host}: {out}")
        (h1, (v1, g1, a1, m1)), (h2, (v2, g2, a2, m2)) = HOSTS.items()
        linux_vtep()
        for host, vtep in zip([*HOSTS, LINUX_HOST], VTEPS):
            start_frr(s, host, vtep)
        for host in HOSTS:
            wait_for(f"{host}'s flood list", lambda h=host: evpn_state(switches[h])[1] == 2,
                     state=lambda h=host: host_state(h, switches[h]))
            wait_for(f"{host}'s VNI 200 flood list",
                     lambda h=host: evpn_state(switches[h], "ev200")[1] == 1,
                     state=lambda h=host: host_state(h, switches[h]))
        (g3, a3, m3), (g4, a4, m4) = VNI200_GUESTS.values()
        sent, got = ns_ping(g3, a4, count=10)
        check(got == sent, f"{g3} -> {a4} over EVPN VNI 200: {got}/{sent}")
        sent, got = ns_ping(g3, a2, count=3)
        check(got == 0, f"{g3} (VNI 200) reached {a2} (VNI 100): {got}/{sent}")
        sent, got = ns_ping(g1, a2, count=10)
        check(got == sent, f"{g1} -> {a2} over EVPN: {got}/{sent}")
        sent, got = ns_ping(g2, a1, count=10)
        check(got == sent, f"{g2} -> {a1} over EVPN: {got}/{sent}")
        for g in (g1, g2):
            sent, got = ns_ping(g, LINUX_ADDR, count=10)
            check(got == sent, f"{g} -> the Linux host over EVPN: {got}/{sent}")
        for host in HOSTS:
            wait_for(f"type-2 and type-3 routes on {host}",
                     lambda h=host: routes_listed(vtysh(h, "show bgp l2vpn evpn route"),
                                                  (m1, m2, m3, m4), VTEPS))
            wait_for(f"{host}'s remote MACs", lambda h=host: evpn_state(switches[h])[0] >= 1,
                     state=lambda h=host: host_state(h, switches[h]))
        print("  " + "\n  ".join(l for l in vtysh(h1, "show bgp l2vpn evpn route").splitlines()
                                 if "[2]" in l or "[3]" in l))
        out = sh("bridge", "-n", h1, "fdb", "show", "dev", f"vmsw-vx{VNI}")
        check(f"{m2} dst {v2} self extern_learn" in out,
              f"zebra did not install {m2} on {h1}: {out}")
        # Known unicast goes to its host only: the Linux host sees none of it
        # (a few frames of the guests' own multicast may cross meanwhile).
        before, ev2 = linux_rx_packets(), switches[h2].ports_json()["ev"]["rx_packets"]
        sent, got = ns_ping(g1, a2, count=20)
        check(got == sent, f"{g1} -> {a2}: {got}/{sent}")
        crossed = linux_rx_packets() - before
        ev2 = switches[h2].ports_json()["ev"]["rx_packets"] - ev2
        print(f"  20 pings {g1} -> {g2}: {ev2} frames in at {h2}, {crossed} at the Linux host")
        check(ev2 >= 20 and crossed < 5, f"unicast reached the Linux host: {crossed} frames")
        move_guest(s, switches, h1, h2, g1, a1, m1)
        stop_frr(h2)
        wait_for(f"{h2} withdrawn from {h1}",
                 lambda: m2 not in sh("bridge", "-n", h1, "fdb", "show", "dev", f"vmsw-vx{VNI}")
                 and evpn_state(switches[h1])[1] == 1,
                 state=lambda: host_state(h1, switches[h1]))
        out = sh("bridge", "-n", h1, "fdb", "show", "dev", f"vmsw-vx{VNI}")
        check(m2 not in out and v2 not in out, f"{h2}'s entries stayed on {h1}: {out}")
        for port in ("ev", "ev200"):
            rc, out, err = switches[h1].ctl("port", "del", port)
            check(rc == 0, f"port del {port}: {out} {err}")
        links = sh("ip", "-n", h1, "link", "show")
        check(not re.search(r"^\d+: vmsw-", links, re.M),
              f"shadow devices left after the port went: {links}")


if __name__ == "__main__":
    main()
