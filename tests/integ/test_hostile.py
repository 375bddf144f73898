#!/usr/bin/env python3
"""Hostile guests and broken frontends (issue 4): nothing one sends may hurt the switch.

One vmswitch with four vhost-user ports, started once for the whole file:

* ``evil``: the attacker, our Python frontend (tests/lib/vhostfront.py); every
  attack connects a fresh one.
* ``b`` and ``c``: a dpdk-testpmd with two net_virtio_user ports in io-forward
  mode (``start tx_first 4``, crossed --eth-peer MACs): a closed loop of frames
  b <-> c that runs during every attack.
* ``w``: the witness, a well-behaved Python NetDevice that stays connected. It
  shows that the attacker still forwards when its input was legal, receives
  nothing it must not receive, and sends frames to the attacker's RX ring.
  It negotiates no offloads: what it receives was segmented and checksummed
  by the switch.
* ``t``: a second witness that negotiates GUEST_CSUM, GUEST_TSO4/6 and
  GUEST_ECN (issue 12): offloaded frames reach it whole.
* ``off``: a port with offloads=off, for an attacker whose header asks for
  offloads the switch never offered.

Every frame the attacker and the witness send is known unicast (each learns its
MAC first with a frame to itself, which the switch filters), so nothing of
theirs reaches testpmd: in io mode testpmd would forward it back forever.

After each attack (the @attack wrapper) the test checks that
1. vmswitch is alive;
2. the attack was counted and the connection closed (the test body checks
   that: ``faults``/``last_fault``, a drop reason, EOF on the socket), or, for
   legal-but-odd input, that the port still forwards;
3. b <-> c traffic never stopped: testpmd's RX counters were sampled every
   0.25 s and neither port went more than STALL_MAX seconds without a frame,
   and the switch's rx counters of b and c increased;
4. no fd and no guest mapping leaked: /proc/<pid>/fd and the memfd mappings in
   /proc/<pid>/maps are back to their count before the attack once the
   attacker is gone.

Run: python3 tests/integ/test_hostile.py [name-filter ...]
"""

import os
import random
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from offload_frames import (  # noqa: E402
    F_CSUM, F_HOST_ECN, F_HOST_TSO4, F_HOST_TSO6, GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP,
    GSO_UDP_L4, MSS, NEEDS_CSUM, OFL_RX, OFL_TX, TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH, VNET,
    check_segments, gso_hdr, scapy, scapy_csums, vnet)
from offload_frames import ofl_frame as _ofl_frame  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import TestFailure, check, main, test  # noqa: E402
from vhostfront import (  # noqa: E402
    DEFAULT_GPA, DEFAULT_QVA_OFFSET, MEM_REGION, U64, VHOST_USER_GET_FEATURES,
    VHOST_USER_GET_VRING_BASE, VHOST_USER_HDR, VHOST_USER_NEED_REPLY_MASK,
    VHOST_USER_SET_FEATURES, VHOST_USER_SET_LOG_BASE, VHOST_USER_SET_LOG_FD,
    VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_OWNER, VHOST_USER_SET_PROTOCOL_FEATURES,
    VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_VRING_BASE, VHOST_USER_SET_VRING_CALL,
    VHOST_USER_SET_VRING_ENABLE, VHOST_USER_SET_VRING_ERR, VHOST_USER_SET_VRING_KICK,
    VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, VHOST_USER_VRING_NOFD_MASK, VRING_ADDR,
    VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_STATE,
    DEFAULT_NET_FEATURES, ConnectionClosed, Frontend, GuestMemory, MemoryRegion, NetDevice,
    VhostUserError, bit, make_frame, pack_mem_table)

RUN = "/tmp/vmsw-hostile"
SOCK = {name: os.path.join(RUN, f"{name}.sock") for name in ("evil", "b", "c", "w", "t", "off")}
# Port options: "off" is a second attacker port that offers no offloads.
SOCK_OPTS = {"off": ",offloads=off"}
MAC_B, MAC_C = "02:00:00:00:00:10", "02:00:00:00:00:11"      # testpmd ports 0 and 1
MAC_E = bytes.fromhex("02000000e001")                          # the attacker
MAC_W = bytes.fromhex("02000000e002")                          # the witness
MAC_T = bytes.fromhex("02000000e003")                          # the witness with offloads
MAC_O = bytes.fromhex("02000000e004")                          # attacker on "off"
HDR = bytes(12)                 # virtio-net header with num_buffers (VERSION_1)
# Longest b/c pause accepted (2 cores, all polling). The monitor samples every
# 0.25 s, so a pause is seen as 0.25 s or more even when there is none. Measured
# on a 2-core machine, the longest pause of each attack, 8 runs of them all,
# beside other work (a fuzzer, or a busy loop pinned to one CPU, load ~3): 0.25-
# 0.35 s for nearly every attack; above that only dp_avail_idx_jump once (0.50 s)
# and dp_tx_flood, which floods on purpose, twice (0.61 s, 0.71 s). The limit is
# twice the worst, 0.71 s (it was 3.0 s).
STALL_MAX = 1.5
MIN_WINDOW = 1.0                # every attack window lasts at least this long
DRAIN_LIMIT_S = 30              # a witness still receiving after this is flooded
CLOSE_TIMEOUT = 5.0


def say(msg):
    print(f"  {msg}", flush=True)


# =============================================================================
# process inspection
# =============================================================================

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def memfd_maps(pid):
    """Mappings of memfds (guest memory) in the process."""
    with open(f"/proc/{pid}/maps") as f:
        return sum(1 for line in f if "/memfd:" in line)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def exit_description(rc):
    if rc is None:
        return "running"
    if rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    return f"exit status {rc}"


# =============================================================================
# b <-> c traffic monitor
# =============================================================================

class Monitor(threading.Thread):
    """Samples testpmd's RX counters while an attack runs."""

    def __init__(self, pmd, period=0.25):
        super().__init__(daemon=True)
        self.pmd, self.period = pmd, period
        self.samples = []
        self.error = None
        self.worst_stall = None
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                st = self.pmd.port_stats()
                self.samples.append((time.monotonic(), st[0]["rx_packets"],
                                     st[1]["rx_packets"]))
            except Exception as e:  # noqa: BLE001 - reported by verdict()
                self.error = e
                return
            self.done.wait(self.period)

    def stop(self):
        self.done.set()
        self.join(30)

    def rate(self, t0, t1):
        """b+c frames per second between t0 and t1 (nearest samples)."""
        s = [x for x in self.samples if t0 <= x[0] <= t1]
        if len(s) < 2:
            return 0.0
        return (s[-1][1] + s[-1][2] - s[0][1] - s[0][2]) / (s[-1][0] - s[0][0])

    def verdict(self):
        """None if traffic flowed throughout, else why not."""
        if self.error:
            return f"could not read testpmd stats: {self.error}"
        if len(self.samples) < 2:
            return "fewer than two testpmd samples"
        worst = []
        for port in (1, 2):
            last_t, last_v, stall = self.samples[0][0], self.samples[0][port], 0.0
            for s in self.samples[1:]:
                if s[port] > last_v:
                    stall = max(stall, s[0] - last_t)
                    last_t, last_v = s[0], s[port]
            stall = max(stall, self.samples[-1][0] - last_t)
            worst.append(stall)
            if self.samples[-1][port] <= self.samples[0][port]:
                return f"testpmd port {port - 1} received nothing during the attack"
        self.worst_stall = max(worst)
        if max(worst) > STALL_MAX:
            return f"b/c traffic stalled for {max(worst):.1f}s (limit {STALL_MAX}s)"
        return None


# =============================================================================
# the shared environment: vmswitch + testpmd + witness, started once
# =============================================================================

class Env:
    """name: of the switch and testpmd (logs, control socket); run: socket folder;
    socks: port name -> socket (the witness "t" is started only if it is there);
    opts: port name -> extra port options. tests/integ/test_hostile_packed.py
    builds a second one."""

    def __init__(self, name="hostile", run=RUN, socks=None, opts=None):
        self.name, self.run = name, run
        self.sock = dict(SOCK if socks is None else socks)
        self.opts = dict(SOCK_OPTS if opts is None else opts)
        self.sw = self.pmd = self.w = self.t = None
        self.evils = []          # Frontends/NetDevices of the current attack
        self.res = []            # fds and GuestMemory the attack owns (closed last)
        self.mon = None
        self.base_fds = self.base_maps = 0

    def up(self):
        if (self.sw and self.sw.alive() and self.pmd.proc.poll() is None and self.w
                and (self.t or "t" not in self.sock)):
            return self
        if self.sw:
            say(f"restarting vmswitch and testpmd (vmswitch {exit_description(self.sw.proc.poll())})")
        self.down()
        shutil.rmtree(self.run, ignore_errors=True)
        os.makedirs(self.run)
        self.sw = Switch([f"{n}=vhost-user:{p}{self.opts.get(n, '')}"
                          for n, p in self.sock.items()], name=self.name).start()
        # mac, not io, forwarding: io would bridge b and c, and a broadcast
        # the switch floods to both (the RARP of a random SEND_RARP) would
        # circulate between them for ever, a storm that fills the witness.
        self.pmd = VirtioUserPmd([self.sock["b"], self.sock["c"]], name=self.name,
                                 macs=[MAC_B, MAC_C], args=[
            "--forward-mode=mac", "--txpkts=64", "--burst=32",
            f"--eth-peer=0,{MAC_C}", f"--eth-peer=1,{MAC_B}"]).start()
        self.pmd.cmd("start tx_first 4")
        self.w = NetDevice.connect(self.sock["w"])
        self.hello(self.w, MAC_W)
        if "t" in self.sock:
            self.t = NetDevice.connect(self.sock["t"],
                                       features=DEFAULT_NET_FEATURES | OFL_RX | OFL_TX)
            self.hello(self.t, MAC_T)
        deadline = time.monotonic() + 30
        while True:
            st = self.sw.stats()["ports"]
            if st["b"]["rx_packets"] > 1000 and st["c"]["rx_packets"] > 1000:
                break
            check(time.monotonic() < deadline, f"b/c traffic does not start: {st}")
            time.sleep(0.2)
        return self

    def down(self):
        self.close_evil(wait=False)
        for dev in (self.w, self.t):
            try:
                if dev:
                    dev.close()
            except OSError:
                pass
        self.w = self.t = None
        if self.pmd:
            self.pmd.stop()
            self.pmd = None
        if self.sw:
            self.sw.stop()
            self.sw = None

    @property
    def pid(self):
        return self.sw.proc.pid

    def port(self, name="evil"):
        return self.sw.stats()["ports"][name]

    @staticmethod
    def hello(dev, mac):
        """Teach the switch where mac lives: a frame to itself, which it filters."""
        dev.send_frame(make_frame(60, 0, src=mac, dst=mac))
        dev.wait_tx_done(5)

    def drain_w(self, quiet=0.05, dev=None):
        """Collect whatever the witness (or dev) has received; return the frames."""
        return [p.frame for p in self.drain(dev or self.w, quiet)]

    @staticmethod
    def drain(dev, quiet=0.05):
        """Collect whatever dev has received; return the RxPackets.

        Frames that keep coming for DRAIN_LIMIT_S are a flood the switch
        should not make: a failure, not a test that never ends."""
        got = []
        deadline = time.monotonic() + DRAIN_LIMIT_S
        while True:
            more = dev.recv_packets(timeout=quiet)
            if not more:
                return got
            got += more
            check(time.monotonic() < deadline,
                  f"frames kept arriving for {DRAIN_LIMIT_S} s ({len(got)} so far): a flood")

    # --- the attacker ----------------------------------------------------------

    def track(self, obj):
        """A connection or device: closed by close_evil()."""
        self.evils.append(obj)
        return obj

    def keep(self, obj):
        """An fd or GuestMemory of the attack: closed when the test ends."""
        self.res.append(obj)
        return obj

    def release(self):
        for obj in reversed(self.res):
            try:
                os.close(obj) if isinstance(obj, int) else obj.close()
            except (OSError, ValueError, BufferError):
                pass
        self.res = []

    def evil_fe(self):
        """A raw connection to the evil port."""
        return self.track(Frontend.connect(self.sock["evil"]))

    def evil_ack_fe(self):
        """A raw connection with REPLY_ACK (and MQ) negotiated."""
        fe = self.evil_fe()
        fe.get_features()
        fe.set_protocol_features(fe.get_protocol_features())
        check(fe.reply_ack, "REPLY_ACK not offered")
        return fe

    def evil_dev(self, hello=True, port="evil", mac=MAC_E, **kwargs):
        """A running virtio-net device on the evil port whose MAC the switch knows."""
        for attempt in (1, 2):
            refusals = self.sw.output().count("refusing a second frontend connection")
            dev = self.track(NetDevice(Frontend.connect(self.sock[port]), **kwargs))
            if kwargs.get("rx_buf_size") == 0:
                dev.post_rx_buffers = lambda *a, **k: 0
            try:
                dev.start()
                break
            except ConnectionClosed:
                # See cp_random_messages: now and then the switch still holds an
                # earlier connection and refuses this one; try once more.
                if attempt == 2 or self.sw.output().count(
                        "refusing a second frontend connection") == refusals:
                    raise
                say("evil_dev: connection refused as a second one; retrying")
                self.close_evil()
                time.sleep(0.2)
        if hello:
            self.hello(dev, mac)
        return dev

    def close_evil(self, wait=True):
        """Close every attacker object; wait until the switch has let go of them."""
        for obj in reversed(self.evils):
            try:
                obj.close()
            except OSError:
                pass
        self.evils = []
        if not wait or not self.sw or not self.sw.alive():
            return True
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if (fd_count(self.pid) <= self.base_fds
                    and memfd_maps(self.pid) <= self.base_maps):
                return True
            time.sleep(0.02)
        return False


