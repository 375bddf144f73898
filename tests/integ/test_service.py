#!/usr/bin/env python3
"""Running under systemd: Type=notify readiness, reload and stop (sd_notify).

vmswitch is started as its unit would start it, with $NOTIFY_SOCKET pointing
at a socket of the test's (tests/lib/notify.py: what systemd's own notify
socket receives). Asserted: READY=1 comes only once every port of the config
listens and the control socket answers; SIGHUP (the unit's ExecReload) sends
RELOADING=1 then READY=1 with the result in STATUS=, for an applied and for a
refused reload; SIGTERM sends STOPPING=1 and the switch exits 0; readiness
still arrives after --user drops root.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from notify import NotifySocket  # noqa: E402
from switch import binary  # noqa: E402
from testlib import check, main, require_root, test  # noqa: E402

RUN = "/tmp/vmsw-service"
PORTS = ("vm1", "vm2", "vm3")


def write_config(path, ports):
    entries = ",\n".join(f'  {{ name = "{p}"; type = "vhost-user"; path = "{RUN}/{p}.sock"; }}'
                         for p in ports)
    with open(path, "w") as f:
        f.write(f"ports = (\n{entries}\n);\n")


def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start(conf, notify, extra=()):
    ctl = f"{RUN}/ctl.sock"
    cmd = [binary(), "run", "--config", conf, "--ctl-socket", ctl, *extra]
    log = open(f"{RUN}/vmswitch.log", "ab")
    return subprocess.Popen(cmd, env=notify.env(), stdout=log, stderr=log), ctl


def ctl_show(ctl):
    return subprocess.run([binary(), "ctl", "--socket", ctl, "show"],
                          capture_output=True, text=True, timeout=10)


def fresh():
    shutil.rmtree(RUN, ignore_errors=True)
    os.makedirs(RUN)
    os.chmod(RUN, 0o777)
    conf = f"{RUN}/vmswitch.conf"
    write_config(conf, PORTS)
    return conf


@test
def ready_only_when_every_port_listens():
    conf = fresh()
    with NotifySocket() as notify:
        proc, ctl = start(conf, notify)
        try:
            msg = notify.expect("READY")
            # At the moment READY=1 arrives every socket must already answer.
            down = [p for p in PORTS if not listening(f"{RUN}/{p}.sock")]
            check(not down, f"READY=1 before ports {down} listened")
            check(listening(ctl), "READY=1 before the control socket listened")
            print(f"  READY=1, STATUS={msg.get('STATUS')!r}")
            check("3 ports" in msg.get("STATUS", ""), f"status {msg.get('STATUS')!r}")
            r = ctl_show(ctl)
            check(r.returncode == 0 and all(f"port {p}" in r.stdout for p in PORTS),
                  f"ctl show after READY: {r.stdout}{r.stderr}")
        finally:
            proc.send_signal(signal.SIGTERM)
        notify.expect("STOPPING")
        check(proc.wait(timeout=10) == 0, f"exit status {proc.returncode} after SIGTERM")


@test
def reload_reports_reloading_then_ready():
    conf = fresh()
    with NotifySocket() as notify:
        proc, ctl = start(conf, notify)
        try:
            notify.expect("READY")
            write_config(conf, PORTS + ("vm4",))
            proc.send_signal(signal.SIGHUP)
            notify.expect("RELOADING")
            msg = notify.expect("READY")
            print(f"  applied: STATUS={msg.get('STATUS')!r}")
            check(msg.get("STATUS") == "configuration reloaded", f"status {msg}")
            check(listening(f"{RUN}/vm4.sock"), "the reloaded port vm4 does not listen")
            with open(conf, "a") as f:
                f.write("this is not libconfig\n")
            proc.send_signal(signal.SIGHUP)
            notify.expect("RELOADING")
            msg = notify.expect("READY")
            print(f"  refused: STATUS={msg.get('STATUS')!r}")
            check(msg.get("STATUS", "").startswith("reload refused, old config kept:"),
                  f"a bad file's reload said {msg}")
            check(listening(f"{RUN}/vm4.sock"), "a refused reload dropped vm4")
        finally:
            proc.send_signal(signal.SIGTERM)
        notify.expect("STOPPING")
        check(proc.wait(timeout=10) == 0, f"exit status {proc.returncode}")


@test
def ready_after_dropping_root():
    require_root()
    conf = fresh()
    with NotifySocket() as notify:
        proc, ctl = start(conf, notify, ["--user", "nobody"])
        try:
            notify.expect("READY")
            status = open(f"/proc/{proc.pid}/status").read()
            uid = [ln for ln in status.splitlines() if ln.startswith("Uid:")][0]
            check(uid.split()[1] != "0", f"still root when READY=1 came: {uid}")
        finally:
            proc.send_signal(signal.SIGTERM)
        notify.expect("STOPPING")
        check(proc.wait(timeout=10) == 0, f"exit status {proc.returncode}")


if __name__ == "__main__":
    main()
