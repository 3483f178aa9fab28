"""The Priority admission step: a pod's ``priorityClassName`` becomes ``spec.priority``."""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.registry.podinputs import PodInputs

# The classes every cluster has (Kubernetes' values).
SYSTEM_CLASSES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}


def _global_default(classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((item for item in classes if item.get("globalDefault")), None)


def admit_pod_priority(pod: dict[str, Any], inputs: PodInputs) -> None:
    """Set ``spec.priority`` (and ``preemptionPolicy``) from the pod's class, in place.

    No class name: the global default class if one exists, else priority 0. ``Forbidden`` for an
    unknown class, or for a ``spec.priority`` that differs from what the class gives.
    """
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("priorityClassName") or ""
    pc: dict[str, Any] | None
    if name:
        pc = inputs.priority_class
        if pc is None:
            raise errors.Forbidden(
                f"pods is forbidden: no PriorityClass with name {name} was found", kind="pods"
            )
    else:
        pc = _global_default(inputs.classes)
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
