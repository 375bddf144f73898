#!/usr/bin/env python3
"""vmswitch with QEMU 7.2 guests whose virtio-net devices drive packed rings
(virtio-net-pci,packed=on; VIRTIO_F_RING_PACKED, feature bit 34), TCG, as
tests/integ/test_qemu.py.

QEMU's packed=on only offers the bit: the ring is packed when the switch
offers it too, so each test reads the features each vhost-user port
negotiated (`ctl show`) and checks bit 34 where it expects a packed ring and
its absence where it expects a split one.

Guests are 10.0.0.N/24 with MAC 52:54:00:00:00:0N, as in test_qemu.py.
"""

import os
import re
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import BackgroundPing  # noqa: E402
from guestnet import OptGuest, ip, no_loss, sock_dir  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from vuproxy import FRESH_BASE, VuProxy, describe_base, ring_position  # noqa: E402

RING_PACKED = 1 << 34
AFTER_REBOOT = 6         # seconds a ping stream runs on after a reboot completed
IPERF_SECONDS = 4
RESUME_WAIT = 20         # seconds given to traffic to come back after a switch restart
SHOW_PORT = re.compile(r"^port (\S+) \(vhost-user\)")
SHOW_FEATURES = re.compile(r"^  vhost-user .*, features (0x[0-9a-f]+|0),")


def packed_guest(stack, d, n, packed=True, sock=None, **kw):
    """Guest n (as guestnet.guest) with packed=on on its virtio-net device
    unless packed is false; sock overrides d/vmN.sock."""
    g = OptGuest(f"g{n}-{os.path.basename(d)}", sock or os.path.join(d, f"vm{n}.sock"),
                 f"52:54:00:00:00:{n:02x}", f"{ip(n)}/24",
                 device_opts="packed=on" if packed else "", **kw)
    stack.enter_context(g)
    return g


def start_switch(stack, d, name, opts):
    """vmswitch with ports vm1..vmN on d/vmN.sock; opts[i] is appended to port i+1's
    spec (e.g. ",packed=off")."""
    ports = [f"vm{i}=vhost-user:{d}/vm{i}.sock{o}" for i, o in enumerate(opts, 1)]
    return stack.enter_context(Switch(ports, name=name))


def features(sw):
    """{port: negotiated virtio features} of the switch's vhost-user ports (`ctl show`)."""
    code, out, err = sw.ctl("show")
    check(code == 0, f"ctl show failed: {err}")
    feats, port = {}, None
    for line in out.splitlines():
        if m := SHOW_PORT.match(line):
            port = m.group(1)
        elif port and (m := SHOW_FEATURES.match(line)):
            feats[port] = int(m.group(1), 16)
    return feats


def check_rings(sw, packed):
    """Check bit 34 is set on the ports in packed and clear on the others."""
    feats = features(sw)
    print("  features: " + ", ".join(f"{p} {f:#x} ({'packed' if f & RING_PACKED else 'split'})"
                                     for p, f in sorted(feats.items())), flush=True)
    for port, f in sorted(feats.items()):
        want = port in packed
        check(bool(f & RING_PACKED) == want,
              f"{port} negotiated {f:#x}: {'no ' if want else ''}VIRTIO_F_RING_PACKED "
              f"where a {'packed' if want else 'split'} ring was expected")


def iperf3_both_ways(client, server, what):
    """iperf3 client -> server and back (-R); print and check the rates (Mbit/s)."""
    server.iperf3_server()
    addr = server.ip.split("/")[0]
    up = client.iperf3_client(addr, seconds=IPERF_SECONDS)
    down = client.iperf3_client(addr, seconds=IPERF_SECONDS, reverse=True)
    rates = (up["bits_per_second"] / 1e6, down["bits_per_second"] / 1e6)
    print(f"  iperf3 {what}: {rates[0]:.0f} Mbit/s, back {rates[1]:.0f} Mbit/s "
          f"(retransmits {up['retransmits']}, {down['retransmits']})", flush=True)
    check(min(rates) > 1, f"iperf3 {what} below 1 Mbit/s: {rates}")
    return rates


def check_clean(sw, ports):
    """No port flagged a guest as broken or was closed for a broken rule."""
    st = sw.stats()["ports"]
    for p in ports:
        check(not st[p]["drops"].get("invalid_descriptor"),
              f"{p}: guest flagged as broken: {st[p]['drops']}")
        check(not st[p]["faults"], f"{p}: closed for a broken rule: {st[p].get('last_fault')}")
    return st


