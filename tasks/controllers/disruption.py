"""The disruption controller: keeps each PodDisruptionBudget's status true to its pods.

One key per budget (``namespace/name``). ``sync`` lists the namespace's pods, keeps those the budget's
selector matches (an absent selector matches none, an empty one all), and writes:

- ``expectedPods``: for an integer ``minAvailable`` the number of matching pods; otherwise (a
  percentage, or ``maxUnavailable``) the replicas their controllers want (a ReplicaSet's, or its
  Deployment's when it has one); a pod without a controller counts as one.
- ``desiredHealthy``: ``minAvailable`` (a percentage of expectedPods rounded up), or expectedPods
  minus ``maxUnavailable`` (a percentage rounded up), never below 0; with neither set, expectedPods.
- ``currentHealthy``: matching pods Ready, not being deleted, not in ``disruptedPods``.
- ``disruptionsAllowed`` = max(0, currentHealthy - desiredHealthy); the ``DisruptionAllowed`` condition
  (``SufficientPods`` / ``InsufficientPods``); ``observedGeneration``.
- ``disruptedPods``: the eviction API records pods it let go; an entry is dropped once its pod is
  gone or being deleted, or after ``DELETION_TIMEOUT`` seconds (the key runs again then).

The status is written with a compare-and-swap, so an eviction spending a disruption meanwhile is
never overwritten: a Conflict just runs the key again. Pod changes reach budgets through the
namespace key ``<ns>/~pods`` (debounced), whose sync queues every budget of the namespace.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.api.validation.selectors import matches
from tasks.controllers.base import KeyedController, controller_ref, split_key
from tasks.controllers.pods import is_ready, is_terminating, parse_time
from tasks.controllers.taint_eviction import utcnow
from tasks.runtime.controller import Change, Context, Watch, own_key
from tasks.runtime.informer import cached_list

PDBS = lookup("policy", "v1", "poddisruptionbudgets")
PODS = lookup("", "v1", "pods")
REPLICASETS = lookup("apps", "v1", "replicasets")
DEPLOYMENTS = lookup("apps", "v1", "deployments")
POD_CHANGES = "~pods"  # not a valid object name
POD_DELAY = 0.3
DELETION_TIMEOUT = 120.0
Obj = dict[str, Any]


def _pod_facts(pod: Obj | None) -> tuple[Any, ...]:
    if not pod:
        return ()
    md = pod["metadata"]
    return (md.get("labels"), bool(md.get("deletionTimestamp")), is_ready(pod), controller_ref(pod))


def pod_keys(change: Change) -> list[str]:
    """A pod that appeared, went, or changed labels, readiness, deletion or controller."""
    if change.type == "MODIFIED" and _pod_facts(change.object) == _pod_facts(change.prev):
        return []
    return [f"{change.object['metadata']['namespace']}/{POD_CHANGES}"]


def scaled(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString: the int, or the percentage of ``total`` (rounded up or down)."""
    if isinstance(value, int):
        return value
    pct = int(str(value).rstrip("%"))
    raw = pct * total / 100
    return math.ceil(raw) if round_up else math.floor(raw)


def selected(pdb: Obj, pods: list[Obj]) -> list[Obj]:
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return []
    return [p for p in pods if matches(selector, p["metadata"].get("labels") or {})]


