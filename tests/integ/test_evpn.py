#!/usr/bin/env python3
"""BGP EVPN through FRR: vmswitch hosts learn each other's guests.

Four hosts as network namespaces on an underlay bridge (in vmsw-evul).
vmsw-evh1, vmsw-evh2 and vmsw-evh3 (172.31.0.1 to .3) run vmswitch with two
EVPN VXLAN ports: ev (vxlan:vni=100,local=VTEP,evpn) and ev200 (VNI 200,
UDP port 4790, in VLAN 200 of the switch). vmsw-evhl (172.31.0.9) is a
plain Linux host: a kernel VXLAN device (VNI 100, port 4789) in a bridge
with 10.100.0.9. Every host runs FRR's zebra and bgpd (iBGP full mesh,
address-family l2vpn evpn, advertise-all-vni); on the vmswitch hosts zebra
sees the shadow devices as an ordinary EVPN VTEP.

Guests, all in 10.100.0.0/24 whatever their VNI:
- virtio guests: one dpdk-testpmd whose six net_virtio_user ports are
  vhost-user ports v100 and v200 (VLAN 200) on each vmswitch host, in
  icmpecho mode (it answers ARP and ICMP echo requests);
- namespace guests behind veth pairs (afpacket ports g and g200): vmsw-evg1
  and vmsw-evg3 on host 1, vmsw-evg2 and vmsw-evg4 on host 2. They and the
  Linux host do the pinging.
testpmd's icmpecho answers every ARP request and every echo request it
gets, whatever the address, with the MACs swapped: a flooded echo request
would come back from the wrong guest with someone else's source MAC. So
IPv6 is off in the guests (no multicast chatter; the vmswitch hosts keep
it, and vmswitch turns it off on its shadow devices), the pinging side has
permanent neighbour entries for the guests of its VNI, and every guest
announces its MAC (a broadcast) before anyone sends to it. Checked:
- broadcast reaches every guest of its VNI on every other host and none of
  the other VNI (each virtio guest counts exactly the others' broadcasts);
- guests reach the virtio and namespace guests of their VNI on every host,
  and the Linux host reaches those of VNI 100 (ping); frames sent from VNI
  200 towards VNI 100 addresses reach no VNI 100 guest port;
- every host's BGP table lists every guest MAC as a type-2 route and all
  four hosts as type-3 routes; zebra installed remote MACs on the shadow
  VXLAN devices;
- once learned, unicast to a remote guest reaches only its host (the EVPN
  ports of the third vmswitch host, the Linux host's VXLAN device and the
  other virtio guests count no new frame);
- a guest moved from host 1 to host 2 (its port deleted on host 1, a new
  one on host 2) is reached there within seconds, by the Linux host and by
  the virtio guests of hosts 1 and 3;
- a host whose FRR stops is withdrawn: its guests' MACs and its VTEP leave
  the other switches' tables;
- netlink entries that are not zebra's (a VXLAN device of an unknown VNI, a
  MAC without extern_learn) are ignored and counted; malformed messages
  cannot be made through the kernel and are left to the unit test
  (tests/unit/test_evpn_input.c) and the fuzz target;
- the shadow devices go when the ports go.

FRR comes from Debian's frr package, testpmd from dpdk (installed if
missing). Needs root.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import namedtuple
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from hostutil import ensure_packages, wait_for_path  # noqa: E402
from netns import in_ns, netns, ns_ping, sh, wait_switch_ready  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

RUN = "/tmp/vmsw-evpn"
FRR = "/usr/lib/frr"
HOSTS = {"vmsw-evh1": "172.31.0.1", "vmsw-evh2": "172.31.0.2",  # vmswitch hosts: VTEP
         "vmsw-evh3": "172.31.0.3"}
LINUX_HOST, LINUX_VTEP, LINUX_ADDR = "vmsw-evhl", "172.31.0.9", "10.100.0.9"
UNDERLAY = "vmsw-evul"
VTEPS = [*HOSTS.values(), LINUX_VTEP]
EVPN_PORT = {100: "ev", 200: "ev200"}  # the EVPN port of each VNI on a vmswitch host
VLAN = {100: None, 200: 200}           # the switch VLAN of each VNI
ANNOUNCE_BURST = 8                     # broadcasts each virtio guest sends at start

# name: a namespace (ns guests) or a switch port (virtio guests, "v100"/"v200")
Guest = namedtuple("Guest", "name host vni addr mac")
NS_GUESTS = [
    Guest("vmsw-evg1", "vmsw-evh1", 100, "10.100.0.1", "52:54:00:00:01:01"),
    Guest("vmsw-evg2", "vmsw-evh2", 100, "10.100.0.2", "52:54:00:00:02:01"),
    Guest("vmsw-evg3", "vmsw-evh1", 200, "10.100.0.11", "52:54:00:00:01:02"),
    Guest("vmsw-evg4", "vmsw-evh2", 200, "10.100.0.12", "52:54:00:00:02:02"),
]
VIRTIO_GUESTS = [Guest(f"v{vni}", host, vni, f"10.100.0.{vni // 100 * 10 + 10 + i}",
                       f"52:54:00:00:{i:02x}:{vni // 100 * 16:02x}")
                 for i, host in enumerate(HOSTS, 1) for vni in (100, 200)]
ALL_GUESTS = NS_GUESTS + VIRTIO_GUESTS

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


def guests(vni=None, host=None, kind=ALL_GUESTS):
    return [g for g in kind if vni in (None, g.vni) and host in (None, g.host)]


def ns_guest(name):
    return next(g for g in NS_GUESTS if g.name == name)


def virtio_guest(host, vni):
    return guests(vni, host, VIRTIO_GUESTS)[0]


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
    ensure_packages(["frr", "iproute2", "dpdk"])
    if not os.path.exists(f"{FRR}/zebra"):
        skip(f"no {FRR}/zebra after installing frr")
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)


def no_ipv6(ns, dev=None):
    """IPv6 off in ns (for devices made later too), or on dev only: no
    router solicitations or MLD reports to flood into the VNIs."""
    keys = [f"net.ipv6.conf.{dev}.disable_ipv6=1"] if dev else \
        ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
    sh(*in_ns(ns, "sysctl", "-qw", *keys))


def underlay(stack):
    """The host namespaces, each with "ul" on a bridge in UNDERLAY."""
    netns(stack, UNDERLAY)
    sh("ip", "-n", UNDERLAY, "link", "add", "ulbr", "type", "bridge")
    sh("ip", "-n", UNDERLAY, "link", "set", "ulbr", "up")
    for i, (h, a) in enumerate(zip([*HOSTS, LINUX_HOST], VTEPS)):
        netns(stack, h)
        # IPv6 stays on in the vmswitch hosts: vmswitch turns it off on its
        # shadow devices (else vmsw-apN's ND/MLD would put its MAC in
        # vmsw-brN, and zebra would advertise it as one more type-2 route),
        # which the exact route counts check.
        if h == LINUX_HOST:
            no_ipv6(h)
        sh("ip", "-n", UNDERLAY, "link", "add", f"p{i}", "type", "veth", "peer", "name", "ul",
           "netns", h)
        sh("ip", "-n", UNDERLAY, "link", "set", f"p{i}", "master", "ulbr", "up")
        sh("ip", "-n", h, "addr", "add", f"{a}/24", "dev", "ul")
        sh("ip", "-n", h, "link", "set", "ul", "up")


def linux_vtep():
    """LINUX_HOST: a kernel VXLAN device in a bridge holding LINUX_ADDR."""
    no_ipv6(LINUX_HOST)
    for cmd in (["link", "add", "vx100", "type", "vxlan", "id", "100", "local",
                 LINUX_VTEP, "dstport", "4789", "nolearning"],
                ["link", "add", "br100", "type", "bridge"],
                ["link", "set", "vx100", "master", "br100", "up"],
                ["addr", "add", f"{LINUX_ADDR}/24", "dev", "br100"],
                ["link", "set", "br100", "up"]):
        sh("ip", "-n", LINUX_HOST, *cmd)


def port_dev(g):
    """The host end of namespace guest g's veth: the switch port's device."""
    return "g" if g.vni == 100 else "g200"


def guest_ns(stack, g, dev):
    """Namespace guest g behind veth dev in its host (the end an afpacket port
    takes), IPv6 off, permanent neighbour entries for its VNI, announced."""
    netns(stack, g.name)
    no_ipv6(g.name)
    sh("ip", "-n", g.host, "link", "add", dev, "type", "veth", "peer", "name", "eth0",
       "netns", g.name)
    no_ipv6(g.host, dev)
    sh("ip", "-n", g.host, "link", "set", dev, "up")
    sh("ip", "-n", g.name, "link", "set", "eth0", "address", g.mac)
    sh("ip", "-n", g.name, "addr", "add", f"{g.addr}/24", "dev", "eth0")
    sh("ip", "-n", g.name, "link", "set", "eth0", "up")
    neighbours = guests(g.vni) + ([Guest("linux", LINUX_HOST, 100, LINUX_ADDR, linux_mac())]
                                  if g.vni == 100 else [])
    permanent_neighbours(g.name, "eth0", [n for n in neighbours if n.name != g.name])


def linux_mac():
    return json.loads(sh("ip", "-n", LINUX_HOST, "-j", "link", "show", "br100"))[0]["address"]


def permanent_neighbours(ns, dev, entries):
    """ARP entries that never expire: nobody asks, so no testpmd guest answers."""
    for n in entries:
        sh("ip", "-n", ns, "neigh", "replace", n.addr, "lladdr", n.mac, "dev", dev,
           "nud", "permanent")


def announce(ns, dev):
    """One broadcast frame of a local experimental EtherType (0x88b5) from
    dev in ns, so the switches learn its MAC: nothing answers it."""
    code = ("import socket,sys;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);"
            "s.bind((sys.argv[1],0));m=s.getsockname()[4];"
            "s.send(b'\\xff'*6+m+b'\\x88\\xb5'+bytes(46))")
    sh(*in_ns(ns, sys.executable, "-c", code, dev))


def add_port(sw, spec, vni):
    args = [spec] + ([f"vlan={VLAN[vni]}"] if VLAN[vni] else [])
    rc, out, err = sw.ctl("port", "add", *args)
    check(rc == 0, f"port add {' '.join(args)}: {out} {err}")


def vhost_socket(g):
    return f"{RUN}/{g.host}-{g.name}.sock"


def vmswitch_host(stack, host, vtep):
    """vmswitch in host: EVPN ports for VNI 100 and 200, a vhost-user port per
    virtio guest, an afpacket port per namespace guest."""
    sw = wait_switch_ready(stack.enter_context(Switch(
        [f"ev=vxlan:vni=100,local={vtep},evpn"], name=host, prefix=in_ns(host))))
    add_port(sw, f"ev200=vxlan:vni=200,local={vtep},port=4790,evpn", 200)
    for g in guests(host=host, kind=VIRTIO_GUESTS):
        add_port(sw, f"{g.name}=vhost-user:{vhost_socket(g)}", g.vni)
        wait_for_path(vhost_socket(g), 10)
    for g in guests(host=host, kind=NS_GUESTS):
        guest_ns(stack, g, port_dev(g))
        add_port(sw, f"{port_dev(g)}=afpacket:{port_dev(g)}", g.vni)
    out = sh("ip", "-n", host, "-d", "link", "show", "vmsw-vx100")
    check(f"vxlan id 100 local {vtep}" in out and "nolearning" in out,
          f"shadow VXLAN device on {host}: {out}")
    return sw


def virtio_frontends(stack):
    """One testpmd, one lcore polling: a net_virtio_user port per virtio guest,
    each answering on itself (loop topology); `start tx_first` later makes
    each send ANNOUNCE_BURST broadcasts."""
    pmd = VirtioUserPmd(
        [vhost_socket(g) for g in VIRTIO_GUESTS], name="evpn", macs=[g.mac for g in VIRTIO_GUESTS],
        args=["--forward-mode=icmpecho", "--port-topology=loop", f"--burst={ANNOUNCE_BURST}",
              *[f"--eth-peer={i},ff:ff:ff:ff:ff:ff" for i in range(len(VIRTIO_GUESTS))]])
    return stack.enter_context(pmd)


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


def evpn_state(sw, vni=100):
    """(remote MACs, flood-list VTEPs) of an EVPN port, from `ctl show PORT`."""
    rc, out, err = sw.ctl("show", EVPN_PORT[vni])
    m = re.search(r"evpn: (\d+) remote MACs, (\d+) VTEPs on the flood list", out)
    check(rc == 0 and m, f"no evpn line in ctl show: {out} {err}")
    return int(m.group(1)), int(m.group(2))


def evpn_counters(sw):
    """The EVPN counters of `ctl show`, by name ("on other devices": N, ...)."""
    out = sw.ctl("show")[1]
    line = re.search(r"^\s+\d+ remote MACs added.*$", out, re.M)
    check(line, f"no EVPN counters in ctl show: {out}")
    return {name.strip(): int(n) for n, name in re.findall(r"(\d+) ([a-zA-Z ]+)", line.group(0))}


def wait_for(what, cond, timeout=30, state=lambda: ""):
    """Wait for cond(); on a timeout fail saying what, and state() then."""
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, f"timed out waiting for {what}: {state()}")
        time.sleep(0.5)


def shadow_fdb(host, vni=100):
    return sh("bridge", "-n", host, "fdb", "show", "dev", f"vmsw-vx{vni}")


def host_state(host, sw):
    """What the switch and the kernel hold, for a failure message."""
    return (sw.ctl("show")[1] + shadow_fdb(host) + shadow_fdb(host, 200) +
            sh("bridge", "-n", host, "fdb", "show", "dev", "vmsw-ad100"))


def linux_rx_packets():
    """Packets the Linux host's VXLAN device received."""
    out = json.loads(sh("ip", "-n", LINUX_HOST, "-s", "-j", "link", "show", "vx100"))
    return out[0]["stats64"]["rx"]["packets"]


