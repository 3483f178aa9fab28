"""Objects every cluster has from the start."""

from __future__ import annotations

from cluster import errors
from cluster.api.resources import lookup
from cluster.registry.admission import WriteOptions
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
