"""Offloaded TCP/UDP frames for tests (issue 12): build them with a virtio-net
header, and judge what a switch made of them with scapy (Debian's python3-scapy,
installed when missing), never with the switch's own code."""

import struct
import sys

from hostutil import ensure_packages
from testlib import check, skip

# virtio-net offload feature bits (virtio 1.2 5.1.3)
F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_GUEST_TSO6, F_GUEST_ECN = 0, 1, 7, 8, 9
F_HOST_TSO4, F_HOST_TSO6, F_HOST_ECN = 11, 12, 13
OFL_TX = 1 << F_CSUM | 1 << F_HOST_TSO4 | 1 << F_HOST_TSO6          # guest -> switch
OFL_RX = (1 << F_GUEST_CSUM | 1 << F_GUEST_TSO4 | 1 << F_GUEST_TSO6  # switch -> guest
          | 1 << F_GUEST_ECN)
MAC_SRC = bytes.fromhex("02000000e001")
MAC_DST = bytes.fromhex("02000000e002")

NEEDS_CSUM = 1
GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 1, 3, 4, 5, 0x80
TCP_FIN, TCP_PSH, TCP_ACK, TCP_CWR = 0x01, 0x08, 0x10, 0x80
VNET = struct.Struct("<BBHHHHH")  # flags gso_type hdr_len gso_size csum_start csum_offset nbufs
IP4 = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
IP6 = (bytes.fromhex("fd000000000000000000000000000001"),
       bytes.fromhex("fd000000000000000000000000000002"))
MSS = 1448


def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, off=0):
    return VNET.pack(flags, gso, hdr_len, gso_size, start, off, 0)


def csum_add(data, s=0):
    if len(data) % 2:
        data += b"\0"
    return s + sum(struct.unpack(f"!{len(data) // 2}H", data))


def csum_fold(s):
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def pattern(n, seed=0):
    """n payload bytes that differ from one offset to the next (period 251)."""
    block = bytes((seed + k) % 251 for k in range(251))
    return (block * (n // 251 + 2))[:n]


def ofl_frame(payload, ipv6=False, udp=False, dst=MAC_DST, src=MAC_SRC, tcp_flags=TCP_ACK | TCP_PSH,
              seq=0x10000000, ip_id=0x1234, doff=5, csum="partial", frag=False, tos=0):
    """Ethernet/IPv4 or IPv6/TCP or UDP with payload (an int: that many pattern bytes).

    csum: "partial" puts the pseudo-header sum in the L4 field (what a NEEDS_CSUM
    sender does), "full" the complete checksum. Returns (frame, l4 offset)."""
    data = pattern(payload, seq & 0xff) if isinstance(payload, int) else payload
    proto = 17 if udp else 6
    if udp:
        l4 = struct.pack("!HHHH", 40000, 5201, 8 + len(data), 0)
    else:
        l4 = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 1, doff << 4, tcp_flags, 0xffff, 0, 0)
        l4 += bytes(max(0, 4 * doff - 20))       # zero options (EOL) when doff > 5
    seg = l4 + data
    if ipv6:
        saddr, daddr = IP6
        ip = struct.pack("!IHBB", 6 << 28, len(seg), proto, 64) + saddr + daddr
        eth_type = b"\x86\xdd"
    else:
        saddr, daddr = IP4
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(seg), ip_id,
                         0x2000 if frag else 0x4000, 64, proto, 0, saddr, daddr)
        ip = ip[:10] + struct.pack("!H", 0xffff - csum_fold(csum_add(ip))) + ip[12:]
        eth_type = b"\x08\x00"
    pseudo = csum_add(saddr + daddr + struct.pack("!HH", proto, len(seg)))
    field = 6 if udp else 16
    if csum == "partial":
        value = csum_fold(pseudo)
    else:
        value = 0xffff - csum_fold(csum_add(seg, pseudo))
    seg = seg[:field] + struct.pack("!H", value) + seg[field + 2:]
    head = dst + src + eth_type + ip
    return head + seg, len(head)


def gso_hdr(l4, ipv6=False, mss=MSS, ecn=False, hdr_len=None, doff=5):
    gso = (GSO_TCPV6 if ipv6 else GSO_TCPV4) | (GSO_ECN if ecn else 0)
    return vnet(NEEDS_CSUM, gso, l4 + 4 * doff if hdr_len is None else hdr_len, mss, l4, 16)