def label(g):
    return f"{g.name}@{g.host}"


def virtio_rx(pmd):
    """{virtio guest's label: frames its testpmd port received}."""
    stats = pmd.port_stats()
    return {label(g): stats[i]["rx_packets"] for i, g in enumerate(VIRTIO_GUESTS)}


def port_tx(switches, port_names):
    """Frames the switches sent out of the named guest ports, all together."""
    total = 0
    for sw in switches.values():
        ports = sw.ports_json()
        total += sum(ports[p]["tx_packets"] for p in port_names if p in ports)
    return total


def routes_listed(out, macs, vteps):
    """Every MAC as a type-2 route and every VTEP as a type-3 route in out."""
    return all(f"[2]:[0]:[48]:[{m}]" in out for m in macs) and \
        all(f"[3]:[0]:[32]:[{v}]" in out for v in vteps)


def ping_ok(src, g, count=3):
    sent, got = ns_ping(src, g.addr, count=count)
    check(got == sent, f"{src} -> {g.name} on {g.host} ({g.addr}, VNI {g.vni}): {got}/{sent}")


def wait_flood_lists(switches):
    """Every vmswitch host has the other hosts of each VNI on its flood list."""
    for host, sw in switches.items():
        for vni, others in ((100, len(VTEPS) - 1), (200, len(HOSTS) - 1)):
            wait_for(f"{host}'s VNI {vni} flood list",
                     lambda h=host, v=vni, n=others: evpn_state(switches[h], v)[1] == n,
                     state=lambda h=host: host_state(h, switches[h]))


