"""The registry's hooks for Service writes: ClusterIPs and NodePorts reserved, kept and released.

The registry calls, for ``services`` only:
- ``carry_over(new, old)`` on update before defaulting/validation: values the client left out
  (kubectl apply and PUT send the object back without clusterIP/nodePort) are copied from the
  stored Service, and those the new type no longer uses are dropped, as Kubernetes does;
- ``allocate(obj, old, dry_run)`` after validation: fills and reserves; the caller runs
  ``commit()`` on the returned ``Allocation`` after the store write, ``abort()`` if it failed;
- ``release(obj)`` once the Service is gone from the store.
``repair(grace)`` makes the reservation tables match the stored Services (run at start and
periodically; see ``allocations.Reservations.repair``).
"""

from __future__ import annotations

import logging
from typing import Any

from cluster.registry.allocations import NODE_PORTS, SERVICE_IPS, Allocation, Owner, Reservations
from cluster.registry.nodeport import NodePorts, PortRange, needs_node_ports, node_ports_of, takes_node_ports
from cluster.registry.serviceip import ClusterIPs, IPRange, needs_cluster_ip, requested_ip
from cluster.settings import Settings
from cluster.store import Store

Obj = dict[str, Any]
log = logging.getLogger("kubeq.registry.services")
REPAIR_GRACE = 60.0  # seconds a reservation without a Service survives repair (a write in flight)


class ServiceAllocator:
    """ClusterIP and NodePort allocation for the Services of one store."""

    def __init__(self, store: Store, ip_range: str, port_range: str) -> None:
        self.store = store
        self.ips = ClusterIPs(Reservations(store, SERVICE_IPS), IPRange.parse(ip_range))
        self.node_ports = NodePorts(Reservations(store, NODE_PORTS), PortRange.parse(port_range))

    @classmethod
    def from_settings(cls, store: Store, settings: Settings | None = None) -> ServiceAllocator:
        settings = settings or Settings.from_env()
        return cls(store, settings.service_cluster_ip_range, settings.service_node_port_range)

    # ---- registry hooks -----------------------------------------------------------------
    def carry_over(self, new: Obj, old: Obj) -> None:
        """Patch ``new`` (in place) with the stored Service's allocated values; drop stale ones."""
        spec, old_spec = _spec(new), _spec(old)
        if spec is None or old_spec is None:
            return
        spec_view = dict(spec, type=spec.get("type") or "ClusterIP")
        if needs_cluster_ip(old_spec) and needs_cluster_ip(spec_view) and not requested_ip(spec):
            spec["clusterIP"] = old_spec.get("clusterIP")
            spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec.get("clusterIP")])
        if spec_view["type"] == "ExternalName" and old_spec.get("type") != "ExternalName":
            for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if spec.get(key) == old_spec.get(key):
                    spec.pop(key, None)
        if takes_node_ports(old_spec) and needs_node_ports(spec_view):
            _carry_node_ports(spec, old_spec)
        if not takes_node_ports(spec_view):
            held = node_ports_of(old_spec)
            for port in _port_list(spec):
                if port.get("nodePort") in held:
                    port.pop("nodePort")
            if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
                spec.pop("externalTrafficPolicy", None)
        if spec_view["type"] != "LoadBalancer":
            if spec.get("allocateLoadBalancerNodePorts") == old_spec.get("allocateLoadBalancerNodePorts"):
                spec.pop("allocateLoadBalancerNodePorts", None)

    def allocate(self, obj: Obj, old: Obj | None, dry_run: bool = False) -> Allocation:
        """Fill and reserve the ClusterIP and node ports of ``obj`` (in place).

        ``Invalid`` (422) for a requested value out of range or taken, ``InternalError`` (500) when
        a range is full; nothing stays reserved after an error.
        """
        md = obj.get("metadata") or {}
        alloc = Allocation(owner_of(obj), dry_run=dry_run)
        spec = obj.setdefault("spec", {})
        old_spec = _spec(old) if old is not None else None
        try:
            self.ips.assign(md.get("name", ""), spec, old_spec, alloc)
            self.node_ports.assign(md.get("name", ""), spec, old_spec, alloc)
        except BaseException:
            alloc.abort()
            raise
        return alloc

    def release(self, obj: Obj) -> None:
        """Free what a deleted Service held."""
        alloc = Allocation(owner_of(obj))
        spec = _spec(obj) or {}
        if needs_cluster_ip(spec) and requested_ip(spec):
            alloc.release_later(self.ips.table, requested_ip(spec))
        for port in node_ports_of(spec):
            alloc.release_later(self.node_ports.table, str(port))
        alloc.commit()

    # ---- repair -------------------------------------------------------------------------
    def repair(self, grace: float = REPAIR_GRACE) -> dict[str, dict[str, list[str]]]:
        """Free reservations no stored Service uses (older than ``grace`` s); record missing ones.

        Returns ``{"clusterIPs": report, "nodePorts": report}`` (see ``Reservations.repair``).
        """
        ips: dict[str, Owner] = {}
        ports: dict[str, Owner] = {}
        for svc in self.store.list("services").items:
            spec = _spec(svc) or {}
            owner = owner_of(svc)
            if needs_cluster_ip(spec) and requested_ip(spec):
                ips[requested_ip(spec)] = owner
            for port in node_ports_of(spec):
                ports[str(port)] = owner
        report = {
            "clusterIPs": self.ips.table.repair(ips, grace),
            "nodePorts": self.node_ports.table.repair(ports, grace),
        }
        for what, outcome in report.items():
            if outcome["conflicts"]:
                log.error("%s held by one Service but used by another: %s", what, outcome["conflicts"])
            if outcome["freed"] or outcome["recorded"]:
                log.info("repaired %s: freed %s, recorded %s", what, outcome["freed"], outcome["recorded"])
        return report


def owner_of(svc: Obj) -> Owner:
    md = svc.get("metadata") or {}
    return Owner(f"{md.get('namespace', '')}/{md.get('name', '')}", str(md.get("uid", "")))


def _spec(obj: Obj | None) -> Obj | None:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else None


def _port_list(spec: Obj) -> list[Obj]:
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _carry_node_ports(spec: Obj, old_spec: Obj) -> None:
    """Give ports sent without ``nodePort`` the one their stored twin has (by name, else number+protocol)."""
    old_ports = _port_list(old_spec)
    asked = {p.get("nodePort") for p in _port_list(spec) if p.get("nodePort")}
    for port in _port_list(spec):
        if port.get("nodePort"):
            continue
        twin = next((o for o in old_ports if o.get("name") and o.get("name") == port.get("name")), None)
        if twin is None:
            twin = next(
                (
                    o
                    for o in old_ports
                    if o.get("port") == port.get("port")
                    and (o.get("protocol") or "TCP") == (port.get("protocol") or "TCP")
                ),
                None,
            )
        value = twin.get("nodePort") if twin else None
        if value and value not in asked:
            port["nodePort"] = value
            asked.add(value)
