#!/usr/bin/env python3
"""Fairness: one guest flooding TX, or one frontend streaming vhost-user
messages, must not starve another pair of ports.

One vmswitch, four ports:
  a0, a1  pair A: one dpdk-testpmd with two virtio_user ports in a closed
          forwarding loop (mac mode: each port rewrites src to its own MAC
          and dst to the other's, so the switch's MAC table never flaps)
  f       the flooder: a second testpmd, txonly, 64-byte frames at full speed
  s       the sink: our Python frontend; it sends one frame so the switch
          learns its MAC, then never takes anything (the switch drops the
          flood for it as link_full / no buffer, after doing the RX work)
The flood goes to the sink's MAC, a known unicast, so pair A's rings never
see it. Pair A's packet rate (switch rx counters of a0 + a1 per second) is
measured alone, then in interleaved rounds beside a CPU hog and while f
floods; it must keep 40% of the rate beside the hog (median of the rounds).

The second test puts a message streamer on f instead (issue 11): our Python
frontend writing legal vhost-user messages (SET_VRING_ENABLE, which has no
reply) as fast as the socket takes them. The switch handles a few messages
per wake-up, so pair A must keep at least 60% of its rate beside the CPU hog
(the streamer is a CPU hog on CPU 0 too, and little else; it blocks on the
socket at times, so pair A's share of CPU 0 varies more than beside testpmd).

CPU placement on this 2-CPU machine: the switch is the thing under test and
is one thread, so it gets CPU 1 to itself (sched_setaffinity after start).
Both testpmds put their main and forwarding lcores on CPU 0 (--lcores
0@0,1@0): the main lcores sleep in the command line, the two forwarding
lcores busy-poll and share CPU 0. That sharing is unavoidable with two
busy-polling frontends and two CPUs; it halves the CPU of pair A's frontend
under load. To tell that apart from the switch's own fairness, a control
run measures pair A with a plain CPU hog (a busy loop pinned to CPU 0)
instead of the flooder: the same CPU contention for pair A, no load on the
switch. The figures of all three runs are printed.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, skip, test  # noqa: E402
from vhostfront import (VHOST_USER_HDR, VHOST_USER_SET_VRING_ENABLE,  # noqa: E402
                        VHOST_USER_VERSION, VRING_STATE, Frontend, NetDevice,
                        VhostUserError, make_frame)

RUN = "/tmp/vmsw-fair"
SECONDS = float(os.environ.get("FAIR_SECONDS", "4"))
ROUNDS = 7
MAC_A0, MAC_A1 = "02:00:00:00:0a:00", "02:00:00:00:0a:01"
MAC_F, MAC_S = "02:00:00:00:0f:00", "02:00:00:00:05:00"
SWITCH_CPU, FRONTEND_CPU = 1, 0


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def rx_of(sw, ports):
    st = sw.stats()["ports"]
    return {p: st[p].get("rx_packets", 0) for p in ports}, st


def rate(sw, ports, seconds):
    """Packets per second received by the switch on ports, over seconds."""
    before, _ = rx_of(sw, ports)
    t0 = time.monotonic()
    time.sleep(seconds)
    after, st = rx_of(sw, ports)
    dt = time.monotonic() - t0
    return sum(after[p] - before[p] for p in ports) / dt, st, {
        p: (after[p] - before[p]) / dt for p in ports}


def pmd_rate(pmd, seconds):
    """Packets per second testpmd received on all its ports, over seconds.

    Measured at the frontend, so it needs nothing from the switch (a switch
    stuck reading messages does not answer SIGUSR1 either).
    """
    before, t0 = pmd.port_stats(), time.monotonic()
    time.sleep(seconds)
    after, dt = pmd.port_stats(), time.monotonic() - t0
    return sum(after[p]["rx_packets"] - before[p]["rx_packets"] for p in after) / dt


def cpu_hog(cpu):
    """A busy loop pinned to cpu (a child process)."""
    return subprocess.Popen([sys.executable, "-c",
                             f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])


class MessageStreamer:
    """A child process streaming SET_VRING_ENABLE messages to port f at full speed."""

    def __init__(self, path, stack):
        self.path, self.proc = path, None
        stack.callback(self.stop)

    def start(self):
        self.proc = subprocess.Popen([sys.executable, __file__, "--stream", self.path],
                                     stdout=subprocess.PIPE, text=True)

    def stop(self):
        """Stop it; returns the number of messages it wrote (None if not running)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            out = self.proc.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()        # counted as writing nothing
            out = self.proc.communicate()[0]
        self.proc = None
        self.sent = int(out.split()[0]) if out.strip() else 0
        return self.sent


class Stop(Exception):
    """SIGTERM in the streamer."""


def on_sigterm(signum, frame):
    raise Stop()


