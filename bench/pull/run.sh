#!/usr/bin/env bash
# bench/pull/run.sh: pull and push of a 158 MB image (busybox + three
# 50 MiB random layers, gzip) through a local docker-registry, in one run:
#   pull: berth pull (download, verify, unpack: ready to run)
#         vs podman pull (fresh storage each time)
#         vs skopeo copy docker://... oci:DIR (fresh dir each time)
#   push: berth push vs skopeo copy oci:DIR docker://... (fresh repo each time)
# Prints hyperfine's tables, MB/s for each, and ratios to podman / skopeo.
# Usage: bench/pull/run.sh [RUNS]   (as root; BERTH=path to skip the build,
#        BERTH_B=path to time a second berth's pull in the same run)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
for t in hyperfine skopeo podman python3 /usr/bin/docker-registry; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install hyperfine skopeo podman docker-registry python3)" >&2; exit 1; }
done
# BERTH=/path/to/berth uses that binary instead of building one.
if [ -z "${BERTH:-}" ]; then
    cargo build --release -p berth >/dev/null
    BERTH=$PWD/target/release/berth
fi
work=$(mktemp -d /tmp/berth-pull-bench.XXXXXX)
regpid=
cleanup() { [ -n "$regpid" ] && kill "$regpid" 2>/dev/null; wait 2>/dev/null; umount -l "$work/podman/storage/overlay" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$port
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $ADDR
YML
/usr/bin/docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
python3 - "$ADDR" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=1); break
    except Exception:
        time.sleep(0.1)
PY

echo "== building the image =="
bytes=$(python3 bench/pull/mkimage.py "$work/src" 3 50)
MB=$(python3 -c "print(round($bytes/1e6, 1))")
echo "image: $MB MB in the registry (manifest + config + 4 gzip layers)"
IMG=$ADDR/bench/big:1
skopeo copy -q --dest-tls-verify=false "oci:$work/src:bench" "docker://$IMG"

# skopeo and podman remember which repositories hold a blob and would
# mount instead of upload: forget between runs for a fair push.
FORGET='rm -f /var/lib/containers/cache/blob-info-cache-v1.*'
P="podman --root $work/podman/storage --runroot $work/podman/run"

# BERTH_B=/path/to/another/berth adds its pull to the same run (A/B).
B=()
if [ -n "${BERTH_B:-}" ]; then
    B=(--prepare "rm -rf $work/berth-root; sync" -n "berth pull (B)"
        "$BERTH_B --root $work/berth-root pull -q $IMG")
fi
echo "== pull =="
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/pull.json" \
    --prepare "rm -rf $work/berth-root; sync" -n "berth pull" \
        "$BERTH --root $work/berth-root pull -q $IMG" \
    "${B[@]}" \
    --prepare "$P system reset -f >/dev/null 2>&1; rm -rf $work/podman; sync" -n "podman pull" \
        "$P pull -q --tls-verify=false $IMG" \
    --prepare "rm -rf $work/skopeo-oci; sync" -n "skopeo copy (to oci dir)" \
        "skopeo copy -q --src-tls-verify=false docker://$IMG oci:$work/skopeo-oci:x"

# Push sources: the same blobs, under a name of another registry so
# nothing can be mounted from bench/big.
rm -rf "$work/push-root"
skopeo copy -q --src-tls-verify=false "docker://$IMG" "oci-archive:$work/big-oci.tar:bench.local/big:1"
$BERTH --root "$work/push-root" load -q -i "$work/big-oci.tar" >/dev/null
# berth records repo@digest after a push and mounts from there next time
# (as docker does): start each run from the freshly loaded metadata.
cp "$work/push-root/images.json" "$work/images.json.orig"
echo 0 > "$work/n"
NEXT="n=\$((\$(cat $work/n)+1)); echo \$n > $work/n"
echo "== push =="
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/push.json" \
    --prepare "cp $work/images.json.orig $work/push-root/images.json" -n "berth push" \
        "sh -c '$NEXT; $BERTH --root $work/push-root push -q bench.local/big:1 $ADDR/push/berth\$n:1 >/dev/null'" \
    --prepare "$FORGET" -n "skopeo copy (from oci dir)" \
        "sh -c '$NEXT; skopeo copy -q --dest-tls-verify=false oci:$work/src:bench docker://$ADDR/push/skopeo\$n:1'"

echo
echo "== throughput (mean; $MB MB per transfer) =="
python3 - "$work/pull.json" "$work/push.json" "$bytes" <<'PY'
import json, sys
size = int(sys.argv[3])
def load(f):
    return {r["command"]: r for r in json.load(open(f))["results"]}
pull, push = load(sys.argv[1]), load(sys.argv[2])
def show(res, base):
    b = res[base]["mean"]
    for name, r in res.items():
        m = r["mean"]
        print(f"{name:28s} {m:6.2f} s ± {r['stddev']:.2f}  {size/1e6/m:7.1f} MB/s  "
              f"{b/m:5.2f}x {base}'s speed")
show(pull, "podman pull")
show(push, "skopeo copy (from oci dir)")
PY
