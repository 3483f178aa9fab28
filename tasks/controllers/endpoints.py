"""The Endpoints controller: each selector Service's pods as a ``v1`` Endpoints, for older clients.

One key per Service (``namespace/name``). ``sync`` writes the Endpoints named like the Service:
``subsets`` group pod addresses by the ports they resolve (named ``targetPort`` looked up per pod,
a port a pod cannot resolve left out), Ready pods under ``addresses``, the others under
``notReadyAddresses``; pods being deleted are left out unless ``publishNotReadyAddresses`` (which
also makes every address ready). Each address has ``ip``, ``nodeName``, ``hostname`` (when the pod's
subdomain is the Service) and a ``targetRef`` to its pod. The Endpoints carries the Service's labels
plus ``endpointslice.kubernetes.io/skip-mirror=true`` and is written only when it differs.

A Service without a selector (or ExternalName) is left alone. Once the Service is gone its
Endpoints is deleted by this controller (not by ownerReference), as Kubernetes does.

Watches: Services (own key), Endpoints deletions (own key: a mirror deleted by hand comes back) and Pods
through the same label keys as the EndpointSlice controller (``endpointslice_pods.label_keys``).
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController
from tasks.controllers.endpointslice_plan import TRIGGER_ANNOTATION
from tasks.controllers.endpointslice_pods import (
    PODS,
    SERVICES,
    Port,
    backs,
    fan_out_labels,
    hostname_of,
    label_keys,
    latest_change,
    parse_key,
    pod_ready,
    resolve_ports,
    selector_of,
    selects,
)
from tasks.runtime.controller import Change, Context, Watch, own_key

ENDPOINTS = lookup("", "v1", "endpoints")
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
RETRY_SOON = 0.2
Obj = dict[str, Any]


def deleted_key(change: Change) -> list[str]:
    """A deleted Endpoints: its Service's key, so a mirror deleted by hand comes back."""
    return own_key(change) if change.type == "DELETED" else []


def _address(svc: Obj, pod: Obj) -> Obj:
    md, spec = pod["metadata"], pod.get("spec") or {}
    addr: Obj = {"ip": pod["status"]["podIP"]}
    hostname = hostname_of(svc, pod)
    if hostname:
        addr["hostname"] = hostname
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    addr["targetRef"] = {"kind": "Pod", "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]}
    return addr


def _ports(ports: tuple[Port, ...]) -> list[Obj]:
    out = []
    for name, number, protocol, app in sorted(ports, key=lambda p: (p[0], p[1], p[2])):
        port: Obj = {"port": number, "protocol": protocol}
        if name:
            port["name"] = name
        if app:
            port["appProtocol"] = app
        out.append(port)
    return out


def subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """The Endpoints ``subsets`` of ``svc`` given its selected pods (addresses sorted by IP)."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[tuple[Port, ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not backs(pod, include_terminating=publish):
            continue
        ready, not_ready = groups.setdefault(resolve_ports(svc, pod), ([], []))
        (ready if pod_ready(svc, pod) else not_ready).append(_address(svc, pod))
    out = []
    for ports, (ready, not_ready) in sorted(groups.items(), key=lambda g: g[0]):
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        if ports:
            subset["ports"] = _ports(ports)
        out.append(subset)
    return out


def endpoints_labels(svc: Obj) -> dict[str, str]:
    return {**(svc["metadata"].get("labels") or {}), SKIP_MIRROR_LABEL: "true"}


def _view(subs: list[Obj] | None) -> list[Obj]:
    """Subsets with the defaults the API server may add filled in, for comparing."""
    out = []
    for sub in subs or []:
        ports = [
            {
                "port": p.get("port"),
                "protocol": p.get("protocol") or "TCP",
                "name": p.get("name") or "",
                "app": p.get("appProtocol"),
            }
            for p in sub.get("ports") or []
        ]
        out.append(
            {
                "addresses": sub.get("addresses") or [],
                "notReadyAddresses": sub.get("notReadyAddresses") or [],
                "ports": ports,
            }
        )
    return out


class EndpointsController(KeyedController):
    """Keeps every selector Service's Endpoints equal to its pods."""

    name = "endpoints"
    resource = SERVICES
    component = "endpoint-controller"
    watches = (
        Watch("services", own_key),
        Watch("endpoints", deleted_key),
        Watch("pods", label_keys),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        if fan_out_labels(self.name, key, ctx):
            return None
        namespace, name = parse_key(key)
        svc = self.get(ctx, key)
        if svc is None:
            try:
                ctx.client.delete(ENDPOINTS, name, namespace)
            except errors.NotFound:
                pass
            return None
        selector = selector_of(svc)
        if selector is None or svc["metadata"].get("deletionTimestamp"):
            return None
        pods = [
            p
            for p in ctx.client.list(PODS, namespace)["items"]
            if selects(selector, p["metadata"].get("labels"))
        ]
        want = subsets(svc, pods)
        labels = endpoints_labels(svc)
        try:
            current = ctx.client.get(ENDPOINTS, name, namespace)
        except errors.NotFound:
            current = None
        trigger = {TRIGGER_ANNOTATION: latest_change(svc, pods)}
        try:
            if current is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "labels": labels,
                        "annotations": trigger,
                    },
                    "subsets": want,
                }
                ctx.client.create(body, namespace)
            elif (
                _view(current.get("subsets")) != _view(want)
                or (current["metadata"].get("labels") or {}) != labels
            ):
                current.setdefault("apiVersion", "v1")
                current.setdefault("kind", "Endpoints")
                md = current["metadata"]
                md["labels"] = labels
                md["annotations"] = {**(md.get("annotations") or {}), **trigger}
                current["subsets"] = want
                ctx.client.update(current)
        except (errors.Conflict, errors.AlreadyExists, errors.NotFound):
            return RETRY_SOON
        return None