ENV = Env()


def make_attack(get_env):
    """A decorator registering func(env) as a test wrapped in the four after-attack
    checks, on the environment get_env() returns."""
    def attack(func):
        return test(attack_run(get_env, func))
    return attack


def attack_run(get_env, func):
    def run():
        env = get_env().up()
        env.drain_w()
        if env.t:
            env.drain(env.t)
        env.hello(env.w, MAC_W)
        if env.t:
            env.hello(env.t, MAC_T)
        env.base_fds, env.base_maps = fd_count(env.pid), memfd_maps(env.pid)
        before = env.sw.stats()["ports"]
        mon = env.mon = Monitor(env.pmd)
        mon.start()
        t0 = time.monotonic()
        failure = None
        try:
            func(env)
        except (TestFailure, Exception) as e:  # noqa: BLE001 - re-raised below
            failure = e
        released = env.close_evil(wait=env.sw.alive())
        env.release()
        time.sleep(max(0.0, MIN_WINDOW - (time.monotonic() - t0)))
        mon.stop()
        if not env.sw.alive():
            why = f" (the attack said: {failure})" if failure else ""
            raise TestFailure(f"vmswitch died: {exit_description(env.sw.proc.poll())}{why}; "
                              f"log {env.sw.logpath}")
        if failure:
            raise failure
        after = env.sw.stats()["ports"]
        verdict = mon.verdict()
        if mon.worst_stall is not None:
            say(f"longest b/c pause: {mon.worst_stall:.2f} s")
        check(verdict is None, verdict)
        for p in ("b", "c"):
            check(after[p]["rx_packets"] > before[p]["rx_packets"],
                  f"switch port {p} received nothing during the attack")
        fds, maps = fd_count(env.pid), memfd_maps(env.pid)
        check(released and fds <= env.base_fds,
              f"fd leak: {fds} open fds, {env.base_fds} before the attack")
        check(maps <= env.base_maps,
              f"mapping leak: {maps} guest memfd mappings, {env.base_maps} before the attack")
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


attack = make_attack(lambda: ENV)


# =============================================================================
# attack helpers
# =============================================================================

def frame_to_w(seq, size=100):
    return make_frame(size, seq, src=MAC_E, dst=MAC_W)


def forwards(env, dev, n=3, tag=0x5000):
    """The attacker's frames still reach the witness, byte for byte."""
    frames = [frame_to_w(tag + k, 100 + k) for k in range(n)]
    for f in frames:
        dev.send_frame(f, timeout=5)
    want, deadline = set(frames), time.monotonic() + 10
    while want and time.monotonic() < deadline:
        want -= set(env.w.recv_frames(timeout=0.5))
    check(not want, f"{len(want)} of {n} frames from the attacker never reached the witness")


