#!/usr/bin/env python3
"""vmswitch beside its peers: throughput, cycles, instructions, latency, scale.

Topology (doc: /work/shared/reference/bench.md section 1a): one dpdk-testpmd
"frontend" with two net_virtio_user ports in io forwarding, started with
`start tx_first 8`, forwarding lcore on CPU 0; the switch under test polls on
CPU 1 and forwards between its two vhost-user ports; packets circulate.
Throughput = frontend Rx-pps(port 0) + Rx-pps(port 1) per window.

Switches (interleaved A B C A B C per config):
  vmswitch  build/vmswitch run --poll -q (busy cycles from its SIGUSR1 counters)
  testpmd   dpdk-testpmd net_vhost io-fwd (--record-core-cycles)
  ovs       Open vSwitch with DPDK, netdev bridge, NORMAL action (pmd-stats-show)

Sections: throughput, scale (vmswitch with 1000 / 100000 learned MACs and 64
ports), latency (round trip at a light fixed rate), callgrind (instructions
per packet under valgrind), cpu_rate (switch CPU per frame at fixed rates,
bench/cpu_rate.py), migration (bench/migration.py), tso64k (64 KiB TSO frames
between two virtio-user ports, Gbit/s and cycles per byte, bench/tso64k.py),
packed (the throughput loop with the frontend on packed or split rings, vmswitch
and testpmd, 64/1518 bytes, 1/2 queues, bench/packed.py; callgrind measures
packed rings too), threads (scaling rows: N = 1, 2, 4, ... datapath threads of
vmswitch beside OVS-DPDK with N PMD threads, 64/1518 bytes, N port pairs and N
frontend lcores, as many N as the machine has CPUs for, bench/threads.py); not
by default: guest_tcp (two QEMU guests, iperf3,
bench/guest_tcp.py). Python standard library only; run as root.
"""

import argparse
import atexit
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from hostutil import ensure_packages, remove_file, repo_path, wait_for_path  # noqa: E402
from switch import Switch, binary  # noqa: E402

import cpu_rate  # noqa: E402  (bench/: sections in their own modules)
import guest_tcp  # noqa: E402
import migration  # noqa: E402
import packed  # noqa: E402
import threads  # noqa: E402
import tso64k  # noqa: E402

RUN = "/tmp/vmsw-bench"                      # sockets
WORK = repo_path("build/bench")              # logs, OVS dirs, callgrind files
FE_MACS = ["02:00:00:00:00:10", "02:00:00:00:00:11"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
SWITCHES = ["vmswitch", "testpmd", "ovs"]
SECTIONS = ["throughput", "scale", "latency", "callgrind", "cpu_rate", "migration",
            "tso64k", "packed", "threads", "guest_tcp"]
DEFAULT_SECTIONS = ["throughput", "scale", "latency", "callgrind", "cpu_rate", "migration",
                    "tso64k", "packed", "threads"]
CONFIGS = {  # name: (frame bytes, queue pairs)
    "64B": (64, 1), "512B": (512, 1), "1518B": (1518, 1), "64B-2q": (64, 2)}
FE_BOUND_PCT = 90.0                          # frontend busy share that means "frontend-bound"
CLEAN_FOREIGN_PCT = 3.0
CLEAN_STEAL_PCT = 3.0

PPS = re.compile(r"NIC statistics for port (\d+).*?RX-packets:\s+(\d+).*?RX-bytes:\s+(\d+)"
                 r".*?Rx-pps:\s+(\d+)", re.S)
FWD_CYCLES = re.compile(r"CPU cycles/packet=([\d.]+) \((?:busy|total) cycles=(\d+) / total \S+ "
                        r"packets=(\d+)\) at (\d+) MHz")


def log(msg):
    print(msg, flush=True)


# =============================================================================
# Host: packages, hugepages, CPU accounting, process bookkeeping
# =============================================================================

class Host:
    """What the benchmark changed on the machine, undone by cleanup()."""

    def __init__(self):
        self.procs = []            # Popen objects / callables to stop at exit
        self.hugepages_before = None
        self.mounted = None

    def prepare(self, need_ovs, need_valgrind):
        pkgs = ["dpdk", "dpdk-dev", "librte-net-vhost23", "librte-net-virtio23"]
        if need_ovs:
            pkgs.append("openvswitch-switch-dpdk")
        if need_valgrind:
            pkgs.append("valgrind")
        log(f"bench: checking packages {' '.join(pkgs)}")
        ensure_packages(pkgs)
        if not os.path.exists(binary()):
            subprocess.run(["make", "-C", repo_path(".")], check=True)
        # Measure one binary throughout, even if build/vmswitch is rebuilt meanwhile.
        os.makedirs(WORK, exist_ok=True)
        snap = os.path.join(WORK, "vmswitch")
        shutil.copy2(binary(), snap + ".tmp")
        os.replace(snap + ".tmp", snap)
        os.environ["B"] = os.path.relpath(WORK, repo_path("."))
        with open(snap, "rb") as f:
            self.binary_sha256 = hashlib.sha256(f.read()).hexdigest()
        subprocess.run(["cc", "-O2", "-pthread", "-o", PROBE, repo_path("bench/xcpu_probe.c")],
                       check=True)
        self.hugepages(1024)
        os.makedirs(RUN, exist_ok=True)
        os.makedirs(WORK, exist_ok=True)

    def hugepages(self, pages):
        path = "/proc/sys/vm/nr_hugepages"
        with open(path) as f:
            have = int(f.read())
        if have < pages:
            if self.hugepages_before is None:    # a second call (threads.py) keeps the first
                self.hugepages_before = have
            with open(path, "w") as f:
                f.write(str(pages))
        with open("/proc/mounts") as f:
            mounted = any(line.split()[2] == "hugetlbfs" for line in f)
        if not mounted:
            os.makedirs("/dev/hugepages", exist_ok=True)
            subprocess.run(["mount", "-t", "hugetlbfs", "none", "/dev/hugepages"], check=True)
            self.mounted = "/dev/hugepages"
        free = meminfo("HugePages_Free")
        log(f"bench: hugepages {have} -> {max(have, pages)} (free {free}), hugetlbfs "
            f"{'mounted by us' if self.mounted else 'present'}")

    def cleanup(self):
        for stop in reversed(self.procs):
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                log(f"bench: cleanup: {e}")
        self.procs.clear()
        shutil.rmtree(RUN, ignore_errors=True)
        if self.mounted:
            subprocess.run(["umount", self.mounted], stderr=subprocess.DEVNULL)
            self.mounted = None
        if self.hugepages_before is not None:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(self.hugepages_before))
            self.hugepages_before = None


HOST = Host()


def meminfo(key):
    with open("/proc/meminfo") as f:
        return int(re.search(rf"^{key}:\s+(\d+)", f.read(), re.M).group(1))


def cpu_totals():
    """(busy jiffies, steal jiffies) over all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return user + nice + system + irq + softirq, steal


def pid_jiffies(pid):
    """utime + stime of a process (all threads), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError):
        return 0


