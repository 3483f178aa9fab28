"""The ``local`` cloud provider: the hosts kubeq runs on are the cloud; its state lives in ConfigMaps.

Load balancers (ConfigMap ``kube-system/kubeq-loadbalancers``, entry ``<namespace>.<service>`` ->
``{ip, ports, uid}``): ensuring one picks an ingress address from the pool (``$KUBEQ_LB_POOL``: comma-
separated IPs and CIDRs; default the Nodes' InternalIPs, the hosts' own addresses, as k3s's ServiceLB
does) and records it. kube-proxy on every node serves ``status.loadBalancer.ingress`` addresses, so
recording is all a load balancer takes. An address keeps serving several Services as long as their
``protocol/port`` pairs differ; a Service whose ports are taken on every pool address gets
``LoadBalancerError`` and stays pending.

Routes (``kube-system/kubeq-routes``, entry route name -> ``{node, cidr, gateway}``): the gateway is the
node's InternalIP; node agents (``workers/node/routes.py``) install the table as host routes.

Instances (``kube-system/kubeq-machines``, entry machine (= node) name -> ``{addresses, zone, region}``):
node agents add their machine at start with ``register_machine``. While the inventory ConfigMap does not
exist nobody keeps one and every instance is taken to exist; once it does, a node whose machine is
not listed has no instance.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from tasks.cloud import configstate
from tasks.cloud.provider import InstanceMetadata, LoadBalancerError, Route, internal_ip, register

LOADBALANCERS = "kubeq-loadbalancers"
ROUTES = "kubeq-routes"
MACHINES = "kubeq-machines"
POOL_ENV = "KUBEQ_LB_POOL"
MAX_POOL = 4096  # addresses taken from one CIDR of the pool
PROVIDER_ID_PREFIX = "kubeq://"
Obj = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------------


def parse_pool(text: str) -> list[str]:
    """``"192.0.2.10, 198.51.100.0/30"`` -> the addresses, in order, without repeats (ValueError if bad)."""
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "/" in part:
            net = ipaddress.ip_network(part, strict=False)
            hosts = [net.network_address] if net.num_addresses == 1 else net.hosts()
            for i, host in enumerate(hosts):
                if i >= MAX_POOL:
                    break
                out.append(str(host))
        else:
            out.append(str(ipaddress.ip_address(part)))
    return list(dict.fromkeys(out))


def pool(nodes: list[Obj]) -> list[str]:
    """The ingress addresses to choose from: ``$KUBEQ_LB_POOL``, else the nodes' InternalIPs (sorted)."""
    configured = os.environ.get(POOL_ENV, "").strip()
    if configured:
        return parse_pool(configured)
    return sorted({ip for ip in (internal_ip(n) for n in nodes) if ip}, key=ipaddress.ip_address)


def service_entry(service: Obj) -> str:
    """The state entry of ``service``: ``<namespace>.<name>`` (namespaces hold no dots)."""
    md = service["metadata"]
    return f"{md.get('namespace') or 'default'}.{md['name']}"


def service_ports(service: Obj) -> list[str]:
    """``["TCP/80", "UDP/53"]``: what the Service occupies on its ingress address."""
    ports = (service.get("spec") or {}).get("ports") or []
    return sorted({f"{p.get('protocol') or 'TCP'}/{p['port']}" for p in ports if p.get("port")})


def lb_status(ip: str) -> Obj:
    return {"ingress": [{"ip": ip, "ipMode": "VIP"}]}


def choose_ip(
    candidates: list[str], wanted: list[str], others: dict[str, Obj], prefer: list[str]
) -> str | None:
    """The first address of ``prefer`` then ``candidates`` on which no other entry holds a port of
    ``wanted``; None when every one is taken."""
    taken: dict[str, set[str]] = {}
    for entry in others.values():
        taken.setdefault(entry.get("ip", ""), set()).update(entry.get("ports") or [])
    for ip in [*prefer, *candidates]:
        if ip in candidates and not taken.get(ip, set()) & set(wanted):
            return ip
    return None


# -- the provider ----------------------------------------------------------------------------------


