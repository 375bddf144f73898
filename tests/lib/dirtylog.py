"""The migration log from the frontend's side, as QEMU sets it up when a
migration starts: SET_LOG_BASE with a memfd, LOG_ALL, the rings' LOG flag."""

import mmap
import os
import struct

from vhostfront import VHOST_USER_SET_LOG_BASE, ConnectionClosed, ProtocolError, bit

PAGE = 4096
LOG_ALL = 26


def log_size(dev):
    """QEMU's rule: one bit per page of guest-physical memory, in bytes."""
    end = max(r.gpa + r.size for r in dev.memory.regions)
    return end // PAGE // 8 + 1


def set_log_base(dev, size, offset=0, fds=(), payload=None):
    """SET_LOG_BASE; the u64 of the reply (0: accepted), or None if the
    back-end closed the connection. A malformed reply raises ProtocolError."""
    payload = struct.pack("<QQ", size, offset) if payload is None else payload
    try:
        dev.fe.send_raw(VHOST_USER_SET_LOG_BASE, payload=payload, fds=list(fds))
        r = dev.fe.recv_reply(timeout=3)
    except (ConnectionClosed, ProtocolError, OSError):
        return None     # closed while we sent or before it answered
    if r.request != VHOST_USER_SET_LOG_BASE or len(r.payload) != 8:
        raise ProtocolError(f"SET_LOG_BASE reply: request {r.request}, "
                            f"{len(r.payload)} bytes")
    return struct.unpack("<Q", r.payload)[0]


def enable_logging(dev):
    """LOG_ALL on the running device, and the LOG flag on every ring."""
    dev.features |= bit(LOG_ALL)
    dev.fe.set_features(dev.features)
    m = dev.memory
    for index in range(2 * dev.queue_pairs):
        vq = dev._vring(index)
        # A packed ring's used and avail fields are its device and driver
        # event areas; QEMU logs at the device area's address.
        used, avail = ((vq.device_gpa, vq.driver_gpa) if dev.packed
                       else (vq.used_gpa, vq.avail_gpa))
        dev.fe.set_vring_addr(index, m.qva(vq.desc_gpa), m.qva(used), m.qva(avail),
                              log=used, flags=1)
    dev.fe.sync()


def start_logging(dev, size=None, file_size=None):
    """A log of @size bytes (default: the whole memory) in a memfd of
    @file_size bytes, then logging on; returns the file mapped, whole."""
    size = size or log_size(dev)
    file_size = file_size or size
    fd = os.memfd_create("vmsw-log", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, file_size)
        if set_log_base(dev, size, fds=[fd]) != 0:
            raise RuntimeError(f"SET_LOG_BASE of {size} bytes refused")
        log = mmap.mmap(fd, file_size)
    finally:
        os.close(fd)
    enable_logging(dev)
    return log
