"""Pod facts the workload controllers share: active, ready, available, and pods from a template."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tasks.controllers.base import owner_reference

Obj = dict[str, Any]


def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_active(pod: Obj) -> bool:
    """Not finished (Succeeded/Failed) and not being deleted: a pod that counts toward replicas."""
    return phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def condition(pod: Obj, kind: str) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ready_since(pod: Obj) -> datetime | None:
    """When the pod became Ready (its condition's lastTransitionTime), if it is Ready."""
    cond = condition(pod, "Ready")
    if not cond or cond.get("status") != "True":
        return None
    stamp = cond.get("lastTransitionTime")
    return parse_time(stamp) if stamp else datetime.fromtimestamp(0, UTC)


def is_available(pod: Obj, min_ready_seconds: int, now: datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (Kubernetes' notion of an available pod)."""
    since = ready_since(pod)
    if since is None:
        return False
    if min_ready_seconds <= 0:
        return True
    return ((now or datetime.now(UTC)) - since).total_seconds() >= min_ready_seconds


def available_in(pod: Obj, min_ready_seconds: int, now: datetime | None = None) -> float | None:
    """Seconds until a Ready pod becomes available (0 if it is), None if it is not Ready."""
    since = ready_since(pod)
    if since is None:
        return None
    waited = ((now or datetime.now(UTC)) - since).total_seconds()
    return max(0.0, min_ready_seconds - waited)


def pod_from_template(template: Obj, owner: Obj, name_prefix: str, namespace: str) -> Obj:
    """A new Pod from a pod template, controlled by ``owner`` (named ``<prefix>`` + a random suffix)."""
    template = copy.deepcopy(template or {})
    md = template.get("metadata") or {}
    metadata: Obj = {
        "generateName": name_prefix,
        "namespace": namespace,
        "labels": dict(md.get("labels") or {}),
        "ownerReferences": [owner_reference(owner)],
    }
    if md.get("annotations"):
        metadata["annotations"] = dict(md["annotations"])
    if md.get("finalizers"):
        metadata["finalizers"] = list(md["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec") or {}}