def stream_messages(path):
    """The streamer's body: negotiate, then write messages until SIGTERM.

    The handler is its own: a test run from a background shell inherits
    SIGINT ignored, and Python then never raises KeyboardInterrupt (CI run
    here, 2026-12-03: the streamer outlived stop()'s 10 s). It may come
    while the switch has not taken the connection yet (it drains the last
    streamer's messages first), so it covers the negotiation too.
    """
    signal.signal(signal.SIGTERM, on_sigterm)
    sent = 0
    try:
        fe = Frontend.connect(path)
        fe.get_features()
        fe.set_protocol_features(fe.get_protocol_features())
        one = VHOST_USER_HDR.pack(VHOST_USER_SET_VRING_ENABLE, VHOST_USER_VERSION, 8) + \
            VRING_STATE.pack(0, 1)
        blob = one * 4096
        while True:
            fe.sock.sendall(blob)
            sent += 4096
    except (Stop, OSError, VhostUserError, TimeoutError):
        pass
    print(sent, flush=True)
    os._exit(0)


class TxonlyFlooder:
    """dpdk-testpmd in txonly mode: 64-byte frames to the sink's MAC, full speed."""

    def __init__(self, path, stack):
        self.pmd = stack.enter_context(VirtioUserPmd(
            [path], name="fair-flood", macs=[MAC_F],
            cores=f"0@{FRONTEND_CPU},1@{FRONTEND_CPU}",
            args=["--forward-mode=txonly", "--txpkts=64", "--burst=32",
                  "--port-topology=loop", f"--eth-peer=0,{MAC_S}"]))

    def start(self):
        self.pmd.cmd("start")

    def stop(self):
        self.pmd.cmd("stop")


def with_hog(pair_rate, seconds):
    """Pair A's rate beside a CPU hog on the frontends' CPU."""
    hog = cpu_hog(FRONTEND_CPU)
    try:
        time.sleep(0.3)
        return pair_rate(seconds)
    finally:
        hog.kill()
        hog.wait()


