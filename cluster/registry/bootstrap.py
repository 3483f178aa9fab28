"""Objects every cluster has from the start."""

from __future__ import annotations

import contextlib
import copy
import logging
import socket
import threading
from typing import Any

from cluster import errors
from cluster.api.defaults import apply_defaults
from cluster.api.resources import Resource, lookup
from cluster.periodic import every
from cluster.registry.admission import WriteOptions
from cluster.registry.priority import SYSTEM_CLASSES
from cluster.registry.registry import Registry
from cluster.registry.servicealloc import REPAIR_GRACE
from cluster.settings import Settings

log = logging.getLogger("kubeq.registry.bootstrap")

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


KUBERNETES_SERVICE = "kubernetes"


def advertised_address(bind_address: str) -> str:
    """The address other hosts reach the API server on: the bind address, or for a wildcard bind
    (``0.0.0.0``, ``::``, empty) the host's primary address (the one its default route leaves by)."""
    if bind_address not in ("", "0.0.0.0", "::"):
        return bind_address
    with contextlib.suppress(OSError):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            return str(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        return socket.gethostbyname(socket.gethostname())
    return "127.0.0.1"


def ensure_kubernetes_service(registry: Registry, settings: Settings | None = None) -> dict[str, str]:
    """Create or correct the ``kubernetes`` Service in ``default`` and its Endpoints and EndpointSlice.

    The Service has the first address of the registry's ClusterIP range and port 443 (``https``) onto
    the API server's port; the endpoint is ``advertised_address(bind_address)`` on that port.
    Returns ``{kind: "created" | "updated" | "unchanged" | "failed: <why>"}`` per object: an
    ``Invalid`` (another Service holds the address) is logged and reported, not raised.
    """
    settings = settings or Settings.from_env()
    address, port = advertised_address(settings.bind_address), settings.port
    ip = registry.services.ips.range.address(0)
    labels = {"component": "apiserver", "provider": "kubernetes"}
    service = {
        "metadata": {"name": KUBERNETES_SERVICE, "namespace": "default", "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        },
    }
    endpoints = {
        "metadata": {"name": KUBERNETES_SERVICE, "namespace": "default", "labels": {}},
        "subsets": [
            {"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
        ],
    }
    endpoint_slice = {
        "metadata": {
            "name": KUBERNETES_SERVICE,
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": KUBERNETES_SERVICE},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    outcome = {}
    for (group, version, plural), body, paths in (
        (("", "v1", "services"), service, ("spec.ports", "metadata.labels")),
        (("", "v1", "endpoints"), endpoints, ("subsets",)),
        (
            ("discovery.k8s.io", "v1", "endpointslices"),
            endpoint_slice,
            ("endpoints", "ports", "metadata.labels"),
        ),
    ):
        resource = lookup(group, version, plural)
        assert resource is not None
        try:
            outcome[resource.kind] = _ensure(registry, resource, body, paths)
        except errors.Invalid as err:  # e.g. a user's Service holds the address: say so, keep starting
            log.error("cannot set up %s default/kubernetes: %s", resource.kind, err)
            outcome[resource.kind] = f"failed: {err}"
    return outcome


def _ensure(registry: Registry, resource: Resource, body: dict[str, Any], paths: tuple[str, ...]) -> str:
    """Create ``body``, or overwrite the fields at ``paths`` of the stored object when they differ."""
    md = body["metadata"]
    try:
        registry.create(resource, md["namespace"], copy.deepcopy(body), WriteOptions())
        return "created"
    except errors.AlreadyExists:
        pass
    current = registry.get(resource, md["namespace"], md["name"])
    wanted = copy.deepcopy(current)
    for path in paths:
        *parents, leaf = path.split(".")
        source, target = body, wanted
        for part in parents:
            source, target = source[part], target.setdefault(part, {})
        target[leaf] = copy.deepcopy(source[leaf])
    probe = copy.deepcopy(wanted)
    apply_defaults(resource, probe)
    if probe == current:
        return "unchanged"
    registry.update(resource, md["namespace"], md["name"], wanted, WriteOptions(), current=current)
    return "updated"


def repair_service_allocations(registry: Registry, grace: float = REPAIR_GRACE) -> dict[str, Any]:
    """Make the ClusterIP/NodePort reservations match the stored Services (see ``ServiceAllocator.repair``)."""
    return registry.services.repair(grace)


def start_allocation_repair(registry: Registry, interval: float = 300.0) -> threading.Event:
    """Run ``repair_service_allocations`` every ``interval`` seconds in a daemon thread (set to stop)."""
    return every(interval, lambda: repair_service_allocations(registry), "service-allocation-repair")