class CpuWindow:
    """Foreign CPU share: everything busy on the machine minus our processes."""

    def __init__(self, pids):
        self.pids = [p for p in pids if p]
        self.t0 = time.monotonic()
        self.busy0, self.steal0 = cpu_totals()
        self.ours0 = {p: pid_jiffies(p) for p in self.pids}
        self.self0 = sum(os.times()[:2])

    def end(self):
        dt = time.monotonic() - self.t0
        busy, steal = cpu_totals()
        ours = {p: pid_jiffies(p) - self.ours0[p] for p in self.pids}
        mine = (sum(os.times()[:2]) - self.self0) * CLK_TCK
        foreign = (busy - self.busy0) - sum(ours.values()) - mine
        scale = 100.0 / (dt * CLK_TCK)               # percent of one CPU
        return {"foreign_pct": round(max(foreign, 0) * scale, 2),
                "steal_pct": round((steal - self.steal0) * scale, 2),
                "ours_cpu_pct": {str(p): round(j * scale, 1) for p, j in ours.items()}}


def wait_idle(limit_s, threshold_pct=5.0):
    """Wait (up to limit_s) until the machine is idle; return the last busy share."""
    deadline = time.monotonic() + limit_s
    while True:
        w = CpuWindow([])
        time.sleep(1.0)
        busy = w.end()["foreign_pct"]
        if busy < threshold_pct or time.monotonic() >= deadline:
            if busy >= threshold_pct:
                log(f"bench: machine still busy ({busy:.0f}% of a CPU by other processes); "
                    f"going on, windows will be flagged")
            return busy
        log(f"bench: waiting for an idle machine ({busy:.0f}% of a CPU busy)")
        time.sleep(2)


def stop_child(proc, timeout=60):
    """SIGINT a child we started, SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def kill_pid(pid, sig=signal.SIGTERM, timeout=10):
    """Stop a process that is not our child (daemon) by PID."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def pctl(values, q):
    """Percentile q (0..100) with linear interpolation."""
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# =============================================================================
# Frontends
# =============================================================================

class Frontend(VirtioUserPmd):
    """The traffic source and sink: testpmd, two virtio_user ports, io forward."""

    def __init__(self, sockets, frame, queues, name="bfe", server=False, packed_vq=None,
                  eal_args=()):
        super().__init__(sockets, name=name, queues=queues, huge=True, cores="0@1,1@0",
                         macs=FE_MACS, server=server, packed_vq=packed_vq,
                         eal_args=eal_args, args=[
                             "--forward-mode=io", "--rxd=256", "--txd=256", "--burst=32",
                             f"--txpkts={frame}", f"--eth-peer=0,{FE_MACS[1]}",
                             f"--eth-peer=1,{FE_MACS[0]}", "--record-core-cycles"])
        self.mem = ["-m", "256", "--in-memory", "--single-file-segments"]
        self.logpath = os.path.join(WORK, f"{name}.testpmd.log")

    def start(self, timeout=60):
        # Where this run's output begins in the (appended) log.
        self.log_start = os.path.getsize(self.logpath) if os.path.exists(self.logpath) else 0
        return super().start(timeout)

    def pps(self):
        """{port: (rx_packets, rx_bytes, rx_pps)} since the previous call."""
        out = self.cmd("show port stats all")
        return {int(m.group(1)): tuple(map(int, m.groups()[1:])) for m in PPS.finditer(out)}

    def fwd_cycles(self):
        """(busy cycles, packets, TSC MHz) since `clear fwd stats all`."""
        m = FWD_CYCLES.search(self.cmd("show fwd stats all"))
        return (int(m.group(2)), int(m.group(3)), int(m.group(4))) if m else (0, 0, 0)


class VhostPmd(VirtioUserPmd):
    """testpmd as the switch: net_vhost ports, io forward, on CPU 1."""

    def __init__(self, sockets, queues, name="bsw", fwd="io", extra=()):
        super().__init__(sockets, name=name, queues=queues, cores="0@0,1@1")
        self.fwd, self.extra = fwd, list(extra)
        self.logpath = os.path.join(WORK, f"{name}.testpmd.log")

    def command(self):
        vdevs = []
        for i, sock in enumerate(self.sockets):
            vdevs += ["--vdev", f"net_vhost{i},iface={sock},queues={self.queues}"]
        return ["stdbuf", "-o0", "dpdk-testpmd", "--no-pci", "-m", "512", "--in-memory",
                "--single-file-segments", "--file-prefix", self.name, "--lcores", self.cores,
                *vdevs, "--", "-i", f"--forward-mode={self.fwd}", "--nb-cores=1",
                f"--rxq={self.queues}", f"--txq={self.queues}", "--total-num-mbufs=16384",
                "--burst=32", "--record-core-cycles", *self.extra]

    def start(self, timeout=60):
        for s in self.sockets:
            remove_file(s)
        super().start(timeout)
        self.cmd("start")
        for s in self.sockets:
            wait_for_path(s, 20, self.proc)
        return self


# =============================================================================
# Switches under test: start(), begin()/end() of a window, pids(), stop()
# =============================================================================

def sockets(n=2, tag="vh"):
    os.makedirs(RUN, exist_ok=True)
    return [os.path.join(RUN, f"{tag}{i}.sock") for i in range(n)]


class VmSwitchSut:
    name = "vmswitch"
    server = False

    def __init__(self, queues, extra_ports=0, args=(), prefix=("taskset", "-c", "1"),
                 tag="vh", pairs=1):
        """pairs: port pairs (a, b), (a1, b1), ... each on two sockets (threads.py)."""
        self.socks = sockets(2 * pairs, tag)
        self.port_names = [f"{x}{k or ''}" for k in range(pairs) for x in "ab"]
        ports = [f"{n}=vhost-user:{s}" for n, s in zip(self.port_names, self.socks)]
        self.idle_socks = [os.path.join(RUN, f"idle{i}.sock") for i in range(extra_ports)]
        ports += [f"p{i}=vhost-user:{s}" for i, s in enumerate(self.idle_socks)]
        self.sw = Switch(ports, name="bench-vmswitch", prefix=prefix,
                         args=["--poll", "-q", *args])
        self.sw.logpath = os.path.join(WORK, "vmswitch.log")

    def start(self):
        self.sw.start(timeout=60)
        return self

    def pids(self):
        return [self.sw.proc.pid]

    def stats(self):
        try:
            return self.sw.stats()
        except TimeoutError:      # a loaded machine: ask once more
            return self.sw.stats()

    def begin(self):
        self.t0 = time.monotonic()
        self.d0 = self.stats()["datapath"]
        self.cpu0 = pid_jiffies(self.sw.proc.pid)

    def end(self, tsc_hz):
        dt = time.monotonic() - self.t0
        d = self.stats()["datapath"]
        cyc = d["busy_cycles"] - self.d0["busy_cycles"]
        pkts = d["busy_packets"] - self.d0["busy_packets"]
        cpu_s = (pid_jiffies(self.sw.proc.pid) - self.cpu0) / CLK_TCK
        return {"sw_cyc_per_pkt": cyc / pkts if pkts else None,
                "sw_busy_pct": 100.0 * cyc / (dt * tsc_hz) if tsc_hz else None,
                "sw_busy_cycles": cyc, "sw_busy_packets": pkts,
                "sw_cpu_s": round(cpu_s, 3), "sw_cpu_cycles": round(cpu_s * tsc_hz),
                "sw_cpu_pct": round(100.0 * cpu_s / dt, 1)}

    def stop(self):
        self.sw.stop()
        for s in self.socks + self.idle_socks:
            remove_file(s)


