"""TaintToleration: NoSchedule/NoExecute taints must be tolerated; PreferNoSchedule ones score lower."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.scoring import default_normalize
from tasks.scheduler.framework.selectors import tolerated
from tasks.scheduler.framework.status import SKIP, Status, unresolvable


class TaintToleration:
    name = "TaintToleration"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for taint in node.hard_taints:
            if not tolerated(taint, pod.tolerations):
                return unresolvable(
                    f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}", plugin=self.name
                )
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not state.snapshot.soft_tainted:
            return SKIP
        state.data[self.name] = tuple(t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule"))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """How many PreferNoSchedule taints the pod does not tolerate (fewer is better)."""
        if not node.soft_taints:
            return 0
        tols = state.data[self.name]
        return sum(1 for t in node.soft_taints if not tolerated(t, tols))

    def normalize(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        default_normalize(scores, reverse=True)
