"""DefaultBinder: the v1.Binding that puts the pod on the node (the runtime posts it)."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.podinfo import PodInfo


def binding(pod: PodInfo, node_name: str) -> dict[str, Any]:
    """The body for ``POST /api/v1/namespaces/{ns}/pods/{name}/binding``."""
    meta: dict[str, Any] = {"name": pod.name, "namespace": pod.namespace}
    if pod.uid:
        meta["uid"] = pod.uid
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": meta,
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
    }


class DefaultBinder:
    name = "DefaultBinder"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> dict[str, Any]:
        return binding(pod, node_name)