class TestpmdSut:
    name = "testpmd"
    server = False

    def __init__(self, queues, tag="vh"):
        self.socks = sockets(2, tag)
        self.pmd = VhostPmd(self.socks, queues)

    def start(self):
        self.pmd.start()
        return self

    def pids(self):
        return [self.pmd.proc.pid]

    def begin(self):
        self.t0 = time.monotonic()
        self.pmd.cmd("clear fwd stats all")

    def end(self, tsc_hz):
        dt = time.monotonic() - self.t0
        cyc, pkts, _ = Frontend.fwd_cycles(self.pmd)
        return {"sw_cyc_per_pkt": cyc / pkts if pkts else None,
                "sw_busy_pct": 100.0 * cyc / (dt * tsc_hz) if tsc_hz else None,
                "sw_busy_cycles": cyc, "sw_busy_packets": pkts}

    def stop(self):
        self.pmd.stop()
        for s in self.socks:
            remove_file(s)


class OvsSut:
    """ovsdb-server + ovs-vswitchd (DPDK) with private run/db/log dirs."""
    name = "ovs"
    server = False

    def __init__(self, queues, nohuge=False, valgrind=None, other_config=(), ports=2,
                 pmd_cpus=(1,), rxq_cpus=None):
        """ports: vhost-user ports vh0..; pmd_cpus: the PMD threads' CPUs (pmd-cpu-mask);
        rxq_cpus: one CPU per port, its rx queue 0 pinned to that CPU's PMD
        (pmd-rxq-affinity), or None for OVS's own placement."""
        self.base = os.path.join(WORK, "ovs")
        self.other_config = list(other_config)   # e.g. "userspace-tso-enable=true"
        self.run, self.db, self.logd = (os.path.join(self.base, d) for d in ("run", "db", "log"))
        self.socks = [os.path.join(self.run, f"vh{i}.sock") for i in range(ports)]
        self.pmd_mask = hex(sum(1 << c for c in pmd_cpus))
        self.rxq_cpus = rxq_cpus
        self.env = dict(os.environ, OVS_RUNDIR=self.run, OVS_LOGDIR=self.logd,
                        OVS_DBDIR=self.db)
        self.nohuge, self.valgrind = nohuge, valgrind
        self.queues = queues

    def sh(self, *argv, check=True):
        r = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if check and r.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
        return r.stdout

    def vsctl(self, *args):
        return self.sh("ovs-vsctl", f"--db=unix:{self.run}/db.sock", *args)

    def pidfile(self, daemon):
        try:
            with open(os.path.join(self.run, f"{daemon}.pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def start(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        for d in (self.run, self.db, self.logd):
            os.makedirs(d)
        alt = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
        subprocess.run(["update-alternatives", "--set", "ovs-vswitchd", alt],
                       stdout=subprocess.DEVNULL, check=True)
        self.sh("ovsdb-tool", "create", f"{self.db}/conf.db",
                "/usr/share/openvswitch/vswitch.ovsschema")
        self.sh("ovsdb-server", f"--remote=punix:{self.run}/db.sock",
                f"--pidfile={self.run}/ovsdb-server.pid", "--detach",
                f"--log-file={self.logd}/ovsdb-server.log", f"{self.db}/conf.db")
        self.vsctl("--no-wait", "init")
        mem = ("--no-pci --no-huge -m 1024 --legacy-mem --file-prefix ovs" if self.nohuge
               else "--no-pci --single-file-segments --file-prefix ovs")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-socket-mem=1024", "other_config:dpdk-socket-limit=1024",
                   f'other_config:dpdk-extra="{mem}"')
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                   "other_config:dpdk-lcore-mask=0x1", f"other_config:pmd-cpu-mask={self.pmd_mask}",
                   "other_config:n-handler-threads=1", "other_config:n-revalidator-threads=1",
                   *(f"other_config:{kv}" for kv in self.other_config))
        prefix = ["taskset", "-c", "0"] + (self.valgrind or [])
        argv = [*prefix, "ovs-vswitchd", f"unix:{self.run}/db.sock",
                f"--pidfile={self.run}/ovs-vswitchd.pid", f"--log-file={self.logd}/ovs-vswitchd.log"]
        if self.valgrind:   # no --detach under valgrind: keep it our child
            self.vs = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
        else:
            self.sh(*argv, "--detach")
        self.vsctl("--timeout=120", "add-br", "br0", "--", "set", "bridge", "br0",
                   "datapath_type=netdev")
        for i in range(len(self.socks)):
            pin = ([f'other_config:pmd-rxq-affinity="0:{self.rxq_cpus[i]}"']
                   if self.rxq_cpus else [])
            self.vsctl("add-port", "br0", f"vh{i}.sock", "--", "set", "Interface",
                       f"vh{i}.sock", "type=dpdkvhostuser", f"ofport_request={i + 1}", *pin)
        self.sh("ovs-ofctl", "del-flows", "br0")
        self.sh("ovs-ofctl", "add-flow", "br0", "actions=NORMAL")
        for s in self.socks:
            wait_for_path(s, 60)
        return self

    def pids(self):
        return [self.pidfile("ovs-vswitchd"), self.pidfile("ovsdb-server")]

    def appctl(self, *args):
        return self.sh("ovs-appctl", *args)

    def begin(self):
        self.appctl("dpif-netdev/pmd-stats-clear")

    def end(self, tsc_hz):
        out = self.appctl("dpif-netdev/pmd-stats-show")

        def num(key):    # summed over the PMD threads (and the main thread's section)
            return sum(float(x) for x in re.findall(rf"{key}:\s+([\d.]+)", out))
        pkts, idle, proc = num("packets received"), num("idle cycles"), num("processing cycles")
        return {"sw_cyc_per_pkt": proc / pkts if pkts else None,
                "sw_busy_pct": 100.0 * proc / (idle + proc) if idle + proc else None,
                "sw_busy_cycles": int(proc), "sw_busy_packets": int(pkts)}

    def stop(self):
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            pid = self.pidfile(daemon)
            if pid:
                kill_pid(pid, signal.SIGINT if self.valgrind else signal.SIGTERM, 20)
        if getattr(self, "vs", None) is not None:
            self.vs.wait()
            self.vs = None


def make_sut(kind, queues):
    return {"vmswitch": VmSwitchSut, "testpmd": TestpmdSut, "ovs": OvsSut}[kind](queues)


# =============================================================================
# Throughput runs
# =============================================================================

