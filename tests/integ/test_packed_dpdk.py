#!/usr/bin/env python3
"""vmswitch with DPDK 22.11 virtio-user frontends on packed rings (issue 15).

Each test starts one switch and one dpdk-testpmd (--no-huge) whose
net_virtio_user ports come in pairs; testpmd forwards in mac mode between the
two ports of a pair (port 0 <-> 1, 2 <-> 3, ...), and every port has its own
vhost-user port on the switch, plus a port "py" for our Python frontend
(tests/lib/vhostfront.py, split ring).

    packed_q{1,2}_mrg{0,1}: packed_vq=1 with in_order=1 (ports 0, 1) and
        in_order=0 (ports 2, 3): the issue's matrix packed_vq=1 x mrg_rxbuf=0/1
        x in_order=0/1 x queues=1/2, four ports per testpmd.
    packed_off_and_split_beside_packed: ports 0, 1 on switch ports with
        packed=off while testpmd asks for packed_vq=1 (they fall back to split);
        port 2 packed beside port 3 split (packed_vq=0), one pair exchanging
        traffic through the switch.

In every test:
  features  `ctl show` says which ports negotiated VIRTIO_F_RING_PACKED (bit 34):
            all packed_vq=1 ports on a switch port that offers it, none else.
  counts    the switch first learns every port's MAC (each port sends a burst
            addressed to itself, which the switch filters), then each pair runs
            a closed loop (`start tx_first 4`): per port, frames testpmd sent =
            frames the switch received, what a port received went out its
            partner, no drops, and what the switch delivered but testpmd did not
            yet receive fits the rings.
  intact    after a drain (the frames left in the rings go to their own port
            and are filtered), every testpmd port forwards to py: py sends
            frames of 64, 1518 and 9000 bytes to each port, and each comes back
            from the port's partner byte for byte (testpmd's mac mode rewrites
            only the addresses). With mrg_rxbuf=1 testpmd's mbufs are 2 KiB with
            scatter on, so a 9000-byte frame lands in a mergeable chain of
            buffers and leaves as a multi-segment mbuf (a descriptor chain or an
            indirect table); with mrg_rxbuf=0 the mbufs are 10 KiB (what the
            virtio spec allows without mergeable buffers: one buffer per frame).

Run: python3 tests/integ/test_packed_dpdk.py [name-filter ...]
"""

import os
import re
import shutil
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from vhostfront import NetDevice, make_frame  # noqa: E402

RUN = "/tmp/vmsw-dpdk-packed"
RING_PACKED = 1 << 34            # VIRTIO_F_RING_PACKED
PY_MAC = "02:00:00:00:00:01"
SIZES = [64, 1518, 9000]
LOOP_S = 2.5                     # seconds each pair's loop runs
QUEUE_SIZE = 256
SHOW_PORT = re.compile(r"^port (\S+) \(vhost-user\)")
SHOW_FEATURES = re.compile(r"^  vhost-user .*features (0x[0-9a-f]+|0),")


def mac(i):
    return f"02:00:00:00:00:{0x10 + i:02x}"


def mac_bytes(m):
    return bytes.fromhex(m.replace(":", ""))


def partner(i):
    return i ^ 1


def negotiated(sw):
    """{port name: features it negotiated} from `ctl show`."""
    code, out, err = sw.ctl("show")
    check(code == 0, f"ctl show failed: {err.strip()}")
    feats, cur = {}, None
    for line in out.splitlines():
        if m := SHOW_PORT.match(line):
            cur = m.group(1)
        elif cur and (m := SHOW_FEATURES.match(line)):
            feats[cur] = int(m.group(1), 16)
    return feats


