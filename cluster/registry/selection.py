"""Label and field selection of objects, with the field names each kind supports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cluster import errors
from cluster.api.resources import Resource
from cluster.store import parse_field_selector, parse_label_selector

Predicate = Callable[[dict[str, Any]], bool]


def field_value(obj: dict[str, Any], path: str) -> str:
    """The string form of the field at dotted ``path`` ("" when absent; booleans as true/false)."""
    if path == "source":  # core Event's "source" selector means source.component
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def supported_fields(resource: Resource) -> tuple[str, ...]:
    return ("metadata.name", "metadata.namespace", *resource.field_selectors)


def predicate(resource: Resource, label_selector: str = "", field_selector: str = "") -> Predicate | None:
    """A filter for the selectors, None when both are empty.

    Raises ``BadRequest`` for malformed selectors and for field labels the kind does not support
    (``field label not supported: spec.foo``), as Kubernetes does.
    """
    labels = parse_label_selector(label_selector) if label_selector else None
    fields = parse_field_selector(field_selector) if field_selector else None
    if fields is not None:
        allowed = supported_fields(resource)
        for name in fields.fields():
            if name not in allowed:
                raise errors.BadRequest(f"field label not supported: {name}")
    if labels is None and fields is None:
        return None
    names = fields.fields() if fields is not None else []

    def matches(obj: dict[str, Any]) -> bool:
        if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels") or {}):
            return False
        if fields is not None:
            return fields.matches({n: field_value(obj, n) for n in names})
        return True

    return matches
