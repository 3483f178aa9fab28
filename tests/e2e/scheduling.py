"""Helpers for the scheduling end-to-end suites: a fresh API server with a control plane, Node and
Pod objects built through the API, polling, and kubectl against that server."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client
from tests.e2e.conftest import APIServerProcess, launch_apiserver
from tests.e2e.control_plane import ControlPlane, launch_control_plane

NODES = lookup("", "v1", "nodes")
PODS = lookup("", "v1", "pods")
EVENTS = lookup("", "v1", "events")
NAMESPACES = lookup("", "v1", "namespaces")
TEST_LABEL = "e2e.kubeq.io/test"
Obj = dict[str, Any]


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except errors.NotFound:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def node_object(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "16Gi",
    pods: int = 110,
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
) -> Obj:
    """A Ready Node with ``cpu``/``memory``/``pods`` allocatable (no agent behind it)."""
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def pod_object(
    name: str,
    *,
    cpu: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    """A one-container Pod; extra keyword arguments are merged into its spec (camelCase keys)."""
    container: Obj = {"name": "c", "image": "registry.k8s.io/pause:3.10"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    md: Obj = {"name": name, "labels": labels or {}}
    if annotations:
        md["annotations"] = annotations
    body: Obj = {"containers": [container], **spec}
    if node_selector:
        body["nodeSelector"] = node_selector
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": body}


@dataclass
class Cluster:
    """A fresh API server with its control plane; ``scope`` creates per-test nodes and a namespace."""

    server: APIServerProcess
    plane: ControlPlane
    client: Client
    cache_dir: Path

    def kubectl(self, *args: str) -> str:
        cmd = ["kubectl", f"--kubeconfig={self.server.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    def node_count(self) -> int:
        return len(self.client.list(NODES)["items"])


@dataclass
class Scope:
    """One test's namespace and nodes (labelled ``TEST_LABEL=<id>``), removed afterwards."""

    cluster: Cluster
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    nodes: list[str] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return f"s-{self.id}"

    @property
    def client(self) -> Client:
        return self.cluster.client

    @property
    def selector(self) -> dict[str, str]:
        """A nodeSelector matching only this test's nodes."""
        return {TEST_LABEL: self.id}

    def node(self, name: str, **kwargs: Any) -> Obj:
        full = f"{self.id}-{name}"
        labels = {TEST_LABEL: self.id, **kwargs.pop("labels", {})}
        created = self.client.create(node_object(full, labels=labels, **kwargs))
        self.nodes.append(full)
        return created

    def pod(self, name: str, **kwargs: Any) -> Obj:
        kwargs.setdefault("node_selector", self.selector)
        return self.client.create(pod_object(name, **kwargs), self.ns)

    def get(self, name: str) -> Obj:
        return self.client.get(PODS, name, self.ns)

    def pods(self) -> list[Obj]:
        return self.client.list(PODS, self.ns)["items"]

    def wait_bound(self, name: str, timeout: float = 15.0) -> str:
        """The node ``name`` is bound to, once it is."""
        return wait_for(lambda: self.get(name)["spec"].get("nodeName"), timeout, f"{name} to be bound")

    def wait_unschedulable(self, name: str, timeout: float = 15.0) -> str:
        """The message of ``name``'s ``PodScheduled=False`` condition, once set."""

        def message() -> str | None:
            pod = self.get(name)
            assert not pod["spec"].get("nodeName"), f"{name} was bound to {pod['spec']['nodeName']}"
            for cond in pod.get("status", {}).get("conditions") or []:
                if cond["type"] == "PodScheduled" and cond["status"] == "False":
                    assert cond["reason"] == "Unschedulable"
                    return cond["message"]
            return None

        return wait_for(message, timeout, f"{name} to be marked unschedulable")

    def events(self, name: str) -> list[Obj]:
        items = self.client.list(EVENTS, self.ns)["items"]
        return [e for e in items if e["involvedObject"]["name"] == name]

    def create_many(self, bodies: Iterable[Obj], threads: int = 8) -> None:
        """Create pods in parallel (the client keeps a connection per thread)."""
        bodies = list(bodies)

        def create(chunk: list[Obj]) -> None:
            for body in chunk:
                self.client.create(body, self.ns)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(create, [bodies[i::threads] for i in range(threads)]))

    def cleanup(self) -> None:
        """Delete this test's pods (at once) and nodes."""
        for pod in self.pods():
            try:
                self.client.delete(PODS, pod["metadata"]["name"], self.ns, gracePeriodSeconds=0)
            except errors.NotFound:
                pass
        for name in self.nodes:
            try:
                self.client.delete(NODES, name)
            except errors.NotFound:
                pass


@contextlib.contextmanager
def launch_cluster(redis_url: str, tmp: Path, **plane: Any) -> Iterator[Cluster]:
    """A fresh API server (its own state prefix) and ``launch_control_plane(server, **plane)``."""
    with launch_apiserver(redis_url, tmp) as server, launch_control_plane(server, **plane) as cp:
        cache = tmp / "kubectl-cache"
        cache.mkdir(exist_ok=True)
        yield Cluster(server, cp, Client(server.url), cache)


def scope(cluster: Cluster) -> Iterator[Scope]:
    """A fixture body: a Scope with its namespace, cleaned up afterwards."""
    sc = Scope(cluster)
    cluster.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sc.ns}})
    try:
        yield sc
    finally:
        sc.cleanup()


def pods_per_node(pods: Iterable[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        node = pod["spec"].get("nodeName")
        if node:
            out.setdefault(node, []).append(pod)
    return out


def milli_cpu(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)
