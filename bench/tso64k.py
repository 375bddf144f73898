"""64 KiB TSO section of bench.py: Gbit/s and switch cycles per byte (issue 12).

Topology: one dpdk-testpmd frontend (--no-huge) with two net_virtio_user ports
that negotiate CSUM, HOST_TSO4, GUEST_CSUM and GUEST_TSO4 (testpmd: `csum set
tcp hw`, `tso set 1448`, rx_offload tcp_lro and tcp_cksum), in csum forwarding,
forwarding lcore on CPU 0; the switch under test on CPU 1 between them:

    frontend port 0 --TSO frame--> switch --whole--> frontend port 1 (LRO)
    frontend port 1 --TSO frame--> switch --whole--> frontend port 0 (LRO)

Every frame is one IPv4/TCP segment of 65 535 bytes (65 549 with Ethernet,
gso_size 1448). The csum engine sends each frame it receives out of the other
port as a TSO request (RTE_MBUF_F_TX_TCP_SEG, so the virtio PMD writes
GSO_TCPV4 + NEEDS_CSUM), and LRO makes the receiving port take it whole, so
a fixed set of frames circulates in two loops, one per direction.

Seeding: testpmd cannot make TCP frames itself (txonly and flowgen make UDP),
so two net_pcap ports read them from pcap files written here. With the switch
stopped (SIGSTOP), `set portlist 2,0` sends the first file's frames out of
port 0 and `set portlist 3,1` the second's out of port 1; they wait in the
frontend's transmit rings (about 30 frames of 34 descriptors fit in a ring of
1024) until the switch runs again (`--no-flush-rx` keeps testpmd from
draining anything). The switch learns both MACs from one `start tx_first` in
rxonly mode before.

Switches: vmswitch --poll (as in the throughput rows), testpmd net_vhost io
forwarding with tso=1 and legacy-ol-flags=1 (so its dequeue turns the GSO
header into TX offload flags and its enqueue writes it again: the frame stays
a GSO frame; without them testpmd hands the receiver a 64 KiB frame without a
header).

Interleaving: both switches and both frontends are set up once; the pair not
being measured is stopped with SIGSTOP (frames parked in its rings), and the
windows alternate vmswitch, testpmd, vmswitch, ... each after a short settle.
The machine's speed flips between a fast and a 1.5-3x slower state for
seconds at a time, so the figures of interest are per-pair ratios.

Per window: Gbit/s (frontend receive bytes on both ports, with Ethernet
header), frames/s, the switch's busy cycles per byte and per frame (vmswitch:
its busy-cycle counters; testpmd: --record-core-cycles; both over the frames
the switch itself counted, per byte over the frontend's average frame), the switch process's
CPU share, the frontend's cycles per frame, and for vmswitch gso_segmented /
csum_completed / drops from `ctl stats --json` (must stay 0: both ports take
TSO frames).

The functions take the bench module (B) for its helpers, as cpu_rate does.
"""

import os
import signal
import statistics
import struct
import time

from dpdkfe import VirtioUserPmd
from offload_frames import ofl_frame

KINDS = ["vmswitch", "testpmd"]
LABELS = {"vmswitch": "vmswitch --poll", "testpmd": "testpmd net_vhost io (tso=1)"}
MACS = ["02:00:00:00:00:20", "02:00:00:00:00:21"]
IP_TOTAL = 65535                   # IPv4 total length: the largest TCP segment
PAYLOAD = IP_TOTAL - 40            # TCP payload bytes per frame
FRAME_BYTES = 14 + IP_TOTAL        # 65 549
MSS = 1448
QUEUE = 1024                       # virtio ring size (frontend) and testpmd rxd/txd
NOISY_PCT = 10.0                   # other processes' CPU share that makes a window noisy


def add_args(p):
    g = p.add_argument_group("tso64k section")
    g.add_argument("--tso-pairs", type=int, default=None,
                   help="interleaved window pairs (vmswitch, testpmd) (default 8)")
    g.add_argument("--tso-seconds", type=float, default=None,
                   help="seconds per window (default 3)")
    g.add_argument("--tso-frames", type=int, default=None,
                   help="64 KiB frames seeded per direction (default 24)")
    g.add_argument("--tso-switches", default=",".join(KINDS),
                   help=f"comma-separated subset of {','.join(KINDS)}")


def finish_args(a, p):
    a.tso_switches = a.tso_switches.split(",")
    bad = set(a.tso_switches) - set(KINDS)
    if bad:
        p.error(f"unknown --tso-switches: {', '.join(sorted(bad))}")
    for key, full, quick in (("tso_pairs", 8, 3), ("tso_seconds", 3.0, 2.0),
                             ("tso_frames", 24, 24)):
        if getattr(a, key) is None:
            setattr(a, key, quick if a.quick else full)


