"""NodeResourcesFit (requests vs allocatable; LeastAllocated / MostAllocated scoring) and
NodeResourcesBalancedAllocation (prefer nodes whose cpu and memory use stay even)."""

from __future__ import annotations

import math
from typing import Any

from tasks.scheduler.framework import resources as res
from tasks.scheduler.framework.interfaces import MAX_NODE_SCORE, CycleState
from tasks.scheduler.framework.nodeinfo import NodeInfo
from tasks.scheduler.framework.podinfo import PodInfo
from tasks.scheduler.framework.status import SKIP, Status, unschedulable

TOO_MANY_PODS = "Too many pods"
DEFAULT_RESOURCES = ({"name": res.CPU, "weight": 1}, {"name": res.MEMORY, "weight": 1})
STRATEGIES = ("LeastAllocated", "MostAllocated")


def insufficient(pod: PodInfo, node: NodeInfo, ignored: frozenset[str] = frozenset()) -> list[str]:
    """Kubernetes' reasons why ``pod`` does not fit ``node`` (empty when it fits)."""
    reasons = []
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append(TOO_MANY_PODS)
    if pod.cpu and pod.cpu > node.alloc_cpu - node.req_cpu:
        reasons.append("Insufficient cpu")
    if pod.memory and pod.memory > node.alloc_memory - node.req_memory:
        reasons.append("Insufficient memory")
    eph = pod.requests.get(res.EPHEMERAL, 0)
    if eph and eph > node.alloc_ephemeral - node.req_ephemeral:
        reasons.append("Insufficient ephemeral-storage")
    for name, want in pod.scalar.items():
        if name not in ignored and want > node.alloc_scalar.get(name, 0) - node.req_scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


def _node_amounts(node: NodeInfo, name: str, nonzero: bool) -> tuple[int, int]:
    """(requested, allocatable) of one resource on ``node``."""
    if name == res.CPU:
        return (node.nonzero_cpu if nonzero else node.req_cpu), node.alloc_cpu
    if name == res.MEMORY:
        return (node.nonzero_memory if nonzero else node.req_memory), node.alloc_memory
    if name == res.EPHEMERAL:
        return node.req_ephemeral, node.alloc_ephemeral
    return node.req_scalar.get(name, 0), node.alloc_scalar.get(name, 0)


def _pod_amount(pod: PodInfo, name: str, nonzero: bool) -> int:
    if nonzero and name == res.CPU:
        return pod.nonzero_cpu
    if nonzero and name == res.MEMORY:
        return pod.nonzero_memory
    return pod.requests.get(name, 0)


class NodeResourcesFit:
    name = "NodeResourcesFit"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        strategy = args.get("scoringStrategy") or {}
        self.strategy = strategy.get("type", "LeastAllocated")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"NodeResourcesFit: unsupported scoringStrategy.type {self.strategy!r}")
        self.resources = tuple(
            (r["name"], int(r.get("weight", 1))) for r in strategy.get("resources") or DEFAULT_RESOURCES
        )
        self.ignored = frozenset(args.get("ignoredResources") or ())
        self._default = self.resources == ((res.CPU, 1), (res.MEMORY, 1))
        self._most = self.strategy == "MostAllocated"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # the fast path: a fitting pod costs three comparisons
        if (
            len(node.pods) < node.alloc_pods
            and pod.cpu <= node.alloc_cpu - node.req_cpu
            and pod.memory <= node.alloc_memory - node.req_memory
            and not pod.scalar
            and res.EPHEMERAL not in pod.requests
        ):
            return None
        reasons = insufficient(pod, node, self.ignored)
        return unschedulable(*reasons, plugin=self.name) if reasons else None

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """``score`` for every node at once (one loop; the framework's hot path)."""
        if not (self._default and not self._most):
            return [self.score(state, pod, node) for node in nodes]
        pod_cpu, pod_mem = pod.nonzero_cpu, pod.nonzero_memory
        out = []
        for node in nodes:
            alloc_cpu, alloc_mem = node.alloc_cpu, node.alloc_memory
            total = weights = 0
            if alloc_cpu:
                free = alloc_cpu - node.nonzero_cpu - pod_cpu
                total += free * MAX_NODE_SCORE // alloc_cpu if free > 0 else 0
                weights += 1
            if alloc_mem:
                free = alloc_mem - node.nonzero_memory - pod_mem
                total += free * MAX_NODE_SCORE // alloc_mem if free > 0 else 0
                weights += 1
            out.append(total // weights if weights else 0)
        return out

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if self._default and not self._most:
            # LeastAllocated over cpu and memory, weights 1: inlined for the hot loop
            alloc_cpu, alloc_mem = node.alloc_cpu, node.alloc_memory
            total = weights = 0
            if alloc_cpu:
                free = alloc_cpu - node.nonzero_cpu - pod.nonzero_cpu
                total += free * MAX_NODE_SCORE // alloc_cpu if free > 0 else 0
                weights += 1
            if alloc_mem:
                free = alloc_mem - node.nonzero_memory - pod.nonzero_memory
                total += free * MAX_NODE_SCORE // alloc_mem if free > 0 else 0
                weights += 1
            return total // weights if weights else 0
        total = weights = 0
        for name, weight in self.resources:
            used, alloc = _node_amounts(node, name, True)
            if not alloc:
                continue
            want = used + _pod_amount(pod, name, True)
            if self._most:
                part = MAX_NODE_SCORE if want > alloc else want * MAX_NODE_SCORE // alloc
            else:
                part = 0 if want > alloc else (alloc - want) * MAX_NODE_SCORE // alloc
            total += part * weight
            weights += weight
        return total // weights if weights else 0


class NodeResourcesBalancedAllocation:
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self.resources = tuple(r["name"] for r in (args or {}).get("resources") or DEFAULT_RESOURCES)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not any(pod.requests.get(r) for r in self.resources):
            return SKIP  # a best-effort pod changes no balance
        return None

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """``score`` for every node at once; cpu and memory (the default) in one inlined loop."""
        if self.resources != (res.CPU, res.MEMORY):
            return [self.score(state, pod, node) for node in nodes]
        pod_cpu, pod_mem = pod.requests.get(res.CPU, 0), pod.requests.get(res.MEMORY, 0)
        out = []
        for node in nodes:
            alloc_cpu, alloc_mem = node.alloc_cpu, node.alloc_memory
            if alloc_cpu and alloc_mem:
                cpu = (node.req_cpu + pod_cpu) / alloc_cpu
                mem = (node.req_memory + pod_mem) / alloc_mem
                cpu = cpu if cpu < 1.0 else 1.0
                mem = mem if mem < 1.0 else 1.0
                out.append(int((1 - abs(cpu - mem) / 2) * MAX_NODE_SCORE))
            else:  # one fraction or none: no spread to measure
                out.append(MAX_NODE_SCORE)
        return out

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """(1 - standard deviation of the requested/allocatable fractions) * 100."""
        fractions = []
        for name in self.resources:
            used, alloc = _node_amounts(node, name, False)
            if alloc:
                fractions.append(min((used + _pod_amount(pod, name, False)) / alloc, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)
