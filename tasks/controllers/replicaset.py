"""The ReplicaSet controller: keep ``spec.replicas`` active pods that match the selector.

``sync("ns/name")`` re-reads the ReplicaSet and every pod of its namespace, claims pods (adopts
matching orphans, releases owned pods whose labels stopped matching), then creates the missing
pods from the template in slow-start batches or deletes the surplus (unscheduled, pending and
not-ready pods first, then the newest), records SuccessfulCreate/SuccessfulDelete/FailedCreate
Events, and writes status through the status subresource when it changed. Nothing is created or
deleted while the ReplicaSet is being deleted.

Pods map to their controlling ReplicaSet's key. An orphan pod (no controller) that is added or
relabelled maps to the namespace's ``<ns>/~orphans`` key, whose sync queues every ReplicaSet of
the namespace whose selector matches some orphan, so adoption does not wait for a resync. That
key runs ``ORPHAN_DELAY`` after the first such change, so a burst of bare pods costs one look.
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController, controller_ref, owner_keys, split_key
from tasks.controllers.pods import is_active, pod_from_template
from tasks.controllers.replicaset_pods import (
    PODS,
    claim,
    delete_all,
    deletion_order,
    labels_of,
    slow_start,
)
from tasks.controllers.replicaset_status import compute_status, same_status
from tasks.runtime.controller import Change, Context, Watch, own_key
from tasks.runtime.informer import cached_list
from tasks.scheduler.framework.selectors import label_selector

REPLICASETS = lookup("apps", "v1", "replicasets")
ORPHANS = "~orphans"  # not a valid object name, so it never clashes with a ReplicaSet's key
BURST = 500  # at most this many pods created or deleted per sync, as Kubernetes' burstReplicas
RETRY_SOON = 1.0  # seconds before looking again after losing a race on a pod
ORPHAN_DELAY = 1.0  # orphan pods of a namespace are looked at together, this long after the first
Obj = dict[str, Any]


class ManageFailed(Exception):
    """Creating or deleting pods failed this sync (already reported in an Event and a condition)."""


def orphan_keys(change: Change) -> list[str]:
    """An orphan pod that appeared, changed labels or lost its controller: its namespace's key."""
    pod = change.object
    if change.type == "DELETED" or controller_ref(pod) is not None or not is_active(pod):
        return []
    prev = change.prev
    if change.type == "MODIFIED" and prev is not None:
        if labels_of(prev) == labels_of(pod) and controller_ref(prev) is None:
            return []
    return [f"{pod['metadata']['namespace']}/{ORPHANS}"]


class ReplicaSetController(KeyedController):
    """Reconciles ``apps/v1`` ReplicaSets: one key ``namespace/name`` per ReplicaSet."""

    name = "replicaset"
    resource = REPLICASETS
    watches = (
        Watch("replicasets.apps", own_key),
        Watch("pods", owner_keys("ReplicaSet")),
        Watch("pods", orphan_keys, delay=ORPHAN_DELAY),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        namespace, name = split_key(key)
        if name == ORPHANS:
            self._queue_adopters(ctx, namespace or "default")
            return None
        rs = self.get(ctx, key)
        if rs is None:
            return None
        rs.setdefault("apiVersion", "apps/v1")
        rs.setdefault("kind", "ReplicaSet")
        selector = label_selector((rs.get("spec") or {}).get("selector"))
        deleting = bool(rs["metadata"].get("deletionTimestamp"))
        listed = ctx.client.list(PODS, namespace)["items"]
        active = [p for p in listed if is_active(p)]
        claimed = claim(ctx.client, rs, selector, active, can_adopt=not deleting)
        pods = claimed.pods
        failure = None
        if not deleting:
            pods, failure = self._manage(ctx, rs, pods)
        status, available_after = compute_status(rs, pods, failure)
        self._write_status(ctx, rs, status)
        waits = [w for w in (available_after, RETRY_SOON if claimed.retry else None) if w is not None]
        if failure is not None:  # back off, as Kubernetes requeues a failed sync rate-limited
            raise ManageFailed(f"{failure[0]}: {failure[1]}")
        return min(waits) if waits else None

    # -- creating and deleting -----------------------------------------------------------------

    def _manage(self, ctx: Context, rs: Obj, pods: list[Obj]) -> tuple[list[Obj], tuple[str, str] | None]:
        """Create or delete pods toward ``spec.replicas``; the pods now active, and a failure if any."""
        md = rs["metadata"]
        want = int((rs.get("spec") or {}).get("replicas", 1) or 0)
        diff = len(pods) - want
        if diff < 0:
            template = (rs.get("spec") or {}).get("template") or {}

            def create() -> Obj:
                body = pod_from_template(template, rs, f"{md['name']}-", md["namespace"])
                return ctx.client.create(body, md["namespace"])

            made, err = slow_start(min(-diff, BURST), create)
            for pod in made:
                self.event(ctx, rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            if err is not None:
                message = str(err)
                self.event(ctx, rs, "Warning", "FailedCreate", f"Error creating: {message}")
                return pods + made, ("FailedCreate", message)
            return pods + made, None
        if diff > 0:
            victims = deletion_order(pods)[: min(diff, BURST)]
            gone, err = delete_all(ctx.client, victims)
            gone_uids = {p["metadata"]["uid"] for p in gone}
            for pod in gone:
                self.event(ctx, rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
            left = [p for p in pods if p["metadata"]["uid"] not in gone_uids]
            if err is not None:
                message = str(err)
                self.event(ctx, rs, "Warning", "FailedDelete", f"Error deleting: {message}")
                return left, ("FailedDelete", message)
            return left, None
        return pods, None

    # -- status --------------------------------------------------------------------------------

    def _write_status(self, ctx: Context, rs: Obj, status: Obj) -> None:
        """PUT ``status`` through the status subresource unless it is what the ReplicaSet has."""
        if same_status(rs.get("status"), status):
            return
        try:
            ctx.client.update(dict(rs, status=status), subresource="status")
        except (errors.Conflict, errors.NotFound):
            # The ReplicaSet changed or went away since we read it; that change queued the key again,
            # and writing this status over a newer spec would claim a generation we never acted on.
            return

    # -- orphans -------------------------------------------------------------------------------

    def _queue_adopters(self, ctx: Context, namespace: str) -> None:
        """Queue each ReplicaSet of ``namespace`` whose selector matches an active orphan pod."""
        selectors = {
            rs["metadata"]["name"]: label_selector((rs.get("spec") or {}).get("selector"))
            for rs in cached_list(ctx, REPLICASETS, namespace)
        }
        if not selectors:  # bare pods in a namespace without ReplicaSets: nothing to read further
            return
        orphans = [
            labels_of(p)
            for p in ctx.client.list(PODS, namespace)["items"]
            if controller_ref(p) is None and is_active(p)
        ]
        keys = [
            f"{namespace}/{name}"
            for name, selector in selectors.items()
            if selector is not None and any(selector.matches(labels) for labels in orphans)
        ]
        if keys and ctx.enqueue is not None:
            ctx.enqueue(self.name, keys)