def wait_closed(fe, timeout=CLOSE_TIMEOUT):
    """True once the switch closed the connection; replies before EOF are discarded."""
    deadline = time.monotonic() + timeout
    while True:
        if fe._closed:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fe.sock], [], [], remaining)[0]:
            return False
        try:
            data, fds, _, _ = socket.recv_fds(fe.sock, 65536, 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except (ConnectionResetError, OSError):
            data, fds = b"", []
        for fd in fds:
            os.close(fd)
        if not data:
            fe._closed = True
            return True


def expect_fault(env, fe, before, what, drop=None):
    """The connection was closed for a broken rule and the fault counted."""
    check(wait_closed(fe), f"{what}: the switch did not close the connection")
    st = env.port()
    check(st["faults"] > before["faults"], f"{what}: connection closed but no fault counted")
    if drop:
        check(st["drops"].get(drop, 0) > before["drops"].get(drop, 0),
              f"{what}: no '{drop}' drop counted ({st['drops']})")
    say(f"{what}: closed, fault: {st.get('last_fault')}")
    return st


def send_quietly(fe, request, payload=b"", fds=(), flags=VHOST_USER_VERSION, size=None):
    """send_raw that tolerates the switch having closed already."""
    try:
        fe.send_raw(request, flags, payload, fds, size_override=size)
    except (ConnectionClosed, OSError):
        fe._closed = True


def refused(env, fe, request, payload=b"", fds=(), what=""):
    """Send with NEED_REPLY (REPLY_ACK negotiated): a nonzero ack, the connection kept.

    doc/design.md: "A failed request that asked for an ack (REPLY_ACK) gets a
    nonzero ack; any other failure marks the device broken." A close is a failure.
    """
    flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK
    send_quietly(fe, request, payload, fds, flags)
    try:
        reply = fe.recv_reply(timeout=5)
    except (ConnectionClosed, OSError):
        raise TestFailure(f"{what}: the connection was closed instead of a nack") from None
    except TimeoutError:
        raise TestFailure(f"{what}: no ack and no close within 5s")
    for fd in reply.fds:
        os.close(fd)
    check(reply.request == request and reply.size == 8,
          f"{what}: odd reply (request {reply.request}, size {reply.size})")
    ack = U64.unpack(reply.payload)[0]
    check(ack != 0, f"{what}: accepted (ack 0)")


def broken_closes(env, what, request, payload=b"", fds=(), flags=VHOST_USER_VERSION,
                  size=None, prefix=None):
    """On a fresh connection the message (no NEED_REPLY) closes it with a fault."""
    fe = env.evil_fe()
    if prefix:
        prefix(fe)
    before = env.port()
    send_quietly(fe, request, payload, fds, flags, size)
    expect_fault(env, fe, before, what)
    env.close_evil()


def memfd(size, name="hostile"):
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.ftruncate(fd, size)
    return fd


def region_end(dev):
    return dev.memory.regions[0].gpa_end


def put(dev, data):
    """Guest buffer holding data; returns its GPA."""
    gpa = dev.memory.alloc(max(len(data), 64), 64)
    dev.memory.write(gpa, data)
    return gpa


def tx_raw(dev, descs, heads, kick=True):
    """Write raw TX descriptors {index: (addr, len, flags, next)} and publish heads."""
    vq = dev.tx[0]
    for i, d in descs.items():
        vq.write_desc(i, *d)
    for h in heads:
        vq.push_avail(h)
    if kick:
        vq.kick(force=True)


def dp_fault(env, what, build, drop="invalid_descriptor", **devargs):
    """A running attacker writes a broken TX ring; it must be closed and counted."""
    dev = env.evil_dev(**devargs)
    before = env.port()
    build(dev)
    expect_fault(env, dev.fe, before, what, drop)
    env.close_evil()


def good_frame(seq=0x4000):
    return HDR + frame_to_w(seq)


# =============================================================================
# control plane
# =============================================================================

@attack
def cp_size_field_bigger(env):
    """A size field bigger than the payload, and bigger than any payload."""
    # 8 bytes announced as 16: the next message's header is eaten as payload.
    broken_closes(env, "SET_FEATURES size 16 with 8 bytes + next header",
                  VHOST_USER_SET_FEATURES, U64.pack(0) + VHOST_USER_HDR.pack(1, 1, 0), size=16)
    broken_closes(env, "GET_FEATURES announcing 4096 bytes", VHOST_USER_GET_FEATURES, size=4096)
    broken_closes(env, "SET_VRING_NUM announcing 0xffffffff bytes", VHOST_USER_SET_VRING_NUM,
                  VRING_STATE.pack(0, 256), size=0xffffffff)
    broken_closes(env, "SET_MEM_TABLE announcing 300 bytes", VHOST_USER_SET_MEM_TABLE,
                  bytes(300), size=300)


@attack
def cp_size_field_smaller(env):
    """A size field smaller than the payload (or than the request needs)."""
    broken_closes(env, "SET_VRING_NUM size 4 (+4 stray bytes)", VHOST_USER_SET_VRING_NUM,
                  VRING_STATE.pack(0, 256), size=4)
    broken_closes(env, "SET_FEATURES size 0", VHOST_USER_SET_FEATURES, size=0)
    fd = env.keep(memfd(1 << 20))
    broken_closes(env, "SET_MEM_TABLE claiming 1 region in 8 bytes", VHOST_USER_SET_MEM_TABLE,
                  struct.pack("=II", 1, 0), fds=[fd])
    # With NEED_REPLY the same mistakes are nacked and the connection lives on.
    fe = env.evil_ack_fe()
    refused(env, fe, VHOST_USER_SET_VRING_NUM, struct.pack("=I", 0),
            what="SET_VRING_NUM 4-byte payload")
    refused(env, fe, VHOST_USER_SET_VRING_ADDR, VRING_ADDR.pack(0, 0, 0, 0, 0, 0)[:32],
            what="SET_VRING_ADDR 32-byte payload")
    dev = env.track(NetDevice(fe))
    dev.start()
    forwards(env, dev)


@attack
def cp_truncated_then_close(env):
    """Half a header, half a payload (with an fd attached), then the peer goes away."""
    fe = env.evil_fe()
    fe.send_bytes(VHOST_USER_HDR.pack(VHOST_USER_GET_FEATURES, 1, 0)[:6])
    env.close_evil()
    fd = env.keep(memfd(1 << 20))
    fe = env.evil_fe()
    payload = pack_mem_table([(DEFAULT_GPA, 1 << 20, DEFAULT_GPA, 0)])
    fe.send_bytes(VHOST_USER_HDR.pack(VHOST_USER_SET_MEM_TABLE, 1, len(payload))
                  + payload[:20], fds=[fd])
    time.sleep(0.2)
    env.close_evil()
    fe = env.evil_fe()
    fe.send_bytes(VHOST_USER_HDR.pack(VHOST_USER_SET_VRING_ADDR, 1, 40))
    time.sleep(0.2)
    check(not wait_closed(fe, 0.1), "the switch closed a connection waiting for its payload")
    env.close_evil()
    # The port takes a fresh, well-behaved frontend afterwards.
    forwards(env, env.evil_dev())


# SET_LOG_BASE is known (migration) but an 8-byte payload is malformed for
# it; SEND_RARP (19) is known and takes 8 bytes, so it is not in the list.
UNKNOWN_REQUESTS = [0, VHOST_USER_SET_LOG_BASE, VHOST_USER_SET_LOG_FD, 20, 24, 32, 40,
                    1000, 0x7fffffff, 0xffffffff]


@attack
def cp_unknown_requests(env):
    """Unknown and unsupported request codes, without NEED_REPLY: closed and counted."""
    for req in UNKNOWN_REQUESTS:
        fds = []
        if req == VHOST_USER_SET_LOG_FD:
            fds = [env.keep(os.eventfd(0, os.EFD_CLOEXEC))]
        broken_closes(env, f"request {req:#x}", req, U64.pack(0), fds=fds)


@attack
def cp_unknown_requests_need_reply(env):
    """Unknown codes with NEED_REPLY after REPLY_ACK: nacked, and the device still works."""
    fe = env.evil_ack_fe()
    for req in UNKNOWN_REQUESTS:
        fds = []
        if req == VHOST_USER_SET_LOG_FD:
            fds = [env.keep(os.eventfd(0, os.EFD_CLOEXEC))]
        refused(env, fe, req, U64.pack(0), fds, f"request {req:#x}")
    dev = env.track(NetDevice(fe))
    dev.start()
    forwards(env, dev)


@attack
def cp_bad_version_flags(env):
    """A header whose version bits are not 1."""
    for flags in (0, 2, 3):
        broken_closes(env, f"GET_FEATURES flags {flags:#x}", VHOST_USER_GET_FEATURES,
                      flags=flags)


@attack
def cp_200_fds(env):
    """200 fds on one message (CVE-2019-14818, CVE-2022-0669): all closed, message refused."""
    efd = env.keep(os.eventfd(0, os.EFD_CLOEXEC))
    many = [efd] * 200
    before = fd_count(env.pid)
    broken_closes(env, "SET_VRING_CALL with 200 fds", VHOST_USER_SET_VRING_CALL,
                  U64.pack(0), fds=many)
    broken_closes(env, "GET_FEATURES with 200 fds", VHOST_USER_GET_FEATURES, fds=many)
    broken_closes(env, "SET_FEATURES with 1 fd", VHOST_USER_SET_FEATURES, U64.pack(0),
                  fds=[efd])
    fe = env.evil_ack_fe()
    for req, payload in ((VHOST_USER_SET_VRING_KICK, U64.pack(0)),
                         (VHOST_USER_SET_MEM_TABLE, pack_mem_table([])),
                         (VHOST_USER_SET_OWNER, b"")):
        refused(env, fe, req, payload, many, f"request {req} with 200 fds")
        check(fd_count(env.pid) < before + 10,
              f"{fd_count(env.pid)} fds open after request {req} with 200 fds")
    dev = env.track(NetDevice(fe))
    dev.start()
    forwards(env, dev)


def bad_mem_table(env, what, entries, fds):
    """A running device gets a bad table: nacked (old table kept), then closes without ack."""
    payload = pack_mem_table(entries)
    dev = env.evil_dev()
    refused(env, dev.fe, VHOST_USER_SET_MEM_TABLE, payload, fds, what)
    forwards(env, dev)
    before = env.port()
    send_quietly(dev.fe, VHOST_USER_SET_MEM_TABLE, payload, fds)
    expect_fault(env, dev.fe, before, what + " (no NEED_REPLY)")
    env.close_evil()


@attack
def cp_mem_table_region_count(env):
    """SET_MEM_TABLE with 0 regions (nacked), and with 9 regions and 9 fds: a 296-byte
    payload, over the 264 bytes any message may carry (README), so the message cannot
    be taken at all: closed with a fault even with NEED_REPLY."""
    bad_mem_table(env, "0 regions", [], [])
    fds = [env.keep(memfd(1 << 20)) for _ in range(9)]
    entries = [(DEFAULT_GPA + k * (1 << 20), 1 << 20, DEFAULT_GPA + DEFAULT_QVA_OFFSET
                + k * (1 << 20), 0) for k in range(9)]
    payload = pack_mem_table(entries)
    check(len(payload) > 264, f"9 regions make only a {len(payload)}-byte payload")
    dev = env.evil_dev()
    before = env.port()
    send_quietly(dev.fe, VHOST_USER_SET_MEM_TABLE, payload, fds,
                 VHOST_USER_VERSION | VHOST_USER_NEED_REPLY_MASK)
    expect_fault(env, dev.fe, before, "9 regions (296 bytes, NEED_REPLY)")
    check("too large" in env.port().get("last_fault", ""),
          f"9 regions: fault is not the payload size: {env.port().get('last_fault')}")
    env.close_evil()


@attack
def cp_mem_table_fd_mismatch(env):
    """SET_MEM_TABLE whose fd count does not match its region count."""
    fds = [env.keep(memfd(1 << 20)) for _ in range(3)]
    one = [(DEFAULT_GPA, 1 << 20, DEFAULT_GPA + DEFAULT_QVA_OFFSET, 0)]
    two = one + [(DEFAULT_GPA + (1 << 20), 1 << 20, DEFAULT_GPA + DEFAULT_QVA_OFFSET
                  + (1 << 20), 0)]
    bad_mem_table(env, "1 region, 0 fds", one, [])
    bad_mem_table(env, "1 region, 2 fds", one, fds[:2])
    bad_mem_table(env, "2 regions, 1 fd", two, fds[:1])
    bad_mem_table(env, "2 regions, 3 fds", two, fds)


@attack
def cp_mem_table_overflow(env):
    """Regions whose offset+size, gpa+size or qva+size wrap around 2^64 (CVE-2020-10722 kind)."""
    fd = env.keep(memfd(1 << 20))
    size = 1 << 20
    for what, entry in (("mmap_offset+size overflows", (DEFAULT_GPA, size, DEFAULT_GPA,
                                                        (1 << 64) - 4096)),
                        ("gpa+size overflows", ((1 << 64) - 4096, size, DEFAULT_GPA, 0)),
                        ("qva+size overflows", (DEFAULT_GPA, size, (1 << 64) - 4096, 0)),
                        ("size 2^64-1", (DEFAULT_GPA, (1 << 64) - 1, DEFAULT_GPA, 0)),
                        ("size 0", (DEFAULT_GPA, 0, DEFAULT_GPA, 0))):
        bad_mem_table(env, what, [entry], [fd])


@attack
def cp_mem_table_beyond_fd(env):
    """A region larger than its memfd (DPDK 22.11: SIGBUS), or not a file at all."""
    fd = env.keep(memfd(1 << 20))
    q = DEFAULT_GPA + DEFAULT_QVA_OFFSET
    bad_mem_table(env, "2 MiB region on a 1 MiB memfd", [(DEFAULT_GPA, 2 << 20, q, 0)], [fd])
    bad_mem_table(env, "offset 4 KiB + 1 MiB on a 1 MiB memfd",
                  [(DEFAULT_GPA, 1 << 20, q, 4096)], [fd])
    efd = env.keep(os.eventfd(0, os.EFD_CLOEXEC))
    bad_mem_table(env, "region fd is an eventfd", [(DEFAULT_GPA, 1 << 20, q, 0)], [efd])
    r, w = os.pipe()
    env.keep(r), env.keep(w)
    bad_mem_table(env, "region fd is a pipe", [(DEFAULT_GPA, 1 << 20, q, 0)], [r])


@attack
def cp_mem_table_drops_rings(env):
    """A new table that no longer holds the started rings: refused (README: "a new
    table is refused unless the running rings lie in it"), the old one kept."""
    dev = env.evil_dev()
    fd = env.keep(memfd(1 << 20))
    entry = (0x1_0000_0000, 1 << 20, 0x7e00_0000_0000, 0)
    before = env.port()
    refused(env, dev.fe, VHOST_USER_SET_MEM_TABLE, pack_mem_table([entry]), [fd],
            "table without the rings")
    check(not wait_closed(dev.fe, 0.5), "nacked, then closed: the old table was not kept")
    check(env.port()["faults"] == before["faults"], "a fault was counted for a refused table")
    forwards(env, dev)


RING_INDEXES = [8, 0xff, 0x100, 0x10000, 0x8000_0000, 0xffff_ffff]


def ring_messages(index):
    """Every ring message for vring index (NEED_REPLY-able ones), with a valid rest."""
    efd = os.eventfd(0, os.EFD_CLOEXEC)
    msgs = [(VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(index, 256), []),
            (VHOST_USER_SET_VRING_BASE, VRING_STATE.pack(index, 0), []),
            (VHOST_USER_SET_VRING_ENABLE, VRING_STATE.pack(index, 1), []),
            (VHOST_USER_SET_VRING_ADDR, VRING_ADDR.pack(index, 0, 0, 0, 0, 0), [])]
    # KICK/CALL/ERR carry the index in a u64 (bits 0-7, bit 8 = NOFD): the
    # whole u64 must be checked, not just a truncated byte.
    for req in (VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_ERR):
        msgs.append((req, U64.pack(index), [efd]))
        msgs.append((req, U64.pack(index | (1 << 32)), [efd]))
        if index & ~0xff != VHOST_USER_VRING_NOFD_MASK:    # 0x100|NOFD = ring 0, NOFD
            msgs.append((req, U64.pack(index | VHOST_USER_VRING_NOFD_MASK), []))
    return efd, msgs


@attack
def cp_ring_index_out_of_range_need_reply(env):
    """Vring indexes >= the ring count (incl. 0xffffffff, 0x10000 = 0 as u16; CVE-2020-10723)
    on every ring message with NEED_REPLY: each nacked, the device fine afterwards."""
    fe = env.evil_ack_fe()
    count = 0
    for index in RING_INDEXES:
        efd, msgs = ring_messages(index)
        env.keep(efd)
        for req, payload, fds in msgs:
            refused(env, fe, req, payload, fds, f"request {req} ring {index:#x}")
            count += 1
    say(f"{count} ring messages with bad indexes nacked")
    dev = env.track(NetDevice(fe))
    dev.start()
    forwards(env, dev)


@attack
def cp_ring_index_out_of_range(env):
    """The same without NEED_REPLY (and GET_VRING_BASE): each closes the connection."""
    for index in (8, 0x10000, 0xffff_ffff):
        efd, msgs = ring_messages(index)
        env.keep(efd)
        msgs.append((VHOST_USER_GET_VRING_BASE, VRING_STATE.pack(index, 0), []))
        for req, payload, fds in msgs[::2] if index != 0xffff_ffff else msgs:
            broken_closes(env, f"request {req} ring {index:#x}", req, payload, fds)


@attack
def cp_ring_sizes(env):
    """SET_VRING_NUM 0, 3, 65536 (0 as u16), 32769, 2^32-1: nacked; a kick without a size closes."""
    fe = env.evil_ack_fe()
    for num in (0, 3, 65536, 32769, 0xffff_ffff):
        refused(env, fe, VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(1, num),
                what=f"SET_VRING_NUM {num}")
    env.close_evil()
    # A ring whose only size was refused must not start.
    dev = env.track(NetDevice(Frontend.connect(env.sock["evil"])))
    real = dev.fe.set_vring_num
    dev.fe.set_vring_num = lambda index, num, need_reply=False: (
        real(index, 3, need_reply=True) if index == 1 else real(index, num))
    before = env.port()
    try:
        dev.start()
    except (VhostUserError, OSError, TimeoutError):
        pass
    expect_fault(env, dev.fe, before, "ring 1 kicked with refused size 3")


@attack
def cp_ring_num_rejected_not_kept(env):
    """SET_VRING_NUM 3 after a valid 256 is refused and NOT kept (DPDK 22.11: SIGSEGV
    on the first frame): 300 frames each way cross the wrap of a 256 ring."""
    fe = Frontend.connect(env.sock["evil"])
    dev = env.track(NetDevice(fe))
    real, acks = fe.set_vring_num, []

    def num_then_3(index, num, need_reply=False):
        real(index, num)
        acks.append(real(index, 3, need_reply=True))
    fe.set_vring_num = num_then_3
    dev.start()
    fe.set_vring_num = real
    check(acks and all(acks), f"SET_VRING_NUM 3 acks: {acks}")
    env.hello(dev, MAC_E)
    for k in range(0, 300, 50):
        forwards(env, dev, n=50, tag=k)
    frames = [make_frame(80, k, src=MAC_W, dst=MAC_E) for k in range(300)]
    got = []
    for f in frames:
        env.w.send_frame(f, timeout=5)
        got += dev.recv_frames(timeout=0)
    deadline = time.monotonic() + 10
    while len(got) < 300 and time.monotonic() < deadline:
        got += dev.recv_frames(timeout=0.5)
    check(got == frames, f"the attacker received {len(got)} of 300 frames (or changed)")


@attack
def cp_ring_num_repeated(env):
    """SET_VRING_NUM 1000 times (CVE-2019-14818): no growth; refused once the ring runs."""
    fe = env.evil_ack_fe()
    rss0, fds0 = rss_kib(env.pid), fd_count(env.pid)
    for k in range(1000):
        fe.set_vring_num(k % 2, 1 << (k % 15 + 1))
    fe.sync()
    rss1, fds1 = rss_kib(env.pid), fd_count(env.pid)
    say(f"RSS {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}")
    check(fds1 == fds0, f"fds grew {fds0} -> {fds1}")
    check(rss1 - rss0 < 2048, f"RSS grew by {rss1 - rss0} KiB")
    dev = env.track(NetDevice(fe))
    dev.start()
    env.hello(dev, MAC_E)
    refused(env, fe, VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(1, 16),
            what="SET_VRING_NUM on a running ring")
    forwards(env, dev, n=20)


@attack
def cp_ring_addr_outside_memory(env):
    """Ring addresses outside guest memory, straddling its end, overflowing, a GPA instead
    of a QVA, misaligned (CVE-2020-10725 kind): the kick that starts the ring closes it."""
    size = 64 << 20
    qva0 = DEFAULT_GPA + DEFAULT_QVA_OFFSET
    qend = qva0 + size
    cases = [("desc outside memory", dict(desc=0x1000)),
             ("desc is a GPA, not a QVA", dict(desc=DEFAULT_GPA)),
             ("desc straddles the region end", dict(desc=qend - 16 * 128)),
             ("used straddles the region end", dict(used=qend - 8)),
             ("avail at 2^64-16", dict(avail=(1 << 64) - 16)),
             ("desc misaligned", dict(desc_plus=8)),
             ("used misaligned", dict(used_plus=2))]
    for what, bad in cases:
        fe = Frontend.connect(env.sock["evil"])
        dev = env.track(NetDevice(fe))
        real = fe.set_vring_addr

        def evil_addr(index, desc, used, avail, log=0, flags=0, need_reply=False, bad=bad):
            if index == 1:
                desc = bad.get("desc", desc + bad.get("desc_plus", 0))
                used = bad.get("used", used + bad.get("used_plus", 0))
                avail = bad.get("avail", avail)
            return real(index, desc, used, avail, log, flags, need_reply)
        fe.set_vring_addr = evil_addr
        before = env.port()
        try:
            dev.start()
        except (VhostUserError, OSError, TimeoutError):
            pass
        expect_fault(env, fe, before, what)
        env.close_evil()


@attack
def cp_get_vring_base_before_setup(env):
    """GET_VRING_BASE on every ring of a fresh connection, before anything was set up."""
    fe = env.evil_fe()
    for index in range(8):
        try:
            base = fe.get_vring_base(index)
        except (ConnectionClosed, TimeoutError, VhostUserError) as e:
            raise TestFailure(f"GET_VRING_BASE({index}) before setup: {e}")
        check(base == 0, f"GET_VRING_BASE({index}) before setup said {base}")
    dev = env.track(NetDevice(fe))
    dev.start()
    forwards(env, dev)


@attack
def cp_mem_table_repeated_while_running(env):
    """SET_MEM_TABLE again and again while frames flow both ways (legal: every frame
    arrives), then one that adds a region (memory hot-plug) used by the next frames."""
    dev = env.evil_dev()
    maps0 = memfd_maps(env.pid)  # noqa: F841 (checked below)
    for k in range(50):
        check(dev.fe.set_mem_table(dev.memory, need_reply=True) == 0, "table refused")
        forwards(env, dev, n=2, tag=k * 2)
        if k % 10 == 0:
            f = make_frame(90, k, src=MAC_W, dst=MAC_E)
            env.w.send_frame(f)
            got = dev.recv_frames(timeout=5, count=1)
            check(got == [f], f"round {k}: the attacker received {len(got)} frames")
    check(memfd_maps(env.pid) <= maps0, f"mappings grew {maps0} -> {memfd_maps(env.pid)}")
    fd = env.keep(memfd(4 << 20))
    extra = MemoryRegion(0x2_0000_0000, 4 << 20, 0x2_0000_0000 + DEFAULT_QVA_OFFSET, fd, 0)
    dev.memory.regions.append(extra)
    dev.wait_tx_done(5)
    try:
        check(dev.fe.set_mem_table(dev.memory, need_reply=True) == 0, "hot-plug table refused")
        data = good_frame(0x6000)
        extra.map[0:len(data)] = data
        tx_raw(dev, {0: (extra.gpa, len(data), 0, 0)}, [0])
        got = env.w.recv_frames(timeout=5, count=1)
        check(got == [data[12:]], f"frame from the hot-plugged region: got {len(got)}")
        dev.tx[0].get_used(strict=False)
    finally:
        dev.memory.regions.remove(extra)
        extra.map.close()


def random_session(env, rng, nbytes):
    """One connection fed random bytes; True if the switch closed it."""
    fe = env.evil_fe()
    sent = 0
    while sent < nbytes and not fe._closed:
        chunk = rng.randbytes(rng.choice((1, 12, 64, 512, 4096)))
        try:
            fe.send_bytes(chunk)
        except (ConnectionClosed, OSError):
            fe._closed = True
        sent += len(chunk)
        wait_closed(fe, 0)
    closed = wait_closed(fe, 0.3)
    env.close_evil()
    return closed


@attack
def cp_random_bytes(env):
    """Random bytes on fresh connections, seeds 1-3."""
    for seed in (1, 2, 3):
        closed = random_session(env, random.Random(seed), 64 << 10)
        say(f"seed {seed}: {'closed by the switch' if closed else 'still open (waiting)'}")
    forwards(env, env.evil_dev())


def random_message(rng, pool):
    """A message with a plausible shape and hostile contents."""
    req = rng.choice(list(range(0, 22)) * 3 + [rng.randrange(1 << 32)])
    flags = VHOST_USER_VERSION | rng.choice((0, VHOST_USER_NEED_REPLY_MASK))
    if rng.random() < 0.05:
        flags = rng.randrange(1 << 32)
    small = lambda: rng.choice((0, 1, 2, 3, 7, 8, 255, 256, 0xffff, 0x10000, 0xffffffff,
                                rng.randrange(1 << 32)))
    kind = rng.randrange(6)
    if kind == 0:
        payload = U64.pack(rng.choice((0, 1, small(), rng.randrange(1 << 64))))
    elif kind == 1:
        payload = VRING_STATE.pack(small(), small())
    elif kind == 2:
        payload = VRING_ADDR.pack(small(), rng.choice((0, 1, small())),
                                  *(rng.choice((DEFAULT_GPA + DEFAULT_QVA_OFFSET
                                                + rng.randrange(64 << 20), small(),
                                                rng.randrange(1 << 64))) for _ in range(4)))
    elif kind == 3:
        n = rng.choice((0, 1, 2, 8, 9, small()))
        entries = [(rng.choice((DEFAULT_GPA, small())), rng.choice((1 << 20, small())),
                    rng.choice((DEFAULT_GPA + DEFAULT_QVA_OFFSET, small())),
                    rng.choice((0, 4096, small()))) for _ in range(min(n, 9))]
        payload = struct.pack("=II", n & 0xffffffff, 0) + b"".join(MEM_REGION.pack(*e)
                                                                   for e in entries)
    elif kind == 4:
        payload = b""
    else:
        payload = rng.randbytes(rng.randrange(300))
    fds = [rng.choice(pool) for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 9)))]
    return req, flags, payload, fds