def check_broadcast_stays_in_its_vni(pmd):
    """Each virtio guest broadcast ANNOUNCE_BURST frames: every other virtio
    guest of its VNI got them, through the EVPN head-end replication, and no
    guest of the other VNI (nothing else floods: IPv6 is off)."""
    pmd.cmd("start tx_first")
    expect = {label(g): ANNOUNCE_BURST * (len(guests(g.vni, kind=VIRTIO_GUESTS)) - 1)
              for g in VIRTIO_GUESTS}
    wait_for("the virtio guests' broadcasts", lambda: virtio_rx(pmd) == expect, timeout=10,
             state=lambda: virtio_rx(pmd))
    time.sleep(0.5)
    got = virtio_rx(pmd)
    print(f"  each virtio guest got {sorted(set(got.values()))} of the "
          f"{ANNOUNCE_BURST}-frame broadcasts (only those of its VNI)")
    check(got == expect, f"broadcasts crossed VNIs: {got}, wanted {expect}")


def wait_routes(switches, macs):
    """Every host lists every guest MAC (type 2) and every VTEP (type 3), and
    each switch took the other hosts' guests of VNI 100 from the kernel."""
    for host in [*HOSTS, LINUX_HOST]:
        wait_for(f"type-2 and type-3 routes on {host}",
                 lambda h=host: routes_listed(vtysh(h, "show bgp l2vpn evpn route"), macs, VTEPS),
                 state=lambda h=host: vtysh(h, "show bgp l2vpn evpn route"))
    for host, sw in switches.items():
        for vni in (100, 200):
            remote = len([g for g in guests(vni) if g.host != host])
            wait_for(f"{host}'s VNI {vni} remote MACs",
                     lambda s=sw, v=vni, n=remote: evpn_state(s, v)[0] == n,
                     state=lambda h=host: host_state(h, switches[h]))


