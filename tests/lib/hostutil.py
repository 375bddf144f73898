"""Host-side helpers shared by the test harness: paths, packages, processes."""

import os
import signal
import socket
import subprocess
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def repo_path(path):
    """Return path resolved against the repository root if it is relative."""
    return path if os.path.isabs(path) else os.path.join(REPO_ROOT, path)


def log_dir():
    """Return build/test-logs (created on demand)."""
    path = repo_path("build/test-logs")
    os.makedirs(path, exist_ok=True)
    return path


def is_root():
    """True when running as uid 0."""
    return os.geteuid() == 0


def _apt_get(args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(["apt-get", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def apt_update():
    """apt-get update (needed on a clean machine before the first install)."""
    _apt_get(["update"])


def apt_install(packages):
    """apt-get install -y packages; on failure run apt-get update and retry once."""
    if _apt_get(["install", "-y", *packages]).returncode == 0:
        return
    apt_update()
    result = _apt_get(["install", "-y", *packages])
    if result.returncode != 0:
        raise RuntimeError(f"apt-get install {' '.join(packages)} failed: {result.stderr}")


def is_installed(package):
    """True when dpkg reports package as installed."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return result.stdout.strip() == "install ok installed"


def ensure_packages(packages):
    """apt-get install whichever of packages is not installed yet."""
    missing = [pkg for pkg in packages if not is_installed(pkg)]
    if missing:
        apt_install(missing)


def wait_for_path(path, timeout, proc=None):
    """Wait until path exists; fail early if proc (a Popen) exits."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {path} appeared")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout}s")
        time.sleep(0.1)


def free_tcp_port():
    """Return a TCP port on localhost that is currently free."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remove_file(path):
    """Unlink path if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def stop_process(proc, timeout=5.0, sig=signal.SIGTERM):
    """Send sig to proc, SIGKILL it after timeout, and always reap it."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
    return proc.returncode
