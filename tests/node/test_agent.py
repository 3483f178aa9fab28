"""``kubeq node`` against a real API server: Node, Lease, runtime daemon kept across agent restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, APIServerProcess, free_port
from workers.node import supervisor
from workers.proxy import client as proxy_client

WAIT = 30.0


def _until(check: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.2)


def _start_node(apiserver: APIServerProcess, name: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        KUBEQ_STATE_PREFIX=apiserver.prefix,
        KUBEQ_BROKER_PREFIX=f"{apiserver.prefix}-broker:",
        KUBEQ_NODE_STATUS_SECONDS="1",
        KUBEQ_PROXY_MODE="userspace",  # a forwarder daemon, stopped with the data dir; no host rules
    )
    args = ["node", "--name", name, "--data-dir", str(data_dir), "--port", str(port)]
    args += ["--server", apiserver.url, "--redis-url", apiserver.redis_url, "--isolation", "host"]
    return subprocess.Popen([sys.executable, "-m", "workers.cli", *args], env=env, cwd=ROOT)


@pytest.fixture
def node_dir(short_dir: Path) -> Iterator[Path]:
    """The node's data dir; its runtime daemon (which outlives agents) is stopped afterwards."""
    try:
        yield short_dir
    finally:
        supervisor.stop_daemon(short_dir)
        proxy_client.stop_daemon(short_dir)


def _get(kubectl: Any, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def _ready(kubectl: Any, name: str) -> dict[str, Any] | None:
    result = kubectl("get", "node", name, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    node = json.loads(result.stdout)
    conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    return node if conds.get("Ready") == "True" else None


def test_node_registers_renews_and_keeps_its_runtime(
    apiserver: APIServerProcess, kubectl: Any, node_dir: Path
) -> None:
    name = f"n-{uuid.uuid4().hex[:6]}"
    port = free_port()
    agent = _start_node(apiserver, name, node_dir, port)
    try:
        node = _until(lambda: _ready(kubectl, name), what="node Ready")
        status = node["status"]
        assert status["capacity"]["cpu"] == str(os.cpu_count())
        assert status["capacity"]["pods"] == "110"
        assert status["capacity"]["memory"].endswith("Ki")
        assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == port
        version = supervisor.runtime_version(supervisor.socket_path(node_dir))
        assert status["nodeInfo"]["containerRuntimeVersion"] == version
        assert status["nodeInfo"]["kubeletVersion"] == "v1.32.0-kubeq"
        assert {c["type"] for c in status["conditions"]} == {
            "Ready",
            "MemoryPressure",
            "DiskPressure",
            "PIDPressure",
        }
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == name and labels["kubernetes.io/os"] == "linux"
        assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
        wide = kubectl("get", "node", name, "-o", "wide").stdout
        assert "Ready" in wide and version in wide and "v1.32.0-kubeq" in wide, wide

        lease = _get(kubectl, "lease", name, "-n", "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == name
        assert lease["spec"]["leaseDurationSeconds"] == 40
        first = lease["spec"]["renewTime"]
        _until(
            lambda: _get(kubectl, "lease", name, "-n", "kube-node-lease")["spec"]["renewTime"] > first,
            what="lease renewal",
        )

        daemon = supervisor.daemon_pid(node_dir)
        assert daemon is not None
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        assert supervisor.daemon_pid(node_dir) == daemon, "SIGTERM of the agent must leave the daemon"
        assert supervisor.answers(supervisor.socket_path(node_dir))

        agent = _start_node(apiserver, name, node_dir, port)
        beat = _get(kubectl, "node", name)
        before = max(c["lastHeartbeatTime"] for c in beat["status"]["conditions"])
        _until(
            lambda: (
                max(c["lastHeartbeatTime"] for c in _get(kubectl, "node", name)["status"]["conditions"])
                > before
            ),
            what="a heartbeat from the restarted agent",
        )
        assert supervisor.daemon_pid(node_dir) == daemon, "the restarted agent reuses the running daemon"
        assert _ready(kubectl, name)

        os.kill(daemon, signal.SIGKILL)  # a dead daemon is noticed and started again by the agent
        _until(lambda: supervisor.daemon_pid(node_dir) not in (None, daemon), what="a new daemon")
        fresh = supervisor.daemon_pid(node_dir)
        _until(lambda: supervisor.answers(supervisor.socket_path(node_dir)), what="the new daemon answering")
        assert supervisor.daemon_pid(node_dir) == fresh
        _until(lambda: _ready(kubectl, name), what="Ready after the daemon restart")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
        kubectl("delete", "node", name, "--wait=false", check=False)
