"""Build the tiny guest: a Debian cloud kernel plus a busybox initramfs.

ensure_assets() returns dict(kernel=..., initrd=...). The kernel is only
downloaded when missing; the initramfs is rebuilt when missing or when this
file changed (its hash is kept in initrd.stamp).
"""

import glob
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import subprocess

from hostutil import apt_update, ensure_packages, repo_path

KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
HOST_PACKAGES = ["busybox-static", "iperf3", "ethtool", "zstd"]
# Modules the guest needs; their dependencies are added automatically.
WANTED_MODULES = ["virtio_pci", "virtio_net"]
GUEST_BINARIES = ["/usr/bin/iperf3", "/usr/sbin/ethtool"]

# /init is busybox init (not a plain script) because the reboot and poweroff
# applets signal PID 1; it runs rcS once per boot and respawns the shell.
INITTAB = """\
::sysinit:/etc/init.d/rcS
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot
"""

PROFILE = """\
export PATH=/bin
export PS1='vmsw# '
"""

# Kernel command line parameters read here: vmsw.ip=ADDR/LEN, vmsw.name=NAME.
RCS = """\
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /tmp /run
mount -t devpts devpts /dev/pts
for m in $(cat /etc/modules.order); do insmod /lib/modules/$m.ko; done
for word in $(cat /proc/cmdline); do
    case $word in
        vmsw.ip=*) ip=${word#vmsw.ip=} ;;
        vmsw.name=*) hostname "${word#vmsw.name=}" ;;
    esac
done
ip link set lo up
if [ -n "$ip" ]; then
    ip addr add "$ip" dev eth0
    ip link set eth0 up
    for i in $(seq 50); do
        [ "$(cat /sys/class/net/eth0/operstate)" = up ] && break
        sleep 0.1
    done
fi
echo "vmsw-guest-booted $(hostname)"
"""


def ensure_assets(builddir="build/guest"):
    """Return dict(kernel=..., initrd=...), building whatever is missing."""
    builddir = repo_path(builddir)
    os.makedirs(builddir, exist_ok=True)
    ensure_packages(HOST_PACKAGES)
    kernel = os.path.join(builddir, "vmlinuz")
    root = os.path.join(builddir, "kernel-root")
    if not os.path.exists(kernel) or not os.path.isdir(root):
        extract_kernel_package(builddir, root)
        shutil.copy(glob.glob(os.path.join(root, "boot", "vmlinuz-*"))[0], kernel)
    initrd = os.path.join(builddir, "initrd.gz")
    stamp = os.path.join(builddir, "initrd.stamp")
    if not os.path.exists(initrd) or read_text(stamp) != source_hash():
        build_initramfs(root, initrd + ".tmp")
        os.replace(initrd + ".tmp", initrd)
        with open(stamp, "w") as f:
            f.write(source_hash())
    return dict(kernel=kernel, initrd=initrd)


def read_text(path):
    """Return the content of path, or '' if it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def source_hash():
    """Hash of this file, so that changes to the image recipe force a rebuild."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --- kernel ------------------------------------------------------------------

def kernel_dependency():
    """The linux-image-*-cloud-amd64 package the meta package depends on, or None."""
    out = subprocess.run(["apt-cache", "depends", KERNEL_META_PACKAGE],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    match = re.search(r"Depends:\s*(linux-image-\S+-cloud-amd64)", out)
    return match.group(1) if match else None


def resolve_kernel_package():
    """Return the concrete kernel package, running apt-get update if needed."""
    package = kernel_dependency()
    if package is None:
        apt_update()
        package = kernel_dependency()
    if package is None:
        raise RuntimeError(f"cannot resolve the kernel package behind {KERNEL_META_PACKAGE}")
    return package


def apt_download(package, directory):
    """apt-get download package into directory, capturing its chatter."""
    return subprocess.run(["apt-get", "download", package], cwd=directory, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def extract_kernel_package(builddir, root):
    """apt-get download the cloud kernel and dpkg -x it into root."""
    package = resolve_kernel_package()
    debdir = os.path.join(builddir, "debs")
    os.makedirs(debdir, exist_ok=True)
    for old in glob.glob(os.path.join(debdir, "*.deb")):
        os.unlink(old)
    if apt_download(package, debdir).returncode != 0:
        apt_update()
        result = apt_download(package, debdir)
        if result.returncode != 0:
            raise RuntimeError(f"apt-get download {package} failed: {result.stdout}")
    shutil.rmtree(root, ignore_errors=True)
    deb = glob.glob(os.path.join(debdir, package + "_*.deb"))[0]
    subprocess.run(["dpkg", "-x", deb, root], check=True)


def module_dir(root):
    """Return lib/modules/<release> inside the extracted kernel package."""
    return glob.glob(os.path.join(root, "lib", "modules", "*"))[0]


def module_name(path):
    """virtio_net for .../virtio_net.ko.xz (dashes normalised to underscores)."""
    return os.path.basename(path).split(".ko")[0].replace("-", "_")


def module_index(moddir):
    """Map module name -> path of its (possibly compressed) .ko file."""
    index = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, "kernel")):
        for name in files:
            if re.search(r"\.ko(\.xz|\.zst|\.gz)?$", name):
                index[module_name(name)] = os.path.join(dirpath, name)
    return index