@attack
def cp_random_messages(env):
    """Random well-framed messages (random codes, indexes, tables, fds; DPDK 22.11
    leaked fds on these), 300 per seed, seeds 1-3, reconnecting after each close."""
    pool = [env.keep(memfd(1 << 20)), env.keep(memfd(4096)),
            env.keep(os.eventfd(0, os.EFD_CLOEXEC))]
    closes = 0
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        fe = env.evil_fe()
        for _ in range(300):
            if fe._closed or wait_closed(fe, 0):
                closes += 1
                env.close_evil()
                fe = env.evil_fe()
            req, flags, payload, fds = random_message(rng, pool)
            send_quietly(fe, req, payload, fds, flags)
        env.close_evil()
    say(f"900 random messages, {closes} connections closed by the switch")
    forwards(env, env.evil_dev())


def ring_end(dev):
    """First page boundary after every ring of the device."""
    end = max(vq.used_gpa + 6 + 8 * vq.size for vq in dev.rx + dev.tx)
    end = max(end, max(vq.avail_gpa + 6 + 2 * vq.size for vq in dev.rx + dev.tx))
    return (end + 4095) & ~4095


@attack
def cp_memfd_truncated_buffers(env):
    """The guest memfd shrinks under frames the switch is forwarding (DPDK 22.11:
    SIGBUS): the switch survives, closes this guest, forwards nothing it did not read."""
    dev = env.evil_dev()
    forwards(env, dev, n=20)
    region = dev.memory.regions[0]
    cut = ring_end(dev)                 # a GPA
    data = good_frame(0x7000)
    heads = list(range(8))
    descs = {h: (put(dev, data), len(data), 0, 0) for h in heads}
    check(min(d[0] for d in descs.values()) >= cut, "buffers below the cut")
    dev.wait_tx_done(5)
    tx_raw(dev, descs, [], kick=False)
    before = env.port()
    # Only the rings remain; from here on this test never touches the rest.
    os.ftruncate(region.fd, cut - region.gpa)
    tx_raw(dev, {}, heads)
    expect_fault(env, dev.fe, before, "memfd truncated below the TX buffers")
    got = env.drain_w(quiet=1.0)
    check(not got, f"the witness received {len(got)} frames read from the truncated memory "
                   f"(first: {got[0][:20].hex() if got else ''}...)")


