#!/usr/bin/env python3
"""Port removal is safe: storms of `ctl port del` / `port add` / `reload`
while frontends kick, send messages and send frames, and traffic flows.

One vmswitch started from a config file:
  a0, a1  a dpdk-testpmd pair (two virtio_user ports, mac forwarding, a
          closed loop, VLAN 10): the traffic that must keep flowing; the
          storm never touches these two ports
  k0..k3  from the config file: each reload leaves out some of them and
          changes the spec (queues=) of the others, so ports are removed,
          replaced and added back (VLAN 20)
  x0, x1  added and removed with `vmswitch ctl port add` / `port del`
Every churned port has a kicker: a child process with our Python frontend
(tests/lib/vhostfront.py) that connects (retrying while the port is away),
negotiates, then without pause kicks every ring (eventfd writes), sends
SET_VRING_ENABLE messages and frames to the next kicker, and connects again
when the switch closes it. So the ports being removed have socket and kick
events waiting in the very epoll batch that runs the command (issue 11: the
loop then called a handler of a port freed earlier in the batch).

Checks: the switch lives through the storm and stops cleanly (exit 0); its
log has no sanitizer report (under `make check SANITIZE=1` the old loop's
use-after-free was reported there and killed the switch); every command
was answered; pair A's traffic flowed during every second of the storm;
afterwards each churned port is back and forwards frames, and the switch
holds no more fds than before the storm.

A second, narrower test makes the race certain: it removes a port while
its frontend makes the port's kick fds and socket ready just after the
request, with traffic keeping the loop busy, so one batch holds the command
and then the removed port's events (the old loop failed it in round 1 or 2
under ASan). Without ASan the freed port's handlers read fd -1 from the
freed memory and were skipped by luck: tests/unit/test_evloop.c shows the
case a build without ASan gets wrong (the memory reused by a new handler).

Environment: STORM_SECONDS (default 12), STORM_ROUNDS (default 100).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import TestFailure, check, main, test  # noqa: E402
from vhostfront import (VRING_STATE, VHOST_USER_SET_VRING_ENABLE, ConnectionClosed,  # noqa: E402
                        Frontend, NetDevice, make_frame)

RUN = "/tmp/vmsw-storm"
SECONDS = float(os.environ.get("STORM_SECONDS", "12"))
ROUNDS = int(os.environ.get("STORM_ROUNDS", "100"))
MAC_A0, MAC_A1 = "02:00:00:00:0a:00", "02:00:00:00:0a:01"
CONFIG_PORTS = ["k0", "k1", "k2", "k3"]
CTL_PORTS = ["x0", "x1"]
CHURNED = CONFIG_PORTS + CTL_PORTS


def sock(name):
    return os.path.join(RUN, f"{name}.sock")


def kicker_mac(i):
    return bytes([2, 0, 0, 0, 0x5c, i])


def port_conf(name, extra=""):
    return (f'  {{ name = "{name}"; type = "vhost-user"; path = "{sock(name)}"; '
            f'{extra} }}')


def write_conf(path, step):
    """The pair always; of k0..k3 a varying subset, with a varying queue count."""
    entries = [port_conf("a0", "vlan = 10;"), port_conf("a1", "vlan = 10;")]
    for i, name in enumerate(CONFIG_PORTS):
        if (step + i) % 3 == 2:
            continue                        # removed by this reload
        spec_q = 1 + (step + i) % 2         # 1 or 2: a changed spec replaces the port
        entries.append(port_conf(name, f"queues = {spec_q}; vlan = 20;"))
    with open(path + ".tmp", "w") as f:
        f.write("ports = (\n" + ",\n".join(entries) + "\n);\n")
    os.replace(path + ".tmp", path)


# --- the kicker (a child process) ---------------------------------------------

def kicker(index, seconds):
    """Connect, negotiate, then kick, message and send until the time is up."""
    path = sock(CHURNED[index])
    me, peer = kicker_mac(index), kicker_mac((index + 1) % len(CHURNED))
    enable = VRING_STATE.pack(0, 1)
    end = time.monotonic() + seconds
    sessions = 0
    while time.monotonic() < end:
        dev = None
        try:
            dev = NetDevice(Frontend.connect(path, timeout=max(0.1, end - time.monotonic())),
                            queue_size=64)
            dev.start()
            sessions += 1
            n = 0
            while time.monotonic() < end:
                for vq in dev.rx + dev.tx:
                    vq.kick(force=True)
                dev.fe.send_raw(VHOST_USER_SET_VRING_ENABLE, payload=enable)
                if n % 4 == 0:
                    dev.reclaim_tx()
                    if dev.tx[0].num_free:
                        dev.send_frame(make_frame(80, n, src=me, dst=peer), timeout=0)
                    dev.recv_frames(timeout=0)
                n += 1
        except Exception:   # noqa: BLE001 - the port went away: connect again
            time.sleep(0.005)
        finally:
            if dev is not None:
                try:
                    dev.close()
                except OSError:
                    pass
    print(f"kicker {CHURNED[index]}: {sessions} sessions", flush=True)


# --- the test -------------------------------------------------------------------

def ctl_ok(sw, *args):
    """Run one ctl command: (exit status, its stderr)."""
    code, _, err = sw.ctl(*args)
    return code, err.strip()


def forwards_after(name, to):
    """A fresh frontend on port name gets a frame to a fresh frontend on port to."""
    a = NetDevice.connect(sock(name))
    b = NetDevice.connect(sock(to))
    try:
        ma, mb = b"\x02\x00\x00\x00\x5d\x01", b"\x02\x00\x00\x00\x5d\x02"
        b.send_frame(make_frame(60, 1, src=mb, dst=mb))        # teach the switch b's MAC
        b.wait_tx_done(2)
        frame = make_frame(100, 2, src=ma, dst=mb)
        a.send_frame(frame)
        got = b.recv_frames(timeout=3, count=1)
        return got == [frame]
    finally:
        a.close()
        b.close()


def pair(sw):
    """Pair A: testpmd forwarding in a closed loop between ports a0 and a1."""
    return VirtioUserPmd([sock("a0"), sock("a1")], name=sw.name, macs=[MAC_A0, MAC_A1],
                         args=["--forward-mode=mac", "--txpkts=64", "--burst=32",
                               f"--eth-peer=0,{MAC_A1}", f"--eth-peer=1,{MAC_A0}"])


def ctl_raw(path, line, then):
    """Send one control request by hand, call then() right after, read the answer.

    The connection is made first and given time to be accepted, so that the
    request, and whatever then() makes ready, become ready in this order.
    """
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        time.sleep(0.005)
        s.sendall(line.encode() + b"\n")
        then()
        s.settimeout(10)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer.decode(errors="replace")
    finally:
        s.close()


def sanitizer_report(sw):
    """The first lines of a sanitizer report in the switch's log, or ''."""
    log = sw.output()
    at = log.find("ERROR: AddressSanitizer")
    if at < 0:
        at = log.find("runtime error")
    if at < 0:
        return ""
    return (f" with a sanitizer report (log {sw.logpath}):\n"
            + "\n".join(log[at:].splitlines()[:14]))


