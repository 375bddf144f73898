"""dpdk-testpmd with net_virtio_user ports: a real vhost-user frontend, no VM.

Runs testpmd interactively behind a pipe (stdbuf -o0, so prompts and output
arrive in order) and sends it commands.
"""

import os
import re
import signal
import subprocess
import threading
import time

from hostutil import ensure_packages, log_dir, stop_process

PROMPT = "testpmd> "
STATS = re.compile(r"NIC statistics for port (\d+).*?RX-packets:\s+(\d+).*?RX-bytes:\s+(\d+)"
                   r".*?TX-packets:\s+(\d+).*?TX-bytes:\s+(\d+)", re.S)


class VirtioUserPmd:
    """testpmd whose ports are virtio_user devices on the given sockets."""

    def __init__(self, sockets, name="fe", mrg_rxbuf=1, in_order=1, queues=1,
                 queue_size=256, macs=None, server=False, args=(), cores="0@0,1@1",
                 huge=False, packed_vq=None, port_devargs=None, eal_args=()):
        """packed_vq: 1 asks for a packed ring (VIRTIO_F_RING_PACKED), 0 for a split
        one, None leaves DPDK's default (split). port_devargs: one dict per socket
        (or None) whose devargs replace the common ones for that port only, e.g.
        [dict(packed_vq=1), dict(packed_vq=0, mrg_rxbuf=0)]. eal_args: more EAL
        options (before testpmd's own), e.g. a --log-level."""
        self.sockets, self.name = list(sockets), name
        self.devargs = (f"mrg_rxbuf={mrg_rxbuf},in_order={in_order},queues={queues},"
                        f"queue_size={queue_size}" + (",server=1" if server else "")
                        + ("" if packed_vq is None else f",packed_vq={packed_vq}"))
        self.port_devargs = list(port_devargs or [])
        self.queues = queues
        self.macs = macs or [f"02:00:00:00:00:{0x10 + i:02x}" for i in range(len(sockets))]
        self.args, self.cores, self.eal_args = list(args), cores, list(eal_args)
        # Hugepage memory reaches the switch as a memfd on hugetlbfs (2 MiB pages).
        self.mem = (["-m", "256", "--in-memory", "--single-file-segments"] if huge
                    else ["--no-huge", "-m", "1024"])
        self.proc = None
        self.buf = ""
        self.lock = threading.Lock()
        self.logpath = os.path.join(log_dir(), f"{name}.testpmd.log")

    def command(self):
        vdevs = []
        for i, (sock, mac) in enumerate(zip(self.sockets, self.macs)):
            vdevs += ["--vdev", f"net_virtio_user{i},path={sock},mac={mac},{self.port_args(i)}"]
        return ["stdbuf", "-o0", "dpdk-testpmd", "--no-pci", *self.mem,
                "--file-prefix", self.name, "--lcores", self.cores, *self.eal_args, *vdevs, "--",
                "-i", "--nb-cores=1", f"--rxq={self.queues}", f"--txq={self.queues}",
                "--total-num-mbufs=16384", *self.args]

    def port_args(self, i):
        """The devargs of port i: the common ones with its own overrides."""
        over = self.port_devargs[i] if i < len(self.port_devargs) else None
        if not over:
            return self.devargs
        args = dict(kv.split("=", 1) for kv in self.devargs.split(","))
        args.update((k, str(v)) for k, v in over.items())
        return ",".join(f"{k}={v}" for k, v in args.items())

    def _reader(self):
        with open(self.logpath, "a") as log:
            for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
                text = chunk.decode(errors="replace")
                log.write(text)
                log.flush()
                with self.lock:
                    self.buf += text

    def start(self, timeout=60):
        ensure_packages(["dpdk", "dpdk-dev"])
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        threading.Thread(target=self._reader, daemon=True).start()
        self._wait_prompt(timeout)
        return self

    def _wait_prompt(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                i = self.buf.find(PROMPT)
                if i >= 0:
                    out, self.buf = self.buf[:i], self.buf[i + len(PROMPT):]
                    return out
            if self.proc.poll() is not None:
                raise RuntimeError(f"testpmd exited {self.proc.returncode}, see {self.logpath}")
            time.sleep(0.05)
        raise TimeoutError(f"testpmd: no prompt in {timeout}s, see {self.logpath}")

    def cmd(self, line, timeout=30):
        """Run one testpmd command; return its output."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self._wait_prompt(timeout)

    def drain(self):
        """Stop forwarding, then only receive for a second: the frames the
        switch still held for the guests' buffers arrive, so that every frame
        it received has been delivered when this returns."""
        self.cmd("stop")
        self.cmd("set fwd rxonly")
        self.cmd("start")
        time.sleep(1)
        self.cmd("stop")
        time.sleep(0.5)

    def port_stats(self):
        """{port: dict(rx_packets, rx_bytes, tx_packets, tx_bytes)}."""
        out = self.cmd("show port stats all")
        return {int(m.group(1)): dict(zip(("rx_packets", "rx_bytes", "tx_packets",
                                           "tx_bytes"), map(int, m.groups()[1:])))
                for m in STATS.finditer(out)}

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.flush()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop_process(self.proc, sig=signal.SIGINT)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