def mac_bytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


def write_seed(path, n, direction):
    """A pcap of n 64 KiB IPv4/TCP frames (full checksums) for one direction."""
    dst, src = (MACS[1], MACS[0]) if direction == 0 else (MACS[0], MACS[1])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i in range(n):
            frame = ofl_frame(PAYLOAD, dst=mac_bytes(dst), src=mac_bytes(src),
                              seq=i * PAYLOAD, ip_id=i, csum="full")[0]
            f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)


class TsoFrontend(VirtioUserPmd):
    """testpmd: two virtio_user ports with TSO/LRO, two pcap seed ports, csum fwd."""

    def __init__(self, B, socks, tag):
        super().__init__(socks, name=f"btso-{tag}", macs=MACS, queue_size=QUEUE,
                         cores="0@1,1@0", args=[
                             "--forward-mode=rxonly", f"--rxd={QUEUE}", f"--txd={QUEUE}",
                             "--burst=32", f"--eth-peer=0,{MACS[1]}", f"--eth-peer=1,{MACS[0]}",
                             "--record-core-cycles", "--portlist=0,1", "--no-flush-rx"])
        self.logpath = os.path.join(B.WORK, f"tso-{tag}.testpmd.log")
        self.seeds = [os.path.join(B.RUN, f"tso-{tag}-seed{d}.pcap") for d in range(2)]
        self.sinks = [os.path.join(B.RUN, f"tso-{tag}-sink{d}.pcap") for d in range(2)]

    def command(self):
        argv = super().command()
        at = argv.index("--")
        pcaps = []
        for d in range(2):
            pcaps += ["--vdev", f"net_pcap{d},rx_pcap={self.seeds[d]},tx_pcap={self.sinks[d]}"]
        return argv[:at] + pcaps + argv[at:]

    def must(self, line):
        out = self.cmd(line)
        if "rror" in out or "not supported" in out or "nvalid" in out:
            raise RuntimeError(f"testpmd refused '{line}': {out.strip()}")
        return out

    def configure(self):
        for line in ("port stop all", "csum set tcp hw 0", "csum set tcp hw 1",
                     f"tso set {MSS} 0", f"tso set {MSS} 1",
                     "port config 0 rx_offload tcp_lro on", "port config 1 rx_offload tcp_lro on",
                     "port config 0 rx_offload tcp_cksum on",
                     "port config 1 rx_offload tcp_cksum on", "port start all"):
            self.must(line)
        for port in (0, 1):
            tx = self.cmd(f"show port {port} tx_offload configuration")
            rx = self.cmd(f"show port {port} rx_offload configuration")
            if "TCP_TSO" not in tx or "TCP_LRO" not in rx:
                raise RuntimeError(f"port {port} did not negotiate TSO/LRO: {tx} {rx}")

    def stats(self):
        """{port: (rx_packets, rx_bytes)} for the two virtio ports."""
        st = self.port_stats()
        return {p: (st[p]["rx_packets"], st[p]["rx_bytes"]) for p in (0, 1)}


def vhost_pmd_class(B):
    """bench.VhostPmd with tso=1 and legacy-ol-flags=1 on its net_vhost ports."""
    class TsoVhost(B.VhostPmd):
        def command(self):
            argv = super().command()
            return [a + ",tso=1,legacy-ol-flags=1" if a.startswith("net_vhost") else a
                    for a in argv]
    return TsoVhost


