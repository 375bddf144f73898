#!/usr/bin/env python3
"""Installing it: `make install`, and the Debian package through its life.

make install with DESTDIR and PREFIX puts every file at its FHS path, with
the units pointing at the installed binary and config; make uninstall takes
them away again and keeps the config.

The package is built from debian/ with debhelper (scripts/build-deb.sh, as
`make deb`: dpkg-buildpackage -b -us -uc in a copy of the tree), checked with
lintian (no errors; the warnings kept are listed below with their reasons),
installed with dpkg -i, run from its unit's own ExecStart line as systemd
would (RuntimeDirectory made, $NOTIFY_SOCKET set: READY=1 must come, the
control socket must answer), installed again over itself with an operator's
edit to the config (kept: a conffile), and purged (every file gone, /etc
too). `man -w` finds both pages; `systemd-analyze verify` accepts the units.
"""

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from hostutil import repo_path  # noqa: E402
from notify import NotifySocket  # noqa: E402
from testlib import check, main, require_root, skip, test  # noqa: E402

OUT = "/tmp/vmsw-pkg"
VERSION = open(repo_path("VERSION")).read().strip()
UNITS = ("vmswitch.service", "vmswitch@.service", "vmswitch-exporter.service")
# The libraries vmswitch links; the package must depend on each (shlibs).
LIBS = ("libconfig9", "libpcap0.8", "libjson-c5", "libsystemd0", "libxdp1", "libbpf1",
        "libmicrohttpd12")
# lintian warnings kept, and why (every other warning fails the test): none
# today (lintian 2.116: no error, no warning; the info tags are printed).
LINTIAN_KEPT = set()


