"""The cloud node controller: nodes learn their machine, and nodes whose machine is gone are deleted.

``sync(node)``: when the provider has the node's instance, the Node gets ``spec.providerID``
(``kubeq://<node>`` from the local provider; set once, never changed) and the label
``topology.kubernetes.io/zone`` (and ``.../region``) when the instance metadata has one. A node whose
Ready condition is not True and whose instance no longer exists is deleted (``DeletingNode`` Event),
as Kubernetes' cloud node lifecycle controller does; a Ready node is never deleted.

The ``~instances`` key looks at every node that is not Ready; it runs every ``CHECK_SECONDS`` (it
queues itself again) and whenever the machine inventory ConfigMap changes.
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.cloud.provider import provider
from tasks.controllers.base import KeyedController
from tasks.runtime.controller import Change, Context, Watch

NODES = lookup("", "v1", "nodes")
INSTANCES_KEY = "~instances"  # not a valid node name
CHECK_SECONDS = 10.0
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
INVENTORY = "kubeq-machines"
Obj = dict[str, Any]


def is_ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def node_keys(change: Change) -> list[str]:
    """A node that appeared, lacks its providerID, or whose readiness changed."""
    node = change.object
    if change.type == "DELETED":
        return []
    if change.prev is None or not (node.get("spec") or {}).get("providerID"):
        return [node["metadata"]["name"]]
    return [node["metadata"]["name"]] if is_ready(change.prev) != is_ready(node) else []


def inventory_keys(change: Change) -> list[str]:
    md = change.object.get("metadata") or {}
    return [INSTANCES_KEY] if md.get("namespace") == "kube-system" and md.get("name") == INVENTORY else []


class CloudNodeController(KeyedController):
    """Initialises nodes from their instances and deletes nodes whose instance is gone."""

    name = "cloudnode"
    queue = "cloud"
    resource = NODES
    component = "cloud-node-lifecycle-controller"
    watches = (Watch("nodes", node_keys), Watch("configmaps", inventory_keys))

    def resync_keys(self, ctx: Context) -> list[str]:
        return [INSTANCES_KEY, *(n["metadata"]["name"] for n in ctx.client.list(NODES)["items"])]

    def sync(self, key: str, ctx: Context) -> float | None:
        instances = provider(ctx.client).instances()
        if instances is None:
            return None
        if key == INSTANCES_KEY:
            for node in ctx.client.list(NODES)["items"]:
                if not is_ready(node):
                    self._delete_if_gone(ctx, instances, node)
            return CHECK_SECONDS
        node = self.get(ctx, key)
        if node is None:
            return None
        if not is_ready(node) and self._delete_if_gone(ctx, instances, node):
            return None
        self._initialise(ctx, instances, node)
        return None

    def _delete_if_gone(self, ctx: Context, instances: Any, node: Obj) -> bool:
        """Delete ``node`` when its instance does not exist; whether it did."""
        if instances.instance_exists(node):
            return False
        md = node["metadata"]
        node.setdefault("kind", "Node")
        node.setdefault("apiVersion", "v1")
        self.event(
            ctx,
            node,
            "Normal",
            "DeletingNode",
            f"Deleting node {md['name']} because it does not exist in the cloud provider",
        )
        try:
            # Guarded by the uid: a node of the same name registered meanwhile is a different node.
            ctx.client.delete(NODES, md["name"], preconditions={"uid": md["uid"]})
        except (errors.NotFound, errors.Conflict):
            pass
        return True

    def _initialise(self, ctx: Context, instances: Any, node: Obj) -> None:
        meta = instances.instance_metadata(node)
        if meta is None:
            return
        spec = node.setdefault("spec", {})
        labels = node["metadata"].setdefault("labels", {})
        wanted = {ZONE_LABEL: meta.zone, REGION_LABEL: meta.region}
        changed = False
        if not spec.get("providerID") and meta.provider_id:
            spec["providerID"] = meta.provider_id
            changed = True
        for label, value in wanted.items():
            if value and labels.get(label) != value:
                labels[label] = value
                changed = True
        if changed:
            node.setdefault("kind", "Node")
            node.setdefault("apiVersion", "v1")
            ctx.client.update(node)  # CAS: on 409 the key backs off and reads again
