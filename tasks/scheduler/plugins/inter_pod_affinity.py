"""InterPodAffinity: required/preferred pod affinity and anti-affinity, both the incoming pod's and
the existing pods' (their anti-affinity against the new pod). Counts per (topologyKey, value) are
built once per pod; Filter and Score look them up per node."""

from __future__ import annotations

from typing import Any

from tasks.scheduler.framework.interfaces import CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.scoring import min_max_normalize
from tasks.scheduler.framework.status import SKIP, Status, unresolvable, unschedulable

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

Pair = tuple[str, str]


def _bump(counts: dict[Pair, int], node: NodeInfo, key: str, by: int = 1) -> None:
    value = node.labels.get(key)
    if value is not None:
        counts[(key, value)] = counts.get((key, value), 0) + by


class InterPodAffinity:
    name = "InterPodAffinity"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self.hard_weight = int((args or {}).get("hardPodAffinityWeight", 1))

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        snap = state.snapshot
        if not pod.required_affinity and not pod.required_anti_affinity and not snap.anti_affinity_pods:
            return SKIP
        ns = snap.namespaces
        existing: dict[Pair, int] = {}
        if snap.anti_affinity_pods:
            for node in snap.nodes:
                for other in node.anti_affinity_pods.values():
                    for term in other.required_anti_affinity:
                        if term.matches(pod, ns):
                            _bump(existing, node, term.topology_key)
        affinity: dict[Pair, int] = {}
        anti: dict[Pair, int] = {}
        if pod.required_affinity or pod.required_anti_affinity:
            for other, node in snap.pods():
                if pod.required_affinity and all(t.matches(other, ns) for t in pod.required_affinity):
                    for t in pod.required_affinity:
                        _bump(affinity, node, t.topology_key)
                for t in pod.required_anti_affinity:
                    if t.matches(other, ns):
                        _bump(anti, node, t.topology_key)
        matches_self = all(t.matches(pod, ns) for t in pod.required_affinity)
        state.data[self.name] = (existing, affinity, anti, matches_self)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        existing, affinity, anti, matches_self = state.data[self.name]
        labels = node.labels
        if pod.required_affinity:
            found = True
            for t in pod.required_affinity:
                value = labels.get(t.topology_key)
                if value is None:
                    return unresolvable(AFFINITY, plugin=self.name)
                if affinity.get((t.topology_key, value), 0) <= 0:
                    found = False
            # the first pod of a group that selects itself may go anywhere with the topology keys
            if not found and not (not affinity and matches_self):
                return unresolvable(AFFINITY, plugin=self.name)
        for t in pod.required_anti_affinity:
            value = labels.get(t.topology_key)
            if value is not None and anti.get((t.topology_key, value), 0) > 0:
                return unschedulable(ANTI_AFFINITY, plugin=self.name)
        if existing:
            for key, value in labels.items():
                if existing.get((key, value), 0) > 0:
                    return unschedulable(EXISTING_ANTI_AFFINITY, plugin=self.name)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        snap = state.snapshot
        own = pod.preferred_affinity or pod.preferred_anti_affinity
        if not own and not snap.affinity_pods:
            return SKIP
        ns = snap.namespaces
        scores: dict[Pair, int] = {}
        for node in snap.nodes:
            others = node.pods if own else node.affinity_pods
            for other in others.values():
                for t in pod.preferred_affinity:
                    if t.matches(other, ns):
                        _bump(scores, node, t.topology_key, t.weight)
                for t in pod.preferred_anti_affinity:
                    if t.matches(other, ns):
                        _bump(scores, node, t.topology_key, -t.weight)
                if other.has_affinity:
                    for t in other.required_affinity:
                        if self.hard_weight and t.matches(pod, ns):
                            _bump(scores, node, t.topology_key, self.hard_weight)
                    for t in other.preferred_affinity:
                        if t.matches(pod, ns):
                            _bump(scores, node, t.topology_key, t.weight)
                    for t in other.preferred_anti_affinity:
                        if t.matches(pod, ns):
                            _bump(scores, node, t.topology_key, -t.weight)
        if not scores:
            return SKIP
        keys: dict[str, dict[str, int]] = {}
        for (key, value), s in scores.items():
            keys.setdefault(key, {})[value] = s
        state.data[self.name + "/score"] = keys
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        labels = node.labels
        total = 0
        for key, values in state.data[self.name + "/score"].items():
            value = labels.get(key)
            if value is not None:
                total += values.get(value, 0)
        return total

    def normalize(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        min_max_normalize(scores)
