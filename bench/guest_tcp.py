"""Guest TCP section of bench.py: two QEMU TCG guests, iperf3 both ways (issue 12).

Paths between the guests, interleaved round by round:
  vmswitch      vmswitch (adaptive poll loop, offloads negotiated), on CPU 1
  kernel        a Linux bridge with two taps, QEMU's own virtio-net (no vhost-net
                on this kernel; QEMU turns the tap offloads on), MSI-X
  testpmd       dpdk-testpmd net_vhost io forwarding (bench.TestpmdSut), CPU 1
  ovs           OVS-DPDK, NORMAL (bench.OvsSut), PMD on CPU 1
  ovs-tso       the same with other_config:userspace-tso-enable=true
Optional (--gt-paths): vmswitch-poll (vmswitch --poll), kernel-intx (the kernel
path with vectors=0, the legacy interrupts the vhost-user guests are given
because QEMU 7.2 TCG crashes with vhost-user and MSI-X).

Per path and round: boot both guests (10.0.0.1, 10.0.0.2), ping, then iperf3
g1 -> g2 and g2 -> g1 (g2 serves; -R for the second), each under a timeout.
Per direction the CPU time of the switch process and of each QEMU is recorded,
with the switch's port counters (average frame size from the sender shows
whether TSO segments crossed whole).

The functions take the bench module (B) for its helpers: bench.py runs as
__main__, so importing it here would make a second copy of its state.
"""

import json
import os
import re
import statistics
import subprocess
import time

from guest import Guest
from switch import Switch

PATHS = ["vmswitch", "kernel", "testpmd", "ovs", "ovs-tso"]
OPTIONAL = ["vmswitch-poll", "kernel-intx"]
LABELS = {
    "vmswitch": "vmswitch (offloads on, adaptive poll)",
    "vmswitch-poll": "vmswitch --poll (offloads on)",
    "kernel": "Linux bridge + tap, QEMU virtio-net (offloads on, MSI-X)",
    "kernel-intx": "Linux bridge + tap, QEMU virtio-net, vectors=0",
    "testpmd": "DPDK testpmd vhost, io forwarding",
    "ovs": "OVS-DPDK 3.1, NORMAL",
    "ovs-tso": "OVS-DPDK 3.1, NORMAL, userspace-tso-enable",
}
DIRECTIONS = ["g1->g2", "g2->g1"]
MACS = ["52:54:00:00:00:01", "52:54:00:00:00:02"]
IPS = ["10.0.0.1", "10.0.0.2"]
NOISY_PCT = 10.0     # other processes' CPU share above which a run is marked noisy
BRIDGE, TAPS = "vmswgt0", ["vmswgt1", "vmswgt2"]


def add_args(p):
    g = p.add_argument_group("guest_tcp section")
    g.add_argument("--gt-paths", default=",".join(PATHS),
                   help=f"comma-separated subset of {','.join(PATHS + OPTIONAL)}")
    g.add_argument("--gt-rounds", type=int, default=None, help="interleaved rounds (default 2)")
    g.add_argument("--gt-seconds", type=int, default=None,
                   help="iperf3 seconds per direction (default 10)")


def finish_args(a, p):
    a.gt_paths = a.gt_paths.split(",")
    bad = set(a.gt_paths) - set(PATHS + OPTIONAL)
    if bad:
        p.error(f"unknown --gt-paths: {', '.join(sorted(bad))}")
    if a.gt_rounds is None:
        a.gt_rounds = 1 if a.quick else 2
    if a.gt_seconds is None:
        a.gt_seconds = 4 if a.quick else 10


