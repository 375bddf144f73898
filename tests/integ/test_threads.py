#!/usr/bin/env python3
"""Datapath threads (run --cpus 0,1, issue 16).

dpdk_queues_2 / dpdk_queues_4: two DPDK virtio-user ports with 2 and 4
queue pairs in a closed io-forwarding loop; ctl show places one port on
each thread; every frame the frontend sent was received and every frame
received was delivered.
order_under_churn: sequence-numbered frames from one frontend to another
arrive all and in order while ctl rebalance moves the sender's queues
between the threads, ports are added, removed and reloaded, and the
sender's frontend sends its memory table again.
auto_rebalance_evens_out: with --auto-rebalance, two busy ports that the
placement put on one thread (the other holds two idle pinned ports) are
spread over both threads within seconds, and every frame still arrives.
port_events_stop_one_thread: a frontend's own messages (SET_MEM_TABLE, 200
times) park only the thread polling its port; the other thread goes on
(it parks only for the events that stop every thread: timers, ctl), and
both ports still forward afterwards.
guest_rx_queue_per_thread: a DPDK port with two queues that both threads
send to (testpmd macswap: ports a and b, one per thread, each in a closed
loop with c): thread 0's frames all on queue 0, thread 1's on queue 1, no
thread ever waits for a queue lock, and every frame counted in and out.
guest_rx_queue_shared: the same with one queue, which both threads share
under its lock.
host_ports_other_thread: a vhost-user port on thread 0, a tap, an afpacket
port (veth to a namespace) and a vxlan port (UDP on loopback) on thread 1;
frames both ways between the guest and each kernel peer, counted in and out,
a frame from each peer waking its sleeping thread at once, and the tap
moved to thread 0 (its spare buffer back to thread 1's pool first).

vmsw-tsan: two datapath threads and the control thread share the MAC table,
the ports' tx links and locks, and the pause handshake; a host port's rx
on one thread and its tx from another.
"""

import ctypes
import os
import re
import shutil
import socket
import struct
import sys
import threading
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from netns import netns, sh, wait_switch_ready  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402
from vhostfront import NetDevice, make_frame  # noqa: E402

RUN = "/tmp/vmsw-threads"
CPUS = ["--cpus", "0,1"]
if os.environ.get("VMSW_THREADS_OFF"):	# the same checks on one thread, for comparison
    CPUS = []


