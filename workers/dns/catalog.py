"""The DNS server's memory of the cluster: Services and EndpointSlices, kept current by watch events.

``Catalog.apply(event)`` takes a list+watch event (``ADDED``/``MODIFIED``/``DELETED`` with a Service
or an EndpointSlice); lookups return plain values the answer code turns into records. Thread-safe:
watch threads write while listener threads read.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Backend:
    """One endpoint address of a Service: its IP, optional hostname and the slice's ports."""

    ip: str
    hostname: str
    ready: bool
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, port)

    @property
    def dashed(self) -> str:
        """The IP as one DNS label (``10-1-2-3``; IPv6 ``:`` become ``-``)."""
        return self.ip.replace(".", "-").replace(":", "-")

    @property
    def label(self) -> str:
        return self.hostname or self.dashed


class Catalog:
    """Services by ``(namespace, name)`` and their EndpointSlices, from watch events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[tuple[str, str], Obj] = {}
        self._slices: dict[tuple[str, str], Obj] = {}  # (namespace, slice name) -> slice
        self.synced: set[str] = set()  # kinds whose first list has been applied

    def apply(self, event: Obj) -> None:
        """Take one watch event for a Service or an EndpointSlice (other kinds are ignored)."""
        obj = event.get("object") or {}
        md = obj.get("metadata") or {}
        key = (md.get("namespace", ""), md.get("name", ""))
        kind = obj.get("kind") or (
            "EndpointSlice" if "addressType" in obj or "endpoints" in obj else "Service"
        )
        table = self._slices if kind == "EndpointSlice" else self._services
        with self._lock:
            if event.get("type") == "DELETED":
                table.pop(key, None)
            elif event.get("type") in ("ADDED", "MODIFIED"):
                table[key] = obj

    def service(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._services.get((namespace, name))

    def namespace_known(self, namespace: str) -> bool:
        with self._lock:
            return any(ns == namespace for ns, _ in self._services)

    def backends(self, namespace: str, name: str, include_unready: bool = False) -> list[Backend]:
        """The endpoint addresses of Service ``namespace/name`` (ready ones unless ``include_unready``),
        one per IP, in a stable order."""
        with self._lock:
            slices = [
                s
                for (ns, _), s in self._slices.items()
                if ns == namespace
                and ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            ]
        found: dict[str, Backend] = {}
        for sl in slices:
            ports = tuple(
                (p.get("name") or "", p.get("protocol") or "TCP", int(p["port"]))
                for p in sl.get("ports") or []
                if p.get("port") is not None
            )
            for ep in sl.get("endpoints") or []:
                ready = (ep.get("conditions") or {}).get("ready") is not False
                if not ready and not include_unready:
                    continue
                for ip in ep.get("addresses") or []:
                    if ip not in found:
                        found[ip] = Backend(ip, ep.get("hostname") or "", ready, ports)
        return sorted(found.values(), key=lambda b: (b.label, b.ip))

    def names_for_ip(self, ip: str) -> list[tuple[str, str, str]]:
        """``(namespace, service, hostname or "")`` for a Service ClusterIP or an endpoint IP."""
        out: list[tuple[str, str, str]] = []
        with self._lock:
            services = list(self._services.items())
            slices = list(self._slices.values())
        for (ns, name), svc in services:
            spec = svc.get("spec") or {}
            if ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]):
                out.append((ns, name, ""))
        for sl in slices:
            md = sl.get("metadata") or {}
            svc_name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
            for ep in sl.get("endpoints") or []:
                if svc_name and ep.get("hostname") and ip in (ep.get("addresses") or []):
                    out.append((md.get("namespace", ""), svc_name, ep["hostname"]))
        return out


def cluster_ips(svc: Obj) -> list[str]:
    """The Service's ClusterIPs (empty for headless ``None`` and for ExternalName)."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    out = []
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            continue  # "None" (headless) or garbage
        out.append(ip)
    return out


def is_headless(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") != "ExternalName" and not cluster_ips(svc)
