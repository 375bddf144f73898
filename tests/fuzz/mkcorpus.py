#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/<name>.

The seeds are small inputs in each target's input format (see the comment at
the top of each tests/fuzz/fuzz_*.c): valid ones, and tricky ones that come
close to the checks or once broke them. They are committed; this script
documents how they were made and rebuilds them after a format change:
python3 tests/fuzz/mkcorpus.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- fuzz_vu_msg: records of (ctl, mem, len16, bytes) ------------------------

GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
NEED_REPLY = 0x8
FEATURES = (1 << 32 | 1 << 15 | 1 << 28 | 1 << 29 | 1 << 27 | 1 << 30 | 1 << 22)
PROTOCOL = 0x9                      # MQ | REPLY_ACK
QVA = 0x7f0000000000
MEM_64K = 0                         # mem_sizes[0] in fuzz_vu_msg.c


def rec(payload, nfds=0, memfds=0, mem=MEM_64K):
    """One record: payload bytes with nfds fds, the first ones memfds (bitmask)."""
    return struct.pack("<BBH", nfds | memfds << 4, mem, len(payload)) + payload


def msg(req, payload=b"", flags=0, size=None):
    size = len(payload) if size is None else size
    return struct.pack("=III", req, 1 | flags, size) + payload


def u64(req, v, flags=0):
    return msg(req, struct.pack("=Q", v), flags)


def state(req, index, num, flags=0):
    return msg(req, struct.pack("=II", index, num), flags)


def mem_table(regions, flags=NEED_REPLY, nregions=None):
    body = struct.pack("=II", len(regions) if nregions is None else nregions, 0)
    for gpa, size, qva, off in regions:
        body += struct.pack("=QQQQ", gpa, size, qva, off)
    return msg(SET_MEM_TABLE, body, flags)


def ring_addr(index, base):
    """Ring index at QVA base: desc, then avail +4 KiB, used +8 KiB (size 256)."""
    return msg(SET_VRING_ADDR, struct.pack("=IIQQQQ", index, 0, base, base + 8192,
                                           base + 4096, 0), NEED_REPLY)


def setup_ring(index, num=256, kick=True):
    base = QVA + index * 16384
    out = rec(state(SET_VRING_NUM, index, num, NEED_REPLY))
    out += rec(state(SET_VRING_BASE, index, 0, NEED_REPLY))
    out += rec(ring_addr(index, base))
    if kick:
        out += rec(u64(SET_VRING_KICK, index), nfds=1)
    else:
        out += rec(u64(SET_VRING_KICK, index | 0x100))
    return out


def qemu_startup(features=FEATURES, rings=2, regions=None, memfds=1):
    out = rec(msg(GET_FEATURES))
    out += rec(msg(GET_PROTOCOL_FEATURES))
    out += rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    out += rec(msg(GET_QUEUE_NUM))
    out += rec(msg(SET_OWNER))
    out += rec(msg(GET_FEATURES))
    for i in range(rings):
        out += rec(u64(SET_VRING_CALL, i), nfds=1)
        out += rec(u64(SET_VRING_ERR, i), nfds=1)
    for i in range(rings):
        out += rec(state(SET_VRING_ENABLE, i, 1))
    out += rec(u64(SET_FEATURES, features))
    regions = regions or [(0, 65536, QVA, 0)]
    out += rec(mem_table(regions), nfds=len(regions), memfds=memfds)
    for i in range(rings):
        out += setup_ring(i)
    return out


