"""Scheduling end to end under faults and concurrency: SIGKILL of the scheduler worker mid-pass,
two scheduler workers at once, and Flower showing the workers and the scheduling tasks."""

from __future__ import annotations

import base64
import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.e2e.scheduling import (
    EVENTS,
    PODS,
    Cluster,
    Scope,
    launch_cluster,
    milli_cpu,
    pod_object,
    pods_per_node,
    scope,
    wait_for,
)

SEEN_KEYS: list[str] = []  # pod keys the flower test looks for among the tasks' args


@pytest.fixture(scope="module")
def flower_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flower")


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory, flower_dir: Path) -> Iterator[Cluster]:
    with launch_cluster(redis_url, tmp_path_factory.mktemp("sched-faults")) as c:
        port = free_port()
        c.plane.start("flower", "flower", "--port", str(port), "--data-dir", str(flower_dir))
        c.flower_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def sc(cluster: Cluster) -> Iterator[Scope]:
    yield from scope(cluster)


def bound_count(sc: Scope) -> int:
    return len(sc.client.list(PODS, sc.ns, field_selector="spec.nodeName!=")["items"])


def assert_not_overcommitted(sc: Scope, pods: list[dict]) -> dict[str, list[dict]]:
    placed = pods_per_node(pods)
    for name, on_node in placed.items():
        assert name in sc.nodes, name
        node = sc.client.get(sc.cluster.client.resource_of({"apiVersion": "v1", "kind": "Node"}), name)
        allocatable = node["status"]["allocatable"]
        assert len(on_node) <= int(allocatable["pods"]), (name, len(on_node))
        cpu = sum(milli_cpu(p["spec"]["containers"][0]["resources"]["requests"]["cpu"]) for p in on_node)
        assert cpu <= milli_cpu(allocatable["cpu"]), (name, cpu)
    return placed


def test_sigkill_of_the_scheduler_mid_pass_loses_no_pod(cluster: Cluster, sc: Scope) -> None:
    count = 200
    sc.create_many(pod_object(f"p-{i}", cpu="100m", node_selector=sc.selector) for i in range(count))
    # no node matches yet: every pod waits
    wait_for(lambda: sc.wait_unschedulable(f"p-{count - 1}", 15), 15, "the pods to wait")
    for i in range(10):
        sc.node(f"n{i}", cpu="16", pods=25)
    deadline = time.monotonic() + 15
    while not sc.client.request("GET", sc.client.path(PODS, sc.ns), query={"fieldSelector": "spec.nodeName!=",
                                                                          "limit": 1})["items"]:  # fmt: skip
        assert time.monotonic() < deadline, "the pass did not start binding"
    victim = cluster.plane.processes["scheduler-0"]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    at_kill = bound_count(sc)
    assert at_kill < count, "the pass finished before the kill: nothing was pending"
    cluster.plane.start("scheduler-1", "scheduler")
    wait_for(lambda: bound_count(sc) == count, 30, f"all {count} pods to be bound (had {at_kill} at kill)")

    pods = sc.pods()
    assert len(pods) == count and all(p["spec"].get("nodeName") for p in pods)
    placed = assert_not_overcommitted(sc, pods)
    assert sum(len(v) for v in placed.values()) == count
    scheduled: dict[str, int] = {}
    for event in sc.client.list(EVENTS, sc.ns)["items"]:
        if event["reason"] == "Scheduled":
            name = event["involvedObject"]["name"]
            scheduled[name] = scheduled.get(name, 0) + 1
            node = sc.get(name)["spec"]["nodeName"] if scheduled[name] == 1 else None
            assert node is None or event["message"].endswith(f" to {node}")
    assert max(scheduled.values()) == 1, "a pod was bound twice"
    SEEN_KEYS.append(f"{sc.ns}/p-0")


def test_two_schedulers_never_overcommit_a_node(cluster: Cluster, sc: Scope) -> None:
    cluster.plane.start("scheduler-2", "scheduler")  # beside scheduler-1 from the previous test
    if "scheduler-1" not in cluster.plane.processes:
        cluster.plane.start("scheduler-1", "scheduler")
    nodes, per_node, count = 10, 25, 300
    for i in range(nodes):
        sc.node(f"n{i}", cpu=str(per_node), pods=per_node)
    sc.create_many(pod_object(f"q-{i}", cpu="1", node_selector=sc.selector) for i in range(count))
    fits = nodes * per_node
    wait_for(lambda: bound_count(sc) == fits, 30, f"{fits} pods to be bound")

    def waiting_messages() -> list[str] | None:
        out = []
        for pod in sc.pods():
            if pod["spec"].get("nodeName"):
                continue
            conds = [c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
            if not conds or conds[0]["status"] != "False":
                return None
            out.append(conds[0]["message"])
        return out

    messages = wait_for(waiting_messages, 15, "the rest to say why they wait")
    assert len(messages) == count - fits
    assert all(m.startswith(f"0/{nodes} nodes are available: ") and "Insufficient cpu" in m for m in messages)
    time.sleep(1)
    pods = sc.pods()
    placed = assert_not_overcommitted(sc, pods)
    assert sorted(len(v) for v in placed.values()) == [per_node] * nodes
    SEEN_KEYS.append(f"{sc.ns}/q-0")


def _get_json(url: str, user: str, password: str) -> object:
    request = urllib.request.Request(url)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_flower_lists_the_workers_and_the_scheduling_tasks(cluster: Cluster, flower_dir: Path) -> None:
    url = cluster.flower_url  # type: ignore[attr-defined]
    user, _, password = (flower_dir / "flower-credentials").read_text().strip().partition(":")
    assert user and password

    def refusal() -> int | None:
        """The status Flower answers an unauthenticated request with (None while it starts)."""
        try:
            urllib.request.urlopen(url + "/api/workers", timeout=10)
        except urllib.error.HTTPError as denied:
            return denied.code
        except OSError:
            return None
        return 200

    assert wait_for(refusal, 30, "flower to answer") == 401

    def workers() -> list[str] | None:
        names = list(_get_json(url + "/api/workers?refresh=1", user, password))  # type: ignore[arg-type]
        roles = {n.split("@")[0] for n in names}
        return names if {"scheduler", "controllers"} <= roles else None

    names = wait_for(workers, 20, "flower to list the workers")
    assert any(n.startswith("scheduler@") for n in names) and any(n.startswith("controllers@") for n in names)

    tasks = _get_json(url + "/api/tasks?taskname=kubeq.scheduler.sync&limit=5000", user, password)
    assert isinstance(tasks, dict) and tasks
    assert all(t["name"] == "kubeq.scheduler.sync" for t in tasks.values())
    # a run shows the keys it was sent with (args) and every key it ran, with its outcome (result)
    args = " ".join(f"{t.get('args')} {t.get('result')}" for t in tasks.values())
    assert SEEN_KEYS, "the scheduling tests did not run"
    for key in SEEN_KEYS:
        assert key in args, key
