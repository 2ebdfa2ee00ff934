#!/usr/bin/env python3
"""testcontainers-python against Berth's API socket ($DOCKER_HOST).

A DockerContainer on $BERTH_TEST_IMAGE (busybox with sh, echo, nc) that
listens on 8080: a log-based wait, an exec, the host and mapped port
answered with a socket connect, then stop (which removes it).
Run with TESTCONTAINERS_RYUK_DISABLED=true (the reaper is on Docker Hub).
"""

import os
import socket
import sys

import docker
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy
from testcontainers.core.waiting_utils import wait_for_logs

IMAGE = os.environ.get("BERTH_TEST_IMAGE", "bb")


def main():
    assert os.environ.get("TESTCONTAINERS_RYUK_DISABLED") == "true"
    c = (
        DockerContainer(IMAGE)
        .with_command(["sh", "-c", "echo listening; exec nc -ll -p 8080 -e echo pong"])
        .with_exposed_ports(8080)
        .waiting_for(LogMessageWaitStrategy("listening"))
    )
    c.start()
    cid = c.get_container_id()
    try:
        # The older function form, as many suites still call it.
        wait_for_logs(c, "listening", timeout=30)
        out, err = c.get_logs()
        assert b"listening" in out, (out, err)

        code, output = c.exec(["echo", "hi"])
        assert code == 0 and output == b"hi\n", (code, output)
        code, output = c.exec(["sh", "-c", "exit 3"])
        assert code == 3, (code, output)

        host = c.get_container_host_ip()
        port = c.get_exposed_port(8080)
        mode = c.get_docker_client().get_connection_mode()
        print(f"connection mode {mode.name}: {host}:{port}")
        with socket.create_connection((host, int(port)), timeout=20) as s:
            s.settimeout(20)
            got = b""
            while b"\n" not in got:
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
        assert got == b"pong\n", (host, port, got)
        print(f"connected to {host}:{port}: {got!r}")
    finally:
        c.stop()

    client = docker.from_env()
    left = [x.id for x in client.containers.list(all=True)]
    assert cid not in left, left
    print("ok")


if __name__ == "__main__":
    sys.exit(main())
