"""The EndpointSlice controller: each selector Service's pods, as ``discovery.k8s.io/v1`` EndpointSlices.

One key per Service (``namespace/name``). ``sync`` lists the namespace's pods the selector matches
that have an IP and are not finished, turns each into an endpoint (address, ready / serving /
terminating conditions, nodeName, zone from the Node's ``topology.kubernetes.io/zone`` label,
hostname, targetRef), groups them by address type and by the Service ports each pod resolves, and
makes the Service's managed slices hold exactly that (``endpointslice_plan``: at most 100
endpoints a slice, updated in place, compared before writing). Slices are named ``<svc>-<random>``,
labelled ``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by`` plus the
Service's labels, and controlled by the Service.

A Service without a selector (or ExternalName) is left alone: its slices belong to its user. Once
the Service is gone, or its selector removed, its managed slices are deleted.

Watches: Services (own key), EndpointSlices managed here (their Service's key, so a slice edited or
deleted by hand is repaired) and Pods: a pod change that may move an endpoint maps to the label
key ``<ns>/~labels:<labels>`` of its labels before and after, whose sync queues the Services those
labels match (no debounce: a readiness change reaches the slices in two short hops).
"""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.api.resources import lookup
from tasks.controllers.base import KeyedController
from tasks.controllers.endpointslice_plan import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    Group,
    plan,
)
from tasks.controllers.endpointslice_pods import (
    PODS,
    SERVICES,
    address_type,
    backs,
    fan_out_labels,
    hostname_of,
    label_keys,
    latest_change,
    node_zones,
    parse_key,
    resolve_ports,
    selector_of,
    selects,
)
from tasks.controllers.pods import is_ready, is_terminating
from tasks.runtime.controller import Change, Context, Watch, own_key

SLICES = lookup("discovery.k8s.io", "v1", "endpointslices")
RETRY_SOON = 0.2  # seconds before looking again after losing a write race
Obj = dict[str, Any]


def slice_keys(change: Change) -> list[str]:
    """A managed slice's Service key (before and after the change)."""
    out = []
    for obj in (change.object, change.prev):
        md = (obj or {}).get("metadata") or {}
        labels = md.get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL):
            out.append(f"{md.get('namespace')}/{labels[SERVICE_NAME_LABEL]}")
    return list(dict.fromkeys(out))


def to_endpoint(svc: Obj, pod: Obj, zones: dict[str, str | None]) -> Obj:
    """The EndpointSlice endpoint of ``pod`` for ``svc``."""
    md, spec = pod["metadata"], pod.get("spec") or {}
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    serving = publish or is_ready(pod)
    terminating = is_terminating(pod)
    ep: Obj = {
        "addresses": [pod["status"]["podIP"]],
        "conditions": {
            "ready": publish or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
    }
    hostname = hostname_of(svc, pod)
    if hostname:
        ep["hostname"] = hostname
    if spec.get("nodeName"):
        ep["nodeName"] = spec["nodeName"]
        if zones.get(spec["nodeName"]):
            ep["zone"] = zones[spec["nodeName"]]
    ep["targetRef"] = {"kind": "Pod", "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]}
    return ep


def wanted_endpoints(svc: Obj, pods: list[Obj], zones: dict[str, str | None]) -> dict[Group, list[Obj]]:
    """The Service's endpoints grouped by (address type, resolved ports), pods in name order."""
    out: dict[Group, list[Obj]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        group = (address_type(pod["status"]["podIP"]), resolve_ports(svc, pod))
        out.setdefault(group, []).append(to_endpoint(svc, pod, zones))
    return out


class EndpointSliceController(KeyedController):
    """Keeps every selector Service's EndpointSlices equal to its pods."""

    name = "endpointslice"
    resource = SERVICES
    component = "endpoint-slice-controller"
    watches = (
        Watch("services", own_key),
        Watch("pods", label_keys),
        Watch("endpointslices.discovery.k8s.io", slice_keys),
    )

    def sync(self, key: str, ctx: Context) -> float | None:
        if fan_out_labels(self.name, key, ctx):
            return None
        namespace, name = parse_key(key)
        svc = self.get(ctx, key)
        if svc is not None and svc["metadata"].get("deletionTimestamp"):
            return None  # the garbage collector takes the slices with the Service
        selector = selector_of(svc) if svc is not None else None
        managed = f"{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"
        existing = ctx.client.list(SLICES, namespace, label_selector=managed)["items"]
        if svc is None or selector is None:
            self._delete(ctx, existing)
            return None
        svc.setdefault("apiVersion", "v1")
        svc.setdefault("kind", "Service")
        pods = [
            p
            for p in ctx.client.list(PODS, namespace)["items"]
            if selects(selector, p["metadata"].get("labels")) and backs(p)
        ]
        wanted = wanted_endpoints(svc, pods, node_zones(ctx))
        todo = plan(svc, wanted, existing, latest_change(svc, pods))
        try:
            for body in todo.create:
                ctx.client.create(body, namespace)
            for body in todo.update:
                ctx.client.update(body)
        except (errors.Conflict, errors.NotFound):
            return RETRY_SOON  # a slice changed under us: its change queued this key; look again soon
        except errors.AlreadyExists:
            return RETRY_SOON
        self._delete(ctx, todo.delete)
        return None

    def _delete(self, ctx: Context, slices: list[Obj]) -> None:
        for s in slices:
            md = s["metadata"]
            try:
                ctx.client.delete(SLICES, md["name"], md["namespace"], preconditions={"uid": md["uid"]})
            except (errors.NotFound, errors.Conflict):
                pass