class DisruptionController(KeyedController):
    """Computes PodDisruptionBudget status (the eviction API spends it)."""

    name = "disruption"
    resource = PDBS
    component = "controllermanager"
    watches = (
        Watch("poddisruptionbudgets.policy", own_key),
        Watch("pods", pod_keys, delay=POD_DELAY),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        namespace, name = split_key(key)
        if name == POD_CHANGES:
            if ctx.enqueue is not None:
                budgets = cached_list(ctx, PDBS, namespace)
                if budgets:
                    ctx.enqueue(self.name, [f"{namespace}/{b['metadata']['name']}" for b in budgets])
            return None
        pdb = self.get(ctx, key)
        if pdb is None:
            return None
        pdb.setdefault("apiVersion", "policy/v1")
        pdb.setdefault("kind", "PodDisruptionBudget")
        pods = selected(pdb, ctx.client.list(PODS, namespace)["items"])
        now = utcnow()
        status, recheck = self.compute(ctx, pdb, pods, now)
        if status != (pdb.get("status") or {}):
            pdb["status"] = status
            try:
                ctx.client.update(pdb, subresource="status")
            except errors.Conflict:
                return 0.1
        return recheck

    def compute(self, ctx: Context, pdb: Obj, pods: list[Obj], now: datetime) -> tuple[Obj, float | None]:
        """The budget's new status and when the oldest unconfirmed disruption expires (seconds)."""
        spec, old = pdb.get("spec") or {}, pdb.get("status") or {}
        by_name = {p["metadata"]["name"]: p for p in pods}
        disrupted: dict[str, str] = {}
        recheck = None
        for pod_name, at in (old.get("disruptedPods") or {}).items():
            pod = by_name.get(pod_name)
            if pod is None or is_terminating(pod):
                continue
            left = (parse_time(at) + timedelta(seconds=DELETION_TIMEOUT) - now).total_seconds()
            if left > 0:
                disrupted[pod_name] = at
                recheck = left if recheck is None else min(recheck, left)
        healthy = sum(
            1
            for p in pods
            if is_ready(p) and not is_terminating(p) and p["metadata"]["name"] not in disrupted
        )
        min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
        if isinstance(min_available, int):
            expected, desired = len(pods), min_available
        else:
            expected = self._expected(ctx, pdb["metadata"]["namespace"], pods)
            if min_available is not None:
                desired = scaled(min_available, expected, round_up=True)
            elif max_unavailable is not None:
                desired = expected - scaled(max_unavailable, expected, round_up=True)
            else:
                desired = expected
        desired = max(0, desired)
        allowed = max(0, healthy - desired)
        generation = pdb["metadata"].get("generation", 1)
        status: Obj = {
            "observedGeneration": generation,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptionsAllowed": allowed,
            "conditions": [self._condition(old, allowed > 0, generation, now)],
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        return status, recheck

    def _expected(self, ctx: Context, namespace: str, pods: list[Obj]) -> int:
        """What the pods' controllers want: each controller's replicas once, 1 per pod without one."""
        wanted: dict[str, int] = {}
        loose = 0
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None or ref.get("kind") != "ReplicaSet":
                if ref is None:
                    loose += 1
                else:
                    wanted.setdefault(ref.get("uid", ""), 0)
                    wanted[ref.get("uid", "")] += 1
                continue
            if ref["uid"] in wanted:
                continue
            try:
                rs = ctx.client.get(REPLICASETS, ref["name"], namespace)
            except errors.NotFound:
                wanted[ref["uid"]] = 0
                continue
            owner = controller_ref(rs)
            if owner is not None and owner.get("kind") == "Deployment":
                if owner["uid"] in wanted:
                    wanted[ref["uid"]] = 0
                    continue
                try:
                    deploy = ctx.client.get(DEPLOYMENTS, owner["name"], namespace)
                    wanted[owner["uid"]] = int((deploy.get("spec") or {}).get("replicas", 1))
                    wanted[ref["uid"]] = 0
                    continue
                except errors.NotFound:
                    pass
            wanted[ref["uid"]] = int((rs.get("spec") or {}).get("replicas", 1))
        return sum(wanted.values()) + loose

    @staticmethod
    def _condition(old: Obj, allowed: bool, generation: int, now: datetime) -> Obj:
        want = "True" if allowed else "False"
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), None)
        kept = prev and prev.get("status") == want and prev.get("lastTransitionTime")
        return {
            "type": "DisruptionAllowed",
            "status": want,
            "reason": "SufficientPods" if allowed else "InsufficientPods",
            "message": "",
            "observedGeneration": generation,
            "lastTransitionTime": prev["lastTransitionTime"] if kept else now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
