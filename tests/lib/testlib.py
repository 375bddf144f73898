"""A tiny framework for integration tests.

    from testlib import test, check, skip, main

    @test
    def ping_works():
        check(1 + 1 == 2, "arithmetic is broken")

    if __name__ == "__main__":
        main()

Each test prints 'PASS name', 'FAIL name: reason' or 'SKIP name: reason';
the last line is 'N passed, N failed, N skipped' (tests/run.py sums these).
A skip must say why: skip() without a reason is a failure. Arguments to
main() (default sys.argv) are substrings; only tests whose name contains one
of them run.
"""

import sys
import traceback

from hostutil import is_root

TESTS = []


class TestFailure(Exception):
    """Raised by check() when a condition does not hold."""


class TestSkipped(Exception):
    """Raised by skip() to skip the current test."""


def test(func):
    """Decorator: register func as a test named after the function."""
    TESTS.append(func)
    return func


def check(cond, msg):
    """Fail the current test with msg unless cond is true."""
    if not cond:
        raise TestFailure(msg)


def skip(reason):
    """Skip the current test, saying why (e.g. "no /dev/net/tun")."""
    if not str(reason).strip():
        raise TestFailure("skipped without a reason")
    raise TestSkipped(reason)


def require_root():
    """Skip the current test unless running as root."""
    if not is_root():
        skip("needs root")


def run_test(func):
    """Run one test; return 'pass', 'fail' or 'skip' after printing its result."""
    name = func.__name__
    try:
        func()
    except TestSkipped as e:
        print(f"SKIP {name}: {e}", flush=True)
        return "skip"
    except TestFailure as e:
        print(f"FAIL {name}: {e}", flush=True)
        return "fail"
    except Exception as e:  # an unexpected error is a failure, with its traceback
        traceback.print_exc()
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        return "fail"
    print(f"PASS {name}", flush=True)
    return "pass"


def selected(filters):
    """Registered tests whose name contains any filter (all tests if no filter)."""
    return [t for t in TESTS if not filters or any(f in t.__name__ for f in filters)]


def main(argv=None):
    """Run the selected tests, print the summary and exit nonzero on failure."""
    filters = sys.argv[1:] if argv is None else argv
    results = [run_test(t) for t in selected(filters)]
    print(f"{results.count('pass')} passed, {results.count('fail')} failed, "
          f"{results.count('skip')} skipped", flush=True)
    sys.exit(1 if results.count("fail") else 0)
