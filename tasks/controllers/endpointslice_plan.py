"""Where each endpoint goes: the writes that turn a Service's slices into the wanted ones.

``plan(svc, wanted, existing, trigger)`` takes the endpoints wanted per group (address type and
resolved ports; every slice holds one group) and the managed slices that exist, and returns a
``Plan`` of slices to create, update and delete, with few writes: an endpoint stays in the slice
that holds it (its content refreshed in place), new endpoints fill slices with room (at most
``MAX_ENDPOINTS`` each) before new slices are made, emptied slices go, and a slice is written only
when what it should hold differs from what it holds. A Service with no endpoints at all keeps one
empty placeholder slice, as Kubernetes does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from tasks.controllers.base import owned_by, owner_reference
from tasks.controllers.endpointslice_pods import Port

Obj = dict[str, Any]
Group = tuple[str, tuple[Port, ...]]  # (addressType, ports)
MAX_ENDPOINTS = 100
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def endpoint_id(ep: Obj) -> str:
    """An endpoint's identity: its pod's uid, else its first address."""
    ref = ep.get("targetRef") or {}
    return ref.get("uid") or (ep.get("addresses") or [""])[0]


def slice_ports(ports: tuple[Port, ...]) -> list[Obj]:
    out = []
    for name, number, protocol, app in ports:
        port: Obj = {"name": name, "port": number, "protocol": protocol}
        if app:
            port["appProtocol"] = app
        out.append(port)
    return out


def group_of(slice_: Obj) -> Group:
    ports = tuple(
        (p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP", p.get("appProtocol"))
        for p in slice_.get("ports") or []
    )
    return slice_.get("addressType") or "IPv4", ports


def _endpoint_view(ep: Obj) -> tuple[Any, ...]:
    cond = ep.get("conditions") or {}
    ref = ep.get("targetRef") or {}
    return (
        tuple(ep.get("addresses") or ()),
        cond.get("ready"),
        cond.get("serving"),
        cond.get("terminating"),
        ep.get("nodeName"),
        ep.get("zone"),
        ep.get("hostname"),
        (ref.get("kind"), ref.get("namespace"), ref.get("name"), ref.get("uid")),
    )


def slice_labels(svc: Obj) -> dict[str, str]:
    """The Service's labels plus the two that tie a slice to it (and the headless marker)."""
    md = svc["metadata"]
    labels = {
        k: v for k, v in (md.get("labels") or {}).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)
    }
    labels[SERVICE_NAME_LABEL] = md["name"]
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def _same(old: Obj, new: Obj) -> bool:
    return (
        (old["metadata"].get("labels") or {}) == new["metadata"]["labels"]
        and group_of(old) == group_of(new)
        and [_endpoint_view(e) for e in old.get("endpoints") or []]
        == [_endpoint_view(e) for e in new["endpoints"]]
    )


def _fresh(svc: Obj, group: Group, endpoints: list[Obj], trigger: str) -> Obj:
    md = svc["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{md['name']}-",
            "namespace": md["namespace"],
            "labels": slice_labels(svc),
            "annotations": {TRIGGER_ANNOTATION: trigger},
            "ownerReferences": [owner_reference(svc)],
        },
        "addressType": group[0],
        "ports": slice_ports(group[1]),
        "endpoints": endpoints,
    }


def _refreshed(svc: Obj, old: Obj, endpoints: list[Obj], trigger: str) -> Obj:
    new = copy.deepcopy(old)
    md = new["metadata"]
    md["labels"] = slice_labels(svc)
    md["annotations"] = {**(md.get("annotations") or {}), TRIGGER_ANNOTATION: trigger}
    others = [r for r in md.get("ownerReferences") or [] if not r.get("controller")]
    md["ownerReferences"] = [owner_reference(svc), *others]
    new["endpoints"] = endpoints
    return new


def plan(svc: Obj, wanted: dict[Group, list[Obj]], existing: list[Obj], trigger: str) -> Plan:
    """The writes that make ``existing`` (the Service's managed slices) hold exactly ``wanted``."""
    out = Plan()
    if not any(wanted.values()):  # no endpoints: one empty placeholder slice of the Service's family
        family = ((svc.get("spec") or {}).get("ipFamilies") or ["IPv4"])[0]
        wanted = {(family, ()): []}
    by_group: dict[Group, list[Obj]] = {}
    for s in sorted(existing, key=lambda s: s["metadata"]["name"]):
        if owned_by(s, svc) and group_of(s) in wanted:
            by_group.setdefault(group_of(s), []).append(s)
        else:
            out.delete.append(s)
    for group, endpoints in wanted.items():
        slices = by_group.get(group, [])
        remaining = {endpoint_id(e): e for e in endpoints}
        held = [
            [remaining.pop(endpoint_id(e)) for e in s.get("endpoints") or [] if endpoint_id(e) in remaining]
            for s in slices
        ]
        leftover = list(remaining.values())
        for eps in held:  # new endpoints fill the slices with room, in name order
            room = MAX_ENDPOINTS - len(eps)
            if room > 0 and leftover:
                eps.extend(leftover[:room])
                leftover = leftover[room:]
        keep_placeholder = not endpoints
        for s, eps in zip(slices, held, strict=True):
            if not eps and not keep_placeholder:
                out.delete.append(s)
                continue
            keep_placeholder = False
            new = _refreshed(svc, s, eps, trigger)
            if not _same(s, new):
                out.update.append(new)
        if keep_placeholder:
            out.create.append(_fresh(svc, group, [], trigger))
        for start in range(0, len(leftover), MAX_ENDPOINTS):
            out.create.append(_fresh(svc, group, leftover[start : start + MAX_ENDPOINTS], trigger))
    return out
