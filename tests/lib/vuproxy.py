"""A recording vhost-user proxy between QEMU and vmswitch.

QEMU connects to the proxy's socket; the proxy connects to the switch's
socket and relays every message both ways, file descriptors included, noting
each one (connection number, direction, request, flags, payload). When either
side closes, it closes both, removes its own socket and waits for the switch's
socket to accept connections again before it listens again, so a QEMU with
`reconnect=N` on its chardev sees a restarted switch as it would without the
proxy (connection refused in between).

It lets a test read what QEMU sent a backend, e.g. the SET_VRING_BASE values
given to a switch that was restarted under a running guest, and, as it keeps
a copy of the guest memory fds of SET_MEM_TABLE, read a ring's descriptors
(ring_descs) to compare them with those values.
"""

import os
import socket
import struct
import threading
import time

HDR = struct.Struct("<III")     # request, flags, size
REQUEST_NAMES = {1: "GET_FEATURES", 2: "SET_FEATURES", 3: "SET_OWNER", 5: "SET_MEM_TABLE",
                 8: "SET_VRING_NUM", 9: "SET_VRING_ADDR", 10: "SET_VRING_BASE",
                 11: "GET_VRING_BASE", 12: "SET_VRING_KICK", 13: "SET_VRING_CALL",
                 14: "SET_VRING_ERR", 15: "GET_PROTOCOL_FEATURES",
                 16: "SET_PROTOCOL_FEATURES", 17: "GET_QUEUE_NUM", 18: "SET_VRING_ENABLE",
                 39: "SET_STATUS", 40: "GET_STATUS"}
SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR = 5, 8, 9
SET_VRING_BASE, GET_VRING_BASE = 10, 11
MAX_FDS = 8
REGION = struct.Struct("<QQQQ")     # guest_phys_addr, memory_size, userspace_addr, mmap_offset
PACKED_DESC = struct.Struct("<QIHH")  # addr, len, id, flags
FRESH_BASE = 0x8000 | 0x8000 << 16   # packed base of a ring after reset: slot 0 wrap 1 twice


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            return None
        data += more
    return data


def describe_base(num):
    return (f"{num:#010x} (avail {num & 0x7fff} wrap {num >> 15 & 1}, "
            f"used {num >> 16 & 0x7fff} wrap {num >> 31})")


def ring_position(descs):
    """Where a packed ring stands, read from its descriptors' flags alone:
    (driver slot, driver wrap, device slot, device wrap).

    The driver writes AVAIL = its wrap counter into each descriptor it makes
    available, the device AVAIL = USED = its wrap counter into each one it
    uses, and both are the wrap counter of the lap the slot was written in: so
    the AVAIL bits read w on the slots 0..p-1 of the current lap and !w from p
    on, and the driver's next slot is p with wrap w (0 with !w after a whole
    lap with one bit). The device's is the first of the slots before it that
    are still available (AVAIL != USED), as a device that completes buffers in
    order leaves them."""
    n = len(descs)
    bits = [f >> 7 & 1 for *_, f in descs]
    p, w = next(((i, bits[0]) for i in range(1, n) if bits[i] != bits[0]), (0, 1 - bits[0]))
    q, wq = p, w
    for _ in range(n):
        prev, wp = (q - 1, wq) if q else (n - 1, 1 - wq)
        flags = descs[prev][3]
        if not (flags >> 7 & 1 == wp and flags >> 15 & 1 != wp):
            break
        q, wq = prev, wp
    return p, w, q, wq


class Message:
    """One relayed message: conn (1 for the first connection), to_backend, request,
    flags, payload (bytes), nfds."""

    def __init__(self, conn, to_backend, request, flags, payload, nfds):
        self.conn, self.to_backend = conn, to_backend
        self.request, self.flags, self.payload, self.nfds = request, flags, payload, nfds

    def state(self):
        """(index, num) of a vring state payload."""
        return struct.unpack_from("<II", self.payload)

    def __repr__(self):
        arrow = "->" if self.to_backend else "<-"
        return (f"#{self.conn} {arrow} {REQUEST_NAMES.get(self.request, self.request)} "
                f"flags {self.flags:#x} {self.payload[:16].hex()}")