def check_pings_in_each_vni():
    """Namespace guests reach every guest of their VNI on every host; the
    Linux host reaches every guest of VNI 100."""
    for src in NS_GUESTS:
        for dst in guests(src.vni):
            if dst.name != src.name:
                ping_ok(src.name, dst)
    for dst in guests(100):
        ping_ok(LINUX_HOST, dst)
    for src in guests(100, kind=NS_GUESTS):
        sent, got = ns_ping(src.name, LINUX_ADDR, count=3)
        check(got == sent, f"{src.name} -> the Linux host over EVPN: {got}/{sent}")


def check_no_crossing_from_vni200(switches):
    """A VNI 200 guest asks for VNI 100 addresses (ARP: testpmd's VNI 200
    guests answer for any address, so the pings themselves may succeed): no
    frame reaches a VNI 100 guest port on any host."""
    src = ns_guest("vmsw-evg3")
    vni100_ports = ["g", "v100"]
    before = port_tx(switches, vni100_ports)
    for dst in guests(100):
        ns_ping(src.name, dst.addr, count=2)
    crossed = port_tx(switches, vni100_ports) - before
    print(f"  {src.name} (VNI 200) pinged the VNI 100 addresses: {crossed} frames reached "
          f"VNI 100 guest ports")
    check(crossed == 0, f"{crossed} frames from VNI 200 reached VNI 100 guests")


