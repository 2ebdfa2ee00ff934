#!/usr/bin/env python3
"""bench/runtime/ab.py OLD NEW [RUNS]: `run` of /bin/true with two berth-oci
builds and crun in turn (the order rotated every round, as interleaved.py),
on one busybox bundle made by scripts/mkbundle.sh. Prints each one's median
and its ratio to crun: the before/after of a change on a noisy machine."""
import os, shutil, statistics, subprocess, sys, tempfile, time

old, new = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 150
here = os.path.dirname(os.path.abspath(__file__))
work = tempfile.mkdtemp(prefix="berth-ab.")
bundle = os.path.join(work, "b")
subprocess.run([os.path.join(here, "..", "..", "scripts", "mkbundle.sh"), bundle, "/bin/true"],
               check=True, stdout=subprocess.DEVNULL, env={**os.environ, "BERTH_OCI": new})
rts = {"old": old, "new": new, "crun": "crun"}
times = {k: [] for k in rts}
names = list(rts)
try:
    for i in range(runs):
        for name in names[i % 3:] + names[:i % 3]:
            t = time.perf_counter()
            subprocess.run([rts[name], "--root", f"{work}/state-{name}", "run", "--bundle", bundle,
                            f"{name}-{i}"], check=True, stdout=subprocess.DEVNULL, cwd=bundle)
            times[name].append(time.perf_counter() - t)
finally:
    shutil.rmtree(work, ignore_errors=True)
crun = statistics.median(times["crun"])
for name, v in times.items():
    m = statistics.median(v)
    print(f"{name:5} median {m * 1000:6.2f} ms  x{m / crun:.2f} of crun")
