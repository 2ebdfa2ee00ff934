"""docker-py (PyPI `docker`) builds through Berth's POST /build.

Run by crates/berth/tests/api_build.rs (docker_py_build) with DOCKER_HOST
set to the service's socket and BERTH_TEST_CONTEXT a context directory
whose Dockerfile builds FROM the store's busybox image `bb` and whose CMD
prints "py" and hello.txt. Exits non-zero with the failing assertion.
"""

import os

import docker

ctx = os.environ["BERTH_TEST_CONTEXT"]
c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])

img, logs = c.images.build(path=ctx, tag="pyimg:1", rm=True)
logs = list(logs)
text = "".join(l.get("stream", "") for l in logs)
assert "Step 1/4 : FROM bb" in text, logs
assert any("aux" in l for l in logs), logs
assert img.id.startswith("sha256:"), img.id
assert "pyimg:1" in img.tags, img.tags
out = c.containers.run("pyimg:1", remove=True)
assert out == b"py\nhello from the context\n", out

# gzip-compressed context (docker-py's gzip=True).
img2, _ = c.images.build(path=ctx, tag="pyimg:gz", gzip=True)
assert img2.id == img.id, (img2.id, img.id)

# A failing RUN: BuildError carrying the builder's message.
with open(os.path.join(ctx, "Fail.df"), "w") as f:
    f.write("FROM bb\nRUN exit 7\n")
try:
    c.images.build(path=ctx, dockerfile="Fail.df", tag="pyfail")
    raise AssertionError("the failing build succeeded")
except docker.errors.BuildError as e:
    assert "exit code: 7" in str(e), str(e)
print("ok")