def check_unicast_reaches_only_its_host(switches, pmd):
    """Known unicast from host 1 to host 2's virtio guest: host 2 counts it, the
    third vmswitch host, the Linux host and the other virtio guests do not."""
    h1, h2, h3 = HOSTS
    src, dst = ns_guest("vmsw-evg1"), virtio_guest(h2, 100)
    evs = {h: switches[h].ports_json()["ev"]["rx_packets"] for h in (h2, h3)}
    linux, rx = linux_rx_packets(), virtio_rx(pmd)
    ping_ok(src.name, dst, count=20)
    evs = {h: switches[h].ports_json()["ev"]["rx_packets"] - n for h, n in evs.items()}
    linux = linux_rx_packets() - linux
    rx = {g: n - rx[g] for g, n in virtio_rx(pmd).items()}
    others = sum(n for g, n in rx.items() if g != label(dst))
    print(f"  20 pings {src.name} -> {dst.name} on {h2}: {evs[h2]} frames in at {h2}, "
          f"{evs[h3]} at {h3}, {linux} at the Linux host, {others} at other virtio guests")
    check(evs[h2] >= 20 and rx[label(dst)] >= 20, f"the pings did not arrive at {h2}: {evs} {rx}")
    check(evs[h3] == 0 and linux == 0 and others == 0,
          f"unicast reached other hosts: {h3} {evs[h3]}, Linux {linux}, virtio {others}")


