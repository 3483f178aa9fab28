"""The node lifecycle controller: nodes that stop heartbeating go Unknown, get tainted, lose their pods.

One key per node (its name). ``sync`` reads the Node and its Lease (``kube-node-lease/<name>``). The
node's last sign of life is the latest of the Lease's ``renewTime`` and the Ready condition's
``lastHeartbeatTime``, or the node's creation when it has neither (timestamps written by the node itself, so the hosts'
clocks are assumed to agree). Once that is older than the grace period
(``KUBEQ_NODE_MONITOR_GRACE_PERIOD``, default 40 s):

- Ready and the pressure conditions become ``Unknown`` (reason ``NodeStatusUnknown``, "Kubelet stopped
  posting node status."; ``NodeStatusNeverUpdated`` for a node that never reported Ready), and the
  node's pods get ``Ready=False``.

Then, from the Ready condition, the node carries ``node.kubernetes.io/unreachable`` (Unknown) or
``node.kubernetes.io/not-ready`` (False) as NoExecute and NoSchedule taints, removed once Ready is True.

Taint-based eviction: pods on the node that do not tolerate one of its NoExecute taints are deleted at
once; those tolerating it for ``tolerationSeconds`` are deleted that long after the taint's
``timeAdded``. At most ``EVICTIONS_PER_SYNC`` pods are deleted per sync (the rate limit: the key runs
again ``EVICTION_PAUSE`` seconds later for the rest). The key is requeued for the next eviction due
and, while the node is silent, every grace period. Silence itself is found by the health loop (the
``~monitor`` key, every ``MONITOR_SECONDS``: one list of the Leases queues the nodes whose Lease went
stale), so a healthy node costs nothing between its own changes; a node with no Lease at all keeps
a timer of its own for the moment it would go stale.

Watches: the node itself when it appears, its Ready status or taints change; its Lease when it
appears or its renewTime moves by half the grace period or more (a node coming back, or a Lease
rewritten with an old time).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController
from tasks.controllers.pods import condition, is_terminating, parse_time
from tasks.controllers.taint_eviction import evict_at, no_execute, utcnow
from tasks.runtime.controller import Change, Context, Watch

NODES = lookup("", "v1", "nodes")
PODS = lookup("", "v1", "pods")
LEASES = lookup("coordination.k8s.io", "v1", "leases")
LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
DEFAULT_GRACE = 40.0
EVICTIONS_PER_SYNC = 10  # pods deleted per sync of one node at most
EVICTION_PAUSE = 1.0  # seconds before the next batch of evictions
MONITOR = "~monitor"  # the key of the health loop over every Lease (not a valid node name)
MONITOR_SECONDS = 5.0  # how often the health loop lists the Leases (at most half the grace period)
Obj = dict[str, Any]


def grace_period() -> float:
    """``KUBEQ_NODE_MONITOR_GRACE_PERIOD`` seconds (default 40)."""
    return float(os.environ.get("KUBEQ_NODE_MONITOR_GRACE_PERIOD") or DEFAULT_GRACE)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready_status(node: Obj | None) -> str | None:
    cond = condition(node or {}, "Ready")
    return cond.get("status") if cond else None


def node_keys(change: Change) -> list[str]:
    """A node whose Ready status or taints changed, or that appeared not Ready. A node that appears
    Ready (a registration burst of thousands) is left to the health loop, which finds it if its Lease
    goes stale."""
    node, prev = change.object, change.prev
    if change.type == "DELETED":
        return []
    if change.type != "MODIFIED" or prev is None:
        return [] if _ready_status(node) == "True" else [node["metadata"]["name"]]
    if _ready_status(node) != _ready_status(prev):
        return [node["metadata"]["name"]]
    if (node.get("spec") or {}).get("taints") != (prev.get("spec") or {}).get("taints"):
        return [node["metadata"]["name"]]
    return []


def lease_keys(change: Change) -> list[str]:
    """A node Lease that appeared, or was renewed after a long gap (the node may be back)."""
    lease = change.object
    if lease["metadata"].get("namespace") != LEASE_NAMESPACE or change.type == "DELETED":
        return []
    name = lease["metadata"]["name"]
    if change.type == "ADDED" or change.prev is None:
        return []  # a new Lease: the health loop looks at it with all the others
    new, old = (lease.get("spec") or {}).get("renewTime"), (change.prev.get("spec") or {}).get("renewTime")
    if not new or not old:
        return [name]
    gap = (parse_time(new) - parse_time(old)).total_seconds()
    return [name] if abs(gap) >= grace_period() / 2 else []


def last_seen(node: Obj, lease: Obj | None) -> datetime:
    """The node's latest sign of life: lease renewal or Ready heartbeat; its creation if neither exists."""
    seen = [(condition(node, "Ready") or {}).get("lastHeartbeatTime")]
    if lease:
        seen.append((lease.get("spec") or {}).get("renewTime"))
    stamps = [parse_time(s) for s in seen if s]
    return max(stamps) if stamps else parse_time(node["metadata"]["creationTimestamp"])


def unknown_conditions(node: Obj, now: datetime) -> list[Obj] | None:
    """The node's conditions with Ready and the pressures set Unknown; None when they already are."""
    conditions = list((node.get("status") or {}).get("conditions") or [])
    by_type = {c.get("type"): i for i, c in enumerate(conditions)}
    changed = False
    for kind in NODE_CONDITIONS:
        i = by_type.get(kind)
        if i is not None and conditions[i].get("status") == "Unknown":
            continue
        changed = True
        if i is None:
            conditions.append(
                {
                    "type": kind,
                    "status": "Unknown",
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                    "lastTransitionTime": stamp(now),
                }
            )
        else:
            conditions[i] = {
                **conditions[i],
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
                "lastTransitionTime": stamp(now),
            }
    return conditions if changed else None


