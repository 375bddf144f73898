"""vhost-user front-end (driver side) for tests, Python standard library only.

It talks to a vhost-user back-end the way QEMU or DPDK virtio-user would, but
every step is exposed so that tests can also send hostile input.

Layers, bottom up:

* Frontend       - the vhost-user message channel (UNIX socket + SCM_RIGHTS).
* GuestMemory    - memfd-backed "guest RAM" regions with GPA and QVA addresses.
* SplitVirtqueue - a virtio 1.x split ring, driver side.
* PackedVirtqueue - a virtio 1.1 packed ring (VIRTIO_F_RING_PACKED), driver side.
* NetDevice      - a virtio-net driver: negotiation, RX/TX queue pairs, frames
                   (split rings, or packed ones with NetDevice(packed=True)).

Vhost-user message numbers are in host byte order; ring fields are little
endian (virtio 1.x).  Run "python3 vhostfront.py -h" for a small CLI.
"""

import argparse
import collections
import mmap
import os
import select
import socket
import struct
import sys
import threading
import time

# --- vhost-user front-end -> back-end requests --------------------------------

VHOST_USER_GET_FEATURES = 1
VHOST_USER_SET_FEATURES = 2
VHOST_USER_SET_OWNER = 3
VHOST_USER_RESET_OWNER = 4
VHOST_USER_SET_MEM_TABLE = 5
VHOST_USER_SET_LOG_BASE = 6
VHOST_USER_SET_LOG_FD = 7
VHOST_USER_SET_VRING_NUM = 8
VHOST_USER_SET_VRING_ADDR = 9
VHOST_USER_SET_VRING_BASE = 10
VHOST_USER_GET_VRING_BASE = 11
VHOST_USER_SET_VRING_KICK = 12
VHOST_USER_SET_VRING_CALL = 13
VHOST_USER_SET_VRING_ERR = 14
VHOST_USER_GET_PROTOCOL_FEATURES = 15
VHOST_USER_SET_PROTOCOL_FEATURES = 16
VHOST_USER_GET_QUEUE_NUM = 17
VHOST_USER_SET_VRING_ENABLE = 18
VHOST_USER_SEND_RARP = 19
VHOST_USER_NET_SET_MTU = 20

# --- message header -------------------------------------------------------------

VHOST_USER_HDR = struct.Struct("=III")  # request, flags, size
VHOST_USER_VERSION = 0x1
VHOST_USER_VERSION_MASK = 0x3
VHOST_USER_REPLY_MASK = 0x4
VHOST_USER_NEED_REPLY_MASK = 0x8
VHOST_USER_REPLY_FLAGS = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK  # exactly 0x5
VHOST_USER_VRING_IDX_MASK = 0xff
VHOST_USER_VRING_NOFD_MASK = 0x100
VHOST_MEMORY_MAX_NREGIONS = 8
VHOST_VRING_F_LOG = 0x1
# Largest reply payload we accept before calling the back-end broken.
MAX_REPLY_SIZE = 0x1000

U64 = struct.Struct("=Q")
VRING_STATE = struct.Struct("=II")            # index, num
VRING_ADDR = struct.Struct("=IIQQQQ")         # index, flags, desc, used, avail, log
MEM_TABLE_HDR = struct.Struct("=II")          # nregions, padding
MEM_REGION = struct.Struct("=QQQQ")           # gpa, size, userspace_addr, mmap_offset

# --- virtio feature bits ----------------------------------------------------------

VIRTIO_NET_F_CSUM = 0
VIRTIO_NET_F_GUEST_CSUM = 1
VIRTIO_NET_F_MTU = 3
VIRTIO_NET_F_MAC = 5
VIRTIO_NET_F_MRG_RXBUF = 15
VIRTIO_NET_F_STATUS = 16
VIRTIO_NET_F_CTRL_VQ = 17
VIRTIO_NET_F_GUEST_ANNOUNCE = 21
VIRTIO_NET_F_MQ = 22
VIRTIO_F_NOTIFY_ON_EMPTY = 24
VHOST_F_LOG_ALL = 26
VIRTIO_F_ANY_LAYOUT = 27
VIRTIO_RING_F_INDIRECT_DESC = 28
VIRTIO_RING_F_EVENT_IDX = 29
VHOST_USER_F_PROTOCOL_FEATURES = 30
VIRTIO_F_VERSION_1 = 32
VIRTIO_F_IOMMU_PLATFORM = 33
VIRTIO_F_RING_PACKED = 34
VIRTIO_F_IN_ORDER = 35

# --- vhost-user protocol feature bits --------------------------------------------

VHOST_USER_PROTOCOL_F_MQ = 0
VHOST_USER_PROTOCOL_F_LOG_SHMFD = 1
VHOST_USER_PROTOCOL_F_RARP = 2
VHOST_USER_PROTOCOL_F_REPLY_ACK = 3
VHOST_USER_PROTOCOL_F_MTU = 4
VHOST_USER_PROTOCOL_F_SLAVE_REQ = 5
VHOST_USER_PROTOCOL_F_CONFIG = 9
VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15
VHOST_USER_PROTOCOL_F_STATUS = 16

# --- split ring ---------------------------------------------------------------------

VRING_DESC_F_NEXT = 1
VRING_DESC_F_WRITE = 2
VRING_DESC_F_INDIRECT = 4
VRING_AVAIL_F_NO_INTERRUPT = 1
VRING_USED_F_NO_NOTIFY = 1
VRING_DESC = struct.Struct("<QIHH")           # addr, len, flags, next
VRING_USED_ELEM = struct.Struct("<II")        # id, len
LE16 = struct.Struct("<H")
VIRTQ_MAX_SIZE = 32768

# --- packed ring (virtio 1.1 section 2.8) -------------------------------------------

VRING_PACKED_DESC_F_AVAIL = 1 << 7
VRING_PACKED_DESC_F_USED = 1 << 15
VRING_PACKED_DESC_F_WRAPS = VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED
VRING_PACKED_EVENT_F_ENABLE = 0
VRING_PACKED_EVENT_F_DISABLE = 1
VRING_PACKED_EVENT_F_DESC = 2                 # with EVENT_IDX: off_wrap says where
VRING_PACKED_WRAP_SHIFT = 15
VRING_PACKED_IDX_MASK = 0x7fff
VRING_PACKED_DESC = struct.Struct("<QIHH")    # addr, len, id, flags
VRING_PACKED_DESC_HEAD = struct.Struct("<QIH")  # addr, len, id (flags are stored apart)

# --- virtio-net ------------------------------------------------------------------------

VIRTIO_NET_HDR_LEN = 10           # legacy header without num_buffers
VIRTIO_NET_HDR_MRG_LEN = 12       # with num_buffers (VERSION_1 or MRG_RXBUF)
VIRTIO_NET_HDR_NUM_BUFFERS_OFF = 10


def bit(n):
    """Return the feature mask for feature bit number n."""
    return 1 << n


DEFAULT_NET_FEATURES = (bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MRG_RXBUF)
                        | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_RING_F_EVENT_IDX)
                        | bit(VIRTIO_F_ANY_LAYOUT) | bit(VIRTIO_NET_F_MQ)
                        | bit(VHOST_USER_F_PROTOCOL_FEATURES))
DEFAULT_PROTOCOL_FEATURES = bit(VHOST_USER_PROTOCOL_F_MQ) | bit(VHOST_USER_PROTOCOL_F_REPLY_ACK)

DEFAULT_MEM_SIZE = 64 << 20
DEFAULT_GPA = 0x4000_0000
# QVA = GPA + this: far apart so that a back-end mixing them up faults or misses.
DEFAULT_QVA_OFFSET = 0x7f00_0000_0000
POLL_INTERVAL = 0.001
MIN_BUFFER_CLASS = 2048

if sys.byteorder != "little":
    raise ImportError("vhostfront assumes a little-endian host (virtio 1.x rings are LE)")

_barrier_lock = threading.Lock()


def full_barrier():
    """Order our earlier stores before later loads (the virtio notify race).

    Acquiring an uncontended CPython lock runs a locked instruction in libc,
    which is a full memory barrier on x86.
    """
    with _barrier_lock:
        pass


def vring_need_event(event_idx, new_idx, old_idx):
    """virtio's vring_need_event(): did [old, new) cross event_idx?"""
    return (new_idx - event_idx - 1) & 0xffff < (new_idx - old_idx) & 0xffff