_SCAPY = {}


def scapy():
    """Scapy's Ether, IP, IPv6, TCP and UDP (Debian's python3-scapy, installed if
    missing), or skip: the independent parser the switch's output is judged by."""
    if not _SCAPY:
        try:
            import scapy  # noqa: F401
        except ImportError:
            try:
                ensure_packages(["python3-scapy"])
            except RuntimeError as e:
                skip(f"python3-scapy could not be installed: {e}")
            # Debian's package, for a python3 that is not Debian's own
            if "/usr/lib/python3/dist-packages" not in sys.path:
                sys.path.append("/usr/lib/python3/dist-packages")
        import logging
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.l2 import Ether
        _SCAPY.update(Ether=Ether, IP=IP, IPv6=IPv6, TCP=TCP, UDP=UDP)
    return _SCAPY


def scapy_csums(frame):
    """(ip_ok, l4_ok) for a frame, by scapy: rebuild with the checksums left out
    and compare them with the frame's own."""
    s = scapy()
    pkt = s["Ether"](frame)
    again = pkt.copy()
    ip = again.getlayer(s["IP"])
    if ip is not None:
        del ip.chksum
    l4 = again.getlayer(s["TCP"]) or again.getlayer(s["UDP"])
    del l4.chksum
    rebuilt = s["Ether"](bytes(again))
    ip_ok = ip is None or rebuilt[s["IP"]].chksum == pkt[s["IP"]].chksum
    l4cls = s["TCP"] if pkt.haslayer(s["TCP"]) else s["UDP"]
    return ip_ok, rebuilt[l4cls].chksum == pkt[l4cls].chksum


def check_segments(segs, frame, mss, what, ipv6=False, cwr=False):
    """segs are frame cut by the switch for a guest without offloads: checked field
    by field with scapy (lengths, ids, seq, flags, both checksums, payload)."""
    s = scapy()
    orig = s["Ether"](frame)
    l3 = s["IPv6"] if ipv6 else s["IP"]
    otcp = orig[s["TCP"]]
    payload = bytes(otcp.payload)
    n = (len(payload) + mss - 1) // mss
    check(len(segs) == n, f"{what}: {len(segs)} segments, {n} expected")
    got = b""
    for i, raw in enumerate(segs):
        pkt = s["Ether"](raw)
        check(pkt.haslayer(l3) and pkt.haslayer(s["TCP"]), f"{what}: segment {i} not TCP/IP")
        ip, tcp = pkt[l3], pkt[s["TCP"]]
        if ipv6:
            check(ip.plen == len(raw) - 14 - 40, f"{what}: segment {i}: IPv6 plen {ip.plen}, "
                                                  f"frame {len(raw)}")
        else:
            check(ip.len == len(raw) - 14, f"{what}: segment {i}: IPv4 length {ip.len}, "
                                            f"frame {len(raw)}")
            check(ip.id == (orig[s["IP"]].id + i) & 0xffff,
                  f"{what}: segment {i}: IPv4 id {ip.id:#x}, base {orig[s['IP']].id:#x}")
        ip_ok, l4_ok = scapy_csums(raw)
        check(ip_ok, f"{what}: segment {i}: bad IPv4 header checksum")
        check(l4_ok, f"{what}: segment {i}: bad TCP checksum")
        check(tcp.seq == (otcp.seq + i * mss) & 0xffffffff,
              f"{what}: segment {i}: seq {tcp.seq:#x}, expected {otcp.seq + i * mss:#x}")
        last = i == n - 1
        flags = int(tcp.flags)
        want = int(otcp.flags)
        if not last:
            want &= ~(TCP_FIN | TCP_PSH)
        if i and cwr:
            want &= ~TCP_CWR
        check(flags == want, f"{what}: segment {i}: flags {flags:#x}, expected {want:#x}")
        body = bytes(tcp.payload)
        check(len(body) == (len(payload) - i * mss if last else mss),
              f"{what}: segment {i}: {len(body)} payload bytes")
        got += body
    check(got == payload, f"{what}: the segments' payloads are not the frame's payload")
