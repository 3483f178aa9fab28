"""Services, Endpoints and EndpointSlices: ports, types, IPs, policies; the clusterIP update rule."""

from __future__ import annotations

import ipaddress
from typing import Any

from cluster.api.validation import names
from cluster.api.validation.errors import (
    as_dict,
    as_list,
    dicts,
    duplicate,
    enum,
    forbidden,
    invalid,
    required,
)
from cluster.api.validation.meta import validate_labels
from cluster.api.validation.pods import PORT_RANGE, PROTOCOLS, valid_port, validate_port_ref
from cluster.errors import Cause

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _ip(value: Any, field: str) -> list[Cause]:
    return [] if isinstance(value, str) and is_ip(value) else [invalid(field, value, IP_MESSAGE)]


def _cluster_ips(spec: dict, kind: Any, cluster_ip: Any) -> list[Cause]:
    """``clusterIPs`` holds valid IPs (or None), starts with ``clusterIP``; none for ExternalName."""
    out: list[Cause] = []
    ips = as_list(spec.get("clusterIPs"))
    if kind == "ExternalName" and (ips or cluster_ip):
        return [forbidden("spec.clusterIPs", "may not be set for ExternalName services")]
    for i, ip in enumerate(ips):
        if ip != "None":
            out += _ip(ip, f"spec.clusterIPs[{i}]")
    if ips and cluster_ip and ips[0] != cluster_ip:
        out.append(invalid("spec.clusterIPs[0]", ips[0], "must match `spec.clusterIP`"))
    if len(ips) > 1 and spec.get("ipFamilyPolicy") in (None, "SingleStack"):
        out.append(
            invalid("spec.clusterIPs", ips, "may not have more than one item for SingleStack services")
        )
    return out


def _service_ports(spec: dict) -> list[Cause]:
    out: list[Cause] = []
    ports = as_list(spec.get("ports"))
    kind = spec.get("type") or "ClusterIP"
    seen: set[str] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for i, port in dicts(ports):
        where = f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            out.append(required(f"{where}.name"))
        elif name:
            out += [invalid(f"{where}.name", name, msg) for msg in names.dns1123_label(name)]
            if name in seen:
                out.append(duplicate(f"{where}.name", name))
            seen.add(name)
        number = port.get("port")
        if not valid_port(number):
            out.append(invalid(f"{where}.port", number, PORT_RANGE))
        out += enum(f"{where}.protocol", port.get("protocol"), PROTOCOLS)
        if port.get("targetPort") not in (None, 0):
            out += validate_port_ref(port.get("targetPort"), f"{where}.targetPort")
        node_port = port.get("nodePort")
        if node_port and kind in ("ClusterIP", "ExternalName"):
            out.append(forbidden(f"{where}.nodePort", f"may not be used when `type` is '{kind}'"))
        elif node_port and not valid_port(node_port):
            out.append(invalid(f"{where}.nodePort", node_port, PORT_RANGE))
        elif node_port:
            if (node_port, port.get("protocol")) in node_ports:
                out.append(duplicate(f"{where}.nodePort", node_port))
            node_ports.add((node_port, port.get("protocol")))
    return out