class LocalLoadBalancer:
    """Ingress addresses from the pool, recorded in ``kube-system/kubeq-loadbalancers``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get_load_balancer(self, service: Obj) -> tuple[Obj, bool]:
        entries, _ = configstate.read(self.client, LOADBALANCERS)
        entry = entries.get(service_entry(service))
        return (lb_status(entry["ip"]), True) if entry and entry.get("ip") else ({}, False)

    def ensure_load_balancer(self, service: Obj, nodes: list[Obj]) -> Obj:
        key = service_entry(service)
        candidates = pool(nodes)
        wanted = service_ports(service)
        requested = (service.get("spec") or {}).get("loadBalancerIP") or ""
        chosen: dict[str, str] = {}

        def change(entries: dict[str, Obj]) -> bool:
            mine = entries.get(key) or {}
            others = {k: v for k, v in entries.items() if k != key}
            if requested:  # spec.loadBalancerIP: that address or none
                ip = choose_ip([requested], wanted, others, [])
            else:
                ip = choose_ip(candidates, wanted, others, [mine.get("ip", "")])
            if ip is None:
                where = f"address {requested}" if requested else f"pool {', '.join(candidates) or '(empty)'}"
                raise LoadBalancerError(f"no free address for ports {', '.join(wanted)} in {where}")
            chosen["ip"] = ip
            new = {"ip": ip, "ports": wanted, "uid": service["metadata"].get("uid", "")}
            if mine == new:
                return False
            entries[key] = new
            return True

        configstate.edit(self.client, LOADBALANCERS, change)
        return lb_status(chosen["ip"])

    def update_load_balancer(self, service: Obj, nodes: list[Obj]) -> None:
        self.ensure_load_balancer(service, nodes)

    def ensure_load_balancer_deleted(self, service: Obj) -> None:
        key = service_entry(service)
        configstate.edit(self.client, LOADBALANCERS, lambda entries: entries.pop(key, None) is not None)


class LocalRoutes:
    """The route table ``kube-system/kubeq-routes``; the gateway of a node's route is its InternalIP."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list_routes(self) -> list[Route]:
        entries, _ = configstate.read(self.client, ROUTES)
        return [
            Route(name, e.get("node", ""), e.get("cidr", ""), e.get("gateway", ""))
            for name, e in sorted(entries.items())
            if e.get("cidr")
        ]

    def create_route(self, name: str, node: Obj, cidr: str) -> Route:
        node_name = node["metadata"]["name"]
        new = {"node": node_name, "cidr": cidr, "gateway": internal_ip(node)}

        def change(entries: dict[str, Obj]) -> bool:
            if entries.get(name) == new:
                return False
            entries[name] = new
            return True

        configstate.edit(self.client, ROUTES, change)
        return Route(name, node_name, cidr, new["gateway"])

    def delete_route(self, name: str) -> None:
        configstate.edit(self.client, ROUTES, lambda entries: entries.pop(name, None) is not None)


class LocalInstances:
    """Machines listed in ``kube-system/kubeq-machines`` (see the module docstring)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _machine(self, node: Obj) -> tuple[Obj | None, bool]:
        entries, kept = configstate.read(self.client, MACHINES)
        return entries.get(node["metadata"]["name"]), kept

    def instance_exists(self, node: Obj) -> bool:
        machine, kept = self._machine(node)
        return machine is not None or not kept

    def instance_shutdown(self, node: Obj) -> bool:
        machine, _ = self._machine(node)
        return bool((machine or {}).get("shutdown"))

    def instance_metadata(self, node: Obj) -> InstanceMetadata | None:
        machine, kept = self._machine(node)
        if machine is None and kept:
            return None
        machine = machine or {}
        return InstanceMetadata(
            provider_id=PROVIDER_ID_PREFIX + node["metadata"]["name"],
            addresses=list(machine.get("addresses") or []),
            zone=str(machine.get("zone") or ""),
            region=str(machine.get("region") or ""),
            instance_type="kubeq-host",
        )


class LocalProvider:
    """The ``local`` provider: every capability."""

    name = "local"

    def __init__(self, client: Any) -> None:
        self._lb = LocalLoadBalancer(client)
        self._routes = LocalRoutes(client)
        self._instances = LocalInstances(client)

    def load_balancer(self) -> LocalLoadBalancer:
        return self._lb

    def routes(self) -> LocalRoutes:
        return self._routes

    def instances(self) -> LocalInstances:
        return self._instances


register("local", LocalProvider)


# -- the inventory, from the node side -------------------------------------------------------------


def register_machine(
    client: Any, node_name: str, addresses: list[Obj], zone: str = "", region: str = ""
) -> None:
    """Add (or refresh) machine ``node_name`` in ``kube-system/kubeq-machines``: what a node agent calls
    at start. ``addresses`` are NodeAddress objects (``{"type": "InternalIP", "address": ...}``)."""
    new: Obj = {"addresses": addresses}
    if zone:
        new["zone"] = zone
    if region:
        new["region"] = region

    def change(entries: dict[str, Obj]) -> bool:
        if entries.get(node_name) == new:
            return False
        entries[node_name] = new
        return True

    configstate.edit(client, MACHINES, change)


def unregister_machine(client: Any, node_name: str) -> None:
    """Remove machine ``node_name`` from the inventory (the machine is gone for good)."""
    configstate.edit(client, MACHINES, lambda entries: entries.pop(node_name, None) is not None)
