"""The Priority admission step: a pod's ``priorityClassName`` becomes ``spec.priority``."""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from cluster.store import Store

PRIORITY_CLASSES = lookup("scheduling.k8s.io", "v1", "priorityclasses")
# The classes every cluster has (Kubernetes' values).
SYSTEM_CLASSES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}


def _global_default(store: Store) -> dict[str, Any] | None:
    assert PRIORITY_CLASSES is not None
    for item in store.list(PRIORITY_CLASSES.qualified).items:
        if item.get("globalDefault"):
            return item
    return None


def admit_pod_priority(store: Store, pod: dict[str, Any]) -> None:
    """Set ``spec.priority`` (and ``preemptionPolicy``) from the pod's class, in place.

    No class name: the global default class if one exists, else priority 0. ``Forbidden`` for an
    unknown class, or for a ``spec.priority`` that differs from what the class gives.
    """
    assert PRIORITY_CLASSES is not None
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("priorityClassName") or ""
    pc: dict[str, Any] | None
    if name:
        try:
            pc = store.get(PRIORITY_CLASSES.qualified, name)
        except errors.NotFound:
            raise errors.Forbidden(
                f"pods is forbidden: no PriorityClass with name {name} was found", kind="pods"
            ) from None
    else:
        pc = _global_default(store)
    value = int(pc.get("value", 0)) if pc else 0
    given = spec.get("priority")
    if given is not None and given != value:
        raise errors.Forbidden(
            f"pods is forbidden: the integer value of priority ({given}) must not be provided in pod spec; "
            f"priority admission controller computed {value} from the given PriorityClass name",
            kind="pods",
        )
    spec["priority"] = value
    if pc:
        spec["priorityClassName"] = pc["metadata"]["name"]
        if pc.get("preemptionPolicy") and "preemptionPolicy" not in spec:
            spec["preemptionPolicy"] = pc["preemptionPolicy"]
