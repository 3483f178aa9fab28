"""DefaultPreemption (PostFilter): find a node where evicting lower-priority pods lets the pod fit.

Per candidate node, every lower-priority pod is removed; if the pod then fits, the removed pods are
put back most important first and each one that still lets the pod fit is spared. The node is then
chosen as Kubernetes does: lowest highest-victim priority, lowest priority sum, fewest victims,
latest start among the most important victims, first found.
"""

from __future__ import annotations

import random
from typing import Any

from tasks.scheduler.framework.algorithm import fits
from tasks.scheduler.framework.diagnosis import Diagnosis
from tasks.scheduler.framework.interfaces import CycleState, PostFilterResult
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.status import SUCCESS, Code, unschedulable

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
POLICY_NEVER = "preemption: not eligible due to preemptionPolicy=Never."
PRIORITY_OFFSET = 2**31  # keeps sums of negative priorities ordered, as Kubernetes does


def _importance(p: PodInfo) -> tuple[int, float]:
    return (-p.priority, p.start_time)


class DefaultPreemption:
    name = "DefaultPreemption"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        self.min_candidate_percentage = int(args.get("minCandidateNodesPercentage", 10))
        self.min_candidate_absolute = int(args.get("minCandidateNodesAbsolute", 100))
        self.rng = random.Random(args.get("seed"))

    def post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis) -> PostFilterResult:
        if pod.preempt_never:
            return PostFilterResult(unschedulable(POLICY_NEVER, plugin=self.name))
        snap = state.snapshot
        reasons: dict[str, int] = {}
        potential = []
        for node in snap.nodes:
            st = diagnosis.node_status.get(node.name)
            if st is not None and st.code == Code.UNSCHEDULABLE:
                potential.append(node)
            else:
                reasons[NOT_HELPFUL] = reasons.get(NOT_HELPFUL, 0) + 1
        limit = max(len(snap.nodes) * self.min_candidate_percentage // 100, self.min_candidate_absolute)
        offset = self.rng.randrange(len(potential)) if potential else 0
        candidates: list[tuple[NodeInfo, list[PodInfo]]] = []
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)]
            victims = self.select_victims(state, pod, node)
            if victims is None:
                reasons[NO_VICTIMS] = reasons.get(NO_VICTIMS, 0) + 1
                continue
            candidates.append((node, victims))
            if len(candidates) >= limit:
                break
        if not candidates:
            parts = ", ".join(sorted(f"{n} {r}" for r, n in reasons.items()))
            msg = f"preemption: 0/{len(snap.nodes)} nodes are available: {parts}."
            return PostFilterResult(unschedulable(msg, plugin=self.name))
        node, victims = min(candidates, key=lambda c: _rank(c[1]))
        return PostFilterResult(SUCCESS, node.name, victims)

    def select_victims(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> list[PodInfo] | None:
        """The fewest lower-priority pods whose eviction lets ``pod`` fit ``node``; None if none do."""
        snap, profile = state.snapshot, state.profile
        lower = [p for p in node.pods.values() if p.priority < pod.priority]
        if not lower:
            return None
        for p in lower:
            snap.remove_pod(p.key)
        try:
            if fits(profile, pod, snap, node) is not None:
                return None
            victims = []
            for p in sorted(lower, key=_importance):
                snap.add_pod(node.name, p)
                if fits(profile, pod, snap, node) is not None:
                    snap.remove_pod(p.key)
                    victims.append(p)
            return victims
        finally:
            for p in lower:
                if p.key not in node.pods:
                    snap.add_pod(node.name, p)


def _rank(victims: list[PodInfo]) -> tuple[int, int, int, float]:
    if not victims:
        return (-(2**63), 0, 0, 0.0)
    top = max(v.priority for v in victims)
    earliest_top = min(v.start_time for v in victims if v.priority == top)
    return (top, sum(v.priority + PRIORITY_OFFSET for v in victims), len(victims), -earliest_top)
