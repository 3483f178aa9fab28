"""Node lifecycle: silent nodes go Unknown and get tainted, their pods are evicted after their
tolerationSeconds and replaced elsewhere, nodes coming back lose the taints; default tolerations;
distinct pod CIDRs."""

from __future__ import annotations

import ipaddress
import uuid
from concurrent.futures import ThreadPoolExecutor

from cluster.api.resources import lookup
from tests.e2e.scheduling import Cluster, wait_for
from tests.node_lifecycle.conftest import GRACE
from tests.node_lifecycle.helpers import (
    NODES,
    PODS,
    condition,
    delete_node,
    go_silent,
    make_node,
    post_ready,
    renew,
    taint_keys,
)

REPLICASETS = lookup("apps", "v1", "replicasets")
UNREACHABLE = ("node.kubernetes.io/unreachable", "NoExecute")
UNREACHABLE_NOSCHEDULE = ("node.kubernetes.io/unreachable", "NoSchedule")


def test_node_whose_lease_goes_stale_becomes_unknown_and_tainted_then_recovers(cluster: Cluster) -> None:
    client = cluster.client
    name = f"quiet-{uuid.uuid4().hex[:6]}"
    make_node(client, name, seen_ago=GRACE - 3)  # goes stale ~3 s from now unless renewed
    try:

        def unknown() -> dict | None:
            node = client.get(NODES, name)
            ready = condition(node, "Ready")
            return node if ready and ready["status"] == "Unknown" else None

        node = wait_for(unknown, 12, "the node to go Unknown")
        ready = condition(node, "Ready")
        assert ready["reason"] == "NodeStatusUnknown"
        assert ready["message"] == "Kubelet stopped posting node status."
        assert condition(node, "MemoryPressure")["status"] == "Unknown"

        def tainted() -> dict | None:
            node = client.get(NODES, name)
            return node if UNREACHABLE in taint_keys(node) else None

        node = wait_for(tainted, 5, "the unreachable taint")
        assert UNREACHABLE_NOSCHEDULE in taint_keys(node)
        assert any(t.get("timeAdded") for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
        assert "NotReady" in cluster.kubectl("get", "node", name)

        renew(client, name)  # the kubelet is back: Lease renewed, Ready posted
        post_ready(client, name)
        wait_for(lambda: not taint_keys(client.get(NODES, name)), 10, "the taints to go")
    finally:
        delete_node(client, name)


def test_pods_of_unreachable_node_are_evicted_after_toleration_and_replaced(
    cluster: Cluster, ns: str
) -> None:
    client = cluster.client
    name = f"lost-{uuid.uuid4().hex[:6]}"
    make_node(client, name, labels={"lifecycle": name})
    tolerations = [
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 2,
        }
    ]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "Exists"}]}
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {
                        "matchExpressions": [{"key": "lifecycle", "operator": "In", "values": [name]}]
                    },
                }
            ],
        }
    }
    labels = {"app": "lost"}
    client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "lost"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                        "tolerations": tolerations,
                        "affinity": affinity,
                    },
                },
            },
        },
        ns,
    )
    # a bare pod on the node that its "kubelet" reported Ready: it keeps the default 300 s toleration
    bare = client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "bare"},
            "spec": {"nodeName": name, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
        },
        ns,
    )
    bare["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
    }
    client.update(bare, subresource="status")
    try:

        def on_lost_node() -> list[str]:
            pods = client.list(PODS, ns, label_selector="app=lost")["items"]
            on = [p["metadata"]["name"] for p in pods if p["spec"].get("nodeName") == name]
            return on if len(on) == 2 else []

        doomed = set(wait_for(on_lost_node, 15, "both replicas on the node"))
        go_silent(client, name, GRACE + 5)  # heartbeat and Lease now older than the grace period
        wait_for(lambda: UNREACHABLE in taint_keys(client.get(NODES, name)), 10, "the unreachable taint")

        def replaced_elsewhere() -> bool:
            pods = client.list(PODS, ns, label_selector="app=lost")["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            return (
                len(live) == 2
                and not doomed & {p["metadata"]["name"] for p in live}
                and all(p["spec"].get("nodeName") not in (None, name) for p in live)
            )

        wait_for(replaced_elsewhere, 20, "replicas evicted after 2 s and recreated on other nodes")
        bare = client.get(PODS, "bare", ns)
        assert not bare["metadata"].get("deletionTimestamp"), "the 300 s default toleration keeps it"
        assert condition(bare, "Ready")["status"] == "False"
        reasons = {e["reason"] for e in client.list(lookup("", "v1", "events"), ns)["items"]}
        assert "TaintManagerEviction" in reasons
    finally:
        for pod in client.list(PODS, ns)["items"]:
            client.delete(PODS, pod["metadata"]["name"], ns, gracePeriodSeconds=0)
        delete_node(client, name)


def test_new_pods_get_default_not_ready_and_unreachable_tolerations(cluster: Cluster, ns: str) -> None:
    client = cluster.client
    container = [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]
    pod = client.create(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": container}}, ns
    )
    assert {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    } in pod["spec"]["tolerations"]
    assert {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    } in pod["spec"]["tolerations"]
    own = {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 7,
    }
    pod = client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "q"},
            "spec": {"containers": container, "tolerations": [own]},
        },
        ns,
    )
    unreachable = [t for t in pod["spec"]["tolerations"] if t["key"] == "node.kubernetes.io/unreachable"]
    assert unreachable == [own]
    assert any(t["key"] == "node.kubernetes.io/not-ready" for t in pod["spec"]["tolerations"])


def test_nodes_get_distinct_pod_cidrs_from_the_cluster_cidr(cluster: Cluster) -> None:
    client = cluster.client
    names = [f"ipam-{uuid.uuid4().hex[:6]}" for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: make_node(client, n), names))
    try:

        def cidrs() -> dict[str, str]:
            got = {n: client.get(NODES, n).get("spec", {}).get("podCIDR") for n in names}
            return got if all(got.values()) else {}

        got = wait_for(cidrs, 15, "every node to get a pod CIDR")
        assert len(set(got.values())) == len(names), got
        for name, cidr in got.items():
            net = ipaddress.ip_network(cidr)
            assert net.prefixlen == 24 and net.subnet_of(ipaddress.ip_network("10.244.0.0/16"))
            assert client.get(NODES, name)["spec"]["podCIDRs"] == [cidr]
    finally:
        for name in names:
            delete_node(client, name)
