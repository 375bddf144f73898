"""Thread-scaling section of bench.py: N datapath threads against N generators (issue 16).

For N = 1, 2, 4, ... the throughput loop of bench.py is run N times side by
side, one loop per switch thread:

  frontend  one dpdk-testpmd, 2N net_virtio_user ports in io forwarding, N
            forwarding lcores; lcore k forwards port pair (2k, 2k+1) and runs
            on CPU k (`show config fwd` is checked); the main lcore, which
            only answers commands, shares CPU N with the switch. `start
            tx_first 8`: 256 frames in flight per port, as in the throughput
            rows. Port 2k's frames are addressed to port 2k+1 and back, and
            the switch learns every port's MAC first (one burst per port
            while the frontend drops what it receives; the MAC table is then
            checked), so no frame is flooded into another pair's loop.
  vmswitch  `run --poll -q --cpus N..2N-1` under taskset on the same CPUs,
            ports a/b, a1/b1, ...; pair k is pinned to thread k (CPU N+k) with
            `ctl rebalance ak=k bk=k`, and `ctl show` must agree before anything
            is measured. Busy cycles per packet = ctl stats' datapath busy
            cycles / busy packets, which sum over the threads.
  OVS-DPDK  pmd-cpu-mask = CPUs N..2N-1, ports vh0..vh(2N-1), NORMAL action;
            vh2k and vh2k+1 have their rx queue pinned to the PMD on CPU N+k
            (pmd-rxq-affinity; `pmd-rxq-show` is checked); ovs-vswitchd's other
            threads and its DPDK lcore on CPU 0, as in the throughput rows.
            Busy cycles per packet = processing cycles / packets received,
            summed over the PMDs (pmd-stats-show).

So N needs 2N CPUs (the first 2N of this process's affinity mask): N for the
generator lcores, N for the switch. With M CPUs the section runs every power
of two N with 2N <= M (up to --threads-max) and says which N it left out and
why. Frames of 64 and 1518 bytes; per N and frame size vmswitch and OVS
alternate (--threads-rounds rounds), through bench.measure_run(), so the
windows, clean-window rules and medians are those of the throughput rows.
Reported: aggregate Mpps (the sum of the frontend's 2N ports' Rx-pps), busy
cycles per packet, the switch's busy share per thread, the frontend's busy
share per lcore (>= 90%: the generator, not the switch, is the limit) and
Mpps(N) / Mpps(1). A window in which a port pair carried nothing (its loop
lost its frames) is named in the output and in its record (dead_pairs).

--threads-oversubscribe runs every N up to --threads-max (default 2 then)
even without 2N CPUs, the CPUs taken round-robin: a functional dry run of the
code path on a small machine, marked "oversubscribed, not a measurement" in
the output and in every record (oversubscribed: true).

The functions take the bench module (B) for its helpers, as cpu_rate does.
"""

import argparse
import os
import re
import time

FRAMES = [64, 1518]
KINDS = ["vmswitch", "ovs"]
PLACE_WAIT_S = 10.0
OVERSUB = "oversubscribed, not a measurement"
FWD_LCORE = re.compile(r"Logical Core (\d+) .*?forwards packets on \d+ streams:(.*?)(?=Logical Core|\Z)",
                       re.S)
