"""Per-kind behaviour the generic registry cannot know: status on create, status split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cluster.api.resources import Resource

Obj = dict[str, Any]


def _pod_status(obj: Obj) -> None:
    obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}


def _cleared(obj: Obj) -> None:
    obj.pop("status", None)


def _namespace_status(obj: Obj) -> None:
    obj["status"] = {"phase": "Active"}


def _service_status(obj: Obj) -> None:
    obj["status"] = {"loadBalancer": {}}


def _kept(obj: Obj) -> None:
    """Nodes, like Kubernetes, keep the status they are created with."""


_STATUS_ON_CREATE: dict[str, Callable[[Obj], None]] = {
    "pods": _pod_status,
    "namespaces": _namespace_status,
    "services": _service_status,
    "nodes": _kept,
}


def prepare_for_create(resource: Resource, obj: Obj) -> None:
    """Reset what a client may not set on create (in place)."""
    if resource.has_status:
        _STATUS_ON_CREATE.get(resource.plural, _cleared)(obj)


def qos_class(pod: Obj) -> str:
    """Kubernetes' QoS class of a pod from its containers' requests and limits."""
    containers = pod.get("spec", {}).get("containers", []) + pod.get("spec", {}).get("initContainers", [])
    requests: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for c in containers:
        res = c.get("resources") or {}
        requests.append({k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")})
        limits.append({k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")})
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        set(lim) == {"cpu", "memory"} and all(req.get(k, lim[k]) == lim[k] for k in lim)
        for req, lim in zip(requests, limits, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"
