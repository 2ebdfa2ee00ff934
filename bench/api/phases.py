# bench/api/phases.py PROXY_SOCK RUNS LOG [RUN ARGS]: runs `docker run --rm ARGS localhost/bench:1
# true` through bench/api/proxy.py (listening on PROXY_SOCK, logging to LOG) RUNS times and
# prints the median time of each request and answer from the CLI's exec (ms).
import subprocess, sys, time, statistics, os, re
sock, runs, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:] or ["--network", "none"]
docker = ["/usr/local/bin/docker", "-H", f"unix://{sock}"]
res = []
for i in range(runs + 2):
    off = os.path.getsize(log)
    t0 = time.monotonic() * 1000
    subprocess.run(docker + ["run", "--rm", *args, "localhost/bench:1", "true"], check=True)
    t1 = time.monotonic() * 1000
    time.sleep(0.3)
    with open(log) as f:
        f.seek(off); lines = f.read().splitlines()
    ev = {}
    conns = {}
    for l in lines:
        p = l.split(" ", 4)
        if len(p) < 3 or not p[0].replace(".", "").isdigit():
            continue
        t, c, d = float(p[0]), p[1], p[2]
        rest = p[4] if len(p) > 4 else ""
        if d == "accept":
            ev.setdefault("connect1", t); continue
        if d == ">" and len(p) > 4:
            m = re.match(r"(\w+) /(?:v[\d.]+/)?(\S+?)(?:\?| |$)", rest)
            if m:
                path = m.group(2)
                kind = "ping" if "_ping" in path else path.split("/")[-1] if path.startswith("containers/") else path
                conns[c] = kind
                ev.setdefault(kind + ">", t)
        if d == "<" and c in conns:
            k = conns[c]
            if rest.startswith("HTTP/"):
                ev.setdefault(k + "<", t)
            elif k == "wait":
                ev.setdefault("wait body", t)
        if d == "<" and p[3] == "EOF" and c in conns and conns[c] == "attach":
            ev.setdefault("attach EOF", t)
    ev["exit"] = t1
    if i >= 2:
        res.append({k: v - t0 for k, v in ev.items()})
keys = ["connect1", "ping>", "ping<", "create>", "create<", "attach>", "attach<", "wait>", "wait<", "start>", "start<", "wait body", "attach EOF", "exit"]
print("phase (ms from the CLI's exec, median of %d)" % len(res))
for k in keys:
    vals = [r[k] for r in res if k in r]
    if vals:
        print(f"  {k:12s} {statistics.median(vals):7.1f}")
