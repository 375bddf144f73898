"""Helpers for tests with QEMU guests on one vmswitch: socket folders,
addresses, booting guests and the switch, pcap reading, loss checks.

Guests are 10.0.0.N/24 with MAC 52:54:00:00:00:0N on d/vmN.sock.
"""

import os
import shutil
import struct

from guest import Guest
from switch import Switch
from testlib import check

RUN = "/tmp/vmsw-qemu"


def sock_dir(name):
    path = os.path.join(RUN, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def ip(n):
    return f"10.0.0.{n}"


class OptGuest(Guest):
    """A guest whose virtio-net device gets extra properties (device_opts,
    e.g. "guest_announce=off" or "host_tso4=off")."""

    def __init__(self, *a, device_opts="", **kw):
        super().__init__(*a, **kw)
        self.device_opts = device_opts

    def qemu_command(self):
        argv = super().qemu_command()
        if self.device_opts:
            i = next(k for k, v in enumerate(argv) if v.startswith("virtio-net-pci,"))
            argv[i] += "," + self.device_opts
        return argv


def guest(stack, d, n, **kw):
    """Boot guest n on d/vmN.sock (QEMU is the client unless server=True)."""
    g = Guest(f"g{n}-{os.path.basename(d)}", os.path.join(d, f"vm{n}.sock"),
              f"52:54:00:00:00:{n:02x}", f"{ip(n)}/24", **kw)
    stack.enter_context(g)
    return g


def switch(stack, d, n, name, client=False, args=()):
    opt = ",client" if client else ""
    ports = [f"vm{i}=vhost-user:{d}/vm{i}.sock{opt}" for i in range(1, n + 1)]
    return stack.enter_context(Switch(ports, name=name, args=args))


def mac_bytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


def pcap_frames(path):
    """The frames of a classic pcap file (as `ctl capture` writes), in order."""
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) >= 24, f"{path}: no pcap header ({len(data)} bytes)")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        check(False, f"{path}: not a pcap file (magic {magic.hex()})")
    frames, pos = [], 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(order + "IIII", data, pos)[2]
        frames.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return frames


def no_loss(g, target, count=20):
    sent, got = g.ping(target, count=count, interval=0.1)
    check(sent == count and got == count, f"{g.name} -> {target}: {got}/{sent} replies")
