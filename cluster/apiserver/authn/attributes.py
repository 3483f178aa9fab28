"""What a request asks to do, as authorization :class:`Attributes` (the user filled in later)."""

from __future__ import annotations

from typing import Any

from cluster import errors
from cluster.apiserver import nodeproxy
from cluster.apiserver.auth import ANONYMOUS, Attributes
from cluster.apiserver.requests import parse_resource_path

_PROXY_VERBS = {"log": "get", "exec": "create"}


def request_attributes(environ: dict[str, Any]) -> Attributes:
    """The request's verb and resource (or non-resource path), for :data:`ANONYMOUS`.

    A path that fails to parse (an unknown resource, a bad verb) is judged as a non-resource path:
    the caller is refused before learning whether the resource exists.
    """
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    proxied = nodeproxy.match(method, path)
    if proxied is not None:
        namespace, name, what = proxied
        return Attributes(
            ANONYMOUS,
            _PROXY_VERBS[what],
            api_version="v1",
            resource="pods",
            subresource=what,
            namespace=namespace,
            name=name,
        )
    try:
        info = parse_resource_path(method, path, environ.get("QUERY_STRING", ""))
        if info is not None:
            r = info.resource
            return Attributes(
                ANONYMOUS,
                info.verb,
                api_group=r.group,
                api_version=r.version,
                resource=r.plural,
                subresource=info.subresource,
                namespace=info.namespace or "",
                name=info.name or _selected_name(info.verb, info.query.get("fieldSelector", "")),
            )
    except errors.StatusError:
        pass
    return Attributes(ANONYMOUS, method.lower(), resource_request=False, path=path)


def _selected_name(verb: str, field_selector: str) -> str:
    """The one name a list or watch is limited to by ``metadata.name=X``, as kube-apiserver reads it
    for authorization (a node may watch the one ConfigMap it is allowed to get)."""
    if verb not in ("list", "watch"):
        return ""
    for term in field_selector.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!"):
            return value.strip()
    return ""