def builtin_modules(moddir):
    """Names of modules that are built into the kernel (modules.builtin)."""
    with open(os.path.join(moddir, "modules.builtin")) as f:
        return {module_name(line.strip()) for line in f if line.strip()}


def read_module(path):
    """Return the uncompressed bytes of a .ko, .ko.xz, .ko.gz or .ko.zst file."""
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq", path], stdout=subprocess.PIPE, check=True).stdout
    opener = {".xz": lzma.open, ".gz": gzip.open}.get(os.path.splitext(path)[1], open)
    with opener(path, "rb") as f:
        return f.read()


def module_depends(data):
    """Parse the 'depends=' entry of a module's .modinfo section."""
    match = re.search(rb"\0depends=([^\0]*)\0", data)
    deps = match.group(1).decode() if match else ""
    return [d.replace("-", "_") for d in deps.split(",") if d]


def resolve_modules(moddir, wanted):
    """Return [(name, bytes)] for wanted modules and dependencies, dependencies first."""
    index, builtin = module_index(moddir), builtin_modules(moddir)
    ordered, seen = [], set()

    def visit(name):
        if name in seen or name in builtin:
            return
        seen.add(name)
        data = read_module(index[name])
        for dep in module_depends(data):
            visit(dep)
        ordered.append((name, data))

    for name in wanted:
        visit(name)
    return ordered


# --- initramfs -----------------------------------------------------------------

class CpioWriter:
    """Minimal writer for the newc cpio format used by the kernel's initramfs."""

    def __init__(self, fileobj):
        self.f = fileobj
        self.ino = 1
        self.dirs = {""}

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        self.mkdirs(os.path.dirname(name))
        namebytes = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
                  0, 0, rdev[0], rdev[1], len(namebytes), 0]
        self.ino += 1
        header = b"070701" + b"".join(b"%08x" % v for v in fields)
        self.f.write(header + namebytes + b"\0" * (-(len(header) + len(namebytes)) % 4))
        self.f.write(data + b"\0" * (-len(data) % 4))

    def mkdirs(self, path):
        """Create path and its parents unless already written."""
        if path in self.dirs:
            return
        self.dirs.add(path)
        self._entry(path, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def shared_libraries(binary):
    """Paths of the shared libraries (and loader) binary needs, according to ldd."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True, check=True).stdout
    return re.findall(r"(/\S+) \(0x", out)


def busybox_binary():
    """Path of the statically linked busybox from the busybox-static package."""
    out = subprocess.run(["dpkg", "-L", "busybox-static"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return next(p for p in out.split() if p.endswith("bin/busybox"))


def add_busybox(cpio):
    """Add busybox as /bin/busybox plus a symlink per applet, and /init."""
    busybox = busybox_binary()
    cpio.file("bin/busybox", read_bytes(busybox), 0o755)
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            cpio.symlink("bin/" + applet, "busybox")
    cpio.symlink("init", "bin/busybox")


def add_binaries(cpio, binaries):
    """Add each binary under /bin and every shared library at its host path."""
    libs = set()
    for binary in binaries:
        cpio.file("bin/" + os.path.basename(binary), read_bytes(binary), 0o755)
        libs.update(shared_libraries(binary))
    for lib in sorted(libs):
        cpio.file(lib.lstrip("/"), read_bytes(os.path.realpath(lib)), 0o755)


def add_modules(cpio, moddir):
    """Add the needed kernel modules, uncompressed, plus their load order."""
    modules = resolve_modules(moddir, WANTED_MODULES)
    for name, data in modules:
        cpio.file(f"lib/modules/{name}.ko", data)
    cpio.file("etc/modules.order", "".join(name + "\n" for name, _ in modules).encode())


def build_initramfs(root, path):
    """Write the gzip-compressed newc initramfs to path."""
    with gzip.open(path, "wb", compresslevel=6) as f:
        cpio = CpioWriter(f)
        for d in ["dev", "proc", "sys", "tmp", "run", "root"]:
            cpio.mkdirs(d)
        cpio.chardev("dev/console", 5, 1)
        add_busybox(cpio)
        add_binaries(cpio, GUEST_BINARIES)
        add_modules(cpio, module_dir(root))
        cpio.file("etc/inittab", INITTAB.encode())
        cpio.file("etc/profile", PROFILE.encode())
        cpio.file("etc/init.d/rcS", RCS.encode(), 0o755)
        cpio.finish()


if __name__ == "__main__":
    print(ensure_assets())
