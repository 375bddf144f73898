#!/usr/bin/env python3
"""vmswitch with libvirt guests, configured as the README says.

libvirt (libvirt-daemon-system, Debian 12's 9.0) is installed if missing;
without systemd the test runs virtlogd and libvirtd itself and stops them at
the end. vmswitch gets the README's `vmswitch run` options (sockets in a test
folder); two TCG domains are built from the README's XML blocks
(tests/lib/libvirtguest.py adds only name, memory, the test guest's kernel, a
serial console socket, and no USB or balloon), started with virsh, ping each
other through vmswitch, and ping again after vmswitch is stopped and started
under them, the guests untouched.
"""

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import ExitStack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from guestnet import ip, no_loss  # noqa: E402
from hostutil import repo_path  # noqa: E402
from libvirtguest import (PACKAGES, QEMU_NS, Daemons, LibvirtGuest, can_connect_as,  # noqa: E402
                     domain_xml, missing_parts, qemu_pid, qemu_user, readme_config,
                     switch_options, virsh)
from switch import Switch  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

RUN = "/tmp/vmsw-libvirt"
RESUME_WITHIN = 40        # seconds for the first ping reply after vmswitch restarted


def install():
    """Install libvirt and QEMU if missing; skip (saying why) if that fails."""
    t = time.monotonic()
    r = subprocess.run(["sh", repo_path("scripts/install-deps.sh"), *PACKAGES],
                       capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"libvirt not installable: {(r.stderr or r.stdout).strip()[-300:]}")
    if r.stdout.strip():
        print(f"  {r.stdout.strip()} ({time.monotonic() - t:.1f} s)", flush=True)


def guest_xml(cfg, n):
    name = f"vmsw-lv{n}"
    cmdline = (f"console=ttyS0 quiet loglevel=1 panic=-1 vmsw.ip={ip(n)}/24 "
               f"vmsw.name={name}")
    return name, domain_xml(cfg, name, os.path.join(RUN, f"vm{n}.sock"),
                            f"52:54:00:00:00:{n:02x}", cmdline,
                            os.path.join(RUN, f"{name}.console"))


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("Uid:")))


def user_uid(user):
    """uid of a qemu.conf user value: '+N', a name, or a number."""
    if user.startswith("+"):
        return int(user[1:])
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return int(user)


def first_reply_after(g, target, timeout):
    """Seconds until g's first ping reply from target (None if none within timeout)."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if g.ping(target, count=2, interval=0.5)[1]:
            return time.monotonic() - t
    return None


@test
def readme_libvirt_blocks_are_valid():
    """The README's sh and XML blocks parse, and the domain the test builds from
    them passes libvirt's schema (virt-xml-validate) with every README part in it."""
    cfg = readme_config()
    ports, args = switch_options(cfg["argv"], RUN)
    check(len(ports) == 2 and all("vhost-user:" in p for p in ports),
          f"README's vmswitch run has no two vhost-user ports: {cfg['argv']}")
    check(cfg["tcg"].get("type") == "qemu" and cfg["domain"].get("type") == "kvm",
          "README: the first XML block is not type 'kvm' or the second not type 'qemu'")
    if shutil.which("virt-xml-validate") is None:
        require_root()
        install()
    tmp = tempfile.mkdtemp(prefix="vmsw-libvirt-xml.")
    for n in (1, 2):
        name, xml = guest_xml(cfg, n)
        dom = ET.fromstring(xml)
        for part in (cfg["domain"], cfg["tcg"]):
            want = ET.fromstring(ET.tostring(part))
            want.attrib.pop("type")
            iface = want.find("devices/interface")
            if iface is not None:	# the test's own socket and MAC
                iface.find("source").attrib.pop("path")
                iface.find("mac").attrib.pop("address")
            missing = missing_parts(dom, want)
            check(not missing, f"{name}: README parts not in the test's XML: {missing}")
        path = os.path.join(tmp, f"{name}.xml")
        with open(path, "w") as f:
            f.write(xml)
        r = subprocess.run(["virt-xml-validate", path, "domain"], capture_output=True,
                           text=True)
        os.unlink(path)
        check(r.returncode == 0, f"{name}: virt-xml-validate: {r.stdout} {r.stderr}")
    os.rmdir(tmp)


