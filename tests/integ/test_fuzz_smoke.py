#!/usr/bin/env python3
"""Fuzz smoke test: build the libFuzzer targets and run each for a short while.

`make fuzz-build` builds build/fuzz/fuzz_vu_msg and build/fuzz/fuzz_vring with
clang (installed with apt-get if missing); each then runs FUZZ_SMOKE_SECONDS
(default 60) from the seed corpus in tests/fuzz/corpus/<target>/. A crash, a
sanitizer report, a leak (memory or fd) or a timeout fails the target; the
input is kept as build/fuzz/<target>-crash-*.

`make check` runs this (bounded fuzzing in CI); `make fuzz FUZZ_SECONDS=N`
runs the targets for longer.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from hostutil import ensure_packages, log_dir, repo_path  # noqa: E402
from testlib import check, main, test  # noqa: E402

SECONDS = int(os.environ.get("FUZZ_SMOKE_SECONDS", "60"))
TARGETS = ["fuzz_vu_msg", "fuzz_vring"]
ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
       "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:"
                        "suppressions=tests/fuzz/ubsan.supp"}
_built = {}


def build():
    """make fuzz-build once; returns (ok, output)."""
    if "result" not in _built:
        ensure_packages(["clang", "libclang-rt-14-dev"])     # libFuzzer and sanitizers
        r = subprocess.run(["make", "fuzz-build"], cwd=repo_path("."), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        _built["result"] = (r.returncode == 0, r.stdout)
    return _built["result"]


def run_target(name):
    ok, out = build()
    check(ok, f"make fuzz-build failed:\n{out[-3000:]}")
    root = repo_path(".")
    corpus = os.path.join(root, "build", "fuzz", "corpus", name)
    os.makedirs(corpus, exist_ok=True)
    logpath = os.path.join(log_dir(), f"{name}.smoke.log")
    cmd = [os.path.join(root, "build", "fuzz", name), f"-max_total_time={SECONDS}",
           "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
           f"-artifact_prefix={os.path.join(root, 'build', 'fuzz', name)}-",
           corpus, os.path.join(root, "tests", "fuzz", "corpus", name)]
    with open(logpath, "w") as log:
        r = subprocess.run(cmd, cwd=root, env=dict(os.environ, **ENV), stdout=log,
                           stderr=subprocess.STDOUT, timeout=SECONDS + 120)
    with open(logpath, errors="replace") as f:
        text = f.read()
    stats = dict(line[len("stat::"):].split(":", 1) for line in text.splitlines()
                 if line.startswith("stat::"))
    stats = {k: v.strip() for k, v in stats.items()}
    print(f"  {name}: {stats.get('number_of_executed_units', '?')} inputs in {SECONDS} s, "
          f"peak RSS {stats.get('peak_rss_mb', '?')} MB, exit {r.returncode}")
    if r.returncode:
        print("\n".join(text.splitlines()[-40:]))
    check(r.returncode == 0, f"{name} found a problem (exit {r.returncode}); log {logpath}")


def make_tests():
    for name in TARGETS:
        def t(name=name):
            run_target(name)
        t.__name__ = name
        test(t)


make_tests()

if __name__ == "__main__":
    main()
