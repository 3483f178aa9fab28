"""Downward API facts: ``fieldRef`` paths and ``resourceFieldRef`` values of a pod, as strings.

``field_value(pod, path)`` and ``resource_value(pod, container, ref, allocatable)`` raise
``ConfigError`` for what Kubernetes would refuse; the pod passed in should already carry the
status addresses (``status.podIP``/``hostIP``) the kubelet is about to report.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from cluster.api.validation.quantity import parse_quantity

Obj = dict[str, Any]
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


class ConfigError(Exception):
    """The pod's configuration cannot be resolved (a missing ConfigMap key, a bad field path)."""


def format_map(values: dict[str, str]) -> str:
    """``key="value"`` lines, sorted by key (how the downward API writes labels and annotations)."""
    return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(values.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def field_value(pod: Obj, path: str) -> str:
    """The value of a ``fieldRef.fieldPath`` of ``pod``."""
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    match = _SUBSCRIPT.match(path)
    if match:
        return str((md.get(match.group(1)) or {}).get(match.group(2), ""))
    simple = {
        "metadata.name": md.get("name", ""),
        "metadata.namespace": md.get("namespace", ""),
        "metadata.uid": md.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(md.get(path.split(".")[1]) or {})
    if path in ("status.podIPs", "status.hostIPs"):
        return ",".join(a.get("ip", "") for a in status.get(path.split(".")[1]) or [])
    raise ConfigError(f"unsupported fieldPath {path!r}")


def _container(pod: Obj, name: str) -> Obj | None:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if c.get("name") == name:
            return c
    return None


def resource_value(pod: Obj, container_name: str, ref: Obj, allocatable: dict[str, str] | None = None) -> str:
    """A ``resourceFieldRef`` (``limits.cpu``, ``requests.memory``, ...) divided by its divisor, rounded up.

    An unset limit reads as the node's allocatable (as Kubernetes does); an unset request as the
    limit, else 0.
    """
    name = ref.get("containerName") or container_name
    container = _container(pod, name)
    if container is None:
        raise ConfigError(f"resourceFieldRef names an unknown container {name!r}")
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    if kind not in ("limits", "requests") or resource not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported resource {ref.get('resource')!r}")
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    if kind == "limits":
        raw = limits.get(resource) or (allocatable or {}).get(resource)
    else:
        raw = requests.get(resource) or limits.get(resource)
    value = parse_quantity(raw) if raw not in (None, "") else Decimal(0)
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor <= 0:
        raise ConfigError("resourceFieldRef divisor must be positive")
    return str(math.ceil(value / divisor))
