#!/usr/bin/env bash
# scripts/gen-link-order.sh: writes scripts/link-order/berth-oci.txt, the
# functions that berth-oci's common commands execute, which
# scripts/berth-gcc places together at link time (a run then maps a
# few hundred KiB of code rather than most of the binary). Counts calls
# with a uprobe on every function of the release build (which keeps its
# symbol table; bpftrace, from Debian), while the commands run: `run` with and without
# a pid namespace (without, the intermediate process is the container's
# init, so that path is covered too), create/start/state/exec/ps/pause/
# resume/list/kill/delete, run -d. Needs root; attaching thousands of
# uprobes takes minutes. Run it after changes that move much code; a stale
# list only costs locality, never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v bpftrace >/dev/null || { echo "needs bpftrace (apt-get install bpftrace)" >&2; exit 1; }
cargo build --release -p berth-oci
bin=$PWD/target/release/berth-oci
work=$(mktemp -d /tmp/berth-order.XXXXXX)
bt=
cleanup() { [ -n "$bt" ] && kill "$bt" 2>/dev/null; "$bin" --root "$work/state" delete -f o3 >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
BERTH_OCI=$bin scripts/mkbundle.sh "$work/b" /bin/true >/dev/null
cp -a "$work/b" "$work/nopid"
python3 - "$work/nopid/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
json.dump(c, open(sys.argv[1], "w"))
PY
# Every sized function (zero-sized assembly labels cannot be probed).
nm -S "$bin" | python3 -c '
import sys
names = sorted({p[3] for p in (l.split() for l in sys.stdin)
                if len(p) == 4 and p[2] in "tT" and int(p[1], 16) > 0})
b = sys.argv[1]
# bpftrace reads `$` in a probe name as a variable and `.` as a separator
# (legacy-mangled generic functions have both: `_ZN..$LT$..`), and quoted
# names attach without firing: `*` (a wildcard standing for that one
# character) works; probes report the full names they matched.
pats = sorted({n.replace("$", "*").replace(".", "*") for n in names})
print(",\n".join(f"uprobe:{b}:" + n for n in pats) + " { @[probe] = count(); }")
' "$bin" > "$work/probes.bt"
ulimit -l unlimited 2>/dev/null || true
BPFTRACE_MAX_BPF_PROGS=20000 BPFTRACE_MAX_PROBES=20000 bpftrace "$work/probes.bt" > "$work/counts" 2>"$work/bt.err" &
bt=$!
# Attached once its descriptors stop growing.
last=-1
while sleep 10; do
    kill -0 "$bt" 2>/dev/null || { cat "$work/bt.err" >&2; exit 1; }
    n=$(ls "/proc/$bt/fd" | wc -l)
    [ "$n" -eq "$last" ] && [ "$n" -gt 100 ] && break
    last=$n
done
st=$work/state
(cd "$work/b" && "$bin" --root "$st" run o1)
(cd "$work/nopid" && "$bin" --root "$st" run o2)
(cd "$work/b" && python3 - config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sleep", "30"]
json.dump(c, open(sys.argv[1], "w"))
PY
"$bin" --root "$st" create o3
"$bin" --root "$st" start o3
"$bin" --root "$st" state o3 >/dev/null
"$bin" --root "$st" exec o3 true
"$bin" --root "$st" ps o3 >/dev/null
"$bin" --root "$st" pause o3
"$bin" --root "$st" resume o3
"$bin" --root "$st" list >/dev/null
"$bin" --root "$st" kill o3 KILL
sleep 0.5
"$bin" --root "$st" delete o3
"$bin" --root "$st" run -d o4
"$bin" --root "$st" delete -f o4)
kill -INT "$bt"
wait "$bt" || true
bt=
out=scripts/link-order/berth-oci.txt
# NAME SIZE: berth-gcc matches by size when a later build moved the hashes.
sed -n 's/^@\[uprobe:[^:]*:\(.*\)\]: *[0-9]*$/\1/p' "$work/counts" |
    awk 'NR == FNR { if (NF == 4) size[$4] = $2; next } { print $1 (($1 in size) ? " " size[$1] : "") }' \
        <(nm -S "$bin") - > "$out.tmp"
mv "$out.tmp" "$out"
echo "$(wc -l < "$out") functions in $out"
