"""Server-side apply: merge an applied configuration into the live object, tracking ownership.

The applier's field set becomes exactly the fields of its configuration. Fields it applied
before and no longer applies are removed unless another manager owns them. A field whose
value would change and that another manager owns is a conflict (409) unless ``force``, which
takes the field over. Lists merge per the schema: list maps by their keys, sets by value,
atomic lists and maps are replaced.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from cluster.api import schema
from cluster.apiserver.patch import fieldpath
from cluster.apiserver.patch.fieldpath import Node, Path
from cluster.apiserver.patch.managed import Manager, decode_managers, find, node_for, paths_of, store
from cluster.errors import BadRequest, Cause, Conflict

_SERVER_SET = (
    "creationTimestamp",
    "selfLink",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def server_side_apply(
    live: dict | None,
    applied: dict,
    schema_name: str,
    manager: str,
    force: bool,
    now: str,
    api_version: str,
    subresource: str = "",
) -> dict:
    """The object after ``manager`` applies ``applied`` to ``live`` (None: create from ``applied``).

    ``metadata.resourceVersion`` and ``uid`` from ``applied`` are kept in the result so the
    write can check them as preconditions; other server-set metadata in ``applied`` is ignored.
    Raises ``BadRequest`` for a malformed configuration and ``Conflict`` for ownership conflicts.
    """
    config = _config(applied, api_version)
    node = node_for(schema_name)
    base = copy.deepcopy(live) if live else {}
    managers = decode_managers((base.get("metadata") or {}).get("managedFields"))
    live_paths = paths_of(base, node)
    if live and not managers and live_paths:
        first = {p for p, (kind, _) in live_paths.items() if kind in (fieldpath.LEAF, fieldpath.ITEM)}
        managers.append(Manager("before-first-apply", "Update", api_version, "", now, first))
    config_paths = paths_of(config, node, strict=True)
    applied_set = {p for p, (kind, _) in config_paths.items() if kind in _OWNABLE}

    merged = merge(base, config, node)
    actor = find(managers, Manager(manager, "Apply", api_version, subresource))
    last_set, actor.fields = actor.fields, applied_set
    owned = set().union(*(m.fields for m in managers))
    _prune(merged, node, last_set - owned, owned, set(config_paths))

    modified, added, removed = fieldpath.compare(live_paths, paths_of(merged, node))
    conflicts = [(m, p) for m in managers if m is not actor for p in sorted(m.fields & (modified | added))]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for other, path in conflicts:
        other.fields.discard(path)
    for each in managers:
        each.fields -= removed
    actor.time = now
    store(merged, managers)
    return merged


_OWNABLE = (fieldpath.LEAF, fieldpath.ITEM)


def _config(applied: Any, api_version: str) -> dict:
    """The applied configuration, checked, without nulls and server-set metadata."""
    if not isinstance(applied, dict):
        raise BadRequest("apply patch: the configuration must be an object")
    meta = applied.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise BadRequest("apply patch: metadata must be an object")
    if meta and meta.get("managedFields") is not None:
        raise BadRequest("metadata.managedFields must be nil")
    if applied.get("apiVersion") != api_version:
        raise BadRequest(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {applied.get('apiVersion') or ''}, expected: {api_version}"
        )
    config = _without_nulls(applied)
    for name in _SERVER_SET + ("managedFields",):
        config.get("metadata", {}).pop(name, None)
    return config


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def merge(live: Any, config: Any, node: Node) -> Any:
    """``config`` merged over ``live`` per the schema (a new value; neither input is changed)."""
    if isinstance(live, dict) and isinstance(config, dict) and not fieldpath.is_atomic_map(node):
        out = copy.deepcopy(live)
        for key, value in config.items():
            sub = schema.child(node, key)
            out[key] = merge(live[key], value, sub) if key in live else copy.deepcopy(value)
        return out
    if isinstance(live, list) and isinstance(config, list):
        left, right = fieldpath.list_elements(live, node), fieldpath.list_elements(config, node)
        if left is not None and right is not None:
            return _merge_items(live, left, config, right, node)
    return copy.deepcopy(config)


def _merge_items(live: list, left: list[str], config: list, right: list[str], node: Node) -> list:
    """Merge two granular lists: items keep the applied order, live-only items keep their place."""
    item_node = schema.items(node)
    live_by, config_by = {}, {}
    for element, item in zip(left, live, strict=True):
        live_by.setdefault(element, item)
    for element, item in zip(right, config, strict=True):
        config_by.setdefault(element, item)
    shared = [e for e in right if e in live_by]
    out, done, li, ri, si = [], set(), 0, 0, 0

    def take(element: str) -> None:
        nonlocal si
        done.add(element)
        value = config_by[element]
        out.append(merge(live_by[element], value, item_node) if element in live_by else copy.deepcopy(value))
        if si < len(shared) and shared[si] == element:
            si += 1

    while li < len(left) or ri < len(right):
        if li < len(left) and ri < len(right):
            element = left[li]
            if element == right[ri]:
                take(element)
                li, ri = li + 1, ri + 1
                continue
            if element in config_by and si < len(shared) and shared[si] != element:
                li += 1
                continue
        if li < len(left):
            element = left[li]
            if element not in config_by:
                out.append(copy.deepcopy(live[li]))
                li += 1
                continue
            if element in done:
                li += 1
                continue
        if ri < len(right):
            if right[ri] not in done:
                take(right[ri])
            ri += 1
    return out


def _prune(obj: dict, node: Node, drop: set[Path], owned: set[Path], applied: set[Path]) -> None:
    """Remove the paths in ``drop`` from ``obj`` unless something below them is still owned;
    maps and lists left empty by the removal go too unless owned or in the configuration."""
    for path in sorted(drop, key=len, reverse=True):
        if any(p[: len(path)] == path for p in owned):
            continue
        if _is_key_field(path):
            continue
        _remove(obj, node, path)
        for depth in range(len(path) - 1, 0, -1):
            parent = path[:depth]
            value = _locate(obj, node, parent)
            if (
                value is None
                or value
                or parent in owned
                or parent in applied
                or parent[-1][:2] in ("k:", "v:")
            ):
                break
            _remove(obj, node, parent)


def _is_key_field(path: Path) -> bool:
    """True for a list-map item's key field (``.name`` under ``k:{"name":...}``): never pruned alone."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    try:
        return path[-1][2:] in json.loads(path[-2][2:])
    except ValueError:
        return False


