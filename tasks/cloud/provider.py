"""The cloud provider interface, shaped like Kubernetes' cloud-provider: three small capabilities.

A ``CloudProvider`` hands out a ``LoadBalancer``, ``Routes`` and ``Instances`` implementation, or None
for a capability it does not have (the matching controller then does nothing). ``provider(name)``
returns the registered provider called ``name`` (default: ``$KUBEQ_CLOUD_PROVIDER`` or ``local``),
built once per process with the API client it reads and writes through; ``KeyError`` for an
unknown name. Providers keep their own state where every controller replica sees it (the local one
keeps it in ConfigMaps), so any number of cloud-controller-manager workers agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]
DEFAULT_PROVIDER = "local"


def internal_ip(node: Obj) -> str:
    """The node's first InternalIP ("" when it reports none)."""
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP" and addr.get("address"):
            return str(addr["address"])
    return ""


class LoadBalancerError(Exception):
    """Ensuring a load balancer failed (e.g. no address left): the Service stays pending."""


@dataclass(frozen=True)
class Route:
    """One route of the cloud's route table: ``cidr`` is reached through ``gateway`` (``node``'s address)."""

    name: str
    node: str
    cidr: str
    gateway: str = ""


@dataclass(frozen=True)
class InstanceMetadata:
    """What the cloud knows about a node's machine."""

    provider_id: str
    addresses: list[Obj] = field(default_factory=list)  # NodeAddress objects ({type, address})
    zone: str = ""
    region: str = ""
    instance_type: str = ""


class LoadBalancer(Protocol):
    """Load balancers for Services of type LoadBalancer."""

    def get_load_balancer(self, service: Obj) -> tuple[Obj, bool]:
        """``(status.loadBalancer, exists)`` of ``service``'s load balancer."""
        ...

    def ensure_load_balancer(self, service: Obj, nodes: list[Obj]) -> Obj:
        """Create or update the load balancer; its ``status.loadBalancer``. ``LoadBalancerError`` if it
        cannot be made now."""
        ...

    def update_load_balancer(self, service: Obj, nodes: list[Obj]) -> None:
        """Bring an existing load balancer up to date with the set of ``nodes``."""
        ...

    def ensure_load_balancer_deleted(self, service: Obj) -> None:
        """Remove the load balancer (nothing to do when there is none)."""
        ...


class Routes(Protocol):
    """The route table that makes each node's pod CIDR reachable from the others."""

    def list_routes(self) -> list[Route]: ...

    def create_route(self, name: str, node: Obj, cidr: str) -> Route:
        """Add (or replace) route ``name`` sending ``cidr`` to ``node``."""
        ...

    def delete_route(self, name: str) -> None:
        """Remove route ``name`` (nothing to do when absent)."""
        ...


class Instances(Protocol):
    """The machines behind nodes."""

    def instance_exists(self, node: Obj) -> bool: ...

    def instance_shutdown(self, node: Obj) -> bool: ...

    def instance_metadata(self, node: Obj) -> InstanceMetadata | None:
        """The machine's metadata; None when the machine does not exist."""
        ...


class CloudProvider(Protocol):
    """A cloud: which capabilities it has."""

    name: str

    def load_balancer(self) -> LoadBalancer | None: ...

    def routes(self) -> Routes | None: ...

    def instances(self) -> Instances | None: ...


Factory = Callable[[Any], CloudProvider]  # (API client) -> provider
_FACTORIES: dict[str, Factory] = {}
_BUILT: dict[tuple[str, int], CloudProvider] = {}


def register(name: str, factory: Factory) -> None:
    """Make ``provider(name)`` build providers with ``factory(client)``."""
    _FACTORIES[name] = factory


def provider_name() -> str:
    return os.environ.get("KUBEQ_CLOUD_PROVIDER") or DEFAULT_PROVIDER


def known() -> list[str]:
    """The names of the registered providers."""
    from tasks.cloud import local  # noqa: F401  (registers "local")

    return sorted(_FACTORIES)


def provider(client: Any, name: str | None = None) -> CloudProvider:
    """The provider ``name`` (default ``provider_name()``) over ``client``, made once per client."""
    name = name or provider_name()
    if name not in known():
        raise KeyError(f"unknown cloud provider {name!r} (known: {', '.join(sorted(_FACTORIES))})")
    key = (name, id(client))
    if key not in _BUILT:
        _BUILT[key] = _FACTORIES[name](client)
    return _BUILT[key]
