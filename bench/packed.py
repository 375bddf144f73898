"""Packed-ring section of bench.py: packed vs split virtqueues (issue 15).

The throughput topology of bench.py (one testpmd frontend, two net_virtio_user
ports in io forwarding, `start tx_first 8`, frontend on CPU 0, the switch
under test polling on CPU 1), with the frontend's ring layout as a variable:

  vmswitch packed   vmswitch --poll, frontend packed_vq=1 (VIRTIO_F_RING_PACKED)
  vmswitch split    vmswitch --poll, frontend packed_vq=0 (the throughput rows)
  testpmd packed    testpmd net_vhost io, frontend packed_vq=1
  testpmd split     testpmd net_vhost io, frontend packed_vq=0

at 64 and 1518 bytes, with 1 and 2 queue pairs, interleaved per round (A B C
D A B C D ...) as the throughput rows are, through bench.measure_run(): Mpps
(both directions), the switch's busy TSC cycles per packet, busy shares,
clean windows; 2 rounds by default (--packed-rounds): 4 configs x 4 kinds x
2 rounds of about 21 s, 11-12 minutes. Every run checks that the ring it measures is the one
negotiated: the frontend logs the features it negotiated (EAL
--log-level=pmd.net.virtio.init:debug, "features after negotiate") and bit 34
must be set on both ports exactly when packed_vq=1; for vmswitch `ctl show`
must agree. A run on the wrong ring is a failed run, not a row.

Callgrind instructions per packet for packed rings are in the callgrind
section (kinds "vmswitch+packed" and "testpmd+packed", 1 queue).

The functions take the bench module (B) for its helpers, as cpu_rate does.
"""

import os
import re

KINDS = ["vmswitch packed", "vmswitch split", "testpmd packed", "testpmd split"]
CONFIGS = {"64B": (64, 1), "1518B": (1518, 1), "64B-2q": (64, 2), "1518B-2q": (1518, 2)}
RING_PACKED = 1 << 34
LOGLEVEL = "--log-level=pmd.net.virtio.init:debug"
FE_FEATURES = re.compile(r"features after negotiate = ([0-9a-fA-F]+)")
SW_FEATURES = re.compile(r"^port (\S+) \(vhost-user\).*?\n  vhost-user .*?features (0x[0-9a-f]+|0),",
                         re.M | re.S)


def add_args(p):
    g = p.add_argument_group("packed section")
    g.add_argument("--packed-configs", default=",".join(CONFIGS),
                   help=f"comma-separated subset of {','.join(CONFIGS)}")
    g.add_argument("--packed-switches", default=",".join(k.replace(" ", "-") for k in KINDS),
                   help="comma-separated subset of "
                   f"{','.join(k.replace(' ', '-') for k in KINDS)}")
    g.add_argument("--packed-rounds", type=int, default=None,
                   help="interleaved rounds per config (default 2; windows as --nwin, --win)")


def finish_args(a, p):
    a.packed_configs = a.packed_configs.split(",")
    a.packed_switches = [k.replace("-", " ") for k in a.packed_switches.split(",")]
    bad = (set(a.packed_configs) - set(CONFIGS)) | (set(a.packed_switches) - set(KINDS))
    if bad:
        p.error(f"unknown --packed-configs/--packed-switches: {', '.join(sorted(bad))}")
    if a.packed_rounds is None:
        a.packed_rounds = 1 if a.quick else 2


def frontend_features(fe):
    """Features each virtio_user port negotiated, from this run's frontend log."""
    with open(fe.logpath, errors="replace") as f:
        f.seek(getattr(fe, "log_start", 0))
        return [int(x, 16) for x in FE_FEATURES.findall(f.read())]


def make_sut(B, kind, queues):
    base, ring = kind.split()
    sut = B.make_sut(base, queues)
    sut.name = kind
    want = ring == "packed"
    sut.fe_kwargs = {"packed_vq": int(want), "eal_args": [LOGLEVEL]}

    def check(fe):
        """Raise unless the ring measured is the one asked for; the features."""
        fe_feats = frontend_features(fe)
        rec = {"ring": ring, "fe_features": [hex(x) for x in fe_feats]}
        if len(fe_feats) != len(sut.socks):
            raise RuntimeError(f"{kind}: the frontend logged features of {len(fe_feats)} "
                               f"ports, not {len(sut.socks)} (see {fe.logpath})")
        if any(bool(x & RING_PACKED) != want for x in fe_feats):
            raise RuntimeError(f"{kind}: the frontend negotiated "
                               f"{', '.join(rec['fe_features'])}: VIRTIO_F_RING_PACKED "
                               f"{'missing' if want else 'set'}")
        if base == "vmswitch":
            code, out, err = sut.sw.ctl("show")
            sw_feats = {m.group(1): int(m.group(2), 16) for m in SW_FEATURES.finditer(out)}
            rec["sw_features"] = {n: hex(x) for n, x in sw_feats.items()}
            if code or sorted(sw_feats) != ["a", "b"] or \
                    any(bool(x & RING_PACKED) != want for x in sw_feats.values()):
                raise RuntimeError(f"{kind}: vmswitch's ctl show says {rec['sw_features']} "
                                   f"({err.strip() or 'rc ' + str(code)})")
        return rec
    sut.check_frontend = check
    return sut


