#!/usr/bin/env bash
# Boots a throw-away Linux VM with a pure cgroup v2 hierarchy and runs a
# command in it (default: the cgroups crate's host tests and berth-oci's
# cgroups, lifecycle, exec, process, namespaces, errors, security and
# filesystem tests, and the engine's lifecycle and resources tests). The host's root is shared read-only over virtio 9p and
# becomes the VM's /, so the binaries under target/ run as built; /tmp, /run,
# /var/tmp and /srv are tmpfs.
#
#   tests/vm/run-cgroup2.sh                 # the default test selection
#   tests/vm/run-cgroup2.sh CMD [ARGS...]   # any command, run in the repo dir
#
# Needs (installed by scripts/deps.sh --test, not here): linux-image-amd64,
# qemu-system-x86, busybox-static, cpio, and /dev/kvm if usable (else the
# VM is emulated: TCG, several times slower). Without a command it runs
# `cargo test -p berth-oci -p berth-cgroups -p berth-engine --no-run` to find
# (and if needed build) the tests; the engine's need berth-monitor built.
#
# Environment:
#   VM_ACCEL      kvm, tcg or auto (default: kvm unless the host's KVM is kvm-pvm)
#   VM_TIMEOUT    seconds for the whole VM run (default 1800)
#   VM_KERNEL     a vmlinuz (default: the newest /boot/vmlinuz-*)
#   VM_MEM        guest memory (default 2G)
#   VM_LOG        where to keep the console log (default: a temporary file)
#   VM_TESTS      test files to run, as CRATE_DIR/NAME for crates/CRATE_DIR/tests/
#                 NAME.rs (default: cgroups/host, then berth-oci's cgroups,
#                 lifecycle, exec, process, namespaces, errors, security and
#                 filesystem, then engine's lifecycle and resources)
#   VM_TEST_ARGS  extra libtest arguments, e.g. a test name filter
# Exit status: the command's status inside the VM (from the final
# "VM-EXIT=<code>" console line); 124 on timeout; 125 if the VM could not
# run the command at all.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
timeout_s=${VM_TIMEOUT:-1800}
mem=${VM_MEM:-2G}

die() {
    echo "run-cgroup2: $*" >&2
    exit 125
}

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || die "cpio not found"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"

kernel=${VM_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1 || true)}
[ -n "$kernel" ] && [ -r "$kernel" ] || die "no kernel in /boot (apt-get install linux-image-amd64)"
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
[ -r "$moddir/modules.dep" ] || die "$moddir/modules.dep missing for kernel $kernel"

# --- the command -----------------------------------------------------------
if [ $# -gt 0 ]; then
    cmd="run_test $(printf '%q ' "$@"); "
else
    # The integration-test binaries, exactly as cargo built them (engine has
    # lifecycle and security tests too). Entries are crates/<dir>/tests/<name>.rs.
    command -v cargo >/dev/null || die "cargo not found"
    json=$(cd "$repo" && cargo test -p berth-oci -p berth-cgroups -p berth-engine --no-run --message-format=json 2>/dev/null) ||
        die "cargo test -p berth-oci -p berth-cgroups -p berth-engine --no-run failed"
    cmd=""
    for t in ${VM_TESTS:-cgroups/host berth-oci/cgroups berth-oci/lifecycle berth-oci/exec berth-oci/process berth-oci/namespaces berth-oci/errors berth-oci/security berth-oci/filesystem engine/lifecycle engine/resources}; do
        src=$repo/crates/${t%%/*}/tests/${t#*/}.rs
        bin=$(grep -F "\"src_path\":\"$src\"" <<<"$json" |
            grep -o '"executable":"[^"]*"' | head -n1 | cut -d'"' -f4)
        [ -n "$bin" ] || die "no test binary for $src"
        cmd+="run_test $(printf '%q' "$bin") --test-threads=1 ${VM_TEST_ARGS:-}; "
    done
fi

# --- initramfs -------------------------------------------------------------
work=$(mktemp -d /tmp/berth-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT

ir=$work/initramfs
mkdir -p "$ir"/{bin,dev,proc,sys,newroot,lib/modules}
cp /bin/busybox "$ir/bin/busybox"
ln -s busybox "$ir/bin/sh"

# Modules for 9p over virtio (and their dependencies, from modules.dep);
# those built into the kernel are not in modules.dep and are skipped.
declare -A seen=()
order=()
resolve() {
    local name=$1 line path dep
    line=$(grep -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1 || true)
    if [ -z "$line" ]; then
        grep -qE "(^|/)${name}\.ko" "$moddir/modules.builtin" 2>/dev/null && return 0
        die "module $name not found for kernel $kver"
    fi
    path=${line%%:*}
    [ -n "${seen[$path]:-}" ] && return 0
    seen[$path]=1
    for dep in ${line#*:}; do
        dep=${dep##*/}
        resolve "${dep%%.ko*}"
    done
    order+=("$path")
}
for m in virtio_pci virtio_ring virtio 9pnet_virtio 9p; do
    resolve "$m"
done
n=0
: >"$ir/lib/modules/order"
for p in "${order[@]}"; do
    n=$((n + 1))
    dst="$ir/lib/modules/$n.ko"
    case "$p" in
    *.ko.xz) xz -dc "$moddir/$p" >"$dst" ;;
    *.ko.zst) zstd -qdc "$moddir/$p" >"$dst" ;;
    *.ko.gz) gzip -dc "$moddir/$p" >"$dst" ;;
    *) cp "$moddir/$p" "$dst" ;;
    esac
    echo "$n.ko ${p##*/}" >>"$ir/lib/modules/order"
