#!/usr/bin/env bash
# bench/api/run.sh [RUNS] [COUNT]: the docker CLI's `docker run --rm IMAGE
# true` through Berth's API socket (`berth system service`) against
# podman's (`podman system service`), in one run, with --network none and
# then on each one's default network, on a busybox image made on the spot
# and imported into both; then `docker ps` and `docker ps -a --format json`
# with COUNT (100) containers created through each socket (not started:
# the listing is measured), removed at the end; the default network case
# again with Berth's default store (its bridge kept, as docker0). Prints the ratio of the
# medians. The goal (issue 12): Berth's socket at 0.1x podman's or less.
# BERTH=path uses that berth (its berth-monitor and berth-init beside it)
# instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-20}
COUNT=${2:-100}
./scripts/deps.sh --test
# dockerd (Debian's docker.io, 20.10) for the third column: installed with
# its service kept from starting (its iptables rules would set the host's
# FORWARD policy to DROP); the bench runs its own, without iptables.
if ! command -v dockerd >/dev/null && [ "$(id -u)" -eq 0 ]; then
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null || true
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth -p berth-monitor -p berth-init >/dev/null
    BERTH=$PWD/target/release/berth
fi
DOCKER=${DOCKER:-/usr/local/bin/docker}
work=$(mktemp -d /tmp/berth-bench-api.XXXXXX)
P="podman --root $work/podman/storage --runroot $work/podman/run --cgroup-manager cgroupfs --events-backend file"
B="$BERTH --root $work/berth"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    $B rm -f $($B ps -aq) >/dev/null 2>&1 || true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    ip link del docker0 2>/dev/null || true
    umount -l "$work/docker/overlay2" 2>/dev/null || true
    umount -l "$work/podman/storage/overlay" 2>/dev/null || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin" "$work/docker-config"
cp /bin/busybox "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/true"
tar -C "$work/rootfs" -c . > "$work/rootfs.tar"
$B import "$work/rootfs.tar" localhost/bench:1 >/dev/null
$P import "$work/rootfs.tar" localhost/bench:1 >/dev/null
$B system service --time 0 "unix://$work/b.sock" & pids+=($!)
$P system service --time 0 "unix://$work/p.sock" & pids+=($!)
socks="b p"
# dockerd on its own data root and socket; no iptables (the host's filter
# policy stays), its own bridge (docker0, deleted after).
if command -v dockerd >/dev/null; then
    dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
        -H "unix://$work/d.sock" --iptables=false --ip6tables=false --log-level error \
        >"$work/dockerd.log" 2>&1 & pids+=($!)
    socks="b p d"
fi
for s in $socks; do
    for _ in $(seq 400); do [ -S "$work/$s.sock" ] && break; sleep 0.05; done
done
if [ -S "$work/d.sock" ]; then
    for _ in $(seq 200); do $DOCKER -H "unix://$work/d.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
    $DOCKER -H "unix://$work/d.sock" import "$work/rootfs.tar" localhost/bench:1 >/dev/null
    # dockerd and its containerd go on with their start-up work for a
    # while (the first runs measured beside it took twice as long)
    sleep 10
fi
export DOCKER_CONFIG=$work/docker-config
D() { echo "$DOCKER -H unix://$work/$1.sock run --rm $2 localhost/bench:1 true"; }
L() { echo "$DOCKER -H unix://$work/$1.sock ps $2"; }
ratio() { # json, berth name, peer name [, peer label: podman]
    python3 - "$@" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, p = r[sys.argv[2]], r[sys.argv[3]]
peer = sys.argv[4] if len(sys.argv) > 4 else "podman"
what = "dockerd" if peer == "dockerd" else f"{peer}'s socket"
print(f"\nmedian: berth's socket {b*1000:.1f} ms, {what} {p*1000:.1f} ms: berth at x{b/p:.2f} of {peer}")
PY
}
HAVE_D=
[ -S "$work/d.sock" ] && HAVE_D=1
echo "== docker run --rm --network none IMAGE true =="
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/none.json" \
    -n "berth socket (none)" "$(D b '--network none')" \
    -n "podman socket (none)" "$(D p '--network none')" \
    ${HAVE_D:+-n "dockerd (none)" "$(D d '--network none')"}
ratio "$work/none.json" "berth socket (none)" "podman socket (none)"
[ -z "$HAVE_D" ] || ratio "$work/none.json" "berth socket (none)" "dockerd (none)" dockerd
echo
echo "== docker run --rm IMAGE true (default network) =="
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/bridge.json" \
    -n "berth socket" "$(D b '')" \
    -n "podman socket" "$(D p '')" \
    ${HAVE_D:+-n "dockerd" "$(D d '')"}
ratio "$work/bridge.json" "berth socket" "podman socket"
[ -z "$HAVE_D" ] || ratio "$work/bridge.json" "berth socket" "dockerd" dockerd
echo
# Berth's default store keeps its bridge (berth0) between containers, as
# dockerd keeps docker0; the scratch store above removes its bridge with
# its last container (as netavark does), so each run there also makes and
# deletes the bridge and its nftables table. A second service on the
# default store (an image imported there for the run, removed after).
echo "== docker run --rm IMAGE true (default network), Berth's default store (bridge kept) =="
$BERTH import "$work/rootfs.tar" localhost/berth-bench-api:1 >/dev/null
$BERTH system service --time 0 "unix://$work/bd.sock" & pids+=($!)
for _ in $(seq 200); do [ -S "$work/bd.sock" ] && break; sleep 0.05; done
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/bridge-default.json" \
    -n "berth socket (default store)" "$DOCKER -H unix://$work/bd.sock run --rm localhost/berth-bench-api:1 true" \
    -n "podman socket" "$(D p '')" \
    ${HAVE_D:+-n "dockerd" "$(D d '')"}
$BERTH rmi localhost/berth-bench-api:1 >/dev/null
ratio "$work/bridge-default.json" "berth socket (default store)" "podman socket"
[ -z "$HAVE_D" ] || ratio "$work/bridge-default.json" "berth socket (default store)" "dockerd" dockerd
echo
echo "== docker ps, $COUNT containers created through each socket =="
for s in b p; do
    for i in $(seq "$COUNT"); do
        $DOCKER -H "unix://$work/$s.sock" create --network none localhost/bench:1 true >/dev/null
    done
done
for s in b p; do
    n=$($DOCKER -H "unix://$work/$s.sock" ps -aq | wc -l)
    [ "$n" -eq "$COUNT" ] || { echo "$s: $n containers listed, $COUNT expected" >&2; exit 1; }
done
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/ps.json" \
    -n "berth socket ps" "$(L b '')" \
    -n "podman socket ps" "$(L p '')"
ratio "$work/ps.json" "berth socket ps" "podman socket ps"
echo
echo "== docker ps -a --format json, $COUNT containers =="
sync; hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/psa.json" \
    -n "berth socket ps -a" "$(L b '-a --format json')" \
    -n "podman socket ps -a" "$(L p '-a --format json')"
ratio "$work/psa.json" "berth socket ps -a" "podman socket ps -a"
for s in b p; do
    $DOCKER -H "unix://$work/$s.sock" rm $($DOCKER -H "unix://$work/$s.sock" ps -aq) >/dev/null
done
