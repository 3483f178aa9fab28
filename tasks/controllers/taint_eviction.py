"""Taint-based eviction: when must a pod leave a node whose NoExecute taints it does not (long) tolerate.

Pure functions over API dicts. ``evict_at(pod, taints, now)`` is None when the pod tolerates every
NoExecute taint forever, else the moment it must be deleted: at once for a taint it does not
tolerate, ``timeAdded + tolerationSeconds`` (the smallest that applies) for one it tolerates for a while.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.controllers.pods import parse_time

Obj = dict[str, Any]


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """True when ``toleration`` matches ``taint`` (key, operator Exists/Equal with value, effect)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def no_execute(taints: list[Obj] | None) -> list[Obj]:
    """The NoExecute taints of a node's ``spec.taints``."""
    return [t for t in taints or [] if t.get("effect") == "NoExecute"]


def evict_at(pod: Obj, taints: list[Obj], now: datetime) -> datetime | None:
    """When ``pod`` must be deleted because of the NoExecute ``taints`` (None: never)."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    due: datetime | None = None
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return now
        bounded = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if not bounded:  # tolerated forever
            continue
        added = parse_time(taint["timeAdded"]) if taint.get("timeAdded") else now
        at = added + timedelta(seconds=max(0, min(bounded)))
        due = at if due is None or at < due else due
    return due


def utcnow() -> datetime:
    return datetime.now(UTC)
