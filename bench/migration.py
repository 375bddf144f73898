"""Migration section of bench.py: what dirty logging costs (issue 13).

1. Instructions per packet (callgrind) with the migration log off and on,
   64 and 1518-byte frames. vmswitch runs under valgrind (--poll, CPU 1)
   between two of our Python frontends (tests/lib/vhostfront.py): b sends
   bursts of 32 frames to a, a receives and re-posts; in the "on" run a has
   a log (SET_LOG_BASE), LOG_ALL and the LOG flag on its rings, as QEMU sets
   them when a migration starts. The Python frontend is slow, so the switch
   spends most instructions polling empty rings; what is compared is the
   delivery into the logged guest: vhost_tx's inclusive count (copies,
   ring updates and, when on, the logging) per packet.
2. The downtime and total time QEMU reports for a migration of an idle
   256 MiB TCG guest between two ports of one vmswitch.

The functions take the bench module (B) for its helpers, as cpu_rate does.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import time

FRAMES = [64, 1518]
BURST = 32
MA, MB = b"\x02\x00\x00\x00\x6d\x01", b"\x02\x00\x00\x00\x6d\x02"


def add_args(p):
    g = p.add_argument_group("migration section")
    g.add_argument("--mig-packets", type=int, default=None,
                   help="frames per callgrind run (default 20000)")


def finish_args(a, p):
    if a.mig_packets is None:
        a.mig_packets = 4000 if a.quick else 20000


def pump(vf, a, b, frame_len, count):
    """b sends count frames to a in bursts; returns frames a received."""
    frame = vf.make_frame(frame_len, 1, src=MB, dst=MA)
    got = 0
    while got < count:
        for _ in range(BURST):
            b.send_frame(frame, kick=False)
        b.tx[0].kick(force=True)
        b.wait_tx_done(2)
        b.reclaim_tx()
        got += len(a.recv_frames(timeout=2, count=BURST))
    return got


def callgrind_run(B, args, frame_len, logging):
    import dirtylog
    import vhostfront as vf
    d = os.path.join(B.RUN, "mig-cg")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    cgdir = os.path.join(B.WORK, "callgrind")
    os.makedirs(cgdir, exist_ok=True)
    tag = f"mig-{'on' if logging else 'off'}-{frame_len}"
    out = os.path.join(cgdir, f"cg.{tag}.%p")
    vg = ["taskset", "-c", "1", "valgrind", "--tool=callgrind", "--instr-atstart=no",
          f"--callgrind-out-file={out}"]
    pa, pb = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    sw = B.Switch([f"a=vhost-user:{pa}", f"b=vhost-user:{pb}"], name=f"bench-{tag}",
                  prefix=vg, args=["--poll", "-q"])
    sw.logpath = os.path.join(B.WORK, f"{tag}.log")
    sw.start(timeout=120)
    os.sched_setaffinity(0, {0})
    a = b = None
    try:
        features = vf.DEFAULT_NET_FEATURES & ~vf.bit(vf.VIRTIO_RING_F_EVENT_IDX)
        proto = vf.DEFAULT_PROTOCOL_FEATURES | vf.bit(vf.VHOST_USER_PROTOCOL_F_LOG_SHMFD)
        a = vf.NetDevice.connect(pa, timeout=60, features=features, protocol_features=proto,
                                 rx_buf_size=2048)
        b = vf.NetDevice.connect(pb, timeout=60)
        a.send_frame(vf.make_frame(60, 0, src=MA, dst=MB))
        b.recv_frames(timeout=5, count=1)
        log = dirtylog.start_logging(a) if logging else None
        pump(vf, a, b, frame_len, 200)                     # warm
        pid = str(sw.proc.pid)
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        n = pump(vf, a, b, frame_len, args.mig_packets)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pages = sum(bin(x).count("1") for x in bytes(log)) if log is not None else 0
    finally:
        for dev in (a, b):
            if dev is not None:
                dev.close()
        sw.stop()
        os.sched_setaffinity(0, set(range(os.cpu_count())))
    ir = B.callgrind_totals(os.path.join(cgdir, f"cg.{tag}.{pid}*"))
    tx = inclusive_ir(glob.glob(os.path.join(cgdir, f"cg.{tag}.{pid}*")), "vhost_tx")
    return {"frame": frame_len, "logging": logging, "packets": n, "ir": ir,
            "ir_per_pkt": tx / n if n else None, "total_ir_per_pkt": ir / n if n else None,
            "pages_marked": pages}


def inclusive_ir(paths, function):
    """Largest inclusive Ir callgrind_annotate shows for @function (its own
    entry; inlined pieces appear as smaller file:function lines)."""
    best = 0
    for path in paths:
        out = subprocess.run(["callgrind_annotate", "--inclusive=yes", path],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+) .*:" + function + r"(\s|$)", line)
            if m:
                best = max(best, int(m.group(1).replace(",", "")))
    return best


def downtime_run(B):
    """One migration of an idle guest; QEMU's own figures."""
    sys.path.insert(0, B.repo_path("tests/integ"))
    from contextlib import ExitStack
    import test_migration as tm     # noqa: F401 - its Setup only; tests do not run on import
    with ExitStack() as s:
        t = tm.Setup(s, "bench-mig")
        dst, uri = t.destination()
        st = t.migrate(uri)
        t.finish(dst)
        return {"status": st.get("status"), "downtime_ms": st.get("downtime"),
                "total_ms": st.get("total-time"),
                "transferred": st.get("ram", {}).get("transferred")}