def workdir(name):
    d = os.path.join(RUN, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def need_two_cpus():
    if len(os.sched_getaffinity(0)) < 2 or not {0, 1} <= os.sched_getaffinity(0):
        skip("needs CPUs 0 and 1")


def need_threads(what):
    """Two CPUs, and the threads on (not VMSW_THREADS_OFF): what is only
    there with datapath threads."""
    need_two_cpus()
    if not CPUS:
        skip(f"VMSW_THREADS_OFF: one thread, {what}")


def queue_lines(sw, pattern):
    """ctl show: {port: int of the first group of @pattern on its queues line}."""
    rc, out, err = sw.ctl("show")
    check(rc == 0, f"ctl show: {rc} {err}")
    got, port = {}, None
    for line in out.splitlines():
        m = re.match(r"port (\S+) \(", line)
        if m:
            port = m.group(1)
        m = re.match(r"\s+queues: " + pattern, line)
        if m and port:
            got[port] = int(m.group(1))
    return got, out


def placement(sw):
    """ctl show: {port: thread} and the thread lines."""
    owner, out = queue_lines(sw, r"thread (\d+)")
    threads = re.findall(r"^thread (\d+): cpu \d+, busy [\d.]+%, ports(.*)$", out, re.M)
    return owner, threads


def park_counts(sw):
    """ctl show: times each thread parked, and the control events run with
    every thread parked and with only a port's users stopped."""
    rc, out, err = sw.ctl("show")
    check(rc == 0, f"ctl show: {rc} {err}")
    parks = [int(n) for n in re.findall(r"^thread \d+: .*\n  parked (\d+) times$", out, re.M)]
    m = re.search(r"^control events: (\d+) with every thread parked, (\d+) with only", out, re.M)
    check(m is not None, f"ctl show has no control event counts:\n{out}")
    return parks, int(m.group(1)), int(m.group(2))


def dpdk_loop(queues):
    need_two_cpus()
    d = workdir(f"loop{queues}")
    socks = [f"{d}/p0.sock", f"{d}/p1.sock"]
    with ExitStack() as s:
        sw = s.enter_context(Switch([f"a=vhost-user:{socks[0]}", f"b=vhost-user:{socks[1]}"],
                                    name=f"threads-loop{queues}", args=CPUS))
        fe = s.enter_context(VirtioUserPmd(socks, name=f"threads{queues}", args=[
            "--forward-mode=io", "--txpkts=64", "--burst=32",
            "--eth-peer=0,02:00:00:00:00:11", "--eth-peer=1,02:00:00:00:00:10"],
            mrg_rxbuf=1, in_order=1, queues=queues))
        # 256 frames in flight each way, as test_dpdk: a link's size, so that
        # none is dropped for a full link while a guest is slow to take them.
        fe.cmd(f"start tx_first {8 // queues}")
        time.sleep(3)
        owner, threads = placement(sw)
        fe.drain()
        fst = fe.port_stats()
        st = sw.stats()["ports"]
    a, b = st["a"], st["b"]
    print(f"  queues={queues}: owners {owner}, threads {threads}; a rx {a['rx_packets']} -> "
          f"b tx {b['tx_packets']}, b rx {b['rx_packets']} -> a tx {a['tx_packets']}")
    check(len(threads) == 2, f"ctl show lists {len(threads)} threads, not 2")
    check(sorted(owner.values()) == [0, 1], f"the ports are not on both threads: {owner}")
    check(a["rx_packets"] > 10000 and b["rx_packets"] > 10000, "too little traffic flowed")
    check(not a["drops"] and not b["drops"], f"drops: {a['drops']} {b['drops']}")
    check(fst[0]["tx_packets"] == a["rx_packets"], "port 0 sent != switch received")
    check(fst[1]["tx_packets"] == b["rx_packets"], "port 1 sent != switch received")
    check(a["rx_packets"] == b["tx_packets"] and b["rx_packets"] == a["tx_packets"],
          "switch received != switch delivered")
    for port, out in ((0, a), (1, b)):
        check(fst[port]["rx_packets"] == out["tx_packets"],
              f"port {port}: the switch delivered {out['tx_packets']}, "
              f"the frontend took {fst[port]['rx_packets']}")


@test
def dpdk_queues_2():
    dpdk_loop(2)


@test
def dpdk_queues_4():
    dpdk_loop(4)


def contended_sends(sw):
    """ctl show: {port: times a sending thread found a queue lock taken}."""
    return queue_lines(sw, r"thread \d+ .*, (\d+) contended sends")[0]


SWAP_MACS = ["02:00:00:00:00:10", "02:00:00:00:00:11", "02:00:00:00:00:12"]


def learn_own_macs(fe):
    """Each testpmd port sends to its own MAC for a moment (the switch filters
    those frames): every MAC is known before the loop starts, so nothing
    floods; then the counters start from zero."""
    for port, mac in enumerate(SWAP_MACS):
        fe.cmd(f"set eth-peer {port} {mac}")
    fe.cmd("set fwd txonly")
    fe.cmd("start")
    time.sleep(0.3)
    fe.cmd("stop")
    time.sleep(0.5)
    fe.cmd("clear port stats all")


def delta(after, before, port, key):
    return after[port][key] - before[port][key]


def swap_loop(queues):
    """Ports a and b on different threads, each in a closed loop with port c
    (testpmd macswap answers every frame to its sender): c's RX rings take
    frames from both threads."""
    need_threads("one sender per thread")
    d = workdir(f"swap{queues}")
    socks = [f"{d}/{n}.sock" for n in "abc"]
    with ExitStack() as s:
        sw = s.enter_context(Switch([f"{n}=vhost-user:{p}" for n, p in zip("abc", socks)],
                                    name=f"threads-swap{queues}", args=CPUS))
        fe = s.enter_context(VirtioUserPmd(socks, name=f"threads-swap{queues}", macs=SWAP_MACS,
                                           args=["--txpkts=64", "--burst=32"],
                                           mrg_rxbuf=1, in_order=1, queues=queues))
        rc, _, err = sw.ctl("rebalance", "a=0", "b=1", "c=0")
        check(rc == 0, f"ctl rebalance: {err}")
        learn_own_macs(fe)
        before = sw.stats()["ports"]
        for port, peer in ((0, 2), (1, 2), (2, 0)):
            fe.cmd(f"set eth-peer {port} {SWAP_MACS[peer]}")
        fe.cmd("set fwd macswap")
        fe.cmd("start tx_first 2")	# 192 frames in flight: no link fills
        time.sleep(3)
        owner, _ = placement(sw)
        fe.drain()
        fst = fe.port_stats()
        after = sw.stats()["ports"]
        waits = contended_sends(sw)
    rx = {n: delta(after, before, n, "rx_packets") for n in "abc"}
    tx = {n: delta(after, before, n, "tx_packets") for n in "abc"}
    c_q = {q: after["c"]["queues"].get((q, "tx"), 0) - before["c"]["queues"].get((q, "tx"), 0)
           for q in range(queues)}
    print(f"  queues={queues}: owners {owner}; a rx {rx['a']}, b rx {rx['b']}, c rx {rx['c']}; "
          f"c tx by queue {c_q}; contended sends {waits}")
    check(owner == {"a": 0, "b": 1, "c": 0}, f"placement {owner}, not the one asked for")
    check(rx["a"] > 10000 and rx["b"] > 10000, "too little traffic flowed")
    for n in "abc":
        check(not after[n]["drops"], f"{n} dropped: {after[n]['drops']}")
    for i, n in enumerate("abc"):
        check(fst[i]["tx_packets"] == rx[n], f"{n}: the frontend sent {fst[i]['tx_packets']}, "
                                             f"the switch received {rx[n]}")
        check(fst[i]["rx_packets"] == tx[n], f"{n}: the switch delivered {tx[n]}, "
                                             f"the frontend took {fst[i]['rx_packets']}")
    check(tx["c"] == rx["a"] + rx["b"] and tx["a"] + tx["b"] == rx["c"],
          "the switch delivered other than it received")
    return rx, c_q, waits


@test
def guest_rx_queue_per_thread():
    """c has two queues and two threads send to it: each through its own
    (thread i: queue i), so none ever waits for the other."""
    rx, c_q, waits = swap_loop(2)
    check(c_q == {0: rx["a"], 1: rx["b"]},
          f"c's queues took {c_q}: not thread 0's frames (from a, {rx['a']}) on queue 0 "
          f"and thread 1's (from b, {rx['b']}) on queue 1")
    check(waits.get("c") == 0, f"threads waited for c's queue locks {waits.get('c')} times")


@test
def guest_rx_queue_shared():
    """c has one queue: both threads send through it under its lock, and
    every frame still arrives."""
    rx, c_q, waits = swap_loop(1)
    check(c_q == {0: rx["a"] + rx["b"]}, f"c's queue took {c_q}")
    check("c" in waits, "ctl show has no contended-sends count for c")


def write_config(path, d, with_r):
    extra = f', {{ name = "r"; type = "vhost-user"; path = "{d}/r.sock"; }}' if with_r else ""
    with open(path + ".tmp", "w") as f:
        f.write(f'cpus = "0,1";\nports = ( {{ name = "c"; type = "vhost-user"; '
                f'path = "{d}/c.sock"; }}{extra} );\n')
    os.replace(path + ".tmp", path)


def churn(sw, d, conf, stop, seen, errors, rounds):
    """Move port a between the threads, add and remove ports, reload."""
    i = 0
    while not stop.is_set():
        for cmd in (["rebalance", f"a={i % 2}", f"b={(i + 1) % 2}"],
                    ["port", "add", f"x=vhost-user:{d}/x.sock"], ["port", "del", "x"]):
            rc, _, err = sw.ctl(*cmd)
            if rc:
                errors.append(f"{' '.join(cmd)}: {err.strip()}")
        write_config(conf, d, i % 2 == 0)
        rc, _, err = sw.ctl("reload")
        if rc:
            errors.append(f"reload: {err.strip()}")
        owner, _ = placement(sw)
        seen.add(owner.get("a"))
        i += 1
        rounds[0] = i
    return i


CHURN_ROUNDS = 4	# the stream lasts at least this many churn rounds
STREAM_MAX_S = 120	# ... unless a slow build (ThreadSanitizer) takes longer


@test
def order_under_churn():
    need_two_cpus()
    d = workdir("order")
    conf = f"{d}/vmswitch.conf"
    write_config(conf, d, False)
    ma, mb = b"\x02\x00\x00\x00\x7b\x01", b"\x02\x00\x00\x00\x7b\x02"
    total, batch = 3000, 32
    got, seen, errors, rounds = [], set(), [], [0]
    stop = threading.Event()
    with ExitStack() as s:
        sw = s.enter_context(Switch([f"a=vhost-user:{d}/a.sock", f"b=vhost-user:{d}/b.sock"],
                                    name="threads-order", args=["--config", conf]))
        a, b = NetDevice.connect(f"{d}/a.sock"), NetDevice.connect(f"{d}/b.sock")
        s.callback(a.close)
        s.callback(b.close)
        b.send_frame(make_frame(60, 0, src=mb, dst=mb))	# b's MAC is learned
        b.wait_tx_done(2)
        worker = threading.Thread(target=lambda: churn(sw, d, conf, stop, seen, errors, rounds))
        worker.start()
        end = time.monotonic() + STREAM_MAX_S
        try:
            start = 0
            while start < total or (rounds[0] < CHURN_ROUNDS and time.monotonic() < end):
                for seq in range(start, start + batch):
                    a.send_frame(make_frame(64, seq, src=ma, dst=mb))
                start += batch
                if start % (8 * batch) == 0:	# the same memory, mapped anew
                    a.fe.set_mem_table(a.memory)
                deadline = time.monotonic() + 5
                while len(got) < start and time.monotonic() < deadline:
                    got += [int.from_bytes(f[14:18], "big")
                            for f in b.recv_frames(timeout=0.5) if f[6:12] == ma]
            total = start
        finally:
            stop.set()
            worker.join()
    print(f"  {len(got)} of {total} frames arrived over {rounds[0]} churn rounds; "
          f"port a was on threads {sorted(seen, key=str)}")
    check(not errors, f"control commands failed: {errors[:3]}")
    check({0, 1} <= seen, f"port a never moved between the threads: {seen}")
    check(len(got) == total, f"{total - len(got)} frames lost")
    late = [i for i, (x, y) in enumerate(zip(got, range(total))) if x != y]
    check(not late, f"frames arrived out of order: first difference at {late[:1]}")


def wait_placement(sw, want, timeout):
    """Poll ctl show until want(owner) holds; returns the last placement."""
    end = time.monotonic() + timeout
    while True:
        owner, _ = placement(sw)
        if want(owner) or time.monotonic() > end:
            return owner
        time.sleep(0.2)


@test
def auto_rebalance_evens_out():
    need_threads("nothing to rebalance")
    d = workdir("autolb")
    socks = [f"{d}/p.sock", f"{d}/q.sock"]
    with ExitStack() as s:
        sw = s.enter_context(Switch([f"i0=vhost-user:{d}/i0.sock", f"i1=vhost-user:{d}/i1.sock",
                                     f"p=vhost-user:{socks[0]}", f"q=vhost-user:{socks[1]}"],
                                    name="threads-autolb", args=[*CPUS, "--auto-rebalance"]))
        for name in ("i0", "i1"):
            dev = NetDevice.connect(f"{d}/{name}.sock")
            s.callback(dev.close)
        rc, _, err = sw.ctl("rebalance", "i0=1", "i1=1")
        check(rc == 0, f"ctl rebalance: {err}")
        # p and q come next, with no load measured: by count, both onto thread 0.
        fe = s.enter_context(VirtioUserPmd(socks, name="threads-autolb", args=[
            "--forward-mode=io", "--txpkts=64", "--burst=32",
            "--eth-peer=0,02:00:00:00:00:11", "--eth-peer=1,02:00:00:00:00:10"]))
        before = wait_placement(sw, lambda o: "p" in o and "q" in o, 10)
        fe.cmd("start tx_first 8")
        t0 = time.monotonic()
        after = wait_placement(sw, lambda o: o.get("p") != o.get("q"), 15)
        took = time.monotonic() - t0
        _, out, _ = sw.ctl("show")
        fe.drain()
        fst = fe.port_stats()
        st = sw.stats()["ports"]
    m = re.search(r"^automatic rebalancing: on, (\d+) so far$", out, re.M)
    print(f"  placement before the traffic {before}, {took:.1f} s later {after}; "
          f"{m.group(0) if m else 'no automatic rebalancing line'}")
    check(before.get("p") == before.get("q") == 0,
          f"the busy ports did not start together on thread 0: {before}")
    check(after.get("p") != after.get("q"), f"the busy ports stayed together: {after}")
    check(after.get("i0") == after.get("i1") == 1, f"the pinned ports moved: {after}")
    check(m is not None and int(m.group(1)) >= 1, "ctl show counts no automatic rebalancing")
    p, q = st["p"], st["q"]
    check(p["rx_packets"] > 10000, "too little traffic flowed")
    check(fst[0]["tx_packets"] == p["rx_packets"] and fst[1]["tx_packets"] == q["rx_packets"],
          "the frontend sent != the switch received")
    check(p["rx_packets"] == q["tx_packets"] and q["rx_packets"] == p["tx_packets"],
          f"frames lost across the move: p rx {p['rx_packets']} q tx {q['tx_packets']}, "
          f"q rx {q['rx_packets']} p tx {p['tx_packets']}")


MEM_TABLES = 200


@test
def port_events_stop_one_thread():
    need_threads("nothing to stop per port")
    d = workdir("scoped")
    ma, mb = b"\x02\x00\x00\x00\x7c\x01", b"\x02\x00\x00\x00\x7c\x02"
    with ExitStack() as s:
        sw = s.enter_context(Switch([f"a=vhost-user:{d}/a.sock", f"b=vhost-user:{d}/b.sock"],
                                    name="threads-scoped", args=CPUS))
        a, b = NetDevice.connect(f"{d}/a.sock"), NetDevice.connect(f"{d}/b.sock")
        s.callback(a.close)
        s.callback(b.close)
        rc, _, err = sw.ctl("rebalance", "a=0", "b=1")
        check(rc == 0, f"ctl rebalance: {err}")
        owner, _ = placement(sw)
        check(owner == {"a": 0, "b": 1}, f"ports not placed as pinned: {owner}")
        parks0, all0, port0 = park_counts(sw)
        for _ in range(MEM_TABLES):
            a.fe.set_mem_table(a.memory)
        a.fe.sync()
        parks1, all1, port1 = park_counts(sw)
        b.send_frame(make_frame(60, 1, src=mb, dst=ma))
        a.send_frame(make_frame(60, 2, src=ma, dst=mb))
        got_a = [f for f in a.recv_frames(timeout=2) if f[6:12] == mb]
        got_b = [f for f in b.recv_frames(timeout=2) if f[6:12] == ma]
    print(f"  {MEM_TABLES} memory tables on port a: thread 0 parked "
          f"{parks1[0] - parks0[0]} times, thread 1 {parks1[1] - parks0[1]}; control events "
          f"{all1 - all0} with all parked, {port1 - port0} with port a's users only")
    # Several messages may be read per event: count events, not messages.
    check(port1 - port0 > all1 - all0,
          f"of the events while {MEM_TABLES} memory tables came, {all1 - all0} stopped "
          f"every thread and only {port1 - port0} port a's users")
    # Thread 1 parks only for the events that stop every thread (timers,
    # the second ctl show), never for port a's own.
    check(parks1[1] - parks0[1] <= all1 - all0,
          f"thread 1 parked {parks1[1] - parks0[1]} times, more than the "
          f"{all1 - all0} events that stop every thread")
    check(parks1[0] > parks0[0], "port a's thread never parked for its port's events")
    check(got_a and got_b, f"no forwarding after the memory tables: to a {len(got_a)}, "
          f"to b {len(got_b)}")


ETH_P_TEST = 0x88b5	# make_frame()'s ethertype
PACKET_OUTGOING = 4
CLONE_NEWNET = 0x40000000


def wait_learned(sw, mac, port, timeout=5.0):
    """Until ctl fdb shows @mac (bytes) on @port."""
    text, deadline = ":".join(f"{b:02x}" for b in mac), time.monotonic() + timeout
    while True:
        rc, out, err = sw.ctl("fdb")
        check(rc == 0, f"ctl fdb: {err}")
        if re.search(rf"^\s*\d+\s+{text}\s+{port}\s", out, re.M):
            return
        check(time.monotonic() < deadline, f"{text} not learned on {port} in {timeout} s:\n{out}")
        time.sleep(0.02)


def raw_socket(ifname, ns=None):
    """An AF_PACKET socket on ifname for ETH_P_TEST frames, made inside ns."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = open("/proc/self/ns/net") if ns else None
    try:
        if ns:
            with open(f"/var/run/netns/{ns}") as f:
                check(libc.setns(f.fileno(), CLONE_NEWNET) == 0, f"setns {ns}")
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_TEST))
        s.bind((ifname, ETH_P_TEST))
    finally:
        if home:
            libc.setns(home.fileno(), CLONE_NEWNET)
            home.close()
    s.settimeout(0.2)
    return s


class RawPeer:
    """A kernel interface sending and receiving Ethernet frames."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, frame):
        self.sock.send(frame)

    def recv(self):
        data, addr = self.sock.recvfrom(65536)
        return None if addr[2] == PACKET_OUTGOING else data


class VxlanPeer:
    """The far VTEP of vxlan:127.0.0.2,vni=VNI,local=127.0.0.1,port=PORT."""

    def __init__(self, stack, vni, port):
        self.vni, self.port = vni, port
        self.sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        self.sock.bind(("127.0.0.2", port))
        self.sock.settimeout(0.2)

    def send(self, frame):
        self.sock.sendto(struct.pack("!B3xI", 0x08, self.vni << 8) + frame,
                         ("127.0.0.1", self.port))

    def recv(self):
        return self.sock.recv(65536)[8:]


def quiet_ipv6(ifname, ns=None):
    """No router solicitations or MLD reports: the counts stay exact."""
    sh(*(["ip", "netns", "exec", ns] if ns else []), "sysctl", "-qw",
       f"net.ipv6.conf.{ifname}.disable_ipv6=1")


def host_peers(s):
    """The kernel ends of a tap, an afpacket veth and a vxlan port: {port: peer}."""
    sh("ip", "link", "del", "vmsw-tht", check_rc=False)
    sh("ip", "tuntap", "add", "dev", "vmsw-tht", "mode", "tap")
    s.callback(sh, "ip", "link", "del", "vmsw-tht", check_rc=False)
    quiet_ipv6("vmsw-tht")
    netns(s, "vmsw-thns")
    quiet_ipv6("default", "vmsw-thns")
    sh("ip", "link", "del", "vmsw-thp", check_rc=False)
    sh("ip", "link", "add", "vmsw-thp", "type", "veth", "peer", "name", "far",
       "netns", "vmsw-thns")
    s.callback(sh, "ip", "link", "del", "vmsw-thp", check_rc=False)
    quiet_ipv6("vmsw-thp")
    quiet_ipv6("far", "vmsw-thns")
    sh("ip", "link", "set", "vmsw-thp", "up")
    sh("ip", "-n", "vmsw-thns", "link", "set", "far", "up")
    return {"p": RawPeer(s.enter_context(raw_socket("far", "vmsw-thns"))),
            "x": VxlanPeer(s, 5, 4797)}


def receive(peer, want, n, deadline):
    """Frames to MAC want that peer receives, until n or deadline."""
    got = []
    while len(got) < n and time.monotonic() < deadline:
        try:
            f = peer.recv()
        except (socket.timeout, BlockingIOError):
            continue
        if f and f[:6] == want:
            got.append(f)
    return got


def wake_up_s(v, peer, src, dst):
    """Seconds a frame from peer takes to reach the guest when the threads sleep."""
    time.sleep(1.2)		# idle: past the poll window, asleep in epoll_wait
    t0 = time.monotonic()
    peer.send(make_frame(80, 0, src=src, dst=dst))
    while time.monotonic() - t0 < 3:
        if any(f[:6] == dst for f in v.recv_frames(timeout=0.05)):
            return round(time.monotonic() - t0, 3)
    return 3.0


@test
def host_ports_other_thread():
    """Guest <-> tap, afpacket and vxlan, each on the other thread: all arrive."""
    need_two_cpus()
    require_root()
    d = workdir("host")
    n, mv = 64, b"\x02\x00\x00\x00\x7c\x01"
    mac = {"t": b"\x02\x00\x00\x00\x7c\x02", "p": b"\x02\x00\x00\x00\x7c\x03",
           "x": b"\x02\x00\x00\x00\x7c\x04"}
    with ExitStack() as s:
        peer = host_peers(s)
        sw = wait_switch_ready(s.enter_context(Switch(
            [f"v=vhost-user:{d}/v.sock", "t=tap:vmsw-tht", "p=afpacket:vmsw-thp",
             "x=vxlan:127.0.0.2,vni=5,local=127.0.0.1,port=4797"],
            name="threads-host", args=CPUS)))
        peer["t"] = RawPeer(s.enter_context(raw_socket("vmsw-tht")))
        v = NetDevice.connect(f"{d}/v.sock")
        s.callback(v.close)
        if CPUS:
            rc, _, err = sw.ctl("rebalance", "v=0", "t=1", "p=1", "x=1")
            check(rc == 0, f"ctl rebalance: {err}")
            owner, _ = placement(sw)
            check(owner == {"v": 0, "t": 1, "p": 1, "x": 1}, f"placement: {owner}")
        # Host ports to the guest, all three at once (the guest's MAC learned
        # first: the ring gives the frame back before its thread learns from it).
        v.send_frame(make_frame(60, 0, src=mv, dst=b"\xff" * 6))
        check(v.wait_tx_done(2), "the guest's first frame was not taken")
        wait_learned(sw, mv, "v")
        for port in peer:
            for seq in range(n):
                peer[port].send(make_frame(80, seq, src=mac[port], dst=mv))
        got, deadline = [], time.monotonic() + 10
        while len(got) < 3 * n and time.monotonic() < deadline:
            got += [f for f in v.recv_frames(timeout=0.5) if f[:6] == mv]
        from_port = {p: sum(f[6:12] == mac[p] for f in got) for p in peer}
        # The guest to each host port, interleaved.
        for seq in range(n):
            for port in peer:
                v.send_frame(make_frame(80, seq, src=mv, dst=mac[port]))
            if seq % 16 == 15:
                v.wait_tx_done(2)
        check(v.wait_tx_done(2), "the guest's frames were not all taken")
        deadline = time.monotonic() + 10
        to_port = {p: len(receive(peer[p], mac[p], n, deadline)) for p in peer}
        wake = {p: wake_up_s(v, peer[p], mac[p], mv) for p in peer}
        if CPUS:
            # The tap moves to the guest's thread: its spare buffer goes home first.
            rc, _, err = sw.ctl("rebalance", "t=0")
            check(rc == 0 and placement(sw)[0]["t"] == 0, f"the tap did not move: {err}")
        for seq in range(n):
            peer["t"].send(make_frame(80, seq, src=mac["t"], dst=mv))
        moved, deadline = 0, time.monotonic() + 10
        while moved < n and time.monotonic() < deadline:
            moved += sum(f[6:12] == mac["t"] for f in v.recv_frames(timeout=0.5))
        time.sleep(0.3)
        st = sw.stats()["ports"]
    print(f"  woken by a frame after sleeping: {wake} s")
    check(max(wake.values()) < 0.25, f"a sleeping thread woke late for a frame: {wake}")
    print(f"  guest received {from_port}, host peers received {to_port}; "
          + ", ".join(f"{p} rx {st[p]['rx_packets']} tx {st[p]['tx_packets']}" for p in st))
    check(from_port == {p: n for p in peer}, f"the guest received {from_port}, not {n} each")
    check(moved == n, f"after the move the guest received {moved} of {n} frames from the tap")
    check(to_port == {p: n for p in peer}, f"the host peers received {to_port}, not {n} each")
    check(st["v"]["rx_packets"] == 1 + 3 * n and st["v"]["tx_packets"] == 4 * n + 3,
          f"port v: rx {st['v']['rx_packets']} tx {st['v']['tx_packets']}")
    for p in peer:
        rx = n + 1 + (n if p == "t" else 0)
        check(st[p]["rx_packets"] == rx and st[p]["tx_packets"] == n + 1,
              f"port {p}: rx {st[p]['rx_packets']} tx {st[p]['tx_packets']}, "
              f"expected {rx} and {n + 1}")
    for p in st:
        check(not st[p]["drops"], f"port {p} dropped: {st[p]['drops']}")


if __name__ == "__main__":
    main()
