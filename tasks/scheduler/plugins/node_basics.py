"""NodeUnschedulable (cordoned nodes) and NodeName (``spec.nodeName``)."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.selectors import Taint, tolerated
from tasks.scheduler.framework.status import SKIP, Status, unresolvable

UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")
UNSCHEDULABLE = "node(s) were unschedulable"
NODE_NAME_MISMATCH = "node(s) didn't match the requested node name"


class NodeUnschedulable:
    """Refuses nodes with ``spec.unschedulable`` unless the pod tolerates the unschedulable taint."""

    name = "NodeUnschedulable"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self._refusal = unresolvable(UNSCHEDULABLE, plugin=self.name)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable or tolerated(UNSCHEDULABLE_TAINT, pod.tolerations):
            return None
        return self._refusal


class NodeName:
    """A pod that names its node fits only there."""

    name = "NodeName"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self._refusal = unresolvable(NODE_NAME_MISMATCH, plugin=self.name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.node_name else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if node.name == pod.node_name else self._refusal
