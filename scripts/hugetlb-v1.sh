#!/usr/bin/env bash
# On a hybrid host whose cgroup2 hierarchy holds hugetlb (as this one does),
# crun 1.8 refuses to run, and the OCI validation suite only reads v1
# hierarchies. Move hugetlb to a v1 hierarchy at /sys/fs/cgroup/hugetlb.
set -euo pipefail
u=/sys/fs/cgroup/unified
mountpoint -q /sys/fs/cgroup/hugetlb && exit 0
[ -d "$u" ] || exit 0
# Disable hugetlb in every cgroup2 subtree, deepest first.
find "$u" -mindepth 1 -depth -type d | while read -r d; do
    grep -qw hugetlb "$d/cgroup.subtree_control" 2>/dev/null && echo "-hugetlb" > "$d/cgroup.subtree_control" || true
done
grep -qw hugetlb "$u/cgroup.subtree_control" && echo "-hugetlb" > "$u/cgroup.subtree_control"
mkdir -p /sys/fs/cgroup/hugetlb
mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
