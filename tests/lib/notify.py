"""A stand-in for systemd's notify socket: what a Type=notify service sends.

NotifySocket() binds a datagram socket; env() gives the environment that
points sd_notify() at it; expect(key) waits for the next message carrying
KEY=... and returns that message as a dict.
"""

import os
import socket
import tempfile
import time


class NotifySocket:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vmsw-notify-")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)      # reachable after --user drops root
        os.chmod(self.dir, 0o755)
        self.messages = []

    def env(self):
        return {**os.environ, "NOTIFY_SOCKET": self.path}

    def expect(self, key, timeout=10.0):
        """The next message with KEY=, as {name: value}; TimeoutError if none."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {key}= from the service in {timeout} s "
                                   f"(got {self.messages})")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            msg = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            self.messages.append(msg)
            if key in msg:
                return msg

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
