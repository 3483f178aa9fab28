"""Nodes without an agent behind them, whose Lease the test renews or lets go stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cluster.api.resources import lookup
from cluster.client.client import Client

NODES = lookup("", "v1", "nodes")
PODS = lookup("", "v1", "pods")
LEASES = lookup("coordination.k8s.io", "v1", "leases")
LEASE_NS = "kube-node-lease"
Obj = dict[str, Any]


def at(seconds_ago: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds_ago)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_node(client: Client, name: str, seen_ago: float = 0.0, labels: dict[str, str] | None = None) -> Obj:
    """A Ready node whose heartbeat and Lease were last renewed ``seen_ago`` seconds ago."""
    when = at(seen_ago)
    resources = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    node = client.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": stamp(when),
                        "lastTransitionTime": stamp(when),
                    }
                ],
            },
        }
    )
    client.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NS},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro(when)},
        }
    )
    return node


def renew(client: Client, name: str, seen_ago: float = 0.0) -> None:
    """Set the node's Lease renewTime to ``seen_ago`` seconds ago."""
    client.patch(LEASES, name, {"spec": {"renewTime": micro(at(seen_ago))}}, LEASE_NS)


def go_silent(client: Client, name: str, seconds_ago: float) -> None:
    """Make the node's last heartbeat and Lease renewal ``seconds_ago`` old (a kubelet gone quiet)."""
    post_ready(client, name, seconds_ago)
    renew(client, name, seconds_ago)


def post_ready(client: Client, name: str, seconds_ago: float = 0.0) -> None:
    """What a kubelet coming back does: Ready=True with a fresh heartbeat."""
    now = stamp(at(seconds_ago))
    cond = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    client.patch(
        NODES, name, {"status": {"conditions": [cond]}}, patch_type="strategic", subresource="status"
    )


def condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def taint_keys(node: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


def delete_node(client: Client, name: str) -> None:
    for resource, ns in ((NODES, None), (LEASES, LEASE_NS)):
        try:
            client.delete(resource, name, ns)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass
