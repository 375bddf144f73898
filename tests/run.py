#!/usr/bin/env python3
"""Run every test: unit binaries, then integration scripts; print 'N passed, N failed'.

Usage: tests/run.py [FILTER...]   FILTER matches test file names (substring).
Environment: B = build directory holding tests/ (default: build).
Each test program prints PASS/FAIL/SKIP lines and its own final count line,
which is summed here. A program that crashes counts as one failure.
"""

import glob
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNT = re.compile(r"^(\d+) passed, (\d+) failed\s*$")


def programs(build):
    """Unit test binaries first (fast), then integration scripts."""
    units = sorted(glob.glob(os.path.join(build, "tests", "test_*")))
    units = [u for u in units if os.access(u, os.X_OK) and not u.endswith(".d")]
    integ = sorted(glob.glob(os.path.join(ROOT, "tests", "integ", "test_*.py")))
    return [[u] for u in units] + [[sys.executable, i] for i in integ]


def run(cmd):
    """Run one test program, echoing its output; return (passed, failed)."""
    name = os.path.basename(cmd[-1])
    print(f"== {name}", flush=True)
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    last = None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        m = COUNT.match(line)
        if m:
            last = (int(m.group(1)), int(m.group(2)))
    proc.wait()
    print(f"== {name}: {time.time() - start:.0f} s", flush=True)
    if last is None:
        print(f"FAIL {name}: exited with {proc.returncode} without a count")
        return 0, 1
    if proc.returncode and not last[1]:
        return last[0], 1
    return last


def main():
    build = os.path.join(ROOT, os.environ.get("B", "build"))
    filters = sys.argv[1:]
    passed = failed = 0
    for cmd in programs(build):
        if filters and not any(f in os.path.basename(cmd[-1]) for f in filters):
            continue
        p, f = run(cmd)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