def packed_wrap_flags(wrap):
    """AVAIL/USED bits of a descriptor made available while the driver's wrap counter is wrap."""
    return VRING_PACKED_DESC_F_AVAIL if wrap else VRING_PACKED_DESC_F_USED


def packed_pos(idx, wrap):
    """A packed ring position as off_wrap and each half of a vring base write it."""
    return (idx & VRING_PACKED_IDX_MASK) | int(bool(wrap)) << VRING_PACKED_WRAP_SHIFT


def packed_base(avail_idx, avail_wrap, used_idx, used_wrap):
    """SET/GET_VRING_BASE value of a packed ring: avail position low, used position high."""
    return packed_pos(avail_idx, avail_wrap) | packed_pos(used_idx, used_wrap) << 16


def packed_base_decode(base):
    """((avail idx, avail wrap), (used idx, used wrap)) of a packed vring base.

    A zero high half (DPDK virtio-user sends only the low one) means used = avail.
    """
    low, high = base & 0xffff, base >> 16 & 0xffff
    high = high or low
    return ((low & VRING_PACKED_IDX_MASK, bool(low >> VRING_PACKED_WRAP_SHIFT)),
            (high & VRING_PACKED_IDX_MASK, bool(high >> VRING_PACKED_WRAP_SHIFT)))


class VhostUserError(Exception):
    """Base class for errors raised by this module."""


class ConnectionClosed(VhostUserError):
    """The back-end closed the connection."""


class ProtocolError(VhostUserError):
    """The back-end sent something the protocol does not allow."""


class VirtqueueFull(VhostUserError):
    """Not enough free descriptors for the chain."""


Message = collections.namedtuple("Message", "request flags size payload fds")


# =============================================================================
# vhost-user channel
# =============================================================================

class Listener:
    """A listening UNIX socket for a back-end in client mode."""

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)

    def accept(self, timeout=10.0):
        """Wait for the back-end to connect and return a Frontend."""
        if not select.select([self.sock], [], [], timeout)[0]:
            raise TimeoutError(f"no back-end connected to {self.path} within {timeout}s")
        conn, _ = self.sock.accept()
        return Frontend(conn)

    def close(self):
        """Stop listening and remove the socket file."""
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class Frontend:
    """The front-end side of one vhost-user connection.

    Typed methods send one request each.  need_reply=True sets NEED_REPLY
    (0x8); the u64 ack is read and returned only when REPLY_ACK has been
    negotiated with set_protocol_features().  Replies are checked strictly:
    same request code, flags exactly 0x5, exact payload size.
    """

    def __init__(self, sock):
        self.sock = sock
        self.protocol_features = 0
        self._closed = False

    @classmethod
    def connect(cls, path, timeout=10.0):
        """Connect to a back-end listening on path, retrying until it appears."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return cls(sock)
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"back-end socket {path} not ready within {timeout}s")
                time.sleep(0.05)

    @staticmethod
    def listen(path):
        """Listen on path (back-end in client mode); call .accept() on the result."""
        return Listener(path)

    def close(self):
        """Close the connection."""
        self._closed = True
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def reply_ack(self):
        """True when REPLY_ACK has been negotiated."""
        return bool(self.protocol_features & bit(VHOST_USER_PROTOCOL_F_REPLY_ACK))

    # --- raw transport ------------------------------------------------------

    def send_bytes(self, data, fds=()):
        """Write raw bytes (no header added), with fds attached to the first byte."""
        try:
            sent = socket.send_fds(self.sock, [data], list(fds)) if fds else 0
            self.sock.sendall(data[sent:])
        except (BrokenPipeError, ConnectionResetError) as e:
            self._closed = True
            raise ConnectionClosed(str(e)) from e

    def send_raw(self, request, flags=VHOST_USER_VERSION, payload=b"", fds=(), size_override=None):
        """Send one message; size_override puts any value in the header's size field."""
        size = len(payload) if size_override is None else size_override
        self.send_bytes(VHOST_USER_HDR.pack(request, flags, size) + payload, fds)

    def _recv_exact(self, n, deadline, fds):
        """Read exactly n bytes, appending received fds to the fds list."""
        data = b""
        while len(data) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                raise TimeoutError(f"timed out with {len(data)} of {n} bytes read")
            try:
                chunk, got_fds, _, _ = socket.recv_fds(self.sock, n - len(data),
                                                       VHOST_MEMORY_MAX_NREGIONS)
            except ConnectionResetError as e:
                self._closed = True
                raise ConnectionClosed(str(e)) from e
            fds.extend(got_fds)
            if not chunk:
                self._closed = True
                raise ConnectionClosed(f"connection closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def recv_reply(self, timeout=5.0):
        """Read one message as sent, without validating it.  Returns a Message."""
        deadline = time.monotonic() + timeout
        fds = []
        header = self._recv_exact(VHOST_USER_HDR.size, deadline, fds)
        request, flags, size = VHOST_USER_HDR.unpack(header)
        if size > MAX_REPLY_SIZE:
            raise ProtocolError(f"reply to {request} announces {size} payload bytes")
        payload = self._recv_exact(size, deadline, fds)
        return Message(request, flags, size, payload, fds)

    def expect_reply(self, request, size, timeout=5.0):
        """Read a reply to request and check flags (0x5) and payload size exactly."""
        msg = self.recv_reply(timeout)
        for fd in msg.fds:
            os.close(fd)
        if msg.request != request:
            raise ProtocolError(f"reply for request {msg.request}, expected {request}")
        if msg.flags != VHOST_USER_REPLY_FLAGS:
            raise ProtocolError(f"reply to {request} has flags {msg.flags:#x}, expected 0x5")
        if msg.size != size:
            raise ProtocolError(f"reply to {request} has size {msg.size}, expected {size}")
        return msg.payload

    def is_closed(self, timeout=0.0):
        """Return True if the back-end closed the connection (waiting up to timeout).

        Pending unread data counts as "not closed".
        """
        if self._closed:
            return True
        if not select.select([self.sock], [], [], timeout)[0]:
            return False
        try:
            closed = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except ConnectionResetError:
            closed = True
        self._closed = closed
        return closed

    def request(self, request, payload=b"", fds=(), need_reply=False, reply_size=None, timeout=5.0):
        """Send a request; return its reply payload, its u64 ack, or None."""
        flags = VHOST_USER_VERSION | (VHOST_USER_NEED_REPLY_MASK if need_reply else 0)
        self.send_raw(request, flags, payload, fds)
        if reply_size is not None:
            return self.expect_reply(request, reply_size, timeout)
        if need_reply and self.reply_ack:
            return U64.unpack(self.expect_reply(request, U64.size, timeout))[0]
        return None

    # --- typed requests -----------------------------------------------------

    def _get_u64(self, request):
        return U64.unpack(self.request(request, reply_size=U64.size))[0]

    def get_features(self):
        """GET_FEATURES -> u64 feature bits offered by the back-end."""
        return self._get_u64(VHOST_USER_GET_FEATURES)

    def sync(self):
        """Round trip (GET_FEATURES, as QEMU does): all earlier requests were processed."""
        self.get_features()

    def set_features(self, features, need_reply=False):
        """SET_FEATURES(features)."""
        return self.request(VHOST_USER_SET_FEATURES, U64.pack(features), need_reply=need_reply)

    def set_owner(self, need_reply=False):
        """SET_OWNER."""
        return self.request(VHOST_USER_SET_OWNER, need_reply=need_reply)

    def reset_owner(self, need_reply=False):
        """RESET_OWNER (deprecated; back-ends should tolerate it)."""
        return self.request(VHOST_USER_RESET_OWNER, need_reply=need_reply)

    def get_protocol_features(self):
        """GET_PROTOCOL_FEATURES -> u64."""
        return self._get_u64(VHOST_USER_GET_PROTOCOL_FEATURES)

    def set_protocol_features(self, features, need_reply=False):
        """SET_PROTOCOL_FEATURES; remembers them (REPLY_ACK enables ack reading)."""
        ack = self.request(VHOST_USER_SET_PROTOCOL_FEATURES, U64.pack(features),
                           need_reply=need_reply)
        self.protocol_features = features
        return ack

    def get_queue_num(self):
        """GET_QUEUE_NUM -> u64 maximum number of queues."""
        return self._get_u64(VHOST_USER_GET_QUEUE_NUM)

    def set_mem_table(self, memory, need_reply=False):
        """SET_MEM_TABLE with every region of a GuestMemory and its fds."""
        entries = [r.table_entry() for r in memory.regions]
        fds = [r.fd for r in memory.regions]
        return self.request(VHOST_USER_SET_MEM_TABLE, pack_mem_table(entries), fds, need_reply)

    def set_vring_num(self, index, num, need_reply=False):
        """SET_VRING_NUM(index, num)."""
        return self.request(VHOST_USER_SET_VRING_NUM, VRING_STATE.pack(index, num),
                            need_reply=need_reply)

    def set_vring_base(self, index, num, need_reply=False):
        """SET_VRING_BASE(index, next avail index)."""
        return self.request(VHOST_USER_SET_VRING_BASE, VRING_STATE.pack(index, num),
                            need_reply=need_reply)

    def get_vring_base(self, index):
        """GET_VRING_BASE(index) -> next avail index; stops the ring."""
        payload = self.request(VHOST_USER_GET_VRING_BASE, VRING_STATE.pack(index, 0),
                               reply_size=VRING_STATE.size)
        got_index, num = VRING_STATE.unpack(payload)
        if got_index != index:
            raise ProtocolError(f"GET_VRING_BASE reply for vring {got_index}, expected {index}")
        return num

    def set_vring_addr(self, index, desc, used, avail, log=0, flags=0, need_reply=False):
        """SET_VRING_ADDR with ring QVAs (log is a GPA, used with VHOST_VRING_F_LOG)."""
        payload = VRING_ADDR.pack(index, flags, desc, used, avail, log)
        return self.request(VHOST_USER_SET_VRING_ADDR, payload, need_reply=need_reply)

    def _set_vring_fd(self, request, index, fd, need_reply):
        value = index if fd is not None else index | VHOST_USER_VRING_NOFD_MASK
        fds = [fd] if fd is not None else []
        return self.request(request, U64.pack(value), fds, need_reply)

    def set_vring_kick(self, index, fd=None, need_reply=False):
        """SET_VRING_KICK with an eventfd, or with the NOFD bit when fd is None."""
        return self._set_vring_fd(VHOST_USER_SET_VRING_KICK, index, fd, need_reply)

    def set_vring_call(self, index, fd=None, need_reply=False):
        """SET_VRING_CALL with an eventfd, or with the NOFD bit when fd is None."""
        return self._set_vring_fd(VHOST_USER_SET_VRING_CALL, index, fd, need_reply)

    def set_vring_err(self, index, fd=None, need_reply=False):
        """SET_VRING_ERR with an eventfd, or with the NOFD bit when fd is None."""
        return self._set_vring_fd(VHOST_USER_SET_VRING_ERR, index, fd, need_reply)

    def set_vring_enable(self, index, enable, need_reply=False):
        """SET_VRING_ENABLE(index, 0/1)."""
        payload = VRING_STATE.pack(index, int(enable))
        return self.request(VHOST_USER_SET_VRING_ENABLE, payload, need_reply=need_reply)


def pack_mem_table(entries):
    """SET_MEM_TABLE payload from (gpa, size, qva, mmap_offset) tuples (8 + 32*n bytes)."""
    return MEM_TABLE_HDR.pack(len(entries), 0) + b"".join(MEM_REGION.pack(*e) for e in entries)


# =============================================================================
# Guest memory
# =============================================================================

class MemoryRegion:
    """One region of guest RAM: a shared mapping of a memfd."""

    def __init__(self, gpa, size, qva, fd, mmap_offset):
        self.gpa = gpa
        self.size = size
        self.qva = qva
        self.fd = fd
        self.mmap_offset = mmap_offset
        self.map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                             offset=mmap_offset)

    @property
    def gpa_end(self):
        """First GPA after the region."""
        return self.gpa + self.size

    def table_entry(self):
        """(gpa, size, qva, mmap_offset) as sent in SET_MEM_TABLE."""
        return (self.gpa, self.size, self.qva, self.mmap_offset)


