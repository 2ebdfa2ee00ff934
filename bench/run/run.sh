#!/usr/bin/env bash
# bench/run/run.sh [RUNS]: `berth run --rm IMAGE true` against `podman run --rm`
# with --network none, then on each one's default bridge network (berth's
# `bridge`: netns + veth + IPAM + nft; podman's netavark `podman` network), in one run,
# on a busybox image made on the spot and imported into both; then the
# memory of the per-container monitors of 10 detached containers (berth's
# monitor against podman's conmon) and `ps` latency with them running.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-30}
./scripts/deps.sh --test
cargo build --release -p berth -p berth-oci -p berth-monitor -p berth-init >/dev/null
BERTH=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
P="podman --root $work/podman/storage --runroot $work/podman/run --cgroup-manager cgroupfs --events-backend file"
B="$BERTH --root $work/berth"
cleanup() {
    $B rm -f $($B ps -aq) >/dev/null 2>&1 || true
    $BERTH rmi localhost/berth-bench-run:1 >/dev/null 2>&1 || true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    umount -l "$work/podman/storage/overlay" 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
grep -q default_ulimits /etc/containers/containers.conf 2>/dev/null ||
    printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >> /etc/containers/containers.conf
BERTH_OCI=$PWD/target/release/berth-oci ./scripts/mkbundle.sh "$work/b" true >/dev/null
tar -C "$work/b/rootfs" -c . > "$work/rootfs.tar"
$B import "$work/rootfs.tar" localhost/bench:1 >/dev/null
$P import "$work/rootfs.tar" localhost/bench:1 >/dev/null
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" \
    -n "berth run --rm --network none" "$B run --rm --network none localhost/bench:1 true" \
    -n "podman run --rm --network none" "$P run --rm --network none localhost/bench:1 true"
python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, p = r["berth run --rm --network none"], r["podman run --rm --network none"]
print(f"\nmedian: berth {b*1000:.1f} ms, podman {p*1000:.1f} ms: berth at x{b/p:.2f} of podman")
PY
echo
echo "== default bridge network =="
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/bridge.json" \
    -n "berth run --rm (bridge)" "$B run --rm localhost/bench:1 true" \
    -n "podman run --rm (bridge)" "$P run --rm --network podman localhost/bench:1 true"
python3 - "$work/bridge.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, p = r["berth run --rm (bridge)"], r["podman run --rm (bridge)"]
print(f"\nmedian (bridge): berth {b*1000:.1f} ms, podman {p*1000:.1f} ms: berth at x{b/p:.2f} of podman")
PY
echo
# The default store keeps its bridge (berth0) between containers, as docker
# keeps docker0; the scratch store above removes its bridge with its last
# container (as netavark does), so each run there also makes the bridge.
echo "== default bridge network, berth's default store (bridge kept) =="
$BERTH import "$work/rootfs.tar" localhost/berth-bench-run:1 >/dev/null
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/bridge-default.json" \
    -n "berth run --rm (bridge, default store)" "$BERTH run --rm localhost/berth-bench-run:1 true" \
    -n "podman run --rm (bridge)" "$P run --rm --network podman localhost/bench:1 true"
$BERTH rmi localhost/berth-bench-run:1 >/dev/null
python3 - "$work/bridge-default.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, p = r["berth run --rm (bridge, default store)"], r["podman run --rm (bridge)"]
print(f"\nmedian (bridge, default store): berth {b*1000:.1f} ms, podman {p*1000:.1f} ms: berth at x{b/p:.2f} of podman")
PY
echo
echo "== 10 detached containers: monitor memory (RSS and PSS, KiB) =="
for i in $(seq 10); do
    $B run -d --network none localhost/bench:1 sleep 300 >/dev/null
    $P run -d --network none localhost/bench:1 sleep 300 >/dev/null
done
sleep 1
mem() { # pids... -> "rss_total pss_total"
    local r=0 s=0
    for p in "$@"; do
        r=$((r + $(awk '/^VmRSS/{print $2}' /proc/$p/status)))
        s=$((s + $(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup)))
    done
    echo "$r $s"
}
read -r br bs < <(mem $(pgrep -f "^berth-monitor .*--root $work/berth"))
read -r cr cs < <(mem $(pgrep -f "^/usr/bin/conmon .*$work/podman" || pgrep -x conmon))
echo "berth monitors: RSS $br, PSS $bs (per container: RSS $((br / 10)), PSS $((bs / 10)))"
echo "conmon:         RSS $cr, PSS $cs (per container: RSS $((cr / 10)), PSS $((cs / 10)))"
echo
echo "== ps with 10 containers running =="
sync; hyperfine -N --warmup 3 --runs 30 -n "berth ps" "$B ps" -n "podman ps" "$P ps" 2>&1 | grep -E "Benchmark|Time"
