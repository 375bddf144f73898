#!/usr/bin/env python3
"""vhost-user ports: who owns a socket path, and a full queue of a multiqueue guest.

Our Python frontend (tests/lib/vhostfront.py) against one vmswitch per test;
no DPDK, no QEMU.

* Socket paths (issue 11): a second port on a path another port uses is
  refused with an error naming that port; so is a port on a path where
  something else listens (another spelling of the path), and one on a file
  that is not a socket (which is left alone). A port removes its socket file
  on removal only if the file is still the one it bound.
* Multiqueue (issue 11): with one RX queue of a two-queue guest full, frames
  for the other queue are delivered; those for the full queue wait, in
  order, and arrive once the guest posts buffers.
"""

import os
import shutil
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from vhostfront import Frontend, NetDevice, make_frame  # noqa: E402

RUN = "/tmp/vmsw-vports"
M64 = (1 << 64) - 1


def workdir(name):
    d = os.path.join(RUN, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def can_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def works(path, peer_path):
    """A frontend on path reaches a frontend on peer_path: one frame crosses."""
    a, b = NetDevice.connect(path), NetDevice.connect(peer_path)
    try:
        ma, mb = b"\x02\x00\x00\x00\x7a\x01", b"\x02\x00\x00\x00\x7a\x02"
        b.send_frame(make_frame(60, 0, src=mb, dst=mb))
        b.wait_tx_done(2)
        frame = make_frame(90, 1, src=ma, dst=mb)
        a.send_frame(frame)
        return b.recv_frames(timeout=3, count=1) == [frame]
    finally:
        a.close()
        b.close()


@test
def second_port_on_a_used_socket_path_is_refused():
    d = workdir("paths")
    pa, pb = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    with Switch([f"a=vhost-user:{pa}", f"b=vhost-user:{pb}"], name="vports-paths") as sw:
        ino = os.stat(pa).st_ino
        # The same string, server or client.
        for spec in (f"c=vhost-user:{pa}", f"c=vhost-user:{pa},client"):
            code, _, err = sw.ctl("port", "add", spec)
            check(code != 0, f"'{spec}' was accepted beside port a")
            check("used by port a" in err, f"unclear refusal of '{spec}': {err!r}")
        # Another spelling of the same file: something listens there.
        alias = os.path.join(d, ".", "a.sock")
        code, _, err = sw.ctl("port", "add", f"c=vhost-user:{alias}")
        check(code != 0, f"'{alias}' (port a's socket) was accepted")
        check(os.path.exists(pa) and os.stat(pa).st_ino == ino,
              "port a's socket file was replaced or removed")
        check(works(pa, pb), "port a no longer works after the refused ports")
        _, out, _ = sw.ctl("show")
        check("port c" not in out, "a refused port shows up")


@test
def a_file_that_is_not_a_socket_is_left_alone():
    d = workdir("file")
    pa, victim = os.path.join(d, "a.sock"), os.path.join(d, "precious")
    with open(victim, "w") as f:
        f.write("keep me\n")
    with Switch([f"a=vhost-user:{pa}"], name="vports-file") as sw:
        code, _, err = sw.ctl("port", "add", f"v=vhost-user:{victim}")
        check(code != 0, "a port on a regular file was accepted")
        with open(victim) as f:
            check(f.read() == "keep me\n", "the regular file was removed or changed")
        print(f"  refused: {err.strip()}")


@test
def port_removes_only_its_own_socket_file():
    d = workdir("unlink")
    pa, pb = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    with Switch([f"a=vhost-user:{pa}", f"b=vhost-user:{pb}"], name="vports-unlink") as sw:
        # Someone else's socket now lives at port b's path.
        os.unlink(pb)
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(pb)
        other.listen(1)
        try:
            code, _, err = sw.ctl("port", "del", "b")
            check(code == 0, f"port del b: {err}")
            check(os.path.exists(pb) and can_connect(pb),
                  "removing port b removed another listener's socket")
        finally:
            other.close()
            if os.path.exists(pb):
                os.unlink(pb)
        # Its own file it does remove.
        code, _, err = sw.ctl("port", "del", "a")
        check(code == 0, f"port del a: {err}")
        check(not os.path.exists(pa), "port a's own socket file was left behind")


# --- multiqueue -------------------------------------------------------------------

def flow_hash(frame):
    """src/pkt/flow.h's flow_hash()."""
    d, h = frame, 0
    h ^= int.from_bytes(d[0:8], "little")
    h ^= (int.from_bytes(d[4:12], "little") * 31) & M64
    if (len(d) >= 38 and d[12] == 8 and d[13] == 0 and d[14] & 0x0f == 5
            and d[23] in (6, 17)):
        h ^= (int.from_bytes(d[26:34], "little") * 0x9e3779b97f4a7c15) & M64
        h ^= ((int.from_bytes(d[34:42], "little") & 0xffffffff) * 0xff51afd7ed558ccd) & M64
    h ^= h >> 29
    h = (h * 0xbf58476d1ce4e5b9) & M64
    return (h >> 32) or 1


def udp_frame(src, dst, sport, seq):
    """An IPv4/UDP frame of flow (sport -> 9): the flow picks the guest's queue."""
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    udp = sport.to_bytes(2, "big") + (9).to_bytes(2, "big") + (20).to_bytes(2, "big") + bytes(2)
    return dst + src + b"\x08\x00" + ip + udp + seq.to_bytes(12, "big")


@test
def full_queue_holds_back_only_its_own_frames():
    d = workdir("mq")
    pg, pw = os.path.join(d, "g.sock"), os.path.join(d, "w.sock")
    mg, mw = b"\x02\x00\x00\x00\x7b\x01", b"\x02\x00\x00\x00\x7b\x02"
    # One thread (no VMSW_RUN_ARGS): it spreads one sender's flows over the
    # guest's queues by hash, which this checks. With datapath threads a
    # sender uses its own queue (test_threads: guest_rx_queue_per_thread).
    with Switch([f"g=vhost-user:{pg}", f"w=vhost-user:{pw}"], name="vports-mq",
                env_args=False):
        g = NetDevice(Frontend.connect(pg), queue_pairs=2)
        g.post_rx_buffers = lambda *a, **k: 0          # no RX buffers at start
        g.start()
        del g.post_rx_buffers
        w = NetDevice.connect(pw)
        try:
            g.send_frame(make_frame(60, 0, src=mg, dst=mg))
            check(g.wait_tx_done(2), "g's hello was not completed")
            g.post_rx_buffers(queue=1)                     # queue 0 stays full
            flows = {0: [], 1: []}
            sport = 1000
            while len(flows[0]) < 4 or len(flows[1]) < 40:
                f = udp_frame(mw, mg, sport, sport)
                q = flow_hash(f) % 2
                if len(flows[q]) < (4 if q == 0 else 40):
                    flows[q].append(f)
                sport += 1
            # A frame for the full queue first: it must not hold up the rest.
            w.send_frame(flows[0][0])
            w.wait_tx_done(2)
            for f in flows[1][:20] + flows[0][1:] + flows[1][20:]:
                w.send_frame(f, timeout=5)
            got = []
            while len(got) < len(flows[1]):
                more = g.recv_frames(timeout=3, queue=1)
                if not more:
                    break
                got += more
            print(f"  queue 1 received {len(got)} of {len(flows[1])} while queue 0 was full")
            check(got == flows[1], f"queue 1 got {len(got)} of {len(flows[1])} frames "
                                   f"({sum(a == b for a, b in zip(got, flows[1]))} in order)")
            g.post_rx_buffers(queue=0)
            got0 = g.recv_frames(timeout=3, count=len(flows[0]), queue=0)
            check(got0 == flows[0], f"queue 0 got {len(got0)} of {len(flows[0])} held "
                                    f"frames once it had buffers (in order: {got0 == flows[0]})")
        finally:
            g.close()
            w.close()


if __name__ == "__main__":
    main()
