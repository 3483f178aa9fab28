"""End to end: API server, control plane (scheduler, dispatcher) and a real ``kubeq node``: its
runtime daemon runs the containers, its pod watch queues the kubelet keys, its ``kubelet@<node>``
worker runs the syncs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.e2e.conftest import ROOT, APIServerProcess
from tests.e2e.control_plane import launch_control_plane
from tests.e2e.scheduling import wait_for
from workers.local_cluster import stop_process
from workers.node import supervisor
from workers.proxy.teardown import teardown

PODS = lookup("", "v1", "pods")
NODES = lookup("", "v1", "nodes")
Obj = dict[str, Any]

MARKER = f"kubelet-e2e-{uuid.uuid4().hex[:8]}"
SHOW = (
    f"# {MARKER}\n"
    "import os, time; print('GREETING=' + os.environ['GREETING'], flush=True); "
    "print('COLOR=' + open('volumes/cfg/color').read(), flush=True); time.sleep(300)"
)


def processes_running(marker: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z" and int(entry) != os.getpid():
            found.append(int(entry))
    return found


class Node:
    def __init__(self, name: str, data: Path) -> None:
        self.name, self.data = name, data


@pytest.fixture(scope="module")
def node(server: APIServerProcess, client: Client) -> Iterator[Node]:
    data = Path(tempfile.mkdtemp(prefix="kqk-", dir="/tmp"))  # the daemon's socket path must be short
    node = Node(f"real-{uuid.uuid4().hex[:6]}", data)
    with launch_control_plane(server) as plane:
        env = dict(plane.env, KUBEQ_CRASHLOOP_BASE_SECONDS="0.5", KUBEQ_KUBELET_RESYNC_SECONDS="2")
        cmd = [sys.executable, "-m", "workers.cli", "node", "--name", node.name, "--data-dir", str(data)]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
        try:
            wait_for(lambda: client.get(NODES, node.name), 30, "the node to register")
            yield node
        finally:
            stop_process(proc)
            supervisor.stop_daemon(data)  # the daemon outlives its agent by design
            teardown(node.name, data)  # its kube-proxy's table (nftables) or daemon (userspace)
            shutil.rmtree(data, ignore_errors=True)


def make_pod(name: str, node: Node, command: list[str], **spec: Any) -> Obj:
    container = {"name": "c", "image": "python:3.11", "command": command}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": node.name}, "containers": [container], **spec},
    }


def cstatus(pod: Obj) -> Obj:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or []
    )


def test_pod_runs_sees_env_and_volumes_and_deletion_stops_it(client: Client, ns: str, node: Node) -> None:
    client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"color": "teal"}}, ns
    )
    body = make_pod(
        "show",
        node,
        ["python3", "-c", SHOW],
        container={
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "GREETING", "value": "hello from $(POD)"},
            ]
        },
        volumes=[{"name": "cfg", "configMap": {"name": "cm"}}],
        terminationGracePeriodSeconds=3,
    )
    client.create(body, ns)
    pod = wait_for(lambda: (p := client.get(PODS, "show", ns)) and ready(p) and p, 30, "show to be Ready")
    addresses = client.get(NODES, node.name)["status"]["addresses"]
    internal = next(a["address"] for a in addresses if a["type"] == "InternalIP")
    assert pod["status"]["phase"] == "Running" and pod["status"]["hostIP"] == internal
    log = node.data / "pods" / pod["metadata"]["uid"] / "logs" / "c" / "0.log"
    text = wait_for(lambda: log.exists() and "COLOR=" in log.read_text() and log.read_text(), 10, "the log")
    assert "GREETING=hello from show" in text and "COLOR=teal" in text

    pids = processes_running(MARKER)
    assert pids
    client.delete(PODS, "show", ns)

    def gone() -> bool:
        try:
            client.get(PODS, "show", ns)
            return False
        except errors.NotFound:
            return True

    wait_for(gone, 20, "the pod to disappear")
    assert not processes_running(MARKER)


def test_crashing_container_shows_crashloopbackoff(client: Client, ns: str, node: Node) -> None:
    client.create(make_pod("crash", node, ["python3", "-c", "raise SystemExit(1)"]), ns)
    seen: set[int] = set()

    def looping() -> Obj | None:
        pod = client.get(PODS, "crash", ns)
        cs = cstatus(pod)
        seen.add(cs.get("restartCount", 0))
        waiting = (cs.get("state") or {}).get("waiting") or {}
        return pod if cs.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff" else None

    pod = wait_for(looping, 30, "CrashLoopBackOff with restarts")
    assert cstatus(pod)["lastState"]["terminated"]["exitCode"] == 1
    assert len(seen) >= 2  # the count went up while we watched


def test_never_exit_zero_succeeds(client: Client, ns: str, node: Node) -> None:
    client.create(make_pod("once", node, ["python3", "-c", "print('ok')"], restartPolicy="Never"), ns)
    pod = wait_for(
        lambda: (p := client.get(PODS, "once", ns)) and p.get("status", {}).get("phase") == "Succeeded" and p,
        30,
        "the pod to succeed",
    )
    assert cstatus(pod)["state"]["terminated"]["reason"] == "Completed"
