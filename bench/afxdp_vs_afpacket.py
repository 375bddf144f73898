#!/usr/bin/env python3
"""Mpps through vmswitch's kernel uplink ports on veth: AF_XDP against AF_PACKET.

    gen netns             root netns (vmswitch --poll)            sink netns
    testpmd txonly -> far ==veth== afxb-in [in]  ->  [out] afxb-out ==veth== far

dpdk-testpmd (net_af_packet PMD, txonly, 64-byte UDP frames to an unknown MAC)
floods the switch's "in" port; the switch forwards every frame to "out", and
the sink namespace's kernel drops them. Rows: rx Mpps on "in" and tx Mpps on
"out" (vmswitch's SIGUSR1 counters over the measuring window), the generator's
own Tx-pps, and drops. Port types that this vmswitch does not have are shown
as n/a (the afpacket type is written in parallel; the row fills in once it
exists).

Run as root on an otherwise quiet machine: it uses two cores (switch on CPU
0, generator on CPU 1) for about ten seconds per row. Results go to stdout
and bench/results/afxdp-<time>.json.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from hostutil import ensure_packages, log_dir, stop_process  # noqa: E402
from switch import Switch  # noqa: E402

GEN_NS, SINK_NS = "afxb-gen", "afxb-sink"
IN_IF, OUT_IF = "afxb-in", "afxb-out"

# (row label, port spec for "in" and "out" given an interface name)
VARIANTS = {
    "afxdp-native": lambda ifname: f"afxdp:{ifname},mode=native",
    "afxdp-generic": lambda ifname: f"afxdp:{ifname},mode=generic",
    "afpacket": lambda ifname: f"afpacket:{ifname}",
}


def sh(*cmd, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stdout}")
    return r.stdout


def teardown():
    for ns in (GEN_NS, SINK_NS):
        sh("ip", "netns", "del", ns, check=False)
    for ifname in (IN_IF, OUT_IF):
        sh("ip", "link", "del", ifname, check=False)


def setup():
    """Two veth pairs: the switch's ends here, the far ends in gen and sink."""
    teardown()
    for ns, ifname in ((GEN_NS, IN_IF), (SINK_NS, OUT_IF)):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", ifname, "type", "veth", "peer", "name", "far", "netns", ns)
        sh("ip", "link", "set", ifname, "up")
        sh("ip", "-n", ns, "link", "set", "far", "up")


def start_generator(size, cpu):
    """testpmd txonly on the gen namespace's veth end; its forwarding lcore is cpu."""
    logpath = os.path.join(log_dir(), "afxb-testpmd.log")
    log = open(logpath, "wb")
    cmd = ["ip", "netns", "exec", GEN_NS, "dpdk-testpmd", "-l", f"{1 - cpu},{cpu}",
           "--main-lcore", str(1 - cpu), "--no-pci", "--no-huge", "-m", "1024",
           "--file-prefix", "afxbench", "--vdev", "net_af_packet0,iface=far,qpairs=1",
           "--", "--forward-mode=txonly", f"--txpkts={size - 4}", "--nb-cores=1",
           "--stats-period", "1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, logpath


def generator_pps(logpath):
    """Median of testpmd's per-second Tx-pps readings."""
    with open(logpath, errors="replace") as f:
        vals = [int(v) for v in re.findall(r"Tx-pps:\s+(\d+)", f.read())]
    vals = sorted(v for v in vals if v > 0)
    return vals[len(vals) // 2] if vals else 0


def measure(label, spec, size, seconds, warmup):
    """One row: vmswitch with two ports of this type, traffic for seconds."""
    sw = Switch([f"in={spec(IN_IF)}", f"out={spec(OUT_IF)}"], name=f"afxb-{label}",
                args=["--poll"], prefix=["taskset", "-c", "0"])
    try:
        sw.start()
        time.sleep(0.5)
    except RuntimeError:
        pass
    if not sw.alive():
        out = sw.output().strip().splitlines()
        sw.stop()
        return {"type": label, "available": False, "why": out[-1] if out else "exited"}
    gen, logpath = start_generator(size, cpu=1)
    try:
        time.sleep(warmup)
        sa, t0 = sw.stats(), time.monotonic()
        time.sleep(seconds)
        sb, t1 = sw.stats(), time.monotonic()
        log = sw.output()
    finally:
        stop_process(gen, sig=signal.SIGINT)
        sw.stop()
    dt, a, b = t1 - t0, sa["ports"], sb["ports"]
    pkts = sb["datapath"]["busy_packets"] - sa["datapath"]["busy_packets"]
    cycles = sb["datapath"]["busy_cycles"] - sa["datapath"]["busy_cycles"]
    rx = (b["in"]["rx_packets"] - a["in"]["rx_packets"]) / dt
    tx = (b["out"]["tx_packets"] - a["out"]["tx_packets"]) / dt
    drops = {f"{p}.{k}": v - a[p]["drops"].get(k, 0)
             for p in ("in", "out") for k, v in b[p]["drops"].items()}
    mode = re.findall(r"port (?:in|out): AF_XDP on \S+ queue \d+, (.*)", log)
    return {"type": label, "available": True, "rx_mpps": rx / 1e6, "tx_mpps": tx / 1e6,
            "gen_mpps": generator_pps(logpath) / 1e6, "drops": drops,
            "cycles_per_packet": cycles / pkts if pkts else 0,
            "mode": mode[0] if mode else "", "frame": size, "seconds": dt}


def print_row(r):
    if not r["available"]:
        print(f"{r['type']:<14} n/a ({r['why']})")
        return
    drops = ", ".join(f"{k} {v}" for k, v in r["drops"].items() if v) or "none"
    print(f"{r['type']:<14} rx {r['rx_mpps']:6.3f} Mpps  tx {r['tx_mpps']:6.3f} Mpps  "
          f"generator {r['gen_mpps']:6.3f} Mpps  "
          f"switch {r['cycles_per_packet']:5.0f} busy cycles/packet  {r['mode']}  "
          f"drops: {drops}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5, help="measuring window (default 5)")
    ap.add_argument("--warmup", type=float, default=2, help="seconds before measuring")
    ap.add_argument("--size", type=int, default=64, help="frame size with FCS (default 64)")
    ap.add_argument("types", nargs="*", default=list(VARIANTS),
                    help=f"rows to run (default: {' '.join(VARIANTS)})")
    args = ap.parse_args()
    if os.geteuid():
        sys.exit("afxdp_vs_afpacket: needs root")
    ensure_packages(["dpdk", "librte-net-af-packet23", "libxdp-dev", "libbpf-dev"])
    rows = []
    setup()
    try:
        print(f"vmswitch --poll on CPU 0, testpmd txonly on CPU 1, {args.size}-byte "
              f"frames, {args.seconds:g} s per row", flush=True)
        for label in args.types:
            rows.append(measure(label, VARIANTS[label], args.size, args.seconds,
                                args.warmup))
            print_row(rows[-1])
    finally:
        teardown()
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results",
                        time.strftime("afxdp-%Y-%m-%dT%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"rows": rows, "args": vars(args)}, f, indent=1)
    print(f"results: {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
