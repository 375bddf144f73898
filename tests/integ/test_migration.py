#!/usr/bin/env python3
"""Live migration of a QEMU 7.2 guest (TCG) between two ports of one vmswitch.

The guest G runs on vm1; a destination QEMU waits on vm3 with -incoming
defer; a peer P on vm2 pings G every 100 ms and streams TCP to it through
the migration. QEMU needs LOG_ALL and LOG_SHMFD to migrate at all; the dirty
log must cover what the switch wrote into G's memory, or G's network state
arrives corrupt.
"""

import os
import re
import sys
import time
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guest import BackgroundPing, Guest  # noqa: E402
from guestnet import guest, ip, no_loss, sock_dir, switch  # noqa: E402
from qmp import Qmp  # noqa: E402
from testlib import check, main, test  # noqa: E402

PING_INTERVAL = 0.1
MIGRATE_TIMEOUT = 120


def migrating_guest(stack, d, sock, qmp, incoming=False):
    """Guest 1 on @sock with a QMP socket (and waiting for a migration)."""
    args = ["-qmp", f"unix:{qmp},server=on,wait=off"]
    if incoming:
        args += ["-incoming", "defer"]
    g = Guest(f"g1-{os.path.basename(d)}{'-dst' if incoming else ''}", sock,
              "52:54:00:00:00:01", f"{ip(1)}/24", extra_args=args)
    stack.enter_context(g)
    return g


def wait_migrated(src):
    deadline = time.monotonic() + MIGRATE_TIMEOUT
    while time.monotonic() < deadline:
        st = src.cmd("query-migrate")
        if st.get("status") in ("completed", "failed", "cancelled"):
            return st
        time.sleep(0.2)
    return src.cmd("query-migrate")


@test
def guest_migrates_keeping_ping_and_tcp():
    d = sock_dir("mig")
    with ExitStack() as s:
        sw = switch(s, d, 3, "mig")
        src_qmp, dst_qmp = os.path.join(d, "src.qmp"), os.path.join(d, "dst.qmp")
        g = migrating_guest(s, d, os.path.join(d, "vm1.sock"), src_qmp)
        p = guest(s, d, 2)
        g.wait_ready()
        p.wait_ready()
        no_loss(p, ip(1))
        dst = migrating_guest(s, d, os.path.join(d, "vm3.sock"), dst_qmp, incoming=True)
        qs, qd = Qmp(src_qmp), Qmp(dst_qmp)
        s.callback(qs.close)
        s.callback(qd.close)
        mig = os.path.join(d, "mig.sock")
        qd.cmd("migrate-incoming", uri=f"unix:{mig}")
        g.iperf3_server()
        p.run(f"iperf3 -c {ip(1)} -t 15 > /tmp/ip.log 2>&1; echo rc=$? >> /tmp/ip.log &",
              check=True)
        ping = BackgroundPing(p, ip(1), interval=PING_INTERVAL)
        ping.start()
        time.sleep(3)
        ping.mark()
        qs.cmd("migrate", uri=f"unix:{mig}")
        st = wait_migrated(qs)
        print(f"  migration {st.get('status')}: total {st.get('total-time')} ms, "
              f"downtime {st.get('downtime')} ms")
        check(st.get("status") == "completed", f"migration did not complete: {st}")
        time.sleep(5)
        seen = ping.stop()
        seqs = seen["before"] + seen["after"]
        gap = max((b - a for a, b in zip(seqs, seqs[1:])), default=1) - 1
        print(f"  pings: {seen['received']}/{seen['transmitted']} answered, longest run "
              f"unanswered {gap} ({gap * PING_INTERVAL:.1f} s)")
        check(seen["after"], "no ping answered after the migration")
        check(gap * PING_INTERVAL < 1.0, f"{gap * PING_INTERVAL:.1f} s of pings lost")
        time.sleep(10)
        _, log = p.run("cat /tmp/ip.log")
        print("  iperf3: " + " | ".join(l.strip() for l in log.splitlines()
                                        if "receiver" in l or "rc=" in l or "error" in l))
        check("rc=0" in log, f"the TCP stream did not survive: {log[-400:]}")
        # G answers on the destination, and the switch knows where it is.
        dst.ready = True
        dst.run("true", check=True)
        no_loss(p, ip(1))
        code, fdb, _ = sw.ctl("fdb")
        line = next((ln for ln in fdb.splitlines() if "52:54:00:00:00:01" in ln), "")
        print(f"  fdb: {line.strip()}")
        check(re.search(r"\bvm3\b", line), f"G's MAC is not on vm3: {line!r}")
        code, show, _ = sw.ctl("show")
        print("  " + " | ".join(ln.strip() for ln in show.splitlines() if "migration" in ln))
        check("page writes logged" in show, "no port logged any page")
        g.ready = False       # the source QEMU waits in postmigrate: killed at exit
        qs.cmd("quit")


if __name__ == "__main__":
    main()