@attack
def cp_memfd_truncated_to_zero(env):
    """The whole guest memfd truncated to 0 while the switch polls its rings."""
    dev = env.evil_dev()
    forwards(env, dev, n=20)
    before = env.port()
    os.ftruncate(dev.memory.regions[0].fd, 0)
    expect_fault(env, dev.fe, before, "memfd truncated to 0")


# =============================================================================
# datapath (a proper device, then raw ring contents)
# =============================================================================

@attack
def dp_desc_outside_memory(env):
    """TX descriptors outside guest memory (CVE-2018-1059, CVE-2020-10725)."""
    n = len(good_frame())
    for what, addr in (("below the region", 0x1000), ("at the region end", None),
                       ("at 2^64-64", (1 << 64) - 64)):
        dp_fault(env, f"descriptor {what}",
                 lambda d, addr=addr: tx_raw(d, {0: (region_end(d) if addr is None else addr,
                                                     n, 0, 0)}, [0]))


@attack
def dp_desc_straddles_region_end(env):
    """A descriptor that starts inside and ends outside memory, or spans a hole
    between two regions (the start and end both mapped, the middle not)."""
    data = good_frame()
    dp_fault(env, "descriptor crosses the region end",
             lambda d: tx_raw(d, {0: (region_end(d) - 32, len(data), 0, 0)}, [0]))
    hole = GuestMemory([(DEFAULT_GPA, 32 << 20, DEFAULT_GPA + DEFAULT_QVA_OFFSET),
                        (DEFAULT_GPA + (64 << 20), 32 << 20,
                         DEFAULT_GPA + (64 << 20) + DEFAULT_QVA_OFFSET)])
    env.keep(hole)
    end1 = DEFAULT_GPA + (32 << 20)
    dp_fault(env, "descriptor spans the hole between two regions",
             lambda d: tx_raw(d, {0: (end1 - 32, (32 << 20) + 64, 0, 0)}, [0]), memory=hole)


@attack
def dp_desc_spans_two_regions(env):
    """Legal: a buffer across two GPA-contiguous regions whose QVAs are far apart."""
    mem = GuestMemory.split()
    env.keep(mem)
    dev = env.evil_dev(memory=mem)
    mid = mem.regions[1].gpa
    data = good_frame(0x4100)
    mem.write(mid - 50, data)
    before = env.port()
    tx_raw(dev, {0: (mid - 50, len(data), 0, 0)}, [0])
    got = env.w.recv_frames(timeout=5, count=1)
    check(got == [data[12:]], f"the witness got {len(got)} frames, or a changed one")
    check(env.port()["faults"] == before["faults"], "faulted on a legal buffer")


@attack
def dp_desc_len_max(env):
    """Descriptor len 0xffffffff, alone and after a valid one in the chain."""
    data = good_frame()
    dp_fault(env, "len 0xffffffff",
             lambda d: tx_raw(d, {0: (put(d, data), 0xffffffff, 0, 0)}, [0]))
    dp_fault(env, "valid + len 0xffffffff",
             lambda d: tx_raw(d, {0: (put(d, data), len(data), VRING_DESC_F_NEXT, 1),
                                  1: (put(d, data), 0xffffffff, 0, 0)}, [0]))


@attack
def dp_next_loops(env):
    """Descriptor chains that loop: to itself, 0->1->0, and 0..255 then back to 0."""
    data = good_frame()
    dp_fault(env, "self loop",
             lambda d: tx_raw(d, {0: (put(d, data), 16, VRING_DESC_F_NEXT, 0)}, [0]))
    dp_fault(env, "0->1->0",
             lambda d: tx_raw(d, {0: (put(d, data), 16, VRING_DESC_F_NEXT, 1),
                                  1: (put(d, data), 16, VRING_DESC_F_NEXT, 0)}, [0]))

    def whole_ring(d):
        buf = put(d, data)
        tx_raw(d, {i: (buf, 1, VRING_DESC_F_NEXT, (i + 1) % 256) for i in range(256)}, [0])
    dp_fault(env, "256 descriptors then back to 0", whole_ring)


@attack
def dp_chain_longer_than_ring(env):
    """A chain longer than its table: an 8-entry ring walked 9 times, an indirect table
    whose last entry points back to its first."""
    data = good_frame()

    def ring8(d):
        buf = put(d, data)
        tx_raw(d, {i: (buf, 8, VRING_DESC_F_NEXT, (i + 1) % 8) for i in range(8)}, [0])
    dp_fault(env, "chain of 9+ in an 8-entry ring", ring8, queue_size=8)

    def indirect_loop(d):
        buf = put(d, data)
        table = b"".join(struct.pack("<QIHH", buf, 8, VRING_DESC_F_NEXT, (k + 1) % 4)
                         for k in range(4))
        tx_raw(d, {0: (put(d, table), len(table), VRING_DESC_F_INDIRECT, 0)}, [0])
    dp_fault(env, "indirect table 0->1->2->3->0", indirect_loop)


@attack
def dp_long_legal_chains(env):
    """Legal but beyond 64 segments: 100 and 256 descriptors of a few bytes; dropped and
    counted too_many_segments, the connection kept; a 64-descriptor chain forwarded."""
    dev = env.evil_dev()
    before = env.port()
    for count, seq in ((100, 0x4200), (256, 0x4201)):
        data = HDR + frame_to_w(seq, size=max(60, count * 2 - 12))
        buf = put(dev, data)
        step = len(data) // count
        descs = {}
        for i in range(count):
            last = i == count - 1
            length = len(data) - step * i if last else step
            descs[i] = (buf + step * i, length, 0 if last else VRING_DESC_F_NEXT, i + 1)
        tx_raw(dev, descs, [0])
        deadline = time.monotonic() + 5
        while dev.tx[0].read_used_idx() != dev.tx[0].avail_idx and time.monotonic() < deadline:
            time.sleep(0.01)
        dev.tx[0].get_used(strict=False)
    check(not wait_closed(dev.fe, 0.2), "long legal chains closed the connection")
    st = env.port()
    dropped = st["drops"].get("too_many_segments", 0) - before["drops"].get("too_many_segments", 0)
    got = env.drain_w(quiet=0.3)
    say(f"100- and 256-descriptor chains: {dropped} dropped too_many_segments, "
        f"{len(got)} forwarded")
    # README: "up to 64 buffer segments (longer legal chains are dropped and
    # counted too_many_segments)".
    check(dropped == 2 and not got,
          f"{dropped} of 2 dropped too_many_segments, {len(got)} forwarded")
    frame = frame_to_w(0x4202, 200)
    dev.send_frame(frame, split=64)
    check(env.w.recv_frames(timeout=5, count=1) == [frame], "64-descriptor frame lost")
    forwards(env, dev)


@attack
def dp_head_beyond_ring(env):
    """avail->ring names head 256 or 0xffff in a 256-entry ring."""
    for head in (256, 0xffff):
        dp_fault(env, f"head {head}", lambda d, head=head: tx_raw(d, {}, [head]))


@attack
def dp_avail_idx_jump(env):
    """avail->idx jumps by more than the ring size (DPDK 22.11 sent 256 copies):
    nothing is taken, nothing reaches anyone."""
    for jump in (257, 1000, 0x8000, 0xffff):
        dev = env.evil_dev()
        data = good_frame(0x4300)
        vq = dev.tx[0]
        vq.write_desc(0, put(dev, data), len(data), 0, 0)
        for slot in range(256):
            vq.set_avail_ring(slot, 0)
        before = env.port()
        vq.set_avail_idx(vq.avail_idx + jump)
        vq.kick(force=True)
        st = expect_fault(env, dev.fe, before, f"avail idx +{jump}", "invalid_descriptor")
        taken = st["rx_packets"] - before["rx_packets"]
        got = env.drain_w(quiet=0.3)
        check(taken == 0 and not got,
              f"avail idx +{jump}: switch took {taken} frames, witness got {len(got)}")
        env.close_evil()


def indirect(d, entries, flags=VRING_DESC_F_INDIRECT, length=None):
    """Head 0 -> an indirect table of (addr, len, flags, next) entries."""
    table = b"".join(struct.pack("<QIHH", *e) for e in entries)
    tx_raw(d, {0: (put(d, table), len(table) if length is None else length, flags, 0)}, [0])


@attack
def dp_indirect_len_bad(env):
    """Indirect table len not a multiple of 16 (8, 24), 0, or past memory (CVE-2018-1059)."""
    data = good_frame()
    for length in (8, 24, 0):
        dp_fault(env, f"indirect len {length}",
                 lambda d, length=length: indirect(d, [(put(d, data), len(data), 0, 0)] * 2,
                                                   length=length))
    dp_fault(env, "indirect len 0xfffffff0",
             lambda d: indirect(d, [(put(d, data), len(data), 0, 0)], length=0xfffffff0))
    dp_fault(env, "indirect table outside memory",
             lambda d: tx_raw(d, {0: (0x1000, 32, VRING_DESC_F_INDIRECT, 0)}, [0]))
    dp_fault(env, "indirect table crossing the region end",
             lambda d: tx_raw(d, {0: (region_end(d) - 16, 32, VRING_DESC_F_INDIRECT, 0)}, [0]))


@attack
def dp_indirect_nested(env):
    """An indirect table entry that is itself INDIRECT."""
    data = good_frame()

    def nested(d):
        inner = struct.pack("<QIHH", put(d, data), len(data), 0, 0)
        indirect(d, [(put(d, inner), 16, VRING_DESC_F_INDIRECT, 0)])
    dp_fault(env, "nested indirect", nested)


