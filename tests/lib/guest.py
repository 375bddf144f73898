"""Boot a QEMU guest whose NIC is a vhost-user port (or a tap) and drive its serial console."""

import codecs
import itertools
import json
import os
import re
import shlex
import subprocess
import threading
import time

from guestimg import ensure_assets
from hostutil import ensure_packages, log_dir, stop_process
from testlib import check

QEMU = "qemu-system-x86_64"
PROMPT = "vmsw# "
BOOT_BANNER = "vmsw-guest-booted"
IPERF3_PORT = 5201


class Console:
    """Serial console over QEMU's stdio: a reader thread buffers and logs output."""

    def __init__(self, proc, logfile):
        self.proc = proc
        self.log = logfile
        self.text = ""
        self.pos = 0  # everything before pos has been consumed by expect()
        self.eof = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 65536)
            self.log.write(data)
            self.log.flush()
            with self.cond:
                self.text += decoder.decode(data)
                self.eof = not data
                self.cond.notify_all()
            if not data:
                return

    def send(self, text):
        """Type text on the console."""
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def mark(self):
        """Consume all output received so far."""
        with self.cond:
            self.pos = len(self.text)

    def expect(self, pattern, timeout):
        """Wait for regex pattern after the current position; consume up to its end."""
        regex = re.compile(pattern, re.DOTALL)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                match = regex.search(self.text, self.pos)
                if match:
                    self.pos = match.end()
                    return match
                remaining = deadline - time.monotonic()
                if self.eof or remaining <= 0:
                    reason = "console closed (qemu exited)" if self.eof else f"timeout {timeout}s"
                    raise TimeoutError(f"{reason} waiting for {pattern!r}; "
                                       f"last output: {self.text[-300:]!r}")
                self.cond.wait(min(remaining, 1.0))

    def close(self):
        """Wait for the reader thread (call after qemu exited)."""
        self.thread.join(5)


