"""Small formatting helpers shared by the cell functions: selectors, label maps, container lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NONE = "<none>"
UNKNOWN_TEXT = "<unknown>"
UNSET = "<unset>"


def dig(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None as soon as a step is missing or not a mapping."""
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def bool_text(value: object) -> str:
    """An optional boolean as kubectl shows it: ``True``, ``False`` or ``<unset>``."""
    if value is None:
        return UNSET
    return "True" if value else "False"


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``a=1,b=2`` sorted by key; ``<none>`` when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A ``LabelSelector`` in label-selector syntax (``app=web,tier in (a,b),!old``); ``""`` if empty."""
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op, f"{key} {op} ({values})")
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def format_selector(selector: Mapping[str, Any] | None) -> str:
    """Like :func:`selector_string` but ``<none>`` when it selects by nothing."""
    return selector_string(selector) or NONE


def container_names(containers: Iterable[Mapping[str, Any]] | None) -> str:
    return ",".join(c.get("name", "") for c in containers or [])


def container_images(containers: Iterable[Mapping[str, Any]] | None) -> str:
    return ",".join(c.get("image", "") for c in containers or [])


def list_with_more(items: Iterable[str], limit: int = 3, empty: str = UNSET) -> str:
    """The first ``limit`` items joined by commas, then ``" + N more..."``; ``empty`` if none."""
    everything = list(items)
    shown = ",".join(everything[:limit])
    if len(everything) > limit:
        return f"{shown} + {len(everything) - limit} more..."
    return shown or empty


def join_host_port(host: str, port: object) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