@attack
def dp_indirect_with_next(env):
    """A descriptor flagged INDIRECT|NEXT."""
    data = good_frame()
    dp_fault(env, "INDIRECT|NEXT head",
             lambda d: indirect(d, [(put(d, data), len(data), 0, 0)],
                                flags=VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT))


@attack
def dp_tx_shorter_than_header(env):
    """TX chains shorter than (or exactly) the 12-byte header, also split (CVE-2022-2132):
    README: "TX chains shorter than the virtio-net header plus an Ethernet header
    [...] are dropped and counted": each counted runt, nothing forwarded, no fault,
    the connection kept and still working."""
    dev = env.evil_dev()
    before = env.port()
    buf = put(dev, good_frame())
    cases = [{0: (buf, 6, 0, 0)}, {0: (buf, 12, 0, 0)},
             {0: (buf, 6, VRING_DESC_F_NEXT, 1), 1: (buf + 6, 4, 0, 0)},
             {0: (buf, 0, 0, 0)}]
    for k, descs in enumerate(cases):
        tx_raw(dev, descs, [0])
        deadline = time.monotonic() + 5
        while dev.tx[0].read_used_idx() != dev.tx[0].avail_idx and time.monotonic() < deadline:
            if wait_closed(dev.fe, 0.01):
                raise TestFailure(f"runt chain {k} ({descs}) closed the connection: "
                                  f"{env.port().get('last_fault')}")
        check(dev.tx[0].read_used_idx() == dev.tx[0].avail_idx,
              f"runt chain {k} was never completed")
        dev.tx[0].get_used(strict=False)
    got = env.drain_w(quiet=0.3)
    check(not got, f"the witness received {len(got)} frames from runt chains")
    check(not wait_closed(dev.fe, 0.2), "the connection was closed after the runt chains")
    st = env.port()
    runts = st["drops"].get("runt", 0) - before["drops"].get("runt", 0)
    say(f"kept open; drops {st['drops']}")
    check(st["faults"] == before["faults"], f"a fault was counted: {st.get('last_fault')}")
    check(runts == len(cases), f"{runts} of {len(cases)} runt chains counted runt "
                               f"(drops {st['drops']})")
    forwards(env, dev)


@attack
def dp_header_over_3_descriptors(env):
    """Legal: the header over 3 descriptors (4+4+4), over 12 of 1 byte, and in an
    indirect table (CVE-2022-2132 regression): forwarded intact."""
    dev = env.evil_dev()
    for k, (split, ind) in enumerate((([4, 4, 4], False), ([1] * 12, False),
                                      ([4, 4, 4], True), ([5, 5, 5, 5], False))):
        frame = frame_to_w(0x4400 + k, 120)
        dev.send_frame(frame, split=split, indirect=ind)
        got = env.w.recv_frames(timeout=5, count=1)
        check(got == [frame], f"header split {split} indirect={ind}: got {len(got)} frames")
    check(dev.wait_tx_done(5), "TX chains not completed")


@attack
def dp_csum_offload_header(env):
    """Header asking for checksum (csum_start past the frame, CVE-2024-11614) or GSO,
    which were never negotiated: README: "headers asking for offloads that were not
    negotiated are dropped and counted": bad_header, never forwarded, the connection
    kept and still working."""
    dev = env.evil_dev()
    before = env.port()
    for k, hdr in enumerate((struct.pack("<BBHHHHH", 1, 0, 0, 0, 0xfff0, 0xfff0, 0),
                             struct.pack("<BBHHHHH", 0, 1, 54, 1448, 0, 0, 0))):
        dev.send_frame(frame_to_w(0x4500 + k), header=hdr)
        check(dev.wait_tx_done(5), f"offload header {k}: TX chain not completed")
    got = env.drain_w(quiet=0.3)
    check(not got, f"{len(got)} offload frames forwarded")
    check(not wait_closed(dev.fe, 0.1), "the connection was closed for an offload header")
    st = env.port()
    check(st["faults"] == before["faults"], f"a fault was counted: {st.get('last_fault')}")
    check(st["drops"].get("bad_header", 0) - before["drops"].get("bad_header", 0) == 2,
          f"not 2 bad_header drops: {st['drops']}")
    forwards(env, dev)


@attack
def dp_tx_write_flag(env):
    """Device-writable (WRITE) descriptors in a TX chain: first, and second in a chain."""
    data = good_frame()
    dp_fault(env, "WRITE TX descriptor",
             lambda d: tx_raw(d, {0: (put(d, data), len(data), VRING_DESC_F_WRITE, 0)}, [0]))
    dp_fault(env, "read + WRITE TX chain",
             lambda d: tx_raw(d, {0: (put(d, data), 12, VRING_DESC_F_NEXT, 1),
                                  1: (put(d, data[12:]), len(data) - 12, VRING_DESC_F_WRITE,
                                      0)}, [0]))


@attack
def dp_rx_read_only(env):
    """Read-only RX buffers (DPDK 22.11 wrote into them): the switch must not write them."""
    for what, chain in (("read-only RX buffer", [0]), ("WRITE then read-only", [VRING_DESC_F_WRITE
                                                                              | VRING_DESC_F_NEXT, 0])):
        dev = env.evil_dev(rx_buf_size=0)      # no RX buffers posted at start
        vq = dev.rx[0]
        pattern = bytes([0xa5]) * 2048
        bufs = [put(dev, pattern) for _ in chain]
        for i, flags in enumerate(chain):
            vq.write_desc(i, bufs[i], 2048, flags, i + 1)
        vq.push_avail(0)
        vq.kick(force=True)
        before = env.port()
        env.w.send_frame(make_frame(200, 0x4600, src=MAC_W, dst=MAC_E))
        expect_fault(env, dev.fe, before, what, "invalid_descriptor")
        for b in bufs:
            check(dev.memory.read(b, 2048) == pattern, f"{what}: the switch wrote into it")
        check(vq.read_used_idx() == 0, f"{what}: used idx moved to {vq.read_used_idx()}")
        env.close_evil()


@attack
def dp_rx_never_posted(env):
    """A guest that never posts RX buffers: its frames are queued then dropped and
    counted; everyone else carries on; once it posts, it receives."""
    dev = env.evil_dev(rx_buf_size=0)
    before = env.port()
    n = 600
    for k in range(n):
        env.w.send_frame(make_frame(80, k, src=MAC_W, dst=MAC_E), timeout=5)
    check(env.w.wait_tx_done(5), "the witness's TX did not complete")
    time.sleep(0.3)
    st = env.port()
    dropped = sum(st["drops"].values()) - sum(before["drops"].values())
    say(f"{n} frames to a guest without RX buffers: drops {st['drops']}")
    check(dropped >= n - 256 - 32, f"only {dropped} drops counted for {n} frames")
    check(not wait_closed(dev.fe, 0), "the switch closed a guest that posts no RX buffers")
    forwards(env, dev)
    # Posting buffers now: queued frames and a new one arrive.
    del dev.post_rx_buffers
    dev.post_rx_buffers()
    queued = []
    while True:                  # the frames still queued for it arrive first
        more = dev.recv_frames(timeout=0.5)
        if not more:
            break
        queued += more
    say(f"after posting RX buffers: {len(queued)} queued frames delivered")
    marker = make_frame(90, 0xbeef, src=MAC_W, dst=MAC_E)
    env.w.send_frame(marker)
    got = dev.recv_frames(timeout=5, count=1)
    check(got == [marker], f"after posting buffers the guest got {len(got)} new frames")


@attack
def dp_tx_flood(env):
    """A guest flooding TX as fast as it can for 3 s: b/c keep flowing (rate printed)."""
    dev = env.evil_dev()
    vq = dev.tx[0]
    data = good_frame(0x4700)
    buf = put(dev, data)
    ring = 128
    tx_raw(dev, {i: (buf, len(data), 0, 0) for i in range(ring)}, range(ring))
    mon = env.mon
    time.sleep(1.5)
    t_flood = time.monotonic()
    before = env.port()
    sent = ring
    while time.monotonic() < t_flood + 3:
        used = vq.get_used(strict=False)
        for head, _ in used:
            vq.push_avail(head)
        sent += len(used)
        if used:
            vq.kick()
        else:
            vq.wait_used(0.002)
            env.w.recv_frames(timeout=0)   # keep the witness's ring posted
    t_end = time.monotonic()
    deadline = time.monotonic() + 5
    while vq.read_used_idx() != vq.avail_idx and time.monotonic() < deadline:
        vq.wait_used(0.05)
    vq.get_used(strict=False)
    st = env.port()
    calm, busy = mon.rate(t_flood - 1.5, t_flood), mon.rate(t_flood, t_end)
    say(f"flood: {sent} frames pushed, switch took {st['rx_packets'] - before['rx_packets']}; "
        f"b+c {calm:.0f}/s before, {busy:.0f}/s during ({busy / max(calm, 1):.0%})")
    check(busy > 0.1 * calm, f"b/c nearly starved: {busy:.0f}/s vs {calm:.0f}/s")
    env.drain_w()
    forwards(env, dev)


@attack
def dp_rx_chains_no_frame_fits(env):
    """RX chains no frame fits in (issue 11): zero bytes, shorter than the header,
    and without mergeable buffers shorter than header + Ethernet header. Each is
    completed empty (length 0: a runt to the guest, in ring order) and counted
    unusable_rx_buffer; the frame goes into the next chain; no fault, the
    connection kept. Such a chain used to stay at the head of the ring, and
    every later frame to the guest was dropped."""
    from vhostfront import DEFAULT_NET_FEATURES, VIRTIO_NET_F_MRG_RXBUF, bit
    for mergeable in (True, False):
        features = DEFAULT_NET_FEATURES
        if not mergeable:
            features &= ~bit(VIRTIO_NET_F_MRG_RXBUF)
        dev = env.evil_dev(rx_buf_size=0, features=features)   # no RX buffers yet
        vq, hdr = dev.rx[0], dev.hdr_len
        sizes = [0, 4] + ([] if mergeable else [hdr + 13])
        bufs = []
        for k, size in enumerate(sizes + [2048]):
            bufs.append(put(dev, bytes(max(size, 64))))
            vq.write_desc(k, bufs[-1], size, VRING_DESC_F_WRITE, 0)
            vq.push_avail(k)
        vq.kick(force=True)
        before = env.port()
        frame = make_frame(200, 0x4800 + mergeable, src=MAC_W, dst=MAC_E)
        env.w.send_frame(frame)
        what = f"{'' if mergeable else 'non-'}mergeable"
        deadline = time.monotonic() + 5
        while vq.read_used_idx() < len(sizes) + 1 and time.monotonic() < deadline:
            if wait_closed(dev.fe, 0.01):
                raise TestFailure(f"{what}: unusable RX chains closed the connection: "
                                  f"{env.port().get('last_fault')}")
        used = [vq.read_used_elem(k) for k in range(vq.read_used_idx())]
        st = env.port()
        unusable = (st["drops"].get("unusable_rx_buffer", 0)
                    - before["drops"].get("unusable_rx_buffer", 0))
        say(f"{what}: chains of {sizes} bytes then 2048: used {used}; drops {st['drops']}")
        check(used[:len(sizes)] == [(k, 0) for k in range(len(sizes))],
              f"{what}: unusable chains not completed empty and in order: {used}")
        check(len(used) == len(sizes) + 1 and used[-1] == (len(sizes), hdr + len(frame)),
              f"{what}: the frame did not reach the next chain: {used}")
        check(dev.memory.read(bufs[-1] + hdr, len(frame)) == frame,
              f"{what}: the frame arrived damaged")
        check(unusable == len(sizes), f"{what}: {unusable} unusable_rx_buffer counted, "
                                      f"{len(sizes)} expected")
        check(st["faults"] == before["faults"], f"{what}: a fault was counted")
        check(not wait_closed(dev.fe, 0.1), f"{what}: the connection was closed")
        forwards(env, dev)
        env.close_evil()