class GuestMemory:
    """Guest RAM as memfd-backed regions, with a bump allocator and GPA access.

    layout is a list of (gpa, size, qva).  With shared_fd=True all regions live
    in one memfd at increasing mmap_offset (like QEMU's RAM below/above 4G).
    """

    def __init__(self, layout=None, shared_fd=False):
        if layout is None:
            layout = [(DEFAULT_GPA, DEFAULT_MEM_SIZE, DEFAULT_GPA + DEFAULT_QVA_OFFSET)]
        self.regions = []
        if shared_fd:
            fd = self._memfd(sum(size for _, size, _ in layout))
            offset = 0
            for gpa, size, qva in layout:
                self.regions.append(MemoryRegion(gpa, size, qva, fd, offset))
                offset += size
        else:
            for gpa, size, qva in layout:
                self.regions.append(MemoryRegion(gpa, size, qva, self._memfd(size), 0))
        self._next = self.regions[0].gpa

    @staticmethod
    def _memfd(size):
        fd = os.memfd_create("vhostfront-guest", os.MFD_CLOEXEC)
        os.ftruncate(fd, size)
        return fd

    @classmethod
    def simple(cls, size=DEFAULT_MEM_SIZE, gpa=DEFAULT_GPA, qva_offset=DEFAULT_QVA_OFFSET):
        """One region; QVA = GPA + qva_offset."""
        return cls([(gpa, size, gpa + qva_offset)])

    @classmethod
    def split(cls, size=DEFAULT_MEM_SIZE, gpa=DEFAULT_GPA, qva_offset=DEFAULT_QVA_OFFSET,
              qva_gap=1 << 30, shared_fd=False):
        """Two halves contiguous in GPA whose QVAs are qva_gap bytes apart."""
        half = size // 2
        qva = gpa + qva_offset
        return cls([(gpa, half, qva), (gpa + half, half, qva + half + qva_gap)], shared_fd)

    def close(self):
        """Unmap all regions and close their fds (after closing the virtqueues)."""
        for fd in {r.fd for r in self.regions}:
            os.close(fd)
        for r in self.regions:
            r.map.close()

    def region_of(self, gpa):
        """The region containing gpa (ValueError if unmapped)."""
        for r in self.regions:
            if r.gpa <= gpa < r.gpa_end:
                return r
        raise ValueError(f"GPA {gpa:#x} is not guest memory")

    def locate(self, gpa, length):
        """(mmap, offset) for a range that must lie within one region."""
        r = self.region_of(gpa)
        if gpa + length > r.gpa_end:
            raise ValueError(f"GPA range {gpa:#x}+{length:#x} crosses a region end")
        return r.map, gpa - r.gpa

    def qva(self, gpa):
        """Front-end virtual address (as in the mem table) of a GPA."""
        r = self.region_of(gpa)
        return r.qva + (gpa - r.gpa)

    def _pieces(self, gpa, length):
        """Yield (region, offset, n) covering [gpa, gpa+length), across regions."""
        while length > 0:
            r = self.region_of(gpa)
            n = min(length, r.gpa_end - gpa)
            yield r, gpa - r.gpa, n
            gpa += n
            length -= n

    def read(self, gpa, length):
        """Bytes at [gpa, gpa+length); may span GPA-contiguous regions."""
        return b"".join(r.map[off:off + n] for r, off, n in self._pieces(gpa, length))

    def write(self, gpa, data):
        """Store data at gpa; may span GPA-contiguous regions."""
        pos = 0
        for r, off, n in self._pieces(gpa, len(data)):
            r.map[off:off + n] = data[pos:pos + n]
            pos += n

    def u16_view(self, gpa, length):
        """memoryview of u16 over [gpa, gpa+length) within one region.

        Item stores are single 16-bit stores.  struct.pack_into() must not be
        used for fields the back-end polls: it zero-fills the bytes before
        writing the value, so the peer can see a transient 0.  The view must
        be released before close().  Assumes a little-endian host.
        """
        m, offset = self.locate(gpa, length)
        return memoryview(m)[offset:offset + length].cast("H")

    def alloc(self, size, align=64):
        """Bump-allocate size bytes (never freed) that do not cross a region end."""
        for r in self.regions:
            if self._next >= r.gpa_end:
                continue
            start = max(self._next, r.gpa)
            start = (start + align - 1) & ~(align - 1)
            if start + size <= r.gpa_end:
                self._next = start + size
                return start
        raise MemoryError(f"guest memory exhausted allocating {size} bytes")


