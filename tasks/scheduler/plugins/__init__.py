"""Every scheduler plugin, by name: the one table profiles are built from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.scheduler.plugins.binder import DefaultBinder
from tasks.scheduler.plugins.image_locality import ImageLocality
from tasks.scheduler.plugins.inter_pod_affinity import InterPodAffinity
from tasks.scheduler.plugins.node_affinity import NodeAffinity
from tasks.scheduler.plugins.node_basics import NodeName, NodeUnschedulable
from tasks.scheduler.plugins.node_ports import NodePorts
from tasks.scheduler.plugins.preemption import DefaultPreemption
from tasks.scheduler.plugins.queue_sort import PrioritySort
from tasks.scheduler.plugins.resources_fit import NodeResourcesBalancedAllocation, NodeResourcesFit
from tasks.scheduler.plugins.taint_toleration import TaintToleration
from tasks.scheduler.plugins.topology_spread import PodTopologySpread

PluginFactory = Callable[[dict[str, Any] | None], Any]

REGISTRY: dict[str, PluginFactory] = {
    cls.name: cls
    for cls in (
        PrioritySort,
        NodeUnschedulable,
        NodeName,
        TaintToleration,
        NodeAffinity,
        NodePorts,
        NodeResourcesFit,
        NodeResourcesBalancedAllocation,
        PodTopologySpread,
        InterPodAffinity,
        ImageLocality,
        DefaultPreemption,
        DefaultBinder,
    )
}

# Kubernetes' default multi-point order and score weights
DEFAULT_PLUGINS: tuple[tuple[str, int], ...] = (
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
)