done

# Stage 2 runs on the shared root after switch_root, as pid 1.
cat >"$ir/stage2" <<EOF
#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp TERM=dumb RUST_BACKTRACE=1
cd $(printf '%q' "$repo")
status=0
run_test() {
    echo "=== VM: \$*"
    "\$@" || status=\$?
}
echo "=== VM: kernel \$(uname -r), cgroup2 controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
echo "=== VM: subtree_control: \$(cat /sys/fs/cgroup/cgroup.subtree_control)"
# The engine's containers are overlay mounts (the module from the host's root).
modprobe overlay 2>/dev/null || true
( $cmd exit \$status ) </dev/null
rc=\$?
sync
echo "VM-EXIT=\$rc"
/bin/busybox poweroff -f
EOF

# Stage 1: mount the host root read-only and the writable bits, switch to it.
cat >"$ir/init" <<'EOF'
#!/bin/sh
export PATH=/bin
fail() { echo "VM-INIT-FAILED: $*"; echo "VM-EXIT=125"; busybox poweroff -f; }
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev
while read -r f name; do
    busybox insmod "/lib/modules/$f" || fail "insmod $name"
done </lib/modules/order
busybox mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /newroot ||
    fail "mount hostroot"
for d in proc sys dev tmp run var/tmp srv; do
    [ -d "/newroot/$d" ] || fail "/$d missing on the host root"
done
busybox mount --move /proc /newroot/proc
busybox mount --move /sys /newroot/sys
busybox mount --move /dev /newroot/dev
R=/newroot
busybox mkdir -p $R/dev/pts $R/dev/shm
busybox mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts $R/dev/pts
busybox mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
busybox mount -t tmpfs -o mode=1777 tmpfs $R/tmp
busybox mount -t tmpfs -o mode=755 tmpfs $R/run
busybox mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
busybox mount -t tmpfs -o mode=755 tmpfs $R/srv
# Pure cgroup v2: nothing v1 (cgroup_no_v1=all on the command line).
busybox mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
busybox mount -t bpf bpf $R/sys/fs/bpf 2>/dev/null || true
for c in cpu memory pids io cpuset; do
    echo "+$c" >$R/sys/fs/cgroup/cgroup.subtree_control || fail "enable controller $c"
done
busybox ip link set lo up 2>/dev/null || true
busybox hostname berth-cgroup2-vm
busybox cp /stage2 $R/run/stage2 || fail "copy stage2"
busybox chmod 755 $R/run/stage2
exec busybox switch_root /newroot /run/stage2
EOF
chmod 755 "$ir/init" "$ir/stage2"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

# --- boot --------------------------------------------------------------------
# KVM when the host's KVM can run a stock kernel. Under kvm-pvm (KVM without
# hardware virtualisation, as in a Firecracker sandbox) only PVM-enabled guest
# kernels boot, and Debian's hangs right after decompression: emulate (TCG).
accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
    accel=kvm
    if [ -d /sys/module/kvm_pvm ] && ! [ -d /sys/module/kvm_intel ] && ! [ -d /sys/module/kvm_amd ]; then
        accel=tcg
    fi
fi
case "$accel" in
kvm) accel_args=(-enable-kvm -cpu "${VM_CPU:-host,-arch-capabilities}") ;;
tcg) accel_args=(-accel tcg,thread=multi -cpu "${VM_CPU:-max}") ;;
*) die "VM_ACCEL=$accel: expected kvm, tcg or auto" ;;
esac
log=${VM_LOG:-$work/console.log}
echo "run-cgroup2: booting $kernel with $accel (timeout ${timeout_s}s)" >&2
set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
    "${accel_args[@]}" -m "$mem" -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -nic none </dev/null 2>&1 |
    sed -u 's/\r//g' | tee "$log"
st=("${PIPESTATUS[@]}")
set -e
if [ "${st[0]}" = 124 ] || [ "${st[0]}" = 137 ]; then
    echo "run-cgroup2: timed out after ${timeout_s}s" >&2
    exit 124
fi
code=$(grep -a -o "^VM-EXIT=[0-9]*" "$log" | tail -n1 | cut -d= -f2 || true)
[ -n "$code" ] || die "the VM ended without reporting an exit status (qemu status ${st[0]})"
echo "run-cgroup2: exit status $code" >&2
exit "$code"
