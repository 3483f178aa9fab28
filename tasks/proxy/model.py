"""What a node's proxy must do, computed from Services and EndpointSlices: the backends' shared input.

``ProxyState`` is the whole desired state of one node (level-triggered: every sync builds it from the
full current lists and a backend makes its rules equal to it, removing whatever is not in it). One
``ServicePort`` per (Service, port); its ``endpoints`` are every endpoint the Service's slices hold for
that port, already resolved to a number. ``targets(sp, node, external)`` picks the ones traffic may go
to, as kube-proxy does: ready endpoints; when none is ready, the serving-and-terminating ones; with a
``Local`` traffic policy only those on this node (none: traffic is dropped, never sent elsewhere).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

PROXY_MODE_ANNOTATION = "kubeq.io/proxy-mode"  # on the Node: the mode its proxy runs in
PROXY_MODES = ("nftables", "userspace")


@dataclass(frozen=True)
class Endpoint:
    """One backend address of a Service port, with the EndpointSlice conditions."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node: str | None = None
    zone: str | None = None


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with every address it is reachable on and its endpoints."""

    namespace: str
    name: str
    port_name: str  # "" for an unnamed port
    protocol: str  # TCP | UDP | SCTP
    port: int
    cluster_ips: tuple[str, ...] = ()  # empty for headless Services (then only node/LB ports, if any)
    node_port: int | None = None
    load_balancer_ips: tuple[str, ...] = ()  # status.loadBalancer.ingress[].ip
    external_ips: tuple[str, ...] = ()  # spec.externalIPs
    affinity_seconds: int | None = None  # sessionAffinity ClientIP timeout; None: no affinity
    internal_local: bool = False  # internalTrafficPolicy: Local (ClusterIP traffic)
    external_local: bool = False  # externalTrafficPolicy: Local (NodePort / LoadBalancer / external IPs)
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def key(self) -> str:
        """``<namespace>/<name>:<port name or number>``: unique per node state."""
        return f"{self.namespace}/{self.name}:{self.port_name or self.port}"


@dataclass(frozen=True)
class ProxyState:
    """The node's whole desired proxy state."""

    node: str
    node_ips: tuple[str, ...] = ()  # the node's own addresses (NodePorts listen on them)
    services: tuple[ServicePort, ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """A digest of the state: equal states, equal digests (backends may skip a no-op apply)."""
        blob = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def targets(sp: ServicePort, node: str, external: bool = False) -> list[Endpoint]:
    """The endpoints traffic to ``sp`` may go to from ``node`` (``external``: arrived on a NodePort,
    load-balancer or external IP; else cluster-internal), in a stable order."""
    ready = [e for e in sp.endpoints if e.ready]
    usable = ready or [e for e in sp.endpoints if e.serving and e.terminating]
    if sp.external_local if external else sp.internal_local:
        usable = [e for e in usable if e.node == node]
    return sorted(usable, key=lambda e: (e.ip, e.port))