def del_with_events_behind(sw, enable):
    """Add port v, connect a frontend, remove the port while the frontend
    makes the port's kick fds and socket ready; True if answered OK."""
    code, err = ctl_ok(sw, "port", "add", f"v=vhost-user:{sock('v')}")
    check(code == 0, f"port add v: {err}")
    dev = NetDevice.connect(sock("v"), queue_size=64)
    try:
        def make_ready():
            for vq in dev.rx + dev.tx:
                os.eventfd_write(vq.kickfd, 1)
            try:
                dev.fe.send_raw(VHOST_USER_SET_VRING_ENABLE, payload=enable)
            except ConnectionClosed:
                pass	# the switch was quicker: the port is gone already
        return ctl_raw(sw.ctl_path, "port del v", make_ready).startswith("OK")
    finally:
        dev.close()


@test
def port_del_with_its_events_queued_behind_the_command():
    """`port del` of a port whose kick fds and socket become ready just after
    the request: one epoll batch holds the command, then the removed port's
    events. The loop used to call (read) the freed port's handlers there: a
    heap-use-after-free under ASan (make check SANITIZE=1). Repeated ROUNDS
    times; the switch must live and each removal be answered."""
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    enable = VRING_STATE.pack(0, 1)
    with ExitStack() as st:
        sw = st.enter_context(Switch([f"{p}=vhost-user:{sock(p)}" for p in ("a0", "a1")],
                                     name="storm-batch", args=["-q"]))
        # Traffic keeps the loop busy: it looks at events between passes, so
        # the request and the events behind it land in one batch.
        pmd = st.enter_context(pair(sw))
        pmd.cmd("start tx_first 4")
        time.sleep(0.5)
        refused = 0
        for r in range(ROUNDS):
            try:
                refused += not del_with_events_behind(sw, enable)
            except Exception as e:  # noqa: BLE001 - a dead switch explains it best
                check(sw.alive(), f"round {r}: vmswitch died{sanitizer_report(sw)}")
                raise TestFailure(f"round {r}: {type(e).__name__}: {e}") from e
            check(sw.alive(), f"round {r}: vmswitch died{sanitizer_report(sw)}")
        check(not sanitizer_report(sw), f"the switch lives, but{sanitizer_report(sw)}")
        check(not refused, f"{refused} of {ROUNDS} removals not answered OK")
        print(f"  {ROUNDS} removals with the port's events queued behind the command")
        check(sw.stop() == 0, f"vmswitch did not stop cleanly, log {sw.logpath}")


