#!/usr/bin/env python3
"""bench/pull/alternate.py REF RUNS BERTH...: pulls REF with each berth
binary in turn, RUNS rounds (fresh store and `sync` before every pull, so
load drift hits each binary alike), and prints each one's median and
minimum wall time. For A/B runs of two builds against a registry that
bench/pull/run.sh (or the caller) serves, e.g.
  bench/pull/alternate.py 127.0.0.1:5000/bench/big:1 12 ./old-berth target/release/berth
Registries on 127.0.0.0/8 are plain HTTP for berth without being told."""
import os, shutil, statistics, subprocess, sys, tempfile, time

ref, runs, bins = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
root = tempfile.mkdtemp(prefix="berth-pull-ab.")
times = {b: [] for b in bins}
try:
    for _ in range(runs):
        for b in bins:
            shutil.rmtree(os.path.join(root, "store"), ignore_errors=True)
            os.sync()
            t = time.monotonic()
            subprocess.run([b, "--root", os.path.join(root, "store"), "pull", "-q", ref],
                           stdout=subprocess.DEVNULL, check=True)
            times[b].append(time.monotonic() - t)
finally:
    shutil.rmtree(root, ignore_errors=True)
for b in bins:
    print(f"{b}: median {statistics.median(times[b]):.3f} s, min {min(times[b]):.3f} s")