@attack
def cp_call_and_kick_fds_not_eventfds(env):
    """A pipe as call or kick fd (issue 11): refused (a nack with REPLY_ACK).
    A blocking pipe as call fd used to be written once per interrupt: when it
    filled, the write blocked the whole switch."""
    fe = env.evil_ack_fe()
    for req, name in ((VHOST_USER_SET_VRING_CALL, "call"), (VHOST_USER_SET_VRING_KICK, "kick")):
        r, w = os.pipe()
        env.keep(r)
        env.keep(w)
        refused(env, fe, req, U64.pack(0), fds=[w if name == "call" else r],
                what=f"a pipe as {name} fd")
    check(not wait_closed(fe, 0.1), "the connection was closed")


# =============================================================================
# offloads (issue 12): hostile and legal virtio-net headers from a guest that
# negotiated CSUM and HOST_TSO4/6, checked against what reaches the witnesses
# =============================================================================

ALL_OFL = DEFAULT_NET_FEATURES | OFL_TX | OFL_RX


def ofl_frame(payload, dst=MAC_W, src=MAC_E, **kwargs):
    """offload_frames.ofl_frame(), from the attacker to the witness by default."""
    return _ofl_frame(payload, dst=dst, src=src, **kwargs)


def ofl_dev(env, **kwargs):
    """An attacker that negotiated CSUM, HOST_TSO4/6 and the GUEST_* offloads."""
    dev = env.evil_dev(features=kwargs.pop("features", ALL_OFL), **kwargs)
    for f in (F_CSUM, F_HOST_TSO4, F_HOST_TSO6):
        check(dev.has(f), f"feature {f} not negotiated (the switch offers offloads)")
    return dev


def send_bad(env, dev, what, header, frame, split=None, port="evil", before=None):
    """One frame with a bad header: completed, counted bad_header on the port,
    nothing delivered to either witness, the connection kept."""
    before = before or env.port(port)
    dev.send_frame(frame, header=header, split=split, timeout=5)
    check(dev.wait_tx_done(5), f"{what}: TX chain not completed")
    deadline = time.monotonic() + 5
    while True:
        st = env.port(port)
        got = st["drops"].get("bad_header", 0) - before["drops"].get("bad_header", 0)
        if got or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(got == 1, f"{what}: {got} bad_header drops counted, 1 expected ({st['drops']})")
    check(st["faults"] == before["faults"], f"{what}: a fault was counted: {st.get('last_fault')}")
    check(not wait_closed(dev.fe, 0), f"{what}: the connection was closed")
    return st


def nothing_arrived(env, what):
    got_w, got_t = env.drain_w(quiet=0.3), env.drain(env.t, quiet=0.1)
    check(not got_w and not got_t, f"{what}: frames reached the witnesses "
                                   f"(w {len(got_w)}, t {len(got_t)})")


def bad_cases():
    """(what, header, frame) for every refused header of issue 12."""
    small, l4 = ofl_frame(46)                   # 100-byte TCP frame
    n = len(small)
    big, _ = ofl_frame(3000)                    # GSO-sized IPv4 TCP
    big6, l6 = ofl_frame(3000, ipv6=True)
    udp, _ = ofl_frame(3000, udp=True)
    doff4, _ = ofl_frame(3000, doff=4)
    short_tcp, _ = ofl_frame(20)                # TCP header + 20 bytes, then doff 15:
    short_tcp = short_tcp[:l4 + 12] + bytes([15 << 4]) + short_tcp[l4 + 13:]  # 60 > 40 bytes
    frag, _ = ofl_frame(3000, frag=True)
    ok = gso_hdr(l4)
    return [
        # NEEDS_CSUM bounds (CVE-2024-11614)
        ("csum_start past the frame", vnet(NEEDS_CSUM, start=n + 20), small),
        ("csum field at len - 1", vnet(NEEDS_CSUM, start=l4, off=n - 1 - l4), small),
        ("csum_start at len - 1", vnet(NEEDS_CSUM, start=n - 1), small),
        ("csum_start and offset 0xfff0", vnet(NEEDS_CSUM, start=0xfff0, off=0xfff0), small),
        ("csum_start inside the Ethernet header", vnet(NEEDS_CSUM, start=6, off=16), small),
        ("NEEDS_CSUM, TCP doff 4", vnet(NEEDS_CSUM, start=l4, off=16), doff4),
        ("NEEDS_CSUM, TCP header past the frame", vnet(NEEDS_CSUM, start=l4, off=16), short_tcp),
        # GSO requests
        ("GSO without NEEDS_CSUM", vnet(0, GSO_TCPV4, 54, MSS, l4, 16), big),
        ("GSO with gso_size 0", vnet(NEEDS_CSUM, GSO_TCPV4, 54, 0, l4, 16), big),
        ("unknown gso_type 2", vnet(NEEDS_CSUM, 2, 54, MSS, l4, 16), big),
        ("unknown gso_type 0x7f", vnet(NEEDS_CSUM, 0x7f, 54, MSS, l4, 16), big),
        ("GSO_UDP (UFO)", vnet(NEEDS_CSUM, GSO_UDP, 42, MSS, l4, 6), udp),
        ("GSO_UDP_L4 (USO never offered)", vnet(NEEDS_CSUM, GSO_UDP_L4, 42, MSS, l4, 6), udp),
        ("ECN flag without a GSO type", vnet(NEEDS_CSUM, GSO_ECN, 54, MSS, l4, 16), big),
        ("TCPV4|ECN without HOST_ECN", vnet(NEEDS_CSUM, GSO_TCPV4 | GSO_ECN, 54, MSS, l4, 16),
         big),
        # gso_type against the frame (CVE-2024-43897)
        ("TCPV4 on IPv6", vnet(NEEDS_CSUM, GSO_TCPV4, 74, MSS, l6, 16), big6),
        ("TCPV6 on IPv4", vnet(NEEDS_CSUM, GSO_TCPV6, 54, MSS, l4, 16), big),
        ("TCPV4 on UDP", vnet(NEEDS_CSUM, GSO_TCPV4, 42, MSS, l4, 6), udp),
        ("TCPV4 on UDP, csum_offset 16", vnet(NEEDS_CSUM, GSO_TCPV4, 42, MSS, l4, 16), udp),
        ("TCPV4 on an IPv4 fragment", ok, frag),
        ("GSO csum_start not at L4 (same field)", vnet(NEEDS_CSUM, GSO_TCPV4, 54, MSS, l4 + 4, 12),
         big),
        ("GSO csum_start 199 offset 1536 (syzbot)", vnet(NEEDS_CSUM, GSO_TCPV4, 54, MSS, 199, 1536),
         big),
        ("GSO TCP csum_offset 6", vnet(NEEDS_CSUM, GSO_TCPV4, 54, MSS, l4, 6), big),
        ("GSO TCP csum_offset 17", vnet(NEEDS_CSUM, GSO_TCPV4, 54, MSS, l4, 17), big),
        # TCP header
        ("GSO TCP doff 4", vnet(NEEDS_CSUM, GSO_TCPV4, 54, MSS, l4, 16), doff4),
        ("GSO TCP header past the frame", vnet(NEEDS_CSUM, GSO_TCPV4, 94, 8, l4, 16), short_tcp),
        ("GSO frame cut inside the IPv4 header", ok, big[:30]),
    ]


@attack
def ofl_bad_headers(env):
    """Every refused offload header of issue 12 from a guest that negotiated CSUM and
    HOST_TSO4/6 (not HOST_ECN): each counted bad_header on its port, nothing reaches
    the witnesses, no fault, the connection kept and still forwarding."""
    dev = ofl_dev(env, features=ALL_OFL)
    check(not dev.has(F_HOST_ECN), "HOST_ECN negotiated though not asked for")
    cases = bad_cases()
    for what, header, frame in cases:
        send_bad(env, dev, what, header, frame)
    nothing_arrived(env, "bad headers")
    say(f"{len(cases)} bad headers, each counted bad_header")
    forwards(env, dev)


@attack
def ofl_bad_headers_over_descriptors(env):
    """The same refusals with the header spread over descriptors (CVE-2022-2132):
    4+4+4 bytes, 1-byte pieces, an indirect table; the checks read one copy."""
    dev = ofl_dev(env)
    cases = bad_cases()
    for k, (what, header, frame) in enumerate(cases[::3]):
        split = ([4, 4, 4], [1] * 12, [5, 5, 5, 5])[k % 3]
        send_bad(env, dev, f"{what}, header split {split}", header, frame, split=split)
    what, header, frame = cases[0]
    before = env.port()
    dev.send_frame(frame, header=header, split=[3, 3, 6], indirect=True)
    check(dev.wait_tx_done(5), "indirect: TX chain not completed")
    time.sleep(0.2)
    st = env.port()
    check(st["drops"].get("bad_header", 0) == before["drops"].get("bad_header", 0) + 1,
          f"indirect {what}: not counted bad_header ({st['drops']})")
    nothing_arrived(env, "bad headers over descriptors")
    forwards(env, dev)


@attack
def ofl_runt_with_offload_header(env):
    """A chain shorter than header + Ethernet whose header asks for a checksum and
    GSO (CVE-2022-2132): a runt (README: such chains are counted runt), never read
    as a frame, nothing delivered, the connection kept."""
    dev = ofl_dev(env)
    before = env.port()
    hdr = gso_hdr(34)
    for k, (length, split) in enumerate(((12 + 13, [4, 4, 4, 13]), (12 + 10, [12, 10]),
                                        (12, [6, 6]))):
        buf = put(dev, hdr + bytes(64))
        descs, off = {}, 0
        for i, piece in enumerate(split):
            more = i + 1 < len(split)
            descs[i] = (buf + off, piece, VRING_DESC_F_NEXT if more else 0, i + 1 if more else 0)
            off += piece
        tx_raw(dev, descs, [0])
        deadline = time.monotonic() + 5
        while dev.tx[0].read_used_idx() != dev.tx[0].avail_idx and time.monotonic() < deadline:
            time.sleep(0.01)
        check(dev.tx[0].read_used_idx() == dev.tx[0].avail_idx, f"short chain {k} not completed")
        dev.tx[0].get_used(strict=False)
    st = env.port()
    runts = st["drops"].get("runt", 0) - before["drops"].get("runt", 0)
    check(runts == 3, f"{runts} of 3 short chains counted runt ({st['drops']})")
    check(st["faults"] == before["faults"], f"a fault was counted: {st.get('last_fault')}")
    nothing_arrived(env, "short chains")
    forwards(env, dev)


