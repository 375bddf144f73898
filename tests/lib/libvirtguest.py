"""libvirt for the tests: install it, run libvirtd (and virtlogd) without
systemd, build domain XML from the README's, drive a domain's serial console.

The README's section "Attaching a libvirt guest" is the source of truth: its
```sh block gives vmswitch's options, its first ```xml block the domain's
vmswitch parts and its second one what a guest without KVM (TCG) adds.
readme_config() parses them; domain_xml() fills in only what is specific to
the test (name, memory size, the test guest's kernel, socket path, MAC and a
serial console) and keeps the rest as written.
"""

import copy
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import time
import types
import xml.etree.ElementTree as ET

from guest import Console, Guest
from guestimg import ensure_assets
from hostutil import log_dir, repo_path, stop_process

URI = "qemu:///system"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
PACKAGES = ["libvirt-daemon-system", "libvirt-clients", "qemu-system-x86"]
LIBVIRT_SOCK = "/run/libvirt/libvirt-sock"
VIRTLOGD_SOCK = "/run/libvirt/virtlogd-sock"
README_SECTION = "## Attaching a libvirt guest"

ET.register_namespace("qemu", QEMU_NS)


# --- the README ----------------------------------------------------------------

def readme_blocks():
    """{lang: [block text, ...]} of the fenced blocks in the README's libvirt section."""
    with open(repo_path("README.md")) as f:
        text = f.read()
    start = text.index(README_SECTION)
    end = text.find("\n## ", start + len(README_SECTION))
    section = text[start:end if end >= 0 else len(text)]
    blocks = {}
    for lang, body in re.findall(r"^```(\w+)\n(.*?)^```", section, re.M | re.S):
        blocks.setdefault(lang, []).append(body)
    return blocks


def parse_xml_block(body):
    """Parse a README XML block; lines that are only '...' stand for the rest."""
    return ET.fromstring("\n".join(line for line in body.splitlines()
                                   if line.strip() != "..."))


def readme_config():
    """dict(argv=the `vmswitch run` options, domain=Element, tcg=Element) from the README."""
    blocks = readme_blocks()
    if len(blocks.get("xml", [])) != 2 or len(blocks.get("sh", [])) != 1:
        raise RuntimeError(f"README's libvirt section: expected one sh and two xml blocks, "
                           f"found {({k: len(v) for k, v in blocks.items()})}")
    argv = shlex.split(blocks["sh"][0].replace("\\\n", " "), comments=True)
    if argv[:2] != ["vmswitch", "run"]:
        raise RuntimeError(f"README's libvirt sh block is not `vmswitch run ...`: {argv}")
    return dict(argv=argv[2:], domain=parse_xml_block(blocks["xml"][0]),
                tcg=parse_xml_block(blocks["xml"][1]))


def switch_options(argv, sockdir):
    """Split the README's `vmswitch run` options into (ports, other args), with
    each socket moved from its folder into sockdir."""
    ports, args, it = [], [], iter(argv)
    for arg in it:
        if arg == "--port":
            name, _, rest = next(it).partition("=")
            typ, _, spec = rest.partition(":")
            path, sep, opts = spec.partition(",")
            ports.append(f"{name}={typ}:{os.path.join(sockdir, os.path.basename(path))}{sep}{opts}")
        else:
            args.append(arg)
    return ports, args


def sub(parent, tag, text=None, **attrib):
    el = ET.SubElement(parent, tag, attrib)
    el.text = text
    return el