def sh(*argv, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


# =============================================================================
# Paths: start(), guest_kwargs(n), pids(), counters(), extra(), stop()
# counters(): {port index: [rx_packets, rx_bytes]} seen from the switch, rx = from that guest
# =============================================================================

class VmswPath:
    def __init__(self, B, poll=False):
        self.B = B
        self.socks = B.sockets(2, "gt")
        self.sw = Switch([f"g{i + 1}=vhost-user:{s}" for i, s in enumerate(self.socks)],
                         name="bench-gt-vmswitch", prefix=("taskset", "-c", "1"),
                         args=["-q"] + (["--poll"] if poll else []))
        self.sw.logpath = os.path.join(B.WORK, "gt-vmswitch.log")

    def start(self):
        self.sw.start(timeout=60)

    def guest_kwargs(self, n):
        return {"sock": self.socks[n]}

    def pids(self):
        return [self.sw.proc.pid]

    def stats(self):
        code, out, err = self.sw.ctl("stats", "--json")
        if code:
            raise RuntimeError(f"vmswitch ctl stats: {err}")
        return json.loads(out)

    def counters(self):
        st = self.stats()
        self.last = st
        ports = {p["name"]: p for p in st["ports"]}
        return {i: [ports[f"g{i + 1}"]["rx_packets"], ports[f"g{i + 1}"]["rx_bytes"],
                    ports[f"g{i + 1}"]["gso_segmented"], ports[f"g{i + 1}"]["csum_completed"]]
                for i in range(2)}

    def extra(self):
        d = self.last["datapath"]
        drops = {p["name"]: {k: v for k, v in p["drops"].items() if v}
                 for p in self.last["ports"]}
        return {"passes": d.get("passes"), "sleeps": d.get("sleeps"),
                "poll_window_us": d.get("poll_window_us"),
                "busy_cycles": d.get("busy_cycles"), "tsc_hz": d.get("tsc_hz"),
                "drops": {k: v for k, v in drops.items() if v}}

    def stop(self):
        self.sw.stop()
        for s in self.socks:
            self.B.remove_file(s)


class KernelPath:
    def __init__(self, B, intx=False):
        self.B, self.intx = B, intx

    def start(self):
        self.stop()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BRIDGE, "up")
        for t in TAPS:
            sh("ip", "tuntap", "add", "dev", t, "mode", "tap")
            sh("ip", "link", "set", t, "master", BRIDGE)
            sh("ip", "link", "set", t, "up")

    def guest_kwargs(self, n):
        return {"sock": None, "tap": TAPS[n], "intx": self.intx}

    def pids(self):
        return []

    def counters(self):
        def read(t, key):
            with open(f"/sys/class/net/{t}/statistics/{key}") as f:
                return int(f.read())
        return {i: [read(t, "rx_packets"), read(t, "rx_bytes")] for i, t in enumerate(TAPS)}

    def extra(self):
        feats = {}
        for t in TAPS:
            out = sh("ethtool", "-k", t, check=False)
            feats[t] = {k: v for k, v in re.findall(r"^(tx-checksumming|tcp-segmentation-offload"
                                                    r"|generic-receive-offload): (\w+)", out, re.M)}
        return {"tap_offloads": feats}

    def stop(self):
        for t in TAPS + [BRIDGE]:
            if os.path.exists(f"/sys/class/net/{t}"):
                sh("ip", "link", "del", t, check=False)


class TestpmdPath:
    def __init__(self, B):
        self.B = B
        self.sut = B.TestpmdSut(1, tag="gt")
        self.sut.pmd.logpath = os.path.join(B.WORK, "gt-testpmd.log")

    def start(self):
        self.sut.start()

    def guest_kwargs(self, n):
        return {"sock": self.sut.socks[n]}

    def pids(self):
        return self.sut.pids()

    def counters(self):
        st = self.B.Frontend.pps(self.sut.pmd)
        return {i: [st[i][0], st[i][1]] for i in range(2) if i in st}

    def extra(self):
        return {}

    def stop(self):
        self.sut.stop()


class OvsPath:
    def __init__(self, B, tso=False):
        self.B = B
        self.sut = B.OvsSut(1, other_config=["userspace-tso-enable=true"] if tso else ())

    def start(self):
        self.sut.start()

    def guest_kwargs(self, n):
        return {"sock": self.sut.socks[n]}

    def pids(self):
        return [p for p in self.sut.pids() if p]

    def counters(self):
        # Live counters (the Interface table's statistics lag by up to 5 s).
        out = self.sut.sh("ovs-ofctl", "dump-ports", "br0")
        ports = {}
        for m in re.finditer(r'port\s+"?([\w.]+)"?: rx pkts=(\d+), bytes=(\d+)', out):
            name = m.group(1)        # "1" or, as OVS 3.1 prints it, "vh0.sock"
            i = int(name) - 1 if name.isdigit() else (int(name[2]) if name[:2] == "vh" else -1)
            ports[i] = [int(m.group(2)), int(m.group(3))]
        return {i: ports[i] for i in range(2) if i in ports}

    def extra(self):
        out = self.sut.vsctl("get", "Interface", "vh0.sock", "status")
        feat = re.search(r'features="(0x[0-9a-f]+)"', out)
        return {"vh0_features": feat.group(1) if feat else None}

    def stop(self):
        self.sut.stop()


