"""The node's Lease in ``kube-node-lease``: the heartbeat the node lifecycle controller watches.

``renew(client, name)`` sets ``holderIdentity`` and ``renewTime`` (creating the Lease, and the
namespace if needed, when absent) and returns the renew time it wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.client.client import Client

LEASES = lookup("coordination.k8s.io", "v1", "leases")
NAMESPACE = "kube-node-lease"
DURATION_SECONDS = 40
RENEW_SECONDS = 10.0


def micro_timestamp(now: datetime) -> str:
    """RFC 3339 with microseconds (``metav1.MicroTime``)."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_object(name: str, now: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": DURATION_SECONDS,
            "renewTime": micro_timestamp(now),
        },
    }


def ensure_namespace(client: Client) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    try:
        client.create(ns)
    except errors.AlreadyExists:
        pass


def renew(client: Client, name: str, owner: dict[str, Any] | None = None) -> str:
    """Renew (or create) ``name``'s Lease now; ``owner`` (the Node) becomes its owner reference,
    so deleting the Node deletes the Lease. Returns the renewTime written."""
    now = datetime.now(UTC)
    patch: dict[str, Any] = {
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": DURATION_SECONDS,
            "renewTime": micro_timestamp(now),
        }
    }
    try:
        client.patch(LEASES, name, patch, namespace=NAMESPACE)
        return patch["spec"]["renewTime"]
    except errors.NotFound:
        pass
    lease = lease_object(name, now)
    if owner and owner.get("metadata", {}).get("uid"):
        lease["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": name, "uid": owner["metadata"]["uid"]}
        ]
    try:
        client.create(lease)
    except errors.NotFound:  # the namespace itself is missing
        ensure_namespace(client)
        client.create(lease)
    except errors.AlreadyExists:
        client.patch(LEASES, name, patch, namespace=NAMESPACE)
    return lease["spec"]["renewTime"]
