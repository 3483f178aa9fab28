"""Parsing a request: which resource, which verb, which query options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from cluster import errors
from cluster.api.resources import Resource, lookup

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(value: str | None, name: str) -> bool:
    """Go's ``strconv.ParseBool`` (the Python client sends ``True``); ``BadRequest`` otherwise."""
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.BadRequest(f'invalid boolean value for "{name}": "{value}"')


def parse_int(value: str | None, name: str, default: int = 0) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)  # type: ignore[arg-type]
    except ValueError:
        raise errors.BadRequest(f'invalid value for "{name}": "{value}" is not an integer') from None
    if not -(2**63) <= number < 2**63:  # Kubernetes reads these as int64
        raise errors.BadRequest(f'invalid value for "{name}": "{value}" is out of range')
    return number


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(value: str | None, name: str) -> float | None:
    """A Go duration (``2s``, ``1m30s``) in seconds, None when empty; ``BadRequest`` otherwise."""
    if not value:
        return None
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise errors.BadRequest(f'invalid value for "{name}": "{value}" is not a duration')
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


@dataclass
class RequestInfo:
    """A resource request: ``GET /apis/apps/v1/namespaces/ns/deployments/web/scale``."""

    method: str
    resource: Resource
    namespace: str | None
    name: str
    subresource: str
    query: dict[str, str] = field(default_factory=dict)
    watch_path: bool = False  # the legacy /watch/ prefix

    @property
    def verb(self) -> str:
        """Kubernetes' verb: get, list, watch, create, update, patch, delete, deletecollection."""
        m = self.method
        if m in ("GET", "HEAD"):
            if self.name and not self.watch_path:
                return "get"
            if self.watch_path or parse_bool(self.query.get("watch"), "watch"):
                return "watch"
            return "list"
        if m == "POST":
            return "create"
        if m in ("PUT", "PATCH") and not self.name:  # a collection cannot be replaced or patched
            raise errors.MethodNotAllowed(
                f"the server does not allow this method on the requested resource ({m} on a collection)"
            )
        if m == "PUT":
            return "update"
        if m == "PATCH":
            return "patch"
        if m == "DELETE":
            return "delete" if self.name else "deletecollection"
        raise errors.MethodNotAllowed(
            f"the server does not allow this method on the requested resource ({m})"
        )


def parse_query(query_string: str) -> dict[str, str]:
    """The first value of each query parameter (``dryRun`` may repeat; the first is enough)."""
    return {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}


def parse_resource_path(method: str, path: str, query_string: str) -> RequestInfo | None:
    """The resource request a path names, None when the path is not a resource path.

    ``NotFound`` when it is shaped like one but names a resource kubeq does not serve.
    """
    trimmed = path.removeprefix("/").removesuffix("/")
    parts = trimmed.split("/") if trimmed else []
    if not parts:
        return None
    if "" in parts:  # `pods//` or `pods/%2F` names no object and must not become the collection
        if parts[0] in ("api", "apis"):
            raise errors.NotFound("the server could not find the requested resource")
        return None
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_path = bool(rest) and rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace: str | None = None
    # namespaces/{ns}/{resource}...; but namespaces/{name} and namespaces/{name}/status name a namespace
    if len(rest) > 2 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.NotFound("the server could not find the requested resource")
    resource = lookup(group, version, rest[0])
    if resource is None:
        raise errors.NotFound("the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in resource.subresources:
        raise errors.NotFound("the server could not find the requested resource")
    if resource.namespaced and namespace is None and name:
        raise errors.NotFound("the server could not find the requested resource")
    if not resource.namespaced and namespace is not None:
        raise errors.NotFound("the server could not find the requested resource")
    return RequestInfo(method, resource, namespace, name, subresource, parse_query(query_string), watch_path)