class BufferPool:
    """Reusable guest buffers in power-of-two size classes (at least 2 KiB)."""

    def __init__(self, memory):
        self.memory = memory
        self._free = collections.defaultdict(list)

    @staticmethod
    def size_class(size):
        """Smallest class holding size bytes."""
        cls = MIN_BUFFER_CLASS
        while cls < size:
            cls *= 2
        return cls

    def get(self, size):
        """Return (gpa, capacity) of a buffer with capacity >= size."""
        cls = self.size_class(size)
        free = self._free[cls]
        return (free.pop() if free else self.memory.alloc(cls, 64)), cls

    def put(self, gpa, capacity):
        """Give a buffer back."""
        self._free[capacity].append(gpa)


# =============================================================================
# Split virtqueue (driver side)
# =============================================================================

def send_vring_setup(fe, index, size, base, addrs, kickfd, callfd):
    """SET_VRING_NUM/BASE/ADDR/KICK/CALL for vring index, either layout.

    addrs: the QVAs SET_VRING_ADDR carries as desc, used and avail (a packed
    ring's ring, device area and driver area). A None fd sends the NOFD bit.
    """
    fe.set_vring_num(index, size)
    fe.set_vring_base(index, base)
    fe.set_vring_addr(index, *addrs)
    fe.set_vring_kick(index, kickfd)
    fe.set_vring_call(index, callfd)


class SplitVirtqueue:
    """A virtio 1.x split virtqueue in guest memory, driver side.

    Normal use: add_chain()/add_indirect(), kick(), wait_used(), get_used().
    Raw use for attacks: write_desc(), push_avail(), set_avail_idx(),
    set_avail_flags(), set_used_event(), and the read_* accessors.
    """

    INDIRECT_MAX = 32

    def __init__(self, memory, size=256, event_idx=False):
        if size < 1 or size > VIRTQ_MAX_SIZE or size & (size - 1):
            raise ValueError(f"bad queue size {size}")
        self.memory = memory
        self.size = size
        self.event_idx = event_idx
        self.desc_gpa = memory.alloc(16 * size, 16)
        self.avail_gpa = memory.alloc(6 + 2 * size, 2)
        self.used_gpa = memory.alloc(6 + 8 * size, 4)
        self._desc = memory.locate(self.desc_gpa, 16 * size)
        self._used = memory.locate(self.used_gpa, 6 + 8 * size)
        # 16-bit views: avail [flags, idx, ring[N], used_event],
        # used [flags, idx, ring (4 u16 per entry), avail_event].
        self._avail16 = memory.u16_view(self.avail_gpa, 6 + 2 * size)
        self._used16 = memory.u16_view(self.used_gpa, 6 + 8 * size)
        self._indirect_gpa = None
        self.free = list(range(size - 1, -1, -1))
        self.in_flight = {}          # head -> descriptor indices of its chain
        self.avail_idx = 0           # shadow of avail->idx
        self.last_used = 0
        self._kicked_avail = 0
        self.kickfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.callfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.kicks = 0
        self.interrupts = 0
        self.index = None

    def close(self):
        """Close the eventfds and release the ring views (the memory is GuestMemory's)."""
        os.close(self.kickfd)
        os.close(self.callfd)
        self._avail16.release()
        self._used16.release()

    # --- set-up -----------------------------------------------------------

    def setup(self, fe, index, base=0, kick=True, call=True):
        """Send SET_VRING_NUM/BASE/ADDR/KICK/CALL for vring index.

        kick/call=False send the NOFD bit instead of our eventfd.
        """
        self.index = index
        self.avail_idx = self._kicked_avail = self.last_used = base
        send_vring_setup(fe, index, self.size, base,
                         [self.memory.qva(g) for g in (self.desc_gpa, self.used_gpa,
                                                       self.avail_gpa)],
                         self.kickfd if kick else None, self.callfd if call else None)

    # --- raw access -----------------------------------------------------------

    def write_desc(self, i, addr=None, length=None, flags=None, next=None):
        """Overwrite any subset of the fields of descriptor i (no checks)."""
        m, base = self._desc
        old = VRING_DESC.unpack_from(m, base + 16 * i)
        new = [old[k] if v is None else v for k, v in enumerate((addr, length, flags, next))]
        m[base + 16 * i:base + 16 * (i + 1)] = VRING_DESC.pack(*new)

    def read_desc(self, i):
        """(addr, len, flags, next) of descriptor i."""
        m, base = self._desc
        return VRING_DESC.unpack_from(m, base + 16 * i)

    def set_avail_ring(self, slot, head):
        """Write any head index into avail->ring[slot % size] without publishing it."""
        self._avail16[2 + slot % self.size] = head & 0xffff

    def push_avail(self, head):
        """Put any head index in the next avail ring slot and publish avail->idx."""
        self.set_avail_ring(self.avail_idx, head)
        self.set_avail_idx(self.avail_idx + 1)

    def set_avail_idx(self, value):
        """Write avail->idx (and our shadow of it) to any value."""
        self.avail_idx = value & 0xffff
        self._avail16[1] = self.avail_idx

    def set_avail_flags(self, flags):
        """Write avail->flags."""
        self._avail16[0] = flags & 0xffff

    def set_used_event(self, value):
        """Write avail->used_event (meaningful with EVENT_IDX)."""
        self._avail16[2 + self.size] = value & 0xffff

    def read_used_idx(self):
        """used->idx as written by the device."""
        return self._used16[1]

    def read_used_flags(self):
        """used->flags as written by the device."""
        return self._used16[0]

    def read_avail_event(self):
        """used->avail_event as written by the device."""
        return self._used16[2 + 4 * self.size]

    def read_used_elem(self, slot):
        """(id, len) in used ring slot (taken modulo the size)."""
        m, base = self._used
        return VRING_USED_ELEM.unpack_from(m, base + 4 + 8 * (slot % self.size))

    # --- normal driver operation ---------------------------------------------

    @property
    def num_free(self):
        """Free descriptors."""
        return len(self.free)

    def add_chain(self, buffers):
        """Make a chain of (gpa, len, write) buffers available; return its head."""
        if not buffers:
            raise ValueError("empty chain")
        if len(buffers) > len(self.free):
            raise VirtqueueFull(f"{len(buffers)} descriptors needed, {len(self.free)} free")
        ids = [self.free.pop() for _ in buffers]
        for k, (gpa, length, write) in enumerate(buffers):
            last = k == len(buffers) - 1
            flags = (VRING_DESC_F_WRITE if write else 0) | (0 if last else VRING_DESC_F_NEXT)
            self.write_desc(ids[k], gpa, length, flags, 0 if last else ids[k + 1])
        self.in_flight[ids[0]] = ids
        self.push_avail(ids[0])
        return ids[0]

    def indirect_table_gpa(self, head):
        """GPA of the indirect table reserved for head (INDIRECT_MAX entries)."""
        if self._indirect_gpa is None:
            self._indirect_gpa = self.memory.alloc(self.size * self.INDIRECT_MAX * 16, 16)
        return self._indirect_gpa + head * self.INDIRECT_MAX * 16

    def add_indirect(self, buffers):
        """Make (gpa, len, write) buffers available through one indirect descriptor."""
        if not buffers or len(buffers) > self.INDIRECT_MAX:
            raise ValueError(f"indirect chain needs 1..{self.INDIRECT_MAX} buffers")
        if not self.free:
            raise VirtqueueFull("no free descriptor")
        head = self.free.pop()
        table = self.indirect_table_gpa(head)
        entries = []
        for k, (gpa, length, write) in enumerate(buffers):
            last = k == len(buffers) - 1
            flags = (VRING_DESC_F_WRITE if write else 0) | (0 if last else VRING_DESC_F_NEXT)
            entries.append(VRING_DESC.pack(gpa, length, flags, 0 if last else k + 1))
        self.memory.write(table, b"".join(entries))
        self.write_desc(head, table, 16 * len(buffers), VRING_DESC_F_INDIRECT, 0)
        self.in_flight[head] = [head]
        self.push_avail(head)
        return head

    def kick(self, force=False):
        """Notify the device if it asked for it (or always with force).

        Honours used->flags NO_NOTIFY, or avail_event with EVENT_IDX.
        Returns True if the kick eventfd was written.
        """
        full_barrier()
        new, old = self.avail_idx, self._kicked_avail
        self._kicked_avail = new
        if self.event_idx:
            needed = vring_need_event(self.read_avail_event(), new, old)
        else:
            needed = not self.read_used_flags() & VRING_USED_F_NO_NOTIFY
        if needed or force:
            os.eventfd_write(self.kickfd, 1)
            self.kicks += 1
            return True
        return False

    def set_interrupts(self, enabled):
        """Ask the device for interrupts or not (used_event or NO_INTERRUPT)."""
        if self.event_idx:
            self.set_used_event(self.last_used if enabled else self.last_used + 0x7fff)
        else:
            self.set_avail_flags(0 if enabled else VRING_AVAIL_F_NO_INTERRUPT)

    def has_used(self):
        """True if the device returned buffers we have not collected."""
        return self.read_used_idx() != self.last_used

    def wait_used(self, timeout):
        """Wait for used buffers: the call eventfd or, failing that, polling used->idx."""
        deadline = time.monotonic() + timeout
        while not self.has_used():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if select.select([self.callfd], [], [], min(remaining, POLL_INTERVAL))[0]:
                self.interrupts += os.eventfd_read(self.callfd)
        return True

    def get_used(self, strict=True):
        """Collect used elements as [(id, len)] and free their descriptors.

        strict=False returns ids that were not in flight (after raw pushes)
        instead of raising ProtocolError.
        """
        used_idx = self.read_used_idx()
        pending = (used_idx - self.last_used) & 0xffff
        if pending > self.size:
            raise ProtocolError(f"vring {self.index}: used->idx moved from {self.last_used} "
                                f"to {used_idx}")
        out = []
        for _ in range(pending):
            head, length = self.read_used_elem(self.last_used)
            chain = self.in_flight.pop(head, None)
            if chain is not None:
                self.free.extend(chain)
            elif strict:
                raise ProtocolError(f"vring {self.index}: used id {head} is not in flight")
            out.append((head, length))
            self.last_used = (self.last_used + 1) & 0xffff
        if self.event_idx:
            self.set_used_event(self.last_used)
        return out