def make_path(B, kind):
    return {"vmswitch": lambda: VmswPath(B), "vmswitch-poll": lambda: VmswPath(B, poll=True),
            "kernel": lambda: KernelPath(B), "kernel-intx": lambda: KernelPath(B, intx=True),
            "testpmd": lambda: TestpmdPath(B), "ovs": lambda: OvsPath(B),
            "ovs-tso": lambda: OvsPath(B, tso=True)}[kind]()


class BenchGuest(Guest):
    """Guest with an optional vectors=0 on a tap NIC (kernel-intx)."""

    def __init__(self, *a, intx=False, **kw):
        super().__init__(*a, **kw)
        self.intx = intx

    def qemu_command(self):
        argv = super().qemu_command()
        if self.intx:
            i = next(k for k, v in enumerate(argv) if v.startswith("virtio-net-pci,"))
            if "vectors=" not in argv[i]:
                argv[i] += ",vectors=0"
        return argv


# =============================================================================
# One run: boot, ping, iperf3 both ways
# =============================================================================

def iperf(g, server_ip, seconds, reverse):
    """(Mbit/s or None, retransmits, error) of one iperf3 run, under timeouts."""
    limit = seconds + 15
    cmd = (f"timeout {limit} iperf3 -J -i 0 -c {server_ip} -t {seconds} "
           f"--connect-timeout 5000" + (" -R" if reverse else ""))
    try:
        status, out = g.run(cmd, timeout=limit + 15)
    except TimeoutError as e:
        return None, None, f"no answer from the guest within {limit + 15} s: {e}"[:300]
    try:
        result = json.loads(out[out.index("{"):]) if "{" in out else {}
    except ValueError:
        result = {}
    if status == 124 or status == 143:
        return None, None, f"iperf3 still running after {limit} s (killed): no TCP progress"
    if status != 0 or "error" in result or "end" not in result:
        return None, None, f"iperf3 exit {status}: {result.get('error', out[-200:])}"
    end = result["end"]
    bps = end.get("sum_received", {}).get("bits_per_second", 0)
    return bps / 1e6, end.get("sum_sent", {}).get("retransmits"), None


