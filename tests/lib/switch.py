"""Start build/vmswitch for a test, read its counters, stop it."""

import json
import os
import re
import shlex
import signal
import subprocess
import time

from hostutil import log_dir, repo_path, stop_process, wait_for_path

PORT_LINE = re.compile(r"^port (\S+) \((\S+)\): (\w+)")
RXTX_LINE = re.compile(r"^  rx (\d+) packets (\d+) bytes, tx (\d+) packets (\d+) bytes")
DROP_LINE = re.compile(r"^  drop (\S+) (\d+)")
QUEUE_LINE = re.compile(r"^  queue (\d+) (rx|tx): .* (\d+) packets (\d+) bytes")
SWITCH_LINE = re.compile(r"^switch: (\d+) unicast, (\d+) flooded, (\d+) filtered; "
                         r"mac table (\d+) entries")
DATAPATH_LINE = re.compile(r"^datapath: (\d+) packets in busy passes, (\d+) busy cycles")
FAULT_LINE = re.compile(r"^  closed (\d+) times for a broken rule, last: (.*)")
OFFLOAD_LINE = re.compile(r"^  offloads done here: (\d+) frames segmented, (\d+) checksums completed")


def binary():
    """Path of the vmswitch under test (B selects the build directory)."""
    return repo_path(os.path.join(os.environ.get("B", "build"), "vmswitch"))


def parse_stats(text):
    """Counters from a stats dump: {'ports': {name: {...}}, 'switch': {...},
    'datapath': {'busy_packets', 'busy_cycles'}}."""
    ports, switch, datapath, cur = {}, {}, {}, None
    for line in text.splitlines():
        line = re.sub(r"^\d+\.\d+ vmswitch \w+: ", "", line)
        if m := PORT_LINE.match(line):
            cur = ports[m.group(1)] = {"type": m.group(2), "state": m.group(3),
                                       "drops": {}, "queues": {}, "faults": 0,
                                       "gso_segmented": 0, "csum_completed": 0}
        elif cur is not None and (m := RXTX_LINE.match(line)):
            cur.update(zip(("rx_packets", "rx_bytes", "tx_packets", "tx_bytes"),
                           map(int, m.groups())))
        elif cur is not None and (m := DROP_LINE.match(line)):
            cur["drops"][m.group(1)] = int(m.group(2))
        elif cur is not None and (m := QUEUE_LINE.match(line)):
            cur["queues"][(int(m.group(1)), m.group(2))] = int(m.group(3))
        elif cur is not None and (m := OFFLOAD_LINE.match(line)):
            cur["gso_segmented"], cur["csum_completed"] = map(int, m.groups())
        elif cur is not None and (m := FAULT_LINE.match(line)):
            cur["faults"], cur["last_fault"] = int(m.group(1)), m.group(2)
        elif m := SWITCH_LINE.match(line):
            switch = dict(zip(("unicast", "flooded", "filtered", "macs"),
                              map(int, m.groups())))
        elif m := DATAPATH_LINE.match(line):
            datapath = dict(zip(("busy_packets", "busy_cycles"), map(int, m.groups())))
    return {"ports": ports, "switch": switch, "datapath": datapath}


class Switch:
    """A vmswitch process with the given port specs, logging to build/test-logs."""

    def __init__(self, ports, name="vmswitch", args=(), prefix=(), env_args=True):
        """prefix: argv put before the binary (e.g. taskset, valgrind).
        env_args=False: leave out VMSW_RUN_ARGS, for a switch that must be
        one thread by design (say why where it is used)."""
        self.ports, self.name, self.args = list(ports), name, list(args)
        self.prefix = list(prefix)
        self.env_args = env_args
        self.proc = None
        self.logpath = os.path.join(log_dir(), f"{name}.log")

    def sockets(self):
        """Socket paths of the server-mode vhost-user ports."""
        out = []
        for spec in self.ports:
            typ, _, rest = spec.partition("=")[2].partition(":")
            if typ == "vhost-user" and ",client" not in rest:
                out.append(rest.split(",")[0])
        return out

    def start(self, timeout=10):
        """Run vmswitch and wait for its server sockets."""
        self.ctl_path = f"/tmp/vmsw-ctl/{self.name}.sock"
        os.makedirs(os.path.dirname(self.ctl_path), exist_ok=True)
        if os.path.exists(self.ctl_path):
            os.unlink(self.ctl_path)
        # VMSW_RUN_ARGS (e.g. "--cpus 0,1") runs every test's switch with them.
        extra = shlex.split(os.environ.get("VMSW_RUN_ARGS", "")) if self.env_args else []
        cmd = [*self.prefix, binary(), "run", "--ctl-socket", self.ctl_path, *self.args,
               *extra]
        for spec in self.ports:
            cmd += ["--port", spec]
        for path in self.sockets():
            if os.path.exists(path):
                os.unlink(path)
        self.log = open(self.logpath, "ab")
        self.log.write(f"# {' '.join(cmd)}\n".encode())
        self.log.flush()
        self.offset = self.log.tell()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        for path in self.sockets():
            wait_for_path(path, timeout, self.proc)
        # The control socket comes last, after every port has started.
        wait_for_path(self.ctl_path, timeout, self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        """Everything this run has logged so far."""
        self.log.flush()
        with open(self.logpath, "rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def stats(self):
        """Ask for a counter dump (SIGUSR1) and parse the newest one."""
        before = len(self.output())
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = self.output()[before:]
            if "datapath:" in text:
                return parse_stats(text)
            time.sleep(0.05)
        raise TimeoutError("vmswitch printed no counters")

    def ports_json(self):
        """Every port's counters from `ctl stats --json`, by port name."""
        code, out, err = self.ctl("stats", "--json")
        if code:
            raise RuntimeError(f"{self.name}: ctl stats --json failed: {err}")
        return {p["name"]: p for p in json.loads(out)["ports"]}

    def ctl(self, *args):
        """Run `vmswitch ctl` against this switch; returns (status, stdout, stderr)."""
        r = subprocess.run([binary(), "ctl", "--socket", self.ctl_path, *args],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def stop(self):
        """SIGINT; returns the exit status (0 for a clean stop)."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=10, sig=signal.SIGINT)
        self.log.close()
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