def vu_msg_seeds():
    seeds = {}
    seeds["get_features"] = rec(msg(GET_FEATURES))
    seeds["qemu_startup"] = qemu_startup() + rec(state(GET_VRING_BASE, 0, 0)) + \
        rec(state(GET_VRING_BASE, 1, 0))
    # DPDK virtio-user order: owner first, calls before features, enable last.
    d = rec(msg(SET_OWNER)) + rec(msg(GET_FEATURES)) + rec(msg(GET_PROTOCOL_FEATURES))
    d += rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    for i in range(2):
        d += rec(u64(SET_VRING_CALL, i), nfds=1)
    d += rec(u64(SET_FEATURES, FEATURES & ~(1 << 29)))
    d += rec(mem_table([(0, 65536, QVA, 0)]), nfds=1, memfds=1)
    for i in range(2):
        d += setup_ring(i)
    for i in range(2):
        d += rec(state(SET_VRING_ENABLE, i, 1))
    seeds["dpdk_startup"] = d
    # Reconfigure while running: features, addresses, memory, call fd again.
    r = qemu_startup()
    r += rec(u64(SET_FEATURES, FEATURES))
    r += rec(ring_addr(0, QVA))
    r += rec(mem_table([(0, 65536, QVA, 0)]), nfds=1, memfds=1)
    r += rec(u64(SET_VRING_CALL, 1), nfds=1)
    r += rec(u64(SET_VRING_KICK, 0), nfds=1)
    r += rec(msg(RESET_OWNER))
    seeds["reconfigure_running"] = r
    # Two regions from one memfd, rings polled (NOFD kicks).
    t = rec(msg(GET_FEATURES)) + rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    t += rec(u64(SET_FEATURES, FEATURES))
    t += rec(mem_table([(0, 32768, QVA, 0), (0x100000, 32768, QVA + 32768, 32768)]),
             nfds=2, memfds=3, mem=MEM_64K | 0x20)
    t += setup_ring(0, num=64, kick=False) + setup_ring(1, num=64, kick=False)
    seeds["two_regions_polled"] = t
    # Refused requests, each acked so the device lives on.
    b = rec(msg(GET_FEATURES)) + rec(u64(SET_PROTOCOL_FEATURES, PROTOCOL))
    b += rec(mem_table([]))
    b += rec(mem_table([(0, 65536, QVA, 0)] * 8, nregions=9), nfds=8, memfds=0xf)
    b += rec(mem_table([(0, 1 << 20, QVA, 0)]), nfds=1, memfds=1)       # beyond its fd
    b += rec(mem_table([(0, 4096, QVA, (1 << 64) - 100)]), nfds=1, memfds=1)
    b += rec(mem_table([(0, 4096, QVA, 0)]), nfds=1, memfds=1, mem=0x10)  # a pipe
    b += rec(state(SET_VRING_NUM, 0xffffffff, 256, NEED_REPLY))
    b += rec(state(SET_VRING_NUM, 0, 3, NEED_REPLY))
    b += rec(state(SET_VRING_NUM, 0, 65536, NEED_REPLY))
    b += rec(msg(99, b"\0" * 8, NEED_REPLY))
    b += rec(u64(SET_VRING_CALL, 0, NEED_REPLY), nfds=12)
    b += rec(msg(SET_VRING_NUM, b"\0" * 4, NEED_REPLY))
    b += rec(state(GET_VRING_BASE, 5, 0))
    b += rec(msg(SET_FEATURES, b"", size=100000))                      # oversized
    seeds["refused_requests"] = b
    # Regression (fixed in 320a4dc): EVENT_IDX acked off while ring 0 runs,
    # then its used ring moved to end exactly at the region's end; the ring
    # kept event_idx and would touch 2 bytes past the mapping.
    e = qemu_startup()
    e += rec(u64(SET_FEATURES, FEATURES & ~(1 << 29)))
    e += rec(msg(SET_VRING_ADDR, struct.pack("=IIQQQQ", 0, 0, QVA, QVA + 65536 - 2052,
                                             QVA + 4096, 0), NEED_REPLY))
    seeds["regress_event_idx_off_while_running"] = e
    return seeds


# ---- fuzz_vring: header, ops, memory image -----------------------------------

R0 = 0x10000
NEXT, WRITE, INDIRECT = 1, 2, 4


