#!/usr/bin/env bash
# bench/ps/run.sh [RUNS] [COUNT]: `berth ps -a` against `podman ps -a` with
# COUNT (100) containers created in each (a busybox image made on the spot
# and imported into both; created, not started, so only the listing is
# measured), then the same with a filter (`--filter label=bench=odd`,
# half of them), in one run; prints each median and berth's ratio to podman.
# BERTH=path uses that berth instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-20}
COUNT=${2:-100}
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth -p berth-monitor -p berth-init >/dev/null
    BERTH=$PWD/target/release/berth
fi
work=$(mktemp -d /tmp/berth-bench-ps.XXXXXX)
P="podman --root $work/podman/storage --runroot $work/podman/run --cgroup-manager cgroupfs --events-backend file --storage-driver vfs"
B="$BERTH --root $work/berth"
cleanup() {
    $B rm -f $($B ps -aq) >/dev/null 2>&1 || true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox" 2>/dev/null || cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/true"
tar -C "$work/rootfs" -c . > "$work/rootfs.tar"
$B import "$work/rootfs.tar" localhost/bench:1 >/dev/null
$P import "$work/rootfs.tar" localhost/bench:1 >/dev/null
for i in $(seq "$COUNT"); do
    l=even; [ $((i % 2)) = 1 ] && l=odd
    $B create --network none --name "c$i" --label "bench=$l" localhost/bench:1 true >/dev/null
    $P create --network none --name "c$i" --label "bench=$l" localhost/bench:1 true >/dev/null
done
[ "$($B ps -aq | wc -l)" = "$COUNT" ] && [ "$($P ps -aq | wc -l)" = "$COUNT" ]
[ "$($B ps -aq --filter label=bench=odd | wc -l)" = "$($P ps -aq --filter label=bench=odd | wc -l)" ]
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/ps.json" \
    -n "berth ps -a" "$B ps -a" \
    -n "podman ps -a" "$P ps -a" \
    -n "berth ps -a --filter label=bench=odd" "$B ps -a --filter label=bench=odd" \
    -n "podman ps -a --filter label=bench=odd" "$P ps -a --filter label=bench=odd"
python3 - "$work/ps.json" "$COUNT" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for what in ["ps -a", "ps -a --filter label=bench=odd"]:
    b, p = r["berth " + what], r["podman " + what]
    print(f"median, {sys.argv[2]} containers, {what}: berth {b*1000:.1f} ms, podman {p*1000:.1f} ms: berth at x{b/p:.2f} of podman")
PY
