#!/usr/bin/env python3
"""Least privilege: socket owner/group/mode options and --user.

vmswitch creates its sockets as root with group 'nogroup' and mode 0660,
then runs as 'nobody'; frontends running as nobody (as QEMU would run as
libvirt-qemu) connect and exchange frames through it.
"""

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from switch import Switch  # noqa: E402
from testlib import check, main, require_root, test  # noqa: E402

RUN = "/tmp/vmsw-priv"
LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib")

FRONTEND = """
import sys
sys.path.insert(0, sys.argv[1])
from vhostfront import NetDevice, make_frame
a = NetDevice.connect(sys.argv[2])
b = NetDevice.connect(sys.argv[3])
frames = [make_frame(200, n, src=bytes.fromhex('020000000001'),
                     dst=bytes.fromhex('020000000002')) for n in range(10)]
for f in frames:
    a.send_frame(f)
got = b.recv_frames(timeout=5, count=10)
sys.exit(0 if got == frames else 1)
"""


@test
def sockets_get_owner_mode_and_switch_drops_root():
    require_root()
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN, mode=0o755)
    socks = [os.path.join(RUN, f"{n}.sock") for n in ("a", "b")]
    ports = [f"{n}=vhost-user:{p},group=nogroup,mode=0660" for n, p in zip("ab", socks)]
    with Switch(ports, name="privilege", args=["--user", "nobody"]) as sw:
        st = os.stat(socks[0])
        check(stat.S_IMODE(st.st_mode) == 0o660, f"socket mode {oct(st.st_mode)}")
        check(st.st_gid == grp.getgrnam("nogroup").gr_gid, "socket group is not nogroup")
        with open(f"/proc/{sw.proc.pid}/status") as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
        check(int(uid) == pwd.getpwnam("nobody").pw_uid, f"switch still runs as uid {uid}")
        nobody = pwd.getpwnam("nobody")
        r = subprocess.run(["/usr/bin/python3", "-c", FRONTEND, LIB, *socks], user=nobody.pw_uid,
                           group=grp.getgrnam("nogroup").gr_gid, extra_groups=[],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"frontends as nobody failed: {r.stderr[-500:]}")
        st = sw.stats()["ports"]
        check(st["a"]["rx_packets"] >= 10 and st["b"]["tx_packets"] >= 10,
              f"frames did not cross the switch: {st}")


if __name__ == "__main__":
    main()