@test
def packed_pair_and_split_guest_on_one_switch():
    """g1 and g2 packed, g3 split, on one switch: ping and iperf3 both ways
    between the packed pair, then between packed g1 and split g3."""
    d = sock_dir("pk3")
    with ExitStack() as s:
        sw = start_switch(s, d, "pk3", ["", "", ""])
        g1, g2 = packed_guest(s, d, 1), packed_guest(s, d, 2)
        g3 = packed_guest(s, d, 3, packed=False)
        for g in (g1, g2, g3):
            g.wait_ready()
        print(f"  booted in {g1.boot_seconds:.1f}, {g2.boot_seconds:.1f}, "
              f"{g3.boot_seconds:.1f} s", flush=True)
        check_rings(sw, packed={"vm1", "vm2"})
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))
        iperf3_both_ways(g1, g2, "packed g1 -> packed g2")
        no_loss(g1, ip(3))
        no_loss(g3, ip(1))
        iperf3_both_ways(g3, g1, "split g3 -> packed g1")
        st = check_clean(sw, ("vm1", "vm2", "vm3"))
        check(all(st[p]["tx_packets"] > 1000 and st[p]["rx_packets"] > 1000
                  for p in ("vm1", "vm2", "vm3")),
              f"counters did not see the traffic: {st}")
        check_rings(sw, packed={"vm1", "vm2"})


@test
def packed_guest_reboot_while_other_pings():
    """A ping stream g1 -> g2 across g2's reboot (as test_qemu.py's
    guest_reboot_while_other_pings) with g2 packed; g1's device asks for
    packed rings too but its port says packed=off, so g1 stays split."""
    d = sock_dir("pkreboot")
    with ExitStack() as s:
        sw = start_switch(s, d, "pkreboot", [",packed=off", ""])
        g1, g2 = packed_guest(s, d, 1), packed_guest(s, d, 2)
        g1.wait_ready()
        g2.wait_ready()
        check_rings(sw, packed={"vm2"})
        no_loss(g1, ip(2), count=5)
        stream = BackgroundPing(g1, ip(2), interval=0.2)
        stream.start()
        time.sleep(2)
        g2.reboot()
        stream.mark()
        print(f"  g2 rebooted in {g2.boot_seconds:.1f} s", flush=True)
        time.sleep(AFTER_REBOOT)
        stream.check_resumed(stream.stop(), "g1 -> g2", AFTER_REBOOT)
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))
        check_rings(sw, packed={"vm2"})
        check_clean(sw, ("vm1", "vm2"))


