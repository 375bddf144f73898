#!/usr/bin/env python3
"""The control socket: hostile clients cost the datapath nothing; it is private.

One vmswitch with a DPDK pair (two virtio_user ports of one testpmd in mac
forwarding) passing traffic. While the pair runs, control clients misbehave
as a new user's scripts or an attacker would: a hundred that connect and say
nothing, ten that trickle a request one byte a second, ten that ask for
output and never read it, one that sends a request longer than the limit,
and a burst of connections over the table size. Before the rewrite a single
trickling client froze forwarding for the whole request (200 frames took
5.1 s instead of 0.4 s).

Asserted: the pair keeps >= 80% of its rate (the issue's figure), over four
interleaved rounds of one second alone and one beside the clients (measured
95-112%; a single window each way once read 66% when the machine's speed
flipped between the two), the
longest pause the loop spent on control events between two passes stays
under 1 ms (the loop thread's CPU time, so a process preempting the switch
does not count; as wall time it read 0.1-0.3 ms on a quiet machine and up
to 12 ms while a compiler shared the switch's CPU), every misbehaving client was
answered or closed and counted, and well-behaved commands still work.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from switch import Switch, binary  # noqa: E402
from testlib import check, main, skip, test  # noqa: E402

RUN = "/tmp/vmsw-ctlsock"
MAC_A0, MAC_A1 = "02:00:00:00:0a:00", "02:00:00:00:0a:01"
SWITCH_CPU, FRONTEND_CPU = 1, 0
ROUNDS, WINDOW_S = 4, 1.0     # interleaved: alone, beside the clients, ...
REQUEST_MAX = 4096          # CTL_REQUEST_MAX
CONN_MAX = 128              # CTL_CONN_MAX
DEADLINE_S = 5              # a connection's whole life


def stats_json(sw):
    code, out, err = sw.ctl("stats", "--json")
    check(code == 0, f"stats --json failed ({code}): {err}")
    return json.loads(out)


def pair_window(sw, seconds):
    """(frames the switch received from a0 + a1, seconds, longest pause in us).

    The longest pause is the one since the previous counter read: reading
    the counters restarts it, so consecutive windows cover disjoint spans.
    """
    def rx():
        d = stats_json(sw)
        ports = {p["name"]: p for p in d["ports"]}
        return ports["a0"]["rx_packets"] + ports["a1"]["rx_packets"], d
    before, _ = rx()
    t0 = time.monotonic()
    time.sleep(seconds)
    after, d = rx()
    return after - before, time.monotonic() - t0, d["datapath"]["longest_pause_us"]


def open_hostiles(path):
    h = Hostiles(path)
    h.silent(100)
    h.non_readers(10)
    h.trickle(10)
    return h


def interleaved_rates(sw, rounds, seconds):
    """Rates alone and beside the hostile clients, windows interleaved.

    The machine's speed flips for seconds at a time, so one window alone
    then one loaded compares two speeds of the machine (a 66% reading came
    from that once). Alternating rounds and summing each side puts both in
    the same mix of fast and slow spans. Returns (alone pps, loaded pps,
    longest pause while loaded, the last round's clients, still open).
    """
    alone, loaded, pause = [0, 0.0], [0, 0.0], 0
    for r in range(rounds):
        n, t, _ = pair_window(sw, seconds)
        alone[0] += n
        alone[1] += t
        hostile = open_hostiles(sw.ctl_path)
        n, t, p = pair_window(sw, seconds)
        loaded[0] += n
        loaded[1] += t
        pause = max(pause, p)
        if r < rounds - 1:
            hostile.close()
    return alone[0] / alone[1], loaded[0] / loaded[1], pause, hostile


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


class Hostiles:
    """The misbehaving clients, kept open until close()."""

    def __init__(self, path):
        self.path, self.socks, self.stop = path, [], threading.Event()
        self.trickle_threads = []

    def silent(self, n):
        self.socks += [connect(self.path) for _ in range(n)]

    def non_readers(self, n):
        for _ in range(n):
            s = connect(self.path)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"show --json\n")
            self.socks.append(s)

    def trickle(self, n, line=b"stats\n", every=1.0):
        def run():
            try:
                s = connect(self.path)
            except OSError:
                return
            self.socks.append(s)
            for b in line:
                if self.stop.wait(every):
                    return
                try:
                    s.send(bytes([b]))
                except OSError:
                    return
        for _ in range(n):
            t = threading.Thread(target=run, daemon=True)
            t.start()
            self.trickle_threads.append(t)

    def close(self):
        self.stop.set()
        for t in self.trickle_threads:
            t.join()
        for s in self.socks:
            s.close()


def too_long(path):
    """A request over the limit: answered with ERR, not read forever."""
    s = connect(path)
    try:
        s.sendall(b"x" * (REQUEST_MAX + 100))
    except OSError:
        pass
    s.settimeout(5)
    answer = s.recv(200)
    s.close()
    return answer


def over_the_table(path, n):
    """n connections at once; those over the table size are closed at once."""
    socks = [connect(path) for _ in range(n)]
    time.sleep(0.5)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        s.close()
    return closed


@test
def hostile_clients_cost_the_datapath_nothing():
    if os.cpu_count() < 2:
        skip("needs 2 CPUs: the switch and the DPDK pair on their own CPUs")
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    sock = {p: os.path.join(RUN, f"{p}.sock") for p in ("a0", "a1")}
    with ExitStack() as st:
        # One datapath thread on a CPU of its own, the DPDK pair on the other:
        # the cost measured is the single loop's; --cpus (VMSW_RUN_ARGS) would
        # put a datapath thread on the pair's CPU too.
        sw = st.enter_context(Switch([f"{p}=vhost-user:{sock[p]},queues=1" for p in sock],
                                     name="ctl-socket", env_args=False))
        os.sched_setaffinity(sw.proc.pid, {SWITCH_CPU})
        st.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))
        os.sched_setaffinity(0, {FRONTEND_CPU})
        pair = st.enter_context(VirtioUserPmd(
            [sock["a0"], sock["a1"]], name="ctlsock-pair", macs=[MAC_A0, MAC_A1],
            cores=f"0@{FRONTEND_CPU},1@{FRONTEND_CPU}",
            args=["--forward-mode=mac", "--txpkts=64", "--burst=32",
                  f"--eth-peer=0,{MAC_A1}", f"--eth-peer=1,{MAC_A0}"]))
        pair.cmd("start tx_first 4")
        time.sleep(1)
        # Reading the counters restarts the longest pause: what the windows
        # report is the clients' doing, not the pair's vhost-user set-up.
        pause_before = pair_window(sw, 0.2)[2]
        alone, loaded, pause_loaded, hostile = interleaved_rates(sw, ROUNDS, WINDOW_S)
        st.callback(hostile.close)
        d = stats_json(sw)
        answer = too_long(sw.ctl_path)
        time.sleep(DEADLINE_S + 1)      # every hostile connection is now past its deadline
        hostile.close()
        closed = over_the_table(sw.ctl_path, CONN_MAX + 40)
        pair.cmd("stop")
        end = stats_json(sw)
        ctl = end["control"]
        pause = max(pause_loaded, end["datapath"]["longest_pause_us"])
        print(f"  pair alone {alone / 1e6:.3f} Mpps, beside the hostile clients "
              f"{loaded / 1e6:.3f} Mpps ({100 * loaded / alone:.0f}%)")
        print(f"  longest control pause between passes: {pause} us "
              f"(before the clients {pause_before} us); control counters {ctl}")
        check(alone > 0, "the DPDK pair forwarded nothing")
        check(loaded >= 0.8 * alone,
              f"forwarding fell to {100 * loaded / alone:.0f}% beside the hostile clients")
        check(pause < 1000, f"the loop paused {pause} us for control events (limit 1000)")
        check(d["control"]["connections"] >= 120 * ROUNDS, f"not every client was taken: {d['control']}")
        check(answer.startswith(b"ERR request longer than"), f"oversized request answered {answer!r}")
        check(ctl["too_long"] == 1, f"too_long counted {ctl['too_long']}, expected 1")
        # The 10 non-readers' answers fit their socket buffers: they close
        # normally. Measured 110 in every run.
        check(ctl["timeouts"] == 110,
              f"{ctl['timeouts']} connections closed at their deadline, expected 110 "
              "(100 silent, 10 trickling)")
        check(closed >= 40 and ctl["refused"] >= 40,
              f"{closed} of the connections over the table closed, refused {ctl['refused']}")
        check(sw.alive(), "vmswitch died")


@test
def socket_is_private_and_not_stolen():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    with Switch([f"a=vhost-user:{RUN}/a.sock"], name="ctl-private") as sw:
        mode = stat.S_IMODE(os.stat(sw.ctl_path).st_mode)
        check(mode == 0o600, f"control socket mode {mode:o}, expected 600")
        # A second switch on the same control socket must not take it over.
        r = subprocess.run([binary(), "run", "--ctl-socket", sw.ctl_path,
                            "--port", f"b=vhost-user:{RUN}/b.sock"],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode != 0, "a second switch started on a live control socket")
        print(f"  second switch: {r.stderr.strip().splitlines()[-1] if r.stderr else ''}")
        code, out, _ = sw.ctl("show")
        check(code == 0 and "port a" in out, "the first switch lost its control socket")


@test
def json_survives_odd_strings():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    with Switch([f"a=vhost-user:{RUN}/a.sock"], name="ctl-json") as sw:
        code, _, err = sw.ctl("port", "set", "a", "ingress_filter=ether proto \\ip")
        check(code == 0, f"filter with a backslash refused: {err}")
        for cmd in (("show", "--json"), ("stats", "--json"), ("fdb", "--json")):
            code, out, err = sw.ctl(*cmd)
            check(code == 0, f"{' '.join(cmd)} failed: {err}")
            try:
                doc = json.loads(out)
            except ValueError as e:
                check(False, f"{' '.join(cmd)} is not JSON ({e}): {out[:200]}")
            if cmd[0] == "show":
                check(doc[0]["ingress_filter"] == "ether proto \\ip",
                      f"filter came back as {doc[0]['ingress_filter']!r}")
        env = dict(os.environ, VMSWITCH_TOP_N="1")
        r = subprocess.run([binary(), "ctl", "--socket", sw.ctl_path, "top"],
                           capture_output=True, text=True, timeout=20, env=env)
        check(r.returncode == 0 and "\na " in r.stdout, f"ctl top failed: {r.stderr}")


@test
def malformed_commands_refused_not_cut():
    """A request is taken whole or refused: never silently cut or misread."""
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    with Switch([f"a=vhost-user:{RUN}/a.sock"], name="ctl-malformed") as sw:
        hosts = lambda n: " or ".join(f"host 10.0.0.{i}" for i in range(1, n + 1))
        code, _, err = sw.ctl("port", "set", "a", f"ingress_filter={hosts(9)}")
        check(code == 0, f"a 9-host filter refused: {err}")
        code, _, err = sw.ctl("port", "set", "a", f"ingress_filter={hosts(39)}")
        check(code == 1 and "too long" in err, f"a 39-host filter: {code} {err!r}")
        code, out, _ = sw.ctl("show", "--json")
        check(json.loads(out)[0]["ingress_filter"] == hosts(9),
              "the refused filter changed the port's filter")
        code, _, err = sw.ctl("show", *[str(i) for i in range(300)])
        check(code == 1 and "words" in err, f"300 words: {code} {err!r}")
        for args, what in ((("capture", "a", f"{RUN}/x.pcap", "--count", "abc"), "frame count"),
                           (("capture", "a", f"{RUN}/x.pcap", "--count", "-1"), "frame count"),
                           (("metrics", "--json"), "Prometheus"),
                           (("port", "add", "x=vhost-user:,"), ""),
                           (("port", "set", "a", "rx_rate=nan"), ""),
                           (("port", "set", "a", "rx_rate=inf"), "")):
            code, _, err = sw.ctl(*args)
            check(code == 1 and what in err, f"{' '.join(args)}: {code} {err!r}")
        code, out, _ = sw.ctl("fdb", "flush", "--json")
        check(code == 0 and json.loads(out) == {"removed": 0}, f"fdb flush --json: {out!r}")
        check(sw.alive(), "vmswitch died")


if __name__ == "__main__":
    main()