@attack
def ofl_not_negotiated_on_offloads_off_port(env):
    """A port with offloads=off offers none; a guest there whose headers ask for a
    checksum or GSO anyway: bad_header, nothing forwarded, plain frames still go."""
    dev = env.evil_dev(port="off", mac=MAC_O, features=ALL_OFL)
    check(not dev.features & (OFL_TX | OFL_RX),
          f"offloads negotiated on an offloads=off port: {dev.features:#x}")
    small, l4 = ofl_frame(46, src=MAC_O)
    big, _ = ofl_frame(3000, src=MAC_O)
    send_bad(env, dev, "NEEDS_CSUM, not negotiated", vnet(NEEDS_CSUM, start=l4, off=16), small,
             port="off")
    send_bad(env, dev, "GSO TCPV4, not negotiated", gso_hdr(l4), big, port="off")
    send_bad(env, dev, "GSO TCPV6, not negotiated",
             vnet(NEEDS_CSUM, GSO_TCPV6, 74, MSS, 54, 16), ofl_frame(3000, ipv6=True, src=MAC_O)[0],
             port="off")
    nothing_arrived(env, "offloads=off")
    plain = make_frame(120, 0x4900, src=MAC_O, dst=MAC_W)
    dev.send_frame(plain)
    check(env.w.recv_frames(timeout=5, count=1) == [plain], "a plain frame from 'off' was lost")


def to_both(env, dev, header, frame_w, frame_t, split=None):
    """Send the same offloaded frame to w (no offloads) and t (offloads).
    Returns (packets at w, packets at t)."""
    dev.send_frame(frame_w, header=header, split=split, timeout=5)
    dev.send_frame(frame_t, header=header, split=split, timeout=5)
    check(dev.wait_tx_done(5), "TX chains not completed")
    return env.drain(env.w, 0.3), env.drain(env.t, 0.1)


def check_whole(pkts, frame, want_hdr, what):
    """t got frame whole, with exactly the header fields in want_hdr (a dict)."""
    check(len(pkts) == 1, f"{what}: t received {len(pkts)} frames, 1 expected")
    flags, gso, hdr_len, gso_size, start, off, _ = VNET.unpack(pkts[0].header)
    got = dict(flags=flags, gso_type=gso, gso_size=gso_size, csum_start=start, csum_offset=off)
    for k, v in want_hdr.items():
        check(got[k] == v, f"{what}: t got {k} {got[k]:#x}, expected {v:#x} (header {got})")
    check(pkts[0].frame == frame, f"{what}: t's frame differs from the one sent "
                                  f"({len(pkts[0].frame)} vs {len(frame)} bytes)")
    ip_ok, _ = scapy_csums(pkts[0].frame)
    check(ip_ok, f"{what}: bad IPv4 header checksum at t")


@attack
def ofl_csum_header_over_descriptors(env):
    """Legal: a NEEDS_CSUM header (csum_start at L4, offset 16) in one descriptor,
    over 4+4+4, over 12 1-byte pieces and in an indirect table: w (no GUEST_CSUM) gets
    the frame with the checksum completed (checked by scapy), t gets it with
    NEEDS_CSUM, csum_start 34, csum_offset 16, byte for byte."""
    dev = ofl_dev(env)
    scapy()
    before = env.port("w")["csum_completed"]
    for k, split in enumerate((None, [4, 4, 4], [1] * 12, "indirect")):
        fw, l4 = ofl_frame(700 + k, seq=k)
        ft, _ = ofl_frame(700 + k, seq=k, dst=MAC_T)
        hdr = vnet(NEEDS_CSUM, start=l4, off=16)
        if split == "indirect":
            for f in (fw, ft):
                dev.send_frame(f, header=hdr, split=[4, 8, 100], indirect=True)
            check(dev.wait_tx_done(5), "TX chains not completed")
            at_w, at_t = env.drain(env.w, 0.3), env.drain(env.t, 0.1)
        else:
            at_w, at_t = to_both(env, dev, hdr, fw, ft, split)
        what = f"NEEDS_CSUM header split {split}"
        check(len(at_w) == 1, f"{what}: w received {len(at_w)} frames")
        check(at_w[0].header[:2] == b"\0\0", f"{what}: w (no offloads) got flags/gso "
                                             f"{at_w[0].header[:2].hex()}")
        ip_ok, l4_ok = scapy_csums(at_w[0].frame)
        check(ip_ok and l4_ok, f"{what}: w's frame has a bad checksum (ip {ip_ok}, tcp {l4_ok})")
        full, _ = ofl_frame(700 + k, seq=k, csum="full")
        check(at_w[0].frame == full, f"{what}: w's frame is not the frame with its checksum")
        check_whole(at_t, ft, dict(flags=NEEDS_CSUM, gso_type=0, csum_start=l4, csum_offset=16),
                    what)
    done = env.port("w")["csum_completed"] - before
    check(done == 4, f"w counted {done} checksums completed, 4 expected")
    forwards(env, dev)


@attack
def ofl_hdr_len_is_only_a_hint(env):
    """Legal: GSO frames whose hdr_len lies (0, 1, 14, 53, 200, 65535): forwarded as if
    it were right: t gets the frame whole (GSO_TCPV4, gso_size kept), w gets correct
    MSS-sized segments (scapy)."""
    dev = ofl_dev(env)
    scapy()
    for k, hdr_len in enumerate((0, 1, 14, 53, 200, 65535)):
        fw, l4 = ofl_frame(4000, seq=0x1000 * k, ip_id=k)
        ft, _ = ofl_frame(4000, seq=0x1000 * k, ip_id=k, dst=MAC_T)
        at_w, at_t = to_both(env, dev, gso_hdr(l4, hdr_len=hdr_len), fw, ft)
        what = f"hdr_len {hdr_len}"
        check_segments([p.frame for p in at_w], fw, MSS, what)
        check_whole(at_t, ft, dict(flags=NEEDS_CSUM, gso_type=GSO_TCPV4, gso_size=MSS,
                                   csum_start=l4, csum_offset=16), what)
    forwards(env, dev)


@attack
def ofl_gso_payload_not_above_mss(env):
    """Legal (CVE-2024-43817's first fix broke it): GSO frames whose payload is below
    or equal to gso_size, and a 1-byte payload: delivered as one frame, w with a full
    checksum, t with NEEDS_CSUM."""
    dev = ofl_dev(env)
    scapy()
    for k, (payload, mss) in enumerate(((1000, MSS), (MSS, MSS), (1, MSS), (536, 536))):
        fw, l4 = ofl_frame(payload, seq=k)
        ft, _ = ofl_frame(payload, seq=k, dst=MAC_T)
        at_w, at_t = to_both(env, dev, gso_hdr(l4, mss=mss), fw, ft)
        what = f"payload {payload}, gso_size {mss}"
        check(len(at_w) == 1, f"{what}: w received {len(at_w)} frames, 1 expected")
        ip_ok, l4_ok = scapy_csums(at_w[0].frame)
        check(ip_ok and l4_ok, f"{what}: w's frame has a bad checksum")
        check(at_w[0].frame == ofl_frame(payload, seq=k, csum="full")[0],
              f"{what}: w's frame differs from the frame sent")
        check_whole(at_t, ft, dict(flags=NEEDS_CSUM, csum_start=l4, csum_offset=16), what)
        gso = at_t[0].header[1]
        check(gso in (0, GSO_TCPV4), f"{what}: t got gso_type {gso:#x}")
    forwards(env, dev)


def tso_64k(env, dev, ipv6, flags, ecn, tag):
    """One 64 KiB TSO frame to t (whole) and to w (segmented), checked with scapy."""
    payload = 65535 - 20 - (0 if ipv6 else 20)       # the largest IP packet
    fw, l4 = ofl_frame(payload, ipv6=ipv6, tcp_flags=flags, seq=0xfffff000 + tag, ip_id=0xffe0)
    ft, _ = ofl_frame(payload, ipv6=ipv6, tcp_flags=flags, seq=0xfffff000 + tag, ip_id=0xffe0,
                      dst=MAC_T)
    what = f"64 KiB {'IPv6' if ipv6 else 'IPv4'} TSO flags {flags:#x}"
    before = {p: env.port(p) for p in ("w", "t")}
    at_w, at_t = to_both(env, dev, gso_hdr(l4, ipv6=ipv6, ecn=ecn), fw, ft)
    gso = (GSO_TCPV6 if ipv6 else GSO_TCPV4) | (GSO_ECN if ecn else 0)
    check_whole(at_t, ft, dict(flags=NEEDS_CSUM, gso_type=gso, gso_size=MSS, csum_start=l4,
                               csum_offset=16), what)
    check_segments([p.frame for p in at_w], fw, MSS, what, ipv6=ipv6, cwr=bool(ecn))
    for p in at_w:
        check(p.header[:2] == b"\0\0", f"{what}: a segment to w has flags/gso "
                                       f"{p.header[:2].hex()}")
    after = {p: env.port(p) for p in ("w", "t")}
    say(f"{what}: t got {len(at_t[0].frame)} bytes whole, w {len(at_w)} segments")
    return before, after


@attack
def ofl_tso_64k_ipv4(env):
    """A valid 64 KiB IPv4 TSO frame (gso_size 1448, seq wrapping past 2^32, id
    wrapping past 65535): t (GUEST_TSO4) gets it whole with GSO_TCPV4, gso_size kept,
    NEEDS_CSUM at csum_start 34 / offset 16; w (no offloads) gets 46 segments with IPv4
    length, id + i, header checksum, seq + i * mss, PSH/FIN only on the last and valid
    TCP checksums, all checked by scapy."""
    dev = ofl_dev(env)
    scapy()
    before, after = tso_64k(env, dev, False, TCP_ACK | TCP_PSH | TCP_FIN, False, 0)
    check(after["w"]["gso_segmented"] == before["w"]["gso_segmented"] + 1,
          f"w counted {after['w']['gso_segmented'] - before['w']['gso_segmented']} frames "
          "segmented, 1 expected")
    check(after["t"]["gso_segmented"] == before["t"]["gso_segmented"],
          "t (GUEST_TSO4) had a frame segmented")
    forwards(env, dev)


@attack
def ofl_tso_64k_ipv6(env):
    """The same for IPv6 (GSO_TCPV6, payload length 65535)."""
    dev = ofl_dev(env)
    scapy()
    tso_64k(env, dev, True, TCP_ACK | TCP_PSH, False, 1)
    forwards(env, dev)


@attack
def ofl_tso_64k_ecn(env):
    """GSO_TCPV4|ECN from a guest with HOST_ECN, CWR|PSH|FIN set: t (GUEST_ECN) gets it
    whole with the ECN bit; w gets CWR on the first segment only, PSH/FIN on the last."""
    dev = ofl_dev(env, features=ALL_OFL | bit(F_HOST_ECN))
    check(dev.has(F_HOST_ECN), "HOST_ECN not offered")
    scapy()
    tso_64k(env, dev, False, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, True, 2)
    forwards(env, dev)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    try:
        main()
    finally:
        ENV.down()