def sh(*argv, timeout=120, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def installed_files(root, prefix):
    etc = "etc" if prefix == "/usr" else prefix.lstrip("/") + "/etc"
    p = prefix.lstrip("/")
    files = [f"{p}/sbin/vmswitch", f"{p}/share/man/man8/vmswitch.8",
             f"{p}/share/man/man5/vmswitch.conf.5", f"{etc}/vmswitch/vmswitch.conf",
             f"{p}/share/bash-completion/completions/vmswitch"]
    files += [f"{p}/lib/systemd/system/{u}" for u in UNITS]
    return [os.path.join(root, f) for f in files]


@test
def make_install_puts_fhs_paths():
    dest = tempfile.mkdtemp(prefix="vmsw-destdir-")
    try:
        b = os.environ.get("B", "build")
        r = sh("make", "-s", "install", f"B={b}", f"DESTDIR={dest}", "PREFIX=/usr/local",
               cwd=repo_path("."), timeout=600)
        check(r.returncode == 0, f"make install failed: {r.stdout}{r.stderr}")
        missing = [f for f in installed_files(dest, "/usr/local") if not os.path.isfile(f)]
        check(not missing, f"not installed: {missing}")
        unit = open(f"{dest}/usr/local/lib/systemd/system/vmswitch.service").read()
        check("ExecStart=/usr/local/sbin/vmswitch run --config "
              "/usr/local/etc/vmswitch/vmswitch.conf" in unit, "ExecStart paths wrong")
        for u in UNITS:
            text = open(f"{dest}/usr/local/lib/systemd/system/{u}").read()
            left = re.findall(r"@[A-Z_]+@", text)
            check(not left, f"{u} keeps unsubstituted {left}")
        r = sh("make", "-s", "uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local",
               cwd=repo_path("."))
        check(r.returncode == 0, f"make uninstall failed: {r.stderr}")
        left = [f for f in installed_files(dest, "/usr/local")
                if os.path.exists(f) and not f.endswith("vmswitch.conf")]
        check(not left, f"make uninstall left {left}")
        check(os.path.exists(f"{dest}/usr/local/etc/vmswitch/vmswitch.conf"),
              "make uninstall removed the operator's config")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def build_package():
    r = sh(repo_path("scripts/build-deb.sh"), OUT, timeout=1200)
    check(r.returncode == 0, f"package build failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    debs = [d for d in glob.glob(f"{OUT}/vmswitch_*.deb")]
    check(len(debs) == 1, f"expected one vmswitch .deb, found {debs}")
    return debs[0]


def check_fields(deb):
    version = sh("dpkg-deb", "-f", deb, "Version").stdout.strip()
    check(version == VERSION, f"package version {version}, VERSION says {VERSION}")
    depends = sh("dpkg-deb", "-f", deb, "Depends").stdout
    print(f"  Depends: {depends.strip()}")
    missing = [lib for lib in LIBS if not re.search(rf"\b{re.escape(lib)}\b", depends)]
    check(not missing, f"the package does not depend on {missing}")


def check_lintian(deb):
    r = sh("lintian", "-I", "--tag-display-limit", "0", deb, timeout=600)
    tags = re.findall(r"^([EWI]): vmswitch\S*: (\S+)", r.stdout, re.M)
    print(f"  lintian info: {sorted({t for level, t in tags if level == 'I'})}")
    errors = sorted({t for level, t in tags if level == "E"})
    warnings = sorted({t for level, t in tags if level == "W"})
    print(f"  lintian: errors {errors}, warnings {warnings}")
    check(not errors, f"lintian errors: {r.stdout}")
    unexpected = [w for w in warnings if w not in LINTIAN_KEPT]
    check(not unexpected, f"lintian warnings not on the kept list: {unexpected}\n{r.stdout}")
    # Exit 0 is lintian's "ran, no error tag"; anything else means it did not run.
    check(r.returncode == 0, f"lintian exited {r.returncode}: {r.stderr}")


def exec_start(unit):
    """The argv of the unit's ExecStart line."""
    for line in open(unit):
        if line.startswith("ExecStart="):
            return shlex.split(line.split("=", 1)[1])
    raise AssertionError(f"{unit} has no ExecStart")


def run_from_unit():
    """Start the installed switch as vmswitch.service would; READY=1 must come."""
    argv = exec_start("/lib/systemd/system/vmswitch.service")
    check(argv[0] == "/usr/sbin/vmswitch", f"ExecStart runs {argv[0]}")
    if os.path.isdir("/run/systemd/system"):
        # Under systemd the package started the unit; this run replaces it.
        sh("systemctl", "stop", "vmswitch.service")
    shutil.rmtree("/run/vmswitch", ignore_errors=True)
    os.makedirs("/run/vmswitch", mode=0o755)      # RuntimeDirectory=vmswitch
    with NotifySocket() as notify:
        proc = subprocess.Popen(argv, env=notify.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            msg = notify.expect("READY", timeout=15)
            print(f"  {' '.join(argv)}: READY=1, STATUS={msg.get('STATUS')!r}")
            r = sh("/usr/sbin/vmswitch", "ctl", "--socket", "/run/vmswitch/ctl.sock", "show")
            check(r.returncode == 0 and "port vm1" in r.stdout and "port vm2" in r.stdout,
                  f"the installed switch's ctl show: {r.stdout}{r.stderr}")
            sock = os.stat("/run/vmswitch/vm1.sock")
            check(sock.st_gid == int(sh("getent", "group", "kvm").stdout.split(":")[2]),
                  "the default config's vm1 socket is not group kvm")
        finally:
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=15)[0]
        check(proc.returncode == 0, f"the installed switch exited {proc.returncode}: {out}")
    shutil.rmtree("/run/vmswitch", ignore_errors=True)


def check_installed():
    # dh_compress gzips the manual pages.
    missing = [f for f in installed_files("/", "/usr")
               if not os.path.isfile(f) and not os.path.isfile(f + ".gz")]
    check(not missing, f"the package lacks {missing}")
    for page in (["vmswitch"], ["5", "vmswitch.conf"]):
        r = sh("man", "-w", *page)
        check(r.returncode == 0 and "/usr/share/man/" in r.stdout,
              f"man -w {' '.join(page)}: {r.stdout}{r.stderr}")
    units = [f"/lib/systemd/system/{u}" for u in UNITS]
    r = sh("systemd-analyze", "verify", *units)
    print(f"  systemd-analyze verify: exit {r.returncode} {r.stderr.strip()}")
    check(r.returncode == 0 and not r.stderr.strip(), f"systemd-analyze verify: {r.stderr}")


@test
def debian_package_installs_runs_upgrades_purges():
    require_root()
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if not shutil.which(tool):
            sh(repo_path("scripts/install-deps.sh"), "dpkg-dev", "debhelper", "lintian",
               "man-db", timeout=600)
            break
    if not shutil.which("dpkg-buildpackage"):
        skip("dpkg-dev could not be installed: no package build")
    sh("dpkg", "-P", "vmswitch")                   # a previous run's leftovers
    deb = build_package()
    check_fields(deb)
    check_lintian(deb)
    r = sh("dpkg", "-i", deb)
    check(r.returncode == 0, f"dpkg -i failed: {r.stdout}{r.stderr}")
    try:
        check_installed()
        run_from_unit()
        with open("/etc/vmswitch/vmswitch.conf", "a") as f:
            f.write("# an operator's edit\n")
        r = sh("dpkg", "-i", deb)
        check(r.returncode == 0, f"dpkg -i over itself failed: {r.stdout}{r.stderr}")
        check("# an operator's edit" in open("/etc/vmswitch/vmswitch.conf").read(),
              "installing again lost the operator's config edit")
        check(os.access("/usr/sbin/vmswitch", os.X_OK), "the binary is gone after dpkg -i again")
    finally:
        r = sh("dpkg", "-P", "vmswitch")
    check(r.returncode == 0, f"dpkg -P failed: {r.stdout}{r.stderr}")
    left = [f for f in installed_files("/", "/usr") if os.path.exists(f)
            or os.path.exists(f + ".gz")]
    check(not left, f"purge left {left}")
    check(not os.path.exists("/etc/vmswitch"), "purge left /etc/vmswitch")


if __name__ == "__main__":
    main()