class Pair:
    """One switch under test with its own frontend; stoppable as a whole."""

    def __init__(self, B, kind):
        self.B, self.kind = B, kind
        tag = f"tso{kind[0]}"
        if kind == "vmswitch":
            self.sut = B.VmSwitchSut(1, tag=tag)
        else:
            self.sut = B.TestpmdSut(1, tag=tag)
            self.sut.pmd = vhost_pmd_class(B)(self.sut.socks, 1, name=f"bsw-{tag}")
        self.fe = TsoFrontend(B, self.sut.socks, kind)
        self.running = True

    def start(self, frames):
        try:
            return self._start(frames)
        except Exception:
            self.stop()
            raise

    def _start(self, frames):
        B = self.B
        B.HOST.procs.append(self.sut.stop)
        self.sut.start()
        for d in range(2):
            write_seed(self.fe.seeds[d], frames, d)
        self.fe.start()
        B.HOST.procs.append(self.fe.stop)
        self.fe.configure()
        self.fe.must("start tx_first 1")          # rxonly: the switch learns both MACs
        time.sleep(0.5)
        self.fe.cmd("stop")
        self.fe.must("set fwd csum")
        self.signal_sut(signal.SIGSTOP)           # park the seed in the transmit rings
        for d in range(2):
            self.fe.must(f"set portlist {2 + d},{d}")
            self.fe.must("start")
            time.sleep(0.5)
            self.fe.cmd("stop")
        self.fe.must("set portlist 0,1")
        self.signal_sut(signal.SIGCONT)
        self.fe.must("start")
        return self

    def sut_pids(self):
        return [p for p in self.sut.pids() if p]

    def signal_sut(self, sig):
        for pid in self.sut_pids():
            os.kill(pid, sig)

    def pause(self):
        """Stop the frontend, let the switch drain into it, then stop the switch."""
        if self.running:
            os.kill(self.fe.proc.pid, signal.SIGSTOP)
            time.sleep(0.05)
            self.signal_sut(signal.SIGSTOP)
            self.running = False

    def resume(self):
        if not self.running:
            self.signal_sut(signal.SIGCONT)
            os.kill(self.fe.proc.pid, signal.SIGCONT)
            self.running = True

    def vmswitch_counters(self):
        if self.kind != "vmswitch":
            return None
        ports = self.sut.sw.ports_json()
        return {"gso_segmented": sum(p["gso_segmented"] for p in ports.values()),
                "csum_completed": sum(p["csum_completed"] for p in ports.values()),
                "drops": sum(sum(p["drops"].values()) for p in ports.values()),
                "tx_packets": sum(p["tx_packets"] for p in ports.values()),
                "tx_bytes": sum(p["tx_bytes"] for p in ports.values())}

    def window(self, seconds, pair_no):
        """One measured window; the pair must be running."""
        B = self.B
        c0 = self.vmswitch_counters()
        self.fe.cmd("clear fwd stats all")
        self.sut.begin()
        s0 = self.fe.stats()
        cpu = B.CpuWindow(self.sut_pids() + [self.fe.proc.pid])
        sw_j0 = B.pid_jiffies(self.sut_pids()[0])
        t0 = time.monotonic()
        time.sleep(seconds)
        s1 = self.fe.stats()
        dt = time.monotonic() - t0
        sw_cpu = (B.pid_jiffies(self.sut_pids()[0]) - sw_j0) / B.CLK_TCK
        fe_cyc, fe_pkts, mhz = B.Frontend.fwd_cycles(self.fe)
        tsc_hz = mhz * 1e6 if mhz else B.tsc_fallback()
        sw = self.sut.end(tsc_hz)
        c1 = self.vmswitch_counters()
        frames = sum(s1[p][0] - s0[p][0] for p in (0, 1))
        nbytes = sum(s1[p][1] - s0[p][1] for p in (0, 1))
        rec = {"switch": self.kind, "pair": pair_no, "win_s": round(dt, 3),
               "frames": frames, "bytes": nbytes,
               "gbps": nbytes * 8 / dt / 1e9, "kfps": frames / dt / 1e3,
               "avg_frame_bytes": round(nbytes / frames, 1) if frames else None,
               "sw_busy_cycles": sw["sw_busy_cycles"], "sw_busy_packets": sw["sw_busy_packets"],
               "sw_cyc_per_frame": sw["sw_cyc_per_pkt"],
               "sw_cyc_per_byte": (sw["sw_cyc_per_pkt"] * frames / nbytes
                                   if nbytes and sw["sw_cyc_per_pkt"] else None),
               "sw_cpu_pct": round(100.0 * sw_cpu / dt, 1), "tsc_mhz": mhz,
               "fe_cyc_per_frame": fe_cyc / fe_pkts if fe_pkts else None,
               "fe_busy_pct": 100.0 * fe_cyc / (dt * tsc_hz)}
        if c0 is not None:
            rec.update({k: c1[k] - c0[k] for k in c0})
        rec.update(cpu.end())
        rec["clean"] = rec["foreign_pct"] <= NOISY_PCT
        return rec

    def stop(self):
        """Let everything run again (a stopped process ignores SIGTERM), then end it."""
        try:
            self.signal_sut(signal.SIGCONT)
            if self.fe.proc is not None:
                os.kill(self.fe.proc.pid, signal.SIGCONT)
        except (AttributeError, ProcessLookupError):   # not started, or gone
            pass
        self.running = True
        self.fe.stop()
        self.sut.stop()
        for stop in (self.fe.stop, self.sut.stop):
            if stop in self.B.HOST.procs:
                self.B.HOST.procs.remove(stop)


