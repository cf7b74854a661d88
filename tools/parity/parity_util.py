"""Shared pieces of the parity scripts: running minigraph, measuring
differences, printing tables."""

import os
import subprocess
import sys
import time

import numpy as np

# Where `./bazelw build //tools/minigraph` puts the binary, from the
# repository root (this folder's grandparent). bazel-bin follows the last
# build's configuration (a sanitizer build repoints it), so the plain
# optimised output is the fallback.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _default_minigraph():
    relative = os.path.join("tools", "minigraph", "minigraph")
    for bin_dir in ("bazel-bin", os.path.join("bazel-out", "k8-opt", "bin")):
        path = os.path.join(REPO_ROOT, bin_dir, relative)
        if os.path.exists(path):
            return path
    return os.path.join(REPO_ROOT, "bazel-bin", relative)


DEFAULT_MINIGRAPH = _default_minigraph()

# Relative tolerances (max |difference| / max |reference| per tensor): the
# float64 run has only summation-order rounding, ~1e-15 per operation; the
# float32 run is measured against the float64 reference, where float32
# rounding through a few layers stays well below 1e-4.
TOLERANCE = {"f64": 1e-10, "f32": 1e-4}


def run_minigraph(binary, args, quiet=False):
    """Runs `binary args...`; returns (seconds, stdout). Exits with its
    message if it fails."""
    if not os.path.exists(binary):
        sys.exit(f"minigraph binary {binary} not found: build it with "
                 "`./bazelw build //tools/minigraph` or pass --minigraph")
    command = [binary] + [str(a) for a in args]
    if not quiet:
        print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"minigraph failed (exit {result.returncode}):\n"
                 f"{result.stdout}{result.stderr}")
    return seconds, result.stdout


def max_abs(a):
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def difference(got, want):
    """(max |got - want|, that divided by max |want|) over a tensor; a shape
    mismatch is reported as infinite."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf"), float("inf")
    if not np.all(np.isfinite(got)) or not np.all(np.isfinite(want)):
        same = np.array_equal(np.isnan(got), np.isnan(want)) and \
            np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
        return (0.0, 0.0) if same else (float("inf"), float("inf"))
    diff = max_abs(got - want)
    scale = max_abs(want)
    return diff, (diff / scale if scale > 0 else diff)


def print_table(header, rows):
    """Left-aligned first column, right-aligned others."""
    table = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def fmt(x):
    return f"{x:.2e}"


def peak_rss_mb(children=False):
    """Peak resident set size of this process (or of its finished
    children), in MB."""
    import resource
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0
