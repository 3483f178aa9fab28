"""Build a node's ``ProxyState`` from the full lists of Services and EndpointSlices.

``build_state(node, node_ips, services, slices)`` is pure: one ``ServicePort`` per port of every
ClusterIP, NodePort and LoadBalancer Service (ExternalName Services have nothing to proxy; headless
Services are skipped unless they still have a node port, load-balancer or external address). A port's
endpoints come from the slices labelled ``kubernetes.io/service-name=<service>`` in the Service's
namespace whose port has the same name (and protocol), as kube-proxy matches them; FQDN slices are
ignored. Conditions follow the EndpointSlice API: ``ready`` absent means ready, ``serving`` absent
means what ``ready`` says, ``terminating`` absent means not terminating.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tasks.proxy.model import Endpoint, ProxyState, ServicePort

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_SECONDS = 10800  # Kubernetes' default ClientIP affinity timeout (3 hours)
PROXIED_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


def _cluster_ips(spec: Obj) -> tuple[str, ...]:
    ips = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
    return tuple(ip for ip in ips if ip and ip != "None")


def _affinity(spec: Obj) -> int | None:
    if spec.get("sessionAffinity") != "ClientIP":
        return None
    timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
    return int(timeout) if timeout else DEFAULT_AFFINITY_SECONDS


def _endpoints_for(slices: Iterable[Obj], port_name: str, protocol: str) -> tuple[Endpoint, ...]:
    """Every endpoint of ``slices`` serving the port named ``port_name`` (deduplicated, stable order)."""
    found: dict[tuple[str, int], Endpoint] = {}
    for sl in slices:
        if sl.get("addressType", "IPv4") == "FQDN":
            continue
        number = None
        for p in sl.get("ports") or []:
            if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol:
                number = p.get("port")
                break
        if number is None:
            continue
        for ep in sl.get("endpoints") or []:
            addresses = ep.get("addresses") or []
            if not addresses:
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False
            serving = ready if cond.get("serving") is None else bool(cond["serving"])
            endpoint = Endpoint(
                ip=addresses[0],
                port=int(number),
                ready=ready,
                serving=serving,
                terminating=bool(cond.get("terminating")),
                node=ep.get("nodeName"),
                zone=ep.get("zone"),
            )
            found.setdefault((endpoint.ip, endpoint.port), endpoint)
    return tuple(sorted(found.values(), key=lambda e: (e.ip, e.port)))


def service_ports(service: Obj, slices: list[Obj]) -> list[ServicePort]:
    """The ``ServicePort``s of one Service given the slices of its namespace (any service)."""
    md, spec = service.get("metadata") or {}, service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    if kind not in PROXIED_TYPES:
        return []
    namespace, name = md.get("namespace", "default"), md.get("name", "")
    own = [
        s for s in slices if ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
    ]
    cluster_ips = _cluster_ips(spec)
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = tuple(i["ip"] for i in ingress if i.get("ip")) if kind == "LoadBalancer" else ()
    external_ips = tuple(spec.get("externalIPs") or ())
    out = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        node_port = port.get("nodePort") if kind in ("NodePort", "LoadBalancer") else None
        if not (cluster_ips or node_port or lb_ips or external_ips):
            continue  # headless (or not yet allocated): nothing to listen on
        port_name = port.get("name") or ""
        out.append(
            ServicePort(
                namespace=namespace,
                name=name,
                port_name=port_name,
                protocol=protocol,
                port=int(port["port"]),
                cluster_ips=cluster_ips,
                node_port=int(node_port) if node_port else None,
                load_balancer_ips=lb_ips,
                external_ips=external_ips,
                affinity_seconds=_affinity(spec),
                internal_local=spec.get("internalTrafficPolicy") == "Local",
                external_local=spec.get("externalTrafficPolicy") == "Local",
                endpoints=_endpoints_for(own, port_name, protocol),
            )
        )
    return out


def build_state(node: str, node_ips: Iterable[str], services: list[Obj], slices: list[Obj]) -> ProxyState:
    """The whole desired proxy state of ``node`` (see the module docstring); services sorted by key."""
    by_namespace: dict[str, list[Obj]] = {}
    for sl in slices:
        by_namespace.setdefault((sl.get("metadata") or {}).get("namespace", "default"), []).append(sl)
    ports: list[ServicePort] = []
    for svc in services:
        namespace = (svc.get("metadata") or {}).get("namespace", "default")
        ports.extend(service_ports(svc, by_namespace.get(namespace, [])))
    ports.sort(key=lambda sp: (sp.namespace, sp.name, sp.port_name, sp.port, sp.protocol))
    return ProxyState(node=node, node_ips=tuple(dict.fromkeys(node_ips)), services=tuple(ports))
