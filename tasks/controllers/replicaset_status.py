"""A ReplicaSet's status computed from the pods it controls.

``compute_status(rs, pods, failure)`` returns the new ``status`` and, when some Ready pod has not
been Ready for ``minReadySeconds`` yet, the seconds until the first of them becomes available (so
the caller runs the key again then). ``failure`` is the error (and its reason, ``FailedCreate`` or
``FailedDelete``) of this sync's pod writes: it sets the ``ReplicaFailure`` condition, a clean sync
removes it, as Kubernetes does.
"""

from __future__ import annotations

import copy
from typing import Any

from tasks.controllers.pods import available_in, is_available, is_ready
from tasks.runtime.events import now_rfc3339

Obj = dict[str, Any]
REPLICA_FAILURE = "ReplicaFailure"


def fully_labeled(pod: Obj, template_labels: dict[str, str]) -> bool:
    """The pod carries every label of the template, with the template's value."""
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in template_labels.items())


def _conditions(old: list[Obj], failure: tuple[str, str] | None) -> list[Obj]:
    current = [c for c in old if c.get("type") == REPLICA_FAILURE]
    others = [c for c in old if c.get("type") != REPLICA_FAILURE]
    if failure is None:
        return others
    if current:
        return old  # keep the first failure's time and text while failures go on
    reason, message = failure
    cond = {
        "type": REPLICA_FAILURE,
        "status": "True",
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    }
    return [*others, cond]


def compute_status(rs: Obj, pods: list[Obj], failure: tuple[str, str] | None) -> tuple[Obj, float | None]:
    """``(status, seconds until a Ready pod turns available or None)`` for ``rs`` controlling ``pods``."""
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    old = copy.deepcopy(rs.get("status") or {})
    ready = [p for p in pods if is_ready(p)]
    available = [p for p in ready if is_available(p, min_ready)]
    waits = [w for p in ready if (w := available_in(p, min_ready)) is not None and w > 0]
    status: Obj = {
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(1 for p in pods if fully_labeled(p, template_labels)),
        "readyReplicas": len(ready),
        "availableReplicas": len(available),
        "observedGeneration": rs["metadata"].get("generation", 0),
    }
    conditions = _conditions(list(old.get("conditions") or []), failure)
    if conditions:
        status["conditions"] = conditions
    # Zero counts are omitted on the wire (omitempty), as Kubernetes writes them.
    status = {k: v for k, v in status.items() if v or k == "replicas"}
    for key, value in old.items():
        if key not in status and key not in (
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "conditions",
        ):
            status[key] = value
    return status, (min(waits) if waits else None)


def same_status(old: Obj | None, new: Obj) -> bool:
    """Whether writing ``new`` would change nothing (zero counts and missing ones are equal)."""
    old = old or {}
    keys = set(old) | set(new)
    return all((old.get(k) or 0) == (new.get(k) or 0) for k in keys)