def run(B, args, results):
    kinds = [k for k in KINDS if k in args.tso_switches]
    B.log(f"\n== tso64k: 64 KiB TSO frames, {', '.join(kinds)}, {args.tso_pairs} interleaved "
          f"pairs of {args.tso_seconds:g} s windows, {args.tso_frames} frames per direction")
    out = results.setdefault("tso64k", [])
    B.wait_idle(args.idle_wait)
    pairs = []
    try:
        for kind in kinds:
            p = Pair(B, kind).start(args.tso_frames)
            pairs.append(p)
            time.sleep(1.0)                       # first frames around the loop
            p.pause()
        for n in range(args.tso_pairs):
            order = pairs if n % 2 == 0 else pairs[::-1]
            for p in order:
                p.resume()
                time.sleep(0.5)
                rec = p.window(args.tso_seconds, n)
                p.pause()
                out.append(rec)
                B.log(f"  {p.kind:8} pair {n}: {rec['gbps']:6.2f} Gbit/s "
                      f"{rec['kfps']:6.1f} kframes/s, {B.fmt(rec['sw_cyc_per_byte'], 3)} "
                      f"cycles/byte ({B.fmt(rec['sw_cyc_per_frame'], 0)}/frame), switch CPU "
                      f"{rec['sw_cpu_pct']}%, frame {rec['avg_frame_bytes']} B"
                      + (f", gso_segmented {rec['gso_segmented']} drops {rec['drops']}"
                         if "gso_segmented" in rec else "")
                      + ("" if rec["clean"] else f"  NOISY ({rec['foreign_pct']:.0f}%)"))
            B.save(args, results)
    except Exception as e:  # noqa: BLE001 - the other sections go on
        out.append({"error": str(e)})
        B.log(f"  tso64k FAILED: {e}")
    finally:
        for p in pairs:
            p.stop()
    B.save(args, results)


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def report(B, args, results):
    recs = [r for r in results.get("tso64k", []) if "error" not in r]
    if not recs:
        return
    B.log(f"\n64 KiB TSO frames between two DPDK virtio-user ports (testpmd csum fwd, tso "
          f"{MSS}, LRO), both directions, frames of {FRAME_BYTES} bytes; median (min-max) "
          f"over windows in which other processes took <= {NOISY_PCT:g}% of a CPU (all if "
          f"none); cycles = the switch's busy TSC cycles:\n")
    kinds = [k for k in KINDS if any(r["switch"] == k for r in recs)]
    clean = [r for r in recs if r.get("clean")] or recs
    B.log("| switch | Gbit/s | kframes/s | cycles/byte | cycles/frame | switch CPU % "
          "| frontend cycles/frame | gso_segmented | windows |")
    B.log("|---|---|---|---|---|---|---|---|---|")
    for k in kinds:
        rs = [r for r in clean if r["switch"] == k]
        g = [r["gbps"] for r in rs]
        seg = sum(r.get("gso_segmented", 0) for r in rs) if k == "vmswitch" else "-"
        B.log(f"| {LABELS[k]} | {med(g):.2f} ({min(g):.2f}-{max(g):.2f}) "
              f"| {med(r['kfps'] for r in rs):.1f} "
              f"| {B.fmt(med(r['sw_cyc_per_byte'] for r in rs), 3)} "
              f"| {B.fmt(med(r['sw_cyc_per_frame'] for r in rs), 0)} "
              f"| {B.fmt(med(r['sw_cpu_pct'] for r in rs), 0)} "
              f"| {B.fmt(med(r['fe_cyc_per_frame'] for r in rs), 0)} | {seg} | {len(rs)} |")
    if len(kinds) == 2:
        by = {(r["switch"], r["pair"]): r for r in clean}
        gr, cr = [], []
        for n in sorted({r["pair"] for r in clean}):
            a, b = by.get(("vmswitch", n)), by.get(("testpmd", n))
            if a and b and b["gbps"] and a["sw_cyc_per_byte"] and b["sw_cyc_per_byte"]:
                gr.append(a["gbps"] / b["gbps"])
                cr.append(b["sw_cyc_per_byte"] / a["sw_cyc_per_byte"])
        if gr:
            B.log(f"\nvmswitch / testpmd, per adjacent pair of windows ({len(gr)} pairs): "
                  f"Gbit/s {med(gr):.2f}x ({min(gr):.2f}-{max(gr):.2f}); testpmd's cycles per "
                  f"byte / vmswitch's {med(cr):.2f}x ({min(cr):.2f}-{max(cr):.2f})")
