"""DPDK testpmd with vhost-user ports: a stand-in switch for harness self-tests."""

import os
import signal
import subprocess

from hostutil import ensure_packages, log_dir, remove_file, stop_process, wait_for_path


class TestPmd:
    """dpdk-testpmd in io forwarding mode between two vhost-user server sockets.

    io forwarding pairs port 0 with port 1, so guests on the two sockets can talk.
    With client=True testpmd connects (and reconnects) to sockets QEMU listens on.
    """

    def __init__(self, sockets, name="testpmd", queues=1, client=False):
        self.sockets, self.name, self.queues = list(sockets), name, queues
        self.client = client
        self.proc = None
        self.logpath = os.path.join(log_dir(), f"{name}.log")

    def command(self):
        """Return the testpmd argv."""
        vdevs = []
        for i, sock in enumerate(self.sockets):
            vdevs += ["--vdev", f"net_vhost{i},iface={sock},queues={self.queues},"
                      f"client={int(self.client)}"]
        return ["dpdk-testpmd", "-l", "0-1", "--no-pci", "--no-huge", "-m", "1024",
                "--file-prefix", self.name, *vdevs, "--",
                "--forward-mode=io", "--nb-cores=1", f"--rxq={self.queues}",
                f"--txq={self.queues}", "--stats-period", "1"]

    def start(self, timeout=30):
        """Start testpmd; in server mode wait for its vhost-user sockets to appear."""
        ensure_packages(["dpdk-dev", "librte-net-vhost23"])
        owned = self.owned_sockets()
        for sock in owned:
            os.makedirs(os.path.dirname(sock), exist_ok=True)
            remove_file(sock)
        with open(self.logpath, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        for sock in owned:
            wait_for_path(sock, timeout, self.proc)

    def stop(self):
        """Stop testpmd (SIGINT, then SIGKILL) and remove the sockets it created."""
        if self.proc is not None:
            stop_process(self.proc, sig=signal.SIGINT)
        for sock in self.owned_sockets():
            remove_file(sock)

    def owned_sockets(self):
        """Socket files testpmd creates itself (none in client mode)."""
        return [] if self.client else self.sockets

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
