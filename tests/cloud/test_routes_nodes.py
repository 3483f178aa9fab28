"""Routes per node pod CIDR, and nodes whose machine left the inventory, through the real CCM workers."""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.cloud import configstate
from tasks.cloud.local import MACHINES, ROUTES, register_machine, unregister_machine
from tasks.cloud.provider import internal_ip
from tests.e2e.scheduling import Cluster, node_object, wait_for

NODES = lookup("", "v1", "nodes")
Obj = dict[str, Any]


def routed(cluster: Cluster) -> bool:
    """Every node with a pod CIDR has its route, and says NetworkUnavailable=False/RouteCreated."""
    routes = configstate.read(cluster.client, ROUTES)[0]
    nodes = cluster.client.list(NODES)["items"]
    for node in nodes:
        name, cidr = node["metadata"]["name"], (node.get("spec") or {}).get("podCIDR")
        if not cidr:
            return False
        if routes.get(name) != {"node": name, "cidr": cidr, "gateway": internal_ip(node)}:
            return False
    return True


def network_ok(node: Obj) -> bool:
    """NetworkUnavailable=False/RouteCreated, beside the node's own conditions (not instead of them)."""
    conditions = (node.get("status") or {}).get("conditions") or []
    assert any(c["type"] == "Ready" for c in conditions), conditions
    for cond in conditions:
        if cond["type"] == "NetworkUnavailable":
            return cond["status"] == "False" and cond["reason"] == "RouteCreated"
    return False


def test_each_node_gets_a_route_and_network_available(cluster: Cluster) -> None:
    wait_for(lambda: routed(cluster), 30, "a route per node pod CIDR")
    names = [n["metadata"]["name"] for n in cluster.client.list(NODES)["items"]]
    for name in names:
        wait_for(
            lambda n=name: network_ok(cluster.client.get(NODES, n)), 20, f"{name} NetworkUnavailable=False"
        )


def exists(cluster: Cluster, name: str) -> bool:
    try:
        cluster.client.get(NODES, name)
    except errors.NotFound:
        return False
    return True


def test_not_ready_node_without_machine_is_deleted(cluster: Cluster) -> None:
    client = cluster.client
    ready = node_object("cloud-ready")
    sick = node_object("cloud-sick")
    sick["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]
    for name, body in (("cloud-ready", ready), ("cloud-sick", sick)):
        body["status"]["addresses"] = [{"type": "InternalIP", "address": "192.0.2.77"}]
        register_machine(client, name, body["status"]["addresses"], zone="zone-a")
        client.create(body)

    # Machines in the inventory: nodes are initialised from their instance and none is deleted.
    def initialised(name: str) -> bool:
        node = client.get(NODES, name)
        labels = node["metadata"].get("labels") or {}
        return (
            node["spec"].get("providerID") == f"kubeq://{name}"
            and labels.get("topology.kubernetes.io/zone") == "zone-a"
        )

    wait_for(lambda: initialised("cloud-ready") and initialised("cloud-sick"), 20, "providerID and zone")
    try:
        unregister_machine(client, "cloud-sick")
        unregister_machine(client, "cloud-ready")
        wait_for(lambda: not exists(cluster, "cloud-sick"), 20, "the NotReady node to be deleted")
        assert exists(cluster, "cloud-ready"), "a Ready node is never deleted"
        wait_for(lambda: "cloud-sick" not in configstate.read(client, ROUTES)[0], 20, "its route to go")
    finally:
        # Leave the inventory as it was (absent), so other tests' nodes count as existing.
        try:
            client.delete(NODES, "cloud-ready")
        except errors.NotFound:
            pass
        try:
            client.delete(lookup("", "v1", "configmaps"), MACHINES, configstate.NAMESPACE)
        except errors.NotFound:
            pass
