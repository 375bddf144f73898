#!/usr/bin/env python3
"""vmswitch with DPDK 22.11 virtio-user frontends (dpdk-testpmd, --no-huge).

counts: two virtio_user ports in a closed io-forwarding loop through the
switch; every frame the frontend sent was received by the switch and every
frame the switch received it delivered.
intact: our own frontend sends frames of 64, 1518 and 9000 bytes to a
testpmd port that swaps the MACs and sends them back; each must come back
byte for byte.
"""

import os
import re
import shutil
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from switch import Switch  # noqa: E402
from testlib import check, main, skip, test  # noqa: E402
from vhostfront import NetDevice, make_frame  # noqa: E402

RUN = "/tmp/vmsw-dpdk"
VARIANTS = [dict(mrg_rxbuf=1, in_order=1, queues=1), dict(mrg_rxbuf=0, in_order=0, queues=1),
            dict(mrg_rxbuf=1, in_order=0, queues=2), dict(mrg_rxbuf=0, in_order=1, queues=2)]


def sockets(name, n=2):
    d = os.path.join(RUN, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return [os.path.join(d, f"p{i}.sock") for i in range(n)]


def label(v):
    return (f"mrg_rxbuf={v['mrg_rxbuf']} in_order={v['in_order']} queues={v['queues']}"
            + (" hugepages" if v.get("huge") else ""))


def loop_counts(v):
    socks = sockets("loop")
    with ExitStack() as s:
        sw = s.enter_context(Switch([f"a=vhost-user:{socks[0]}", f"b=vhost-user:{socks[1]}"],
                                    name="dpdk-loop"))
        fe = s.enter_context(VirtioUserPmd(socks, name="loop", args=[
            "--forward-mode=io", "--txpkts=64", "--burst=32",
            "--eth-peer=0,02:00:00:00:00:11", "--eth-peer=1,02:00:00:00:00:10"], **v))
        fe.cmd("start tx_first 4")
        time.sleep(3)
        fe.cmd("stop")
        time.sleep(0.5)
        fst = fe.port_stats()
        st = sw.stats()["ports"]
    a, b = st["a"], st["b"]
    print(f"  {label(v)}: frontend sent {fst[0]['tx_packets']}+{fst[1]['tx_packets']}, "
          f"switch a rx {a['rx_packets']} -> b tx {b['tx_packets']}, "
          f"b rx {b['rx_packets']} -> a tx {a['tx_packets']}")
    check(a["rx_packets"] > 10000 and b["rx_packets"] > 10000, "too little traffic flowed")
    check(not a["drops"] and not b["drops"], f"drops: {a['drops']} {b['drops']}")
    check(fst[0]["tx_packets"] == a["rx_packets"], "port 0 sent != switch received")
    check(fst[1]["tx_packets"] == b["rx_packets"], "port 1 sent != switch received")
    check(a["rx_packets"] == b["tx_packets"] and b["rx_packets"] == a["tx_packets"],
          "switch received != switch delivered")
    for port, out in ((0, a), (1, b)):
        pending = out["tx_packets"] - fst[port]["rx_packets"]
        check(0 <= pending <= 256 * v["queues"],
              f"port {port}: {pending} frames delivered but not in its rings")


def echo_intact(v):
    socks = sockets("echo")
    frames = [make_frame(size, seq, src=b"\x02\x00\x00\x00\x00\x01",
                         dst=b"\x02\x00\x00\x00\x00\x11")
              for seq, size in enumerate([64, 1518, 9000] * 5)]
    with ExitStack() as s:
        s.enter_context(Switch([f"a=vhost-user:{socks[0]}", f"b=vhost-user:{socks[1]}"],
                               name="dpdk-echo"))
        fe = s.enter_context(VirtioUserPmd(
            [socks[1]], name="echo", macs=["02:00:00:00:00:11"],
            args=["--forward-mode=macswap", "--port-topology=loop", "--mbuf-size=10240",
                  "--max-pkt-len=9600"], **v))
        fe.cmd("start")
        dev = NetDevice.connect(socks[0])
        s.callback(dev.close)
        got = []
        for f in frames:
            dev.send_frame(f)
            got += dev.recv_frames(timeout=5, count=1)
    check(len(got) == len(frames), f"{len(got)} of {len(frames)} frames came back")
    for sent, back in zip(frames, got):
        want = sent[6:12] + sent[0:6] + sent[12:]
        check(back == want, f"a {len(sent)}-byte frame came back changed "
                            f"({len(back)} bytes)")
    print(f"  {label(v)}: {len(got)} frames of 64/1518/9000 bytes came back intact")


def hugepages_available(pages=256):
    """Reserve 2 MiB hugepages if the kernel allows; True when enough are free."""
    try:
        with open("/proc/sys/vm/nr_hugepages") as f:
            have = int(f.read())
        if have < pages:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(pages))
        with open("/proc/meminfo") as f:
            free = int(re.search(r"HugePages_Free:\s+(\d+)", f.read()).group(1))
        return free >= 128
    except (OSError, AttributeError):
        return False


@test
def counts_hugepage_memory():
    """Guest memory on hugetlbfs: regions with 2 MiB pages map and forward."""
    if not hugepages_available():
        skip("no 2 MiB hugepages can be reserved here")
    loop_counts(dict(mrg_rxbuf=1, in_order=1, queues=1, huge=True))


def make_tests():
    for v in VARIANTS:
        tag = f"mrg{v['mrg_rxbuf']}_inorder{v['in_order']}_q{v['queues']}"
        for fn, what in ((loop_counts, "counts"), (echo_intact, "intact")):
            def t(v=v, fn=fn):
                fn(v)
            t.__name__ = f"{what}_{tag}"
            test(t)


make_tests()

if __name__ == "__main__":
    main()
