"""NodeIPAM: every node gets its own pod range (``spec.podCIDR`` / ``spec.podCIDRs``) out of the cluster's.

One key per node (its name), queued when a node without ``spec.podCIDR`` appears or changes. ``sync``
looks at every node (a per-process copy, listed again only when another process assigned meanwhile),
takes the lowest ``/KUBEQ_NODE_CIDR_MASK_SIZE`` (default 24) subnet of
``KUBEQ_CLUSTER_CIDR`` (default ``10.244.0.0/16``) no node holds, and writes it with a
compare-and-swap on the node's resourceVersion. Two nodes' syncs may run at once on two workers, so
the choice is made under a short Redis lock when the worker has Redis (``ctx.redis``), and the sync
lists the nodes again after writing: if another node got the same range first (by creation time, then
name), this node gives its range back and is queued again. Ranges outside the cluster CIDR (a node that
brought its own) are left alone. When the range is full the node gets a ``CIDRNotAvailable`` Warning
and waits for the periodic resync (no retry storm: a /16 holds only 256 /24s).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Iterator
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController
from tasks.runtime.controller import Change, Context, Watch

NODES = lookup("", "v1", "nodes")
DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_MASK = 24
LOCK_SECONDS = 10
COPY_SECONDS = 60.0  # the per-process copy of the nodes is listed afresh at least this often
Obj = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangeFull(Exception):
    """No free pod range is left in the cluster CIDR."""


def cluster_cidr() -> Network:
    return ipaddress.ip_network(os.environ.get("KUBEQ_CLUSTER_CIDR") or DEFAULT_CLUSTER_CIDR)


def mask_size() -> int:
    return int(os.environ.get("KUBEQ_NODE_CIDR_MASK_SIZE") or DEFAULT_MASK)


def unassigned_keys(change: Change) -> list[str]:
    """A node that exists without a pod range."""
    node = change.object
    if change.type == "DELETED" or (node.get("spec") or {}).get("podCIDR"):
        return []
    return [node["metadata"]["name"]]


def ranges_of(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    return list(dict.fromkeys([c for c in [spec.get("podCIDR"), *(spec.get("podCIDRs") or [])] if c]))


def next_free(cluster: Network, prefix: int, used: set[str]) -> str:
    """The lowest ``/prefix`` subnet of ``cluster`` overlapping none of ``used``; ``RangeFull`` if none."""
    taken = []
    for cidr in used:
        with contextlib.suppress(ValueError):
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version == cluster.version and net.overlaps(cluster):
                taken.append(net)
    for subnet in cluster.subnets(new_prefix=prefix):
        if not any(subnet.overlaps(t) for t in taken):
            return str(subnet)
    raise RangeFull(f"no free /{prefix} left in cluster CIDR {cluster}")


def _seniority(node: Obj) -> tuple[str, str]:
    md = node["metadata"]
    return (md.get("creationTimestamp") or "", md["name"])


class NodeIPAMController(KeyedController):
    """Assigns each node a distinct pod CIDR from the cluster CIDR."""

    name = "nodeipam"
    resource = NODES
    component = "node-ipam-controller"
    watches = (Watch("nodes", unassigned_keys),)

    def resync_keys(self, ctx: Context) -> list[str]:
        """Only nodes still without a range (assigned ones need no look)."""
        return [n["metadata"]["name"] for n in ctx.client.list(NODES)["items"] if not ranges_of(n)]

    def sync(self, key: str, ctx: Context) -> float | None:
        node = self.get(ctx, key)
        if node is None:
            return None
        if (node.get("spec") or {}).get("podCIDR"):
            return self._recheck(ctx, node)
        with self._lock(ctx):
            nodes = self._nodes(ctx)
            used = {c for name, n in nodes.items() if name != key for c in ranges_of(n)}
            try:
                cidr = next_free(cluster_cidr(), mask_size(), used)
            except RangeFull as full:  # said once per node (counted on repeats); the resync looks again
                self.event(ctx, node, "Warning", "CIDRNotAvailable", f"Node {key} status is now: {full}")
                return None
            node.setdefault("apiVersion", "v1")
            node.setdefault("kind", "Node")
            node.setdefault("spec", {}).update(podCIDR=cidr, podCIDRs=[cidr])
            node = ctx.client.update(node)  # CAS on the node's resourceVersion
            self._assigned(ctx, node)
        self.event(ctx, node, "Normal", "CIDRAssignmentSucceeded", f"Node {key} got pod CIDR {cidr}")
        return self._recheck(ctx, node)

    def _nodes(self, ctx: Context) -> dict[str, Obj]:
        """Every node by name, from this process's copy while no other process assigned a range
        since it was made (a generation counter in Redis says so), else listed afresh. Called under
        the allocation lock, so a thousand registrations cost one list, not a thousand."""
        cache = ctx.caches.setdefault(self.name, {})
        generation = int(ctx.redis.get(self._generation_key(ctx)) or 0) if ctx.redis is not None else None
        stale = (
            time.monotonic() - cache.get("listed", float("-inf")) > COPY_SECONDS
        )  # deleted nodes free ranges
        if generation is None or cache.get("generation") != generation or "nodes" not in cache or stale:
            cache["nodes"] = {n["metadata"]["name"]: n for n in ctx.client.list(NODES)["items"]}
            cache["generation"] = generation
            cache["listed"] = time.monotonic()
        return cache["nodes"]

    def _assigned(self, ctx: Context, node: Obj) -> None:
        """Record this process's own assignment in its copy and bump the shared generation."""
        cache = ctx.caches.setdefault(self.name, {})
        cache.setdefault("nodes", {})[node["metadata"]["name"]] = node
        if ctx.redis is not None:
            cache["generation"] = int(ctx.redis.incr(self._generation_key(ctx)))

    def _generation_key(self, ctx: Context) -> str:
        return f"{ctx.broker_prefix}nodeipam:generation"

    def _recheck(self, ctx: Context, node: Obj) -> float | None:
        """Give the range back (and retry) if an older node holds the same one; else done."""
        mine = set(ranges_of(node))
        with self._lock(ctx):
            others = list(self._nodes(ctx).values())
        for other in others:
            if other["metadata"]["name"] == node["metadata"]["name"] or not mine & set(ranges_of(other)):
                continue
            if _seniority(other) < _seniority(node):
                node.setdefault("apiVersion", "v1")
                node.setdefault("kind", "Node")
                node["spec"].pop("podCIDR", None)
                node["spec"].pop("podCIDRs", None)
                try:
                    ctx.client.update(node)
                except errors.Conflict:
                    pass
                return 0.1
        return None

    @contextlib.contextmanager
    def _lock(self, ctx: Context) -> Iterator[None]:
        if ctx.redis is None:
            yield
            return
        lock = ctx.redis.lock(
            f"{ctx.broker_prefix}nodeipam:allocate", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS
        )
        if not lock.acquire():
            raise errors.Timeout("could not take the pod CIDR allocation lock")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                lock.release()
