#!/usr/bin/env python3
"""Fuzz smoke test: build the libFuzzer targets and run each for a short while.

`make fuzz-build` builds every target of the Makefile's FUZZ_TARGETS with clang
(installed with apt-get if missing), and each runs for a while: the vhost-user
messages and rings (fuzz_vu_msg, fuzz_vring) 60 s each, the control requests
against a live switch (fuzz_ctl) 30 s, every other target (port specs, config
file, replies, the exporter's parsing: far more inputs a second, smaller
corpora) 20 s.
Each runs from its seed corpus in tests/fuzz/corpus/<target>/, with
tests/fuzz/<target>.dict where there is one; FUZZ_SMOKE_SECONDS=N runs every
target N seconds instead. A crash, a sanitizer report, a leak (memory or fd),
a broken invariant of the target or a timeout fails the target; the input is
kept as build/fuzz/<target>-crash-* (or -leak-*, -timeout-*).

`make check` runs this (bounded fuzzing in CI); `make fuzz FUZZ_SECONDS=N`
runs the targets for longer.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from hostutil import ensure_packages, log_dir, repo_path  # noqa: E402
from testlib import check, main, test  # noqa: E402

# Seconds per target; a target of FUZZ_TARGETS not named here runs 20 s.
SECONDS = {"fuzz_vu_msg": 60, "fuzz_vring": 60, "fuzz_ctl": 30}


def fuzz_targets():
    """The Makefile's FUZZ_TARGETS, each with its seconds."""
    with open(repo_path("Makefile")) as f:
        m = re.search(r"^FUZZ_TARGETS\s*:=(.*)$", f.read(), re.M)
    names = m.group(1).split() if m else []
    if "FUZZ_SMOKE_SECONDS" in os.environ:
        return {n: int(os.environ["FUZZ_SMOKE_SECONDS"]) for n in names}
    return {n: SECONDS.get(n, 20) for n in names}


ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
       "LSAN_OPTIONS": "suppressions=" + repo_path("tests/fuzz/lsan.supp"),
       "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:"
                        "suppressions=" + repo_path("tests/fuzz/ubsan.supp")}
_built = {}


def build():
    """make fuzz-build once; returns (ok, output)."""
    if "result" not in _built:
        # libFuzzer and sanitizers; json-c for fuzz_ctl's check of JSON answers;
        # libmicrohttpd, which the exporter's object (in every target) links
        ensure_packages(["clang", "libclang-rt-14-dev", "libjson-c-dev",
                         "libmicrohttpd-dev"])
        r = subprocess.run(["make", "fuzz-build"], cwd=repo_path("."), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        _built["result"] = (r.returncode == 0, r.stdout)
    return _built["result"]


def run_target(name, seconds):
    ok, out = build()
    check(ok, f"make fuzz-build failed:\n{out[-3000:]}")
    root = repo_path(".")
    corpus = os.path.join(root, "build", "fuzz", "corpus", name)
    os.makedirs(corpus, exist_ok=True)
    logpath = os.path.join(log_dir(), f"{name}.smoke.log")
    dictionary = os.path.join(root, "tests", "fuzz", f"{name}.dict")
    cmd = [os.path.join(root, "build", "fuzz", name), f"-max_total_time={seconds}",
           "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
           f"-artifact_prefix={os.path.join(root, 'build', 'fuzz', name)}-"]
    if os.path.exists(dictionary):
        cmd.append(f"-dict={dictionary}")
    cmd += [corpus, os.path.join(root, "tests", "fuzz", "corpus", name)]
    with open(logpath, "w") as log:
        r = subprocess.run(cmd, cwd=root, env=dict(os.environ, **ENV), stdout=log,
                           stderr=subprocess.STDOUT, timeout=seconds + 120)
    with open(logpath, errors="replace") as f:
        text = f.read()
    stats = dict(line[len("stat::"):].split(":", 1) for line in text.splitlines()
                 if line.startswith("stat::"))
    stats = {k: v.strip() for k, v in stats.items()}
    print(f"  {name}: {stats.get('number_of_executed_units', '?')} inputs in {seconds} s, "
          f"peak RSS {stats.get('peak_rss_mb', '?')} MB, exit {r.returncode}")
    if r.returncode:
        print("\n".join(text.splitlines()[-40:]))
    check(r.returncode == 0, f"{name} found a problem (exit {r.returncode}); log {logpath}")


def make_tests():
    targets = fuzz_targets()
    if not targets:
        def fuzz_targets_listed():
            check(False, "no FUZZ_TARGETS := line in the Makefile")
        test(fuzz_targets_listed)
    for name, seconds in targets.items():
        def t(name=name, seconds=seconds):
            run_target(name, seconds)
        t.__name__ = name
        test(t)


make_tests()

if __name__ == "__main__":
    main()
