#!/usr/bin/env bash
# Builds berth-oci and berth, makes a busybox rootfs on the spot, runs a
# container in it with berth-oci, then imports it as an image and runs that
# with berth (default bridge network, a published port answered over HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release -p berth-oci -p berth -p berth-monitor -p berth-init
bin=$PWD/target/release/berth-oci
berth=$PWD/target/release/berth
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
name=demo-web-$$
cleanup() { "$berth" rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$bundle"; }
trap cleanup EXIT
./scripts/mkbundle.sh "$bundle" sh -c 'echo "Hello from a berth-oci container: $(hostname), pid $$, $(cat /proc/self/cgroup | head -1)"; uname -a'
echo "+ berth-oci run --bundle $bundle demo"
"$bin" run --bundle "$bundle" "demo-$$"
echo "+ tar -C $bundle/rootfs -c . | berth import - localhost/demo-busybox:latest"
tar -C "$bundle/rootfs" -c . | "$berth" import -c 'CMD ["sh"]' - localhost/demo-busybox:latest
echo "+ berth run --rm localhost/demo-busybox sh -c 'echo hello from berth; ip -4 -o addr show eth0'"
"$berth" run --rm localhost/demo-busybox sh -c 'echo hello from berth; ip -4 -o addr show eth0'
echo "+ berth run -d --name $name -p 127.0.0.1::80 localhost/demo-busybox httpd -f -p 80 -h /etc"
"$berth" run -d --name "$name" -p 127.0.0.1::80 localhost/demo-busybox httpd -f -p 80 -h /etc >/dev/null
port=$("$berth" port "$name" 80/tcp | sed 's/.*://')
echo "+ GET http://127.0.0.1:$port/hostname"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /hostname HTTP/1.0\r\n\r\n' >&3
tail -n 1 <&3
exec 3<&-
echo "+ berth rm -f $name"
"$berth" rm -f "$name" >/dev/null