def restart_under_packed_guests(name, fix_base):
    """Kill and restart the switch under two packed guests, through recording
    proxies (fix_base: which give the new switch the base read from the ring
    flags instead of QEMU's); returns (seconds until g1 -> g2 answered again
    or None, {port: the switch's log lines about its packed rings})."""
    d = sock_dir(name)
    with ExitStack() as s:
        sw = start_switch(s, d, name, ["", ""])
        proxies = [s.enter_context(VuProxy(os.path.join(d, f"q{n}.sock"),
                                           os.path.join(d, f"vm{n}.sock"), fix_base))
                   for n in (1, 2)]
        g1 = packed_guest(s, d, 1, sock=os.path.join(d, "q1.sock"), reconnect=True)
        g2 = packed_guest(s, d, 2, sock=os.path.join(d, "q2.sock"), reconnect=True)
        g1.wait_ready()
        g2.wait_ready()
        check_rings(sw, packed={"vm1", "vm2"})
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))
        g2.iperf3_server()
        g1.iperf3_client(ip(2), seconds=1)	# thousands of frames: every ring laps
        # The connection each QEMU uses now (1, unless it had to connect again,
        # as a QEMU may on a loaded machine), and the first one after the restart.
        at_kill = [p.connections() for p in proxies]
        first = [p.vring_bases(c) for p, c in zip(proxies, at_kill)]
        # The rings as the switch leaves them (the guests are idle now).
        descs = [{r: p.ring_descs(c, r) for r in (0, 1)} for p, c in zip(proxies, at_kill)]
        rings = [{r: ring_position(x) for r, x in g.items()} for g in descs]
        sw.kill()
        time.sleep(1)
        sw.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not all(
                len(p.vring_bases(p.connections())) >= 2 and p.connections() > c
                for p, c in zip(proxies, at_kill)):
            time.sleep(0.2)
        after = [p.connections() for p in proxies]
        second = [p.vring_bases(c) for p, c in zip(proxies, after)]
        for n, (a, b) in enumerate(zip(first, second), 1):
            for ring in sorted(set(a) | set(b)):
                print(f"  g{n} ring {ring}: SET_VRING_BASE at boot "
                      f"{describe_base(a[ring]) if ring in a else '-'}, after the restart "
                      f"{describe_base(b[ring]) if ring in b else '-'}", flush=True)
        for n, pos in enumerate(rings, 1):
            for ring, (p, w, q, wq) in sorted(pos.items()):
                print(f"  g{n} ring {ring} ({'tx' if ring else 'rx'}) at the kill, from its "
                      f"flags: driver at slot {p} wrap {w}, device at slot {q} wrap {wq}",
                      flush=True)
        check(all(len(b) >= 2 for b in second),
              f"QEMU did not set up the rings on the restarted switch within 40 s: {second} "
              f"(connections at the kill {at_kill}, now {after})")
        check(first == second,
              f"QEMU gave the restarted switch other bases than at boot: {first} {second}")
        check(all(v == FRESH_BASE for b in second for v in b.values()),
              f"bases not those of a ring after reset ({FRESH_BASE:#x}): {second}")
        moved = [(n, r) for n, pos in enumerate(rings, 1) for r, (p, w, q, wq) in pos.items()
                 if (q, wq) != (0, 1)]
        check(moved, f"no ring moved on from slot 0 wrap 1 before the kill: {rings}")
        check_rings(sw, packed={"vm1", "vm2"})
        t0 = time.monotonic()
        got = 0
        while time.monotonic() < t0 + RESUME_WAIT and not got:
            got = g1.ping(ip(2), count=2, interval=0.5)[1]
        resumed = time.monotonic() - t0 if got else None
        # What the restarted switch did in the rings meanwhile.
        for n, p in enumerate(proxies, 1):
            for r in (0, 1):
                before, now = descs[n - 1][r], p.ring_descs(after[n - 1], r)
                changed = [i for i, (a, b) in enumerate(zip(before, now)) if a[3] != b[3]]
                print(f"  g{n} ring {r} ({'tx' if r else 'rx'}) {RESUME_WAIT} s after the "
                      f"restart: {len(changed)} slots changed flags "
                      f"{changed[:3]}{'...' if len(changed) > 3 else ''}, "
                      f"now {ring_position(now)}", flush=True)
        said = {port: [line for line in sw.output().splitlines()
                       if f"port {port}:" in line and "packed" in line]
                for port in ("vm1", "vm2")}
        st = sw.stats()["ports"]
        print(f"  traffic after the restart: "
              f"{f'resumed in {resumed:.1f} s' if got else f'none in {RESUME_WAIT} s'}; "
              f"the switch said about packed rings: {said}; faults "
              f"{[(p, st[p]['faults'], st[p].get('last_fault')) for p in ('vm1', 'vm2')]}",
              flush=True)
        # Either way, a guest that resets its device (driver reload) starts its
        # rings afresh, and QEMU then gives the switch a base that is right.
        for n, g in ((1, g1), (2, g2)):
            g.run("rmmod virtio_net && insmod /lib/modules/virtio_net.ko && sleep 1 && "
                  f"ip addr add {ip(n)}/24 dev eth0 && ip link set eth0 up && sleep 2",
                  timeout=60, check=True)
        no_loss(g1, ip(2))
        no_loss(g2, ip(1))
        check_rings(sw, packed={"vm1", "vm2"})
        for conn, ring, qemu, sent in (x for p in proxies for x in p.fixed):
            print(f"  connection {conn} ring {ring}: the proxy sent {describe_base(sent)} "
                  f"for QEMU's {describe_base(qemu)}", flush=True)
        if fix_base:
            check(all(len(p.fixed) >= 2 for p in proxies),
                  f"the proxies fixed {[p.fixed for p in proxies]}")
            check_clean(sw, ("vm1", "vm2"))
        return resumed, said


@test
def switch_restart_under_packed_guests():
    """The switch is killed and restarted under two packed guests whose
    chardevs reconnect. A recording proxy sits between each QEMU and the
    switch, so the test sees the SET_VRING_BASE QEMU gives the new switch:
    QEMU 7.2 keeps no packed ring position of its own while a backend runs
    and cannot read one from guest memory (virtio_queue_packed_restore_last_
    avail_idx() is empty), so it sends again the base it gave the first
    switch, the base of a ring just reset, although the guests moved their
    rings on (the test reads the rings' flags at the kill and shows where
    they stood). The switch checks a packed base against the descriptors'
    flags and, where they contradict it, resumes at the position they show
    (vring_packed_base_from_ring()), saying so in its log: traffic must flow
    again within RESUME_WAIT s and every port must have logged it. Then a
    driver reload in both guests, which resets the rings, must keep the
    traffic flowing."""
    resumed, said = restart_under_packed_guests("pkrestart", fix_base=False)
    check(resumed is not None, f"no traffic within {RESUME_WAIT} s of the restart")
    check(all(said.values()),
          f"no word from the switch on {[p for p, lines in said.items() if not lines]} "
          f"about the stale base of its packed rings")


@test
def switch_restart_under_packed_guests_given_the_ring_base():
    """As switch_restart_under_packed_guests, but the proxies give the new
    switch, for each ring, the base a backend can read from the ring itself
    (avail = used = the first slot the old switch had not used, from the
    flags) in place of QEMU's: the switch must then take the rings up where
    they are, with traffic back within RESUME_WAIT s and no port flagged."""
    resumed, said = restart_under_packed_guests("pkfixed", fix_base=True)
    check(resumed is not None, f"no traffic within {RESUME_WAIT} s of the restart")
    check(not any(said.values()), f"the switch replaced a right base: {said}")


if __name__ == "__main__":
    main()
