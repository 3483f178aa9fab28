"""Objects every cluster has from the start."""

from __future__ import annotations

from cluster import errors
from cluster.api.resources import lookup
from cluster.registry.admission import WriteOptions
from cluster.registry.priority import SYSTEM_CLASSES
from cluster.registry.registry import Registry

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def ensure_system_namespaces(registry: Registry) -> list[str]:
    """Create the namespaces Kubernetes starts with; returns those that were missing."""
    namespaces = lookup("", "v1", "namespaces")
    assert namespaces is not None
    created = []
    for name in SYSTEM_NAMESPACES:
        try:
            registry.create(namespaces, None, {"metadata": {"name": name}}, WriteOptions())
            created.append(name)
        except errors.AlreadyExists:
            pass
    return created


def ensure_system_priority_classes(registry: Registry) -> list[str]:
    """Create ``system-cluster-critical`` and ``system-node-critical``; returns those that were missing."""
    classes = lookup("scheduling.k8s.io", "v1", "priorityclasses")
    assert classes is not None
    created = []
    for name, value in SYSTEM_CLASSES.items():
        body = {
            "metadata": {"name": name},
            "value": value,
            "description": "Used for system critical pods that must not be moved from their current node.",
        }
        try:
            registry.create(classes, None, body, WriteOptions())
            created.append(name)
        except errors.AlreadyExists:
            pass
    return created