def validate_service(obj: dict) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    out: list[Cause] = []
    kind = spec.get("type")
    out += enum("spec.type", kind, SERVICE_TYPES)
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    if kind == "ExternalName":
        external = spec.get("externalName")
        if not external:
            out.append(required("spec.externalName"))
        else:
            out += [
                invalid("spec.externalName", external, m)
                for m in names.dns1123_subdomain(external.rstrip("."))
            ]
    elif not as_list(spec.get("ports")) and not headless:
        out.append(required("spec.ports"))
    if headless and kind in ("NodePort", "LoadBalancer"):
        out.append(invalid("spec.clusterIPs[0]", cluster_ip, f"may not be set to 'None' for {kind} services"))
    if cluster_ip and not headless:
        out += _ip(cluster_ip, "spec.clusterIP")
    out += _cluster_ips(spec, kind, cluster_ip)
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        out += _ip(ip, f"spec.externalIPs[{i}]")
    out += _service_ports(spec)
    out += enum("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"), need=False)
    out += enum(
        "spec.ipFamilyPolicy",
        spec.get("ipFamilyPolicy"),
        ("SingleStack", "PreferDualStack", "RequireDualStack"),
        need=False,
    )
    families = as_list(spec.get("ipFamilies"))
    for i, family in enumerate(families):
        out += enum(f"spec.ipFamilies[{i}]", family, ("IPv4", "IPv6"))
        if family in families[:i]:
            out.append(duplicate(f"spec.ipFamilies[{i}]", family))
    out += enum(
        "spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), ("Cluster", "Local"), need=False
    )
    external_policy = spec.get("externalTrafficPolicy")
    if external_policy and kind not in ("NodePort", "LoadBalancer"):
        out.append(
            invalid(
                "spec.externalTrafficPolicy",
                external_policy,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        )
    else:
        out += enum("spec.externalTrafficPolicy", external_policy, ("Cluster", "Local"), need=False)
    selector = spec.get("selector")
    if selector:
        out += validate_labels(selector, "spec.selector")
    return out


def validate_service_update(obj: dict, old: dict) -> list[Cause]:
    """``spec.clusterIP`` may not change once set (unless the service becomes ExternalName)."""
    spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
    old_ip = old_spec.get("clusterIP")
    if old_ip and spec.get("type") != "ExternalName" and spec.get("clusterIP") != old_ip:
        return [invalid("spec.clusterIP", spec.get("clusterIP"), "field is immutable")]
    return []


def _endpoint_ports(ports: Any, field: str, *, need_port: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, port in dicts(ports):
        where = f"{field}[{i}]"
        name = port.get("name")
        if name:
            out += [invalid(f"{where}.name", name, m) for m in names.dns1123_label(name)]
        number = port.get("port")
        if (need_port or number is not None) and not valid_port(number):
            out.append(invalid(f"{where}.port", number, PORT_RANGE))
        out += enum(f"{where}.protocol", port.get("protocol"), PROTOCOLS, need=need_port)
    return out


def validate_endpoints(obj: dict) -> list[Cause]:
    out: list[Cause] = []
    for i, subset in dicts(obj.get("subsets")):
        where = f"subsets[{i}]"
        for key in ("addresses", "notReadyAddresses"):
            for j, address in dicts(subset.get(key)):
                out += _ip(address.get("ip"), f"{where}.{key}[{j}].ip")
        out += _endpoint_ports(subset.get("ports"), f"{where}.ports", need_port=True)
    return out


def validate_endpoint_slice(obj: dict) -> list[Cause]:
    address_type = obj.get("addressType")
    out = enum("addressType", address_type, ("IPv4", "IPv6", "FQDN"))
    for i, endpoint in dicts(obj.get("endpoints")):
        addresses = as_list(endpoint.get("addresses"))
        where = f"endpoints[{i}].addresses"
        if not addresses:
            out.append(required(where, "must contain at least 1 address"))
        elif len(addresses) > 100:
            out.append(
                Cause("FieldValueTooMany", f"Too many: {len(addresses)}: must have at most 100 items", where)
            )
        for j, address in enumerate(addresses):
            if address_type == "IPv4" and not (is_ip(address) and ipaddress.ip_address(address).version == 4):
                out.append(invalid(f"{where}[{j}]", address, "must be a valid IPv4 address"))
            elif address_type == "IPv6" and not (
                is_ip(address) and ipaddress.ip_address(address).version == 6
            ):
                out.append(invalid(f"{where}[{j}]", address, "must be a valid IPv6 address"))
            elif address_type == "FQDN" and isinstance(address, str):
                out += [invalid(f"{where}[{j}]", address, m) for m in names.dns1123_subdomain(address)]
    out += _endpoint_ports(obj.get("ports"), "ports", need_port=False)
    return out
