"""The route controller of the cloud-controller-manager: one cloud route per node pod CIDR.

``sync(node)``: a Node with ``spec.podCIDR`` gets route ``<node>`` (its pod CIDR through its InternalIP)
in the provider's table and the condition ``NetworkUnavailable=False`` (reason ``RouteCreated``),
written with a strategic-merge status patch so the node's other conditions stay. A node that is gone
has its route deleted. The periodic resync also visits every route whose node no longer exists.
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.cloud.provider import internal_ip, provider
from tasks.controllers.base import KeyedController
from tasks.runtime.controller import Change, Context, Watch
from tasks.runtime.events import now_rfc3339

NODES = lookup("", "v1", "nodes")
CONDITION = "NetworkUnavailable"
Obj = dict[str, Any]


def network_condition(node: Obj) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == CONDITION:
            return cond
    return None


def route_done(node: Obj) -> bool:
    """The node's NetworkUnavailable condition already says RouteCreated."""
    cond = network_condition(node) or {}
    return cond.get("status") == "False" and cond.get("reason") == "RouteCreated"


def node_keys(change: Change) -> list[str]:
    """Nodes that appeared, went away, or whose pod CIDR, address or route condition needs a look."""
    node = change.object
    name = node["metadata"]["name"]
    if change.type in ("ADDED", "DELETED") or change.prev is None:
        return [name]
    spec = node.get("spec") or {}
    if not spec.get("podCIDR"):
        return []
    before = change.prev
    moved = (before.get("spec") or {}).get("podCIDR") != spec.get("podCIDR") or internal_ip(
        before
    ) != internal_ip(node)
    return [name] if moved or not route_done(node) else []


class RouteController(KeyedController):
    """Keeps the provider's routes equal to the nodes' pod CIDRs."""

    name = "cloudroute"
    queue = "cloud"
    resource = NODES
    component = "route-controller"
    watches = (Watch("nodes", node_keys),)

    def resync_keys(self, ctx: Context) -> list[str]:
        names = [n["metadata"]["name"] for n in ctx.client.list(NODES)["items"]]
        routes = provider(ctx.client).routes()
        stale = [r.name for r in routes.list_routes()] if routes is not None else []
        return list(dict.fromkeys([*names, *stale]))

    def sync(self, key: str, ctx: Context) -> float | None:
        routes = provider(ctx.client).routes()
        if routes is None:
            return None
        node = self.get(ctx, key)
        if node is None:
            routes.delete_route(key)
            return None
        cidr = (node.get("spec") or {}).get("podCIDR")
        if not cidr:
            return None
        if not internal_ip(node):
            return 2.0  # the node has not said where it is yet
        routes.create_route(key, node, cidr)
        if not route_done(node):
            self._mark(ctx, key)
        return None

    def _mark(self, ctx: Context, name: str) -> None:
        now = now_rfc3339()
        cond = {
            "type": CONDITION,
            "status": "False",
            "reason": "RouteCreated",
            "message": "RouteController created a route",
            "lastTransitionTime": now,
            "lastHeartbeatTime": now,
        }
        try:
            ctx.client.patch(
                NODES, name, {"status": {"conditions": [cond]}}, patch_type="strategic", subresource="status"
            )
        except errors.NotFound:
            pass
