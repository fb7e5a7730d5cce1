"""Shared by the peer benchmarks in this directory: timing, JSON lines, a watchdog.

Every figure is the median of TRIALS timed trials of about `seconds` each, after an untimed
warm-up, as ferry-bench measures its own figures. Each JSON line goes to stdout as soon as it
is measured; diagnostics go to stderr.
"""
import json
import os
import statistics
import sys
import threading
import time

TRIALS = 3
_printed = set()
_lock = threading.Lock()


def emit(obj):
    """Prints one JSON line (flushed) and remembers its name."""
    with _lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
        _printed.add(obj.get("name"))


def emit_skipped(names, why):
    """Prints a skipped line for every name in `names` not printed yet."""
    for name in names:
        if name not in _printed:
            emit({"name": name, "skipped": why})


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _quietly(f):
    try:
        f()
    except Exception:
        pass


def watchdog(seconds, names, cleanup=None):
    """After `seconds`, prints skipped lines for the names not printed yet and exits the
    process (status 3), whatever the benchmark is waiting on."""
    def fire():
        emit_skipped(names, "timed out after %d s" % seconds)
        if cleanup is not None:  # given 5 s at most
            c = threading.Thread(target=lambda: _quietly(cleanup), daemon=True)
            c.start()
            c.join(5)
        os._exit(3)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def rate(run_once, seconds, warmup_seconds):
    """Median over TRIALS of (operations per second): run_once() performs some operations
    and returns how many; a trial calls it until `seconds` have passed (at least once)."""
    deadline = time.perf_counter() + warmup_seconds
    while True:
        run_once()
        if time.perf_counter() >= deadline:
            break
    rates = []
    for _ in range(TRIALS):
        done = 0
        t0 = time.perf_counter()
        while True:
            done += run_once()
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        rates.append(done / elapsed)
    print("trials (per s): " + ", ".join("%.1f" % r for r in rates), file=sys.stderr)
    return statistics.median(rates)


def parse_args(argv, description):
    import argparse
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--seconds", type=float, default=1.0, help="length of a trial (default 1)")
    p.add_argument("--batch", type=int, default=1000,
                   help="tasks submitted before awaiting them, async figure (default 1000)")
    p.add_argument("--quick", action="store_true", help="trials of 0.3 s")
    p.add_argument("--timeout", type=float, default=120,
                   help="give up (skipped lines) after this many seconds (default 120)")
    a = p.parse_args(argv)
    if a.quick:
        a.seconds = min(a.seconds, 0.3)
    return a