class Image:
    """Guest memory from GPA R0 with a ring of num entries at its start."""

    def __init__(self, log2num, event_idx):
        self.num = 1 << log2num
        self.mem = bytearray(0x6000)        # regions 0 and 1, contiguous
        self.avail = R0 + 16 * self.num
        self.used = (self.avail + 4 + 2 * self.num + (2 if event_idx else 0) + 3) & ~3
        self.avail_idx = 0

    def put(self, gpa, data):
        self.mem[gpa - R0:gpa - R0 + len(data)] = data

    def desc(self, i, addr, length, flags=0, nxt=0, table=None):
        base = R0 if table is None else table
        self.put(base + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def publish(self, head):
        self.put(self.avail + 4 + 2 * (self.avail_idx % self.num), struct.pack("<H", head))
        self.avail_idx += 1
        self.put(self.avail + 2, struct.pack("<H", self.avail_idx))

    def used_event(self, v):
        self.put(self.avail + 4 + 2 * self.num, struct.pack("<H", v))

    def trimmed(self):
        return bytes(self.mem).rstrip(b"\0")


def vring_input(log2num, flags, ops, img, used_idx=0):
    return struct.pack("<BBHB", log2num, flags, used_idx, len(ops)) + bytes(ops) + img.trimmed()


def frame(n):
    return bytes(12) + bytes((i * 7 + 1) & 0xff for i in range(n))


def vring_seeds():
    seeds = {}
    # TX: one descriptor, a header split over two, an indirect table.
    m = Image(3, False)
    m.put(0x10400, frame(60))
    m.desc(0, 0x10400, 72)
    m.put(0x10500, frame(100))
    m.desc(1, 0x10500, 7, NEXT, 2)
    m.desc(2, 0x10507, 5, NEXT, 3)
    m.desc(3, 0x1050c, 100)
    m.put(0x10600, frame(200))
    m.desc(0, 0x10600, 12, NEXT, 1, table=0x10700)
    m.desc(1, 0x1060c, 100, NEXT, 2, table=0x10700)
    m.desc(2, 0x10670, 100, 0, 0, table=0x10700)
    m.desc(4, 0x10700, 48, INDIRECT)
    for h in (0, 1, 4):
        m.publish(h)
    seeds["tx_three_chains"] = vring_input(3, 2, [0, 1, 1, 1, 5], m)
    # RX: four writable buffers; a mergeable frame over three, then a small one.
    m = Image(3, False)
    for i in range(4):
        m.desc(i, 0x11000 + 0x200 * i, 512, WRITE)
        m.publish(i)
    seeds["rx_mergeable"] = vring_input(3, 2, [0, 3, 30, 3, 1, 5, 6, 1], m)
    seeds["rx_single"] = vring_input(3, 0, [0, 4, 10, 4, 200, 5], m)
    # RX chain of two WRITE descriptors in an indirect table, EVENT_IDX + call fd.
    m = Image(4, True)
    m.desc(0, 0x12000, 100, WRITE | NEXT, 1, table=0x12800)
    m.desc(1, 0x12100, 1600, WRITE, 0, table=0x12800)
    m.desc(0, 0x12800, 32, INDIRECT)
    m.publish(0)
    m.used_event(0)
    seeds["rx_indirect_event_idx"] = vring_input(4, 1 | 2 | 4, [0, 3, 20, 5, 6, 1, 6, 0], m)
    # TX buffer that crosses from region 0 into region 1.
    m = Image(2, False)
    m.put(0x13f80, frame(200))
    m.desc(0, 0x13f80, 212)
    m.publish(0)
    seeds["tx_across_regions"] = vring_input(2, 2, [0, 1, 5], m)
    # The guest moves avail->idx while we work; used->idx starts at 65530.
    m = Image(3, True)
    for i in range(8):
        m.desc(i, 0x11000 + 0x100 * i, 256, WRITE)
    m.mem[m.avail + 2 - R0:m.avail + 4 - R0] = struct.pack("<H", 65530 + 3)
    for i in range(8):
        m.put(m.avail + 4 + 2 * i, struct.pack("<H", i))
    seeds["rx_wrapping_idx"] = vring_input(3, 1 | 2, [0, 3, 5, 3, 6, 5, 0x87, 2, 0, 3, 9, 5],
                                           m, used_idx=65530)
    return seeds


# ---- fuzz_ctl: request lines against the switch set up in fuzz_ctl.c --------
# Ports there: vm1, vm2 (mirrors to vm1), vm3 (client), c1 and c2 (config).
# No '/' anywhere: such inputs are refused.

def ctl_seeds():
    lines = {
        "show": ["show", "show vm2", "show nosuch"],
        "show_json": ["show --json", "show vm3 --json", "show --json nosuch"],
        "stats": ["stats", "stats vm1", "stats --json", "stats c1 --json"],
        "fdb": ["fdb", "fdb show --json", "fdb flush vm1", "fdb --json", "fdb flush",
                "fdb show", "fdb flush nosuch", "fdb bogus"],
        "metrics": ["metrics", "metrics --json"],
        "port_add_del": ["port add vm4=vhost-user:vm4.sock,queues=1 vlan=5",
                         "show vm4 --json", "port del vm4", "port del vm4",
                         "port add vm4=vhost-user:vm4.sock,client,queues=16,mode=0640"],
        "port_set_every_option": [
            "port set vm1 vlan=100", "port set vm1 trunk=1-4094",
            "port set vm1 allowed_macs=52:54:00:00:00:01,52:54:00:00:00:02",
            "port set vm1 ingress_filter=tcp port 80 and not arp",
            "port set vm1 egress_filter=none",
            "port set vm1 rx_rate=1.5G rx_burst=64K tx_rate=100M tx_burst=1M mtu=9000",
            "port set vm1 mirror=vm3", "port set vm1 vlan=none trunk=none mirror=none",
            "show --json"],
        "mirrors": ["port set vm1 mirror=vm2", "port set vm3 mirror=vm1", "port del vm2",
                    "show --json", "port add vm2=vhost-user:vm2b.sock mirror=vm1",
                    "port set vm2 mirror=vm2", "stats --json"],
        "capture": ["capture vm2 vm2.pcap", "capture vm2 again.pcap icmp or arp --count 3",
                    "capture stop vm2", "capture stop vm1", "capture vm9 x.pcap",
                    "capture vm1 - --count 1", "capture vm1 bad.pcap ((", "capture stop"],
        "reload": ["reload", "show --json", "reload", "port del c1", "reload",
                   "port set c3 vlan=7", "reload", "stats --json"],
        "other_port_types": ["port add t0=tap:vmswfz0,mtu=1400",
                             "port add p0=afpacket:vmswfz0",
                             "port add x0=vxlan:127.0.0.1,vni=42,port=4790",
                             "port add x1=vxlan:::1,vni=43,local=::1",
                             "port add a0=afxdp:vmswfz0,queue=0,mode=generic",
                             "show --json", "stats --json", "port del t0", "show"],
        "numbers_inf_nan_huge": ["port set vm1 rx_rate=inf", "port set vm1 tx_rate=nan",
                                 "port set vm1 mtu=1e30", "port set vm1 rx_burst=-1",
                                 "port add vm5=vhost-user:vm5.sock rx_rate=0x1p64",
                                 "port set vm2 tx_burst=18446744073709551616",
                                 "capture vm1 c.pcap --count 99999999999999999999",
                                 "show --json"],
        "odd_strings": ["port set vm1 mirror=\xff\xfe", "port set vm1 ingress_filter=\"\\\x01",
                        "port set vm1 egress_filter=ether host 52:54:00:00:00:01",
                        "show --json", "show\tvm1\r --json"],
        "malformed_specs": ["port add x=vhost-user:,", "port add x=vhost-user:,,client",
                            "port add =tap:a", "port add x=unknown:y", "port add x=",
                            "port add vm1=vhost-user:dup.sock", "port add y=vhost-user:vm1.sock",
                            "port add z=vhost-user:z.sock,queues=0", "port add z=tap:,",
                            "port add z=vxlan:,vni=1", "port add z=afpacket:"],
        "usage_errors": ["", "port", "port add", "port set vm1", "port set vm1 novalue",
                         "port set nosuch vlan=1", "port frob vm1 x", "unknown", "--json",
                         "capture", "capture vm1", "reload extra"],
        "long": ["port add " + "a" * 300 + "=vhost-user:x",
                 "capture vm1 f.pcap " + "icmp or " * 40 + "arp",
                 "show " + "x " * 40 + "--json",
                 "port set vm1 ingress_filter=" + "not " * 80 + "icmp"],
    }
    return {name: "\n".join(v).encode("latin-1") for name, v in lines.items()}


# ---- fuzz_port_spec: a spec, then key=value option lines ---------------------

def port_spec_seeds():
    seeds = {
        "vhost_server": ["vm1=vhost-user:/run/vmswitch/vm1.sock"],
        "vhost_every_option": ["vm1=vhost-user:/tmp/a.sock,client,server,queues=16,"
                               "mode=0660,owner=root,group=0"],
        "vhost_bad_options": ["v=vhost-user:/a,queues=0,queues=17,mode=0999,owner=4294967296,"
                              "group=nosuchgroup,frob"],
        "vhost_long_path": ["v=vhost-user:/" + "p" * 120],
        "tap": ["host=tap:vmswtap1,mtu=9000"],
        "tap_bad": ["t=tap:a/b,mtu=20", "rx_rate=8K"],
        "afpacket": ["up=afpacket:eth1"],
        "afxdp": ["x=afxdp:eth0,queue=3,mode=native", "mtu=1500"],
        "afxdp_bad": ["x=afxdp:eth0,queue=4096,mode=fast"],
        "vxlan_v4": ["vx=vxlan:192.0.2.1,vni=42,local=192.0.2.2,port=4789"],
        "vxlan_v6": ["vx=vxlan:2001:db8::1,vni=16777215,local=2001:db8::2"],
        "vxlan_bad": ["vx=vxlan:192.0.2.1,vni=16777216,local=::1,port=0"],
        "no_first_argument": ["a=vhost-user:,"],
        "no_first_argument_options": ["a=vhost-user:,,client"],
        "bad_names": ["a b=tap:x"],
        "every_option": ["vm1=vhost-user:/a.sock", "vlan=10", "trunk=10,20-30,4094",
                         "allowed_macs=52:54:00:00:00:01,52:54:00:00:00:02",
                         "ingress_filter=not icmp", "egress_filter=tcp port 22",
                         "rx_rate=1.5G", "rx_burst=64K", "tx_rate=100M", "tx_burst=1M",
                         "mirror=vm2", "mtu=9000"],
        "numbers_inf_nan_huge": ["vm1=vhost-user:/a.sock", "rx_rate=inf", "tx_rate=nan",
                                 "mtu=1e30", "rx_burst=-1", "tx_burst=0x1p64",
                                 "rx_rate=18446744073709551616", "mtu=67", "tx_rate=7"],
        "bad_option_values": ["vm1=vhost-user:/a.sock", "vlan=0", "vlan=4096", "trunk=30-20",
                              "allowed_macs=" + ",".join(["52:54:00:00:00:01"] * 17),
                              "ingress_filter=(((", "mirror=a b", "mirror=\xff", "frob=1"],
    }
    return {name: "\n".join(v).encode("latin-1") for name, v in seeds.items()}


# ---- fuzz_config: the file -----------------------------------------------------

def config_seeds():
    def ports(*groups):
        return ("ports = (\n" + ",\n".join("  { " + g + " }" for g in groups) + "\n);\n")
    seeds = {
        "good": ports('name = "a"; type = "vhost-user"; path = "/tmp/a.sock"; client = true; '
                      'queues = 2; vlan = 10;',
                      'name = "b"; type = "vhost-user"; path = "/tmp/b.sock"; trunk = [10, 20]; '
                      'allowed_macs = ["52:54:00:00:00:01"]; ingress_filter = "not icmp"; '
                      'rx_rate = "20M"; mtu = 1500; mirror = "a";'),
        "every_type": ports('name = "v"; type = "vhost-user"; path = "/run/v.sock"; mode = "0600"; '
                            'owner = "root"; group = "root";',
                            'name = "t"; type = "tap"; interface = "vmswtap1"; mtu = 9000;',
                            'name = "p"; type = "afpacket"; interface = "eth1";',
                            'name = "x"; type = "afxdp"; interface = "eth0"; queue = 2; '
                            'mode = "generic";',
                            'name = "vx"; type = "vxlan"; remote = "192.0.2.1"; vni = 42; '
                            'local = "192.0.2.2"; port = 4789;'),
        "every_option": ports('name = "a"; type = "vhost-user"; path = "/a"; vlan = 10; '
                              'egress_filter = "tcp port 22"; rx_rate = "1.5G"; rx_burst = "64K"; '
                              'tx_rate = 100000000; tx_burst = 1000000L; mtu = 9000; '
                              'mirror = "b";',
                              'name = "b"; type = "vhost-user"; path = "/b"; trunk = "1-4094";'),
        "numbers_inf_nan_huge": ports('name = "a"; type = "vhost-user"; path = "/a"; '
                                      'rx_rate = 1e30; tx_rate = "inf"; mtu = 1500.5; '
                                      'queues = 99999999999L; tx_burst = "nan";'),
        "errors_missing": ports('name = "a"; type = "vhost-user";', 'type = "tap";'),
        "errors_unknown_type": ports('name = "a"; type = "ovs"; path = "/a";'),
        "errors_twice": ports('name = "a"; type = "tap"; interface = "t1";',
                              'name = "a"; type = "tap"; interface = "t2";'),
        "errors_values": ports('name = "a"; type = "vhost-user"; path = "/a"; vlan = 5000; '
                               'trunk = [1, [2]]; client = "yes"; frob = { x = 1; };'),
        "errors_bad_spec": ports('name = "a b"; type = "vhost-user"; path = "";',
                                 'name = "c"; type = "vhost-user"; path = "/c"; queues = 0;'),
        "not_a_list": "ports = 5;\n",
        "empty_list": "ports = ();\nother = [1, 2];\n",
        "array": 'ports = [ "a", "b" ];\n',
        "no_ports": 'port = ( { name = "a"; } );\n',
        "syntax_error": 'ports = ( { name "a"; type = "tap"; } );\n',
        "long_value": ports('name = "a"; type = "vhost-user"; path = "/' + "p" * 600 + '";'),
    }
    return {name: text.encode() for name, text in seeds.items()}

# ---- fuzz_offload: caps, virtio-net header, rx caps, cuts, frame ------------

CSUM, TSO4, TSO6, ECN, USO4, USO6, TRUST_VALID = 1, 2, 4, 8, 16, 32, 64
ALL_TX = CSUM | TSO4 | TSO6 | ECN | USO4 | USO6
NEEDS_CSUM, DATA_VALID = 1, 2
GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 0, 1, 4, 5, 0x80


def csum_sum(data):
    """One's complement sum of big-endian 16-bit words, folded."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def l4_frame(ipv6=False, udp=False, vlans=0, payload=1000, ip_opts=0, tcp_opts=0,
             tcp_flags=0x10):
    """An Ethernet frame as a guest sends it with NEEDS_CSUM: the L4 checksum
    field holds the pseudo-header sum. Returns (frame, L4 offset)."""
    eth = bytes.fromhex("525400000002525400000001")
    for i in range(vlans):
        eth += struct.pack(">HH", 0x88a8 if i + 1 < vlans else 0x8100, 10 + i)
    eth += struct.pack(">H", 0x86dd if ipv6 else 0x0800)
    data = bytes((i * 131 + 7) & 0xff for i in range(payload))
    proto = 17 if udp else 6
    if udp:
        l4 = struct.pack(">HHHH", 5353, 4789, 8 + payload, 0)
    else:
        l4 = struct.pack(">HHIIBBHHH", 40000, 5201, 1000, 0x11223344,
                         (20 + tcp_opts) // 4 << 4, tcp_flags, 64240, 0, 0) + b"\1" * tcp_opts
    l4_len = len(l4) + payload
    if ipv6:
        src = bytes.fromhex("20010db8000000000000000000000001")
        dst = bytes.fromhex("20010db8000000000000000000000002")
        ip = struct.pack(">IHBB", 0x60000000, l4_len, proto, 64) + src + dst
        pseudo = src + dst + struct.pack(">IxxxB", l4_len, proto)
    else:
        ihl = 20 + ip_opts
        ip = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl // 4, 0, ihl + l4_len, 0x1234, 0x4000,
                         64, proto, 0, bytes([10, 0, 0, 1]), bytes([192, 168, 1, 2]))
        ip += b"\1" * ip_opts
        ip = ip[:10] + struct.pack(">H", ~csum_sum(ip) & 0xffff) + ip[12:]
        pseudo = ip[12:20] + struct.pack(">xBH", proto, l4_len)
    off = 6 if udp else 16
    l4 = l4[:off] + struct.pack(">H", csum_sum(pseudo)) + l4[off + 2:]
    return eth + ip + l4 + data, len(eth) + len(ip)


def offload_input(tx_caps, frame, l4, flags=NEEDS_CSUM, gso=GSO_NONE, mss=0, rx_caps=0,
                  csum_offset=16, cuts=(0, 0, 0), hdr_len=0):
    """One fuzz_offload input: what the guest negotiated and sent, what the
    receiver takes, where the frame is cut into iovecs."""
    vh = struct.pack("<BBHHHH", flags, gso, hdr_len, mss, l4 if flags & NEEDS_CSUM else 0,
                     csum_offset if flags & NEEDS_CSUM else 0)
    return bytes([tx_caps]) + vh + bytes([rx_caps]) + struct.pack("<3H", *cuts) + frame


def offload_seeds():
    seeds = {}
    # TCPv4 TSO, 3 segments, to a port without offloads: full checksums.
    f, l4 = l4_frame(payload=4000, tcp_flags=0x19)
    seeds["tcp4_gso"] = offload_input(ALL_TX, f, l4, gso=GSO_TCPV4, mss=1448,
                                      cuts=(54, 1500, 3001), hdr_len=54)
    # The same to a port with checksum offload: partial checksums.
    seeds["tcp4_gso_partial"] = offload_input(ALL_TX, f, l4, gso=GSO_TCPV4, mss=1448,
                                              rx_caps=CSUM, cuts=(7, 35, 55), hdr_len=54)
    # ... and to one that takes TSO: passed on as it is.
    seeds["tcp4_gso_passthrough"] = offload_input(ALL_TX, f, l4, gso=GSO_TCPV4, mss=1448,
                                                  rx_caps=ALL_TX)
    # TCPv6 TSO with TCP options, odd MSS, to a port with checksum offload.
    f, l4 = l4_frame(ipv6=True, payload=3000, tcp_opts=12, tcp_flags=0x18)
    seeds["tcp6_gso"] = offload_input(CSUM | TSO6, f, l4, gso=GSO_TCPV6, mss=999,
                                      rx_caps=CSUM, cuts=(86, 87, 1001), hdr_len=86)
    # TCPv4 with IPv4 and TCP options, ECN (CWR on the first segment only).
    f, l4 = l4_frame(payload=2500, ip_opts=40, tcp_opts=20, tcp_flags=0x98)
    seeds["tcp4_gso_ecn_options"] = offload_input(CSUM | TSO4 | ECN, f, l4,
                                                  gso=GSO_TCPV4 | GSO_ECN, mss=1200,
                                                  rx_caps=CSUM | TSO4, cuts=(14, 74, 1300))
    # USO over IPv4 and IPv6 (QinQ-tagged).
    f, l4 = l4_frame(udp=True, payload=3000)
    seeds["udp4_uso"] = offload_input(CSUM | USO4 | USO6, f, l4, gso=GSO_UDP_L4, mss=1472,
                                      csum_offset=6, cuts=(42, 43, 2000))
    f, l4 = l4_frame(ipv6=True, udp=True, vlans=2, payload=2900)
    seeds["udp6_uso_qinq"] = offload_input(CSUM | USO6, f, l4, gso=GSO_UDP_L4, mss=1000,
                                           rx_caps=CSUM | USO4, csum_offset=6,
                                           cuts=(21, 70, 71))
    # Plain NEEDS_CSUM, completed for a port without checksum offload.
    f, l4 = l4_frame(payload=101)
    seeds["tcp4_needs_csum"] = offload_input(CSUM, f, l4, cuts=(50, 51, 52))
    f, l4 = l4_frame(ipv6=True, udp=True, payload=77)
    seeds["udp6_needs_csum"] = offload_input(CSUM, f, l4, csum_offset=6, cuts=(1, 60, 63))
    # VLAN-tagged TCPv4 TSO, and a VLAN-tagged IPv6 one with NEEDS_CSUM only.
    f, l4 = l4_frame(vlans=1, payload=2900, tcp_flags=0x11)
    seeds["vlan_tcp4_gso"] = offload_input(ALL_TX, f, l4, gso=GSO_TCPV4, mss=1448,
                                           cuts=(16, 18, 1500))
    f, l4 = l4_frame(ipv6=True, vlans=1, payload=300)
    seeds["vlan_tcp6_needs_csum"] = offload_input(CSUM, f, l4, rx_caps=CSUM | TSO6)
    # A GSO request whose payload fits one segment: kept whole.
    f, l4 = l4_frame(payload=1000)
    seeds["tcp4_gso_one_segment"] = offload_input(ALL_TX, f, l4, gso=GSO_TCPV4, mss=1448)
    # The longest frame IPv6 allows (VLAN-tagged, payload length 65535), jumbo
    # MSS, cut at page boundaries: 1 byte more is refused, an MSS past 65458
    # leaves no room in a 64 KiB segment buffer.
    f, l4 = l4_frame(ipv6=True, vlans=1, payload=65535 - 20)
    seeds["vlan_tcp6_gso_64k"] = offload_input(CSUM | TSO6, f, l4, gso=GSO_TCPV6, mss=8948,
                                               rx_caps=CSUM, cuts=(4084, 8180, 61428))
    # DATA_VALID from a trusted sender (a tap), delivered to a guest.
    f, l4 = l4_frame(payload=200)
    seeds["data_valid_trusted"] = offload_input(CSUM | TRUST_VALID, f, l4, flags=DATA_VALID,
                                                rx_caps=CSUM)
    return seeds


# ---- fuzz_evpn_neigh: rtnetlink messages back to back ------------------------

RTM_NEWNEIGH, RTM_DELNEIGH, NLMSG_DONE = 28, 29, 3
AF_BRIDGE, NDA_DST, NDA_LLADDR, NDA_NH_ID = 7, 1, 2, 13
NTF_SELF, NTF_MASTER, NTF_EXT_LEARNED = 0x02, 0x04, 0x10
VX, ADV = 7, 8                      # the made-up ifindexes in fuzz_evpn_neigh.c


def nlattr(typ, payload):
    a = struct.pack("=HH", 4 + len(payload), typ) + payload
    return a + b"\0" * (-len(a) % 4)


def neigh(typ, ifindex, mac=None, dst=None, flags=0, extra=b""):
    attrs = (nlattr(NDA_LLADDR, mac) if mac is not None else b"") + \
            (nlattr(NDA_DST, dst) if dst is not None else b"") + extra
    body = struct.pack("=BxxxiHBB", AF_BRIDGE, ifindex, 0x40, flags, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), typ, 0, 0, 0) + body


def evpn_neigh_seeds():
    mac = bytes.fromhex("525400000002")
    zero = bytes(6)
    h2, h3 = bytes([192, 0, 2, 2]), bytes([192, 0, 2, 3])
    done = struct.pack("=IHHIIi", 20, NLMSG_DONE, 2, 1, 0, 0)
    return {
        "remote_mac": neigh(RTM_NEWNEIGH, VX, mac, h2, NTF_SELF | NTF_EXT_LEARNED),
        "flood_pair_then_done": neigh(RTM_NEWNEIGH, VX, zero, h2, NTF_SELF) +
            neigh(RTM_NEWNEIGH, VX, zero, h3, NTF_SELF) + done,
        "move_and_delete": neigh(RTM_NEWNEIGH, VX, mac, h2, NTF_EXT_LEARNED) +
            neigh(RTM_NEWNEIGH, VX, mac, h3, NTF_EXT_LEARNED) +
            neigh(RTM_DELNEIGH, VX, mac, h3, NTF_EXT_LEARNED) +
            neigh(RTM_DELNEIGH, VX, zero, h2, NTF_SELF),
        "ipv6_dst": neigh(RTM_NEWNEIGH, VX, mac, bytes.fromhex("20010db8" + "00" * 11 + "02"),
                          NTF_EXT_LEARNED),
        "advertise_echo": neigh(RTM_NEWNEIGH, ADV, mac, None, NTF_MASTER),
        "nexthop_group": neigh(RTM_NEWNEIGH, VX, mac, h2, NTF_EXT_LEARNED,
                               nlattr(NDA_NH_ID, struct.pack("=I", 5))),
        "short_mac": neigh(RTM_NEWNEIGH, VX, mac[:5], h2, NTF_EXT_LEARNED),
        "odd_dst": neigh(RTM_NEWNEIGH, VX, mac, h2[:3], NTF_EXT_LEARNED),
    }


def main():
    for target, seeds in (("fuzz_vu_msg", vu_msg_seeds()), ("fuzz_vring", vring_seeds()),
                          ("fuzz_ctl", ctl_seeds()), ("fuzz_port_spec", port_spec_seeds()),
                          ("fuzz_config", config_seeds()), ("fuzz_offload", offload_seeds()),
                          ("fuzz_evpn_neigh", evpn_neigh_seeds())):
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
