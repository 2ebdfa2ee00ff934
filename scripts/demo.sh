#!/usr/bin/env bash
# Builds berth-oci, makes a busybox rootfs on the spot, and runs a container.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release -p berth-oci
bin=$PWD/target/release/berth-oci
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
./scripts/mkbundle.sh "$bundle" sh -c 'echo "Hello from a berth-oci container: $(hostname), pid $$, $(cat /proc/self/cgroup | head -1)"; uname -a'
echo "+ berth-oci run --bundle $bundle demo"
"$bin" run --bundle "$bundle" "demo-$$"
