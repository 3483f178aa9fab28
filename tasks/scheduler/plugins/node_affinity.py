"""NodeAffinity: ``nodeSelector`` and required node affinity filter; preferred terms score."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.scoring import default_normalize
from tasks.scheduler.framework.status import SKIP, Status, unresolvable

MISMATCH = "node(s) didn't match Pod's node affinity/selector"


def matches_node_affinity(pod: PodInfo, node: NodeInfo) -> bool:
    """``nodeSelector`` (every label) and required node affinity (any term) both hold on ``node``."""
    labels = node.labels
    for key, value in pod.node_selector.items():
        if labels.get(key) != value:
            return False
    required = pod.required_node_affinity
    return required is None or required.matches(labels, node.name)


class NodeAffinity:
    name = "NodeAffinity"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self._refusal = unresolvable(MISMATCH, plugin=self.name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.node_selector or pod.required_node_affinity is not None else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if matches_node_affinity(pod, node) else self._refusal

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        return None if pod.preferred_node_affinity else SKIP

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """The sum of the weights of the preferred terms ``node`` matches."""
        return sum(w for w, term in pod.preferred_node_affinity if term.matches(node.labels, node.name))

    def normalize(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        default_normalize(scores)