@test
def libvirt_guests_ping_through_vmswitch_and_across_its_restart():
    require_root()
    t0 = time.monotonic()
    install()
    cfg = readme_config()
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    os.chmod(RUN, 0o755)   # libvirt-qemu must reach the sockets
    ports, args = switch_options(cfg["argv"], RUN)
    daemons = Daemons(RUN)
    guests = []
    with ExitStack() as s:
        t = time.monotonic()
        s.enter_context(daemons)
        print(f"  libvirtd answering in {time.monotonic() - t:.1f} s"
              f" (started here: {', '.join(daemons.procs) or 'none'})", flush=True)
        sw = s.enter_context(Switch(ports, name="libvirt", args=args))
        # Without access QEMU would wait for the socket and `virsh start` with it.
        user = qemu_user()
        for path in sw.sockets():
            if not user.startswith("+") and not user.isdigit():
                err = can_connect_as(user, path)
                check(not err, f"{user} (QEMU's user) cannot connect to {path}: {err}")
        for n in (1, 2):
            name, xml = guest_xml(cfg, n)
            g = LibvirtGuest(name, xml, os.path.join(RUN, f"{name}.console"),
                             f"52:54:00:00:00:{n:02x}", f"{ip(n)}/24")
            s.enter_context(g)
            guests.append(g)
        for g in guests:
            g.wait_ready(timeout=90)
        print(f"  guests ready {guests[0].boot_seconds:.1f} s and "
              f"{guests[1].boot_seconds:.1f} s after virsh start", flush=True)

        # The README's socket permissions are what lets libvirt's QEMU in.
        for g in guests:
            pid = qemu_pid(g.name)
            check(pid is not None, f"{g.name}: no QEMU pid file")
            check(uid_of(pid) == user_uid(user), f"{g.name}: QEMU runs as uid {uid_of(pid)}, "
                                                 f"not {user} (qemu.conf)")
        if user != "libvirt-qemu":
            print(f"  note: this host's qemu.conf runs QEMU as {user}", flush=True)
        for spec in ports:
            check_socket(spec)
        drop_to = args[args.index("--user") + 1] if "--user" in args else None
        if drop_to:
            check(uid_of(sw.proc.pid) == pwd.getpwnam(drop_to).pw_uid,
                  f"vmswitch did not drop root (--user {drop_to})")

        # libvirt kept every README part, and QEMU got what they mean.
        for g in guests:
            live = ET.fromstring(virsh("dumpxml", g.name))
            want = ET.fromstring(g.xml)
            for part in ("memoryBacking", "devices/interface", f"{{{QEMU_NS}}}override"):
                have = live.find(part)
                missing = missing_parts(have, want.find(part)) if have is not None else [part]
                check(not missing, f"{g.name}: libvirt dropped {missing}")
            with open(f"/proc/{qemu_pid(g.name)}/cmdline", "rb") as f:
                argv = f.read().decode().split("\0")
            joined = " ".join(argv)
            queues = int(want.find("devices/interface/driver").get("queues", "1"))
            for needle in ('"qom-type":"memory-backend-memfd"', '"share":true',
                           f"path={g_sock(g)},reconnect=1", '"driver":"virtio-net-pci"',
                           '"vectors":0', *(['"mq":true'] if queues > 1 else [])):
                check(needle in joined, f"{g.name}: QEMU's command line lacks {needle}")

        no_loss(guests[0], ip(2))
        no_loss(guests[1], ip(1))
        st = sw.stats()["ports"]
        check(st["vm1"]["rx_packets"] >= 20 and st["vm2"]["rx_packets"] >= 20,
              f"the pings did not go through vmswitch: {st}")

        # vmswitch stopped and started again on the same sockets, guests untouched.
        # Started as the operator would: vmswitch itself replaces what the old one
        # left (as nobody it cannot unlink its sockets from a folder root owns).
        socks = sw.sockets()
        pids = [qemu_pid(g.name) for g in guests]
        restarted = time.time_ns()
        rc = sw.stop()
        check(rc == 0, f"vmswitch exited {rc} on SIGINT")
        left = [p for p in socks if os.path.exists(p)]
        time.sleep(1)
        sw.sockets = lambda: []    # Switch.start: no unlinking beforehand
        sw.start()
        del sw.sockets
        for spec in ports:
            check_socket(spec, made_after=restarted)
        print(f"  vmswitch restarted ({len(left)} of its sockets were left behind "
              f"and replaced)", flush=True)
        took = first_reply_after(guests[0], ip(2), RESUME_WITHIN)
        check(took is not None, f"no ping reply within {RESUME_WITHIN} s of the restart")
        print(f"  first reply {took:.1f} s after vmswitch restarted", flush=True)
        no_loss(guests[0], ip(2))
        no_loss(guests[1], ip(1))
        check([qemu_pid(g.name) for g in guests] == pids,
              f"the guests' QEMUs changed across the restart: {pids}")
        st = sw.stats()["ports"]
        check(st["vm1"]["rx_packets"] >= 20 and st["vm2"]["rx_packets"] >= 20,
              f"after the restart the pings did not go through vmswitch: {st}")
        log = sw.output()
        for n in (1, 2):
            check(f"port vm{n}: frontend connected" in log,
                  f"restarted vmswitch: QEMU did not reconnect to vm{n}: {log[-800:]}")
        names = [g.name for g in guests]
    # ExitStack closed: guests destroyed and undefined, vmswitch and daemons stopped.
    left = [n for n in names if qemu_pid(n) is not None and os.path.exists(f"/proc/{qemu_pid(n)}")]
    check(not left, f"QEMU still running for {left}")
    check(all(p.poll() is not None for p in daemons.procs.values()),
          f"daemons left running: {daemons.procs}")
    if not daemons.procs:	# a host libvirtd: the domains must be gone from it
        listed = virsh("list", "--all", "--name")
        check(not any(n in listed.split() for n in names), f"domains still defined: {listed}")
    print(f"  {time.monotonic() - t0:.1f} s in all", flush=True)


def check_socket(spec, made_after=0):
    """The port's socket has the owner, group and mode its options give
    (root, root's group and 0660 by default), made after made_after (ns)."""
    path, _, opts = spec.partition(":")[2].partition(",")
    opt = dict(o.partition("=")[::2] for o in opts.split(",") if o)
    uid = pwd.getpwnam(opt["owner"]).pw_uid if "owner" in opt else 0
    gid = grp.getgrnam(opt["group"]).gr_gid if "group" in opt else 0
    mode = int(opt.get("mode", "0660"), 8)
    st = os.stat(path)
    check(stat.S_ISSOCK(st.st_mode) and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
          == (uid, gid, mode) and st.st_ctime_ns >= made_after,
          f"{path}: {st.st_uid}:{st.st_gid} {oct(st.st_mode)} ctime {st.st_ctime_ns}, "
          f"not a socket {uid}:{gid} {oct(mode)} made after {made_after}")


def g_sock(g):
    return ET.fromstring(g.xml).find("devices/interface/source").get("path")


if __name__ == "__main__":
    main()