def domain_xml(cfg, name, sock, mac, cmdline, console, memory_mib=256, tcg=True):
    """The README's domain (type and override of the TCG block when tcg), with
    the test's name, memory, kernel, initrd and cmdline, the interface's socket
    and MAC, and a serial port that connects to the unix socket console."""
    dom = copy.deepcopy(cfg["domain"])
    if tcg:
        dom.set("type", cfg["tcg"].get("type"))
        dom.extend(copy.deepcopy(list(cfg["tcg"])))
    assets = ensure_assets()
    head = [ET.Element("name"), ET.Element("memory", unit="MiB"), ET.Element("vcpu"),
            ET.Element("os")]
    head[0].text, head[1].text, head[2].text = name, str(memory_mib), "1"
    sub(head[3], "type", "hvm", arch="x86_64")
    sub(head[3], "kernel", assets["kernel"])
    sub(head[3], "initrd", assets["initrd"])
    sub(head[3], "cmdline", cmdline)
    for i, el in enumerate(head):
        dom.insert(i, el)
    devices = dom.find("devices")
    iface = devices.find("interface[@type='vhostuser']")
    iface.find("source").set("path", sock)
    iface.find("mac").set("address", mac)
    serial = sub(devices, "serial", type="unix")
    sub(serial, "source", mode="connect", path=console)
    # Nothing the test guest does not use: no USB controller, no balloon.
    sub(devices, "controller", type="usb", model="none")
    sub(devices, "memballoon", model="none")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def missing_parts(have, want, path=""):
    """Where the tree `want` is not within `have` (same tags, attributes and
    texts, children matched in any order): a list of descriptions, empty if it is."""
    here = f"{path}/{want.tag.replace('{' + QEMU_NS + '}', 'qemu:')}"
    if have.tag != want.tag or any(have.get(k) != v for k, v in want.attrib.items()):
        return [f"{here}: {dict(want.attrib)} not in {dict(have.attrib)}"]
    if (want.text or "").strip() and (want.text or "").strip() != (have.text or "").strip():
        return [f"{here}: text {want.text.strip()!r} is {(have.text or '').strip()!r}"]
    problems = []
    for child in want:
        candidates = [c for c in have if c.tag == child.tag]
        results = [missing_parts(c, child, here) for c in candidates]
        if not any(not r for r in results):
            problems += min(results, key=len) if results else [f"{here}: no <{child.tag}>"]
    return problems


# --- the daemons -----------------------------------------------------------------

def virsh(*args, check=True, timeout=60):
    """Run virsh against URI; returns stdout (raises with stderr on failure if check)."""
    r = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)} failed ({r.returncode}): "
                           f"{r.stderr.strip()}")
    return r.stdout


def answers(path):
    """True when something accepts connections on the unix socket path."""
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class Daemons:
    """virtlogd and libvirtd in the foreground, started only where none answers
    (a host with its own libvirt keeps it: nothing is started or stopped then).

    Started ones run as children with their own pid files under rundir and are
    stopped (SIGTERM, reaped) by stop()."""

    def __init__(self, rundir):
        self.rundir = rundir
        self.procs = {}   # name -> Popen of the daemons this object started
        self.logpath = os.path.join(log_dir(), "libvirtd.log")

    def start(self, timeout=60):
        self.log = open(self.logpath, "ab")
        for name, sock in (("virtlogd", VIRTLOGD_SOCK), ("libvirtd", LIBVIRT_SOCK)):
            if answers(sock):
                continue
            cmd = [name, "--pid-file", os.path.join(self.rundir, f"{name}.pid")]
            self.log.write(f"# {shlex.join(cmd)}\n".encode())
            self.log.flush()
            self.procs[name] = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                                start_new_session=True)
            deadline = time.monotonic() + timeout
            while not answers(sock):
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited {self.procs[name].returncode} "
                                       f"(see {self.logpath})")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not answering on {sock} after {timeout}s")
                time.sleep(0.1)
        # The QEMU driver answers once it has probed QEMU (seconds, once per QEMU build).
        deadline = time.monotonic() + timeout
        while subprocess.run(["virsh", "-c", URI, "version"], capture_output=True,
                             timeout=timeout).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"libvirtd's {URI} not answering after {timeout}s")
            time.sleep(0.2)
        return self

    def stop(self):
        """Stop what start() started, libvirtd first; returns {name: exit status}."""
        status = {}
        for name in ("libvirtd", "virtlogd"):
            if name in self.procs:
                status[name] = stop_process(self.procs[name], timeout=15)
        self.log.close()
        return status

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- a domain ----------------------------------------------------------------------

