"""``ProxyState`` as JSON for the forwarder daemon's socket: ``to_wire(state)`` and ``from_wire(obj)``.

``from_wire(to_wire(s)) == s`` for every state; ``ValueError`` for an object that is not one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tasks.proxy.model import Endpoint, ProxyState, ServicePort


def to_wire(state: ProxyState) -> dict[str, Any]:
    return asdict(state)


def from_wire(obj: dict[str, Any]) -> ProxyState:
    try:
        services = []
        for raw in obj.get("services") or []:
            fields = dict(raw)
            fields["endpoints"] = tuple(Endpoint(**e) for e in fields.get("endpoints") or ())
            for name in ("cluster_ips", "load_balancer_ips", "external_ips"):
                fields[name] = tuple(fields.get(name) or ())
            services.append(ServicePort(**fields))
        return ProxyState(
            node=obj["node"], node_ips=tuple(obj.get("node_ips") or ()), services=tuple(services)
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a proxy state: {exc}") from exc
