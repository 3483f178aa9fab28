"""ImageLocality: prefer nodes that already hold the pod's images, weighted by size and spread."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import MAX_NODE_SCORE, CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.status import SKIP, Status

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality:
    name = "ImageLocality"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        present = state.snapshot.image_nodes
        if not any(i in present for i in pod.images):
            return SKIP
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        snap = state.snapshot
        total_nodes = len(snap.nodes)
        total = 0
        for image in pod.images:
            size = node.images.get(image)
            if size:
                total += int(size * (snap.image_nodes.get(image, 0) / total_nodes))
        high = MAX_CONTAINER_THRESHOLD * max(len(pod.images), 1)
        total = min(max(total, MIN_THRESHOLD), high)
        return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (high - MIN_THRESHOLD)