class VuProxy:
    """Relay QEMU on `listen` to the switch on `backend` (both socket paths)."""

    def __init__(self, listen, backend, fix_packed_base=False):
        """fix_packed_base: on a reconnection (connection 2 on) of a frontend
        that acked VIRTIO_F_RING_PACKED, replace the SET_VRING_BASE value by
        one read from the ring's flags (ring_position(): avail = used = the
        first slot the device had not used), as a backend could, using the
        ring address of the connection before (rings stay put until a reset,
        which makes QEMU's base right again). The replacements are in
        self.fixed as (conn, ring, QEMU's value, the value sent)."""
        self.listen, self.backend = listen, backend
        self.fix_packed_base = fix_packed_base
        self.fixed = []
        self.messages = []
        self.conns = 0
        self.memory = {}    # conn -> [(userspace_addr, size, mmap_offset, fd)]
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)
        if os.path.exists(self.listen):
            os.unlink(self.listen)
        for regions in self.memory.values():
            for *_, fd in regions:
                os.close(fd)
        self.memory.clear()

    # --- reading what went through -------------------------------------------------

    def vring_bases(self, conn):
        """{ring index: num} of the SET_VRING_BASE messages QEMU sent on connection conn
        (the last value per ring)."""
        with self.lock:
            msgs = [m for m in self.messages if m.conn == conn and m.to_backend
                    and m.request == SET_VRING_BASE]
        return dict(m.state() for m in msgs)

    def ring_descs(self, conn, ring, addr_conn=None):
        """The packed descriptors [(addr, len, id, flags)] of ring `ring` as they are now in
        guest memory, at the address and size QEMU gave on connection conn (addr_conn:
        on that connection instead)."""
        with self.lock:
            return self._ring_descs(conn, ring, addr_conn)

    def _ring_descs(self, conn, ring, addr_conn=None):
        msgs = [m for m in self.messages if m.conn == (addr_conn or conn) and m.to_backend]
        regions = list(self.memory.get(conn, ()))
        num = addr = None
        for m in msgs:
            if m.request == SET_VRING_NUM and m.state()[0] == ring:
                num = m.state()[1]
            elif m.request == SET_VRING_ADDR and struct.unpack_from("<I", m.payload)[0] == ring:
                addr = struct.unpack_from("<Q", m.payload, 8)[0]
        if num is None or addr is None:
            raise LookupError(f"ring {ring} not set up on connection {conn}")
        for uaddr, size, offset, fd in regions:
            if uaddr <= addr and addr + num * PACKED_DESC.size <= uaddr + size:
                data = os.pread(fd, num * PACKED_DESC.size, offset + addr - uaddr)
                return [PACKED_DESC.unpack_from(data, i * PACKED_DESC.size) for i in range(num)]
        raise LookupError(f"ring {ring} at {addr:#x} outside the memory table")

    def connections(self):
        with self.lock:
            return self.conns

    def transcript(self, conn=None):
        with self.lock:
            return [m for m in self.messages if conn is None or m.conn == conn]

    # --- relaying ------------------------------------------------------------------

    def _connect_backend(self):
        """A connection to the switch, retried until it accepts (or we stop)."""
        while not self.stopping.is_set():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.backend)
                return s
            except OSError:
                s.close()
                time.sleep(0.05)
        return None

    def _accept_frontend(self):
        if os.path.exists(self.listen):
            os.unlink(self.listen)
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(self.listen)
        ls.listen(1)
        ls.settimeout(0.2)
        try:
            while not self.stopping.is_set():
                try:
                    return ls.accept()[0]
                except socket.timeout:
                    continue
            return None
        finally:
            ls.close()
            os.unlink(self.listen)  # refused until the switch is back, as without us

    def _serve(self):
        while not self.stopping.is_set():
            b = self._connect_backend()
            if b is None:
                return
            f = self._accept_frontend()
            if f is None:
                b.close()
                return
            with self.lock:
                self.conns += 1
                conn = self.conns
            f.settimeout(None)
            pumps = [threading.Thread(target=self._pump, args=(f, b, conn, True), daemon=True),
                     threading.Thread(target=self._pump, args=(b, f, conn, False), daemon=True)]
            for p in pumps:
                p.start()
            while not self.stopping.is_set() and all(p.is_alive() for p in pumps):
                time.sleep(0.05)
            for s in (f, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for p in pumps:
                p.join(5)
            f.close()
            b.close()

    def _keep_memory(self, conn, payload, fds):
        """Keep a copy of the region fds of a SET_MEM_TABLE (called with the lock held)."""
        for *_, fd in self.memory.pop(conn, ()):
            os.close(fd)
        n = struct.unpack_from("<I", payload)[0]
        regions = [REGION.unpack_from(payload, 8 + i * REGION.size) for i in range(n)]
        self.memory[conn] = [(uaddr, size, offset, os.dup(fd))
                             for (_, size, uaddr, offset), fd in zip(regions, fds)]

    def _fixing(self, conn, payload):
        """True when this SET_VRING_BASE, just recorded, is to be fixed: the first for its
        ring on a reconnection with packed rings (called with the lock held)."""
        ring = struct.unpack_from("<I", payload)[0]
        mine = [m for m in self.messages if m.conn == conn and m.to_backend]
        acked = [int.from_bytes(m.payload[:8], "little") for m in mine if m.request == 2]
        bases = [m for m in mine if m.request == SET_VRING_BASE and m.state()[0] == ring]
        return (self.fix_packed_base and conn > 1 and acked and acked[-1] & 1 << 34
                and len(bases) == 1)

    def _fixed_base(self, conn, payload):
        ring, num = struct.unpack_from("<II", payload)
        try:
            descs = self._ring_descs(conn, ring, addr_conn=conn - 1)
        except LookupError:
            return payload
        _, _, slot, wrap = ring_position(descs)
        half = slot | wrap << 15
        self.fixed.append((conn, ring, num, half | half << 16))
        return struct.pack("<II", ring, half | half << 16) + payload[8:]

    def _pump(self, src, dst, conn, to_backend):
        try:
            while True:
                head, fds, _, _ = socket.recv_fds(src, HDR.size, MAX_FDS)
                if not head:
                    return
                rest = _recv_exact(src, HDR.size - len(head))
                if rest is None:
                    return
                head += rest
                request, flags, size = HDR.unpack(head)
                payload = _recv_exact(src, size) if size else b""
                if payload is None:
                    return
                with self.lock:
                    self.messages.append(Message(conn, to_backend, request, flags,
                                                 payload, len(fds)))
                    if to_backend and request == SET_MEM_TABLE:
                        self._keep_memory(conn, payload, fds)
                    if to_backend and request == SET_VRING_BASE and self._fixing(conn, payload):
                        payload = self._fixed_base(conn, payload)
                try:
                    if fds:
                        socket.send_fds(dst, [head + payload], fds)
                    else:
                        dst.sendall(head + payload)
                finally:
                    for fd in fds:
                        os.close(fd)
        except OSError:
            return
