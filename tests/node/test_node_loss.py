"""A node's agent or runtime daemon dying, or the node going silent, on ``kubeq up --nodes 2``.

SIGKILL of a node's agent (``kubeq up`` starts it again) leaves its containers running, not
started twice. An agent that stops answering (SIGSTOP: its Lease is no longer renewed) makes the
node NotReady within the grace period; its pods with a short ``tolerationSeconds`` are evicted and
come back Running on the other node; once the agent answers again, its kubelet kills the
processes of the pods that were replaced elsewhere. A SIGKILLed runtime daemon is started again
by the agent: running containers are adopted as they are, one that died meanwhile is restarted.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.node.upcluster import (
    Kube,
    apply,
    bare_pod,
    container,
    launch_up,
    pid_with,
    pod,
    pods,
    ready_nodes,
    wait,
)
from workers.node import supervisor

pytestmark = pytest.mark.slow  # node loss and recovery on two clusters: `pytest -m slow` (CI runs it)

GRACE = 8  # seconds without a Lease renewal before a node is NotReady (Kubernetes' default is 40)


@pytest.fixture(scope="module", params=["host", "namespaces"])
def kube(request: pytest.FixtureRequest) -> Iterator[Kube]:
    """Two nodes renewing their Leases every 2 s, with the param's isolation."""
    env = {"KUBEQ_NODE_MONITOR_GRACE_PERIOD": str(GRACE), "KUBEQ_NODE_STATUS_SECONDS": "2"}
    with launch_up(request.param, **env) as run:
        yield run


def agent_pid(kube: Kube, node: str) -> int | None:
    """The pid of ``kubeq node --name <node>`` started by this cluster's ``kubeq up``."""
    data_dir = str(kube.data_dir)  # type: ignore[attr-defined]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if "workers.cli" in words and "node" in words and node in words and any(data_dir in w for w in words):
            return int(entry)
    return None


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            marker.encode() in cmdline and state != "Z" and b"isolation.py" not in cmdline
        ):  # not the pod entry helper
            found.append(int(entry))
    return found


def test_sigkill_of_the_agent_leaves_containers_running(kube: Kube) -> None:
    marker = f"kq-steady-{uuid.uuid4().hex[:8]}"
    apply(kube, bare_pod("steady", ["python3", "-c", "import time; time.sleep(3600)", marker]))
    running = wait(
        lambda: (p := pod(kube, "steady")) and container(p).get("state", {}).get("running") and p,
        60,
        "steady",
    )
    node = running["spec"]["nodeName"]
    pid = wait(lambda: pid_with(marker), 10, "the container's process")
    old_agent = wait(lambda: agent_pid(kube, node), 10, "the node agent")
    os.kill(old_agent, signal.SIGKILL)
    wait(lambda: (new := agent_pid(kube, node)) and new != old_agent, 60, "kubeq up to start the agent again")
    wait(lambda: node in ready_nodes(kube), 60, "the node Ready again")
    time.sleep(5)  # the new agent's resync has run the pod's sync by now
    assert pid_with(marker) == pid, "the container was started again"
    assert container(pod(kube, "steady"))["restartCount"] == 0
    kube("delete", "pod", "steady", "--wait=false")


def _roaming_deployment(marker: str) -> dict[str, Any]:
    tolerations = [
        {
            "key": f"node.kubernetes.io/{t}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 2,
        }
        for t in ("unreachable", "not-ready")
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "roam"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "roam"}},
            "template": {
                "metadata": {"labels": {"app": "roam"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "tolerations": tolerations,
                    "containers": [
                        {
                            "name": "c",
                            "image": "python:3",
                            "command": ["python3", "-c", "import time; time.sleep(3600)", marker],
                        }
                    ],
                },
            },
        },
    }


def _running(p: dict[str, Any]) -> bool:
    return not p["metadata"].get("deletionTimestamp") and bool(container(p).get("state", {}).get("running"))