FWD_RX = re.compile(r"RX P=(\d+)/Q=\d+")
SW_PORT = re.compile(r"^port (\S+) \(.*?\n  queues: thread (\d+) \(cpu (\d+)\)", re.M | re.S)
OVS_PMD = re.compile(r"pmd thread numa_id \d+ core_id (\d+):(.*?)(?=pmd thread|\Z)", re.S)
OVS_RXQ = re.compile(r"port:\s+(\S+)\s+queue-id:\s+0")
MAC = re.compile(r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b")


def add_args(p):
    g = p.add_argument_group("threads section")
    g.add_argument("--threads-max", type=int, default=None,
                   help="largest N (default: as many as the CPUs allow, 2 with "
                   "--threads-oversubscribe)")
    g.add_argument("--threads-oversubscribe", action="store_true",
                   help="run every N up to --threads-max even without 2N CPUs: a functional "
                   "dry run, not a measurement")
    g.add_argument("--threads-frames", default=",".join(map(str, FRAMES)),
                   help="comma-separated frame sizes (default 64,1518)")
    g.add_argument("--threads-rounds", type=int, default=None,
                   help="interleaved rounds per N and frame size (default 1)")
    g.add_argument("--threads-nwin", type=int, default=None, help="windows per run (default 2)")
    g.add_argument("--threads-win", type=float, default=None,
                   help="window length in seconds (default 3, --quick 2)")


def finish_args(a, p):
    try:
        a.threads_frames = [int(x) for x in a.threads_frames.split(",")]
    except ValueError:
        p.error(f"bad --threads-frames {a.threads_frames}")
    if a.threads_max is not None and a.threads_max < 1:
        p.error("--threads-max must be at least 1")
    if a.threads_rounds is None:
        a.threads_rounds = 1
    if a.threads_nwin is None:
        a.threads_nwin = 2
    if a.threads_win is None:
        a.threads_win = 2.0 if a.quick else 3.0


def plan(args):
    """(CPUs usable, [N to run], [(N left out, CPUs needed)], oversubscribed)."""
    cpus = sorted(os.sched_getaffinity(0))
    over = args.threads_oversubscribe
    limit = args.threads_max or (2 if over else 1 << 20)
    run, left, n = [], [], 1
    while n <= limit:
        if 2 * n <= len(cpus) or (over and n <= len(cpus)):
            run.append(n)
        else:
            left.append((n, 2 * n))
            if args.threads_max is None:
                break               # say which N is next, not every N up to 2**20
        n *= 2
    return cpus, run, left, over and any(2 * n > len(cpus) for n in run)


def layout(cpus, n):
    """(generator lcore CPUs, switch CPUs) for N = n; round-robin if too few CPUs."""
    pick = [cpus[i % len(cpus)] for i in range(2 * n)]
    return pick[:n], pick[n:]


def cpu_list(cpus):
    return ",".join(map(str, cpus))


def fe_macs(n):
    return [f"02:00:00:00:01:{i:02x}" for i in range(2 * n)]


def make_frontend(B, socks, frame, n, fe_cpus, main_cpu):
    """A bench.Frontend with 2n ports, n forwarding lcores, pair k on lcore k+1."""
    fe = B.Frontend(socks, frame, 1, name="bthr")
    macs = fe_macs(n)
    fe.macs = macs
    fe.cores = ",".join([f"0@{main_cpu}"] + [f"{k + 1}@{c}" for k, c in enumerate(fe_cpus)])
    fe.args = [a for a in fe.args if not a.startswith("--eth-peer")]
    fe.args += [f"--eth-peer={i},{macs[i ^ 1]}" for i in range(2 * n)]
    fe.args += [f"--nb-cores={n}", f"--total-num-mbufs={max(16384, 4096 * n)}"]
    fe.mem = ["-m", str(max(256, 64 * n)), "--in-memory", "--single-file-segments"]
    return fe


def check_fe_layout(fe, n):
    """Raise unless forwarding lcore k+1 forwards exactly ports 2k and 2k+1."""
    out = fe.cmd("show config fwd")
    got = {int(m.group(1)): sorted(int(p) for p in FWD_RX.findall(m.group(2)))
           for m in FWD_LCORE.finditer(out)}
    want = {k + 1: [2 * k, 2 * k + 1] for k in range(n)}
    if got != want:
        raise RuntimeError(f"frontend forwarding lcores {got}, not {want}:\n{out}")
    return {str(k): v for k, v in got.items()}


def prelearn(fe):
    """Teach the switch every frontend MAC before the loops start.

    Until it knows them, the switch floods: a copy reaching another pair's
    port would be io-forwarded with a foreign source address, the switch
    would learn that MAC on the wrong port, and the pairs' loops would mix.
    So each port sends one burst while the frontend only receives (rxonly:
    flooded copies are dropped there); the io loops start afterwards."""
    fe.cmd("set fwd rxonly")
    fe.cmd("start tx_first 1")
    time.sleep(1.0)
    fe.cmd("stop")
    fe.cmd("set fwd io")


def fdb_want(macs, ports):
    return {m: p for m, p in zip(macs, ports)}


def wait_placement(read, want, what):
    """Poll read() until it returns want (PLACE_WAIT_S at most); return it."""
    deadline = time.monotonic() + PLACE_WAIT_S
    while True:
        got = read()
        if got == want:
            return got
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what}: placement {got}, not {want}")
        time.sleep(0.5)