def move_guest(stack, switches, g, h_to):
    """The guest leaves its host (its port goes, as when a VM migrates) and comes
    back on h_to with its MAC and address; the Linux host and the virtio
    guests of the other hosts reach it there."""
    rc, out, err = switches[g.host].ctl("port", "del", port_dev(g))
    check(rc == 0, f"port del {port_dev(g)} on {g.host}: {out} {err}")
    sh("ip", "netns", "del", g.name)
    moved = g._replace(host=h_to)
    guest_ns(stack, moved, "gm")
    rc, out, err = switches[h_to].ctl("port", "add", "gm=afpacket:gm")
    check(rc == 0, f"port add gm on {h_to}: {out} {err}")
    start = time.monotonic()
    announce(moved.name, "eth0")
    vtep = HOSTS[h_to]
    wait_for(f"the Linux host to learn {g.mac} at {h_to}",
             lambda: f"{g.mac} dst {vtep}" in sh("bridge", "-n", LINUX_HOST, "fdb", "show",
                                                 "dev", "vx100"),
             timeout=15, state=lambda: sh("bridge", "-n", LINUX_HOST, "fdb", "show"))
    ping_ok(LINUX_HOST, moved)
    print(f"  {g.name} moved from {g.host} to {h_to}: reached there after "
          f"{time.monotonic() - start:.1f} s")
    for host in HOSTS:
        if host != h_to:
            ping_ok(moved.name, virtio_guest(host, 100))
    return moved


def withdrawn_from(sw, host, gone, now):
    """host's kernel and switch hold nothing of `gone`: its guests' MACs are
    off the shadow devices, the switch's remote MACs are those of the
    guests elsewhere (now: where each guest is) and its VTEP is off the
    flood lists."""
    fdb = shadow_fdb(host) + shadow_fdb(host, 200)
    if any(g.mac in fdb for g in guests(host=gone, kind=now)):
        return False
    for vni, vteps in ((100, len(VTEPS) - 2), (200, len(HOSTS) - 2)):
        remote = len([g for g in guests(vni, kind=now) if g.host not in (host, gone)])
        if evpn_state(sw, vni) != (remote, vteps):
            return False
    return True


def check_withdrawn(switches, gone, moved):
    """FRR on host `gone` stops: the other switches drop its guests' MACs and
    its VTEP."""
    now = [moved if g.name == moved.name else g for g in ALL_GUESTS]
    start = time.monotonic()
    stop_frr(gone)
    for host in HOSTS:
        if host == gone:
            continue
        wait_for(f"{gone} withdrawn from {host}",
                 lambda h=host: withdrawn_from(switches[h], h, gone, now),
                 state=lambda h=host: host_state(h, switches[h]))
        out = shadow_fdb(host) + shadow_fdb(host, 200)
        check(HOSTS[gone] not in out, f"{gone}'s entries stayed on {host}: {out}")
    print(f"  {gone}'s FRR stopped: withdrawn from the other hosts after "
          f"{time.monotonic() - start:.1f} s")


def check_foreign_entries_ignored(host, sw):
    """Entries zebra would not make (a VXLAN device of an unknown VNI, a MAC on
    the shadow device without extern_learn) are counted and not used."""
    before, state = evpn_counters(sw), evpn_state(sw)
    sh("ip", "-n", host, "link", "add", "vx999", "type", "vxlan", "id", "999", "local",
       HOSTS[host], "dstport", "60999", "nolearning")
    for cmd in (["append", "00:00:00:00:00:00", "dev", "vx999", "dst", "172.31.0.77"],
                ["add", "52:54:00:99:99:99", "dev", "vx999", "dst", "172.31.0.77", "self"],
                ["add", "52:54:00:99:99:98", "dev", "vmsw-vx100", "dst", "172.31.0.77",
                 "self"]):
        sh("bridge", "-n", host, "fdb", *cmd)
    wait_for("the foreign entries to be counted",
             lambda: evpn_counters(sw)["on other devices"] >= before["on other devices"] + 2
             and evpn_counters(sw)["skipped"] >= before["skipped"] + 1, timeout=5,
             state=lambda: (before, evpn_counters(sw)))
    check(evpn_state(sw) == state, f"foreign entries changed {host}'s table: "
                                   f"{state} -> {evpn_state(sw)}")
    after = evpn_counters(sw)
    print(f"  foreign netlink entries on {host}: on other devices "
          f"+{after['on other devices'] - before['on other devices']}, skipped "
          f"+{after['skipped'] - before['skipped']}, table unchanged")
    sh("ip", "-n", host, "link", "del", "vx999")