def _step(container: Any, node: Node, element: str) -> tuple[Any, Any, Node]:
    """``(key or index, child value, child schema)`` of one path element, or ``(None, None, None)``."""
    if element.startswith("f:") and isinstance(container, dict):
        name = element[2:]
        return (name, container[name], schema.child(node, name)) if name in container else (None, None, None)
    if isinstance(container, list):
        elements = fieldpath.list_elements(container, node) or []
        if element in elements:
            index = elements.index(element)
            return index, container[index], schema.items(node)
    return None, None, None


def _locate(obj: Any, node: Node, path: Path) -> Any:
    for element in path:
        _, obj, node = _step(obj, node, element)
        if obj is None:
            return None
    return obj


def _remove(obj: Any, node: Node, path: Path) -> None:
    for element in path[:-1]:
        _, obj, node = _step(obj, node, element)
        if obj is None:
            return
    where, _, _ = _step(obj, node, path[-1])
    if where is not None:
        del obj[where]


def _conflict_error(conflicts: list[tuple[Manager, Path]]) -> Conflict:
    """Kubernetes' apply conflict: one cause per field, a message grouped by manager."""
    conflicts = sorted(conflicts, key=lambda c: (c[0].describe(), fieldpath.path_string(c[1])))
    causes = [
        Cause("FieldManagerConflict", f"conflict with {m.describe()}", fieldpath.path_string(p))
        for m, p in conflicts
    ]
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {manager.describe()}: {fieldpath.path_string(path)}"
        )
    else:
        lines: list[str] = []
        for manager in dict.fromkeys(m.describe() for m, _ in conflicts):
            lines.append(f"conflicts with {manager}:")
            lines.extend(f"- {fieldpath.path_string(p)}" for m, p in conflicts if m.describe() == manager)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return Conflict(message, causes=causes)
