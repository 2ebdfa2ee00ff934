#!/usr/bin/env bash
# bench/runtime/run.sh: berth-oci against crun and runc on the same busybox
# bundle, in one run: create+start+wait+delete, and plain `run`, of /bin/true.
# Prints hyperfine's table, the ratios to crun, and peak RSS of one `run`.
# Usage: bench/runtime/run.sh [RUNS]   (as root)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
RUNS=${1:-200}
./scripts/deps.sh --test
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build --release -p berth-oci >/dev/null
BERTH=$PWD/target/release/berth-oci
# crun 1.8 refuses this hybrid host unless hugetlb has a v1 hierarchy.
./scripts/hugetlb-v1.sh || echo "warning: cannot mount hugetlb v1; crun may fail" >&2
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
BERTH_OCI=$BERTH ./scripts/mkbundle.sh "$work/b" /bin/true >/dev/null
# One config for all: no network namespace setup cost differences, same mounts.
cd "$work/b"
declare -A RT=([berth-oci]=$BERTH [crun]=$(command -v crun) [runc]=$(command -v runc))
for name in berth-oci crun runc; do
    "${RT[$name]}" --root "$work/state-$name" run "warm-$name" >/dev/null 2>&1 || { echo "$name cannot run the bundle" >&2; exit 1; }
done
args=()
for name in berth-oci crun runc; do
    r=${RT[$name]}; s=$work/state-$name
    args+=(-n "$name run" "$r --root $s run bench-$name")
done
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$work/run.json" "${args[@]}"
args=()
for name in berth-oci crun runc; do
    r=${RT[$name]}; s=$work/state-$name
    args+=(-n "$name create+start+wait+delete" "sh -c '$r --root $s create cl-$name && $r --root $s start cl-$name && while [ \"\$($r --root $s state cl-$name | grep -c stopped)\" = 0 ]; do :; done; $r --root $s delete cl-$name'")
done
hyperfine --warmup 5 --runs "$((RUNS / 2))" --export-json "$work/lifecycle.json" "${args[@]}"
echo
echo "== ratios (median, lower is faster) =="
python3 - "$work/run.json" "$work/lifecycle.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    res = {r["command"]: r for r in json.load(open(f))["results"]}
    names = list(res)
    crun = [n for n in names if n.startswith("crun")][0]
    for n in names:
        m = res[n]["median"] * 1000
        print(f"{n:40s} median {m:7.2f} ms   x{res[n]['median'] / res[crun]['median']:.2f} of crun")
PY
echo
echo "== interleaved (berth-oci, crun, runc in turn; medians) =="
python3 "$repo/bench/runtime/interleaved.py" "$work/b" "$RUNS"
echo
echo "== peak RSS of one run (KiB, max of 20) =="
for name in berth-oci crun runc; do
    r=${RT[$name]}; s=$work/state-$name; max=0
    for i in $(seq 20); do
        k=$(/usr/bin/time -f %M "$r" --root "$s" run "rss-$name-$i" 2>&1 >/dev/null | tail -1)
        [ "$k" -gt "$max" ] && max=$k
    done
    echo "$name $max"
done
