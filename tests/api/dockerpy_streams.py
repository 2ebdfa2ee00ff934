"""docker-py (PyPI `docker`): the stream endpoints against Berth's API socket.

Run by crates/berth/tests/api_streams.rs (docker_py_streams) with DOCKER_HOST
set to the service's socket and BERTH_TEST_IMAGE naming a busybox image in
its store. Exits non-zero with the failing assertion on stderr.
"""

import os

import docker

image = os.environ["BERTH_TEST_IMAGE"]
c = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])

# containers.run, not detached: create, start, logs followed, wait.
assert c.containers.run(image, "echo hi", remove=True) == b"hi\n"
try:
    c.containers.run(image, ["sh", "-c", "echo out; exit 3"], remove=True)
    raise AssertionError("a non-zero exit did not raise")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

ctr = c.containers.run(image, ["sleep", "300"], detach=True, name="pyexec")
# exec_run: exec create and a hijacked start (multiplexed), its exit code.
r = ctr.exec_run(["sh", "-c", "echo o; echo e >&2; exit 4"])
assert r.exit_code == 4, r
assert r.output == b"o\ne\n", r.output
r = ctr.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
assert r.exit_code == 0 and r.output == (b"o\n", b"e\n"), r
r = ctr.exec_run("sh -c 'echo $A'", environment={"A": "b"}, workdir="/bin")
assert r.output == b"b\n", r.output
r = ctr.exec_run("sh -c 'test -t 1 && echo tty'", tty=True)
assert r.output == b"tty\r\n", r.output
# streamed output.
r = ctr.exec_run(["sh", "-c", "echo 1; sleep 0.2; echo 2"], stream=True)
assert b"".join(r.output) == b"1\n2\n"
# detached: runs on.
r = ctr.exec_run(["sleep", "5"], detach=True)
assert not r.output, r.output
# the low-level API: inspect after the start.
api = c.api
e = api.exec_create(ctr.id, ["sh", "-c", "exit 6"])
api.exec_start(e["Id"])
i = api.exec_inspect(e["Id"])
assert i["ExitCode"] == 6 and not i["Running"], i
ctr.remove(force=True)
print("docker-py streams: ok")
