#!/usr/bin/env python3
"""DPDK virtio-user with TSO through vmswitch (issue 12).

Four vhost-user ports: ``a`` our Python frontend (tests/lib/vhostfront.py) with
CSUM and HOST/GUEST_TSO4/6, ``b`` and ``c`` the two net_virtio_user ports of a
dpdk-testpmd (22.11) in csum forwarding mode with ``tso set 1448 1``, TCP
checksum offload on port 1 and LRO (GUEST_TSO4/6) plus TCP checksum (GUEST_CSUM)
on port 0, and ``d`` a second Python frontend that receives.

    a --GSO frame (gso_size 1000)--> vmswitch --whole--> testpmd port 0 (LRO)
    testpmd port 1 --TSO, tso_segsz 1448--> vmswitch --> d

So every frame d gets was sent by DPDK's virtio PMD as a TSO frame with its own
segment size, 1448, not a's 1000. Checked: testpmd received each frame whole and
sent it whole (the switch's counters), bytes in = bytes out (testpmd's counters
and the TCP payloads), and what reached d, with scapy: segments of 1448 bytes
with correct lengths, ids, seq, flags and checksums when d has no offloads, or
the frame whole with GSO_TCPV4 / gso_size 1448 / NEEDS_CSUM when it has them.

Run: python3 tests/integ/test_dpdk_tso.py [name-filter ...]
"""

import os
import shutil
import struct
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from dpdkfe import VirtioUserPmd  # noqa: E402
from offload_frames import (  # noqa: E402
    GSO_TCPV4, NEEDS_CSUM, OFL_RX, OFL_TX, TCP_ACK, TCP_FIN, TCP_PSH, VNET, check_segments,
    csum_add, csum_fold, gso_hdr, ofl_frame, scapy, scapy_csums)
from switch import Switch  # noqa: E402
from testlib import check, main, test  # noqa: E402
from vhostfront import DEFAULT_NET_FEATURES, NetDevice, make_frame  # noqa: E402

RUN = "/tmp/vmsw-dpdk-tso"
MAC_A, MAC_D = bytes.fromhex("02000000a001"), bytes.fromhex("02000000d001")
MAC_B, MAC_C = "02:00:00:00:00:10", "02:00:00:00:00:11"
PMD_MSS = 1448          # testpmd's tso_segsz
A_MSS = 1000            # a's gso_size: what testpmd must not keep
ALL_OFL = DEFAULT_NET_FEATURES | OFL_TX | OFL_RX


def mac_bytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


class Setup(ExitStack):
    """vmswitch, testpmd in csum/TSO mode, sender a and receiver d."""

    def __init__(self, d_features):
        super().__init__()
        self.d_features = d_features

    def __enter__(self):
        super().__enter__()
        shutil.rmtree(RUN, ignore_errors=True)
        os.makedirs(RUN)
        socks = {n: os.path.join(RUN, f"{n}.sock") for n in "abcd"}
        self.sw = self.enter_context(Switch([f"{n}=vhost-user:{p}" for n, p in socks.items()],
                                            name="dpdk-tso"))
        self.pmd = self.enter_context(VirtioUserPmd(
            [socks["b"], socks["c"]], name="dpdk-tso", macs=[MAC_B, MAC_C],
            args=["--forward-mode=csum", f"--eth-peer=0,{MAC_A.hex(':')}",
                  f"--eth-peer=1,{MAC_D.hex(':')}"]))
        for line in ("port stop all", "csum set tcp hw 1", f"tso set {PMD_MSS} 1",
                     "port config 0 rx_offload tcp_lro on",
                     "port config 0 rx_offload tcp_cksum on", "port start all"):
            out = self.pmd.cmd(line)
            check("rror" not in out and "not supported" not in out,
                  f"testpmd refused '{line}': {out.strip()}")
        out = self.pmd.cmd("show port 1 tx_offload configuration")
        check("TCP_TSO" in out, f"testpmd port 1 has no TSO: {out.strip()}")
        out = self.pmd.cmd("show port 0 rx_offload configuration")
        check("TCP_LRO" in out, f"testpmd port 0 has no LRO: {out.strip()}")
        self.a = NetDevice.connect(socks["a"], features=ALL_OFL)
        self.callback(self.a.close)
        self.d = NetDevice.connect(socks["d"], features=self.d_features)
        self.callback(self.d.close)
        for dev, mac in ((self.a, MAC_A), (self.d, MAC_D)):
            dev.send_frame(make_frame(60, 0, src=mac, dst=mac))
            check(dev.wait_tx_done(5), "hello not sent")
        # One txonly burst from each testpmd port teaches the switch b and c.
        self.pmd.cmd("start tx_first 1")
        time.sleep(0.5)
        self.drain(self.a)
        self.drain(self.d)
        self.base = self.pmd.port_stats()
        self.sw_base = self.sw.stats()["ports"]
        return self

    @staticmethod
    def drain(dev, quiet=0.3):
        got = []
        while True:
            more = dev.recv_packets(timeout=quiet)
            if not more:
                return got
            got += more

    def send(self, frame, header):
        """a sends one frame; returns the RxPackets d received for it."""
        self.a.send_frame(frame, header=header, timeout=5)
        check(self.a.wait_tx_done(5), "a's TX not completed")
        return self.drain(self.d, 0.5)

    def counters(self):
        """(testpmd stats minus the warm-up, switch port counters)."""
        pmd = self.pmd.port_stats()
        delta = {p: {k: v - self.base[p][k] for k, v in pmd[p].items()} for p in pmd}
        return delta, self.sw.stats()["ports"]


