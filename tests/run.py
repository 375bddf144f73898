#!/usr/bin/env python3
"""Run every test; the last line is 'N passed, N failed, N skipped'.

Usage: tests/run.py [FILTER...]   FILTER matches test file names (substring).
Environment: B = build directory holding tests/ (default: build).

Environment: VMSW_SKIP = comma-separated test file names left out, each
counted as one skip; NAME:REASON gives that file's reason, a bare NAME has
VMSW_SKIP_WHY (the sanitizer pass leaves out the slowest QEMU guest tests and
the tests that run no sanitized code, which the plain pass runs).

Environment: VMSW_TSAN=1 (make check TSAN=1) runs only the programs whose
source holds the marker "vmsw-tsan" (a unit test's tests/unit/NAME.c, or the
script): the tests where threads share state, worth ThreadSanitizer's time.
A test joins that pass by saying so in a comment, e.g.
"# vmsw-tsan: two datapath threads". The others are not run, nor counted.

Order: unit binaries (build/tests/test_*, from tests/unit), integration
scripts (tests/integ/test_*.py), then the harness self-tests
(tests/selftest/test_*.py: the guest image, the frontend and the framework
against DPDK testpmd instead of vmswitch).

Each test program prints PASS/FAIL/SKIP lines and its own final line
'N passed, N failed, N skipped', which are summed here. A program that
crashes, exits nonzero with no failure counted, or ends without a count
counts as one failure; a SKIP line that does not say why ('SKIP name:
reason') counts as a failure too. Before the final line every skip and every
failure is listed again, with its reason.
"""

import glob
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = float(os.environ.get("VMSW_TEST_TIMEOUT", "1500"))
COUNT = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$")
SKIP_LINE = re.compile(r"^SKIP (\S+)(?:: (.*))?$")
FAIL_LINE = re.compile(r"^FAIL (\S+)")
TSAN_MARK = "vmsw-tsan"


def programs(build):
    """Unit test binaries first (fast), then integration scripts, then self-tests."""
    units = sorted(glob.glob(os.path.join(build, "tests", "test_*")))
    units = [u for u in units if os.access(u, os.X_OK) and not u.endswith(".d")]
    scripts = []
    for folder in ("integ", "selftest"):
        scripts += sorted(glob.glob(os.path.join(ROOT, "tests", folder, "test_*.py")))
    return [[u] for u in units] + [[sys.executable, s] for s in scripts]


def marked_for_tsan(cmd):
    """Does the test's source (the script, or tests/unit/NAME.c) hold TSAN_MARK?"""
    prog = cmd[-1]
    if not prog.endswith(".py"):
        prog = os.path.join(ROOT, "tests", "unit", os.path.basename(prog) + ".c")
    try:
        with open(prog, errors="replace") as f:
            return TSAN_MARK in f.read()
    except OSError:
        return False


def run(cmd, notes):
    """Run one test program, echoing its output; return (passed, failed, skipped).

    SKIP and FAIL lines are appended to notes as they come.
    """
    name = os.path.basename(cmd[-1])
    print(f"== {name}", flush=True)
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    timed_out = threading.Event()

    def kill_group():
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    watchdog = threading.Timer(TIMEOUT, kill_group)
    watchdog.start()
    last = None
    unexplained = 0
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        line = line.rstrip("\n")
        if m := COUNT.match(line):
            last = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
        elif m := SKIP_LINE.match(line):
            if (m.group(2) or "").strip():
                notes.append(f"{name}: {line}")
            else:
                unexplained += 1
                notes.append(f"{name}: FAIL {m.group(1)}: skipped without saying why")
        elif FAIL_LINE.match(line):
            notes.append(f"{name}: {line}")
    proc.wait()
    watchdog.cancel()
    print(f"== {name}: {time.time() - start:.0f} s", flush=True)
    if timed_out.is_set():
        why = f"killed after {TIMEOUT:.0f} s (VMSW_TEST_TIMEOUT)"
        notes.append(f"{name}: FAIL {name}: {why}")
        print(f"FAIL {name}: {why}")
        passed, failed, skipped = last or (0, 0, 0)
        return passed, failed + 1, skipped
    if last is None:
        notes.append(f"{name}: FAIL {name}: exited with {proc.returncode} without a count")
        print(f"FAIL {name}: exited with {proc.returncode} without a count")
        return 0, 1, 0
    passed, failed, skipped = last
    if unexplained:
        # Those tests were counted as skipped; they count as failed instead.
        skipped = max(skipped - unexplained, 0)
        failed += unexplained
    if proc.returncode and not failed:
        notes.append(f"{name}: FAIL {name}: exited with {proc.returncode}, no failure counted")
        failed = 1
    return passed, failed, skipped


def main():
    build = os.path.join(ROOT, os.environ.get("B", "build"))
    filters = sys.argv[1:]
    passed = failed = skipped = 0
    notes = []
    why = os.environ.get("VMSW_SKIP_WHY", "left out of this run")
    left_out = {}
    for entry in filter(None, os.environ.get("VMSW_SKIP", "").split(",")):
        n, _, reason = entry.partition(":")
        left_out[n.strip()] = reason.strip() or why
    tsan = os.environ.get("VMSW_TSAN") == "1"
    if tsan:
        print(f"== ThreadSanitizer pass: only the tests marked {TSAN_MARK}", flush=True)
    for cmd in programs(build):
        name = os.path.basename(cmd[-1])
        if filters and not any(f in name for f in filters):
            continue
        if tsan and not marked_for_tsan(cmd):
            continue
        if name in left_out:
            print(f"SKIP {name}: {left_out[name]}")
            notes.append(f"{name}: SKIP {name}: {left_out[name]}")
            skipped += 1
            continue
        p, f, s = run(cmd, notes)
        passed += p
        failed += f
        skipped += s
    if notes:
        print("== not passed:")
        for note in notes:
            print(f"  {note}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
