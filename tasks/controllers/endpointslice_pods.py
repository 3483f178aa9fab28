"""What the EndpointSlice and Endpoints controllers share: which pods back a Service, and how.

- ``selector_of(svc)``: the Service's pod selector, or None when it has none (an empty map, or an
  ExternalName Service): such Services' endpoints are written by their users and left alone.
- ``backs(pod, include_terminating)``: a pod with an IP, not Succeeded/Failed (and, unless asked, not
  being deleted) can back a Service.
- ``resolve_ports(svc, pod)``: each Service port the pod resolves, as ``(name, number, protocol,
  appProtocol)``; a named ``targetPort`` is looked up among the pod's container ports (same name and
  protocol) and a port the pod cannot resolve is left out, as Kubernetes does.
- Pod changes reach Services through ``label_keys``: a changed pod maps to ``<ns>/~labels:<k=v,..>``
  for its labels before and after; ``services_for_labels`` turns such a key into the Services whose
  selector matches those labels (so a pod that stops matching still updates its old Service).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from cluster.api.resources import lookup
from tasks.controllers.pods import is_ready, is_terminating, phase
from tasks.runtime.controller import Change, Context
from tasks.runtime.informer import cached_list

Obj = dict[str, Any]
PODS = lookup("", "v1", "pods")
SERVICES = lookup("", "v1", "services")
NODES = lookup("", "v1", "nodes")
LABELS_KEY = "~labels:"  # `~` is not valid in an object name, so these keys never clash with a Service
ZONE_LABEL = "topology.kubernetes.io/zone"
ZONE_TTL = 5.0  # seconds a sync trusts the node -> zone table it read
Port = tuple[str, int, str, str | None]  # (name, number, protocol, appProtocol)


def selector_of(svc: Obj) -> dict[str, str] | None:
    """The Service's selector, or None when its endpoints are not the controllers' business."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    return dict(spec.get("selector") or {}) or None


def selects(selector: dict[str, str], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def backs(pod: Obj, include_terminating: bool = True) -> bool:
    """True when ``pod`` may appear among a Service's endpoints at all."""
    if not (pod.get("status") or {}).get("podIP"):
        return False
    if phase(pod) in ("Succeeded", "Failed"):
        return False
    return include_terminating or not is_terminating(pod)


def address_type(ip: str) -> str:
    """``IPv4`` or ``IPv6`` (``FQDN`` is never produced from pods)."""
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def pod_ready(svc: Obj, pod: Obj) -> bool:
    """The endpoint's ``ready``: Ready and not terminating, or always with publishNotReadyAddresses."""
    if (svc.get("spec") or {}).get("publishNotReadyAddresses"):
        return True
    return is_ready(pod) and not is_terminating(pod)


def hostname_of(svc: Obj, pod: Obj) -> str | None:
    """The pod's hostname when its subdomain names this Service (what DNS serves for headless ones)."""
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
        return spec["hostname"]
    return None


def _container_port(pod: Obj, name: str, protocol: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def resolve_ports(svc: Obj, pod: Obj) -> tuple[Port, ...]:
    """The Service ports ``pod`` serves, with the target resolved to a number."""
    out: list[Port] = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        protocol = sp.get("protocol") or "TCP"
        target = sp.get("targetPort", sp.get("port"))
        if isinstance(target, str) and not target.isdigit():
            number = _container_port(pod, target, protocol)
            if number is None:
                continue
        else:
            number = int(target if target is not None else 0)
        out.append((sp.get("name") or "", number, protocol, sp.get("appProtocol")))
    return tuple(out)


def node_zones(ctx: Context) -> dict[str, str]:
    """Node name -> zone label, read at most every ``ZONE_TTL`` seconds per worker process."""
    cache = ctx.caches.setdefault("endpointslice-zones", {})
    if time.monotonic() - cache.get("at", -ZONE_TTL) >= ZONE_TTL:
        nodes = ctx.client.list(NODES)["items"]
        cache["zones"] = {
            n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(ZONE_LABEL) for n in nodes
        }
        cache["at"] = time.monotonic()
    return cache["zones"]


def latest_change(svc: Obj, pods: list[Obj]) -> str:
    """The newest timestamp among the Service and its pods' lifecycle stamps (the trigger time)."""
    stamps = [svc["metadata"].get("creationTimestamp") or ""]
    for pod in pods:
        md = pod["metadata"]
        stamps += [md.get("creationTimestamp") or "", md.get("deletionTimestamp") or ""]
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready":
                stamps.append(cond.get("lastTransitionTime") or "")
    return max(stamps) or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- pod changes -> Services ---------------------------------------------------------------------


def _facts(pod: Obj | None) -> tuple[Any, ...]:
    if not pod:
        return ()
    md, status, spec = pod["metadata"], pod.get("status") or {}, pod.get("spec") or {}
    return (
        md.get("labels"),
        status.get("podIP"),
        status.get("phase"),
        is_ready(pod),
        bool(md.get("deletionTimestamp")),
        spec.get("nodeName"),
        spec.get("hostname"),
        spec.get("subdomain"),
    )


def encode_labels(labels: dict[str, str] | None) -> str:
    """Labels as ``k=v,k=v`` sorted (neither ``,`` nor ``=`` can occur in a label key or value)."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


def decode_labels(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if item)


def label_keys(change: Change) -> list[str]:
    """A pod change that may alter some Service's endpoints: the label keys before and after.

    None for a pod that is an endpoint neither before nor after (no IP yet, or finished): creating
    and binding thousands of pods costs the endpoint controllers nothing until the pods run."""
    if not any(pod is not None and backs(pod) for pod in (change.object, change.prev)):
        return []
    if change.type == "MODIFIED" and _facts(change.object) == _facts(change.prev):
        return []
    namespace = change.object["metadata"].get("namespace") or "default"
    keys = [f"{namespace}/{LABELS_KEY}{encode_labels(change.object['metadata'].get('labels'))}"]
    if change.prev is not None:
        keys.append(f"{namespace}/{LABELS_KEY}{encode_labels(change.prev['metadata'].get('labels'))}")
    return list(dict.fromkeys(keys))


def parse_key(key: str) -> tuple[str, str]:
    """``ns/name`` -> (ns, name); the name may itself hold ``/`` (a label key of ``~labels:``)."""
    namespace, _, name = key.partition("/")
    return namespace, name


def services_for_labels(ctx: Context, namespace: str, encoded: str) -> list[str]:
    """Keys of the Services of ``namespace`` whose selector matches the encoded labels."""
    labels = decode_labels(encoded)
    out = []
    for svc in cached_list(ctx, SERVICES, namespace):
        selector = selector_of(svc)
        if selector is not None and selects(selector, labels):
            out.append(f"{namespace}/{svc['metadata']['name']}")
    return out


def fan_out_labels(controller: str, key: str, ctx: Context) -> bool:
    """For a ``<ns>/~labels:...`` key: queue (on ``controller``) every Service of the namespace whose
    selector matches those labels, and return True; False for any other key (a Service's own)."""
    namespace, name = key.split("/", 1)
    if not name.startswith(LABELS_KEY):
        return False
    keys = services_for_labels(ctx, namespace, name[len(LABELS_KEY) :])
    if keys and ctx.enqueue is not None:
        ctx.enqueue(controller, keys)
    return True
