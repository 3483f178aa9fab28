"""PodTopologySpread: keep matching pods within ``maxSkew`` across the domains of ``topologyKey``.

DoNotSchedule constraints filter, ScheduleAnyway constraints score. Counts per domain are
built once per pod (PreFilter / PreScore) and looked up per node.
"""

from __future__ import annotations

import math
from typing import Any

from tasks.scheduler.framework.interfaces import MAX_NODE_SCORE, CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo, SpreadConstraint
from tasks.scheduler.framework.selectors import tolerated
from tasks.scheduler.framework.snapshot import Snapshot
from tasks.scheduler.framework.status import SKIP, Status, unresolvable, unschedulable
from tasks.scheduler.plugins.node_affinity import matches_node_affinity

SKEW = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"


def _eligible(pod: PodInfo, node: NodeInfo, c: SpreadConstraint) -> bool:
    if c.honor_affinity and not matches_node_affinity(pod, node):
        return False
    if c.honor_taints and any(not tolerated(t, pod.tolerations) for t in node.hard_taints):
        return False
    return True


def _matching(pod: PodInfo, node: NodeInfo, c: SpreadConstraint) -> int:
    sel = c.selector
    if sel is None:
        return 0
    ns = pod.namespace
    return sum(
        1
        for p in node.pods.values()
        if p.namespace == ns
        and sel.matches(p.labels)
        and not (p.pod.get("metadata") or {}).get("deletionTimestamp")
    )


def domain_counts(
    pod: PodInfo,
    constraints: tuple[SpreadConstraint, ...],
    snapshot: Snapshot,
    nodes: list[NodeInfo] | None = None,
) -> list[dict[str, int]]:
    """For each constraint, matching pods per domain over eligible nodes carrying every constraint's key."""
    counts: list[dict[str, int]] = [{} for _ in constraints]
    keys = [c.topology_key for c in constraints]
    # policies that cannot exclude a node for this pod are not checked per node
    checked = [
        (c.honor_affinity and bool(pod.node_selector or pod.required_node_affinity is not None))
        or (c.honor_taints and snapshot_has_taints(snapshot))
        for c in constraints
    ]
    if nodes is None and not any(checked):  # every node counts: the snapshot keeps these up to date
        return [
            snapshot.matching_per_domain(pod.namespace, c.selector, c.topology_key, tuple(keys))
            for c in constraints
        ]
    indexed = list(enumerate(constraints))
    for node in snapshot.nodes if nodes is None else nodes:
        labels = node.labels
        if any(k not in labels for k in keys):
            continue
        for i, c in indexed:
            if checked[i] and not _eligible(pod, node, c):
                continue
            domain = labels[c.topology_key]
            per_domain = counts[i]
            per_domain[domain] = per_domain.get(domain, 0) + (_matching(pod, node, c) if node.pods else 0)
    return counts


def snapshot_has_taints(snapshot: Snapshot) -> bool:
    return any(n.hard_taints for n in snapshot.nodes)


class PodTopologySpread:
    name = "PodTopologySpread"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self._missing = unresolvable(MISSING_LABEL, plugin=self.name)
        self._skew = unschedulable(SKEW, plugin=self.name)

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        hard = tuple(c for c in pod.spread if c.hard)
        if not hard:
            return SKIP
        counts = domain_counts(pod, hard, state.snapshot)
        minima = []
        for c, per_domain in zip(hard, counts, strict=True):
            low = min(per_domain.values(), default=0)
            minima.append(0 if len(per_domain) < c.min_domains else low)
        self_match = [1 if c.selector is not None and c.selector.matches(pod.labels) else 0 for c in hard]
        state.data[self.name] = (hard, counts, minima, self_match)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        hard, counts, minima, self_match = state.data[self.name]
        labels = node.labels
        for i, c in enumerate(hard):
            domain = labels.get(c.topology_key)
            if domain is None:
                return self._missing
            if counts[i].get(domain, 0) + self_match[i] - minima[i] > c.max_skew:
                return self._skew
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        soft = tuple(c for c in pod.spread if not c.hard)
        if not soft:
            return SKIP
        keys = [c.topology_key for c in soft]
        scored = [n for n in nodes if all(k in n.labels for k in keys)]
        counts = domain_counts(pod, soft, state.snapshot)
        weights = []
        for c in soft:
            size = len({n.labels[c.topology_key] for n in scored})
            weights.append(math.log(size + 2))
        state.data[self.name + "/score"] = (soft, counts, weights)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        soft, counts, weights = state.data[self.name + "/score"]
        labels = node.labels
        total = 0.0
        for i, c in enumerate(soft):
            domain = labels.get(c.topology_key)
            if domain is None:
                return -1  # marks a node without the keys: it scores 0 after normalizing
            total += counts[i].get(domain, 0) * weights[i] + (c.max_skew - 1)
        return round(total)

    def normalize(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        valid = [s for s in scores if s >= 0]
        if not valid:
            scores[:] = [0] * len(scores)
            return
        low, high = min(valid), max(valid)
        for i, s in enumerate(scores):
            if s < 0:
                scores[i] = 0
            elif high == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (high + low - s) // high