# Cross-CPU cache-line round trip (bench/xcpu_probe.c). Measured on this kind
# of machine: 70-340 cycles or 780-950, flipping as the host (presumably)
# moves the two vCPUs; --xcpu-far changes the limit.
PROBE = os.path.join(WORK, "xcpu_probe")
XCPU_SEEN = []
XCPU_FAR = [500.0]


def xcpu_probe():
    """Round trip of a cache line between CPU 0 and 1 now, in cycles (None if unknown)."""
    try:
        out = subprocess.run([PROBE], capture_output=True, text=True, timeout=30).stdout
        rtt = float(out.split()[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None
    XCPU_SEEN.append(rtt)
    return rtt


def slow_probe(w):
    """Was the cross-CPU probe slow before or after this window's run?"""
    return any(r is not None and r > XCPU_FAR[0] for r in w.get("xcpu_rtt", ()))


def measure_run(sut, frame, queues, args, label, rnd, preload=None):
    """Start sut + frontend, run the windows, stop both; return the window records."""
    wait_idle(args.idle_wait)
    rtt_before = xcpu_probe()
    windows = []
    fe = None
    try:
        HOST.procs.append(sut.stop)
        sut.start()
        if preload:
            preload(sut)
        # A section may set the frontend's options (packed.py: its ring layout)
        # and check what was negotiated before anything is measured.
        # threads.py: a frontend with more ports and forwarding lcores.
        fe = (sut.make_frontend(frame, queues) if hasattr(sut, "make_frontend") else
              Frontend(sut.socks, frame, queues, server=sut.server,
                       **getattr(sut, "fe_kwargs", {})))
        fe.start()
        HOST.procs.append(fe.stop)
        negotiated = sut.check_frontend(fe) if hasattr(sut, "check_frontend") else {}
        fe.cmd("start tx_first 8")
        time.sleep(args.warmup)
        prev = fe.pps()
        for w in range(args.nwin):
            fe.cmd("clear fwd stats all")
            sut.begin()
            cpu = CpuWindow(sut.pids() + [fe.proc.pid])
            t0 = time.monotonic()
            time.sleep(args.win)
            st = fe.pps()
            dt = time.monotonic() - t0
            fe_cyc, fe_pkts, mhz = fe.fwd_cycles()
            tsc_hz = mhz * 1e6 if mhz else tsc_fallback()
            rec = {"config": label, "switch": sut.name, "round": rnd, "window": w,
                   "frame": frame, "queues": queues, "win_s": round(dt, 3),
                   "rx_pps": [st[p][2] for p in sorted(st)],
                   "mpps": sum(v[2] for v in st.values()) / 1e6, "tsc_mhz": mhz,
                   "fe_busy_cycles": fe_cyc, "fe_packets": fe_pkts,
                   "fe_cyc_per_pkt": fe_cyc / fe_pkts if fe_pkts else None,
                   "fe_busy_pct": 100.0 * fe_cyc / (dt * tsc_hz)}
            rec.update(sut.end(tsc_hz))
            rec.update(cpu.end())
            rec.update(negotiated)
            pkts = sum(st[p][0] - prev[p][0] for p in st)
            rec["avg_rx_frame_bytes"] = (round(sum(st[p][1] - prev[p][1] for p in st) / pkts, 1)
                                         if pkts else None)
            prev = st
            rec["clean"] = (rec["foreign_pct"] < CLEAN_FOREIGN_PCT
                            and rec["steal_pct"] < CLEAN_STEAL_PCT)
            windows.append(rec)
            log(f"  {label:10} {sut.name:9} r{rnd} w{w}: {rec['mpps']:6.2f} Mpps  "
                f"sw {fmt(rec['sw_cyc_per_pkt'], 0)} cyc/pkt ({fmt(rec['sw_busy_pct'], 0)}% busy)  "
                f"fe {fmt(rec['fe_busy_pct'], 0)}% busy  foreign {rec['foreign_pct']:.1f}%"
                + ("" if rec["clean"] else "  NOISY"))
        if isinstance(sut, VmSwitchSut):
            counters = sut.stats()
            for rec in windows:
                rec["mac_entries"] = counters["switch"].get("macs")
            drops = {n: p["drops"] for n, p in counters["ports"].items() if p["drops"]}
            if drops:
                log(f"  vmswitch drops: {drops}")
    except Exception as e:  # noqa: BLE001 - one failed run must not end the benchmark
        log(f"  {label} {sut.name} r{rnd}: FAILED: {e}")
        windows.append({"config": label, "switch": sut.name, "round": rnd, "error": str(e)})
    finally:
        for stop in (fe.stop if fe else None, sut.stop):
            if stop is None:
                continue
            try:
                stop()
            except Exception as e:  # noqa: BLE001
                log(f"  stop: {e}")
            if stop in HOST.procs:
                HOST.procs.remove(stop)
    rtt_after = xcpu_probe()
    for rec in windows:
        rec["xcpu_rtt"] = [rtt_before, rtt_after]
    log(f"  cross-CPU round trip before/after: {fmt(rtt_before, 0)}/{fmt(rtt_after, 0)} cycles"
        + (" (slow: left out of the medians)" if windows and slow_probe(windows[0])
           else ""))
    return windows


_TSC = None


def tsc_fallback():
    global _TSC
    if _TSC is None:
        with open("/proc/cpuinfo") as f:
            _TSC = float(re.search(r"cpu MHz\s*:\s*([\d.]+)", f.read()).group(1)) * 1e6
    return _TSC


def fmt(v, nd=2):
    return "-" if v is None else f"{v:.{nd}f}"


def summarize(windows):
    """Median / p25 / p75 over the clean windows (all windows if none is clean):
    quiet machine and the host's usual vCPU placement."""
    ok = [w for w in windows if "error" not in w and w.get("mpps")]
    clean = [w for w in ok if w["clean"] and not slow_probe(w)]
    use = clean or ok
    if not use:
        return None

    def stat(key):
        vals = [w[key] for w in use if w.get(key) is not None]
        return (pctl(vals, 50), pctl(vals, 25), pctl(vals, 75)) if vals else (None,) * 3
    s = {"n": len(ok), "clean": len(clean), "mpps": stat("mpps"),
         "cyc": stat("sw_cyc_per_pkt"), "busy": stat("sw_busy_pct"),
         "fe_busy": stat("fe_busy_pct"), "fe_cyc": stat("fe_cyc_per_pkt"),
         "foreign": stat("foreign_pct")}
    if any("sw_cpu_cycles" in w for w in use):
        s["busy_cycles_sum"] = sum(w["sw_busy_cycles"] for w in use)
        s["cpu_cycles_sum"] = sum(w["sw_cpu_cycles"] for w in use)
        s["cpu_pct"] = stat("sw_cpu_pct")
    return s


def run_throughput(args, results):
    configs = [c for c in CONFIGS if c in args.configs]
    switches = [s for s in SWITCHES if s in args.switches]
    for label in configs:
        frame, queues = CONFIGS[label]
        log(f"bench: throughput {label} ({frame} bytes, {queues} queue pair(s)): "
            f"{args.rounds} rounds x {args.nwin} windows x {args.win} s, {' '.join(switches)}")
        for rnd in range(args.rounds):
            for kind in switches:
                results["windows"] += measure_run(make_sut(kind, queues), frame, queues,
                                                  args, label, rnd)
                save(args, results)


def print_throughput(results, configs, switches):
    rows = []
    hdr = ("| config | switch | Mpps median (p25-p75) | switch busy cycles/pkt median (p25-p75) "
           "| switch busy | frontend busy | clean windows | vmswitch / peer (Mpps ratio, cycles ratio, ratio of the p75s) |")
    rows += [hdr, "|" + "---|" * 8]
    notes = []
    summary = {}
    for label in configs:
        for kind in switches:
            ws = [w for w in results["windows"] if w["config"] == label and w["switch"] == kind]
            s = summarize(ws)
            if s:
                summary[(label, kind)] = s
    for label in configs:
        for kind in switches:
            s = summary.get((label, kind))
            if not s:
                continue
            m, c = s["mpps"], s["cyc"]
            ratio = ""
            if kind == "vmswitch":
                parts = []
                for peer in switches:
                    p = summary.get((label, peer))
                    if peer != kind and p and p["mpps"][0]:
                        cr = (f", {c[0] / p['cyc'][0]:.2f}x cyc" if c[0] and p["cyc"][0] else "")
                        # The best quarter of windows: the host's good vCPU placement
                        # for both, as the rounds are interleaved.
                        best = (f", p75 {m[2] / p['mpps'][2]:.2f}x" if p["mpps"][2] else "")
                        parts.append(f"{m[0] / p['mpps'][0]:.2f}x {peer}{cr}{best}")
                ratio = "; ".join(parts)
            fe = s["fe_busy"][0]
            bound = " (frontend-bound)" if fe is not None and fe >= FE_BOUND_PCT else ""
            rows.append(f"| {label} | {kind} | {m[0]:.2f} ({m[1]:.2f}-{m[2]:.2f}) | "
                        f"{fmt(c[0], 0)} ({fmt(c[1], 0)}-{fmt(c[2], 0)}) | "
                        f"{fmt(s['busy'][0], 0)}% | {fmt(fe, 0)}%{bound} | "
                        f"{s['clean']}/{s['n']} | {ratio} |")
            if "cpu_cycles_sum" in s:
                notes.append(f"{label} vmswitch: busy cycles {s['busy_cycles_sum'] / 1e9:.2f} G vs "
                             f"process CPU time x TSC {s['cpu_cycles_sum'] / 1e9:.2f} G "
                             f"({100.0 * s['busy_cycles_sum'] / s['cpu_cycles_sum']:.1f}% of its "
                             f"CPU time is busy passes; process CPU {fmt(s['cpu_pct'][0], 0)}% "
                             f"of a core)" if s["cpu_cycles_sum"] else "")
    log("\n".join(rows))
    if notes:
        log("\nvmswitch busy cycles vs its process CPU time (utime+stime x TSC Hz), "
            "summed over the windows used:")
        for n in notes:
            log(f"  {n}")
    return summary


# =============================================================================
# Scale: learned MACs and idle ports
# =============================================================================

def preload_macs(n):
    """A third port (Python frontend) sends n frames with distinct source MACs,
    each addressed to itself (learned, then filtered: nothing reaches the loop)."""
    from vhostfront import NetDevice

    def go(sut):
        sock = sut.preload_sock
        dev = NetDevice.connect(sock)
        sut.preload_dev = dev
        HOST.procs.append(dev.close)
        t0 = time.monotonic()
        for i in range(n):
            mac = b"\x02\x01" + i.to_bytes(4, "big")
            frame = mac + mac + b"\x88\xb5" + bytes(46)
            dev.send_frame(frame, kick=(i % 64 == 63))
        dev.tx[0].kick(force=True)
        dev.wait_tx_done(10)
        deadline = time.monotonic() + 10
        while True:
            macs = sut.stats()["switch"].get("macs", 0)
            if macs >= n or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        log(f"  preloaded {n} MACs in {time.monotonic() - t0:.1f} s: switch reports "
            f"mac table {macs} entries")
        if macs < n:
            raise RuntimeError(f"mac table holds {macs} entries, wanted >= {n}")
    return go


class ScaleSut(VmSwitchSut):
    def __init__(self, kind):
        self.kind = kind
        extra = 62 if kind == "64 ports" else 0
        super().__init__(1, extra_ports=extra, args=["--mac-aging", "3600"])
        if kind.endswith("MACs"):
            self.preload_sock = os.path.join(RUN, "preload.sock")
            self.sw.ports.append(f"c=vhost-user:{self.preload_sock}")

    def start(self):
        super().start()
        if self.kind == "pcap filters":
            # A filter every test frame passes: the cost is the BPF run per frame.
            for port in ("a", "b"):
                code, _, err = self.sw.ctl("port", "set", port, "ingress_filter=udp")
                if code:
                    raise RuntimeError(f"cannot set a filter: {err}")
        return self

    def stop(self):
        dev = getattr(self, "preload_dev", None)
        if dev is not None:
            try:
                dev.close()
            except OSError:
                pass
            if dev.close in HOST.procs:
                HOST.procs.remove(dev.close)
            self.preload_dev = None
        super().stop()
        remove_file(getattr(self, "preload_sock", "/nonexistent"))


SCALES = ["2 ports", "1000 MACs", "100000 MACs", "64 ports", "pcap filters"]


def run_scale(args, results):
    log(f"bench: scale, vmswitch 64B: {' / '.join(SCALES)}; {args.rounds} rounds")
    for rnd in range(args.rounds):
        for kind in SCALES:
            sut = ScaleSut(kind)
            pre = preload_macs(int(kind.split()[0])) if kind.endswith("MACs") else None
            ws = measure_run(sut, 64, 1, args, f"scale {kind}", rnd, preload=pre)
            for w in ws:
                w["scale"] = kind
            results["scale"] += ws
            save(args, results)


def print_scale(results):
    rows = ["| vmswitch 64B | Mpps median (p25-p75) | busy cycles/pkt median (p25-p75) "
            "| vs 2 ports (cycles) | MAC table entries | frontend busy | clean windows |",
            "|" + "---|" * 7]
    base = None
    for kind in SCALES:
        ws = [w for w in results["scale"] if w.get("scale") == kind]
        s = summarize(ws)
        if not s:
            continue
        if kind == "2 ports":
            base = s["cyc"][0]
        macs = max((w.get("mac_entries") or 0 for w in ws), default=0)
        rel = f"{100.0 * (s['cyc'][0] / base - 1):+.1f}%" if base and s["cyc"][0] else "-"
        m, c = s["mpps"], s["cyc"]
        note = " (3rd port idle)" if kind.endswith("MACs") else ""
        rows.append(f"| {kind}{note} | {m[0]:.2f} ({m[1]:.2f}-{m[2]:.2f}) | {fmt(c[0], 0)} "
                    f"({fmt(c[1], 0)}-{fmt(c[2], 0)}) | {rel} | {macs} | "
                    f"{fmt(s['fe_busy'][0], 0)}% | {s['clean']}/{s['n']} |")
    log("\n".join(rows))


# =============================================================================
# Latency: Python frontend <-> switch <-> testpmd macswap, ping-pong
# =============================================================================

def run_latency(args, results):
    from vhostfront import NetDevice
    n = args.lat_count
    kinds = [k for k in ("vmswitch --poll", "vmswitch adaptive", "testpmd")
             if k.split()[0] in args.switches]
    log(f"bench: latency, {n} round trips at {args.lat_rate} frames/s, 64 bytes")
    py_mac, fe_mac = b"\x02\x00\x00\x00\x00\x01", bytes.fromhex(FE_MACS[1].replace(":", ""))
    for kind in kinds:
        wait_idle(args.idle_wait)
        socks = sockets(2, "lat")
        if kind.startswith("vmswitch"):
            sut = VmSwitchSut(1, tag="lat")
            if "adaptive" in kind:
                sut.sw.args.remove("--poll")
        else:
            sut = TestpmdSut(1, tag="lat")
        fe = dev = None
        try:
            sut.start()
            fe = VirtioUserPmd([socks[1]], name="blat", macs=[FE_MACS[1]], huge=True,
                               cores="0@1,1@0", args=["--forward-mode=macswap",
                                                      "--port-topology=loop", "--burst=32"])
            fe.logpath = os.path.join(WORK, "blat.testpmd.log")
            fe.start()
            fe.cmd("start")
            dev = NetDevice.connect(socks[0])
            # The Python frontend shares CPU 0 with the polling testpmd: run it
            # SCHED_FIFO so a wakeup does not wait for the poller's time slice.
            saved = (os.sched_getaffinity(0), os.sched_getscheduler(0), os.sched_getparam(0))
            os.sched_setaffinity(0, {0})
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            except OSError:
                pass
            period = 1.0 / args.lat_rate
            rtts, lost = [], 0
            cpu = CpuWindow(sut.pids() + [fe.proc.pid])
            warm = max(50, n // 20)
            nxt = time.perf_counter()
            for seq in range(warm + n):
                frame = fe_mac + py_mac + b"\x88\xb5" + seq.to_bytes(4, "big") + bytes(46)
                t0 = time.perf_counter_ns()
                dev.send_frame(frame)
                got = None
                while got is None:
                    pk = dev.recv_frames(timeout=0.2, count=1)
                    if not pk:
                        break
                    for f in pk:
                        if f[14:18] == seq.to_bytes(4, "big"):
                            got = time.perf_counter_ns() - t0
                if got is None:
                    lost += 1
                elif seq >= warm:
                    rtts.append(got / 1000.0)
                dev.reclaim_tx()
                nxt += period
                delay = nxt - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    nxt = time.perf_counter()
            os.sched_setscheduler(0, saved[1], saved[2])
            os.sched_setaffinity(0, saved[0])
            rec = {"switch": kind, "count": len(rtts), "lost": lost, "rate": args.lat_rate,
                   "p50_us": pctl(rtts, 50), "p90_us": pctl(rtts, 90), "p99_us": pctl(rtts, 99),
                   "max_us": max(rtts) if rtts else None, "min_us": min(rtts) if rtts else None,
                   **cpu.end()}
            log(f"  {kind:18}: p50 {fmt(rec['p50_us'], 1)} us  p99 {fmt(rec['p99_us'], 1)} us  "
                f"(min {fmt(rec['min_us'], 1)}, max {fmt(rec['max_us'], 1)}, {lost} lost, "
                f"foreign {rec['foreign_pct']:.1f}%)")
        except Exception as e:  # noqa: BLE001
            rec = {"switch": kind, "error": str(e)}
            log(f"  {kind}: FAILED: {e}")
        finally:
            if dev is not None:
                dev.close()
            if fe is not None:
                fe.stop()
            sut.stop()
        results["latency"].append(rec)
        save(args, results)


def print_latency(results):
    rows = ["| switch (CPU 1) | round trip p50 | p99 | min | max | samples (lost) | foreign CPU |",
            "|---|---|---|---|---|---|---|"]
    for r in results["latency"]:
        if "error" in r:
            rows.append(f"| {r['switch']} | failed: {r['error']} | | | | | |")
            continue
        rows.append(f"| {r['switch']} | {r['p50_us']:.1f} us | {r['p99_us']:.1f} us | "
                    f"{r['min_us']:.1f} us | {r['max_us']:.1f} us | {r['count']} ({r['lost']}) | "
                    f"{r['foreign_pct']:.1f}% |")
    log("\n".join(rows))


# =============================================================================
# Callgrind: instructions per packet
# =============================================================================

def callgrind_totals(pattern):
    """Sum the Ir totals of every callgrind output file matching pattern."""
    total = 0
    for path in glob.glob(pattern):
        found = {}
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    key, value = line.split()[:2]
                    found[key] = int(value)
        total += found.get("totals:", found.get("summary:", 0))
    return total


def run_callgrind(args, results):
    ensure_packages(["valgrind"])
    cgdir = os.path.join(WORK, "callgrind")
    os.makedirs(cgdir, exist_ok=True)
    frames = [f for f in (64, 1518) if f"{f}B" in args.configs] or [64, 1518]
    # "vmswitch+filter": both ports run ingress_filter=udp, which every test
    # frame passes: the difference to "vmswitch" is the filter's cost.
    # "+packed": the frontend drives packed rings (packed_vq=1), checked.
    kinds = [k for k in ("vmswitch", "vmswitch+filter", "testpmd", "vmswitch+packed",
                         "testpmd+packed")
             if k.split("+")[0] in args.switches]
    log(f"bench: callgrind, {args.cg_seconds} s instrumented per run: {kinds} x {frames} bytes")
    for frame in frames:
        for kind in kinds:
            wait_idle(args.idle_wait)
            tag = kind.replace("+", "-")
            for old in glob.glob(os.path.join(cgdir, f"cg.{tag}.*")):
                os.unlink(old)
            out = os.path.join(cgdir, f"cg.{tag}.%p")
            vg = ["taskset", "-c", "1", "valgrind", "--tool=callgrind", "--instr-atstart=no",
                  f"--callgrind-out-file={out}"]
            socks = sockets(2, "cg")
            fe = proc = None
            try:
                if kind.startswith("vmswitch"):
                    sw = Switch([f"a=vhost-user:{socks[0]}", f"b=vhost-user:{socks[1]}"],
                                name="bench-cg-vmswitch", prefix=vg, args=["--poll", "-q"])
                    sw.logpath = os.path.join(WORK, f"cg-{tag}.log")
                    sw.start(timeout=120)
                    proc = sw.proc
                    if kind == "vmswitch+filter":
                        for port in ("a", "b"):
                            code, _, err = sw.ctl("port", "set", port, "ingress_filter=udp")
                            if code:
                                raise RuntimeError(f"cannot set a filter: {err}")
                else:
                    for s in socks:
                        remove_file(s)
                    argv = vg + ["dpdk-testpmd", "--no-pci", "--no-huge", "-m", "1024",
                                 "--file-prefix", "bcg", "--lcores", "0@1,1@1"]
                    for i, s in enumerate(socks):
                        argv += ["--vdev", f"net_vhost{i},iface={s},queues=1"]
                    argv += ["--", "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=16384",
                             "--burst=32", "--stats-period", "3600"]
                    with open(os.path.join(WORK, "cg-testpmd.log"), "wb") as lf:
                        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf,
                                                stderr=subprocess.STDOUT, start_new_session=True)
                    for s in socks:
                        wait_for_path(s, 180, proc)
                HOST.procs.append(lambda p=proc: (p.poll() is None and p.send_signal(signal.SIGINT),
                                                  p.wait()))
                ring = ({"packed_vq": 1, "eal_args": [packed.LOGLEVEL]}
                        if kind.endswith("+packed") else {})
                fe = Frontend(socks, frame, 1, name="bcgfe", **ring)
                fe.start(timeout=120)
                HOST.procs.append(fe.stop)
                if ring:
                    feats = packed.frontend_features(fe)
                    if len(feats) != 2 or not all(f & packed.RING_PACKED for f in feats):
                        raise RuntimeError(f"packed rings not negotiated: features "
                                           f"{', '.join(map(hex, feats))}")
                fe.cmd("start tx_first 8")
                time.sleep(args.cg_warm)
                pid = str(proc.pid)
                subprocess.run(["callgrind_control", "-i", "on", pid], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                s0 = fe.pps()
                cpu = CpuWindow([proc.pid, fe.proc.pid])
                t0 = time.monotonic()
                time.sleep(args.cg_seconds)
                s1 = fe.pps()
                subprocess.run(["callgrind_control", "-i", "off", pid], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                dt = time.monotonic() - t0
                noise = cpu.end()
                subprocess.run(["callgrind_control", "-d", pid], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                pkts = sum(s1[p][0] - s0[p][0] for p in s1)
                fe.stop()
                HOST.procs.remove(fe.stop)
                fe = None
                stop_child(proc)	# callgrind writes its totals as the switch exits
                ir = callgrind_totals(os.path.join(cgdir, f"cg.{tag}.{pid}*"))
                rec = {"switch": kind, "frame": frame, "ir": ir, "packets": pkts,
                       "seconds": round(dt, 2), "ir_per_pkt": ir / pkts if pkts else None,
                       "kpps_under_valgrind": round(pkts / dt / 1e3, 1), **noise}
                rec["clean"] = noise["foreign_pct"] < CLEAN_FOREIGN_PCT
                log(f"  {kind:9} {frame:5} B: {fmt(rec['ir_per_pkt'], 1)} instructions/packet "
                    f"({ir} Ir / {pkts} packets, {rec['kpps_under_valgrind']} kpps under valgrind"
                    f", foreign {noise['foreign_pct']:.1f}%)" + ("" if rec["clean"] else "  NOISY"))
            except Exception as e:  # noqa: BLE001
                rec = {"switch": kind, "frame": frame, "error": str(e)}
                log(f"  {kind} {frame} B: FAILED: {e}")
            finally:
                if fe is not None:
                    fe.stop()
                if proc is not None:
                    stop_child(proc)
                for s in socks:
                    remove_file(s)
            results["callgrind"].append(rec)
            save(args, results)


def print_callgrind(results):
    rows = ["| instructions/packet (callgrind) | vmswitch | testpmd vhost io | ratio "
            "| vmswitch, pcap filter on both ports | filter cost "
            "| vmswitch, packed rings | testpmd vhost io, packed rings | ratio, packed |",
            "|" + "---|" * 9]
    by = {(r["switch"], r["frame"]): r for r in results["callgrind"]}

    def cell(r):
        if not r or r.get("ir_per_pkt") is None:
            return "-"
        return f"{r['ir_per_pkt']:.0f}" + ("" if r.get("clean") else " (noisy)")
    for frame in sorted({r["frame"] for r in results["callgrind"]}):
        a, b = by.get(("vmswitch", frame)), by.get(("testpmd", frame))
        f = by.get(("vmswitch+filter", frame))
        ra, rb = (a or {}).get("ir_per_pkt"), (b or {}).get("ir_per_pkt")
        rf = (f or {}).get("ir_per_pkt")
        pa, pb = by.get(("vmswitch+packed", frame)), by.get(("testpmd+packed", frame))
        rpa, rpb = (pa or {}).get("ir_per_pkt"), (pb or {}).get("ir_per_pkt")
        rows.append(f"| {frame} B | {cell(a)} | {cell(b)} | "
                    f"{fmt(ra / rb if ra and rb else None, 2)}x | {cell(f)} | "
                    f"{fmt(rf - ra if ra and rf else None, 0)} | {cell(pa)} | {cell(pb)} | "
                    f"{fmt(rpa / rpb if rpa and rpb else None, 2)}x |")
    log("\n".join(rows))


# =============================================================================
# Main
# =============================================================================

def save(args, results):
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, default=str)
    os.replace(tmp, args.out)


def git_rev():
    r = subprocess.run(["git", "-C", repo_path("."), "describe", "--always", "--dirty"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Sections: " + ", ".join(SECTIONS))
    p.add_argument("--quick", action="store_true",
                   help="development run: 1 round, 2 windows x 2 s, short latency/callgrind")
    p.add_argument("--rounds", type=int, help="interleaved rounds per config (default 3)")
    p.add_argument("--nwin", type=int, help="windows per run (default 3)")
    p.add_argument("--win", type=float, help="window length in seconds (default 5)")
    p.add_argument("--warmup", type=float, default=None, help="seconds before the first window")
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help=f"comma-separated subset of {','.join(CONFIGS)}")
    p.add_argument("--switches", default=",".join(SWITCHES),
                   help=f"comma-separated subset of {','.join(SWITCHES)}")
    p.add_argument("--sections", default=",".join(DEFAULT_SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} "
                   f"(default {','.join(DEFAULT_SECTIONS)})")
    p.add_argument("--callgrind", action="store_true", help="only the callgrind section")
    p.add_argument("--cg-seconds", type=float, default=None, help="instrumented seconds")
    p.add_argument("--cg-warm", type=float, default=None)
    p.add_argument("--lat-count", type=int, default=None, help="round trips per switch")
    p.add_argument("--lat-rate", type=float, default=1000.0, help="frames per second")
    p.add_argument("--idle-wait", type=float, default=None,
                   help="seconds to wait for an idle machine before each run")
    p.add_argument("--xcpu-far", type=float, default=XCPU_FAR[0],
                   help="cross-CPU round trip (cycles) above which a run's windows are left "
                   "out of the medians")
    p.add_argument("--out", default=None, help="JSON output (default bench/results/<date>.json)")
    p.add_argument("--report", metavar="JSON", default=None,
                   help="print the tables of an earlier run's JSON file and exit")
    guest_tcp.add_args(p)
    cpu_rate.add_args(p)
    migration.add_args(p)
    tso64k.add_args(p)
    packed.add_args(p)
    threads.add_args(p)
    a = p.parse_args(argv)
    XCPU_FAR[0] = a.xcpu_far
    guest_tcp.finish_args(a, p)
    cpu_rate.finish_args(a, p)
    migration.finish_args(a, p)
    tso64k.finish_args(a, p)
    packed.finish_args(a, p)
    threads.finish_args(a, p)
    q = a.quick
    for key, full, quick in (("rounds", 3, 1), ("nwin", 3, 2), ("win", 5.0, 2.0),
                             ("warmup", 3.0, 1.5), ("cg_seconds", 12.0, 5.0),
                             ("cg_warm", 5.0, 3.0), ("lat_count", 2000, 300),
                             ("idle_wait", 20.0, 5.0)):
        if getattr(a, key) is None:
            setattr(a, key, quick if q else full)
    a.configs = a.configs.split(",")
    a.switches = a.switches.split(",")
    a.sections = ["callgrind"] if a.callgrind else a.sections.split(",")
    bad = (set(a.configs) - set(CONFIGS)) | (set(a.switches) - set(SWITCHES)) | \
        (set(a.sections) - set(SECTIONS))
    if bad:
        p.error(f"unknown: {', '.join(sorted(bad))}")
    if a.out is None:
        stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H%M%S")
        a.out = os.path.join(HERE, "results", f"{stamp}{'-quick' if q else ''}.json")
    return a


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        for key, value in results.get("args", {}).items():
            if key not in ("report", "xcpu_far", "out"):
                setattr(args, key, value)
        runs = {(w.get("config", w.get("scale")), w["switch"], w["round"]): w["xcpu_rtt"]
                for w in results["windows"] + results["scale"] + results.get("packed", [])
                if w.get("xcpu_rtt")}
        XCPU_SEEN.extend(r for pair in runs.values() for r in pair if r is not None)
        report(args, results)
        return 0
    if os.geteuid() != 0:
        sys.exit("bench: run as root (hugepages, packages)")
    atexit.register(HOST.cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "git": git_rev(), "argv": sys.argv, "args": vars(args),
               "uname": os.uname().release, "ncpu": os.cpu_count(),
               "windows": [], "scale": [], "latency": [], "callgrind": [],
               "cpu_rate": [], "guest_tcp": [], "tso64k": [], "packed": [], "threads": []}
    with open("/proc/loadavg") as f:
        results["loadavg_start"] = f.read().split()[:3]
    HOST.prepare("ovs" in args.switches
                 and bool({"throughput", "cpu_rate", "guest_tcp", "threads"}
                          & set(args.sections)),
                 "callgrind" in args.sections)
    results["vmswitch_sha256"] = HOST.binary_sha256
    t0 = time.monotonic()
    if "throughput" in args.sections:
        run_throughput(args, results)
    if "scale" in args.sections and "vmswitch" in args.switches:
        run_scale(args, results)
    if "latency" in args.sections:
        run_latency(args, results)
    if "callgrind" in args.sections:
        run_callgrind(args, results)
    me = sys.modules[__name__]
    if "cpu_rate" in args.sections:
        cpu_rate.run(me, args, results)
    if "migration" in args.sections:
        migration.run(me, args, results)
    if "tso64k" in args.sections:
        tso64k.run(me, args, results)
    if "packed" in args.sections:
        packed.run(me, args, results)
    if "threads" in args.sections:
        threads.run(me, args, results)
    if "guest_tcp" in args.sections:
        guest_tcp.run(me, args, results)
    results["seconds"] = round(time.monotonic() - t0)
    save(args, results)
    HOST.cleanup()
    return report(args, results)


def report(args, results):
    """Print the tables of a run (this one, or one read back with --report)."""
    log(f"\n## vmswitch benchmark ({results['started']}, git {results['git']}, "
        f"{os.cpu_count()} CPUs; frontend testpmd io on CPU 0, switch on CPU 1)\n")
    log(f"command: {' '.join(results.get('argv', sys.argv))}")
    if results["windows"]:
        log(f"\nThroughput: loop of 2 x 256 packets, Mpps = both directions; "
            f"{args.nwin} windows x {args.win:g} s per run, {args.rounds} interleaved rounds; "
            f"medians over clean windows (other processes < {CLEAN_FOREIGN_PCT:g}% of a CPU, "
            f"steal < {CLEAN_STEAL_PCT:g}%, and a cross-CPU cache-line round trip under "
            f"{XCPU_FAR[0]:g} cycles before and after the run: every loop here, peers included, "
            f"flips between a fast and a 1.5-3x slower state, and so does this probe, though "
            f"it misses flips inside a run; {sum(r > XCPU_FAR[0] for r in XCPU_SEEN)} of "
            f"{len(XCPU_SEEN)} probes were slow). "
            f"Frontend busy >= {FE_BOUND_PCT:g}% = frontend-bound.\n")
        print_throughput(results, [c for c in CONFIGS if c in args.configs],
                         [s for s in SWITCHES if s in args.switches])
    if results["scale"]:
        log("\nScale (vmswitch, 64 B, 1 queue):\n")
        print_scale(results)
    if results["latency"]:
        log(f"\nLatency: Python vhost-user frontend -> switch -> testpmd macswap -> switch -> "
            f"Python, 64 B, {args.lat_rate:g} frames/s (includes the Python frontend's own time):\n")
        print_latency(results)
    if results["callgrind"]:
        log("\nCallgrind (deterministic; switch under valgrind, native frontend):\n")
        print_callgrind(results)
    me = sys.modules[__name__]
    if results.get("cpu_rate"):
        cpu_rate.report(me, args, results)
    if results.get("migration"):
        log("\nMigration: what the dirty log costs, and QEMU's downtime:\n")
        migration.report(me, args, results)
    if results.get("tso64k"):
        tso64k.report(me, args, results)
    if results.get("packed"):
        packed.report(me, args, results)
    if results.get("threads"):
        threads.report(me, args, results)
    if results.get("guest_tcp"):
        log(f"\nGuest TCP: two QEMU TCG guests (1 vCPU, 256 MiB each), iperf3 "
            f"{args.gt_seconds} s per direction, {args.gt_rounds} interleaved rounds; median "
            f"(min-max) over the runs in which other processes took <= {guest_tcp.NOISY_PCT:g}% "
            f"of a CPU (all runs if none); CPU shares are medians too, per direction "
            f"g1 → g2 / g2 → g1:\n")
        guest_tcp.print_table(me, results)
    errors = sum(1 for w in results["windows"] + results["scale"] + results["latency"]
                 + results["callgrind"] + results.get("cpu_rate", [])
                 + results.get("guest_tcp", []) + results.get("tso64k", [])
                 + results.get("packed", []) + results.get("threads", []) if "error" in w)
    log(f"\nbench: {results.get('seconds')} s, {errors} failed runs; every window in "
        f"{args.report or args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
