"""docker-py (PyPI `docker`) against Berth's API socket.

Run by crates/berth/tests/api.rs (docker_py_client) with DOCKER_HOST set to
the service's socket, BERTH_TEST_IMAGE naming a busybox image in its store
and BERTH_TEST_REGISTRY a loopback docker-registry (host:port). Exits
non-zero with the failing assertion on stderr.
"""

import os

import docker

image = os.environ["BERTH_TEST_IMAGE"]
reg = os.environ["BERTH_TEST_REGISTRY"]
c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
assert c.ping()
assert c.version()["ApiVersion"] == "1.50"

# containers.run(detach=True): create + start; then wait and logs.
ctr = c.containers.run(image, ["sh", "-c", "echo hello; echo oops >&2; exit 2"], detach=True, name="py1")
assert ctr.wait()["StatusCode"] == 2
assert ctr.logs(stdout=True, stderr=False) == b"hello\n", ctr.logs()
assert ctr.logs(stdout=False, stderr=True) == b"oops\n", ctr.logs()
ctr.reload()
assert ctr.status == "exited", ctr.status
assert [x.name for x in c.containers.list(all=True, filters={"name": "py1"})] == ["py1"]
ctr.remove()
try:
    c.containers.get("py1")
    raise AssertionError("py1 still exists")
except docker.errors.NotFound:
    pass

# Volumes and networks.
v = c.volumes.create("pyvol", labels={"k": "v"})
assert v.name == "pyvol"
assert [x.name for x in c.volumes.list(filters={"label": "k=v"})] == ["pyvol"]
v.remove()
n = c.networks.create("pynet")
assert c.networks.get("pynet").name == "pynet"
assert "pynet" in [x.name for x in c.networks.list()]
n.remove()

# Push, remove, pull back through the registry.
repo = f"{reg}/pybb"
assert c.images.get(image).tag(repo, "v1")
out = c.images.push(repo, tag="v1")
assert "digest: sha256:" in out, out
c.images.remove(f"{repo}:v1")
pulled = c.images.pull(repo, tag="v1")
assert f"{repo}:v1" in pulled.tags, pulled.tags
print("docker-py: ok")
