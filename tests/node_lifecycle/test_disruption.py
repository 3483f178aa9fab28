"""PodDisruptionBudgets: status from the disruption controller, `kubectl get pdb`, the eviction API
refusing with 429 while no disruption is allowed, and `kubectl cordon/uncordon/drain` honouring it."""

from __future__ import annotations

import pytest

from cluster import errors
from cluster.api.resources import lookup
from tests.controllers.harness import kubectl, workload
from tests.e2e.scheduling import Cluster, wait_for
from tests.node_lifecycle.helpers import NODES, PODS

PDBS = lookup("policy", "v1", "poddisruptionbudgets")
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def replicaset(name: str, replicas: int) -> dict:
    return workload("ReplicaSet", name, replicas, pod_spec={"nodeSelector": {"type": "hollow"}})


def pdb(name: str, app: str, **spec: object) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}}, **spec},
    }


def ready_pods(cluster: Cluster, ns: str, app: str, count: int) -> list[dict]:
    def ready() -> list[dict]:
        pods = cluster.client.list(PODS, ns, label_selector=f"app={app}")["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ok = [
            p
            for p in live
            if any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []
            )
        ]
        return ok if len(ok) == count == len(live) else []

    return wait_for(ready, 20, f"{count} ready pods of {app}")


def status_of(cluster: Cluster, ns: str, name: str, **want: object) -> dict:
    def matches() -> dict | None:
        status = cluster.client.get(PDBS, name, ns).get("status") or {}
        return status if all(status.get(k) == v for k, v in want.items()) else None

    return wait_for(matches, 15, f"pdb {name} status {want}")


def evict(cluster: Cluster, ns: str, pod: str) -> dict:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
    return cluster.client.request("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", body)


def test_pdb_status_printing_and_eviction_api(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    client.create(replicaset("api", 3), ns)
    ready_pods(cluster, ns, "api", 3)
    client.create(pdb("api", "api", minAvailable=3), ns)
    status = status_of(
        cluster, ns, "api", disruptionsAllowed=0, currentHealthy=3, desiredHealthy=3, expectedPods=3
    )
    assert status["observedGeneration"] == 1
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("DisruptionAllowed", "False", "InsufficientPods")
    ]
    out = kubectl(cluster, "get", "pdb", "-n", ns).stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "MIN",
        "AVAILABLE",
        "MAX",
        "UNAVAILABLE",
        "ALLOWED",
        "DISRUPTIONS",
        "AGE",
    ]
    assert out[1].split()[:4] == ["api", "3", "N/A", "0"]

    victim = client.list(PODS, ns)["items"][0]["metadata"]["name"]
    with pytest.raises(errors.TooManyRequests) as refused:
        evict(cluster, ns, victim)
    assert str(refused.value) == VIOLATION
    assert not client.get(PODS, victim, ns)["metadata"].get("deletionTimestamp")

    client.patch(PDBS, "api", {"spec": {"minAvailable": None, "maxUnavailable": "33%"}}, ns)
    status_of(
        cluster, ns, "api", disruptionsAllowed=1, desiredHealthy=2, expectedPods=3, observedGeneration=2
    )
    assert kubectl(cluster, "get", "pdb", "api", "-n", ns).stdout.splitlines()[1].split()[:4] == [
        "api",
        "N/A",
        "33%",
        "1",
    ]
    evict(cluster, ns, victim)  # allowed: spends the one disruption
    spent = client.get(PDBS, "api", ns)["status"]
    assert spent["disruptionsAllowed"] == 0 and victim in spent.get("disruptedPods", {})
    wait_for(lambda: victim not in {p["metadata"]["name"] for p in client.list(PODS, ns)["items"]}, 10)
    ready_pods(cluster, ns, "api", 3)  # the ReplicaSet replaced it: one disruption allowed again
    status_of(cluster, ns, "api", disruptionsAllowed=1, currentHealthy=3)


def test_invalid_pdb_is_refused(cluster: Cluster, ns: str) -> None:
    with pytest.raises(errors.Invalid) as bad:
        cluster.client.create(pdb("both", "x", minAvailable=1, maxUnavailable=1), ns)
    assert "minAvailable and maxUnavailable cannot be both set" in str(bad.value)


def test_cordon_uncordon_and_drain_blocked_by_pdb_until_it_allows(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    client.create(replicaset("web", 4), ns)
    pods = ready_pods(cluster, ns, "web", 4)
    node = pods[0]["spec"]["nodeName"]
    others = [n["metadata"]["name"] for n in client.list(NODES)["items"] if n["metadata"]["name"] != node]
    client.create(pdb("web", "web", minAvailable=4), ns)
    status_of(cluster, ns, "web", disruptionsAllowed=0, currentHealthy=4)
    try:
        kubectl(cluster, "cordon", node)
        assert client.get(NODES, node)["spec"]["unschedulable"] is True
        kubectl(cluster, "uncordon", node)
        assert not client.get(NODES, node)["spec"].get("unschedulable")

        drain = ("drain", node, "--ignore-daemonsets", "--delete-emptydir-data")
        blocked = kubectl(cluster, *drain, "--timeout=4s", check=False)
        assert blocked.returncode != 0
        assert VIOLATION in blocked.stderr
        assert client.get(NODES, node)["spec"]["unschedulable"] is True  # drain cordons first
        assert len(ready_pods(cluster, ns, "web", 4)) == 4  # nothing was evicted

        client.patch(PDBS, "web", {"spec": {"minAvailable": 3}}, ns)
        status_of(cluster, ns, "web", disruptionsAllowed=1, observedGeneration=2)
        kubectl(cluster, *drain, "--timeout=60s")

        pods = ready_pods(cluster, ns, "web", 4)
        assert all(p["spec"]["nodeName"] != node for p in pods)
        assert all(p["spec"]["nodeName"] in others for p in pods)
    finally:
        kubectl(cluster, "uncordon", node, check=False)
