#!/usr/bin/env python3
"""`vmswitch exporter`: Prometheus over HTTP, relaying the control socket.

A switch with two DPDK virtio-user ports (dpdk-testpmd, --no-huge) in a
closed io-forwarding loop, as in test_ctl_top.py: 2 x 32 frames in flight,
switch and testpmd on one CPU. The exporter runs beside it and curl scrapes
it, as Prometheus would.

traffic: two scrapes a second apart while frames flow; every port's and
queue's rx and tx counters, the bridge's unicast count and the busy time
rise between them; `promtool check metrics` (Debian's prometheus) accepts
the real output; the exporter's output has the same HELP and TYPE lines
and the same series as `vmswitch ctl metrics` (it only relays).
ipv6: an exporter on [::1] answers there and not on 127.0.0.1; one on
":PORT" answers on both.
conventions: on the real output, a name ends in _total if and only if its
TYPE is counter, every family has one HELP and one TYPE line before its
samples, samples of a family are together, no series twice.
http_errors: other paths 404, POST and PUT 405 with `Allow: GET, HEAD`,
HEAD 200 with no body.
silent_clients: ten clients that connect and say nothing, and one that
sends half a request, do not delay a scrape (thread per connection).
stopped_switch: a switch that stops answering (SIGSTOP) gives 503 after the
exporter's 2 s wait; one killed (socket left, refused) and one whose socket
is gone give 503 at once; each says why in one line; a switch started again
on the same socket is scraped again.
usage: --help answers without connecting; a malformed --listen exits 2;
SIGTERM and SIGINT stop it with status 0.
valgrind: scrapes, 404, 405 and 503 under valgrind: no leak, no error,
no fd left open.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from hostutil import ensure_packages, free_tcp_port, log_dir, stop_process  # noqa: E402
from switch import Switch, binary  # noqa: E402
from testlib import check, main, skip, test  # noqa: E402

RUN = "/tmp/vmsw-exporter"
PORTS = ("east", "west")
BURST = 32
CPU = max(os.sched_getaffinity(0))
ANSWER_S = 2.0      # EXPORTER_ANSWER_MS: how long the exporter waits for the switch
# A scrape of a live switch takes a few ms (measured 4-15 ms on a loaded
# 2-CPU machine); curl's start is part of every figure.
QUICK_S = 0.5
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


class Exporter:
    """`vmswitch exporter` on listen, logging to build/test-logs."""

    def __init__(self, listen, ctl_path, name="exporter", prefix=()):
        self.listen, self.ctl_path, self.prefix = listen, ctl_path, list(prefix)
        self.logpath = os.path.join(log_dir(), f"{name}.log")
        self.proc = None

    def start(self, timeout=20):
        host, _, port = self.listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"    # empty: every address
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([*self.prefix, binary(), "exporter", "--listen",
                                      self.listen, "--socket", self.ctl_path],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()     # not left running when the test fails here
        check(False, f"exporter not listening on {self.listen} in {timeout} s "
              f"(exit status {self.proc.returncode}), see {self.logpath}")

    def url(self, path="/metrics"):
        return f"http://{self.listen}{path}"

    def stop(self, sig=signal.SIGTERM):
        rc = stop_process(self.proc, timeout=10, sig=sig) if self.proc else None
        if self.proc:
            self.log.close()
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def curl(url, *args):
    """(HTTP status, headers, body, seconds) of one request."""
    ensure_packages(["curl"])
    t = time.monotonic()
    r = subprocess.run(["curl", "-s", "-i", "--max-time", "20", *args, url],
                       capture_output=True, timeout=30)
    took = time.monotonic() - t
    check(r.returncode == 0, f"curl {url} failed ({r.returncode}): {r.stderr!r}")
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body.decode(), took


def scrape(exp):
    code, headers, body, took = curl(exp.url())
    check(code == 200, f"scrape answered {code}: {body!r}")
    check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
          f"Content-Type {headers.get('Content-Type')!r}")
    return body


def samples(text):
    """{series (name and labels): value} of a Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        check(m, f"unreadable sample line {line!r}")
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def promtool_check(text):
    ensure_packages(["prometheus"])
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          f"promtool check metrics ({r.returncode}): {r.stdout}{r.stderr}")


