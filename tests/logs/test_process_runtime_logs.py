"""The node endpoint over the node's real process runtime (``workers.runtime.process``)."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tasks.kubelet.cri import EXITED, ContainerConfig, SandboxConfig
from workers.node.server import NodeHTTPServer, serve_node_http
from workers.runtime.process import ProcessRuntime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(str(tmp_path / "rt"), log_max_bytes=200, use_cgroups=False, probes=False)
    yield rt
    for container in rt.list_containers():
        rt.stop_container(container.id, 1)
    rt.close()


@pytest.fixture
def node(runtime: ProcessRuntime, tmp_path: Path) -> Iterator[NodeHTTPServer]:
    server = serve_node_http(lambda: runtime, "127.0.0.1", 0, str(tmp_path))
    yield server
    server.stop()


def start(runtime: ProcessRuntime, tmp_path: Path, script: str, attempt: int = 0, sandbox: str = "") -> str:
    sandbox = sandbox or runtime.run_pod_sandbox(
        SandboxConfig("u1", "ns", "web", "web", str(tmp_path / "pod"))
    )
    cid = runtime.create_container(
        sandbox, ContainerConfig("app", "img", ["sh", "-c", script], attempt=attempt)
    )
    runtime.start_container(cid)
    return cid


def wait_exited(runtime: ProcessRuntime, cid: str) -> None:
    deadline = time.time() + 10
    while runtime.container_status(cid).state != EXITED:
        assert time.time() < deadline
        time.sleep(0.05)


def fetch(node: NodeHTTPServer, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=15)
    conn.request(method, path)
    response = conn.getresponse()
    try:
        return response.status, response.read()
    finally:
        conn.close()


def test_logs_across_rotation_tail_and_previous(node, runtime, tmp_path) -> None:
    first = start(runtime, tmp_path, "echo first attempt")
    wait_exited(runtime, first)
    sandbox = runtime.container_status(first).sandbox_id
    script = "i=0; while [ $i -lt 8 ]; do echo line-$i; i=$((i+1)); done"
    second = start(runtime, tmp_path, script, attempt=1, sandbox=sandbox)
    wait_exited(runtime, second)
    assert Path(runtime.container_status(second).log_path + ".1").exists()  # 200 bytes: it rotated
    _, body = fetch(node, "GET", "/containerLogs/ns/web/app")
    lines = body.decode().splitlines()
    assert lines[-1] == "line-7" and lines == [f"line-{i}" for i in range(8 - len(lines), 8)]
    assert fetch(node, "GET", "/containerLogs/ns/web/app?tailLines=2")[1] == b"line-6\nline-7\n"
    assert fetch(node, "GET", "/containerLogs/ns/web/app?previous=true")[1] == b"first attempt\n"


def test_follow_and_exec_on_a_running_container(node, runtime, tmp_path) -> None:
    cid = start(runtime, tmp_path, "echo ready; sleep 0.6; echo done")
    query = urlencode([("command", "sh"), ("command", "-c"), ("command", "echo hi; exit 3")])
    status, body = fetch(node, "POST", "/exec/ns/web/app?" + query)
    result = json.loads(body)
    assert (status, result["exitCode"], base64.b64decode(result["stdout"])) == (200, 3, b"hi\n")
    assert fetch(node, "GET", "/containerLogs/ns/web/app?follow=true")[1] == b"ready\ndone\n"
    assert runtime.container_status(cid).state == EXITED
