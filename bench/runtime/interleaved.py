#!/usr/bin/env python3
"""bench/runtime/interleaved.py BUNDLE [RUNS]: `run` of the bundle with
berth-oci, crun and runc in turn, RUNS rounds, so that a busy machine's load
drift hits every runtime alike (hyperfine measures one after the other).
Prints median, p10 and p90 of each and the ratios of the medians to crun."""
import os, shutil, statistics, subprocess, sys, tempfile, time

bundle = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
here = os.path.dirname(os.path.abspath(__file__))
berth = os.path.join(here, "..", "..", "target", "release", "berth-oci")
state = tempfile.mkdtemp(prefix="berth-bench-state.")
rts = {"berth-oci": berth, "crun": "crun", "runc": "runc"}
times = {k: [] for k in rts}
names = list(rts)
for i in range(runs):
    # Rotate the order every round: a runtime's teardown (the kernel frees
    # namespaces and cgroups after it returns) slows whatever runs next.
    for name in names[i % 3:] + names[:i % 3]:
        exe = rts[name]
        t = time.perf_counter()
        subprocess.run([exe, "--root", f"{state}/{name}", "run", "--bundle", bundle, f"{name}-{i}"],
                       check=True, stdout=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - t)
# The containers are gone (`run` deletes them); their state dirs are empty.
shutil.rmtree(state, ignore_errors=True)
crun = statistics.median(times["crun"])
for name, v in times.items():
    v.sort()
    m = statistics.median(v)
    print(f"{name:10s} median {m*1000:6.2f} ms  p10 {v[len(v)//10]*1000:6.2f}  "
          f"p90 {v[9*len(v)//10]*1000:6.2f}  x{m/crun:.2f} of crun")