class Guest:
    """One qemu-system-x86_64 TCG guest with a vhost-user virtio-net NIC.

    tap=IFNAME gives it QEMU's own virtio-net on that tap instead (no vhost-net,
    MSI-X on; sock is then unused and may be None).
    """

    _tokens = itertools.count(1)

    def __init__(self, name, sock, mac, ip, queues=1, server=False, reconnect=False,
                 extra_args=(), tap=None):
        self.name, self.sock, self.mac, self.ip = name, sock, mac, ip
        self.tap = tap
        self.queues, self.server, self.reconnect = queues, server, reconnect
        self.extra_args = list(extra_args)
        self.proc = None
        self.console = None
        self.booted_at = self.boot_seconds = None
        self.ready = False
        self.logpath = os.path.join(log_dir(), f"{name}.console.log")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- lifecycle -------------------------------------------------------------

    def qemu_command(self):
        """Return the qemu argv for this guest."""
        assets = ensure_assets()
        append = f"console=ttyS0 quiet loglevel=1 panic=-1 vmsw.ip={self.ip} vmsw.name={self.name}"
        chardev = f"socket,id=c0,path={self.sock}"
        if self.server:
            chardev += ",server=on,wait=off"
        elif self.reconnect:
            chardev += ",reconnect=1"
        netdev = "vhost-user,id=n0,chardev=c0"
        device = f"virtio-net-pci,netdev=n0,mac={self.mac},vectors=0"
        if self.tap:
            netdev = f"tap,id=n0,ifname={self.tap},script=no,downscript=no,vhost=off"
            device = f"virtio-net-pci,netdev=n0,mac={self.mac}"
        if self.queues > 1:
            netdev += f",queues={self.queues}"
            device += ",mq=on"
        chardevs = [] if self.tap else ["-chardev", chardev]
        return [QEMU, "-name", self.name, "-accel", "tcg", "-m", "256", "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none",
                "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
                "-numa", "node,memdev=mem",
                "-kernel", assets["kernel"], "-initrd", assets["initrd"], "-append", append,
                "-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0",
                *chardevs, "-netdev", netdev, "-device", device,
                *self.extra_args]

    def start(self):
        """Launch qemu; returns immediately (see wait_ready)."""
        ensure_packages(["qemu-system-x86"])
        if not self.tap:
            os.makedirs(os.path.dirname(os.path.abspath(self.sock)), exist_ok=True)
        cmd = self.qemu_command()
        log = open(self.logpath, "wb")
        log.write(f"# {shlex.join(cmd)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, start_new_session=True)
        self.console = Console(self.proc, log)
        self.booted_at = time.monotonic()

    def wait_ready(self, timeout=120):
        """Wait for the boot banner and a shell prompt, then check the shell answers.

        QEMU 7.2 does not start the guest before its vhost-user chardev is
        connected (in every mode), so this also waits for the backend.
        """
        deadline = time.monotonic() + timeout
        try:
            self.console.expect(re.escape(BOOT_BANNER), timeout)
            self.console.expect(re.escape(PROMPT), max(deadline - time.monotonic(), 1))
            self.run("true", max(deadline - time.monotonic(), 5), check=True)
        except TimeoutError as e:
            raise TimeoutError(f"{self.name} not ready (see {self.logpath}): {e}") from None
        self.boot_seconds = time.monotonic() - self.booted_at
        self.ready = True

    def reboot(self, timeout=120):
        """Reboot the guest from inside and wait until its shell is back."""
        self.ready = False
        self.console.mark()
        self.console.send("reboot\n")
        self.booted_at = time.monotonic()
        self.wait_ready(timeout)

    def stop(self, timeout=30):
        """Power the guest off (kill qemu if that does not work); always reaps qemu."""
        if self.proc is None:
            return
        if self.ready and self.proc.poll() is None:
            try:
                self.console.send("poweroff\n")
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._reap()

    def kill(self):
        """SIGKILL qemu at once (simulates a crashed VM)."""
        if self.proc is not None:
            self.ready = False
            self.proc.kill()
            self._reap()

    def _reap(self):
        stop_process(self.proc)
        self.console.close()
        self.console.log.close()
        self.proc.stdin.close()
        self.proc.stdout.close()

    def alive(self):
        """True while qemu is running."""
        return self.proc is not None and self.proc.poll() is None

    # --- commands --------------------------------------------------------------

    def run(self, cmd, timeout=30, check=False):
        """Run cmd in the guest shell; return (exit_status, output)."""
        token = f"{os.getpid()}x{next(self._tokens)}"
        # The markers are split by '' so the echoed command line never matches them;
        # the braces and newline let cmd end in '&' or contain ';'.
        begin, end = f"@@B{token}@@", f"@@E{token}@@"
        self.console.send(f"echo '{begin[:3]}''{begin[3:]}'; {{ {cmd}\n}}; "
                          f"echo '{end[:3]}''{end[3:]}' $?\n")
        try:
            match = self.console.expect(
                re.escape(begin) + r"\r?\n(.*?)" + re.escape(end) + r" (\d+)\r?\n", timeout)
        except TimeoutError:
            self.console.send("\x03")
            raise
        status, output = int(match.group(2)), match.group(1).replace("\r", "")
        if check and status != 0:
            raise RuntimeError(f"{self.name}: {cmd!r} exited {status}: {output}")
        return status, output

    def ping(self, ip, count=5, interval=0.2, wait=2):
        """Ping ip from the guest; return (sent, received)."""
        _, out = self.run(f"ping -c {count} -i {interval} -W {wait} {ip}",
                          timeout=count * interval + wait + 30)
        match = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
        if not match:
            raise RuntimeError(f"{self.name}: unexpected ping output: {out}")
        return int(match.group(1)), int(match.group(2))

    def iperf3_server(self):
        """(Re)start an iperf3 server daemon and wait until it listens."""
        self.run("killall -q iperf3; iperf3 -s -D", check=True)
        self.run(f"for i in $(seq 100); do netstat -ltn | grep -q :{IPERF3_PORT} && break;"
                 f" sleep 0.1; done; netstat -ltn | grep -q :{IPERF3_PORT}", check=True)

    def iperf3_client(self, server_ip, seconds=5, reverse=False, parallel=1):
        """Run an iperf3 TCP test; return dict(bits_per_second, retransmits, result)."""
        cmd = f"iperf3 -J -i 0 -c {server_ip} -t {seconds} -P {parallel}"
        if reverse:
            cmd += " -R"
        status, out = self.run(cmd, timeout=seconds + 60)
        result = json.loads(out[out.index("{"):]) if "{" in out else {}
        if status != 0 or "error" in result:
            raise RuntimeError(f"{self.name}: iperf3 failed ({status}): "
                               f"{result.get('error', out)}")
        end = result["end"]
        return dict(bits_per_second=end["sum_received"]["bits_per_second"],
                    retransmits=end["sum_sent"].get("retransmits", 0), result=result)


class BackgroundPing:
    """One ping stream run by a guest in the background, marked at a moment.

    start() launches `ping -i INTERVAL IP` inside the guest, appending its reply
    lines to a log there; mark() appends a marker line to the same log (both
    use O_APPEND, so the marker sits between the replies printed before and
    after it); stop() interrupts ping and returns what it saw:
    dict(transmitted, received, before=[seq...], after=[seq...]), the icmp
    sequence numbers of the replies printed before and after the mark.
    """

    MARK = "@@ping-mark@@"

    def __init__(self, guest, ip, interval=0.2, log="/tmp/bg-ping.log"):
        self.guest, self.ip, self.interval, self.log = guest, ip, interval, log

    def start(self):
        self.guest.run(f"rm -f {self.log}; ping -i {self.interval} {self.ip} "
                       f">> {self.log} 2>&1 &", check=True)

    def mark(self):
        self.guest.run(f"echo {self.MARK} >> {self.log}", check=True)

    def stop(self):
        _, out = self.guest.run(f"killall -INT ping; sleep 1; cat {self.log}", check=True)
        totals = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
        if self.MARK not in out or not totals:
            raise RuntimeError(f"{self.guest.name}: background ping log without "
                               f"{'its mark' if totals else 'totals'}: {out[-500:]}")
        before, _, after = out.partition(self.MARK)
        return dict(transmitted=int(totals.group(1)), received=int(totals.group(2)),
                    before=[int(x) for x in re.findall(r"seq=(\d+)", before)],
                    after=[int(x) for x in re.findall(r"seq=(\d+)", after)])

    def check_resumed(self, seen, what, seconds):
        """Check stop()'s result for a stream marked when a peer's reboot completed
        and stopped `seconds` later: it was answered before, went unanswered while
        the peer was down (so the reboot really happened under it), and after the
        mark every ping was answered: consecutive sequence numbers up to the last
        ping sent, at least half of the seconds / interval expected."""
        before, after = seen["before"], seen["after"]
        seqs = before + after
        gap = max((b - a for a, b in zip(seqs, seqs[1:])), default=1) - 1
        print(f"  {what}: {len(before)} replies before the reboot completed, {gap} pings "
              f"unanswered in a row, {len(after)} replies in the {seconds} s after it; "
              f"{seen['received']}/{seen['transmitted']} in all", flush=True)
        check(len(before) >= 5, f"{what}: only {len(before)} replies before the reboot")
        check(gap >= 5, f"{what}: at most {gap} pings unanswered in a row: "
                        f"the stream did not see the peer go down")
        check(len(after) >= 0.5 * seconds / self.interval,
              f"{what}: {len(after)} replies in the {seconds} s after the reboot completed")
        check(after == list(range(after[0], after[0] + len(after))),
              f"{what}: pings lost after the reboot completed: seq {after}")
        check(after[-1] >= seen["transmitted"] - 2,
              f"{what}: the last replies are missing (last seq {after[-1]} "
              f"of {seen['transmitted']} sent)")