def test_a_silent_node_goes_not_ready_and_its_pods_come_back_elsewhere(kube: Kube) -> None:
    marker = f"kq-roam-{uuid.uuid4().hex[:8]}"
    apply(kube, _roaming_deployment(marker))
    placed = wait(
        lambda: (ps := [p for p in pods(kube, "app=roam") if _running(p)])[3:] and ps, 90, "4 running"
    )
    by_node: dict[str, list[str]] = {}
    for p in placed:
        by_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    lost = max(by_node, key=lambda n: len(by_node[n]))
    agent = wait(lambda: agent_pid(kube, lost), 10, "the node agent")
    os.kill(agent, signal.SIGSTOP)
    try:
        started = time.monotonic()

        def not_ready() -> bool:
            out = kube("get", "node", lost, "-o", "json")
            conds = {c["type"]: c["status"] for c in json.loads(out.stdout)["status"]["conditions"]}
            return conds.get("Ready") == "Unknown"

        wait(not_ready, GRACE + 20, f"{lost} to become NotReady")
        assert time.monotonic() - started < GRACE + 20
        assert "NotReady" in kube("get", "node", lost).stdout

        def moved() -> list[dict[str, Any]]:
            live = [p for p in pods(kube, "app=roam") if _running(p)]
            return live if len(live) == 4 and all(p["spec"]["nodeName"] != lost for p in live) else []

        wait(moved, 60, "4 pods running on the other node")
    finally:
        os.kill(agent, signal.SIGCONT)
    wait(lambda: lost in ready_nodes(kube), 60, f"{lost} Ready again")
    wait(
        lambda: not [p for p in pods(kube, "app=roam") if p["spec"]["nodeName"] == lost],
        60,
        "the replaced pods to finish terminating once their node answers",
    )
    # their processes were killed by the returning node: only the 4 replacements still run
    wait(lambda: len(processes_with(marker)) == 4, 30, "exactly 4 container processes")
    kube("delete", "deployment", "roam")


def test_sigkill_of_the_runtime_daemon_keeps_survivors_and_restores_the_dead(kube: Kube) -> None:
    alive, doomed = f"kq-alive-{uuid.uuid4().hex[:8]}", f"kq-doomed-{uuid.uuid4().hex[:8]}"
    apply(kube, bare_pod("survivor", ["python3", "-c", "import time; time.sleep(3600)", alive]))
    first = wait(
        lambda: (p := pod(kube, "survivor")) and container(p).get("state", {}).get("running") and p, 60, "up"
    )
    node = first["spec"]["nodeName"]
    pin = {"nodeSelector": {"kubernetes.io/hostname": node}}
    apply(kube, bare_pod("victim", ["python3", "-c", "import time; time.sleep(3600)", doomed], **pin))
    wait(lambda: container(pod(kube, "victim")).get("state", {}).get("running"), 60, "victim running")
    survivor_pid = wait(lambda: pid_with(alive), 10, "the survivor's process")
    daemon = supervisor.daemon_pid(Path(kube.data_dir) / "nodes" / node)  # type: ignore[attr-defined]
    assert daemon is not None
    os.kill(daemon, signal.SIGKILL)
    for pid in processes_with(doomed):  # a container dies while its supervisor is away
        os.kill(pid, signal.SIGKILL)
    wait(
        lambda: (new := supervisor.daemon_pid(Path(kube.data_dir) / "nodes" / node)) and new != daemon,  # type: ignore[attr-defined]
        60,
        "the agent to start the daemon again",
    )
    wait(
        lambda: (
            container(pod(kube, "victim")).get("restartCount", 0) >= 1
            and container(pod(kube, "victim")).get("state", {}).get("running")
        ),
        60,
        "the dead container restarted",
    )
    assert pid_with(alive) == survivor_pid and container(pod(kube, "survivor"))["restartCount"] == 0
    for name in ("survivor", "victim"):
        kube("delete", "pod", name, "--wait=false")
