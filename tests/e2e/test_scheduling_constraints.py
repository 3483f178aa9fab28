"""Scheduling end to end: real API server, controller-manager, scheduler worker and hollow nodes.

Every test adds its own Node objects (labelled with the test's id) and removes them afterwards, so
``0/N`` in a message counts the HOLLOW hollow nodes plus the test's own nodes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.scheduling import PODS, Cluster, Scope, launch_cluster, scope, wait_for

HOLLOW = 2
NOT_SELECTED = "node(s) didn't match Pod's node affinity/selector"


@pytest.fixture(scope="module")
def cluster(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    prefix = f"hn{uuid.uuid4().hex[:4]}"
    with launch_cluster(
        redis_url, tmp_path_factory.mktemp("sched"), hollow=HOLLOW, hollow_prefix=prefix
    ) as c:
        wait_for(lambda: c.node_count() == HOLLOW, 30, "hollow nodes to register")
        c.hollow_prefix = prefix  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def sc(cluster: Cluster) -> Iterator[Scope]:
    yield from scope(cluster)


def test_plain_pods_are_bound_and_run_on_hollow_nodes(cluster: Cluster, sc: Scope) -> None:
    for i in range(3):
        sc.pod(f"plain-{i}", node_selector={})
    prefix = cluster.hollow_prefix  # type: ignore[attr-defined]
    for i in range(3):
        node = sc.wait_bound(f"plain-{i}")
        assert node.startswith(prefix + "-")
    wait_for(lambda: all(p["status"].get("phase") == "Running" for p in sc.pods()), 15, "pods to run")
    pod = sc.get("plain-0")
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["PodScheduled"] == "True" and conditions["Ready"] == "True"
    node = pod["spec"]["nodeName"]
    scheduled = wait_for(
        lambda: [e for e in sc.events("plain-0") if e["reason"] == "Scheduled"], 10, "the Scheduled event"
    )
    assert len(scheduled) == 1
    assert scheduled[0]["message"] == f"Successfully assigned {sc.ns}/plain-0 to {node}"
    assert scheduled[0]["source"]["component"] == "default-scheduler"
    out = cluster.kubectl("get", "pods", "-n", sc.ns, "-o", "wide", "--no-headers")
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["plain-0"][2] == "Running" and rows["plain-0"][6] == node


def test_node_selector_and_required_node_affinity(cluster: Cluster, sc: Scope) -> None:
    sc.node("ssd", labels={"disk": "ssd"})
    sc.node("hdd", labels={"disk": "hdd"})
    sc.pod("by-selector", node_selector={**sc.selector, "disk": "hdd"})
    term = {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}]}
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    }
    sc.pod("by-affinity", affinity=affinity)
    assert sc.wait_bound("by-selector") == f"{sc.id}-hdd"
    assert sc.wait_bound("by-affinity") == f"{sc.id}-ssd"

    term = {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]}
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    }
    sc.pod("no-nvme", affinity=affinity)
    message = sc.wait_unschedulable("no-nvme")
    assert message.startswith(f"0/{HOLLOW + 2} nodes are available: {HOLLOW + 2} {NOT_SELECTED}."), message


def test_taints_and_tolerations(cluster: Cluster, sc: Scope) -> None:
    sc.node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    toleration = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    sc.pod("tolerates", tolerations=[toleration])
    assert sc.wait_bound("tolerates") == f"{sc.id}-gpu"
    sc.pod("intolerant")
    message = sc.wait_unschedulable("intolerant")
    expected = (
        f"0/{HOLLOW + 1} nodes are available: 1 node(s) had untolerated taint {{dedicated: gpu}}, "
        f"{HOLLOW} {NOT_SELECTED}."
    )
    assert message.startswith(expected), message


def test_insufficient_cpu_shows_in_kubectl_describe(cluster: Cluster, sc: Scope) -> None:
    sc.node("small", cpu="2")
    sc.pod("fits", cpu="1500m")
    assert sc.wait_bound("fits") == f"{sc.id}-small"
    sc.pod("too-big", cpu="1")
    expected = f"0/{HOLLOW + 1} nodes are available: 1 Insufficient cpu, {HOLLOW} {NOT_SELECTED}."
    assert sc.wait_unschedulable("too-big").startswith(expected)
    out = cluster.kubectl("describe", "pod", "too-big", "-n", sc.ns)
    events = out[out.index("Events:") :]
    assert "Warning  FailedScheduling" in events and "default-scheduler" in events, out
    assert expected in " ".join(events.split()), out
    assert "PodScheduled   False" in out, out


def test_host_port_conflicts(cluster: Cluster, sc: Scope) -> None:
    sc.node("ports")

    def port(hp: int) -> list[dict]:
        return [{"name": "c", "image": "pause", "ports": [{"containerPort": 80, "hostPort": hp}]}]

    sc.pod("web-a", containers=port(8080))
    assert sc.wait_bound("web-a") == f"{sc.id}-ports"
    sc.pod("web-b", containers=port(8080))
    sc.pod("web-c", containers=port(8081))
    assert sc.wait_bound("web-c") == f"{sc.id}-ports"
    message = sc.wait_unschedulable("web-b")
    expected = (
        f"0/{HOLLOW + 1} nodes are available: 1 node(s) didn't have free ports for the requested pod ports, "
        f"{HOLLOW} {NOT_SELECTED}."
    )
    assert message.startswith(expected), message


def test_required_pod_anti_affinity(cluster: Cluster, sc: Scope) -> None:
    sc.node("a")
    sc.node("b")
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    sc.pod("db-0", labels={"app": "db"}, affinity=anti)
    first = sc.wait_bound("db-0")
    sc.pod("db-1", labels={"app": "db"}, affinity=anti)
    second = sc.wait_bound("db-1")
    assert {first, second} == {f"{sc.id}-a", f"{sc.id}-b"}
    sc.pod("db-2", labels={"app": "db"}, affinity=anti)
    message = sc.wait_unschedulable("db-2")
    assert message.startswith(f"0/{HOLLOW + 2} nodes are available: 2 node(s) didn't "), message
    assert "anti-affinity rules" in message and f"{HOLLOW} {NOT_SELECTED}" in message


def test_topology_spread_max_skew_one_over_zones(cluster: Cluster, sc: Scope) -> None:
    zone = "topology.kubernetes.io/zone"
    sc.node("za", cpu="8", labels={zone: "zone-a"})
    sc.node("zb", cpu="1", labels={zone: "zone-b"})
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": zone,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}},
        }
    ]
    placed = []
    for i in range(3):  # zone-b fits one pod: a, b, then a again (skew 1)
        sc.pod(f"s-{i}", cpu="1", labels={"app": "spread"}, topologySpreadConstraints=spread)
        placed.append(sc.wait_bound(f"s-{i}"))
    assert sorted(placed) == sorted([f"{sc.id}-za", f"{sc.id}-za", f"{sc.id}-zb"])
    sc.pod("s-3", cpu="1", labels={"app": "spread"}, topologySpreadConstraints=spread)
    message = sc.wait_unschedulable("s-3")
    expected = (
        f"0/{HOLLOW + 2} nodes are available: 1 Insufficient cpu, "
        f"1 node(s) didn't match pod topology spread constraints, {HOLLOW} {NOT_SELECTED}."
    )
    assert message.startswith(expected), message


def test_cordoned_nodes_take_no_pods(cluster: Cluster, sc: Scope) -> None:
    sc.node("cordoned", unschedulable=True)
    sc.node("open")
    sc.pod("p-0")
    assert sc.wait_bound("p-0") == f"{sc.id}-open"
    out = cluster.kubectl("cordon", f"{sc.id}-open")
    assert "cordoned" in out
    sc.pod("p-1")
    message = sc.wait_unschedulable("p-1")
    expected = f"0/{HOLLOW + 2} nodes are available: {HOLLOW} {NOT_SELECTED}, 2 node(s) were unschedulable."
    assert message.startswith(expected), message
    cluster.kubectl("uncordon", f"{sc.id}-cordoned")
    assert sc.wait_bound("p-1") == f"{sc.id}-cordoned"
    assert sc.client.get(PODS, "p-0", sc.ns)["spec"]["nodeName"] == f"{sc.id}-open"