def frames_to_send():
    """(what, frame as a sends it, header): IPv4 TCP over a's gso_size 1000."""
    out = []
    for k, (payload, flags) in enumerate(((20000, TCP_ACK | TCP_PSH),
                                          (65495, TCP_ACK | TCP_PSH | TCP_FIN),
                                          (3000, TCP_ACK), (10000, TCP_ACK | TCP_PSH))):
        f, l4 = ofl_frame(payload, dst=mac_bytes(MAC_B), src=MAC_A, tcp_flags=flags,
                          seq=0x1000 * k + 7, ip_id=0x100 * k)
        out.append((f"{payload}-byte payload", f, gso_hdr(l4, mss=A_MSS)))
    return out


def tcp_payload(frame):
    s = scapy()
    return bytes(s["Ether"](frame)[s["TCP"]].payload)


def common_checks(st, pmd, frames, bytes_in, bytes_out):
    n = len(frames)
    check(pmd[0]["rx_packets"] == n,
          f"testpmd port 0 received {pmd[0]['rx_packets']} frames for {n} (not whole: "
          f"did it negotiate GUEST_TSO4?)")
    check(pmd[1]["tx_packets"] == n, f"testpmd port 1 sent {pmd[1]['tx_packets']} frames for {n}")
    check(pmd[0]["rx_bytes"] == pmd[1]["tx_bytes"],
          f"testpmd: {pmd[0]['rx_bytes']} bytes in, {pmd[1]['tx_bytes']} out")
    check(st["b"]["gso_segmented"] == 0, "the switch segmented frames for testpmd (LRO port)")
    check(st["c"]["rx_packets"] >= n, f"the switch got {st['c']['rx_packets']} frames from c")
    for p in "abcd":
        bad = st[p]["drops"].get("bad_header", 0)
        check(not bad, f"port {p}: {bad} bad_header drops ({st[p]['drops']})")
    check(bytes_in == bytes_out, f"TCP payload: {bytes_in} bytes sent, {bytes_out} received")


@test
def tso_from_testpmd_to_guest_without_offloads():
    """testpmd's TSO frames to a frontend without offloads: cut by the switch at
    testpmd's 1448, every segment right by scapy, payload bytes in = out."""
    scapy()
    frames = frames_to_send()
    with Setup(DEFAULT_NET_FEATURES) as s:
        bytes_in = bytes_out = 0
        for what, f, hdr in frames:
            got = s.send(f, hdr)
            check(all(p.header[:2] == b"\0\0" for p in got), f"{what}: d got an offload header")
            check_segments([p.frame for p in got], f, PMD_MSS, what)
            bytes_in += len(tcp_payload(f))
            bytes_out += sum(len(tcp_payload(p.frame)) for p in got)
            print(f"  {what}: {len(got)} segments of up to {PMD_MSS} bytes")
        pmd, st = s.counters()
    common_checks(st, pmd, frames, bytes_in, bytes_out)
    check(st["d"]["gso_segmented"] >= len(frames), "d counted no segmentation")