# =============================================================================
# Packed virtqueue (driver side)
# =============================================================================

class PackedVirtqueue:
    """A virtio 1.1 packed virtqueue in guest memory, driver side.

    One ring of 16-byte descriptors {addr, len, id, flags} serves both ways,
    plus two 4-byte event areas {off_wrap, flags}: the driver's (we ask for
    interrupts in it) and the device's (it asks for kicks). The ring size need
    not be a power of two: positions wrap by comparison, and each wrap flips
    that side's wrap counter (both start at 1). A descriptor we make available
    has AVAIL = our avail wrap counter and USED = its inverse; the device marks
    one used by setting both to its used wrap counter. The buffer id goes in
    the last descriptor of a chain (we write it in all of them); the head's
    flags are stored last, as one 16-bit store.

    Same interface as SplitVirtqueue for NetDevice: add_chain()/add_indirect()
    return the buffer id ("head"), kick(), wait_used(), get_used() -> [(id, len)].
    Raw use for attacks: write_desc(), make_available(), set_driver_event(),
    read_device_event(), read_desc(), and the positions next_avail/avail_wrap,
    next_used/used_wrap.
    """

    INDIRECT_MAX = 32
    packed = True

    def __init__(self, memory, size=256, event_idx=False, in_order=False):
        if size < 1 or size > VIRTQ_MAX_SIZE:
            raise ValueError(f"bad queue size {size}")
        self.memory = memory
        self.size = size
        self.event_idx = event_idx
        self.in_order = in_order
        self.desc_gpa = memory.alloc(16 * size, 16)
        self.driver_gpa = memory.alloc(4, 4)      # SET_VRING_ADDR's avail field
        self.device_gpa = memory.alloc(4, 4)      # SET_VRING_ADDR's used field
        self._desc = memory.locate(self.desc_gpa, 16 * size)
        # 16-bit views: descriptor i's id is item 8i+6, its flags item 8i+7;
        # event areas [off_wrap, flags].
        self._desc16 = memory.u16_view(self.desc_gpa, 16 * size)
        self._driver16 = memory.u16_view(self.driver_gpa, 4)
        self._device16 = memory.u16_view(self.device_gpa, 4)
        self._indirect_gpa = None
        self.free_ids = list(range(size - 1, -1, -1))
        self.in_flight = {}          # buffer id -> ring slots its chain took
        self.order = collections.deque()   # ids in the order made available (IN_ORDER)
        self.free_slots = size
        self.next_avail, self.avail_wrap = 0, True
        self.next_used, self.used_wrap = 0, True
        self._added = 0              # slots made available since the last kick
        self._want_interrupts = True
        self.kickfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.callfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.kicks = 0
        self.interrupts = 0
        self.index = None

    def close(self):
        """Close the eventfds and release the ring views (the memory is GuestMemory's)."""
        os.close(self.kickfd)
        os.close(self.callfd)
        self._desc16.release()
        self._driver16.release()
        self._device16.release()

    # --- positions ----------------------------------------------------------

    def advance(self, idx, wrap, n=1):
        """(idx, wrap) moved on by n slots (n <= size), flipping wrap at the ring end."""
        idx += n
        if idx >= self.size:
            idx -= self.size
            wrap = not wrap
        return idx, wrap

    def base(self):
        """Our position as SET_VRING_BASE carries it (avail low, used high)."""
        return packed_base(self.next_avail, self.avail_wrap, self.next_used, self.used_wrap)

    def set_position(self, idx, wrap=True, prime=True):
        """Start both positions at slot idx with wrap counter wrap (nothing in flight).

        prime=True makes the ring's flags those of a ring that ran to there,
        every chain completed: slots before idx used in this lap, the rest used
        in the last one (a back-end may check a base against the flags).
        """
        if self.in_flight:
            raise ValueError("buffers in flight")
        self.next_avail = self.next_used = idx
        self.avail_wrap = self.used_wrap = bool(wrap)
        if prime:
            for i in range(self.size):
                lap = self.used_wrap if i < idx else not self.used_wrap
                self._desc16[8 * i + 7] = VRING_PACKED_DESC_F_WRAPS if lap else 0

    # --- set-up -----------------------------------------------------------

    def setup(self, fe, index, base=None, kick=True, call=True):
        """Send SET_VRING_NUM/BASE/ADDR/KICK/CALL for vring index.

        base: None sends our position; any other value is sent as it is, and
        adopted as our position when both of its halves are inside the ring.
        SET_VRING_ADDR carries the ring as desc, the driver area as avail and
        the device area as used. kick/call=False send the NOFD bit.
        """
        self.index = index
        if base is None:
            base = self.base()
        else:
            (ai, aw), (ui, uw) = packed_base_decode(base)
            if ai < self.size and ui < self.size and not self.in_flight:
                self.next_avail, self.avail_wrap = ai, aw
                self.next_used, self.used_wrap = ui, uw
        self._write_driver_event()
        send_vring_setup(fe, index, self.size, base,
                         [self.memory.qva(g) for g in (self.desc_gpa, self.device_gpa,
                                                       self.driver_gpa)],
                         self.kickfd if kick else None, self.callfd if call else None)

    # --- raw access -----------------------------------------------------------

    def write_desc(self, i, addr=None, length=None, id=None, flags=None):
        """Overwrite any subset of the fields of ring slot i (no checks); flags last."""
        m, base = self._desc
        old = VRING_PACKED_DESC.unpack_from(m, base + 16 * i)
        new = [old[k] if v is None else v for k, v in enumerate((addr, length, id))]
        m[base + 16 * i:base + 16 * i + 14] = VRING_PACKED_DESC_HEAD.pack(*new)
        if flags is not None:
            self._desc16[8 * i + 7] = flags & 0xffff

    def read_desc(self, i):
        """(addr, len, id, flags) of ring slot i."""
        m, base = self._desc
        return VRING_PACKED_DESC.unpack_from(m, base + 16 * i)

    def read_flags(self, i):
        """The flags of ring slot i (one 16-bit load)."""
        return self._desc16[8 * i + 7]

    def make_available(self, descs, wrap_bits=True, track=True):
        """Write raw descriptors (addr, len, id, flags) at the next slots, head flags last.

        wrap_bits=True ORs each slot's AVAIL/USED bits for our wrap counter at
        that slot into flags; False writes flags exactly as given. Our avail
        position moves past them. track=True records the last descriptor's id
        as in flight (if it is in range and free) so that get_used() frees it.
        Returns the slots written.
        """
        idx, wrap = self.next_avail, self.avail_wrap
        slots = []
        for addr, length, bid, flags in descs:
            if wrap_bits:
                flags |= packed_wrap_flags(wrap)
            slots.append((idx, addr, length, bid, flags))
            idx, wrap = self.advance(idx, wrap)
        for i, addr, length, bid, flags in slots[1:]:
            self.write_desc(i, addr, length, bid, flags)
        if slots:
            i, addr, length, bid, flags = slots[0]
            self.write_desc(i, addr, length, bid)
            self._desc16[8 * i + 7] = flags & 0xffff
        self.next_avail, self.avail_wrap = idx, wrap
        self._added += len(descs)
        if track and descs:
            bid = descs[-1][2]
            if bid < self.size and bid not in self.in_flight:
                if bid in self.free_ids:
                    self.free_ids.remove(bid)
                self.in_flight[bid] = len(descs)
                self.order.append(bid)
                self.free_slots -= len(descs)
        return [s[0] for s in slots]

    def set_driver_event(self, off_wrap=None, flags=None):
        """Write the driver event area (off_wrap first, then flags)."""
        if off_wrap is not None:
            self._driver16[0] = off_wrap & 0xffff
        if flags is not None:
            self._driver16[1] = flags & 0xffff

    def read_driver_event(self):
        """(off_wrap, flags) of the driver event area."""
        return self._driver16[0], self._driver16[1]

    def read_device_event(self):
        """(off_wrap, flags) of the device event area, as the device wrote it."""
        return self._device16[0], self._device16[1]

    # --- normal driver operation ---------------------------------------------

    @property
    def num_free(self):
        """Descriptors free for chains (slots, bounded by free buffer ids)."""
        return min(self.free_slots, len(self.free_ids))

    def _take(self, n):
        if n > self.free_slots:
            raise VirtqueueFull(f"{n} descriptors needed, {self.free_slots} free")
        if not self.free_ids:
            raise VirtqueueFull("no free buffer id")
        return self.free_ids.pop()

    def add_chain(self, buffers):
        """Make a chain of (gpa, len, write) buffers available; return its buffer id."""
        if not buffers:
            raise ValueError("empty chain")
        bid = self._take(len(buffers))
        descs = []
        for k, (gpa, length, write) in enumerate(buffers):
            last = k == len(buffers) - 1
            flags = (VRING_DESC_F_WRITE if write else 0) | (0 if last else VRING_DESC_F_NEXT)
            descs.append((gpa, length, bid, flags))
        self.make_available(descs, track=False)
        self.in_flight[bid] = len(descs)
        self.order.append(bid)
        self.free_slots -= len(descs)
        return bid

    def indirect_table_gpa(self, bid):
        """GPA of the indirect table reserved for buffer id bid (INDIRECT_MAX entries)."""
        if self._indirect_gpa is None:
            self._indirect_gpa = self.memory.alloc(self.size * self.INDIRECT_MAX * 16, 16)
        return self._indirect_gpa + bid * self.INDIRECT_MAX * 16

    def add_indirect(self, buffers):
        """Make (gpa, len, write) buffers available through one indirect descriptor.

        The table holds len/16 descriptors walked by count: no NEXT, only WRITE.
        """
        if not buffers or len(buffers) > self.INDIRECT_MAX:
            raise ValueError(f"indirect chain needs 1..{self.INDIRECT_MAX} buffers")
        bid = self._take(1)
        table = self.indirect_table_gpa(bid)
        entries = [VRING_PACKED_DESC.pack(gpa, length, 0, VRING_DESC_F_WRITE if write else 0)
                   for gpa, length, write in buffers]
        self.memory.write(table, b"".join(entries))
        self.make_available([(table, 16 * len(buffers), bid, VRING_DESC_F_INDIRECT)],
                            track=False)
        self.in_flight[bid] = 1
        self.order.append(bid)
        self.free_slots -= 1
        return bid

    def kick(self, force=False):
        """Notify the device if it asked for it (or always with force).

        The device area says DISABLE (no kick), ENABLE, or with EVENT_IDX DESC
        with off_wrap: kick if the slots made available since the last kick
        passed it (Linux's virtqueue_kick_prepare_packed()).
        Returns True if the kick eventfd was written.
        """
        full_barrier()
        added, self._added = self._added, 0
        off_wrap, flags = self.read_device_event()
        flags &= 3
        if flags == VRING_PACKED_EVENT_F_DESC and self.event_idx:
            event = off_wrap & VRING_PACKED_IDX_MASK
            if bool(off_wrap >> VRING_PACKED_WRAP_SHIFT) != self.avail_wrap:
                event -= self.size
            new = self.next_avail
            needed = vring_need_event(event, new, new - added)
        else:
            needed = flags != VRING_PACKED_EVENT_F_DISABLE
        if needed or force:
            os.eventfd_write(self.kickfd, 1)
            self.kicks += 1
            return True
        return False

    def _write_driver_event(self):
        if not self._want_interrupts:
            self.set_driver_event(flags=VRING_PACKED_EVENT_F_DISABLE)
        elif self.event_idx:
            self.set_driver_event(packed_pos(self.next_used, self.used_wrap),
                                  VRING_PACKED_EVENT_F_DESC)
        else:
            self.set_driver_event(flags=VRING_PACKED_EVENT_F_ENABLE)

    def set_interrupts(self, enabled):
        """Ask the device for interrupts or not (driver area DISABLE, or ENABLE/DESC)."""
        self._want_interrupts = bool(enabled)
        self._write_driver_event()

    @staticmethod
    def is_used(flags, wrap):
        """Is a descriptor with these flags used in the lap of used wrap counter wrap?"""
        want = VRING_PACKED_DESC_F_WRAPS if wrap else 0
        return flags & VRING_PACKED_DESC_F_WRAPS == want

    def has_used(self):
        """True if the device returned buffers we have not collected."""
        return self.is_used(self.read_flags(self.next_used), self.used_wrap)

    def wait_used(self, timeout):
        """Wait for used buffers: the call eventfd or, failing that, polling the ring."""
        deadline = time.monotonic() + timeout
        while not self.has_used():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if select.select([self.callfd], [], [], min(remaining, POLL_INTERVAL))[0]:
                self.interrupts += os.eventfd_read(self.callfd)
        return True

    def get_used(self, strict=True):
        """Collect used descriptors as [(id, len)]; free their ids and slots.

        Each used descriptor moves our used position on by its chain's slots;
        with IN_ORDER one may stand for every buffer up to its id (the earlier
        ones get length 0). strict=False returns ids that were not in flight
        (after raw descriptors) instead of raising ProtocolError, counting one slot.
        """
        out = []
        for _ in range(self.size):
            i = self.next_used
            # Never past our avail position: slots we did not make available in
            # this lap may hold anything (zeroed memory reads as used in a lap
            # whose wrap counter is 0, e.g. after a base that starts mid-ring).
            if (i, self.used_wrap) == (self.next_avail, self.avail_wrap):
                break
            if not self.is_used(self.read_flags(i), self.used_wrap):
                break
            _, length, bid, _ = self.read_desc(i)
            if bid in self.in_flight:
                batch = [bid]
                if self.in_order:
                    batch = []
                    while self.order:
                        earlier = self.order.popleft()
                        batch.append(earlier)
                        if earlier == bid:
                            break
                else:
                    self.order.remove(bid)
                slots = 0
                for k in batch:
                    n = self.in_flight.pop(k)
                    slots += n
                    self.free_slots += n
                    self.free_ids.append(k)
                    out.append((k, length if k == bid else 0))
            elif strict:
                raise ProtocolError(f"vring {self.index}: used id {bid} at slot {i} "
                                    "is not in flight")
            else:
                slots = 1
                out.append((bid, length))
            if slots > self.size:
                raise ProtocolError(f"vring {self.index}: used batch of {slots} slots")
            self.next_used, self.used_wrap = self.advance(self.next_used, self.used_wrap,
                                                          slots)
        if self.event_idx and self._want_interrupts:
            self.set_driver_event(packed_pos(self.next_used, self.used_wrap))
        return out