class Setup(ExitStack):
    """A switch with one vhost-user port per testpmd port (options from
    switch_opts) plus py, and a testpmd with those virtio_user ports."""

    def __init__(self, name, queues, mrg_rxbuf, ports, switch_opts=None):
        """ports: one dict of devargs per testpmd port (packed_vq, in_order, ...)."""
        super().__init__()
        self.name, self.queues, self.mrg_rxbuf = name, queues, mrg_rxbuf
        self.port_args = ports
        self.switch_opts = switch_opts or [""] * len(ports)
        self.n = len(ports)

    def __enter__(self):
        super().__enter__()
        d = os.path.join(RUN, self.name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        self.names = [f"p{i}" for i in range(self.n)]
        socks = [os.path.join(d, f"{n}.sock") for n in self.names]
        py_sock = os.path.join(d, "py.sock")
        specs = [f"{n}=vhost-user:{s},queues={self.queues}{o}"
                 for n, s, o in zip(self.names, socks, self.switch_opts)]
        self.sw = self.enter_context(Switch(specs + [f"py=vhost-user:{py_sock}"],
                                            name=f"packed-{self.name}"))
        # mrg_rxbuf=1: 2 KiB mbufs, a jumbo frame spans several (scatter);
        # mrg_rxbuf=0: one 10 KiB buffer per frame.
        bufs = (["--enable-scatter"] if self.mrg_rxbuf else ["--mbuf-size=10240"])
        self.pmd = self.enter_context(VirtioUserPmd(
            socks, name=f"packed-{self.name}", queues=self.queues, mrg_rxbuf=self.mrg_rxbuf,
            queue_size=QUEUE_SIZE, macs=[mac(i) for i in range(self.n)],
            port_devargs=self.port_args,
            args=["--forward-mode=mac", "--burst=32", "--max-pkt-len=9600", *bufs,
                  *(f"--eth-peer={i},{mac(i)}" for i in range(self.n))]))
        self.py = NetDevice.connect(py_sock)
        self.callback(self.py.close)
        return self

    def set_peers(self, peer_of):
        for i in range(self.n):
            out = self.pmd.cmd(f"set eth-peer {i} {peer_of(i)}")
            check("rror" not in out and "nvalid" not in out,
                  f"testpmd refused set eth-peer: {out.strip()}")

    # --- features ---------------------------------------------------------------

    def check_features(self, want_packed):
        """want_packed: per port, True if bit 34 must be negotiated, False if not."""
        feats = negotiated(self.sw)
        shown = ", ".join(f"{n} {feats.get(n, 0):#x}" for n in self.names)
        print(f"  {self.name}: negotiated features {shown}")
        for n, want in zip(self.names, want_packed):
            check(n in feats, f"ctl show gives no features for {n}")
            got = bool(feats[n] & RING_PACKED)
            check(got == want, f"{n}: VIRTIO_F_RING_PACKED {'not ' if want else ''}negotiated "
                               f"(features {feats[n]:#x}, wanted it {'on' if want else 'off'})")

    # --- counts -------------------------------------------------------------------

    def learn(self):
        """Every port sends a burst to itself: the switch learns its MAC and
        filters the burst (nothing floods into the other pairs' loops)."""
        self.set_peers(mac)
        self.pmd.cmd("start tx_first 1")
        time.sleep(0.5)
        self.pmd.cmd("stop")
        sw = self.sw.stats()
        check(sw["switch"].get("macs", 0) >= self.n,
              f"the switch learned {sw['switch'].get('macs')} MACs, wanted {self.n}")

    def loop_counts(self):
        self.learn()
        self.pmd.cmd("clear port stats all")
        before = self.sw.stats()["ports"]
        self.set_peers(lambda i: mac(partner(i)))
        self.pmd.cmd("start tx_first 4")
        time.sleep(LOOP_S)
        self.pmd.cmd("stop")
        time.sleep(0.5)
        fst = self.pmd.port_stats()
        after = self.sw.stats()["ports"]

        def delta(n, key):
            return after[n].get(key, 0) - before[n].get(key, 0)
        for n in self.names:
            check(not after[n]["drops"], f"{n} drops: {after[n]['drops']}")
            check(after[n]["faults"] == 0,
                  f"{n} closed for a broken rule: {after[n].get('last_fault')}")
        for i in range(0, self.n, 2):
            a, b = self.names[i], self.names[i + 1]
            print(f"  {self.name} ports {i},{i + 1} ({self.describe(i)} / {self.describe(i + 1)}): "
                  f"testpmd sent {fst[i]['tx_packets']}+{fst[i + 1]['tx_packets']}, "
                  f"switch {a} rx {delta(a, 'rx_packets')} -> {b} tx {delta(b, 'tx_packets')}, "
                  f"{b} rx {delta(b, 'rx_packets')} -> {a} tx {delta(a, 'tx_packets')}")
            check(delta(a, "rx_packets") > 10000 and delta(b, "rx_packets") > 10000,
                  f"ports {i},{i + 1}: too little traffic flowed")
            for p, n in ((i, a), (i + 1, b)):
                check(fst[p]["tx_packets"] == delta(n, "rx_packets"),
                      f"port {p}: testpmd sent {fst[p]['tx_packets']}, switch received "
                      f"{delta(n, 'rx_packets')}")
            check(delta(a, "rx_packets") == delta(b, "tx_packets")
                  and delta(b, "rx_packets") == delta(a, "tx_packets"),
                  f"ports {i},{i + 1}: switch received != switch delivered")
            for p, n in ((i, a), (i + 1, b)):
                pending = delta(n, "tx_packets") - fst[p]["rx_packets"]
                check(0 <= pending <= QUEUE_SIZE * self.queues,
                      f"port {p}: {pending} frames delivered but not in its rings")
            if self.queues > 1:
                for p, n in ((i, a), (i + 1, b)):
                    used = sorted(q for (q, d), c in after[n]["queues"].items()
                                  if d == "rx" and c > before[n]["queues"].get((q, d), 0))
                    check(used == list(range(self.queues)),
                          f"port {p}: frames arrived on queue(s) {used} only")

    def describe(self, i):
        a = {"packed_vq": 1, "in_order": 1, "mrg_rxbuf": self.mrg_rxbuf}
        a.update(self.port_args[i] or {})
        s = ("packed" if a["packed_vq"] else "split") + \
            f" in_order={a['in_order']} mrg_rxbuf={a['mrg_rxbuf']}"
        return s + (" " + self.switch_opts[i].lstrip(",") if self.switch_opts[i] else "")

    # --- intact ---------------------------------------------------------------------

    def intact(self, reps=2):
        # Frames still in the rings from the loop go to their own port: filtered.
        self.set_peers(mac)
        self.pmd.cmd("start")
        time.sleep(0.3)
        self.pmd.cmd("stop")
        self.set_peers(lambda i: PY_MAC)
        self.pmd.cmd("start")
        py = mac_bytes(PY_MAC)
        sent = got = 0
        seq = 0
        for rep in range(reps):
            for i in range(self.n):
                for size in SIZES:
                    seq += 1
                    f = make_frame(size, seq, src=py, dst=mac_bytes(mac(i)))
                    self.py.send_frame(f)
                    sent += 1
                    back = self.recv_seq(seq)
                    check(back is not None,
                          f"a {size}-byte frame to port {i} ({self.describe(i)}) did not "
                          f"come back{self.faults()}")
                    want = py + mac_bytes(mac(partner(i))) + f[12:]
                    check(back == want,
                          f"a {size}-byte frame to port {i} ({self.describe(i)}) came back "
                          f"changed ({len(back)} bytes)")
                    got += 1
                self.py.reclaim_tx()
        self.pmd.cmd("stop")
        print(f"  {self.name}: {got} of {sent} frames of {'/'.join(map(str, SIZES))} bytes "
              f"came back intact through each of the {self.n} ports")

    def faults(self):
        """'; switch: NAME closed for a broken rule: WHY' for each such port."""
        st = self.sw.stats()["ports"]
        return "".join(f"; switch: {n} closed for a broken rule: {p.get('last_fault')}"
                       for n, p in st.items() if p["faults"])

    def recv_seq(self, seq, timeout=5.0):
        """The next frame py gets that carries seq (anything else is a leftover)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self.py.recv_frames(timeout=max(0.05, deadline - time.monotonic()),
                                              count=1):
                if f[12:14] == b"\x88\xb5" and f[14:18] == seq.to_bytes(4, "big"):
                    return f
        return None


def run_pairs(name, queues, mrg_rxbuf, ports, want_packed, switch_opts=None):
    with Setup(name, queues, mrg_rxbuf, ports, switch_opts) as s:
        s.check_features(want_packed)
        s.loop_counts()
        s.intact()
        sw = s.sw.stats()["ports"]
        check(all(sw[n]["faults"] == 0 for n in s.names + ["py"]),
              "a port was closed for a broken rule")
        check(s.sw.alive(), "the switch died")


def make_matrix():
    for queues in (1, 2):
        for mrg in (0, 1):
            def t(queues=queues, mrg=mrg):
                run_pairs(f"q{queues}_mrg{mrg}", queues, mrg,
                          [dict(packed_vq=1, in_order=1), dict(packed_vq=1, in_order=1),
                           dict(packed_vq=1, in_order=0), dict(packed_vq=1, in_order=0)],
                          [True] * 4)
            t.__name__ = f"packed_q{queues}_mrg{mrg}_inorder01"
            test(t)


make_matrix()


@test
def packed_off_and_split_beside_packed():
    """packed=off on ports 0, 1 (testpmd asks for packed_vq=1: split is what
    it gets and forwards on); port 2 packed, port 3 split, one loop."""
    run_pairs("off_mixed", 2, 1,
              [dict(packed_vq=1), dict(packed_vq=1), dict(packed_vq=1), dict(packed_vq=0)],
              [False, False, True, False],
              switch_opts=[",packed=off", ",packed=off", "", ""])


if __name__ == "__main__":
    main()
