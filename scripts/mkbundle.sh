#!/usr/bin/env bash
# mkbundle.sh DIR [ARGS...]: an OCI bundle whose rootfs is Debian's busybox-static.
set -euo pipefail
dir=$1; shift
bin=${BERTH_OCI:-$(dirname "$0")/../target/release/berth-oci}
mkdir -p "$dir/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in $("$dir/rootfs/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$a"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$dir/rootfs/etc/passwd"
echo "root:x:0:" > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$bin" spec --bundle "$dir"
python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
c = json.load(open(path))
c["process"]["terminal"] = False
if args:
    c["process"]["args"] = args
json.dump(c, open(path, "w"), indent=2)
PY