# =============================================================================
# virtio-net device
# =============================================================================

RxPacket = collections.namedtuple("RxPacket", "header frame num_buffers lens")


class NetDevice:
    """A virtio-net driver over vhost-user: vring 2i = RX, 2i+1 = TX of pair i.

    features/protocol_features are what we want; the negotiated sets (our wish
    AND the back-end's offer) end up in self.features / self.protocol_features.
    flavor picks the message order: "qemu" (QEMU 7.2, incl. SET_VRING_ERR and
    early SET_VRING_ENABLE) or "dpdk" (DPDK virtio-user 22.11).
    packed=True asks for VIRTIO_F_RING_PACKED and drives packed rings
    (PackedVirtqueue; any queue size up to 32768); start() raises
    VhostUserError if the back-end does not offer it. packed=None (the
    default) follows bit 34 of features; False never asks for it.
    """

    def __init__(self, fe, memory=None, queue_pairs=1, enabled_pairs=None,
                 features=DEFAULT_NET_FEATURES, protocol_features=DEFAULT_PROTOCOL_FEATURES,
                 queue_size=256, rx_buf_size=None, flavor="qemu", kick_fd=True, call_fd=True,
                 packed=None):
        if flavor not in ("qemu", "dpdk"):
            raise ValueError(f"unknown flavor {flavor}")
        if packed is None:
            packed = bool(features & bit(VIRTIO_F_RING_PACKED))
        elif packed:
            features |= bit(VIRTIO_F_RING_PACKED)
        else:
            features &= ~bit(VIRTIO_F_RING_PACKED)
        self.packed = packed
        self.fe = fe
        self.own_memory = memory is None
        self.memory = GuestMemory() if memory is None else memory
        self.pool = BufferPool(self.memory)
        self.queue_pairs = queue_pairs
        self.enabled_pairs = queue_pairs if enabled_pairs is None else enabled_pairs
        self.wanted_features = features
        self.wanted_protocol_features = protocol_features
        self.queue_size = queue_size
        self.requested_rx_buf_size = rx_buf_size
        self.flavor = flavor
        self.kick_fd = kick_fd
        self.call_fd = call_fd
        self.features = 0
        self.protocol_features = 0
        self.queue_num = None
        self.rx = []
        self.tx = []
        self._rx_bufs = []       # per pair: head -> (gpa, capacity, posted size)
        self._tx_bufs = []       # per pair: head -> (gpa, capacity)
        self._rx_partial = []    # per pair: RxPacket being assembled, or None
        self._errfds = []

    @classmethod
    def connect(cls, path, timeout=10.0, **kwargs):
        """Connect to path, run start() and return the device."""
        dev = cls(Frontend.connect(path, timeout), **kwargs)
        dev.start()
        return dev

    # --- negotiation ----------------------------------------------------------

    def has(self, feature):
        """True if virtio feature bit number feature was negotiated."""
        return bool(self.features & bit(feature))

    @property
    def hdr_len(self):
        """virtio-net header length: 12 with VERSION_1 or MRG_RXBUF, else 10."""
        if self.has(VIRTIO_F_VERSION_1) or self.has(VIRTIO_NET_F_MRG_RXBUF):
            return VIRTIO_NET_HDR_MRG_LEN
        return VIRTIO_NET_HDR_LEN

    @property
    def rx_buf_size(self):
        """RX buffer size: as requested, else 2 KiB with MRG_RXBUF, else 16 KiB."""
        if self.requested_rx_buf_size:
            return self.requested_rx_buf_size
        return 2048 if self.has(VIRTIO_NET_F_MRG_RXBUF) else 16384

    def _negotiate(self):
        """GET_FEATURES and, if offered, protocol features and queue count."""
        offered = self.fe.get_features()
        self.features = offered & self.wanted_features
        if self.has(VHOST_USER_F_PROTOCOL_FEATURES):
            offered_protocol = self.fe.get_protocol_features()
            self.protocol_features = offered_protocol & self.wanted_protocol_features
            self.fe.set_protocol_features(self.protocol_features)
        if self.queue_pairs > 1:
            protocol_mq = self.protocol_features & bit(VHOST_USER_PROTOCOL_F_MQ)
            if not (self.has(VIRTIO_NET_F_MQ) and protocol_mq):
                raise VhostUserError("back-end does not offer MQ")
        else:
            self.features &= ~bit(VIRTIO_NET_F_MQ)
        if self.protocol_features & bit(VHOST_USER_PROTOCOL_F_MQ) and self.flavor == "qemu":
            self.queue_num = self.fe.get_queue_num()

    def _check_ack(self, what, ack):
        """Raise if a REPLY_ACK ack reports failure."""
        if ack:
            raise VhostUserError(f"back-end nacked {what} with {ack}")

    def _enable_rings(self):
        """SET_VRING_ENABLE(1) for the enabled pairs (only with PROTOCOL_FEATURES)."""
        if self.has(VHOST_USER_F_PROTOCOL_FEATURES):
            for pair in range(self.enabled_pairs):
                self.fe.set_vring_enable(2 * pair, 1)
                self.fe.set_vring_enable(2 * pair + 1, 1)

    def start(self):
        """Run the whole front-end start sequence and post RX buffers."""
        nvrings = 2 * self.queue_pairs
        event_idx = bool(self.wanted_features & bit(VIRTIO_RING_F_EVENT_IDX))
        pairs = range(self.queue_pairs)
        ring = PackedVirtqueue if self.packed else SplitVirtqueue
        self.rx = [ring(self.memory, self.queue_size, event_idx) for _ in pairs]
        self.tx = [ring(self.memory, self.queue_size, event_idx) for _ in pairs]
        if self.flavor == "qemu":
            self._negotiate()
            self.fe.set_owner()
            self.fe.get_features()
            for index in range(nvrings):
                self.fe.set_vring_call(index, self._vring(index).callfd)
                errfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                self._errfds.append(errfd)
                self.fe.set_vring_err(index, errfd)
            self._enable_rings()
        else:
            self.fe.set_owner()
            self._negotiate()
            for index in range(nvrings):
                self.fe.set_vring_call(index, self._vring(index).callfd)
        if self.packed and not self.has(VIRTIO_F_RING_PACKED):
            raise VhostUserError("back-end does not offer VIRTIO_F_RING_PACKED "
                                 f"(features {self.features:#x})")
        for vq in self.rx + self.tx:
            vq.event_idx = self.has(VIRTIO_RING_F_EVENT_IDX)
            if self.packed:
                vq.in_order = self.has(VIRTIO_F_IN_ORDER)
        self.fe.set_features(self.features)
        self._check_ack("SET_MEM_TABLE", self.fe.set_mem_table(self.memory, need_reply=True))
        for index in range(nvrings):
            self._vring(index).setup(self.fe, index, kick=self.kick_fd, call=self.call_fd)
        if self.flavor == "dpdk":
            self._enable_rings()
        self._rx_bufs = [{} for _ in range(self.queue_pairs)]
        self._tx_bufs = [{} for _ in range(self.queue_pairs)]
        self._rx_partial = [None] * self.queue_pairs
        for pair in range(self.enabled_pairs):
            self.post_rx_buffers(queue=pair)
        # Barrier: DPDK declares the device ready inside the handler of the last
        # set-up message; frames sent before that are dropped.
        self.fe.sync()

    def _vring(self, index):
        """The SplitVirtqueue (or PackedVirtqueue) behind global vring number index."""
        pair, is_tx = divmod(index, 2)
        return (self.tx if is_tx else self.rx)[pair]

    def stop(self):
        """GET_VRING_BASE on every vring; returns the list of bases.

        A packed ring's base is avail idx | wrap << 15 in the low half and used
        idx | wrap << 15 in the high half (packed_base_decode())."""
        return [self.fe.get_vring_base(index) for index in range(2 * self.queue_pairs)]

    def close(self):
        """Close the connection, eventfds and (if we created it) guest memory."""
        self.fe.close()
        for vq in self.rx + self.tx:
            vq.close()
        for fd in self._errfds:
            os.close(fd)
        if self.own_memory:
            self.memory.close()

    # --- RX --------------------------------------------------------------------

    def post_rx_buffers(self, n=None, size=None, queue=0):
        """Post n device-writable buffers of size bytes (default: fill the ring); kick."""
        vq = self.rx[queue]
        size = size or self.rx_buf_size
        n = vq.num_free if n is None else n
        for _ in range(n):
            gpa, capacity = self.pool.get(size)
            head = vq.add_chain([(gpa, size, True)])
            self._rx_bufs[queue][head] = (gpa, capacity, size)
        vq.kick()
        return n

    def _collect_rx(self, queue):
        """Turn used RX buffers into RxPackets, re-posting the same buffer sizes."""
        vq = self.rx[queue]
        packets = []
        reposts = []
        for head, length in vq.get_used():
            gpa, capacity, size = self._rx_bufs[queue].pop(head)
            if length > size:
                raise ProtocolError(f"RX used len {length} > buffer size {size}")
            data = self.memory.read(gpa, length)
            self.pool.put(gpa, capacity)
            reposts.append(size)
            packet = self._rx_partial[queue]
            if packet is None:
                packet = self._rx_first_buffer(data)
            else:
                packet = packet._replace(frame=packet.frame + data, lens=packet.lens + [length])
            if len(packet.lens) == packet.num_buffers:
                packets.append(packet)
                packet = None
            self._rx_partial[queue] = packet
        for size in reposts:
            self.post_rx_buffers(1, size, queue)
        return packets

    def _rx_first_buffer(self, data):
        if len(data) < self.hdr_len:
            raise ProtocolError(f"RX buffer of {len(data)} bytes is shorter than the header")
        header = data[:self.hdr_len]
        num_buffers = 1
        if self.has(VIRTIO_NET_F_MRG_RXBUF):
            num_buffers = LE16.unpack_from(header, VIRTIO_NET_HDR_NUM_BUFFERS_OFF)[0]
            if num_buffers == 0:
                raise ProtocolError("num_buffers is 0")
        return RxPacket(header, data[self.hdr_len:], num_buffers, [len(data)])

    def recv_packets(self, timeout=1.0, count=None, queue=0):
        """Receive RxPackets: wait until count arrived (or any, if None) or timeout."""
        vq = self.rx[queue]
        deadline = time.monotonic() + timeout
        packets = []
        while True:
            packets += self._collect_rx(queue)
            if packets and (count is None or len(packets) >= count):
                return packets
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return packets
            vq.wait_used(remaining)

    def recv_frames(self, timeout=1.0, count=None, queue=0):
        """Like recv_packets() but return only the frames (header stripped)."""
        return [p.frame for p in self.recv_packets(timeout, count, queue)]

    # --- TX ----------------------------------------------------------------------

    @staticmethod
    def _split_lengths(total, split):
        """Descriptor lengths for total bytes: split is a count or a list of lengths."""
        if isinstance(split, int):
            base, extra = divmod(total, split)
            return [base + (1 if k < extra else 0) for k in range(split)]
        lengths = list(split)
        if sum(lengths) > total:
            raise ValueError(f"split {lengths} is longer than {total} bytes")
        if sum(lengths) < total:
            lengths.append(total - sum(lengths))
        return lengths

    def send_frame(self, frame, queue=0, split=None, indirect=False, header=None, kick=True,
                   timeout=1.0):
        """Send one frame behind a zeroed (or given) virtio-net header; return the head.

        split: None = one descriptor (header separate without ANY_LAYOUT/VERSION_1),
        an int = that many pieces, a list = piece lengths (rest appended).
        indirect=True puts the pieces in an indirect table.
        """
        header = bytes(self.hdr_len) if header is None else header
        data = header + frame
        if split is None:
            any_layout = self.has(VIRTIO_F_ANY_LAYOUT) or self.has(VIRTIO_F_VERSION_1)
            split = [len(data)] if any_layout else [len(header)]
        lengths = self._split_lengths(len(data), split)
        gpa, capacity = self.pool.get(len(data))
        self.memory.write(gpa, data)
        buffers = []
        offset = 0
        for length in lengths:
            buffers.append((gpa + offset, length, False))
            offset += length
        vq = self.tx[queue]
        needed = 1 if indirect else len(buffers)
        deadline = time.monotonic() + timeout
        self.reclaim_tx(queue)
        while vq.num_free < needed:
            if not vq.wait_used(deadline - time.monotonic()):
                self.pool.put(gpa, capacity)
                raise VirtqueueFull(f"TX queue {queue} still full after {timeout}s")
            self.reclaim_tx(queue)
        head = vq.add_indirect(buffers) if indirect else vq.add_chain(buffers)
        self._tx_bufs[queue][head] = (gpa, capacity)
        if kick:
            vq.kick()
        return head

    def reclaim_tx(self, queue=None):
        """Collect completed TX buffers (all queues if None); return how many."""
        queues = range(self.queue_pairs) if queue is None else [queue]
        count = 0
        for q in queues:
            for head, _ in self.tx[q].get_used():
                self.pool.put(*self._tx_bufs[q].pop(head))
                count += 1
        return count

    def tx_in_flight(self, queue=0):
        """TX chains not yet returned by the device."""
        return len(self._tx_bufs[queue])

    def wait_tx_done(self, timeout=1.0, queue=0):
        """Wait until every TX chain of queue was used; return True on success."""
        deadline = time.monotonic() + timeout
        while True:
            self.reclaim_tx(queue)
            if not self.tx_in_flight(queue):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.tx[queue].wait_used(remaining)