def check_shadow_ipv6_off():
    """vmswitch turned IPv6 off on its shadow devices (the hosts have it on),
    and no host advertises a MAC that is not a guest's."""
    for host in HOSTS:
        def sysctl(dev):
            return sh(*in_ns(host, "sysctl", "-n", f"net.ipv6.conf.{dev}.disable_ipv6")).strip()
        check(sysctl("default") == "0", f"{host}: IPv6 is off for every device")
        for dev in ("vmsw-br100", "vmsw-vx100", "vmsw-ad100", "vmsw-ap100", "vmsw-ap200"):
            check(sysctl(dev) == "1", f"{host}: IPv6 is on on the shadow device {dev}")
    guest_macs = {g.mac for g in ALL_GUESTS}
    routes = vtysh("vmsw-evh1", "show bgp l2vpn evpn route")
    extra = set(re.findall(r"\[2\]:\[0\]:\[48\]:\[([0-9a-f:]{17})\]", routes)) - guest_macs
    check(not extra, f"MACs advertised that are no guest's: {sorted(extra)}")


def check_shadow_devices_go(host, sw):
    for port in EVPN_PORT.values():
        rc, out, err = sw.ctl("port", "del", port)
        check(rc == 0, f"port del {port}: {out} {err}")
    links = sh("ip", "-n", host, "link", "show")
    check(not re.search(r"^\d+: vmsw-", links, re.M),
          f"shadow devices left after the port went: {links}")


@test
def evpn_three_vmswitch_hosts_and_a_linux_host_through_frr():
    """Virtio and namespace guests over EVPN; routes; unicast; move; withdrawal."""
    setup()
    start = time.monotonic()
    with ExitStack() as s:
        underlay(s)
        linux_vtep()
        permanent_neighbours(LINUX_HOST, "br100", guests(100))
        switches = {h: vmswitch_host(s, h, vtep) for h, vtep in HOSTS.items()}
        pmd = virtio_frontends(s)
        for host, vtep in zip([*HOSTS, LINUX_HOST], VTEPS):
            start_frr(s, host, vtep)
        wait_flood_lists(switches)
        check_broadcast_stays_in_its_vni(pmd)
        for g in NS_GUESTS:
            announce(g.name, "eth0")
        announce(LINUX_HOST, "br100")
        wait_routes(switches, [g.mac for g in ALL_GUESTS])
        print(f"  EVPN converged {time.monotonic() - start:.1f} s after the start; routes on "
              f"vmsw-evh1:\n  " + "\n  ".join(
                  l for l in vtysh("vmsw-evh1", "show bgp l2vpn evpn route").splitlines()
                  if "[2]" in l or "[3]" in l))
        h1, h2, h3 = HOSTS
        g2 = ns_guest("vmsw-evg2")
        out = shadow_fdb(h1)
        check(f"{g2.mac} dst {HOSTS[h2]} self extern_learn" in out,
              f"zebra did not install {g2.mac} on {h1}: {out}")
        check_pings_in_each_vni()
        check_shadow_ipv6_off()
        check_no_crossing_from_vni200(switches)
        check_unicast_reaches_only_its_host(switches, pmd)
        moved = move_guest(s, switches, ns_guest("vmsw-evg1"), h2)
        check_withdrawn(switches, h2, moved)
        check_foreign_entries_ignored(h3, switches[h3])
        check_shadow_devices_go(h1, switches[h1])
    print(f"  wall time {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
