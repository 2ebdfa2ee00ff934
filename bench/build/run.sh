#!/usr/bin/env bash
# bench/build/run.sh [RUNS]: `berth build` against `buildah bud` and
# `podman build` on the same Dockerfile (FROM a busybox made on the spot
# and imported into each store, a RUN, a COPY, metadata), in one run: cold
# (--no-cache) and cached (nothing changed, after a first build); prints
# each median and berth's ratio to buildah and podman; then a multi-stage
# build with two independent stages (each a RUN of `sleep 1`, then a final
# stage copying from both), cold: berth builds the two at once; then a
# COPY of ~48 MB of text, cold: the layer's compression (berth gzips its
# layers on every core when it commits them; buildah and podman keep local
# layers uncompressed).
# BERTH=path uses that berth instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-10}
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth -p berth-monitor -p berth-init >/dev/null
    BERTH=$PWD/target/release/berth
fi
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
S="--root $work/containers/storage --runroot $work/containers/run --storage-driver overlay"
BA="buildah $S"
P="podman $S --cgroup-manager cgroupfs --events-backend file"
B="$BERTH --root $work/berth"
cleanup() {
    $B rm -f $($B ps -aq) >/dev/null 2>&1 || true
    $BA rm --all >/dev/null 2>&1 || true
    $P rmi -af >/dev/null 2>&1 || true
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
export CONTAINERS_REGISTRIES_CONF=$work/registries.conf
: > "$CONTAINERS_REGISTRIES_CONF"
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/ctx"
cp /bin/busybox "$work/rootfs/bin/busybox" 2>/dev/null || cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for a in sh echo cat true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -c . > "$work/rootfs.tar"
$B import "$work/rootfs.tar" localhost/bench:1 >/dev/null
$P import "$work/rootfs.tar" localhost/bench:1 >/dev/null
cat > "$work/ctx/Dockerfile" <<'EOF'
FROM localhost/bench:1
ENV GREETING=hello
RUN echo "$GREETING" > /greeting
COPY app.txt /app/app.txt
WORKDIR /app
CMD ["cat", "/greeting"]
EOF
echo app > "$work/ctx/app.txt"
ctx=$work/ctx
mkdir -p "$work/multi"
cat > "$work/multi/Dockerfile" <<'EOF'
FROM localhost/bench:1 AS a
RUN sleep 1 && echo a > /a
FROM localhost/bench:1 AS b
RUN sleep 1 && echo b > /b
FROM localhost/bench:1
COPY --from=a /a /a
COPY --from=b /b /b
EOF
multi=$work/multi
mkdir -p "$work/big"
seq 1 6000000 > "$work/big/numbers.txt"
printf 'FROM localhost/bench:1\nCOPY numbers.txt /data/numbers.txt\n' > "$work/big/Dockerfile"
big=$work/big
# Network none for all three: the step needs none, and buildah's and
# podman's default network setup would otherwise be what is measured.
$B build -q --network none -t b "$ctx" >/dev/null
$BA bud -q --network none --layers --pull=never -t b "$ctx" >/dev/null
$P build -q --network none --layers --pull=never -t p "$ctx" >/dev/null
sync; hyperfine -N ${HYPERFINE_OPTS:-} --warmup 2 --runs "$RUNS" --export-json "$work/build.json" \
    -n "berth cold" "$B build -q --network none --no-cache -t b $ctx" \
    -n "buildah cold" "$BA bud -q --network none --layers --no-cache --pull=never -t b $ctx" \
    -n "podman cold" "$P build -q --network none --layers --no-cache --pull=never -t p $ctx" \
    -n "berth cached" "$B build -q --network none -t b $ctx" \
    -n "buildah cached" "$BA bud -q --network none --layers --pull=never -t b $ctx" \
    -n "podman cached" "$P build -q --network none --layers --pull=never -t p $ctx" \
    -n "berth multi cold" "$B build -q --network none --no-cache -t bm $multi" \
    -n "buildah multi cold" "$BA bud -q --network none --layers --no-cache --pull=never -t bm $multi" \
    -n "podman multi cold" "$P build -q --network none --layers --no-cache --pull=never -t pm $multi" \
    -n "berth big cold" "$B build -q --network none --no-cache -t bg $big" \
    -n "buildah big cold" "$BA bud -q --network none --layers --no-cache --pull=never -t bg $big" \
    -n "podman big cold" "$P build -q --network none --layers --no-cache --pull=never -t pg $big"
python3 - "$work/build.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
for what in ["cold", "cached", "multi cold", "big cold"]:
    b, ba, p = r["berth " + what], r["buildah " + what], r["podman " + what]
    print(f"median, {what}: berth {b*1000:.1f} ms, buildah {ba*1000:.1f} ms, podman {p*1000:.1f} ms: "
          f"berth at x{b/ba:.2f} of buildah, x{b/p:.2f} of podman")
PY