def run(B, args, results):
    configs = [c for c in CONFIGS if c in args.packed_configs]
    kinds = [k for k in KINDS if k in args.packed_switches and k.split()[0] in args.switches]
    out = results.setdefault("packed", [])
    for label in configs:
        frame, queues = CONFIGS[label]
        B.log(f"bench: packed rings {label} ({frame} bytes, {queues} queue pair(s)): "
              f"{args.packed_rounds} rounds x {args.nwin} windows x {args.win} s, "
              f"{', '.join(kinds)}")
        for rnd in range(args.packed_rounds):
            for kind in kinds:
                out += B.measure_run(make_sut(B, kind, queues), frame, queues, args, label, rnd)
                B.save(args, results)


def report(B, args, results):
    recs = results.get("packed", [])
    if not any("error" not in r for r in recs):
        return
    configs = [c for c in CONFIGS if any(r["config"] == c for r in recs)]
    kinds = [k for k in KINDS if any(r["switch"] == k for r in recs)]
    B.log(f"\nPacked rings (issue 15): the throughput loop with the frontend on packed "
          f"(packed_vq=1) or split rings, {args.nwin} windows x {args.win:g} s per run, "
          f"{args.packed_rounds} interleaved rounds, medians over clean windows as above; every run "
          f"checked bit 34 in the frontend's (and vmswitch's) negotiated features:\n")
    rows = ["| config | switch, frontend ring | Mpps median (p25-p75) "
            "| switch busy cycles/pkt median (p25-p75) | switch busy | frontend busy "
            "| clean windows |", "|" + "---|" * 7]
    summary = {}
    for label in configs:
        for kind in kinds:
            s = B.summarize([r for r in recs if r["config"] == label and r["switch"] == kind])
            if not s:
                continue
            summary[(label, kind)] = s
            m, c = s["mpps"], s["cyc"]
            fe = s["fe_busy"][0]
            bound = " (frontend-bound)" if fe is not None and fe >= B.FE_BOUND_PCT else ""
            rows.append(f"| {label} | {kind} | {m[0]:.2f} ({m[1]:.2f}-{m[2]:.2f}) | "
                        f"{B.fmt(c[0], 0)} ({B.fmt(c[1], 0)}-{B.fmt(c[2], 0)}) | "
                        f"{B.fmt(s['busy'][0], 0)}% | {B.fmt(fe, 0)}%{bound} | "
                        f"{s['clean']}/{s['n']} |")
    B.log("\n".join(rows))

    def ratio(label, a, b, key):
        x, y = summary.get((label, a)), summary.get((label, b))
        if not x or not y or not x[key][0] or not y[key][0]:
            return "-"
        return f"{x[key][0] / y[key][0]:.2f}x"
    B.log("\n| config | vmswitch packed / split: cycles, Mpps | vmswitch / testpmd, packed: "
          "cycles, Mpps | vmswitch / testpmd, split: cycles, Mpps |\n|---|---|---|---|")
    for label in configs:
        B.log(f"| {label} | {ratio(label, 'vmswitch packed', 'vmswitch split', 'cyc')}, "
              f"{ratio(label, 'vmswitch packed', 'vmswitch split', 'mpps')} | "
              f"{ratio(label, 'vmswitch packed', 'testpmd packed', 'cyc')}, "
              f"{ratio(label, 'vmswitch packed', 'testpmd packed', 'mpps')} | "
              f"{ratio(label, 'vmswitch split', 'testpmd split', 'cyc')}, "
              f"{ratio(label, 'vmswitch split', 'testpmd split', 'mpps')} |")
    failed = [r for r in recs if "error" in r]
    for r in failed:
        B.log(f"  failed: {r['config']} {r['switch']} round {r['round']}: {r['error']}")