def measure(B, kind, rnd, args):
    B.wait_idle(args.idle_wait)
    path = make_path(B, kind)
    guests, recs = [], []
    base = {"path": kind, "round": rnd}
    try:
        B.HOST.procs.append(path.stop)
        path.start()
        t0 = time.monotonic()
        for n in range(2):
            g = BenchGuest(f"gt{n + 1}-{kind}", mac=MACS[n], ip=f"{IPS[n]}/24",
                           **path.guest_kwargs(n))
            g.logpath = os.path.join(B.WORK, f"gt{n + 1}-{kind}.console.log")
            g.start()
            guests.append(g)
            B.HOST.procs.append(g.stop)
        for g in guests:
            g.wait_ready(240)
        g1, g2 = guests
        base["boot_s"] = round(time.monotonic() - t0, 1)
        sent, got = g1.ping(IPS[1], count=5, interval=0.2, wait=2)
        base["ping"] = f"{got}/{sent}"
        B.log(f"  {kind:13} r{rnd}: guests up in {base['boot_s']} s, ping g1->g2 {got}/{sent}")
        for direction in DIRECTIONS:
            rec = dict(base, direction=direction)
            try:
                g2.iperf3_server()
                sender = 0 if direction == "g1->g2" else 1
                c0 = path.counters()
                qemu = [g.proc.pid for g in guests]
                cpu = B.CpuWindow(path.pids() + qemu)
                j0 = {p: B.pid_jiffies(p) for p in path.pids() + qemu}
                t = time.monotonic()
                mbps, retr, err = iperf(g1, IPS[1], args.gt_seconds, direction == "g2->g1")
                dt = time.monotonic() - t
                w = cpu.end()
                c1 = path.counters()
                cpu_s = {p: (B.pid_jiffies(p) - j0[p]) / B.CLK_TCK for p in j0}
                sw = [p for p in path.pids()]
                rec.update({"mbps": mbps, "retransmits": retr,
                            "win_s": round(dt, 2),
                            "sw_cpu_s": round(sum(cpu_s[p] for p in sw), 2) if sw else None,
                            "sw_cpu_pct": round(100 * sum(cpu_s[p] for p in sw) / dt, 1)
                            if sw else None,
                            "guest_cpu_pct": [round(100 * cpu_s[p] / dt, 1) for p in qemu],
                            "foreign_pct": w["foreign_pct"], "steal_pct": w["steal_pct"]})
                if err:             # a result (no TCP), not a failure of the bench
                    rec["fail"] = err
                d = {i: [b - a for a, b in zip(c0[i], c1[i])] for i in c1 if i in c0}
                if sender in d and d[sender][0]:
                    rec["sender_frames"] = d[sender][0]
                    rec["sender_avg_frame"] = round(d[sender][1] / d[sender][0])
                if len(d.get(sender, [])) >= 4:   # vmswitch: segmented / completed to the receiver
                    rec["gso_segmented"] = sum(v[2] for v in d.values())
                    rec["csum_completed"] = sum(v[3] for v in d.values())
                rec.update(path.extra())
                B.log(f"  {kind:13} r{rnd} {direction}: "
                      + (f"{mbps:7.0f} Mbit/s" if mbps is not None else f"FAILED ({err})")
                      + f"  switch CPU {B.fmt(rec['sw_cpu_pct'], 0)}%  guests "
                      f"{'/'.join(f'{x:.0f}' for x in rec['guest_cpu_pct'])}%  "
                      f"sender frames avg {rec.get('sender_avg_frame', '-')} B  "
                      f"other {w['foreign_pct']:.0f}%")
            except Exception as e:  # noqa: BLE001 - one failed direction, go on
                rec["error"] = str(e)[:300]
                B.log(f"  {kind} r{rnd} {direction}: FAILED: {e}")
            recs.append(rec)
    except Exception as e:  # noqa: BLE001 - one failed run must not end the benchmark
        B.log(f"  {kind} r{rnd}: FAILED: {e}")
        recs.append(dict(base, error=str(e)[:300]))
    finally:
        for g in guests:
            try:
                g.stop(timeout=10)
            except Exception as e:  # noqa: BLE001
                B.log(f"  guest stop: {e}")
            if g.stop in B.HOST.procs:
                B.HOST.procs.remove(g.stop)
        try:
            path.stop()
        except Exception as e:  # noqa: BLE001
            B.log(f"  stop: {e}")
        if path.stop in B.HOST.procs:
            B.HOST.procs.remove(path.stop)
    return recs


def run(B, args, results):
    from guestimg import ensure_assets
    B.ensure_packages(["qemu-system-x86", "iperf3", "ethtool"])
    ensure_assets()
    paths = [p for p in PATHS + OPTIONAL if p in args.gt_paths]
    paths = [p for p in paths if not (p.startswith("ovs") and "ovs" not in args.switches)
             and not (p == "testpmd" and "testpmd" not in args.switches)]
    B.log(f"bench: guest TCP, two TCG guests, iperf3 {args.gt_seconds} s each way; "
          f"{args.gt_rounds} rounds of {' '.join(paths)}")
    results.setdefault("guest_tcp", [])
    for rnd in range(args.gt_rounds):
        for kind in paths:
            results["guest_tcp"] += measure(B, kind, rnd, args)
            B.save(args, results)


