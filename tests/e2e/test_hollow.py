"""Hollow nodes: a real ``python -m workers.hollow`` process against a real API server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.e2e.conftest import ROOT, APIServerProcess, Kubectl
from tests.e2e.scheduling import wait_for
from workers.local_cluster import stop_process

NODES = lookup("", "v1", "nodes")
PODS = lookup("", "v1", "pods")
LEASES = lookup("coordination.k8s.io", "v1", "leases")
COUNT = 5


def start_hollow(server: str, count: int, prefix: str, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "workers.hollow", "--count", str(count), "--prefix", prefix]
    return subprocess.Popen(
        [*args, "--server", server, *extra], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


def fleet_nodes(client: Client, prefix: str) -> list[dict[str, Any]]:
    items = client.list(NODES, label_selector="type=hollow")["items"]
    return [n for n in items if n["metadata"]["name"].startswith(prefix + "-")]


@pytest.fixture(scope="module")
def client(apiserver: APIServerProcess) -> Client:
    return Client(apiserver.url)


@pytest.fixture(scope="module")
def fleet(apiserver: APIServerProcess, client: Client) -> Iterator[str]:
    """A hollow-nodes process with COUNT nodes, 2 s leases and a 100 ms startup; yields the prefix."""
    prefix = f"h{uuid.uuid4().hex[:6]}"
    proc = start_hollow(apiserver.url, COUNT, prefix, "--startup-ms", "100", "--lease-renew-seconds", "2")
    try:
        wait_for(lambda: len(fleet_nodes(client, prefix)) == COUNT, 30, "nodes to register")
        yield prefix
    finally:
        stop_process(proc)
        proc.stdout.close()  # type: ignore[union-attr]


def test_nodes_have_capacity_labels_conditions_and_info(client: Client, fleet: str) -> None:
    nodes = {n["metadata"]["name"]: n for n in fleet_nodes(client, fleet)}
    assert sorted(nodes) == sorted(f"{fleet}-{i}" for i in range(COUNT))
    zones = [nodes[f"{fleet}-{i}"]["metadata"]["labels"]["topology.kubernetes.io/zone"] for i in range(COUNT)]
    assert zones == ["zone-a", "zone-b", "zone-c", "zone-a", "zone-b"]
    node = nodes[f"{fleet}-1"]
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == f"{fleet}-1"
    assert labels["kubernetes.io/os"] == "linux" and labels["type"] == "hollow"
    status = node["status"]
    expected = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    for field in ("capacity", "allocatable"):
        assert expected.items() <= status[field].items() and "ephemeral-storage" in status[field]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["reason"] == "KubeletReady"
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[kind]["status"] == "False" and conditions[kind]["lastHeartbeatTime"]
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == "v1.32.0-kubeq.1"
    assert info["containerRuntimeVersion"] == "hollow://1.0" and info["operatingSystem"] == "linux"
    assert info["architecture"] == labels["kubernetes.io/arch"]
    addresses = {a["type"]: a["address"] for a in status["addresses"]}
    assert addresses["Hostname"] == f"{fleet}-1" and addresses["InternalIP"].startswith("10.")


def test_kubectl_shows_hollow_nodes_ready(kubectl: Kubectl, fleet: str) -> None:
    out = kubectl("get", "nodes", "-l", "type=hollow", "--no-headers").stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(fleet + "-")]
    assert len(rows) == COUNT
    assert all(row[1] == "Ready" and row[-1] == "v1.32.0-kubeq.1" for row in rows)


def test_leases_renew_spread_over_the_interval(client: Client, fleet: str) -> None:
    def renew_times() -> dict[str, datetime]:
        leases = client.list(LEASES, "kube-node-lease")["items"]
        mine = [x for x in leases if x["metadata"]["name"].startswith(fleet + "-")]
        assert all(x["spec"]["holderIdentity"] == x["metadata"]["name"] for x in mine)
        assert all(x["spec"]["leaseDurationSeconds"] == 40 for x in mine)
        return {x["metadata"]["name"]: datetime.fromisoformat(x["spec"]["renewTime"]) for x in mine}

    first = renew_times()
    assert len(first) == COUNT
    wait_for(lambda: all(t > first[n] for n, t in renew_times().items()), 8, "every lease to renew")
    time.sleep(2.5)  # a full interval after: each lease renewed at its own offset
    times = sorted(renew_times().values())
    assert (times[-1] - times[0]).total_seconds() > 0.8, times


def pod(namespace: str, name: str, node: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never" if annotations else "Always",
            "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
            "containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "redis"}],
        },
    }


def test_bound_pod_becomes_running_and_ready(client: Client, fleet: str, namespace: str) -> None:
    created = client.create(pod(namespace, "web", f"{fleet}-2"))
    uid = created["metadata"]["uid"]

    def running() -> dict[str, Any] | None:
        current = client.get(PODS, "web", namespace)
        return current if current["status"].get("phase") == "Running" else None

    status = wait_for(running, 10, "pod to run")["status"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
        assert conditions[kind] == "True"
    assert status["podIP"].startswith("10.128.2.") and status["hostIP"] == status["hostIPs"][0]["ip"]
    assert status["startTime"]
    by_name = {c["name"]: c for c in status["containerStatuses"]}
    assert sorted(by_name) == ["side", "web"]
    web = by_name["web"]
    assert web["ready"] and web["started"] and web["restartCount"] == 0
    assert web["image"] == "nginx:1.27" and web["imageID"].startswith("nginx@sha256:")
    assert web["containerID"] == f"hollow://{uid}/web" and web["state"]["running"]["startedAt"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


@pytest.mark.parametrize(
    ("name", "node", "code", "phase", "reason", "shown"),
    [("job", 3, 0, "Succeeded", "Completed", "Completed"), ("crash", 1, 3, "Failed", "Error", "Error")],
)
def test_pod_asking_to_finish_ends_with_its_exit_code(
    client: Client,
    fleet: str,
    namespace: str,
    kubectl: Kubectl,
    name: str,
    node: int,
    code: int,
    phase: str,
    reason: str,
    shown: str,
) -> None:
    annotations = {"kubeq.io/hollow-succeed-after-seconds": "1"}
    if code:
        annotations["kubeq.io/hollow-exit-code"] = str(code)
    client.create(pod(namespace, name, f"{fleet}-{node}", annotations))

    def finished() -> dict[str, Any] | None:
        current = client.get(PODS, name, namespace)
        return current if current["status"].get("phase") == phase else None

    status = wait_for(finished, 10, f"pod to end {phase}")["status"]
    for cs in status["containerStatuses"]:
        assert cs["state"]["terminated"]["exitCode"] == code
        assert cs["state"]["terminated"]["reason"] == reason and not cs["ready"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == ("PodCompleted" if code == 0 else "PodFailed")
    out = kubectl("get", "pod", name, "-n", namespace, "--no-headers").stdout
    assert shown in out


def test_deleting_running_pod_finishes(client: Client, fleet: str, namespace: str, kubectl: Kubectl) -> None:
    client.create(pod(namespace, "doomed", f"{fleet}-4"))
    wait_for(
        lambda: client.get(PODS, "doomed", namespace)["status"].get("phase") == "Running", 10, "pod to run"
    )
    kubectl("delete", "pod", "doomed", "-n", namespace, "--wait=true", "--timeout=15s")
    with pytest.raises(errors.NotFound):
        client.get(PODS, "doomed", namespace)


def test_200_nodes_register_quickly_stay_after_stop_and_update_on_restart(
    apiserver: APIServerProcess, client: Client
) -> None:
    prefix = f"m{uuid.uuid4().hex[:6]}"
    proc = start_hollow(apiserver.url, 200, prefix)
    began = time.monotonic()
    try:
        wait_for(lambda: len(fleet_nodes(client, prefix)) == 200, 20, "200 nodes")
        took = time.monotonic() - began
    finally:
        stop_process(proc)
    out, _ = proc.communicate()
    assert proc.returncode == 0
    assert "registered 200 hollow nodes" in out
    assert took < 20
    # Stopped like a kubelet: the nodes stay. A new process with other flags updates them in place.
    assert len(fleet_nodes(client, prefix)) == 200
    proc = start_hollow(apiserver.url, 200, prefix, "--cpu", "16")
    try:
        wait_for(
            lambda: all(n["status"]["capacity"]["cpu"] == "16" for n in fleet_nodes(client, prefix)),
            20,
            "nodes updated to 16 cpus",
        )
    finally:
        stop_process(proc)
        proc.communicate()
    lease = client.get(LEASES, f"{prefix}-199", "kube-node-lease")
    assert json.dumps(lease["spec"]["renewTime"]).count(".") == 1  # MicroTime
