#!/usr/bin/env python3
"""Write an OCI image layout: busybox (Debian's busybox-static and applet
links) plus N layers of R MiB of random data each, gzip-compressed as
registries store them.

usage: mkimage.py DIR [N_LAYERS=3] [MIB=50]
"""
import gzip, hashlib, io, json, os, sys, tarfile, time

out = sys.argv[1]
n_layers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
mib = int(sys.argv[3]) if len(sys.argv) > 3 else 50
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def layer(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        add(t)
    raw = buf.getvalue()
    diff = "sha256:" + hashlib.sha256(raw).hexdigest()
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    digest, size = put(gz)
    return diff, {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": digest,
        "size": size,
    }


def busybox(t):
    d = tarfile.TarInfo("bin")
    d.type, d.mode = tarfile.DIRTYPE, 0o755
    t.addfile(d)
    t.add("/bin/busybox", arcname="bin/busybox")
    for a in ["sh", "ls", "cat", "echo", "true"]:
        l = tarfile.TarInfo("bin/" + a)
        l.type, l.linkname, l.mode = tarfile.SYMTYPE, "busybox", 0o777
        t.addfile(l)


def random_file(i):
    def add(t):
        data = os.urandom(mib << 20)
        ti = tarfile.TarInfo("data/random%d" % i)
        ti.size, ti.mode = len(data), 0o644
        t.addfile(ti, io.BytesIO(data))
    return add


diffs, layers = [], []
for add in [busybox] + [random_file(i) for i in range(n_layers)]:
    diff, desc = layer(add)
    diffs.append(diff)
    layers.append(desc)
config = json.dumps({
    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": diffs},
}).encode()
cd, cs = put(config)
manifest = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
    "layers": layers,
}).encode()
md, ms = put(manifest)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": ms,
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}, f)
total = sum(l["size"] for l in layers) + cs + ms
print(total)