def qemu_pid(name):
    """Pid of the domain's QEMU (from libvirt's pid file), or None."""
    try:
        with open(f"/run/libvirt/qemu/{name}.pid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def qemu_log_tail(name, lines=5):
    """The last lines of libvirt's log of the domain's QEMU."""
    try:
        with open(f"/var/log/libvirt/qemu/{name}.log", errors="replace") as f:
            return "QEMU log: " + " | ".join(f.read().splitlines()[-lines:])
    except OSError as e:
        return f"no QEMU log: {e}"


def qemu_user():
    """The user libvirt runs QEMU as: qemu.conf's `user`, else Debian's libvirt-qemu."""
    try:
        with open("/etc/libvirt/qemu.conf") as f:
            m = re.search(r'^\s*user\s*=\s*"([^"]*)"', f.read(), re.M)
    except OSError:
        m = None
    return m.group(1) if m else "libvirt-qemu"


def process_of(pid, name):
    """True when pid is alive and is the QEMU of domain name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f"guest={name},".encode() in f.read()
    except OSError:
        return False


def can_connect_as(user, path):
    """'' when user (with its groups, as libvirt runs QEMU) can connect to the
    unix socket path, else the error it gets."""
    pw = pwd.getpwnam(user)
    r = subprocess.run(["python3", "-c", "import socket, sys; "
                        "socket.socket(socket.AF_UNIX).connect(sys.argv[1])", path],
                       user=pw.pw_uid, group=pw.pw_gid,
                       extra_groups=os.getgrouplist(pw.pw_name, pw.pw_gid),
                       capture_output=True, text=True, timeout=30)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[-1]


def remove_domain(name):
    """Destroy and undefine the domain if libvirt knows it (leftovers of a killed run)."""
    state = virsh("domstate", name, check=False).strip()
    if state and state != "shut off":
        virsh("destroy", name, check=False)
    if state:
        virsh("undefine", name, check=False)


class LibvirtGuest(Guest):
    """The test guest as a libvirt domain: defined and started with virsh, its
    serial console a unix socket the test listens on and QEMU connects to."""

    def __init__(self, name, xml, console_path, mac, ip):
        super().__init__(name, None, mac, ip)
        self.xml, self.console_path = xml, console_path
        self.defined = False
        self.listener = self.conn = None

    def start(self, timeout=30):
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        remove_domain(self.name)
        if os.path.exists(self.console_path):
            os.unlink(self.console_path)
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.console_path)
        os.chmod(self.console_path, 0o666)   # QEMU runs as libvirt's qemu user
        self.listener.listen(1)
        xmlpath = os.path.join(os.path.dirname(self.console_path), f"{self.name}.xml")
        with open(xmlpath, "w") as f:
            f.write(self.xml)
        virsh("define", "--validate", xmlpath)
        self.defined = True
        try:
            virsh("start", self.name, timeout=timeout)
        except subprocess.TimeoutExpired:
            # QEMU 7.2 waits for its vhost-user socket before it starts (with
            # reconnect it tries every second), and libvirt waits for QEMU.
            raise TimeoutError(f"virsh start {self.name}: no answer within {timeout}s; "
                               f"{qemu_log_tail(self.name)}") from None
        self.booted_at = time.monotonic()
        self.listener.settimeout(timeout)
        try:
            self.conn, _ = self.listener.accept()
        except socket.timeout:
            raise TimeoutError(f"{self.name}: QEMU did not connect to its console "
                               f"{self.console_path} within {timeout}s; "
                               f"{qemu_log_tail(self.name)}") from None
        self.conn.settimeout(None)
        log = open(self.logpath, "wb")
        log.write(f"# virsh start {self.name}\n".encode())
        conn = self.conn
        self.console = Console(types.SimpleNamespace(
            stdout=types.SimpleNamespace(fileno=conn.fileno),
            stdin=types.SimpleNamespace(write=conn.sendall, flush=lambda: None)), log)

    def wait_ready(self, timeout=120):
        try:
            super().wait_ready(timeout)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; {qemu_log_tail(self.name)}") from None

    def alive(self):
        return self.defined and virsh("domstate", self.name, check=False).strip() == "running"

    def stop(self, timeout=30):
        """Destroy and undefine the domain; close the console."""
        self.ready = False
        if self.defined:
            # Also while `virsh start` still waits (state 'paused' or none yet):
            # destroy kills QEMU first, which ends the start job.
            pid = qemu_pid(self.name)
            virsh("destroy", self.name, check=False)
            virsh("undefine", self.name, check=False)
            self.defined = False
            if pid is not None and process_of(pid, self.name):
                os.kill(pid, signal.SIGKILL)   # libvirt could not: never leave it
        if self.console is not None:
            self.console.close()
            self.console.log.close()
            self.console = None
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()
        self.conn = self.listener = None
