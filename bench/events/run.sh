#!/usr/bin/env bash
# bench/events/run.sh [RUNS]: `berth events --since S --until U` against
# `podman events --since S --stream=false` over a journal of 10,000 events
# each (podman 4.3's file backend prints nothing for an --until already
# past; --stream=false is its way to print the history and exit).
# Both do the same work first (100 `volume create` + `volume rm`: 200 real
# events, written by each tool), then each one's own journal lines are
# repeated to 10,000 (berth's events.log, podman's file backend events.log):
# making 10,000 events through podman would take minutes. Prints the medians
# and their ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-20}
N=10000
[ -n "${NO_BUILD:-}" ] || cargo build --release -p berth >/dev/null
BERTH=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench-events.XXXXXX)
P="podman --root $work/podman/storage --runroot $work/podman/run --tmpdir $work/podman/tmp --cgroup-manager cgroupfs --events-backend file"
B="$BERTH --root $work/berth"
cleanup() {
    umount -l "$work/podman/storage/overlay" 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
for i in $(seq 100); do
    $B volume create "v$i" >/dev/null && $B volume rm "v$i" >/dev/null
    $P volume create "v$i" >/dev/null && $P volume rm "v$i" >/dev/null
done
blog=$work/berth/events/events.log
plog=$work/podman/tmp/events/events.log
for f in "$blog" "$plog"; do
    test -s "$f" || { echo "no journal at $f" >&2; exit 1; }
    python3 - "$f" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
lines = [l for l in open(path) if l.strip()]
out = (lines * (n // len(lines) + 1))[:n]
open(path, "w").writelines(out)
PY
done
sleep 1
until=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "berth: $(wc -l < "$blog") events ($(du -h "$blog" | cut -f1)), podman: $(wc -l < "$plog") events ($(du -h "$plog" | cut -f1))"
nb=$($B events --since "$since" --until "$until" | wc -l)
np=$($P events --since "$since" --stream=false | wc -l)
echo "events listed: berth $nb, podman $np"
test "$nb" -eq $N && test "$np" -eq $N
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/events.json" \
    -n "berth events" "$B events --since $since --until $until" \
    -n "podman events" "$P events --since $since --stream=false"
python3 - "$work/events.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, p = r["berth events"], r["podman events"]
print(f"\nmedian over 10,000 events: berth {b*1000:.1f} ms, podman {p*1000:.1f} ms: berth at x{b/p:.3f} of podman")
PY
