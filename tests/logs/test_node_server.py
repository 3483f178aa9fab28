"""The node's HTTP endpoint on real CRI log files and real processes."""

from __future__ import annotations

import base64
import http.client
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tasks.kubelet.cri import EXITED, ContainerConfig, SandboxConfig
from tests.logs.runtime import SubprocessRuntime, cri_line
from workers.node.server import NodeHTTPServer, serve_node_http

NOW = time.time()


@pytest.fixture
def runtime(tmp_path: Path) -> SubprocessRuntime:
    return SubprocessRuntime(str(tmp_path / "containers"))


@pytest.fixture
def node(runtime: SubprocessRuntime, tmp_path: Path) -> Iterator[NodeHTTPServer]:
    server = serve_node_http(lambda: runtime, "127.0.0.1", 0, str(tmp_path))
    yield server
    server.stop()


def sandbox(runtime: SubprocessRuntime, pod: str = "web") -> str:
    return runtime.run_pod_sandbox(SandboxConfig("uid-" + pod, "ns", pod, pod, "/tmp"))


def written(
    runtime: SubprocessRuntime, sandbox_id: str, name: str, lines: list[str], attempt: int = 0
) -> str:
    """A finished container whose log file holds ``lines`` (rotated part first when given as '.1|')."""
    container_id = runtime.create_container(
        sandbox_id, ContainerConfig(name, "img", ["true"], attempt=attempt)
    )
    status = runtime.containers[container_id]
    status.state = EXITED
    rotated = [line[3:] for line in lines if line.startswith(".1|")]
    current = [line for line in lines if not line.startswith(".1|")]
    if rotated:
        Path(status.log_path + ".1").write_text("".join(rotated))
    Path(status.log_path).write_text("".join(current))
    return container_id


def get(server: NodeHTTPServer, path: str, **query: object) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path + ("?" + urlencode(query) if query else ""))
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def sample_lines(now: float) -> list[str]:
    """Log lines around ``now``: two in the rotated file, a partial line joined, two recent ones."""
    return [
        ".1|" + cri_line(now - 300, "stdout", "old one"),
        ".1|" + cri_line(now - 200, "stderr", "old two"),
        cri_line(now - 100, "stdout", "part ", "P"),
        cri_line(now - 100, "stdout", "joined"),
        cri_line(now - 5, "stdout", "recent"),
        cri_line(now - 1, "stderr", "last"),
    ]


SAMPLE = sample_lines(NOW)


@pytest.fixture(autouse=True)
def _fresh_clock() -> None:
    """Timestamps relative to each test's own start: sinceSeconds compares them with the real clock."""
    global NOW, SAMPLE
    NOW = time.time()
    SAMPLE = sample_lines(NOW)


def test_reads_rotated_then_current_file_joining_partial_lines(node, runtime) -> None:
    written(runtime, sandbox(runtime), "app", SAMPLE)
    assert get(node, "/containerLogs/ns/web/app") == (200, b"old one\nold two\npart joined\nrecent\nlast\n")


def test_tail_lines_and_limit_bytes(node, runtime) -> None:
    written(runtime, sandbox(runtime), "app", SAMPLE)
    assert get(node, "/containerLogs/ns/web/app", tailLines=2)[1] == b"recent\nlast\n"
    assert get(node, "/containerLogs/ns/web/app", tailLines=0)[1] == b""
    assert get(node, "/containerLogs/ns/web/app", limitBytes=10)[1] == b"old one\nol"


def test_timestamps_prefix_each_line_with_its_time(node, runtime) -> None:
    written(runtime, sandbox(runtime), "app", SAMPLE)
    lines = get(node, "/containerLogs/ns/web/app", timestamps="true", tailLines=2)[1].decode().splitlines()
    assert lines == [cri_line(NOW - 5, "stdout", "x").split()[0] + " recent", SAMPLE[-1].split()[0] + " last"]


def test_since_seconds_and_since_time(node, runtime) -> None:
    written(runtime, sandbox(runtime), "app", SAMPLE)
    assert get(node, "/containerLogs/ns/web/app", sinceSeconds=30)[1] == b"recent\nlast\n"
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 250))
    assert (
        get(node, "/containerLogs/ns/web/app", sinceTime=since)[1] == b"old two\npart joined\nrecent\nlast\n"
    )


def test_previous_reads_the_earlier_instance(node, runtime) -> None:
    sandbox_id = sandbox(runtime)
    written(runtime, sandbox_id, "app", [cri_line(NOW - 9, "stdout", "first run")], attempt=0)
    status, body = get(node, "/containerLogs/ns/web/app", previous="true")
    assert status == 400
    assert json.loads(body)["message"] == 'previous terminated container "app" in pod "web" not found'
    time.sleep(0.01)
    written(runtime, sandbox_id, "app", [cri_line(NOW - 1, "stdout", "second run")], attempt=1)
    assert get(node, "/containerLogs/ns/web/app")[1] == b"second run\n"
    assert get(node, "/containerLogs/ns/web/app", previous="true")[1] == b"first run\n"


def test_unknown_pod_or_container_is_not_found(node, runtime) -> None:
    written(runtime, sandbox(runtime), "app", SAMPLE)
    status, body = get(node, "/containerLogs/ns/web/nope")
    assert status == 404
    assert json.loads(body)["message"] == 'container "nope" in pod "web" is not available'
    assert get(node, "/containerLogs/ns/other/app")[0] == 404


def test_follow_streams_lines_as_written_until_the_container_exits(node, runtime) -> None:
    script = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.4)\n"
    runtime.start(sandbox(runtime), "app", [sys.executable, "-c", script])
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    started = time.time()
    conn.request("GET", "/containerLogs/ns/web/app?follow=true")
    response = conn.getresponse()
    assert response.readline() == b"tick 0\n"
    assert time.time() - started < 0.8  # the first line came before the process ended
    assert response.read() == b"tick 1\ntick 2\n"  # and the stream ended with the process
    conn.close()


def test_exec_runs_the_command_and_reports_exit_code_and_output(node, runtime) -> None:
    runtime.start(sandbox(runtime), "app", ["sleep", "5"])
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    query = urlencode([("command", "sh"), ("command", "-c"), ("command", "echo hi; echo oops >&2; exit 3")])
    conn.request("POST", "/exec/ns/web/app?" + query)
    response = conn.getresponse()
    result = json.loads(response.read())
    assert response.status == 200
    assert result["exitCode"] == 3
    assert base64.b64decode(result["stdout"]) == b"hi\n"
    assert base64.b64decode(result["stderr"]) == b"oops\n"