@test
def tso_from_testpmd_to_guest_with_tso():
    """testpmd's TSO frames to a frontend with GUEST_TSO4: whole, GSO_TCPV4 with
    gso_size 1448 (testpmd's), NEEDS_CSUM at 34/16, payload as sent; the partial
    checksum, completed over the whole frame, is right by scapy."""
    scapy()
    frames = frames_to_send()
    with Setup(ALL_OFL) as s:
        bytes_in = bytes_out = 0
        for what, f, hdr in frames:
            got = s.send(f, hdr)
            check(len(got) == 1, f"{what}: d got {len(got)} frames, 1 expected")
            flags, gso, _, gso_size, start, off, _ = VNET.unpack(got[0].header)
            payload = len(tcp_payload(f))
            if payload > PMD_MSS:
                check((flags, gso, gso_size) == (NEEDS_CSUM, GSO_TCPV4, PMD_MSS),
                      f"{what}: header flags {flags} gso_type {gso} gso_size {gso_size}")
            check((start, off) == (34, 16), f"{what}: csum_start {start} offset {off}")
            fr = got[0].frame
            check(len(fr) == len(f), f"{what}: {len(fr)} bytes, {len(f)} sent")
            check(fr[12:24] + fr[26:34] == f[12:24] + f[26:34],
                  f"{what}: the IPv4 header changed (beyond its checksum)")
            if flags & NEEDS_CSUM:
                full = 0xffff - csum_fold(csum_add(fr[start:]))
                fr = fr[:start + off] + struct.pack("!H", full) + fr[start + off + 2:]
            ip_ok, l4_ok = scapy_csums(fr)
            check(ip_ok and l4_ok, f"{what}: checksums ip {ip_ok} tcp {l4_ok} (completed)")
            check(tcp_payload(fr) == tcp_payload(f), f"{what}: payload differs")
            bytes_in += payload
            bytes_out += len(tcp_payload(fr))
            print(f"  {what}: whole, gso_type {gso:#x} gso_size {gso_size}")
        pmd, st = s.counters()
    common_checks(st, pmd, frames, bytes_in, bytes_out)
    check(st["d"]["gso_segmented"] == 0, "frames for a TSO guest were segmented")


@test
def tso_flag_on_mtu_frames_from_testpmd():
    """Plain 1514-byte TCP frames (no header) through testpmd, which sends them with
    its TSO request (payload = gso_size 1448: legal, one segment): all delivered to
    a frontend without offloads, byte for byte with valid checksums."""
    scapy()
    n = 40
    with Setup(DEFAULT_NET_FEATURES) as s:
        sent = [ofl_frame(PMD_MSS, dst=mac_bytes(MAC_B), src=MAC_A, seq=k * PMD_MSS,
                          ip_id=k, csum="full")[0] for k in range(n)]
        for f in sent:
            s.a.send_frame(f, timeout=5)
        check(s.a.wait_tx_done(5), "a's TX not completed")
        got = s.drain(s.d, 0.5)
        pmd, st = s.counters()
    check(len(got) == n, f"d received {len(got)} of {n} frames")
    for k, p in enumerate(got):
        ip_ok, l4_ok = scapy_csums(p.frame)
        check(ip_ok and l4_ok, f"frame {k}: checksums ip {ip_ok} tcp {l4_ok}")
        check(p.frame[12:] == sent[k][12:], f"frame {k} differs from the one sent")
    check(pmd[0]["rx_packets"] == n and pmd[1]["tx_packets"] == n,
          f"testpmd forwarded {pmd[0]['rx_packets']} -> {pmd[1]['tx_packets']} of {n}")
    for p in "abcd":
        check(not st[p]["drops"].get("bad_header", 0), f"port {p}: bad_header drops")


if __name__ == "__main__":
    main()