def run(B, args, results):
    B.ensure_packages(["valgrind"])
    res = results.setdefault("migration", {"callgrind": [], "downtime": []})
    B.log("bench: migration, callgrind with the dirty log off and on "
          f"({args.mig_packets} frames per run), then a migration's downtime")
    for frame_len in FRAMES:
        for logging in (False, True):
            B.wait_idle(args.idle_wait)
            try:
                rec = callgrind_run(B, args, frame_len, logging)
                B.log(f"  {frame_len:5} B logging {'on ' if logging else 'off'}: "
                      f"{B.fmt(rec['ir_per_pkt'], 1)} instructions/packet "
                      f"({rec['packets']} packets, {rec['pages_marked']} pages marked)")
            except Exception as e:  # noqa: BLE001
                rec = {"frame": frame_len, "logging": logging, "error": str(e)}
                B.log(f"  {frame_len} B logging {logging}: FAILED: {e}")
            res["callgrind"].append(rec)
            B.save(args, results)
    try:
        rec = downtime_run(B)
        B.log(f"  migration of an idle 256 MiB TCG guest: {rec['status']}, downtime "
              f"{rec['downtime_ms']} ms, total {rec['total_ms']} ms")
    except Exception as e:  # noqa: BLE001
        rec = {"error": str(e)}
        B.log(f"  migration: FAILED: {e}")
    res["downtime"].append(rec)
    B.save(args, results)


def report(B, args, results):
    res = results.get("migration")
    if not res:
        return
    rows = ["| delivery into the logged guest, instructions/packet (callgrind, vhost_tx "
            "inclusive) | logging off | logging on | cost of logging |", "|---|---|---|---|"]
    by = {(r["frame"], r["logging"]): r for r in res["callgrind"] if "error" not in r}
    for frame_len in FRAMES:
        off, on = by.get((frame_len, False)), by.get((frame_len, True))
        if not off or not on:
            rows.append(f"| {frame_len} B | failed | | |")
            continue
        rows.append(f"| {frame_len} B | {off['ir_per_pkt']:.0f} | {on['ir_per_pkt']:.0f} | "
                    f"+{on['ir_per_pkt'] - off['ir_per_pkt']:.0f} "
                    f"({100 * (on['ir_per_pkt'] / off['ir_per_pkt'] - 1):.1f}%) |")
    for d in res["downtime"]:
        rows.append("")
        if "error" in d:
            rows.append(f"Migration: failed: {d['error']}")
        else:
            rows.append(f"Migration of an idle 256 MiB TCG guest between two vmswitch ports: "
                        f"{d['status']}, downtime {d['downtime_ms']} ms, total "
                        f"{d['total_ms']} ms.")
    B.log("\n".join(rows))
