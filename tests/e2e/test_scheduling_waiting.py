"""Scheduling end to end: pods that wait are placed once room appears; gangs; preemption.

A fresh API server with controller-manager and one scheduler worker; each test brings its own Node
objects (no agents), so ``0/N`` counts only the test's nodes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cluster import errors
from tests.e2e.scheduling import NODES, PODS, Cluster, Scope, launch_cluster, scope, wait_for

GANG = {"kubeq.io/pod-group": "g", "kubeq.io/pod-group-min-member": "3"}


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with launch_cluster(redis_url, tmp_path_factory.mktemp("sched-wait")) as c:
        yield c


@pytest.fixture
def sc(cluster: Cluster) -> Iterator[Scope]:
    yield from scope(cluster)


def test_waiting_pod_is_placed_when_the_pod_in_its_way_is_deleted(sc: Scope) -> None:
    sc.node("one", cpu="1")
    sc.pod("first", cpu="1")
    assert sc.wait_bound("first") == f"{sc.id}-one"
    sc.pod("second", cpu="1")
    assert sc.wait_unschedulable("second").startswith("0/1 nodes are available: 1 Insufficient cpu.")
    time.sleep(3)  # let the retry backoff grow: the deletion itself must wake the scheduler
    assert not sc.get("second")["spec"].get("nodeName")
    started = time.monotonic()
    sc.client.delete(PODS, "first", sc.ns, gracePeriodSeconds=0)
    assert sc.wait_bound("second", timeout=15) == f"{sc.id}-one"
    assert time.monotonic() - started < 15
    conditions = {c["type"]: c for c in sc.get("second")["status"]["conditions"]}
    assert conditions["PodScheduled"]["status"] == "True"


def test_waiting_pod_is_placed_when_a_node_is_added(sc: Scope) -> None:
    sc.node("small", cpu="1")
    sc.pod("big", cpu="4")
    assert sc.wait_unschedulable("big").startswith("0/1 nodes are available: 1 Insufficient cpu.")
    time.sleep(3)
    started = time.monotonic()
    sc.node("large", cpu="8")
    assert sc.wait_bound("big", timeout=15) == f"{sc.id}-large"
    assert time.monotonic() - started < 15
    reasons = wait_for(
        lambda: {e["reason"] for e in sc.events("big")} >= {"FailedScheduling", "Scheduled"}, 10, "events"
    )
    assert reasons


def test_gang_is_placed_whole_or_not_at_all(sc: Scope) -> None:
    sc.node("n0", cpu="1")
    sc.node("n1", cpu="1")
    for i in range(3):
        sc.pod(f"worker-{i}", cpu="1", annotations=GANG)
    messages = [sc.wait_unschedulable(f"worker-{i}") for i in range(3)]
    assert all("pod group" in m for m in messages), messages
    time.sleep(1)
    assert [p["spec"].get("nodeName") for p in sc.pods()] == [None, None, None]
    sc.node("n2", cpu="1")
    nodes = [sc.wait_bound(f"worker-{i}") for i in range(3)]
    assert sorted(nodes) == [f"{sc.id}-n0", f"{sc.id}-n1", f"{sc.id}-n2"]


def test_gang_waits_for_its_minimum_members(sc: Scope) -> None:
    sc.node("big", cpu="8")
    sc.pod("m-0", cpu="1", annotations=GANG)
    sc.pod("m-1", cpu="1", annotations=GANG)
    assert "pod group" in sc.wait_unschedulable("m-0")
    time.sleep(1)
    assert not any(p["spec"].get("nodeName") for p in sc.pods())
    sc.pod("m-2", cpu="1", annotations=GANG)
    assert {sc.wait_bound(f"m-{i}") for i in range(3)} == {f"{sc.id}-big"}


def test_high_priority_pod_preempts_a_lower_one(sc: Scope) -> None:
    sc.node("only", cpu="2")
    high_class = f"{sc.id}-high"
    sc.client.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": high_class},
            "value": 1000,
        }
    )
    sc.pod("low", cpu="1500m", terminationGracePeriodSeconds=0)  # no class: priority 0
    assert sc.wait_bound("low") == f"{sc.id}-only"
    assert sc.get("low")["spec"]["priority"] == 0
    sc.pod("high", cpu="1500m", priorityClassName=high_class)
    assert sc.get("high")["spec"]["priority"] == 1000
    assert sc.wait_bound("high") == f"{sc.id}-only"

    def low_gone() -> bool:
        try:
            sc.get("low")
        except errors.NotFound:
            return True
        return False

    wait_for(low_gone, 10, "the low-priority pod to be evicted")
    preempted = [e for e in sc.events("low") if e["reason"] == "Preempted"]
    assert preempted and preempted[0]["source"]["component"] == "default-scheduler"
    # an equal-priority pod does not preempt
    sc.pod("peer", cpu="1500m", priorityClassName=high_class)
    assert sc.wait_unschedulable("peer").startswith("0/1 nodes are available: 1 Insufficient cpu.")
    assert sc.get("high")["spec"]["nodeName"] == f"{sc.id}-only"
    assert sc.client.get(NODES, f"{sc.id}-only")["metadata"]["name"]
