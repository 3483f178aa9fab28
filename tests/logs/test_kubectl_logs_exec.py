"""The real ``kubectl logs`` and ``kubectl exec`` through the API server to a node endpoint.

A real ``kubeq apiserver`` process, the node's HTTP server in this process over real subprocesses
(``tests/logs/runtime.py``), a Node pointing at it and a pod bound to that node.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from tasks.kubelet.cri import SandboxConfig
from tests.logs.runtime import SubprocessRuntime
from workers.node.server import serve_node_http

TICKER = "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n"


@dataclass
class Setup:
    namespace: str
    pod: str


def _terminated(code: int) -> dict[str, object]:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}


@pytest.fixture(scope="module")
def setup(api_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("node")
    runtime = SubprocessRuntime(str(Path(root) / "containers"))
    server = serve_node_http(lambda: runtime, "127.0.0.1", 0, str(root))
    core = client.CoreV1Api(api_client)
    node_name, ns, pod = f"node-{uuid.uuid4().hex[:6]}", f"logs-{uuid.uuid4().hex[:6]}", "web"
    core.create_namespace({"metadata": {"name": ns}})
    node = core.create_node({"metadata": {"name": node_name}})
    node.status = client.V1NodeStatus(
        addresses=[client.V1NodeAddress(type="InternalIP", address="127.0.0.1")],
        daemon_endpoints=client.V1NodeDaemonEndpoints(
            kubelet_endpoint=client.V1DaemonEndpoint(port=server.port)
        ),
    )
    core.replace_node_status(node_name, node)
    names = ["app", "side", "ticker", "late"]
    core.create_namespaced_pod(
        ns,
        {
            "metadata": {"name": pod},
            "spec": {"nodeName": node_name, "containers": [{"name": n, "image": "busybox"} for n in names]},
        },
    )
    sandbox = runtime.run_pod_sandbox(SandboxConfig("uid", ns, pod, pod, str(root)))
    first = runtime.start(sandbox, "app", ["sh", "-c", "echo first run"], attempt=0)
    runtime.wait_exited(first)
    time.sleep(0.01)
    runtime.start(
        sandbox,
        "app",
        ["sh", "-c", "echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three; exec sleep 60"],
        attempt=1,
    )
    side = runtime.start(sandbox, "side", ["sh", "-c", "echo side says hi"])
    runtime.start(sandbox, "ticker", [sys.executable, "-c", TICKER])
    runtime.wait_exited(side)
    current = core.read_namespaced_pod(pod, ns)
    current.status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "app",
                "image": "busybox",
                "imageID": "",
                "ready": True,
                "restartCount": 1,
                "state": {"running": {}},
                "lastState": _terminated(0),
            },
            {
                "name": "side",
                "image": "busybox",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": _terminated(0),
            },
            {
                "name": "ticker",
                "image": "busybox",
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {}},
            },
            {
                "name": "late",
                "image": "busybox",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}},
            },
        ],
    }
    core.replace_namespaced_pod_status(pod, ns, current)
    time.sleep(0.3)  # let the app container print
    yield Setup(ns, pod)
    server.stop()


def test_logs_of_the_default_container(setup: Setup, kubectl) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("logs", setup.pod, "-n", setup.namespace)
    assert out.stdout == "one\ntwo\nthree\n"
    assert 'Defaulted container "app" out of: app, side, ticker, late' in out.stderr


def test_logs_tail_container_and_previous(setup: Setup, kubectl) -> None:  # type: ignore[no-untyped-def]
    ns = ["-n", setup.namespace]
    assert kubectl("logs", setup.pod, *ns, "-c", "app", "--tail=1").stdout == "three\n"
    assert kubectl("logs", setup.pod, *ns, "-c", "side").stdout == "side says hi\n"
    assert kubectl("logs", setup.pod, *ns, "-c", "app", "--previous").stdout == "first run\n"
    assert kubectl("logs", setup.pod, *ns, "-c", "app", "--limit-bytes=6").stdout == "one\ntw"


def test_logs_with_timestamps(setup: Setup, kubectl) -> None:  # type: ignore[no-untyped-def]
    lines = kubectl("logs", setup.pod, "-n", setup.namespace, "-c", "app", "--timestamps").stdout.splitlines()
    assert len(lines) == 3
    for line, text in zip(lines, ["one", "two", "three"], strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z " + text, line), line


def test_logs_follow_ends_when_the_container_exits(setup: Setup, kubectl) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("logs", setup.pod, "-n", setup.namespace, "-c", "ticker", "-f", timeout=20)
    assert out.stdout == "tick 0\ntick 1\ntick 2\n"


def test_logs_errors_in_kubernetes_words(setup: Setup, kubectl, api_client) -> None:  # type: ignore[no-untyped-def]
    out = kubectl("logs", setup.pod, "-n", setup.namespace, "-c", "late", check=False)
    assert out.returncode == 1
    assert 'container "late" in pod "web" is waiting to start: ContainerCreating' in out.stderr
    out = kubectl("logs", setup.pod, "-n", setup.namespace, "-c", "side", "--previous", check=False)
    assert 'previous terminated container "side" in pod "web" not found' in out.stderr
    with pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(api_client).read_namespaced_pod_log(setup.pod, setup.namespace)
    assert caught.value.status == 400
    assert "a container name must be specified for pod web, choose one of: [app side ticker late]" in str(
        caught.value.body
    )


def test_exec_prints_output_and_exits_with_the_command_code(setup: Setup, kubectl) -> None:  # type: ignore[no-untyped-def]
    out = kubectl(
        "exec",
        setup.pod,
        "-n",
        setup.namespace,
        "--",
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 3",
        check=False,
    )
    assert (out.returncode, out.stdout) == (3, "hi\n")
    assert "err\n" in out.stderr
    out = kubectl("exec", setup.pod, "-n", setup.namespace, "-c", "app", "--", "echo", "fine")
    assert (out.returncode, out.stdout) == (0, "fine\n")


def test_exec_from_the_python_client(setup: Setup, api_client) -> None:  # type: ignore[no-untyped-def]
    from kubernetes.stream import stream

    core = client.CoreV1Api(api_client)
    command = ["sh", "-c", "echo hi; echo err >&2; exit 3"]
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        setup.pod,
        setup.namespace,
        container="app",
        command=command,
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=10)
    assert (resp.read_stdout(), resp.read_stderr(), resp.returncode) == ("hi\n", "err\n", 3)