def _med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def print_table(B, results):
    recs = results.get("guest_tcp", [])
    kinds = [k for k in PATHS + OPTIONAL if any(r["path"] == k for r in recs)]
    summ = {}
    for k in kinds:
        for d in DIRECTIONS:
            every = [r for r in recs if r["path"] == k and r.get("direction") == d]
            quiet = [r for r in every if (r.get("foreign_pct") or 0) <= NOISY_PCT]
            rs = quiet or every      # medians over the quiet runs where there are any
            ok = [r["mbps"] for r in rs if r.get("mbps")]
            summ[(k, d)] = {"ok": ok, "n": len(rs), "med": _med(ok),
                            "fails": [r.get("fail") or r.get("error") for r in rs
                                      if r.get("fail") or r.get("error")],
                            "noisy": len(every) - len(quiet), "all": len(every),
                            "sw": _med([r.get("sw_cpu_pct") for r in rs]),
                            "g": _med([sum(r["guest_cpu_pct"]) for r in rs
                                       if r.get("guest_cpu_pct")]),
                            "other": _med([r.get("foreign_pct") for r in rs]),
                            "frame": _med([r.get("sender_avg_frame") for r in rs if r.get("mbps")])}
        errs = [r["error"] for r in recs if r["path"] == k and "error" in r]
        if errs:
            summ[(k, "error")] = errs
    rows = ["| path between the guests | g1 → g2 Mbit/s | g2 → g1 Mbit/s "
            "| vmswitch / this (g1 → g2, g2 → g1) | switch process CPU, % of a core "
            "| both guests' QEMU CPU, % | other CPU (kernel, ...) % | frames from the sender, avg bytes "
            f"| runs (of them left out: other CPU > {NOISY_PCT:g}%) |",
            "|" + "---|" * 9]
    ref = {d: summ.get(("vmswitch", d), {}).get("med") for d in DIRECTIONS}

    def cell(s):
        if s["med"] is not None:
            lo, hi = min(s["ok"]), max(s["ok"])
            spread = f" ({lo:.0f}-{hi:.0f})" if len(s["ok"]) > 1 else ""
            bad = f", {len(s['fails'])} of {s['n']} failed" if s["fails"] else ""
            return f"{s['med']:.0f}{spread}{bad}"
        if s["fails"]:
            return f"no TCP ({len(s['fails'])}/{s['n']} runs: {s['fails'][0][:60]})"
        return "-"

    for k in kinds:
        a, b = summ[(k, "g1->g2")], summ[(k, "g2->g1")]
        if (k, "error") in summ and not a["n"]:
            rows.append(f"| {LABELS[k]} | failed: {summ[(k, 'error')][0][:80]} | | | | | | | |")
            continue
        ratio = ""
        if k != "vmswitch":
            parts = [f"{ref[d] / s['med']:.2f}x" if ref[d] and s["med"] else "-"
                     for d, s in ((DIRECTIONS[0], a), (DIRECTIONS[1], b))]
            ratio = ", ".join(parts)

        def both(key, nd=0):
            return " / ".join(B.fmt(s[key], nd) for s in (a, b))
        rows.append(f"| {LABELS[k]} | {cell(a)} | {cell(b)} | {ratio} | {both('sw')} "
                    f"| {both('g')} | {both('other')} | {both('frame')} "
                    f"| {a['all']} ({a['noisy']}) / {b['all']} ({b['noisy']}) |")
    B.log("\n".join(rows))
    for k in kinds:
        rs = [r for r in recs if r["path"] == k]
        fails = [r for r in rs if r.get("fail")]
        if fails:
            feats = sorted({r.get("vh0_features") for r in rs if r.get("vh0_features")})
            B.log(f"\n{LABELS[k]}: ping g1 -> g2 {', '.join(sorted({r.get('ping', '?') for r in rs}))}"
                  f" before iperf3; iperf3: {fails[0]['fail']}"
                  + (f"; negotiated features {', '.join(feats)}" if feats else ""))
    vm = [r for r in recs if r["path"] == "vmswitch" and r.get("mbps")]
    if vm:
        B.log(f"\nvmswitch runs: poll window at the end {[r.get('poll_window_us') for r in vm]} us; "
              f"segmented by the switch {sum(r.get('gso_segmented') or 0 for r in vm)}, checksums "
              f"completed {sum(r.get('csum_completed') or 0 for r in vm)}; drops "
              f"{[r.get('drops') for r in vm if r.get('drops')] or 'none'}")