def convention_problems(text):
    """What in text breaks the naming and layout rules (an empty list if none)."""
    problems, types, helps, seen, done, current = [], {}, {}, set(), set(), None
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], line.split()[2], line.split(None, 3)[3:]
            table = helps if kind == "HELP" else types
            if name in table:
                problems.append(f"second {kind} for {name}")
            table[name] = rest[0] if rest else ""
            if name in done:
                problems.append(f"{kind} for {name} after its samples")
            continue
        m = SAMPLE.match(line)
        name = m.group(1)
        if name != current:
            if name in done:
                problems.append(f"samples of {name} not together")
            if current:
                done.add(current)
            current = name
        if name not in types or name not in helps:
            problems.append(f"{name} sampled without HELP and TYPE before it")
        series = name + (m.group(2) or "")
        if series in seen:
            problems.append(f"{series} twice")
        seen.add(series)
    for name, typ in types.items():
        if name.endswith("_total") != (typ == "counter"):
            problems.append(f"{name} has TYPE {typ}")
        if not helps.get(name):
            problems.append(f"{name} has no HELP text")
    return problems


def families(text):
    return [line for line in text.splitlines() if line.startswith("#")]


def sockets(name):
    d = os.path.join(RUN, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return [os.path.join(d, f"{p}.sock") for p in PORTS]


def switch(stack, name):
    socks = sockets(name)
    return stack.enter_context(Switch([f"{p}=vhost-user:{s}" for p, s in zip(PORTS, socks)],
                                      name=f"exporter-{name}")), socks


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@test
def traffic():
    with ExitStack() as st:
        sw, socks = switch(st, "traffic")
        os.sched_setaffinity(sw.proc.pid, {CPU})
        fe = st.enter_context(VirtioUserPmd(
            socks, name="exporter-traffic", cores=f"0@{CPU},1@{CPU}",
            args=["--forward-mode=io", "--txpkts=64", f"--burst={BURST}",
                  "--eth-peer=0,02:00:00:00:00:11", "--eth-peer=1,02:00:00:00:00:10"]))
        exp = st.enter_context(Exporter(f"127.0.0.1:{free_tcp_port()}", sw.ctl_path,
                                        name="exporter-traffic"))
        fe.cmd("start tx_first 1")
        time.sleep(1)
        first = scrape(exp)
        time.sleep(1)
        second = scrape(exp)
        fe.cmd("stop")
        code, relayed, err = sw.ctl("metrics")
        check(code == 0, f"ctl metrics failed: {err}")
    a, b = samples(first), samples(second)
    east_rx = 'vmswitch_port_rx_packets_total{port="east"}'
    print(f"  {len(b)} series; east rx {a[east_rx]:.0f} -> {b[east_rx]:.0f} frames in 1 s")
    rising = [f'vmswitch_port_{d}_{u}_total{{port="{p}"}}'
              for p in PORTS for d in ("rx", "tx") for u in ("packets", "bytes")]
    rising += [f'vmswitch_port_queue_{d}_packets_total{{port="{p}",queue="0"}}'
               for p in PORTS for d in ("rx", "tx")]
    rising += ['vmswitch_bridge_frames_total{decision="unicast"}',
               "vmswitch_datapath_busy_seconds_total", "vmswitch_datapath_busy_packets_total",
               "vmswitch_control_requests_total"]
    for series in rising:
        check(series in a and series in b, f"{series} missing")
        check(b[series] > a[series], f"{series} did not rise: {a[series]} then {b[series]}")
    for p in PORTS:
        check(b[f'vmswitch_port_up{{port="{p}"}}'] == 1, f"port {p} not up")
        check(b[f'vmswitch_port_drops_total{{port="{p}",reason="link_full"}}'] == 0,
              f"port {p} dropped frames in a closed loop")
    promtool_check(second)
    check(families(relayed) == families(second),
          "`ctl metrics` and the exporter differ in HELP or TYPE lines")
    check(sorted(samples(relayed)) == sorted(b),
          "`ctl metrics` and the exporter have different series")


@test
def ipv6():
    if not ipv6_loopback():
        skip("no IPv6 loopback (::1) on this machine")
    with ExitStack() as st:
        sw, _ = switch(st, "ipv6")
        port = free_tcp_port()
        with Exporter(f"[::1]:{port}", sw.ctl_path, name="exporter-v6") as exp:
            check('port="east"' in scrape(exp), "no port east from [::1]")
            check(subprocess.run(["curl", "-s", "--max-time", "5",
                                  f"http://127.0.0.1:{port}/metrics"]).returncode != 0,
                  "an exporter on [::1] answered on 127.0.0.1")
        # An empty ADDR: every address, IPv6 and IPv4 alike.
        with Exporter(f":{port}", sw.ctl_path, name="exporter-any") as exp:
            for host in ("127.0.0.1", "[::1]"):
                code, _, body, _ = curl(f"http://{host}:{port}/metrics")
                check(code == 200 and 'port="east"' in body, f":{port} from {host}: {code}")


@test
def conventions():
    with ExitStack() as st:
        sw, _ = switch(st, "conventions")
        exp = st.enter_context(Exporter(f"127.0.0.1:{free_tcp_port()}", sw.ctl_path,
                                        name="exporter-conventions"))
        text = scrape(exp)
    problems = convention_problems(text)
    check(not problems, "; ".join(problems[:10]))
    # The checker itself catches what it is for.
    bad = ("# HELP x_total h\n# TYPE x_total gauge\nx_total 1\n"
           "# HELP y h\n# TYPE y counter\ny 1\n# HELP z h\n# TYPE z gauge\nz 1\ny{k=\"b\"} 2\n")
    found = convention_problems(bad)
    check(len(found) == 3, f"the checker found {found} in a text with 3 problems")
    promtool_check(text)


@test
def http_errors():
    with ExitStack() as st:
        sw, _ = switch(st, "http")
        exp = st.enter_context(Exporter(f"127.0.0.1:{free_tcp_port()}", sw.ctl_path,
                                        name="exporter-http"))
        for path in ("/", "/metrics/", "/metric", "/favicon.ico"):
            code, _, body, _ = curl(exp.url(path))
            check(code == 404, f"GET {path}: {code}, expected 404")
        for method in ("POST", "PUT", "DELETE"):
            code, headers, body, _ = curl(exp.url(), "-X", method, "--data", "x=1")
            check(code == 405, f"{method} /metrics: {code}, expected 405")
            check(headers.get("Allow") == "GET, HEAD", f"{method}: Allow {headers.get('Allow')!r}")
        code, headers, body, _ = curl(exp.url(), "-I")
        check(code == 200 and body == "", f"HEAD /metrics: {code} with {len(body)} bytes")
        check(int(headers.get("Content-Length", 0)) > 1000,
              f"HEAD: Content-Length {headers.get('Content-Length')!r}")


@test
def silent_clients():
    with ExitStack() as st:
        sw, _ = switch(st, "silent")
        port = free_tcp_port()
        exp = st.enter_context(Exporter(f"127.0.0.1:{port}", sw.ctl_path,
                                        name="exporter-silent"))
        scrape(exp)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        st.callback(lambda: [s.close() for s in idle + [half]])
        time.sleep(0.2)
        worst = 0.0
        for _ in range(5):
            code, _, body, took = curl(exp.url())
            check(code == 200, f"scrape beside silent clients: {code} {body!r}")
            worst = max(worst, took)
        print(f"  slowest of 5 scrapes beside 11 silent clients: {worst * 1000:.0f} ms")
        check(worst < QUICK_S, f"a scrape took {worst:.2f} s beside silent clients")
        check(exp.proc.poll() is None, "the exporter died")


def expect_503(exp, why, low, high):
    code, _, body, took = curl(exp.url())
    check(code == 503, f"{why}: {code}, expected 503")
    check(body.count("\n") == 1 and body.endswith("\n"), f"{why}: body not one line: {body!r}")
    check(low <= took <= high, f"{why}: 503 after {took:.2f} s, expected {low}-{high} s")
    print(f"  {why}: 503 after {took * 1000:.0f} ms: {body.strip()}")
    return body


@test
def stopped_switch():
    with ExitStack() as st:
        sw, _ = switch(st, "stopped")
        exp = st.enter_context(Exporter(f"127.0.0.1:{free_tcp_port()}", sw.ctl_path,
                                        name="exporter-stopped"))
        scrape(exp)
        sw.proc.send_signal(signal.SIGSTOP)
        try:
            # The bound is the exporter's own wait; curl's start adds a little.
            body = expect_503(exp, "switch stopped (SIGSTOP)", ANSWER_S, ANSWER_S + QUICK_S)
        finally:
            sw.proc.send_signal(signal.SIGCONT)
        check("did not answer within 2 s" in body, f"stopped switch: {body!r}")
        sw.kill()
        check(os.path.exists(sw.ctl_path), "the killed switch's socket file went away")
        body = expect_503(exp, "switch killed", 0, QUICK_S)
        check("Connection refused" in body, f"killed switch: {body!r}")
        os.unlink(sw.ctl_path)
        body = expect_503(exp, "no socket", 0, QUICK_S)
        check("No such file or directory" in body and sw.ctl_path in body, f"no socket: {body!r}")
        again = st.enter_context(Switch([f"east=vhost-user:{RUN}/stopped/again.sock"],
                                        name="exporter-stopped"))
        check(again.ctl_path == sw.ctl_path, "the new switch has another control socket")
        check('port="east"' in scrape(exp), "the restarted switch is not scraped")
        check(exp.proc.poll() is None, "the exporter died")


@test
def usage():
    missing = os.path.join(RUN, "no-such.sock")
    t = time.monotonic()
    r = subprocess.run([binary(), "exporter", "--socket", missing, "--help"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "--listen ADDR:PORT" in r.stdout and "9472" in r.stdout,
          f"--help: {r.returncode} {r.stdout!r} {r.stderr!r}")
    check(time.monotonic() - t < QUICK_S, "--help was slow")
    for bad in ("9472", "::1:9472", "[::1]9472", "host:", "host:65536", "host:x"):
        r = subprocess.run([binary(), "exporter", "--listen", bad, "--socket", missing],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and "ADDR:PORT" in r.stderr,
              f"--listen {bad}: {r.returncode} {r.stderr!r}")
    for sig in (signal.SIGTERM, signal.SIGINT):
        port = free_tcp_port()
        exp = Exporter(f"127.0.0.1:{port}", missing, name="exporter-usage").start()
        t = time.monotonic()
        rc = exp.stop(sig)
        took = time.monotonic() - t
        check(rc == 0, f"{signal.Signals(sig).name}: exit status {rc}")
        check(took < QUICK_S, f"{signal.Signals(sig).name}: stopped after {took:.2f} s")
        with socket.socket() as s:      # the port is free again
            s.bind(("127.0.0.1", port))


@test
def valgrind():
    if "sanitize" in os.environ.get("B", ""):
        # ASan reserves shadow memory valgrind cannot run beside; the sanitizer
        # already checks this build for leaks and memory errors.
        skip("an AddressSanitizer build cannot run under valgrind (ASan checks it instead)")
    ensure_packages(["valgrind"])
    with ExitStack() as st:
        sw, _ = switch(st, "valgrind")
        vlog = tempfile.NamedTemporaryFile(prefix="exporter-vg-", suffix=".log", delete=False)
        st.callback(os.unlink, vlog.name)
        exp = Exporter(f"127.0.0.1:{free_tcp_port()}", sw.ctl_path, name="exporter-valgrind",
                       prefix=["valgrind", "--leak-check=full", "--error-exitcode=9",
                               "--errors-for-leak-kinds=definite,indirect,possible",
                               "--track-fds=yes", f"--log-file={vlog.name}"]).start(timeout=60)
        st.callback(exp.stop)
        for _ in range(3):
            scrape(exp)
        check(curl(exp.url("/x"))[0] == 404, "no 404 under valgrind")
        check(curl(exp.url(), "-X", "POST")[0] == 405, "no 405 under valgrind")
        sw.proc.send_signal(signal.SIGSTOP)
        try:
            check(curl(exp.url())[0] == 503, "no 503 from a stopped switch under valgrind")
        finally:
            sw.proc.send_signal(signal.SIGCONT)
        sw.stop()
        check(curl(exp.url())[0] == 503, "no 503 without a switch under valgrind")
        rc = exp.stop()
        with open(vlog.name) as f:
            report = f.read()
    summary = re.findall(r"ERROR SUMMARY: .*", report)
    print(f"  valgrind: {summary[-1] if summary else '?'}")
    check(rc == 0, f"exit status {rc} under valgrind (9: errors or leaks):\n{report[-3000:]}")
    check("All heap blocks were freed" in report, f"memory left at exit:\n{report[-3000:]}")
    # Open at exit: stdin, stdout, stderr and what the test harness passed in.
    opened = re.findall(r"Open (?:file descriptor|AF_\w+ socket) \d+: ?(.*)\n==\d+==\s+(.*)", report)
    ours = [o for o in opened if "inherited from parent" not in o[1]]
    check(not ours, f"descriptors left open: {ours}")


if __name__ == "__main__":
    main()