def loaded_window(sw, pair_rate, flood, kind, seconds):
    """Pair A's rate while the load runs, the load's own rate (frames into
    the switch from f, or messages written per second), the switch's CPU."""
    t_start = time.monotonic()
    flood.start()
    time.sleep(0.3)
    cpu0, t0 = sw.cpu_seconds(), time.monotonic()
    if kind == "messages":
        loaded = pair_rate(seconds)
        load = None
    else:
        _, _, per_port = rate(sw, ["a0", "a1", "f"], seconds)
        loaded, load = per_port["a0"] + per_port["a1"], per_port["f"]
    cpu = (sw.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    sent = flood.stop()
    if kind == "messages":
        load = sent / (time.monotonic() - t_start)
    return loaded, load, cpu


def measure_rounds(sw, pair_rate, flood, kind, out):
    """ROUNDS interleaved pairs of windows: beside the hog, then beside the
    load. This machine's speed flips between two states for seconds at a
    time, so a hog window and a load window far apart can compare a fast
    state with a slow one (CI, 2026-12-03: 13.7 Mpps beside the hog, 4.0
    while flooded, the flood still taking twice pair A's packets). Each
    round's ratio compares neighbours; the median of the rounds is judged."""
    window = SECONDS / 2
    out["rounds"] = []
    for _ in range(ROUNDS):
        hog = with_hog(pair_rate, window)
        out["rounds"].append((hog,) + loaded_window(sw, pair_rate, flood, kind, window))
    out["stats"] = sw.stats()["ports"]
    out["hog"] = statistics.median(r[0] for r in out["rounds"])
    out["loaded"] = statistics.median(r[1] for r in out["rounds"])
    out["ratio"] = statistics.median(r[1] / r[0] for r in out["rounds"])
    out["load"] = statistics.mean(r[2] for r in out["rounds"])
    out["cpu_loaded"] = statistics.median(r[3] for r in out["rounds"])


def measure(kind):
    """Pair A's rate alone, with a CPU hog, and while a load of kind runs on f
    ("txonly": testpmd flooding frames; "messages": MessageStreamer)."""
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    sock = {p: os.path.join(RUN, f"{p}.sock") for p in ("a0", "a1", "f", "s")}
    out = {}
    with ExitStack() as st:
        # The single loop's fairness, on a CPU of its own (see above): with
        # --cpus (VMSW_RUN_ARGS) a datapath thread would share the frontends'.
        sw = st.enter_context(Switch([f"{p}=vhost-user:{sock[p]},queues=1"
                                      for p in ("a0", "a1", "f", "s")],
                                     name=f"fairness-{kind}", env_args=False))
        os.sched_setaffinity(sw.proc.pid, {SWITCH_CPU})
        st.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))
        os.sched_setaffinity(0, {FRONTEND_CPU})    # this script and its children

        sink = NetDevice.connect(sock["s"])
        st.callback(sink.close)
        sink.send_frame(make_frame(64, 0, src=mac_bytes(MAC_S), dst=b"\xff" * 6))
        sink.wait_tx_done(2)

        pair = st.enter_context(VirtioUserPmd(
            [sock["a0"], sock["a1"]], name="fair-pair", macs=[MAC_A0, MAC_A1],
            cores=f"0@{FRONTEND_CPU},1@{FRONTEND_CPU}",
            args=["--forward-mode=mac", "--txpkts=64", "--burst=32",
                  f"--eth-peer=0,{MAC_A1}", f"--eth-peer=1,{MAC_A0}"]))
        if kind == "txonly":
            flood = TxonlyFlooder(sock["f"], st)
            st.callback(flood.stop)
        else:
            flood = MessageStreamer(sock["f"], st)

        def pair_rate(seconds):
            if kind == "messages":
                return pmd_rate(pair, seconds)
            return rate(sw, ["a0", "a1"], seconds)[0]

        pair.cmd("start tx_first 4")
        time.sleep(1)
        cpu0, t0 = sw.cpu_seconds(), time.monotonic()
        out["alone"] = pair_rate(SECONDS)
        out["cpu_alone"] = (sw.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        measure_rounds(sw, pair_rate, flood, kind, out)
        pair.cmd("stop")
        check(sw.alive(), "vmswitch died")
    a, s = out["stats"], out["stats"]["s"]
    print(f"  [{kind}] pair A alone:          {out['alone'] / 1e6:.3f} Mpps "
          f"(switch CPU {100 * out['cpu_alone']:.0f}%)")
    print(f"  [{kind}] pair A with a CPU hog: {out['hog'] / 1e6:.3f} Mpps "
          f"({100 * out['hog'] / out['alone']:.0f}%: CPU 0 shared, switch not loaded)")
    what, unit = (("streams messages", "messages/s written") if kind == "messages"
                  else ("floods", "Mpps into the switch"))
    scale = 1 if kind == "messages" else 1e6
    for i, (hog, loaded, load, _) in enumerate(out["rounds"]):
        print(f"  [{kind}] round {i + 1}: beside the hog {hog / 1e6:.3f} Mpps, while f {what} "
              f"{loaded / 1e6:.3f} ({100 * loaded / hog:.0f}%); f {load / scale:.3f} {unit}")
    print(f"  [{kind}] pair A while f {what}: {out['loaded'] / 1e6:.3f} Mpps (median; "
          f"median of the rounds' ratios {100 * out['ratio']:.0f}%); f: "
          f"{out['load'] / scale:.3f} {unit}; switch CPU {100 * out['cpu_loaded']:.0f}%")
    if kind == "messages":
        check(out["load"] * SECONDS > 1000,
              f"the streamer hardly wrote ({out['load']:.0f} messages/s)")
        return out
    print(f"  [{kind}] sink s: tx {s.get('tx_packets', 0)}, drops {s['drops']}; "
          f"pair A drops a0 {a['a0']['drops']} a1 {a['a1']['drops']}")
    check(out["load"] > 0.1 * out["alone"], f"the flooder hardly sent ({out['load']:.0f} pps)")
    return out


@test
def flood_does_not_starve_other_pair():
    """Pair A keeps >= 40% of its unloaded rate under the same CPU conditions.

    "Unloaded" is pair A beside the CPU hog: the flooder's testpmd takes half
    of CPU 0 from pair A's testpmd whatever the switch does, and that is not
    the switch's fairness. Judged on the median of ROUNDS neighbouring
    hog/flood window pairs (measure_rounds says why). Measured here
    (2026-12-03, five runs): rounds 39-93%, medians 53-82%; the switch gives
    every port one burst per pass, so the flooder gets about two thirds of
    the packets and pair A one third, whatever the machine's state. 40% is
    below the lowest median with room for this machine's speed states, and
    far above what a starved pair keeps.
    """
    if os.cpu_count() < 2:
        skip("needs 2 CPUs")
    out = measure("txonly")
    check(out["ratio"] >= 0.4,
          f"pair A fell to {100 * out['ratio']:.0f}% of its rate beside the CPU hog while f "
          f"flooded (median of {ROUNDS} interleaved rounds)")


@test
def message_stream_does_not_starve_other_pair():
    """Pair A keeps >= 60% of its rate beside the CPU hog while f streams messages.

    The streamer writes legal messages as fast as the socket takes them; the
    switch handles a few per wake-up (MSGS_PER_EVENT in port_vhost.c). Before
    that bound, the switch read messages as long as any were there, and the
    streamer kept it reading: pair A got next to nothing (1%). Measured here
    with the bound (2026-12-03): rounds 65-221%, medians 108% and 160%.
    """
    if os.cpu_count() < 2:
        skip("needs 2 CPUs")
    out = measure("messages")
    check(out["ratio"] >= 0.6,
          f"pair A fell to {100 * out['ratio']:.0f}% of its rate beside the CPU hog while f "
          f"streamed messages (median of {ROUNDS} interleaved rounds)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--stream":
        stream_messages(sys.argv[2])
        sys.exit(0)
    main()