# =============================================================================
# CLI
# =============================================================================

def make_frame(size, seq, src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02"):
    """An Ethernet frame of size bytes (ethertype 0x88b5) with a recognisable payload."""
    head = dst + src + b"\x88\xb5" + struct.pack("!I", seq)
    body = bytes((seq + k) & 0xff for k in range(max(0, size - len(head))))
    return (head + body)[:size]


def cmd_probe(args):
    """Print what a back-end offers."""
    with Frontend.connect(args.socket, args.timeout) as fe:
        features = fe.get_features()
        print(f"features          {features:#018x}")
        print(f"packed rings      {'offered' if features & bit(VIRTIO_F_RING_PACKED) else 'no'}")
        if features & bit(VHOST_USER_F_PROTOCOL_FEATURES):
            pf = fe.get_protocol_features()
            print(f"protocol features {pf:#018x}")
            if pf & bit(VHOST_USER_PROTOCOL_F_MQ):
                fe.set_protocol_features(bit(VHOST_USER_PROTOCOL_F_MQ))
                print(f"queue num         {fe.get_queue_num()}")


def cmd_pair(args):
    """Send frames from one socket's device to another's and count them."""
    a = NetDevice.connect(args.src, args.timeout, flavor=args.flavor, packed=args.packed)
    b = NetDevice.connect(args.dst, args.timeout, flavor=args.flavor, packed=args.packed)
    try:
        sent = [make_frame(args.size, seq) for seq in range(args.count)]
        for frame in sent:
            a.send_frame(frame)
        got = b.recv_frames(args.timeout, count=len(sent))
        ok = sum(1 for x, y in zip(sent, got) if x == y)
        print(f"sent {len(sent)} received {len(got)} identical {ok}")
        return 0 if ok == len(sent) == len(got) else 1
    finally:
        a.close()
        b.close()


def main(argv=None):
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="vhost-user front-end test tool")
    parser.add_argument("--timeout", type=float, default=5.0)
    sub = parser.add_subparsers(dest="cmd", required=True)
    probe = sub.add_parser("probe", help="show features offered by a back-end")
    probe.add_argument("socket")
    pair = sub.add_parser("pair", help="send frames from SRC's device, receive on DST's")
    pair.add_argument("src")
    pair.add_argument("dst")
    pair.add_argument("--count", type=int, default=10)
    pair.add_argument("--size", type=int, default=64)
    pair.add_argument("--flavor", choices=("qemu", "dpdk"), default="qemu")
    pair.add_argument("--packed", action="store_true", help="drive packed rings (bit 34)")
    args = parser.parse_args(argv)
    return {"probe": cmd_probe, "pair": cmd_pair}[args.cmd](args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