def wanted_taints(node: Obj, now: datetime) -> list[Obj]:
    """``spec.taints`` with the unreachable/not-ready pair matching the Ready condition (times kept)."""
    current = list((node.get("spec") or {}).get("taints") or [])
    ready = _ready_status(node)
    key = UNREACHABLE if ready in ("Unknown", None) else NOT_READY if ready == "False" else None
    keep = [t for t in current if t.get("key") not in (UNREACHABLE, NOT_READY) or t.get("key") == key]
    if key is None:
        return keep
    for effect in ("NoSchedule", "NoExecute"):
        if not any(t.get("key") == key and t.get("effect") == effect for t in keep):
            taint = {"key": key, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = stamp(now)
            keep.append(taint)
    return keep


class NodeLifecycleController(KeyedController):
    """Marks silent nodes Unknown, taints unhealthy nodes, evicts pods from NoExecute-tainted ones."""

    name = "nodelifecycle"
    resource = NODES
    component = "node-controller"
    watches = (Watch("nodes", node_keys), Watch("leases.coordination.k8s.io", lease_keys))

    def resync_keys(self, ctx: Context) -> list[str]:
        """Every node, and the monitor key that keeps looking for silent ones."""
        return [*super().resync_keys(ctx), MONITOR]

    def monitor(self, ctx: Context) -> float:
        """kube-controller-manager's node health loop: one list of the Leases every
        ``MONITOR_SECONDS`` queues the nodes whose Lease has gone stale, so a healthy node costs
        nothing between its own changes (no per-node timers)."""
        now, grace = utcnow(), grace_period()
        stale = [
            lease["metadata"]["name"]
            for lease in ctx.client.list(LEASES, LEASE_NAMESPACE)["items"]
            if (renewed := (lease.get("spec") or {}).get("renewTime"))
            and parse_time(renewed) + timedelta(seconds=grace) <= now
        ]
        if stale and ctx.enqueue is not None:
            ctx.enqueue(self.name, stale)
        return min(MONITOR_SECONDS, grace / 2)

    def sync(self, key: str, ctx: Context) -> float | None:
        if key == MONITOR:
            return self.monitor(ctx)
        node = self.get(ctx, key)
        if node is None:
            return None
        node.setdefault("apiVersion", "v1")
        node.setdefault("kind", "Node")
        grace, now = grace_period(), utcnow()
        try:
            lease = ctx.client.get(LEASES, key, LEASE_NAMESPACE)
        except errors.NotFound:
            lease = None
        stale_at = last_seen(node, lease) + timedelta(seconds=grace)
        waits: list[float] = []
        if now >= stale_at:
            conditions = unknown_conditions(node, now)
            if conditions is not None:
                node["status"]["conditions"] = conditions
                node = ctx.client.update(node, subresource="status")
                self.event(ctx, node, "Normal", "NodeNotReady", f"Node {key} status is now: NodeNotReady")
                self._mark_pods_not_ready(ctx, key)
            waits.append(grace)  # look again now and then while it stays silent
        elif lease is None:  # no Lease for the monitor to watch: this node's own timer
            waits.append((stale_at - now).total_seconds())
        taints = wanted_taints(node, now)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            node.setdefault("spec", {})["taints"] = taints
            if not taints:
                node["spec"].pop("taints")
            node = ctx.client.update(node)
        next_eviction = self._evict(ctx, node, now)
        if next_eviction is not None:
            waits.append(next_eviction)
        return max(min(waits), 0.2) if waits else None

    def _pods(self, ctx: Context, node_name: str) -> list[Obj]:
        pods = ctx.client.list(PODS, field_selector=f"spec.nodeName={node_name}")["items"]
        for pod in pods:
            pod.setdefault("apiVersion", "v1")
            pod.setdefault("kind", "Pod")
        return pods

    def _mark_pods_not_ready(self, ctx: Context, node_name: str) -> None:
        """Set ``Ready=False`` on every pod of the node that still claims to be ready."""
        for pod in self._pods(ctx, node_name):
            ready = condition(pod, "Ready")
            if not ready or ready.get("status") == "False" or is_terminating(pod):
                continue
            ready.update(status="False", lastTransitionTime=stamp(utcnow()))
            ready.pop("reason", None)
            try:
                ctx.client.update(pod, subresource="status")
            except (errors.Conflict, errors.NotFound):
                continue  # changed or gone meanwhile; the next sync of the node looks again

    def _evict(self, ctx: Context, node: Obj, now: datetime) -> float | None:
        """Delete the pods the node's NoExecute taints evict now; seconds until the next one is due."""
        taints = no_execute((node.get("spec") or {}).get("taints"))
        if not taints:
            return None
        due: list[tuple[datetime, Obj]] = []
        for pod in self._pods(ctx, node["metadata"]["name"]):
            if is_terminating(pod):
                continue
            at = evict_at(pod, taints, now)
            if at is not None:
                due.append((at, pod))
        due.sort(key=lambda item: item[0])
        deleted = 0
        for at, pod in due:
            if at > now:
                return (at - now).total_seconds()
            if deleted == EVICTIONS_PER_SYNC:
                return EVICTION_PAUSE
            md = pod["metadata"]
            self.event(
                ctx,
                pod,
                "Normal",
                "TaintManagerEviction",
                f"Marking for deletion Pod {md['namespace']}/{md['name']}",
            )
            try:
                ctx.client.delete(PODS, md["name"], md["namespace"], preconditions={"uid": md["uid"]})
            except (errors.NotFound, errors.Conflict):
                pass
            deleted += 1
        return None