@test
def storm_of_port_del_add_reload_while_kicking():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    conf = os.path.join(RUN, "vmswitch.conf")
    write_conf(conf, 0)
    counts = dict(reloads=0, dels=0, adds=0, refused=[])
    with ExitStack() as st:
        sw = st.enter_context(Switch([], name="storm", args=["--config", conf, "-q"]))
        pmd = st.enter_context(pair(sw))
        pmd.cmd("start tx_first 4")
        for name in CTL_PORTS:
            code, err = ctl_ok(sw, "port", "add", f"{name}=vhost-user:{sock(name)}", "vlan=20")
            check(code == 0, f"port add {name}: {err}")
        time.sleep(1)
        fds_before = len(os.listdir(f"/proc/{sw.proc.pid}/fd"))
        kickers = [subprocess.Popen([sys.executable, __file__, "--kicker", str(i),
                                     str(SECONDS)], stdout=subprocess.PIPE, text=True)
                   for i in range(len(CHURNED))]
        st.callback(lambda: [k.kill() for k in kickers if k.poll() is None])
        time.sleep(1)               # let the kickers connect once
        samples = [(time.monotonic(), sum(s["rx_packets"] for s in pmd.port_stats().values()))]
        end = time.monotonic() + SECONDS - 1.5
        hard_end = end + SECONDS       # a slow build gets its 10 reloads in more time
        step = 0
        while ((time.monotonic() < end or counts["reloads"] < 10)
               and time.monotonic() < hard_end and sw.alive()):
            step += 1
            write_conf(conf, step)
            code, err = ctl_ok(sw, "reload")
            counts["reloads"] += 1
            if code:
                counts["refused"].append(f"reload: {err}")
            name = CTL_PORTS[step % 2]
            code, err = ctl_ok(sw, "port", "del", name)
            counts["dels"] += code == 0
            if code:
                counts["refused"].append(f"port del {name}: {err}")
            code, err = ctl_ok(sw, "port", "add", f"{name}=vhost-user:{sock(name)}", "vlan=20")
            counts["adds"] += code == 0
            if code:
                counts["refused"].append(f"port add {name}: {err}")
            if time.monotonic() - samples[-1][0] >= 1:
                samples.append((time.monotonic(),
                                sum(s["rx_packets"] for s in pmd.port_stats().values())))
        outs = [k.communicate(timeout=SECONDS + 30)[0].strip() for k in kickers]
        alive = sw.alive()
        print(f"  {counts['reloads']} reloads, {counts['dels']} port dels, "
              f"{counts['adds']} port adds in {SECONDS - 2.5:.0f} s; " + "; ".join(outs))
        rates = [(v1 - v0) / (t1 - t0) for (t0, v0), (t1, v1) in zip(samples, samples[1:])]
        print("  pair A during the storm, per second: "
              + " ".join(f"{r / 1e6:.2f}M" for r in rates))
        check(alive, f"vmswitch died during the storm{sanitizer_report(sw)}")
        check(not sanitizer_report(sw), f"the switch lives, but{sanitizer_report(sw)}")
        check(not counts["refused"], f"commands refused: {counts['refused'][:5]}")
        check(counts["reloads"] >= 10, f"only {counts['reloads']} reloads in the storm")
        check(len(rates) >= 3 and min(rates) > 0,
              f"pair A stalled during the storm: {rates}")
        # Settle on step 1's ports (k0, k2, k3) and both x ports.
        write_conf(conf, 1)
        check(ctl_ok(sw, "reload")[0] == 0, "final reload refused")
        for name, to in (("k2", "x0"), ("x1", "k0")):
            check(forwards_after(name, to), f"port {name} does not forward to {to} after the storm")
        time.sleep(0.5)
        fds_after = len(os.listdir(f"/proc/{sw.proc.pid}/fd"))
        print(f"  switch fds: {fds_before} before the storm, {fds_after} after")
        check(fds_after <= fds_before, f"fd leak: {fds_before} -> {fds_after}")
        pmd.cmd("stop")
        pmd.stop()
        rc = sw.stop()
        with open(sw.logpath, "rb") as f:
            f.seek(sw.offset)                   # this run's lines only
            log = f.read().decode(errors="replace")
        check(rc == 0, f"vmswitch exited with {rc}, log {sw.logpath}")
        check("Sanitizer" not in log, f"sanitizer report at exit, log {sw.logpath}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--kicker":
        kicker(int(sys.argv[2]), float(sys.argv[3]))
        sys.exit(0)
    main()