def make_sut(B, kind, n, fe_cpus, sw_cpus):
    if kind == "vmswitch":
        sut = B.VmSwitchSut(1, args=["--cpus", cpu_list(sw_cpus)], pairs=n, tag="thr",
                            prefix=("taskset", "-c", cpu_list(sorted(set(sw_cpus)))))

        def read():
            code, out, err = sut.sw.ctl("show")
            if code:
                raise RuntimeError(f"ctl show: {err.strip() or code}")
            return {m.group(1): int(m.group(2)) for m in SW_PORT.finditer(out)}

        def check(fe):
            layout_fe = check_fe_layout(fe, n)
            pins = [f"{p}={i // 2}" for i, p in enumerate(sut.port_names)]
            code, _, err = sut.sw.ctl("rebalance", *pins)
            if code:
                raise RuntimeError(f"ctl rebalance {' '.join(pins)}: {err.strip() or code}")
            want = {p: i // 2 for i, p in enumerate(sut.port_names)}
            got = wait_placement(read, want, "vmswitch ctl show")
            prelearn(fe)
            fdb = wait_placement(read_fdb, fdb_want(fe_macs(n), sut.port_names),
                                 "vmswitch fdb show")
            return {"fe_lcores": layout_fe, "sw_placement": got, "sw_fdb": fdb}

        def read_fdb():
            code, out, err = sut.sw.ctl("fdb", "show")
            if code:
                raise RuntimeError(f"ctl fdb show: {err.strip() or code}")
            names = set(sut.port_names)
            return {m.group(0): p for line in out.splitlines() if (m := MAC.search(line))
                    for p in line.split() if p in names}
    else:
        sut = B.OvsSut(1, ports=2 * n, pmd_cpus=sorted(set(sw_cpus)),
                       rxq_cpus=[sw_cpus[i // 2] for i in range(2 * n)])

        def read():
            out = sut.appctl("dpif-netdev/pmd-rxq-show")
            return {p: int(m.group(1)) for m in OVS_PMD.finditer(out)
                    for p in OVS_RXQ.findall(m.group(2))}

        def check(fe):
            layout_fe = check_fe_layout(fe, n)
            want = {f"vh{i}.sock": sw_cpus[i // 2] for i in range(2 * n)}
            got = wait_placement(read, want, "OVS pmd-rxq-show")
            prelearn(fe)
            fdb = wait_placement(read_fdb, fdb_want(fe_macs(n), range(1, 2 * n + 1)),
                                 "OVS fdb/show")
            return {"fe_lcores": layout_fe, "sw_placement": got, "sw_fdb": fdb}

        def read_fdb():     # " port  VLAN  MAC  Age" rows; port = ofport = index + 1
            out = sut.appctl("fdb/show", "br0")
            return {m.group(0): int(line.split()[0]) for line in out.splitlines()
                    if (m := MAC.search(line)) and line.split()[0].isdigit()}
    sut.check_frontend = check
    sut.make_frontend = lambda frame, queues: make_frontend(B, sut.socks, frame, n, fe_cpus,
                                                            sw_cpus[0])
    return sut


def run(B, args, results):
    cpus, ns, left, over = plan(args)
    kinds = [k for k in KINDS if k in args.switches]
    frames = args.threads_frames
    info = {"cpus": cpus, "run": ns, "oversubscribed": over,
            "left_out": [{"n": n, "cpus_needed": need, "cpus_present": len(cpus)}
                         for n, need in left]}
    results["threads_plan"] = info
    B.log(f"bench: threads: N = {', '.join(map(str, ns)) or 'none'} on {len(cpus)} CPUs "
          f"({cpu_list(cpus)}), {', '.join(kinds)}, {'/'.join(map(str, frames))} bytes, "
          f"{args.threads_rounds} rounds x {args.threads_nwin} windows x {args.threads_win} s"
          + (f"; {OVERSUB.upper()}" if over else ""))
    for n, need in left:
        B.log(f"bench: threads: N={n} left out: needs {need} CPUs ({n} switch + {n} "
              f"generator), this machine has {len(cpus)}")
    wargs = argparse.Namespace(**vars(args))
    wargs.nwin, wargs.win = args.threads_nwin, args.threads_win
    B.HOST.hugepages(1024 + 32 * max(ns, default=1))
    out = results.setdefault("threads", [])
    broken = set()
    for n in ns:
        fe_cpus, sw_cpus = layout(cpus, n)
        oversub = 2 * n > len(cpus)
        B.log(f"bench: threads N={n}: generator lcores on CPUs {cpu_list(fe_cpus)}, switch on "
              f"{cpu_list(sw_cpus)}" + (f" ({OVERSUB})" if oversub else ""))
        for frame in frames:
            label = f"{frame}B-N{n}"
            for rnd in range(args.threads_rounds):
                for kind in kinds:
                    if kind in broken:
                        continue
                    recs = B.measure_run(make_sut(B, kind, n, fe_cpus, sw_cpus), frame, 1,
                                         wargs, label, rnd)
                    for r in recs:
                        r.update(threads=n, frame=frame, oversubscribed=oversub,
                                 fe_cpus=fe_cpus, sw_cpus=sw_cpus)
                        pps = r.get("rx_pps") or []
                        dead = [k for k in range(len(pps) // 2) if not pps[2 * k] + pps[2 * k + 1]]
                        if dead:    # a loop that lost its frames hides behind the sum
                            r["dead_pairs"] = dead
                            B.log(f"  {label} {kind} w{r['window']}: port pair(s) "
                                  f"{', '.join(map(str, dead))} carried no traffic")
                    if kind == "ovs" and any("error" in r for r in recs):
                        B.log("bench: threads: OVS failed; its remaining rows are left out")
                        broken.add(kind)
                    out += recs
                    B.save(args, results)


def report(B, args, results):
    recs = results.get("threads", [])
    info = results.get("threads_plan", {})
    B.log(f"\nThread scaling (issue 16): N switch threads on CPUs N..2N-1 against a testpmd "
          f"frontend with 2N ports and N forwarding lcores on CPUs 0..N-1, one port pair per "
          f"lcore and per switch thread (pinned, checked); Mpps = sum over the 2N ports; "
          f"{args.threads_nwin} windows x {args.threads_win:g} s per run, "
          f"{args.threads_rounds} rounds, medians over clean windows as above; busy = share of "
          f"one CPU per switch thread / per frontend lcore:\n")
    for left in info.get("left_out", []):
        B.log(f"N={left['n']} left out: needs {left['cpus_needed']} CPUs ({left['n']} switch + "
              f"{left['n']} generator), this machine has {left['cpus_present']}.")
    if info.get("oversubscribed"):
        B.log(f"Rows marked * are {OVERSUB}: switch threads and generator lcores share CPUs "
              f"(--threads-oversubscribe, a functional dry run).")
    rows = ["| frame | N | switch | Mpps median (p25-p75) | Mpps(N) / Mpps(1) "
            "| busy cycles/pkt median (p25-p75) | switch busy per thread "
            "| frontend busy per lcore | clean windows |", "|" + "---|" * 9]
    base = {}
    ns = sorted({r["threads"] for r in recs if "threads" in r})
    for frame in sorted({r["frame"] for r in recs if "frame" in r}):
        for n in ns:
            for kind in KINDS:
                sel = [r for r in recs if r.get("frame") == frame and r.get("threads") == n
                       and r["switch"] == kind]
                s = B.summarize(sel)
                if not s:
                    continue
                m, c = s["mpps"], s["cyc"]
                if n == 1:
                    base[(frame, kind)] = m[0]
                ratio = (f"{m[0] / base[(frame, kind)]:.2f}" if base.get((frame, kind))
                         and n > 1 else "1" if n == 1 else "-")
                fe = s["fe_busy"][0]
                fe_lc = fe / n if fe is not None else None
                # vmswitch's busy share sums over its threads; OVS's is busy / all PMD cycles.
                per = n if kind == "vmswitch" else 1
                busy = s["busy"][0] / per if s["busy"][0] is not None else None
                bound = " (frontend-bound)" if fe_lc is not None and fe_lc >= B.FE_BOUND_PCT \
                    else ""
                star = "*" if any(r.get("oversubscribed") for r in sel) else ""
                rows.append(f"| {frame} | {n}{star} | {kind} | {m[0]:.2f} ({m[1]:.2f}-{m[2]:.2f}) "
                            f"| {ratio} | {B.fmt(c[0], 0)} ({B.fmt(c[1], 0)}-{B.fmt(c[2], 0)}) "
                            f"| {B.fmt(busy, 0)}% | {B.fmt(fe_lc, 0)}%{bound} "
                            f"| {s['clean']}/{s['n']} |")
    B.log("\n".join(rows))
    for r in recs:
        if "error" in r:
            B.log(f"  failed: {r['config']} {r['switch']} round {r['round']}: {r['error']}")
        elif r.get("dead_pairs"):
            B.log(f"  {r['config']} {r['switch']} round {r['round']} window {r['window']}: "
                  f"port pair(s) {', '.join(map(str, r['dead_pairs']))} carried no traffic"
                  + (f" ({OVERSUB})" if r.get("oversubscribed") else ""))
